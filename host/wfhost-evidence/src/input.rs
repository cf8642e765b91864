//! Reading a file the user named (the config, the sweep manifest, `BOOTSTRAP_SCRIPT`, a signing
//! or public key, an evidence pack, a known_hosts file): regular files only, with a size cap per
//! kind of file, never blocking.
//!
//! ```text
//! path ─► open(O_RDONLY | O_NONBLOCK | O_NOCTTY) ─► fstat: a regular file? ─► size ≤ cap?
//!      ─► read at most cap + 1 bytes ─► the bytes, or an InputError naming the file and the fix
//! ```
//!
//! `O_NONBLOCK` makes opening a FIFO return at once (a FIFO is then refused by its type, never
//! read), and the type check on the opened descriptor refuses devices such as `/dev/zero`
//! behind a symlink, so no user-named file can hang wfhost or grow its memory. The cap is
//! checked against the size before reading and again while reading (a file that grows under
//! us). [`InputKind::ALL`] lists every kind with its cap; the user guide prints that table.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use wfhost_constitution::keys;

/// The kinds of files the host reads on the user's word, each with its size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `infra_scripts/workflow.env` (or the `WORKFLOW_CONFIG` override).
    Config,
    /// `SWEEP_MANIFEST`.
    Manifest,
    /// `BOOTSTRAP_SCRIPT`.
    BootstrapScript,
    /// `WF_SIGNING_KEY`.
    SigningKey,
    /// `wfhost verify --key`.
    PublicKey,
    /// `wfhost court audit --evidence`.
    EvidencePack,
    /// `WF_SSH_KNOWN_HOSTS`.
    KnownHosts,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

impl InputKind {
    /// Every kind, in the order the user guide lists them.
    pub const ALL: [InputKind; 7] = [
        InputKind::Config,
        InputKind::Manifest,
        InputKind::BootstrapScript,
        InputKind::SigningKey,
        InputKind::PublicKey,
        InputKind::EvidencePack,
        InputKind::KnownHosts,
    ];

    /// What the file is, in a message (`the config`, `SWEEP_MANIFEST`).
    pub fn name(self) -> &'static str {
        match self {
            InputKind::Config => "the config",
            InputKind::Manifest => keys::SWEEP_MANIFEST.name(),
            InputKind::BootstrapScript => keys::BOOTSTRAP_SCRIPT.name(),
            InputKind::SigningKey => keys::WF_SIGNING_KEY.name(),
            InputKind::PublicKey => "the public key (--key)",
            InputKind::EvidencePack => "the evidence pack (--evidence)",
            InputKind::KnownHosts => keys::WF_SSH_KNOWN_HOSTS.name(),
        }
    }

    /// The largest file of this kind wfhost reads, in bytes.
    pub fn cap(self) -> u64 {
        match self {
            InputKind::Config => MIB,
            InputKind::Manifest => 64 * MIB,
            InputKind::BootstrapScript => MIB,
            InputKind::SigningKey | InputKind::PublicKey => 64 * KIB,
            InputKind::EvidencePack => 64 * MIB,
            InputKind::KnownHosts => 16 * MIB,
        }
    }
}

/// Why a user-named file was not read.
#[derive(Debug)]
pub struct InputError {
    /// What kind of file.
    pub kind: InputKind,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: InputProblem,
}

