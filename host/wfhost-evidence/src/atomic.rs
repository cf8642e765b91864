//! Atomic, durable file writes for evidence files (`phase.<Pxx>.json`, `flow.summary.json`, ...).
//!
//! Bytes go to a temporary file in the destination's directory, are `fsync`ed, renamed over the
//! destination, and the directory is `fsync`ed, so a reader (or a crash) sees either the old
//! file or the complete new one, never a mix. JSON is written in RFC 8785 canonical form plus a
//! trailing newline, so the same value always gives the same bytes and the same sha256.

use crate::canonical::{self, CanonicalError};
use crate::hash::sha256_hex;
use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an atomic write failed. The destination is unchanged unless the error is about the
/// final directory sync.
#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    /// The value has no faithful canonical form.
    #[error("cannot write {}: {source}", path.display())]
    Canonical {
        /// The destination.
        path: PathBuf,
        /// Why.
        source: CanonicalError,
    },
    /// A file operation failed.
    #[error("cannot {op} for {}: {source}; check that the directory exists, is writable and has space", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The destination.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Write `value` as canonical JSON plus `\n` to `path`, atomically and durably, replacing any
/// previous file. Returns the sha256 of the bytes written.
pub fn write_json(path: &Path, value: &Value) -> Result<String, AtomicError> {
    let mut bytes = canonical::to_vec(value).map_err(|source| AtomicError::Canonical {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    write_bytes(path, &bytes)
}

/// Write `bytes` to `path`, atomically and durably, replacing any previous file. The file gets
/// mode 0644 on Unix. Returns the sha256 of `bytes`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<String, AtomicError> {
    let io = |op| {
        move |source| AtomicError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io("create a temporary file"))?;
    tmp.write_all(bytes)
        .map_err(io("write the temporary file"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io("set permissions"))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(io("fsync the temporary file"))?;
    tmp.persist(path).map_err(|e| AtomicError::Io {
        op: "rename the temporary file",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(path).map_err(io("fsync the directory"))?;
    Ok(sha256_hex(bytes))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsync the directory holding `path`, so that a file created or renamed there survives a crash.
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_canonical_json_and_returns_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("phase.P10.json");
        let digest = write_json(&p, &json!({"b": 1.50, "a": ["x", null]})).expect("written");
        let bytes = std::fs::read(&p).expect("read back");
        assert_eq!(bytes, b"{\"a\":[\"x\",null],\"b\":1.5}\n");
        assert_eq!(digest, sha256_hex(&bytes));
        assert_eq!(crate::hash::sha256_file(&p).expect("hash"), digest);
    }

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("flow.summary.json");
        write_bytes(&p, &vec![b'x'; 100_000]).expect("first");
        write_bytes(&p, b"short\n").expect("second");
        assert_eq!(std::fs::read(&p).expect("read"), b"short\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("flow.summary.json")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
    }

    #[test]
    fn refuses_values_without_a_faithful_form_and_missing_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.json");
        let err = write_json(&p, &json!({"n": u64::MAX})).unwrap_err();
        assert!(matches!(err, AtomicError::Canonical { .. }), "{err}");
        assert!(!p.exists());
        let err = write_bytes(&dir.path().join("no/such/dir/x.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("temporary file"), "{err}");
    }
}
