//! Target strings of the slurm transport: the submit host, and the partition bound with it.
//!
//! Accepted forms:
//! - `slurm://local[/PARTITION]`: this machine is the submit host;
//! - `slurm+ssh://[user@]host[:port][/PARTITION]`: the submit host is reached with OpenSSH (the
//!   host part is an ssh destination as the ssh transport accepts it, IPv6 in brackets).
//!
//! A partition name is 1 to [`MAX_PARTITION_LEN`] of `[A-Za-z0-9._-]`, not starting with `-`.
//! The setting SLURM_PARTITION names the partition when the target does not; a target and a
//! setting that name different partitions are refused, so the partition a flow binds in P20 is
//! the one every later phase submits to. Without either, the target has no partition: the
//! cluster's default partition is used, and P30 names it.
//!
//! The normal form is `slurm://local[/PARTITION]` or `slurm+ssh://[user@]host[:port][/PARTITION]`,
//! the partition always written when one is known, so the bound target carries it.

use wfhost_pack_sdk::transport::TransportError;
use wfhost_ssh_client::target::Target as SshTarget;

/// Longest accepted partition name.
pub const MAX_PARTITION_LEN: usize = 64;

/// The scheme of a submit host that is this machine.
pub const LOCAL: &str = "slurm://local";
/// The scheme prefix of a submit host reached with ssh.
pub const SSH_SCHEME: &str = "slurm+ssh://";

/// Where the Slurm commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitHost {
    /// This machine.
    Local,
    /// A host reached with OpenSSH.
    Ssh(SshTarget),
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmTarget {
    /// The submit host.
    pub host: SubmitHost,
    /// The partition, when the target or SLURM_PARTITION names one.
    pub partition: Option<String>,
}

fn invalid(raw: &str, why: &str) -> TransportError {
    TransportError::Invalid(format!(
        "target {raw:?} is not a slurm target: {why}; use slurm://local or slurm+ssh://user@host[:port], optionally followed by /PARTITION"
    ))
}

/// Check a partition name.
pub fn check_partition(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the partition name is empty".into());
    }
    if name.len() > MAX_PARTITION_LEN {
        return Err(format!(
            "the partition name is longer than {MAX_PARTITION_LEN} characters"
        ));
    }
    if name.starts_with('-') {
        return Err("the partition name starts with -".into());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(c) => Err(format!("the partition name contains {c:?}")),
        None => Ok(()),
    }
}

impl SlurmTarget {
    /// Parse `raw` (surrounding spaces ignored), with `partition_setting` (SLURM_PARTITION,
    /// empty counts as unset) filling in the partition.
    pub fn parse(raw: &str, partition_setting: Option<&str>) -> Result<SlurmTarget, TransportError> {
        if let Some(bad) = raw.chars().find(|c| c.is_control()) {
            return Err(invalid(raw, &format!("it contains {bad:?}")));
        }
        let s = raw.trim_matches(' ');
        let (host, path) = if let Some(rest) = s.strip_prefix("slurm://") {
            let (authority, path) = split_path(rest);
            if authority != "local" {
                return Err(invalid(
                    raw,
                    "slurm:// names this machine only (slurm://local); a remote submit host is slurm+ssh://user@host",
                ));
            }
            (SubmitHost::Local, path)
        } else if let Some(rest) = s.strip_prefix(SSH_SCHEME) {
            let (authority, path) = split_path(rest);
            if authority.is_empty() {
                return Err(invalid(raw, "the submit host is missing after slurm+ssh://"));
            }
            let ssh = SshTarget::parse(&format!("ssh://{authority}")).map_err(|e| {
                let why = match e {
                    TransportError::Invalid(m) => m,
                    other => other.to_string(),
                };
                invalid(raw, &why)
            })?;
            (SubmitHost::Ssh(ssh), path)
        } else {
            return Err(invalid(raw, "it does not start with slurm:// or slurm+ssh://"));
        };
        let in_target = match path {
            None => None,
            Some(p) => {
                check_partition(p).map_err(|why| invalid(raw, &why))?;
                Some(p.to_string())
            }
        };
        let setting = partition_setting.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = setting {
            check_partition(p).map_err(|why| {
                TransportError::Invalid(format!("SLURM_PARTITION={p:?} is unusable: {why}"))
            })?;
        }
        let partition = match (in_target, setting) {
            (Some(t), Some(s)) if t != s => {
                return Err(TransportError::Invalid(format!(
                    "target {raw:?} names partition {t} but SLURM_PARTITION={s}; name one partition (or the same in both)"
                )))
            }
            (Some(t), _) => Some(t),
            (None, s) => s.map(str::to_string),
        };
        Ok(SlurmTarget { host, partition })
    }

