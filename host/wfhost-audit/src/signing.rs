//! Signed evidence: what the engine writes when `WF_SIGNING_KEY` names an ed25519 key, and the
//! names and predicates `wfhost verify` checks them by.
//!
//! ```text
//! WF_SIGNING_KEY ─► wfhost_evidence::dsse::load_signing_key ─► Signer
//!   flow start:   flow.header signing=ed25519:<key id>   (header_value)
//!                 signing.pub  SPKI PEM of the public key (write_public_key)
//!   each verdict: phase/phase.<Pxx>.verdict.json ─► phase/phase.<Pxx>.verdict.dsse.json
//!                 (sign_verdict: subject = the verdict file and its sha256, predicate = its JSON)
//!   flow end:     events.jsonl + flow.summary.json ─► flow.dsse.json
//!                 (sign_flow: subjects = both files, predicate = {flow_id, exit_code, records})
//! ```
//!
//! Every envelope is an in-toto Statement v1 in a DSSE envelope (see
//! [`wfhost_evidence::dsse`]), written atomically as canonical JSON plus a newline, like every
//! other evidence file. `sign_verdict` runs after the verdict file is written; `sign_flow` after
//! the `flow.summary` record is appended and `flow.summary.json` written, so the digests it
//! signs are those of the final files.

use crate::layout::{is_phase_id, rel_phase_file, PhaseFile};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wfhost_evidence::atomic::{self, AtomicError};
use wfhost_evidence::dsse::{self, DsseError, Signer};

/// The `flow.header` key that records which key signs the flow's evidence.
pub const SIGNING_HEADER: &str = "signing";
/// The flow's public key (SPKI PEM), at the flow directory's root.
pub use crate::layout::PUBLIC_KEY as PUBLIC_KEY_FILE;
/// The signed statement about the whole flow, at the flow directory's root.
pub use crate::layout::FLOW_ENVELOPE;
/// The event log, a subject of [`FLOW_ENVELOPE`].
pub use crate::layout::EVENTS as EVENTS_FILE;
/// The flow's summary, a subject of [`FLOW_ENVELOPE`].
pub use crate::layout::SUMMARY as SUMMARY_FILE;

