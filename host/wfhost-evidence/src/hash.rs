//! sha256 digests as lowercase hex: of bytes in memory and of files, streamed.
//!
//! Every digest in evidence (payload hashes, record hashes, event IDs, artifact digests) is
//! produced here, so they all share one encoding.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A file could not be read to hash it.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {} to hash it: {source}; check that the file exists and is readable", path.display())]
pub struct HashFileError {
    /// The file.
    pub path: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

/// sha256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

fn to_hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(digest.len() * 2);
    for &b in digest {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// sha256 of the file at `path`, read in 64 KiB blocks (constant memory), as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, HashFileError> {
    let err = |source| HashFileError {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        }
    }
    Ok(to_hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hex_matches_the_hex_crate() {
        let digest = Sha256::digest(b"wfhost");
        assert_eq!(to_hex(&digest), hex::encode(digest));
    }

    #[test]
    fn file_digest_equals_memory_digest_across_block_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        for len in [0usize, 1, 65_535, 65_536, 65_537, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join(format!("f{len}"));
            std::fs::write(&p, &data).expect("write");
            assert_eq!(
                sha256_file(&p).expect("hash"),
                sha256_hex(&data),
                "len {len}"
            );
        }
        let missing = sha256_file(&dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
    }
}
