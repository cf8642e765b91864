//! Unpacking hostile and ordinary archives into a temporary capability directory.

use super::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// Archive builder that writes names as given (the `tar` crate's own setters refuse `..`).
struct Archive(tar::Builder<Vec<u8>>);

impl Archive {
    fn new() -> Archive {
        Archive(tar::Builder::new(Vec::new()))
    }

    fn entry(&mut self, name: &str, kind: EntryType, mode: u32, data: &[u8], link: Option<&str>) -> &mut Archive {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Archive {
        self.entry(name, EntryType::Regular, mode, data, None)
    }

    fn bytes(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new())).into_inner().unwrap()
    }
}

fn budget(max_bytes: u64) -> Budget {
    Budget { max_bytes, deadline: Some(Instant::now() + Duration::from_secs(60)) }
}

fn open(dir: &std::path::Path) -> Dir {
    Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap()
}

fn sha(data: &[u8]) -> String {
    wfhost_evidence::hash::sha256_hex(data)
}

#[test]
fn regular_files_and_directories_come_back_with_normalised_modes_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let bytes = Archive::new()
        .entry("./", EntryType::Directory, 0o777, b"", None)
        .entry("./sub", EntryType::Directory, 0o7777, b"", None)
        .file("./sub/metrics.json", 0o666, b"{\"loss\": 1}")
        .file("./suid", 0o4755, b"\x7fELF")
        .file("./sticky", 0o1600, b"s")
        .file("./sub/metrics.json", 0o644, b"{\"loss\": 2}")
        .bytes();
    let got = unpack(&mut bytes.as_slice(), &open(&dest), &budget(1 << 20)).unwrap();
    assert_eq!(got.dirs, 1);
    assert!(got.skipped.is_empty(), "{:?}", got.skipped);
    let names: Vec<&str> = got.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["suid", "sticky", "sub/metrics.json"]);
    for f in &got.files {
        let on_disk = std::fs::read(dest.join(&f.name)).unwrap();
        assert_eq!((f.sha256.clone(), f.size), (sha(&on_disk), on_disk.len() as u64), "{}", f.name);
    }
    assert_eq!(std::fs::read(dest.join("sub/metrics.json")).unwrap(), b"{\"loss\": 2}");
    let mode = |p: &str| std::fs::metadata(dest.join(p)).unwrap().mode() & 0o7777;
    assert_eq!((mode("suid"), mode("sticky"), mode("sub/metrics.json"), mode("sub")), (0o755, 0o644, 0o644, 0o755));
    assert_eq!(
        got.modes_dropped,
        vec![
            ModeDropped { name: "suid".into(), archive_mode: "4755".into(), written_mode: "755".into() },
            ModeDropped { name: "sticky".into(), archive_mode: "1600".into(), written_mode: "644".into() },
        ]
    );
    // Bytes written, the replaced copy included (the cap counts what came over).
    assert_eq!(got.bytes, 11 + 4 + 1 + 11);
}

#[test]
fn links_devices_fifos_and_unsafe_names_are_listed_never_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let bytes = Archive::new()
        .entry("./root_link", EntryType::Symlink, 0o777, b"", Some("/"))
        // A file "through" the symlink lands in a real directory of that name, inside.
        .file("./root_link/tmp/planted", 0o644, b"p")
        .entry("./hard", EntryType::Link, 0o644, b"", Some("/etc/passwd"))
        .entry("./dev", EntryType::Char, 0o666, b"", None)
        .entry("./blk", EntryType::Block, 0o660, b"", None)
        .entry("./fifo", EntryType::Fifo, 0o644, b"", None)
        .file("../escape", 0o644, b"e")
        .file("./a/../../escape2", 0o644, b"e")
        .file("/abs_escape", 0o644, b"e")
        .bytes();
    let got = unpack(&mut bytes.as_slice(), &open(&dest), &budget(1 << 20)).unwrap();
    let kinds: Vec<(&str, &str, Option<&str>, Option<&str>)> =
        got.skipped.iter().map(|s| (s.name.as_str(), s.kind, s.link_target.as_deref(), s.device.as_deref())).collect();
    assert_eq!(
        kinds,
        [
            ("root_link", "symlink", Some("/"), None),
            ("hard", "hardlink", Some("/etc/passwd"), None),
            ("dev", "char-device", None, Some("1,3")),
            ("blk", "block-device", None, Some("1,3")),
            ("fifo", "fifo", None, None),
            ("../escape", "unsafe-name", None, None),
            ("./a/../../escape2", "unsafe-name", None, None),
            ("/abs_escape", "unsafe-name", None, None),
        ]
    );
    assert_eq!(got.skipped[2].mode.as_deref(), Some("666"));
    for outside in ["escape", "escape2", "abs_escape"] {
        assert!(!tmp.path().join(outside).exists(), "{outside} escaped");
    }
    assert!(!std::path::Path::new("/abs_escape").exists());
    assert!(!std::path::Path::new("/tmp/planted").exists());
    // Only regular files and directories exist under the destination.
    let planted = dest.join("root_link/tmp/planted");
    assert!(std::fs::symlink_metadata(dest.join("root_link")).unwrap().is_dir());
    assert_eq!(std::fs::read(&planted).unwrap(), b"p");
    for name in ["hard", "dev", "blk", "fifo"] {
        assert!(std::fs::symlink_metadata(dest.join(name)).is_err(), "{name} was created");
    }
}

