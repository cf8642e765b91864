//! Safe path segments and normalised absolute paths.
//!
//! Remote paths in wfhost are absolute POSIX paths "as seen on the target" (`/mnt/outputs`).
//! Names that become one directory level (pod names, run ids, flow ids) must be *safe segments*:
//! they cannot climb out of their parent, hide as dot files of special meaning, or carry shell
//! metacharacters. Transports and executors validate with these functions before building any
//! path or command from outside input.

use thiserror::Error;

/// Longest safe segment accepted (bytes).
pub const MAX_SEGMENT_LEN: usize = 64;

/// Why a string is not a safe path segment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SegmentError {
    /// The segment is empty.
    #[error("the name is empty; use letters, digits, '.', '_' or '-'")]
    Empty,
    /// The segment is `.` or `..`.
    #[error("the name {0:?} is reserved; pick another name")]
    Reserved(String),
    /// The segment is longer than [`MAX_SEGMENT_LEN`].
    #[error("the name {name:?} is {len} bytes long; at most {max} are allowed", max = MAX_SEGMENT_LEN)]
    TooLong {
        /// The offending name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The segment holds a character outside `[A-Za-z0-9._-]`.
    #[error(
        "the name {name:?} contains {bad:?}; only letters, digits, '.', '_' and '-' are allowed"
    )]
    BadChar {
        /// The offending name.
        name: String,
        /// The first character that is not allowed.
        bad: char,
    },
}

/// Why a string is not a normalised absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("the path {0:?} is not absolute; remote paths must start with '/'")]
    NotAbsolute(String),
    /// The path has a `..` segment.
    #[error("the path {0:?} contains a '..' segment; write the path without it")]
    ParentSegment(String),
    /// The path has a `.` segment or an empty segment (`//`).
    #[error("the path {0:?} is not normalised ('.' or empty segment); write it as /a/b")]
    NotNormalised(String),
    /// The path holds a NUL or newline byte.
    #[error("the path {0:?} contains a NUL or newline character")]
    BadChar(String),
}

/// Check that `s` is a safe path segment: 1 to 64 bytes of `[A-Za-z0-9._-]`, not `.` or `..`.
///
/// ```
/// use wfhost_pack_sdk::path::{validate_segment, SegmentError};
/// assert_eq!(validate_segment("run-01.a_b"), Ok("run-01.a_b"));
/// assert!(matches!(validate_segment(".."), Err(SegmentError::Reserved(_))));
/// assert!(matches!(validate_segment("a/b"), Err(SegmentError::BadChar { bad: '/', .. })));
/// ```
pub fn validate_segment(s: &str) -> Result<&str, SegmentError> {
    if s.is_empty() {
        return Err(SegmentError::Empty);
    }
    if s == "." || s == ".." {
        return Err(SegmentError::Reserved(s.to_string()));
    }
    if s.len() > MAX_SEGMENT_LEN {
        return Err(SegmentError::TooLong {
            name: s.to_string(),
            len: s.len(),
        });
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(SegmentError::BadChar {
            name: s.to_string(),
            bad,
        });
    }
    Ok(s)
}

/// `true` when [`validate_segment`] accepts `s`.
pub fn is_safe_segment(s: &str) -> bool {
    validate_segment(s).is_ok()
}

/// Check that `p` is an absolute, normalised path and return it in canonical form.
///
/// One trailing `/` is tolerated and removed (`/mnt/outputs/` becomes `/mnt/outputs`); `/` stays
/// `/`. Empty segments (`//`), `.` and `..` segments, NUL and newline are refused.
///
/// ```
/// use wfhost_pack_sdk::path::normalize_abs_path;
/// assert_eq!(normalize_abs_path("/mnt/outputs/").unwrap(), "/mnt/outputs");
/// assert_eq!(normalize_abs_path("/").unwrap(), "/");
/// assert!(normalize_abs_path("/mnt/../etc").is_err());
/// assert!(normalize_abs_path("mnt").is_err());
/// ```
pub fn normalize_abs_path(p: &str) -> Result<String, PathError> {
    if p.contains('\0') || p.contains('\n') {
        return Err(PathError::BadChar(p.to_string()));
    }
    if !p.starts_with('/') {
        return Err(PathError::NotAbsolute(p.to_string()));
    }
    if p == "/" {
        return Ok("/".to_string());
    }
    let body = p.strip_suffix('/').unwrap_or(p);
    let mut out = String::with_capacity(body.len());
    for seg in body[1..].split('/') {
        match seg {
            ".." => return Err(PathError::ParentSegment(p.to_string())),
            "" | "." => return Err(PathError::NotNormalised(p.to_string())),
            _ => {
                out.push('/');
                out.push_str(seg);
            }
        }
    }
    Ok(out)
}