/// What is wrong with a user-named file.
#[derive(Debug)]
pub enum InputProblem {
    /// It cannot be opened or read.
    Io(std::io::Error),
    /// It is not a regular file (a FIFO, a device, a directory, a socket).
    NotRegular(&'static str),
    /// It is larger than the kind's cap.
    TooLarge {
        /// Its size, or the bytes read before the cap was passed.
        size: u64,
    },
}

impl InputError {
    /// Whether the file does not exist.
    pub fn not_found(&self) -> bool {
        matches!(&self.problem, InputProblem::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// The I/O error, when that is the problem.
    pub fn io(&self) -> Option<&std::io::Error> {
        match &self.problem {
            InputProblem::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, path) = (self.kind.name(), self.path.display());
        match &self.problem {
            InputProblem::Io(e) => write!(f, "{name} {path} cannot be read: {e}; {}", io_advice(e)),
            InputProblem::NotRegular(what) => write!(
                f,
                "{name} {path} is {what}, not a regular file; wfhost reads only regular files (a pipe or a device could block it or never end): name a regular file"
            ),
            InputProblem::TooLarge { size } => write!(
                f,
                "{name} {path} is {} or more, over the {} limit for it; name the right file, or make it smaller",
                human(*size),
                human(self.kind.cap())
            ),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            InputProblem::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What to do about an I/O error on a path, by its kind: a missing file is created, a denied
/// one made readable, an overlong name shortened — never a permission fix for a name problem.
pub fn io_advice(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "check the path, or create the file",
        K::PermissionDenied => "make it readable by this user (chmod u+r), or run wfhost as a user who may read it",
        K::IsADirectory => "it is a directory: name the file inside it",
        K::NotADirectory => "a part of the path is a file, not a directory: fix the path",
        K::InvalidFilename => "the path or one of its names is too long for this system: use a shorter path",
        K::StorageFull | K::QuotaExceeded => "the disk is full: free space and run again",
        K::ReadOnlyFilesystem => "the file system is read-only: use a writable location",
        _ if e.raw_os_error() == Some(ELOOP) => "the path has a symlink loop: fix the link",
        _ => "check the path and its permissions",
    }
}

/// ELOOP on Linux (too many levels of symbolic links).
const ELOOP: i32 = 40;

fn human(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

fn file_type(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// `O_NONBLOCK | O_NOCTTY` on Linux: opening a FIFO does not wait for a writer, and a terminal
/// never becomes the controlling one.
const OPEN_FLAGS: i32 = 0o4000 | 0o400;

/// Open `path` for reading as a file of `kind`: the opened file and its metadata, refused
/// unless it is a regular file within the cap.
fn open_checked(path: &Path, kind: InputKind) -> Result<(File, Metadata), InputError> {
    let err = |problem| InputError { kind, path: path.to_path_buf(), problem };
    let file = OpenOptions::new().read(true).custom_flags(OPEN_FLAGS).open(path).map_err(|e| err(InputProblem::Io(e)))?;
    let meta = file.metadata().map_err(|e| err(InputProblem::Io(e)))?;
    if !meta.is_file() {
        return Err(err(InputProblem::NotRegular(file_type(&meta))));
    }
    if meta.len() > kind.cap() {
        return Err(err(InputProblem::TooLarge { size: meta.len() }));
    }
    Ok((file, meta))
}

/// Read the user-named file at `path` as a file of `kind` (module doc).
pub fn read(path: &Path, kind: InputKind) -> Result<Vec<u8>, InputError> {
    let (file, meta) = open_checked(path, kind)?;
    let err = |problem| InputError { kind, path: path.to_path_buf(), problem };
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(kind.cap() + 1).read_to_end(&mut bytes).map_err(|e| err(InputProblem::Io(e)))?;
    if bytes.len() as u64 > kind.cap() {
        return Err(err(InputProblem::TooLarge { size: bytes.len() as u64 }));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text (an error names the file when it is not).
pub fn read_to_string(path: &Path, kind: InputKind) -> Result<String, InputError> {
    let bytes = read(path, kind)?;
    String::from_utf8(bytes).map_err(|e| InputError {
        kind,
        path: path.to_path_buf(),
        problem: InputProblem::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_and_everything_else_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = dir.path().join("ok.env");
        std::fs::write(&ok, "A=1\n").expect("write");
        assert_eq!(read(&ok, InputKind::Config).expect("read"), b"A=1\n");

        // A FIFO with no writer: refused by its type, without blocking.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        let t0 = std::time::Instant::now();
        let e = read(&fifo, InputKind::Config).unwrap_err();
        assert!(t0.elapsed() < std::time::Duration::from_secs(2));
        assert!(matches!(e.problem, InputProblem::NotRegular(w) if w.contains("FIFO")), "{e}");
        assert!(e.to_string().contains("fifo") && e.to_string().contains("not a regular file"), "{e}");

        // A symlink to /dev/zero: a character device, never read.
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let e = read(&zero, InputKind::Manifest).unwrap_err();
        assert!(matches!(e.problem, InputProblem::NotRegular("a character device")), "{e}");
        assert!(e.to_string().starts_with("SWEEP_MANIFEST "), "{e}");

        // A directory, and a missing file.
        let e = read(dir.path(), InputKind::BootstrapScript).unwrap_err();
        assert!(matches!(e.problem, InputProblem::NotRegular("a directory")), "{e}");
        let e = read(&dir.path().join("nope"), InputKind::Config).unwrap_err();
        assert!(e.not_found() && e.to_string().contains("create the file"), "{e}");
    }

    #[test]
    fn files_over_the_cap_are_refused_naming_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'x'; (InputKind::PublicKey.cap() + 1) as usize]).expect("write");
        let e = read(&big, InputKind::PublicKey).unwrap_err();
        assert!(matches!(e.problem, InputProblem::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("over the 64 KiB limit"), "{e}");
        let at_cap = dir.path().join("cap.pem");
        std::fs::write(&at_cap, vec![b'x'; InputKind::PublicKey.cap() as usize]).expect("write");
        assert_eq!(read(&at_cap, InputKind::PublicKey).expect("at the cap").len() as u64, InputKind::PublicKey.cap());
    }

    #[test]
    fn io_advice_follows_the_error_not_a_guess() {
        use std::io::{Error, ErrorKind};
        assert!(io_advice(&Error::from(ErrorKind::NotFound)).contains("create"));
        assert!(io_advice(&Error::from(ErrorKind::PermissionDenied)).contains("readable"));
        let long = Error::from_raw_os_error(36); // ENAMETOOLONG
        assert!(io_advice(&long).contains("too long") && !io_advice(&long).contains("permission"), "{}", io_advice(&long));
        assert!(io_advice(&Error::from_raw_os_error(28)).contains("disk is full"));
    }
}
