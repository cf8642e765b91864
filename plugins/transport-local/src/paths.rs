//! Pure path logic of the local transport: pod names, the pods directory, and the mapping of a
//! pod's remote absolute paths onto the host.
//!
//! Nothing here touches the filesystem; [`crate::local`] uses these results as positional
//! arguments of the `sh` scripts it runs.

use wfhost_pack_sdk::path::{
    is_strictly_inside, join, normalize_abs_path, validate_segment, MAX_SEGMENT_LEN,
};
use wfhost_pack_sdk::transport::TransportError;

/// The setting naming the pods directory.
pub const PODS_DIR_SETTING: &str = "WF_LOCAL_PODS_DIR";

/// How many names `provision` tries (`hint`, `hint-2`, ... `hint-<N>`).
pub const MAX_NAME_CANDIDATES: usize = 50;

/// Where one pod lives on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPaths {
    /// `<pods>/<name>`.
    pub dir: String,
    /// `<pods>/<name>/root`: what the pod sees as `/`.
    pub root: String,
    /// `<pods>/<name>/pod.json`.
    pub marker: String,
}

/// Check the `WF_LOCAL_PODS_DIR` setting: present, absolute, normalised, not `/`.
pub fn pods_dir(setting: Option<&str>) -> Result<String, TransportError> {
    let raw = setting.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        TransportError::Invalid(format!(
            "{PODS_DIR_SETTING} is not set: the host must pass the local pods directory (set {PODS_DIR_SETTING} in the config)"
        ))
    })?;
    let dir = normalize_abs_path(raw).map_err(|e| {
        TransportError::Invalid(format!("{PODS_DIR_SETTING}={raw:?} is unusable: {e}"))
    })?;
    if dir == "/" {
        return Err(TransportError::Invalid(format!(
            "{PODS_DIR_SETTING}=/ is refused: pods need a directory of their own"
        )));
    }
    Ok(dir)
}

/// Check a target is a pod name (a safe path segment) and return it.
pub fn pod_name(target: &str) -> Result<&str, TransportError> {
    validate_segment(target).map_err(|e| {
        TransportError::Invalid(format!("target {target:?} is not a local pod name: {e}"))
    })
}

/// The paths of pod `name` under `pods` (both already validated).
pub fn pod_paths(pods: &str, name: &str) -> PodPaths {
    let dir = join(pods, name);
    PodPaths {
        root: join(&dir, "root"),
        marker: join(&dir, "pod.json"),
        dir,
    }
}

/// Map the pod's absolute remote `path` onto the host: `<root><path>`.
///
/// The path must be absolute and normalised with no `..` segment (one trailing `/` is
/// tolerated); anything else is `invalid`.
pub fn resolve(root: &str, path: &str) -> Result<String, TransportError> {
    let norm = normalize_abs_path(path)
        .map_err(|e| TransportError::Invalid(format!("remote path {path:?} refused: {e}")))?;
    let resolved = if norm == "/" {
        root.to_string()
    } else {
        format!("{root}{norm}")
    };
    debug_assert!(resolved == root || is_strictly_inside(root, &resolved));
    Ok(resolved)
}

/// The remote parent of a file path (`/a/b` -> `/a`); a file cannot be `/` itself.
pub fn remote_parent(path: &str) -> Result<String, TransportError> {
    let norm = normalize_abs_path(path)
        .map_err(|e| TransportError::Invalid(format!("remote path {path:?} refused: {e}")))?;
    if norm == "/" {
        return Err(TransportError::Invalid(
            "remote path \"/\" is a directory, not a file".into(),
        ));
    }
    Ok(match norm.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => norm[..i].to_string(),
    })
}