    /// The normal form (see the module documentation).
    pub fn normalised(&self) -> String {
        let mut s = match &self.host {
            SubmitHost::Local => LOCAL.to_string(),
            SubmitHost::Ssh(t) => {
                let user = t.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                let host = if t.host.contains(':') {
                    format!("[{}]", t.host)
                } else {
                    t.host.clone()
                };
                let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{SSH_SCHEME}{user}{host}{port}")
            }
        };
        if let Some(p) = &self.partition {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    /// The submit host as the ssh client names it, when it is reached with ssh.
    pub fn ssh_destination(&self) -> Option<String> {
        match &self.host {
            SubmitHost::Local => None,
            SubmitHost::Ssh(t) => Some(t.normalised()),
        }
    }
}

/// `authority[/path]`: the path without its slashes, `None` when empty.
fn split_path(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('/') {
        None => (rest, None),
        Some((a, p)) => {
            let p = p.trim_end_matches('/');
            (a, if p.is_empty() { None } else { Some(p) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str, setting: Option<&str>) -> String {
        SlurmTarget::parse(s, setting)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .normalised()
    }

    #[test]
    fn forms_and_their_normal_form() {
        assert_eq!(norm("slurm://local", None), "slurm://local");
        assert_eq!(norm(" slurm://local/ ", None), "slurm://local");
        assert_eq!(norm("slurm://local/gpu", None), "slurm://local/gpu");
        assert_eq!(norm("slurm://local", Some("gpu")), "slurm://local/gpu");
        assert_eq!(norm("slurm://local/gpu", Some("gpu")), "slurm://local/gpu");
        assert_eq!(norm("slurm://local", Some("  ")), "slurm://local");
        assert_eq!(
            norm("slurm+ssh://alice@login.hpc.example:2222/a100", None),
            "slurm+ssh://alice@login.hpc.example:2222/a100"
        );
        assert_eq!(norm("slurm+ssh://login", Some("cpu")), "slurm+ssh://login/cpu");
        assert_eq!(norm("slurm+ssh://u@[::1]:22", None), "slurm+ssh://u@[::1]:22");
        // The normal form parses back to itself, with or without the setting.
        for s in ["slurm://local/p", "slurm+ssh://u@[::1]:22/p", "slurm+ssh://h"] {
            let n = norm(s, None);
            assert_eq!(norm(&n, None), n);
        }
    }

    #[test]
    fn the_ssh_destination_is_the_ssh_transports_normal_form() {
        let t = SlurmTarget::parse("slurm+ssh://root@127.0.0.1:2200/ci", None).unwrap();
        assert_eq!(t.ssh_destination().as_deref(), Some("ssh://root@127.0.0.1:2200"));
        assert_eq!(t.partition.as_deref(), Some("ci"));
        let t = SlurmTarget::parse("slurm+ssh://root@box", None).unwrap();
        assert_eq!(t.ssh_destination().as_deref(), Some("root@box"));
        assert_eq!(SlurmTarget::parse("slurm://local", None).unwrap().ssh_destination(), None);
    }

    #[test]
    fn bad_targets_are_refused_saying_why() {
        for (bad, why) in [
            ("", "does not start with"),
            ("ssh://root@host", "does not start with"),
            ("local", "does not start with"),
            ("slurm://cluster", "this machine only"),
            ("slurm://local/a/b", "contains '/'"),
            ("slurm://local/-p", "starts with -"),
            ("slurm://local/p;rm", "contains ';'"),
            ("slurm+ssh://", "missing"),
            ("slurm+ssh:///p", "missing"),
            ("slurm+ssh://root@host;x", "';'"),
            ("slurm+ssh://-oProxyCommand=x", "starts with -"),
            ("slurm+ssh://h:0", "1 to 65535"),
            ("slurm://local\n", "'\\n'"),
        ] {
            match SlurmTarget::parse(bad, None) {
                Err(TransportError::Invalid(m)) => assert!(m.contains(why), "{bad:?}: {m}"),
                other => panic!("{bad:?} -> {other:?}"),
            }
        }
        let long = format!("slurm://local/{}", "p".repeat(MAX_PARTITION_LEN + 1));
        assert!(SlurmTarget::parse(&long, None).is_err());
    }

    #[test]
    fn the_target_and_the_setting_must_agree_on_the_partition() {
        let e = SlurmTarget::parse("slurm://local/gpu", Some("cpu")).unwrap_err().to_string();
        assert!(e.contains("partition gpu") && e.contains("SLURM_PARTITION=cpu"), "{e}");
        let e = SlurmTarget::parse("slurm://local", Some("a b")).unwrap_err().to_string();
        assert!(e.contains("SLURM_PARTITION") && e.contains("' '"), "{e}");
    }
}
