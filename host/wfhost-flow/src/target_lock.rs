//! One flow per target at a time: the lock P20 takes on the target it binds.
//!
//! ```text
//! P20 bind ─► acquire(workdir, target) ─► <workdir>/.wfhost/locks/<sha256(target)[..16]>.lock
//!                 │  flock(LOCK_EX | LOCK_NB)
//!                 ├─ free: write who holds it (flow id, pid, start, evidence dir) ─► TargetLock,
//!                 │        held until the flow's process ends (however it ends: the kernel
//!                 │        releases a flock with its last descriptor, so a killed flow leaves
//!                 │        no stale lock)
//!                 └─ held: read the holder ─► LockError::Busy naming the first flow
//! ```
//!
//! The lock is per working directory, where the canonical config lives (Law 1): flows started
//! from another directory or machine on the same target are not seen. The lock file is opened
//! without following a symlink, and only its first 4 KiB are read back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The most of a lock file that is read back to name its holder.
const HOLDER_MAX_BYTES: u64 = 4096;

/// Who holds a target's lock, as written into the lock file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// The holding flow's id.
    pub flow_id: String,
    /// Its process id.
    pub pid: u32,
    /// When it took the lock (RFC 3339).
    pub since: String,
    /// Its evidence directory.
    pub evidence: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "flow {} (pid {}, since {}, evidence {})", self.flow_id, self.pid, self.since, self.evidence)
    }
}

/// A held lock: released when dropped, or when the process ends.
#[derive(Debug)]
pub struct TargetLock {
    _file: File,
    path: PathBuf,
}

impl TargetLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another flow holds it.
    #[error("target {target} is in use by {} from this directory (lock {}); wait for that flow to end, or stop it, then run the same command again", holder.as_ref().map_or_else(|| "another flow that is starting".to_string(), |h| h.to_string()), path.display())]
    Busy {
        /// The target.
        target: String,
        /// The flow holding it, when its lock file says so.
        holder: Option<Box<Holder>>,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock target {target} through {}: {source}; check that the directory is writable", path.display())]
    Io {
        /// The target.
        target: String,
        /// The lock file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// The lock file of `target` for flows started in `workdir`.
pub fn lock_path(workdir: &Path, target: &str) -> PathBuf {
    let name = wfhost_evidence::hash::sha256_hex(target.as_bytes());
    workdir.join(".wfhost/locks").join(format!("{}.lock", &name[..16]))
}

/// Take `target`'s lock for `holder`, or say which flow has it. Never waits.
pub fn acquire(workdir: &Path, target: &str, holder: &Holder) -> Result<TargetLock, LockError> {
    let path = lock_path(workdir, target);
    let io = |source| LockError::Io { target: target.to_string(), path: path.clone(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&file).take(HOLDER_MAX_BYTES).read_to_string(&mut text);
            let holder = serde_json::from_str::<Holder>(&text).ok().map(Box::new);
            return Err(LockError::Busy { target: target.to_string(), holder, path });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    let text = serde_json::to_string(holder).unwrap_or_default();
    file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(text.as_bytes())).map_err(io)?;
    Ok(TargetLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str) -> Holder {
        Holder { flow_id: id.into(), pid: 7, since: "2026-01-01T00:00:00Z".into(), evidence: "/e".into() }
    }

    #[test]
    fn a_second_lock_on_the_same_target_names_the_first_and_a_dropped_lock_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "pod-a", &holder("f1")).unwrap();
        match acquire(dir.path(), "pod-a", &holder("f2")) {
            Err(e @ LockError::Busy { .. }) => assert!(e.to_string().contains("flow f1 (pid 7"), "{e}"),
            other => panic!("{other:?}"),
        }
        // Another target is free.
        let other = acquire(dir.path(), "pod-b", &holder("f3")).unwrap();
        assert_ne!(other.path(), first.path());
        drop(first);
        let again = acquire(dir.path(), "pod-a", &holder("f2")).unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap().flow_id, "f2", "{text}");
    }

    #[test]
    fn a_symlinked_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "pod-a");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(matches!(acquire(dir.path(), "pod-a", &holder("f1")), Err(LockError::Io { .. })));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
