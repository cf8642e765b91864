//! Unpacking a fetched directory on the host: the tar archive a transport's program streams
//! back is read here (the `tar` crate, no `tar` process) into a destination opened as a
//! capability directory (`cap-std`), so no entry name, `..` or link can put anything outside it.
//!
//! ```text
//! program stdout ─► [skip to the begin line] ─► tar entries, one at a time:
//!   directory            ─► created, mode 0755
//!   regular (or sparse)  ─► written, hashed as written (sha256, once), zero blocks left as
//!                           holes, mode 0644 (0755 when any execute bit was set); setuid,
//!                           setgid and sticky bits dropped (and listed)
//!   symlink, hard link,  ─► not recreated: listed as skipped with what they were (a link's
//!   device, FIFO, other      target text, a device's numbers, the mode)
//!   unsafe name          ─► (absolute, `..`, not UTF-8) listed as skipped, nothing written
//! every entry: the budget's deadline and byte cap are checked before its data is read
//! ```
//!
//! The byte cap counts the sizes the archive declares (a sparse file at its full size), so a
//! fetch over it stops at that entry's header, before its data is read or hashed.

use cap_std::fs::{Dir, DirBuilder, OpenOptions, Permissions};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;
use tar::EntryType;

/// Most entries listed as skipped in one fetch; past it the fetch fails.
pub const MAX_SKIPPED: usize = 100_000;
/// Most entries of one fetch.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Most bytes of output before the begin line (a login shell's messages).
const MAX_NOISE: usize = 64 * 1024;
/// Chunk size of writes and of budget checks.
const CHUNK: usize = 64 * 1024;

/// What one fetch may use.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most bytes of file data (the sizes the archive declares).
    pub max_bytes: u64,
    /// When the phase's time runs out.
    pub deadline: Option<Instant>,
}

/// A regular file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Its path under the destination, `/`-separated.
    pub name: String,
    /// sha256 of its contents, computed as they were written.
    pub sha256: String,
    /// Its size.
    pub size: u64,
}

/// An entry that was not recreated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its name in the archive (lossy UTF-8).
    pub name: String,
    /// `symlink`, `hardlink`, `char-device`, `block-device`, `fifo`, `socket`, `unsafe-name` or
    /// `other`.
    pub kind: &'static str,
    /// A link's target text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// A device's `major,minor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Its mode in the archive (octal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A file whose setuid, setgid or sticky bit was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeDropped {
    /// Its path under the destination.
    pub name: String,
    /// Its mode in the archive (octal).
    pub archive_mode: String,
    /// The mode it was written with (octal).
    pub written_mode: String,
}

/// What a fetch brought back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files written, in archive order (a name written twice: its last copy).
    pub files: Vec<FetchedFile>,
    /// Directories created.
    pub dirs: u64,
    /// Entries not recreated.
    pub skipped: Vec<Skipped>,
    /// Files whose special mode bits were dropped.
    pub modes_dropped: Vec<ModeDropped>,
    /// Bytes of file data written.
    pub bytes: u64,
}

/// Why a fetch stopped. Nothing of a stopped fetch is kept (the caller discards the destination).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    /// The files are larger than the byte cap.
    #[error("the fetched files come to more than {limit} bytes (at {name}, {size} bytes, after {so_far} bytes)")]
    TooLarge {
        /// The cap.
        limit: u64,
        /// The entry that went over it.
        name: String,
        /// Its size.
        size: u64,
        /// Bytes before it.
        so_far: u64,
    },
    /// The phase's time ran out while unpacking.
    #[error("the phase's time ran out while unpacking (after {bytes} bytes)")]
    OutOfTime {
        /// Bytes written by then.
        bytes: u64,
    },
    /// More entries (or skipped entries) than the host lists.
    #[error("{0}")]
    TooManyEntries(String),
    /// The stream is not a tar archive, or is cut short.
    #[error("the stream is not a readable tar archive: {0}")]
    Archive(String),
    /// Writing on the host failed.
    #[error("writing {name} failed: {error}")]
    Write {
        /// The entry.
        name: String,
        /// The error.
        error: String,
    },
}

/// Skip what comes before the first line ending with `marker` (at most [`MAX_NOISE`] bytes).
pub fn skip_to_line(reader: &mut dyn Read, marker: &str) -> Result<(), UnpackError> {
    let mut line = Vec::new();
    let mut seen = 0usize;
    let mut byte = [0u8; 1];
    loop {
        match reader.read(&mut byte) {
            Ok(0) => return Err(UnpackError::Archive(format!("the output ended before the line {marker:?} that starts the archive"))),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Archive(e.to_string())),
        }
        seen += 1;
        if byte[0] == b'\n' {
            if line.ends_with(marker.as_bytes()) {
                return Ok(());
            }
            line.clear();
        } else {
            line.push(byte[0]);
        }
        if seen > MAX_NOISE {
            return Err(UnpackError::Archive(format!("no line {marker:?} within the first {MAX_NOISE} bytes of output")));
        }
    }
}

