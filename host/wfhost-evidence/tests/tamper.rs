//! Verification catches every change to a log's bytes, and tells a crash's partial last line
//! from tampering.

mod common;

use common::*;
use wfhost_evidence::{read, verify, verify_bytes, Defect, Tail, VerifyError};

/// 1-based line number holding byte `i` (a line's newline belongs to it).
fn line_of(bytes: &[u8], i: usize) -> u64 {
    bytes[..i].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

#[test]
fn every_single_bit_flip_is_detected_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    // Three records with every member kind: optional members, unicode and escapes, integers,
    // fractions, exponents, nesting, causation.
    let drafts = varied_drafts();
    write_log(
        &path,
        vec![drafts[0].clone(), drafts[1].clone(), drafts[3].clone()],
    );
    let clean = std::fs::read(&path).expect("read");
    assert_eq!(verify(&path).expect("clean log verifies").records, 3);
    let probe = dir.path().join("probe.jsonl");
    let mut checked = 0u64;
    for i in 0..clean.len() {
        for bit in 0..8 {
            let mut bytes = clean.clone();
            bytes[i] ^= 1 << bit;
            match verify_bytes(&probe, &bytes) {
                Err(VerifyError::Record { line, .. }) => {
                    assert_eq!(
                        line,
                        line_of(&clean, i),
                        "byte {i} bit {bit}: error on another line"
                    );
                }
                Ok(report) => panic!(
                    "flip of byte {i} ({:?}) bit {bit} not detected: {report:?}",
                    clean[i] as char
                ),
                Err(other) => panic!("byte {i} bit {bit}: unexpected error {other}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, clean.len() as u64 * 8);
    // The in-memory path is the file path's: a flipped file on disk is caught the same way.
    let mut bytes = clean.clone();
    bytes[clean.len() / 2] ^= 0x04;
    std::fs::write(&probe, &bytes).expect("write probe");
    assert_eq!(
        verify(&probe).unwrap_err().to_string(),
        verify_bytes(&probe, &bytes).unwrap_err().to_string()
    );
}

#[test]
fn every_byte_replaced_by_newline_nul_or_space_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    write_varied_log(&path);
    let clean = std::fs::read(&path).expect("read");
    let probe = dir.path().join("probe.jsonl");
    for i in 0..clean.len() {
        for replacement in [b'\n', 0u8, b' '] {
            if clean[i] == replacement {
                continue;
            }
            let mut bytes = clean.clone();
            bytes[i] = replacement;
            assert!(
                verify_bytes(&probe, &bytes).is_err(),
                "byte {i} -> {replacement:#04x} not detected"
            );
        }
    }
}

#[test]
fn truncation_at_any_offset_leaves_a_verifiable_prefix_and_a_reported_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let records = write_varied_log(&path);
    let clean = std::fs::read(&path).expect("read");
    let probe = dir.path().join("probe.jsonl");
    for cut in 0..=clean.len() {
        std::fs::write(&probe, &clean[..cut]).expect("write probe");
        let report = verify(&probe).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let complete = clean[..cut]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let lines = clean[..complete].iter().filter(|&&b| b == b'\n').count();
        assert_eq!(report.records, lines as u64, "cut at {cut}");
        assert_eq!(report.complete_len, complete as u64);
        if lines > 0 {
            assert_eq!(report.last_record_hash, records[lines - 1].record_hash);
        }
        match (&report.tail, cut == complete) {
            (Tail::Clean, true) => {}
            (
                Tail::Partial {
                    line, offset, len, ..
                },
                false,
            ) => {
                assert_eq!(
                    (*line, *offset, *len),
                    (lines as u64 + 1, complete as u64, (cut - complete) as u64)
                );
            }
            (tail, _) => panic!("cut at {cut}: tail {tail:?}"),
        }
        let contents = read(&probe).unwrap_or_else(|e| panic!("read cut at {cut}: {e}"));
        assert_eq!(contents.events, records[..lines]);
        assert_eq!(contents.tail, report.tail);
    }
}

#[test]
fn tail_rule_accepts_crash_shapes_and_refuses_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    write_varied_log(&path);
    let clean = std::fs::read(&path).expect("read");
    let last_start = clean[..clean.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("lines")
        + 1;
    let probe = dir.path().join("probe.jsonl");
    let check = |bytes: &[u8]| {
        std::fs::write(&probe, bytes).expect("write");
        verify(&probe)
    };
    // A partial line followed by the zeros a power loss can leave.
    let mut zeros = clean[..last_start + 30].to_vec();
    zeros.extend_from_slice(&[0; 64]);
    assert!(matches!(
        check(&zeros).expect("zero-filled tail").tail,
        Tail::Partial { len: 94, .. }
    ));
    // A complete record whose newline was never written.
    let no_newline = &clean[..clean.len() - 1];
    assert_eq!(check(no_newline).expect("unterminated record").records, 4);
    // A complete record followed by anything but its newline is tampering.
    for junk in [&b" "[..], b"\0", b"\r", b"x", b"{\"actor\":"] {
        let mut bytes = no_newline.to_vec();
        bytes.extend_from_slice(junk);
        match check(&bytes) {
            Err(VerifyError::Record {
                line: 5,
                defect: Defect::UnterminatedRecord { trailing },
                ..
            }) => {
                assert_eq!(trailing, junk.len() as u64)
            }
            other => panic!("junk {junk:?}: {other:?}"),
        }
    }
    // Bytes that do not start like a record are not a crash's partial write.
    let mut garbage = clean.clone();
    garbage.extend_from_slice(b"hello");
    assert!(matches!(
        check(&garbage),
        Err(VerifyError::Record {
            line: 6,
            defect: Defect::NotARecordPrefix,
            ..
        })
    ));
    // Nor is a line that starts like a record but breaks JSON syntax before it ends.
    let mut broken = clean.clone();
    broken.extend_from_slice(b"{\"actor\":]x");
    assert!(matches!(
        check(&broken),
        Err(VerifyError::Record {
            defect: Defect::NotARecordPrefix,
            ..
        })
    ));
}

#[test]
fn structural_edits_are_named_by_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    write_varied_log(&path);
    let clean = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = clean.lines().collect();
    let probe = dir.path().join("probe.jsonl");
    let check = |text: String| {
        std::fs::write(&probe, text).expect("write");
        match verify(&probe) {
            Err(VerifyError::Record {
                line,
                field,
                defect,
                ..
            }) => (line, field, defect),
            other => panic!("not detected: {other:?}"),
        }
    };
    let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();

    // A deleted middle record breaks seq.
    let (line, field, _) = check(join(&[lines[0], lines[2], lines[3], lines[4]]));
    assert_eq!((line, field.as_str()), (2, "seq"));
    // Swapped records break seq.
    let (line, field, _) = check(join(&[lines[1], lines[0], lines[2], lines[3], lines[4]]));
    assert_eq!((line, field.as_str()), (1, "seq"));
    // A repeated record breaks seq.
    let (line, field, _) = check(join(&[lines[0], lines[0], lines[1]]));
    assert_eq!((line, field.as_str()), (2, "seq"));
    // Pretty-printing a record is not canonical.
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(lines[0]).expect("json"),
    )
    .expect("pretty")
    .replace('\n', "");
    let (line, field, defect) = check(join(&[&pretty, lines[1]]));
    assert_eq!(
        (line, field.as_str(), defect),
        (1, "line", Defect::NotCanonical)
    );
    // An added member is not declared.
    let extra = lines[0].replacen("{\"actor\"", "{\"_note\":\"x\",\"actor\"", 1);
    let (line, field, defect) = check(join(&[&extra]));
    assert_eq!(
        (line, field.as_str(), defect),
        (1, "_note", Defect::Undeclared)
    );
    // A removed member is missing.
    let v: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
    let mut m = v.as_object().expect("object").clone();
    m.remove("native_id");
    let stripped =
        wfhost_evidence::canonical::to_string(&serde_json::Value::Object(m)).expect("canonical");
    let (line, field, defect) = check(join(&[lines[0], &stripped]));
    assert_eq!(
        (line, field.as_str(), defect),
        (2, "native_id", Defect::Missing)
    );
    // An empty line.
    let (line, field, _) = check(format!("{}\n\n{}\n", lines[0], lines[1]));
    assert_eq!((line, field.as_str()), (2, "line"));
    // A CRLF line ending.
    let (line, _, _) = check(format!("{}\r\n", lines[0]));
    assert_eq!(line, 1);
    // A record re-sealed consistently but moved to another flow: correlation breaks.
    let other = lines[1].replace(FLOW, "flow-other-0002");
    let (line, field, _) = check(join(&[lines[0], &other]));
    assert_eq!(line, 2);
    assert!(field == "correlation_id", "{field}");
}

#[test]
fn error_messages_name_the_file_line_field_and_next_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    write_varied_log(&path);
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replacen("\"seq\":2", "\"seq\":7", 1);
    std::fs::write(&path, text).expect("write");
    let msg = verify(&path).unwrap_err().to_string();
    assert!(
        msg.contains("events.jsonl:3: seq: expected 2, found 7"),
        "{msg}"
    );
    assert!(msg.contains("do not append"), "{msg}");
    let missing = verify(&dir.path().join("nope.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("nope.jsonl") && missing.contains("check the path"),
        "{missing}"
    );
}