/// Pod names `provision` tries for `hint`, in order: `hint`, `hint-2`, `hint-3`, ...
/// A long hint is shortened so every candidate stays a safe segment.
pub fn candidate_names(hint: &str) -> Result<Vec<String>, TransportError> {
    validate_segment(hint).map_err(|e| {
        TransportError::Invalid(format!("name hint {hint:?} is not a valid pod name: {e}"))
    })?;
    let mut names = vec![hint.to_string()];
    for n in 2..=MAX_NAME_CANDIDATES {
        let suffix = format!("-{n}");
        let keep = hint.len().min(MAX_SEGMENT_LEN - suffix.len());
        names.push(format!("{}{suffix}", &hint[..keep]));
    }
    Ok(names)
}

/// `true` when `pod_dir` is strictly inside `pods` (the guard before deleting anything).
pub fn is_deletable(pods: &str, pod_dir: &str) -> bool {
    is_strictly_inside(pods, pod_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_pack_sdk::path::is_safe_segment;

    #[test]
    fn pods_dir_must_be_set_absolute_and_not_root() {
        assert!(matches!(pods_dir(None), Err(TransportError::Invalid(m)) if m.contains("not set")));
        assert!(matches!(
            pods_dir(Some("  ")),
            Err(TransportError::Invalid(_))
        ));
        assert!(
            matches!(pods_dir(Some("rel/pods")), Err(TransportError::Invalid(m)) if m.contains("not absolute"))
        );
        assert!(matches!(
            pods_dir(Some("/a/../b")),
            Err(TransportError::Invalid(_))
        ));
        assert!(matches!(
            pods_dir(Some("/")),
            Err(TransportError::Invalid(_))
        ));
        assert_eq!(pods_dir(Some("/var/pods/")).unwrap(), "/var/pods");
    }

    #[test]
    fn pod_names_are_safe_segments() {
        assert_eq!(pod_name("wf-1234abcd").unwrap(), "wf-1234abcd");
        for bad in ["", ".", "..", "a/b", "a b", "$(x)", &"p".repeat(65)] {
            assert!(
                matches!(pod_name(bad), Err(TransportError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pod_paths_layout() {
        let p = pod_paths("/pods", "p1");
        assert_eq!(p.dir, "/pods/p1");
        assert_eq!(p.root, "/pods/p1/root");
        assert_eq!(p.marker, "/pods/p1/pod.json");
    }

    #[test]
    fn resolve_maps_under_the_root() {
        let root = "/pods/p1/root";
        assert_eq!(
            resolve(root, "/mnt/outputs").unwrap(),
            "/pods/p1/root/mnt/outputs"
        );
        assert_eq!(
            resolve(root, "/mnt/outputs/").unwrap(),
            "/pods/p1/root/mnt/outputs"
        );
        assert_eq!(resolve(root, "/").unwrap(), root);
    }

    #[test]
    fn resolve_refuses_escapes_and_relative_paths() {
        let root = "/pods/p1/root";
        for bad in [
            "mnt",
            "",
            "/mnt/../../etc",
            "/..",
            "/a//b",
            "/a/./b",
            "./a",
            "/a\n",
        ] {
            assert!(
                matches!(resolve(root, bad), Err(TransportError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn remote_parent_of_files() {
        assert_eq!(remote_parent("/mnt/project.env").unwrap(), "/mnt");
        assert_eq!(remote_parent("/f").unwrap(), "/");
        assert!(remote_parent("/").is_err());
        assert!(remote_parent("/a/../f").is_err());
    }

    #[test]
    fn candidates_stay_safe_and_distinct() {
        let names = candidate_names("wf-abc").unwrap();
        assert_eq!(&names[..3], &["wf-abc", "wf-abc-2", "wf-abc-3"]);
        let long = "x".repeat(64);
        let names = candidate_names(&long).unwrap();
        assert_eq!(names.len(), MAX_NAME_CANDIDATES);
        assert!(names.iter().all(|n| is_safe_segment(n)), "{names:?}");
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len());
        assert!(candidate_names("a/b").is_err());
    }

    #[test]
    fn deletable_only_strictly_inside() {
        assert!(is_deletable("/pods", "/pods/a"));
        assert!(!is_deletable("/pods", "/pods"));
        assert!(!is_deletable("/pods", "/pods2/a"));
        assert!(!is_deletable("/pods", "/"));
    }
}
