//! The event-ID rules of a log (unique `event_id`, `causation_id` naming an earlier record),
//! checked in memory bounded by a constant however long the log is.
//!
//! Verification notes each record's `event_id` and `causation_id` with its line here instead of
//! keeping a set of every ID seen. When a list outgrows [`RUN_ENTRIES`] entries it is sorted and
//! written, 40 bytes an entry, as a run to an anonymous scratch file (in `TMPDIR`, removed when
//! verification ends); short logs never touch the disk. [`Ledger::first_failure`] then merges the
//! sorted runs of both lists, a few KiB of buffer per run, and finds the first line that breaks
//! a rule:
//!
//! ```text
//! ids    (event_id, line) sorted ─► groups by ID: first line f, second line (a duplicate)
//! causes (cause, line)    sorted ─► the group of its ID: absent, or f >= line ─► not earlier
//! first failure = least (line, causation before duplicate), the order the in-memory rules use
//! ```
//!
//! The defects are the ones [`crate::verify`]'s in-memory rules give for the same line, so a log
//! reads the same whichever way it was checked.

use crate::ops::Ops;
use crate::verify::{Defect, Located};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

/// Entries a list keeps in memory before it writes a sorted run to the scratch file
/// (40 bytes each: 2.5 MiB per list).
pub(crate) const RUN_ENTRIES: usize = 1 << 16;

/// Bytes of one entry in a run: the 32-byte ID, then the line as a big-endian u64.
const ENTRY_BYTES: usize = 40;

/// Entries read at once from one run while merging.
const READ_ENTRIES: usize = 256;

/// One ID at one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    id: [u8; 32],
    line: u64,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut out = [0u8; ENTRY_BYTES];
        out[..32].copy_from_slice(&self.id);
        out[32..].copy_from_slice(&self.line.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Entry {
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[..32]);
        let mut line = [0u8; 8];
        line.copy_from_slice(&bytes[32..ENTRY_BYTES]);
        Entry { id, line: u64::from_be_bytes(line) }
    }
}

/// 64 lowercase hex digits as 32 bytes.
fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

fn to_hex(id: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    id.iter().flat_map(|&b| [char::from(DIGITS[usize::from(b >> 4)]), char::from(DIGITS[usize::from(b & 0xf)])]).collect()
}

/// A list of entries: in memory up to a run's size, then sorted runs in its scratch file.
struct List {
    buf: Vec<Entry>,
    run_entries: usize,
    /// (first entry, entries) of each run written.
    runs: Vec<(u64, u64)>,
    scratch: Option<File>,
    written: u64,
    error: Option<std::io::Error>,
}

impl List {
    fn new(run_entries: usize) -> List {
        List { buf: Vec::new(), run_entries: run_entries.max(1), runs: Vec::new(), scratch: None, written: 0, error: None }
    }

    fn push(&mut self, entry: Entry) {
        if self.error.is_some() {
            return;
        }
        self.buf.push(entry);
        if self.buf.len() >= self.run_entries {
            self.spill();
        }
    }

    /// Write the buffer as a sorted run.
    fn spill(&mut self) {
        self.buf.sort_unstable();
        let result = (|| {
            if self.scratch.is_none() {
                self.scratch = Some(tempfile::tempfile()?);
            }
            let file = self.scratch.as_ref().ok_or_else(|| std::io::Error::other("no scratch file"))?;
            let mut out = BufWriter::with_capacity(64 * 1024, file);
            for e in &self.buf {
                out.write_all(&e.encode())?;
            }
            out.flush()
        })();
        match result {
            Ok(()) => {
                self.runs.push((self.written, self.buf.len() as u64));
                self.written += self.buf.len() as u64;
            }
            Err(e) => self.error = Some(e),
        }
        self.buf.clear();
    }

    /// Every entry, sorted: the buffer itself, or a merge of the runs.
    fn into_sorted(mut self) -> Result<Sorted, std::io::Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            return Ok(Sorted::Memory(self.buf.into_iter()));
        }
        if !self.buf.is_empty() {
            self.spill();
            if let Some(e) = self.error.take() {
                return Err(e);
            }
        }
        let file = self.scratch.ok_or_else(|| std::io::Error::other("runs without a scratch file"))?;
        let mut merge = Merge { readers: self.runs.iter().map(|&(start, len)| RunReader::new(start, len)).collect(), heap: BinaryHeap::new(), file, error: None };
        for i in 0..merge.readers.len() {
            if let Some(e) = merge.readers[i].next(&merge.file, &mut merge.error) {
                merge.heap.push(Reverse((e, i)));
            }
        }
        match merge.error.take() {
            Some(e) => Err(e),
            None => Ok(Sorted::Merge(merge)),
        }
    }
}