/// Join a normalised absolute `base` and a relative `rel` (`a/b`) with exactly one `/`.
///
/// The caller is responsible for `rel` being made of safe segments.
///
/// ```
/// use wfhost_pack_sdk::path::join;
/// assert_eq!(join("/mnt/outputs", "runs/r1"), "/mnt/outputs/runs/r1");
/// assert_eq!(join("/", "mnt"), "/mnt");
/// ```
pub fn join(base: &str, rel: &str) -> String {
    let base = base.trim_end_matches('/');
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return if base.is_empty() {
            "/".to_string()
        } else {
            base.to_string()
        };
    }
    format!("{base}/{rel}")
}

/// `true` when normalised absolute `child` lies strictly below normalised absolute `parent`.
///
/// ```
/// use wfhost_pack_sdk::path::is_strictly_inside;
/// assert!(is_strictly_inside("/pods", "/pods/a"));
/// assert!(!is_strictly_inside("/pods", "/pods"));
/// assert!(!is_strictly_inside("/pods", "/podsx/a"));
/// ```
pub fn is_strictly_inside(parent: &str, child: &str) -> bool {
    if parent == "/" {
        return child.len() > 1 && child.starts_with('/');
    }
    child.len() > parent.len() + 1
        && child.starts_with(parent)
        && child.as_bytes()[parent.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_accept_the_allowed_alphabet() {
        for ok in ["a", "A9", "run_1", "x.y", "-lead", "...", &"a".repeat(64)] {
            assert_eq!(validate_segment(ok), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn segments_refuse_bad_input() {
        assert_eq!(validate_segment(""), Err(SegmentError::Empty));
        assert_eq!(
            validate_segment("."),
            Err(SegmentError::Reserved(".".into()))
        );
        assert_eq!(
            validate_segment(".."),
            Err(SegmentError::Reserved("..".into()))
        );
        assert!(matches!(
            validate_segment(&"a".repeat(65)),
            Err(SegmentError::TooLong { len: 65, .. })
        ));
        for (bad, c) in [
            ("a b", ' '),
            ("a/b", '/'),
            ("a$b", '$'),
            ("é", 'é'),
            ("a\nb", '\n'),
            ("a'b", '\''),
        ] {
            assert_eq!(
                validate_segment(bad),
                Err(SegmentError::BadChar {
                    name: bad.into(),
                    bad: c
                })
            );
        }
        assert!(!is_safe_segment("x;y"));
        assert!(is_safe_segment("x-y"));
    }

    #[test]
    fn paths_normalise_or_fail() {
        assert_eq!(normalize_abs_path("/a/b").as_deref(), Ok("/a/b"));
        assert_eq!(normalize_abs_path("/a/b/").as_deref(), Ok("/a/b"));
        assert_eq!(normalize_abs_path("/").as_deref(), Ok("/"));
        assert_eq!(normalize_abs_path("/a/..b").as_deref(), Ok("/a/..b"));
        assert!(matches!(
            normalize_abs_path("a/b"),
            Err(PathError::NotAbsolute(_))
        ));
        assert!(matches!(
            normalize_abs_path(""),
            Err(PathError::NotAbsolute(_))
        ));
        assert!(matches!(
            normalize_abs_path("/a/../b"),
            Err(PathError::ParentSegment(_))
        ));
        assert!(matches!(
            normalize_abs_path("/.."),
            Err(PathError::ParentSegment(_))
        ));
        assert!(matches!(
            normalize_abs_path("/a//b"),
            Err(PathError::NotNormalised(_))
        ));
        assert!(matches!(
            normalize_abs_path("/a/./b"),
            Err(PathError::NotNormalised(_))
        ));
        assert!(matches!(
            normalize_abs_path("//"),
            Err(PathError::NotNormalised(_))
        ));
        assert!(matches!(
            normalize_abs_path("/a\0"),
            Err(PathError::BadChar(_))
        ));
    }

    #[test]
    fn join_and_inside() {
        assert_eq!(join("/a/", "/b"), "/a/b");
        assert_eq!(join("/a", ""), "/a");
        assert_eq!(join("", ""), "/");
        assert!(is_strictly_inside("/", "/a"));
        assert!(!is_strictly_inside("/", "/"));
        assert!(is_strictly_inside("/p/q", "/p/q/r/s"));
        assert!(!is_strictly_inside("/p/q", "/p/q/"));
        assert!(!is_strictly_inside("/p/q", "/p"));
    }
}