#[test]
fn the_byte_cap_stops_at_the_header_and_zeros_stay_holes() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    // 8 MiB of zeros with a byte at each end: written sparse.
    let mut big = vec![0u8; 8 << 20];
    big[0] = 1;
    *big.last_mut().unwrap() = 2;
    let bytes = Archive::new().file("./small", 0o644, b"0123456789").file("./sparse", 0o644, &big).bytes();
    let got = unpack(&mut bytes.as_slice(), &open(&dest), &budget(16 << 20)).unwrap();
    assert_eq!(got.files[1].sha256, sha(&big));
    let meta = std::fs::metadata(dest.join("sparse")).unwrap();
    assert_eq!(meta.len(), 8 << 20);
    assert!(meta.blocks() * 512 < 1 << 20, "zeros were written out: {} blocks", meta.blocks());

    // The same archive against a cap below its size: refused at the big file's header.
    let capped = tmp.path().join("capped");
    std::fs::create_dir(&capped).unwrap();
    let e = unpack(&mut bytes.as_slice(), &open(&capped), &budget(1 << 20)).unwrap_err();
    assert_eq!(e, UnpackError::TooLarge { limit: 1 << 20, name: "sparse".into(), size: 8 << 20, so_far: 10 });
    assert!(!capped.join("sparse").exists(), "data past the cap was written");
}

#[test]
fn a_spent_budget_a_cut_stream_and_noise_before_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = open(tmp.path());
    let bytes = Archive::new().file("./a", 0o644, b"a").bytes();
    let spent = Budget { max_bytes: 1 << 20, deadline: Some(Instant::now()) };
    assert_eq!(unpack(&mut bytes.as_slice(), &dest, &spent).unwrap_err(), UnpackError::OutOfTime { bytes: 0 });
    let cut = &bytes[..700];
    assert!(matches!(unpack(&mut &cut[..], &dest, &budget(1 << 20)), Err(UnpackError::Archive(_))));

    let mut framed = b"Welcome to the pod!\nconda: initialised\nwfhost-ssh: begin\n".to_vec();
    framed.extend_from_slice(&bytes);
    let mut reader = framed.as_slice();
    skip_to_line(&mut reader, "wfhost-ssh: begin").unwrap();
    let got = unpack(&mut reader, &open(tmp.path()), &budget(1 << 20)).unwrap();
    assert_eq!(got.files.len(), 1);
    let noise = vec![b'x'; MAX_NOISE + 10];
    assert!(matches!(skip_to_line(&mut noise.as_slice(), "begin"), Err(UnpackError::Archive(m)) if m.contains("no line")));
    assert!(matches!(skip_to_line(&mut &b"short\n"[..], "begin"), Err(UnpackError::Archive(m)) if m.contains("ended before")));
}

#[test]
fn sockets_the_remote_tar_left_out_are_listed_from_its_warnings() {
    // GNU tar 1.34's words, with a name that itself holds ": ".
    let stderr = "tar: ./sock: socket ignored\ntar: ./sub/a: b.sock: socket ignored\ntar: ./x: file changed as we read it\n";
    let got: Vec<(String, &str)> = sockets_left_out(stderr).into_iter().map(|s| (s.name, s.kind)).collect();
    assert_eq!(got, [("sock".to_string(), "socket"), ("sub/a: b.sock".to_string(), "socket")]);
    assert!(sockets_left_out("").is_empty());
}