/// Why signing a file failed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The phase id cannot name a verdict file.
    #[error("{0:?} is not a phase id (P followed by two digits); no verdict file to sign")]
    Phase(String),
    /// The file to sign could not be read.
    #[error("cannot read {} to sign it: {source}; it must be written before it is signed", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file to sign is not JSON.
    #[error("{} is not JSON ({reason}); only a complete evidence file is signed", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Building or signing the statement failed.
    #[error(transparent)]
    Dsse(#[from] DsseError),
    /// Writing the envelope or the public key failed.
    #[error(transparent)]
    Write(#[from] AtomicError),
}

/// The value of the `signing` header for `signer`: `ed25519:<key id>`.
pub fn header_value(signer: &Signer) -> String {
    format!("ed25519:{}", signer.key_id())
}

/// The key id a `signing` header value names, if it is `ed25519:<64 lowercase hex>`.
pub fn header_key_id(value: &str) -> Option<&str> {
    value.strip_prefix("ed25519:").filter(|id| wfhost_evidence::is_sha256_hex(id))
}

/// `phase/phase.<Pxx>.verdict.json`, relative to the flow directory.
pub fn verdict_file(phase_id: &str) -> String {
    rel_phase_file(phase_id, PhaseFile::Verdict)
}

/// `phase/phase.<Pxx>.verdict.dsse.json`, relative to the flow directory.
pub fn verdict_envelope_file(phase_id: &str) -> String {
    rel_phase_file(phase_id, PhaseFile::VerdictEnvelope)
}

/// The phase id of a verdict envelope's file name (`phase.<Pxx>.verdict.dsse.json`, no dir).
pub fn verdict_envelope_phase(name: &str) -> Option<&str> {
    name.strip_prefix("phase.")?.strip_suffix(".verdict.dsse.json").filter(|id| is_phase_id(id))
}

/// The predicate of [`FLOW_ENVELOPE`].
pub fn flow_predicate(flow_id: &str, exit_code: i64, records: u64) -> Value {
    json!({"flow_id": flow_id, "exit_code": exit_code, "records": records})
}

/// Write `signing.pub` (the signer's public key, SPKI PEM) into `flow_dir`; returns its path.
pub fn write_public_key(signer: &Signer, flow_dir: &Path) -> Result<PathBuf, SigningError> {
    let path = flow_dir.join(PUBLIC_KEY_FILE);
    atomic::write_bytes(&path, signer.public_pem()?.as_bytes())?;
    Ok(path)
}

/// Sign `phase/phase.<phase_id>.verdict.json` of `flow_dir`: writes
/// `phase/phase.<phase_id>.verdict.dsse.json` and returns its path.
pub fn sign_verdict(signer: &Signer, flow_dir: &Path, phase_id: &str) -> Result<PathBuf, SigningError> {
    if !is_phase_id(phase_id) {
        return Err(SigningError::Phase(phase_id.to_string()));
    }
    let rel = verdict_file(phase_id);
    let (bytes, value) = read_json(&flow_dir.join(&rel))?;
    let sha256 = wfhost_evidence::hash::sha256_hex(&bytes);
    let statement = dsse::statement(&[(&rel, &sha256)], dsse::VERDICT_PREDICATE, value);
    let path = flow_dir.join(verdict_envelope_file(phase_id));
    atomic::write_json(&path, &dsse::sign_statement(signer, &statement)?)?;
    Ok(path)
}

/// Sign the finished flow in `flow_dir`: `events.jsonl` and `flow.summary.json` as they are
/// now, with the flow's id, exit status and number of records. Writes `flow.dsse.json` and
/// returns its path. Call it last, once nothing more is appended to the log.
pub fn sign_flow(signer: &Signer, flow_dir: &Path, flow_id: &str, exit_code: i32, records: u64) -> Result<PathBuf, SigningError> {
    let mut subjects = Vec::new();
    for name in [EVENTS_FILE, SUMMARY_FILE] {
        // Hashed as it is read: the log may be long.
        let sha = wfhost_evidence::hash::sha256_file(&flow_dir.join(name)).map_err(|e| SigningError::Read { path: e.path, source: e.source })?;
        subjects.push((name, sha));
    }
    let subjects: Vec<(&str, &str)> = subjects.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let statement = dsse::statement(&subjects, dsse::FLOW_PREDICATE, flow_predicate(flow_id, exit_code.into(), records));
    let path = flow_dir.join(FLOW_ENVELOPE);
    atomic::write_json(&path, &dsse::sign_statement(signer, &statement)?)?;
    Ok(path)
}

fn read_json(path: &Path) -> Result<(Vec<u8>, Value), SigningError> {
    let bytes = std::fs::read(path).map_err(|source| SigningError::Read { path: path.to_path_buf(), source })?;
    let value = serde_json::from_slice(&bytes).map_err(|e| SigningError::NotJson { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok((bytes, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_evidence::dsse::{verify_envelope, Subject};

    #[test]
    fn a_signed_verdict_names_its_file_digest_and_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(crate::layout::PHASE_DIR)).expect("mkdir");
        let verdict = json!({"phase": "P30", "court": "pass", "code": 0});
        atomic::write_json(&dir.path().join(verdict_file("P30")), &verdict).expect("write");
        let signer = Signer::from_seed(&[5; 32]);
        let path = sign_verdict(&signer, dir.path(), "P30").expect("signs");
        assert_eq!(path, dir.path().join("phase/phase.P30.verdict.dsse.json"));
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.last(), Some(&b'\n'));
        let st = verify_envelope(&bytes, signer.public_key(), dsse::VERDICT_PREDICATE).expect("verifies");
        let file = std::fs::read(dir.path().join(verdict_file("P30"))).expect("read");
        assert_eq!(
            st.subjects,
            vec![Subject { name: "phase/phase.P30.verdict.json".into(), sha256: wfhost_evidence::hash::sha256_hex(&file) }]
        );
        assert_eq!(st.predicate, verdict);
        assert!(matches!(sign_verdict(&signer, dir.path(), "P3/"), Err(SigningError::Phase(_))));
        let err = sign_verdict(&signer, dir.path(), "P40").unwrap_err();
        assert!(err.to_string().contains("phase.P40.verdict.json"), "{err}");
    }

    #[test]
    fn a_signed_flow_names_the_log_and_the_summary() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(EVENTS_FILE), b"{\"seq\":0}\n").expect("write");
        let signer = Signer::from_seed(&[6; 32]);
        let err = sign_flow(&signer, dir.path(), "f-1", 0, 1).unwrap_err();
        assert!(err.to_string().contains(SUMMARY_FILE), "{err}");
        std::fs::write(dir.path().join(SUMMARY_FILE), b"{}\n").expect("write");
        let path = sign_flow(&signer, dir.path(), "f-1", 20, 1).expect("signs");
        let st = verify_envelope(&std::fs::read(path).expect("read"), signer.public_key(), dsse::FLOW_PREDICATE).expect("verifies");
        let names: Vec<&str> = st.subjects.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [EVENTS_FILE, SUMMARY_FILE]);
        assert_eq!(st.subjects[1].sha256, wfhost_evidence::hash::sha256_hex(b"{}\n"));
        assert_eq!(st.predicate, json!({"flow_id": "f-1", "exit_code": 20, "records": 1}));
        let pem = std::fs::read_to_string(write_public_key(&signer, dir.path()).expect("writes")).expect("read");
        assert_eq!(dsse::PublicKey::from_pem(&pem, PUBLIC_KEY_FILE).expect("parses").key_id(), signer.key_id());
    }

    #[test]
    fn header_values_and_envelope_names_parse_back() {
        let signer = Signer::from_seed(&[7; 32]);
        assert_eq!(header_key_id(&header_value(&signer)), Some(signer.key_id()));
        assert_eq!(header_key_id("ed25519:ABC"), None);
        assert_eq!(header_key_id(&format!("rsa:{}", signer.key_id())), None);
        assert_eq!(verdict_envelope_phase("phase.P30.verdict.dsse.json"), Some("P30"));
        for bad in ["phase.P30.verdict.json", "phase.X30.verdict.dsse.json", "phase.P300.verdict.dsse.json", "phase.P30.pack.dsse.json"] {
            assert_eq!(verdict_envelope_phase(bad), None, "{bad}");
        }
    }
}