/// Unpack `archive` into `dest` within `budget`.
pub fn unpack(archive: &mut dyn Read, dest: &Dir, budget: &Budget) -> Result<Unpacked, UnpackError> {
    let mut out = Unpacked::default();
    let mut archive = tar::Archive::new(archive);
    let entries = archive.entries().map_err(|e| UnpackError::Archive(e.to_string()))?;
    let mut seen = 0usize;
    for entry in entries {
        check_time(budget, out.bytes)?;
        let mut entry = entry.map_err(|e| UnpackError::Archive(e.to_string()))?;
        seen += 1;
        if seen > MAX_ENTRIES {
            return Err(UnpackError::TooManyEntries(format!("the archive holds more than {MAX_ENTRIES} entries")));
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let header = entry.header();
        let mode = header.mode().ok();
        let kind = header.entry_type();
        let Some(name) = safe_name(&raw) else {
            skip(&mut out, Skipped { name: shown, kind: "unsafe-name", link_target: None, device: None, mode: mode.map(octal) })?;
            continue;
        };
        if name.is_empty() {
            continue; // the directory itself (`./`)
        }
        match kind {
            EntryType::Directory => {
                make_dirs(dest, &name)?;
                out.dirs += 1;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let size = entry.size();
                if out.bytes.saturating_add(size) > budget.max_bytes {
                    return Err(UnpackError::TooLarge { limit: budget.max_bytes, name, size, so_far: out.bytes });
                }
                let archive_mode = mode.unwrap_or(0o644);
                let written_mode = if archive_mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let (sha256, written) = write_file(dest, &name, &mut entry, written_mode, budget, out.bytes)?;
                if archive_mode & 0o7000 != 0 {
                    out.modes_dropped.push(ModeDropped { name: name.clone(), archive_mode: octal(archive_mode), written_mode: octal(written_mode) });
                }
                out.bytes += written;
                out.files.retain(|f| f.name != name);
                out.files.push(FetchedFile { name, sha256, size: written });
            }
            other => {
                let link_target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                let header = entry.header();
                let device = match (header.device_major(), header.device_minor()) {
                    (Ok(Some(major)), Ok(Some(minor))) if matches!(other, EntryType::Char | EntryType::Block) => Some(format!("{major},{minor}")),
                    _ => None,
                };
                let kind = match other {
                    EntryType::Symlink => "symlink",
                    EntryType::Link => "hardlink",
                    EntryType::Char => "char-device",
                    EntryType::Block => "block-device",
                    EntryType::Fifo => "fifo",
                    _ => "other",
                };
                skip(&mut out, Skipped { name, kind, link_target, device, mode: mode.map(octal) })?;
            }
        }
    }
    Ok(out)
}

/// The sockets a `tar` that wrote the archive left out, from its warnings (`tar: ./s: socket
/// ignored`): an archive cannot hold a socket, so this is how they are listed.
pub fn sockets_left_out(tar_stderr: &str) -> Vec<Skipped> {
    tar_stderr
        .lines()
        .filter_map(|l| l.strip_suffix(": socket ignored"))
        .map(|l| Skipped {
            name: l.split_once(": ").map_or(l, |(_, n)| n).trim_start_matches("./").to_string(),
            kind: "socket",
            link_target: None,
            device: None,
            mode: None,
        })
        .collect()
}

/// The entry's path as `/`-separated normal components ("" for the root itself), or `None`
/// when it is absolute, climbs with `..`, or is not UTF-8.
fn safe_name(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    if text.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn octal(mode: u32) -> String {
    format!("{mode:o}")
}

fn skip(out: &mut Unpacked, entry: Skipped) -> Result<(), UnpackError> {
    if out.skipped.len() >= MAX_SKIPPED {
        return Err(UnpackError::TooManyEntries(format!(
            "the archive holds more than {MAX_SKIPPED} entries that are not regular files or directories"
        )));
    }
    out.skipped.push(entry);
    Ok(())
}

fn check_time(budget: &Budget, bytes: u64) -> Result<(), UnpackError> {
    match budget.deadline {
        Some(d) if Instant::now() >= d => Err(UnpackError::OutOfTime { bytes }),
        _ => Ok(()),
    }
}

fn write_error(name: &str, error: impl std::fmt::Display) -> UnpackError {
    UnpackError::Write { name: name.to_string(), error: error.to_string() }
}

fn make_dirs(dest: &Dir, name: &str) -> Result<(), UnpackError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    cap_std::fs::DirBuilderExt::mode(&mut builder, 0o755);
    dest.create_dir_with(name, &builder).map_err(|e| write_error(name, e))
}

/// Write one file's data, hashing it as it goes; runs of zeros are left as holes.
fn write_file(dest: &Dir, name: &str, data: &mut dyn Read, mode: u32, budget: &Budget, before: u64) -> Result<(String, u64), UnpackError> {
    if let Some((parent, _)) = name.rsplit_once('/') {
        make_dirs(dest, parent)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    cap_std::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = dest.open_with(name, &options).map_err(|e| write_error(name, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Archive(format!("{name}: {e}"))),
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        if chunk.iter().all(|b| *b == 0) {
            file.seek(SeekFrom::Current(n as i64)).map_err(|e| write_error(name, e))?;
        } else {
            file.write_all(chunk).map_err(|e| write_error(name, e))?;
        }
        written += n as u64;
        check_time(budget, before + written)?;
    }
    // A file that ends in a hole still has its full length.
    file.set_len(written).map_err(|e| write_error(name, e))?;
    file.set_permissions(Permissions::from_std(std::fs::Permissions::from_mode(mode))).map_err(|e| write_error(name, e))?;
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((digest, written))
}

#[cfg(test)]
mod tests;