/// Reads one run back, a block of entries at a time.
struct RunReader {
    next_entry: u64,
    end: u64,
    block: Vec<Entry>,
    at: usize,
}

impl RunReader {
    fn new(start: u64, len: u64) -> RunReader {
        RunReader { next_entry: start, end: start + len, block: Vec::new(), at: 0 }
    }

    fn next(&mut self, file: &File, error: &mut Option<std::io::Error>) -> Option<Entry> {
        if self.at == self.block.len() {
            if self.next_entry == self.end || error.is_some() {
                return None;
            }
            let n = (self.end - self.next_entry).min(READ_ENTRIES as u64);
            let mut bytes = vec![0u8; n as usize * ENTRY_BYTES];
            if let Err(e) = file.read_exact_at(&mut bytes, self.next_entry * ENTRY_BYTES as u64) {
                *error = Some(e);
                return None;
            }
            self.block = bytes.chunks_exact(ENTRY_BYTES).map(Entry::decode).collect();
            self.next_entry += n;
            self.at = 0;
        }
        let e = self.block[self.at];
        self.at += 1;
        Some(e)
    }
}

/// The sorted runs of a list, merged.
struct Merge {
    readers: Vec<RunReader>,
    heap: BinaryHeap<Reverse<(Entry, usize)>>,
    file: File,
    error: Option<std::io::Error>,
}

/// A list's entries in sorted order.
enum Sorted {
    Memory(std::vec::IntoIter<Entry>),
    Merge(Merge),
}

impl Sorted {
    /// A read error met while merging (the merge then ends early).
    fn take_error(&mut self) -> Option<std::io::Error> {
        match self {
            Sorted::Memory(_) => None,
            Sorted::Merge(m) => m.error.take(),
        }
    }
}

impl Iterator for Sorted {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        match self {
            Sorted::Memory(it) => it.next(),
            Sorted::Merge(m) => {
                let Reverse((e, i)) = m.heap.pop()?;
                if let Some(next) = m.readers[i].next(&m.file, &mut m.error) {
                    m.heap.push(Reverse((next, i)));
                }
                Some(e)
            }
        }
    }
}

/// The records of one event ID, from sorted entries: (ID, first line, second line if any).
struct Groups {
    entries: Sorted,
    pending: Option<Entry>,
}

impl Iterator for Groups {
    type Item = ([u8; 32], u64, Option<u64>);

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.pending.take().or_else(|| self.entries.next())?;
        let mut second = None;
        for e in self.entries.by_ref() {
            if e.id != first.id {
                self.pending = Some(e);
                break;
            }
            second.get_or_insert(e.line);
        }
        Some((first.id, first.line, second))
    }
}

/// The causation rule's defect for `cause` (as the in-memory rule words it).
pub(crate) fn not_earlier(cause: &str) -> Located {
    (
        "causation_id".to_string(),
        Defect::NotAllowed(format!("{cause} is not the event_id of an earlier record of this log")),
    )
}

/// The event IDs and causes of a log's records, for the rules checked once the log is read.
pub(crate) struct Ledger {
    ids: List,
    causes: List,
}

impl Ledger {
    pub(crate) fn new() -> Ledger {
        Ledger::with_run_entries(RUN_ENTRIES)
    }

    /// A ledger that writes a run every `run_entries` entries (tests use tiny runs).
    pub(crate) fn with_run_entries(run_entries: usize) -> Ledger {
        Ledger { ids: List::new(run_entries), causes: List::new(run_entries) }
    }

    /// Note the record at `line`: its event ID and, if it has one, its cause. The shape rules
    /// make both 64 lowercase hex digits; a cause that is not cannot name an earlier record.
    pub(crate) fn note(&mut self, line: u64, event_id: &str, cause: Option<&str>) -> Result<(), Located> {
        if let Some(cause) = cause {
            let id = parse_hex(cause).ok_or_else(|| not_earlier(cause))?;
            self.causes.push(Entry { id, line });
        }
        if let Some(id) = parse_hex(event_id) {
            self.ids.push(Entry { id, line });
        }
        Ok(())
    }

    /// The first line (1-based) that breaks an ID rule and its defect, the causation rule
    /// before the duplicate rule on the same line; or the scratch file's I/O error.
    pub(crate) fn first_failure(self, ops: &Ops) -> Result<Option<(u64, Located)>, std::io::Error> {
        let mut groups = Groups { entries: self.ids.into_sorted()?, pending: None };
        let mut causes = self.causes.into_sorted()?;
        // (line, rank: 0 causation, 1 duplicate, defect)
        let mut best: Option<(u64, u8, Located)> = None;
        let mut consider = |line: u64, rank: u8, located: &dyn Fn() -> Located| {
            if best.as_ref().is_none_or(|(l, r, _)| (line, rank) < (*l, *r)) {
                best = Some((line, rank, located()));
            }
        };
        // The second record of an ID breaks the rule, naming the first one's seq.
        let dup = |first: u64| -> Located {
            let index = first.saturating_sub(1);
            ("event_id".to_string(), Defect::Duplicate { first_seq: ops.seq_at(index).unwrap_or(index) })
        };
        let mut group = groups.next();
        if let Some((_, first, Some(second))) = group {
            consider(second, 1, &|| dup(first));
        }
        for c in causes.by_ref() {
            while let Some((id, _, _)) = group {
                if id >= c.id {
                    break;
                }
                group = groups.next();
                if let Some((_, first, Some(second))) = group {
                    consider(second, 1, &|| dup(first));
                }
            }
            match group {
                Some((id, first, _)) if id == c.id && first < c.line => {}
                _ => consider(c.line, 0, &|| not_earlier(&to_hex(&c.id))),
            }
        }
        while group.is_some() {
            group = groups.next();
            if let Some((_, first, Some(second))) = group {
                consider(second, 1, &|| dup(first));
            }
        }
        if let Some(e) = groups.entries.take_error().or_else(|| causes.take_error()) {
            return Err(e);
        }
        Ok(best.map(|(line, _, located)| (line, located)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> String {
        to_hex(&[n; 32])
    }

    fn first(ledger: Ledger) -> Option<(u64, String, String)> {
        let ops = Ops::get().expect("ops");
        ledger.first_failure(ops).expect("scratch").map(|(line, (field, defect))| (line, field, defect.to_string()))
    }

    #[test]
    fn ids_round_trip_through_hex_and_runs() {
        for n in [0u8, 1, 0x7f, 0xff] {
            assert_eq!(parse_hex(&id(n)), Some([n; 32]));
        }
        assert_eq!(parse_hex("AB".repeat(32).as_str()), None, "upper case is not an ID");
        assert_eq!(parse_hex("ab"), None);
        let e = Entry { id: [9; 32], line: 1 << 40 };
        assert_eq!(Entry::decode(&e.encode()), e);
    }

    #[test]
    fn a_record_cannot_cause_itself_or_name_a_later_one() {
        for run in [1, 2, RUN_ENTRIES] {
            let mut l = Ledger::with_run_entries(run);
            l.note(1, &id(1), None).expect("note");
            l.note(2, &id(2), Some(&id(2))).expect("note");
            assert_eq!(first(l).map(|f| (f.0, f.1)), Some((2, "causation_id".into())), "runs of {run}");
            let mut l = Ledger::with_run_entries(run);
            l.note(1, &id(1), Some(&id(3))).expect("note");
            l.note(2, &id(2), Some(&id(1))).expect("note");
            l.note(3, &id(3), Some(&id(2))).expect("note");
            let f = first(l).expect("a failure");
            assert_eq!((f.0, f.1.as_str()), (1, "causation_id"));
            assert!(f.2.starts_with(&id(3)), "{f:?}");
        }
    }

    #[test]
    fn the_earliest_failure_wins_and_causation_comes_before_the_duplicate() {
        for run in [1, 3, RUN_ENTRIES] {
            let mut l = Ledger::with_run_entries(run);
            for line in 1..=20u64 {
                l.note(line, &id(line as u8), (line > 1).then(|| id(line as u8 - 1)).as_deref()).expect("note");
            }
            // line 21 repeats line 4's ID and names an unknown cause; line 22 repeats line 2's ID.
            l.note(21, &id(4), Some(&id(200))).expect("note");
            l.note(22, &id(2), None).expect("note");
            let f = first(l).expect("a failure");
            assert_eq!((f.0, f.1.as_str()), (21, "causation_id"), "runs of {run}");
            let mut l = Ledger::with_run_entries(run);
            for line in 1..=20u64 {
                l.note(line, &id(line as u8), None).expect("note");
            }
            l.note(21, &id(4), None).expect("note");
            l.note(22, &id(2), None).expect("note");
            assert_eq!(first(l), Some((21, "event_id".into(), Defect::Duplicate { first_seq: 3 }.to_string())));
        }
        let mut l = Ledger::new();
        assert_eq!(l.note(1, &id(1), Some("not an id")).map_err(|e| e.0), Err("causation_id".to_string()));
        assert_eq!(first(l), None);
    }
}
