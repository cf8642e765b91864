//! The target's visible GPUs: found with one exec of [`detect_command`] (the session's
//! `CUDA_VISIBLE_DEVICES` when it is set, else the indices `nvidia-smi -L` lists, else none),
//! parsed by [`parse`] into [`Gpus`] and recorded as facts (`gpus`, `gpu_count`, `gpus_source`)
//! by P30, P40 and P60. P60 hands the list to the runner (`_sweep/options`), which slices it per
//! run when `WF_GPUS_PER_RUN` is set.
//!
//! A device name is an index or a UUID (`GPU-…`, `MIG-…`): `[A-Za-z0-9._:-]`, not starting with
//! `-`. As CUDA does, the list ends at the first entry that is not one (`-1` hides every GPU).

use crate::host::{ActionClass, Host, Level};
use crate::outcome::{Act, Failure};

/// How long the detection may take (nvidia-smi on a broken driver can hang).
const DETECT_TIMEOUT_MS: u64 = 60_000;
/// The limit `nvidia-smi -L` gets where the target has `timeout(1)`.
const NVIDIA_SMI_SECS: u32 = 30;

/// What the detection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpus {
    /// `CUDA_VISIBLE_DEVICES`, `nvidia-smi` or `none`.
    pub source: String,
    /// The device names, in order.
    pub ids: Vec<String>,
}

impl Gpus {
    /// The device names, comma-separated (empty for none).
    pub fn list(&self) -> String {
        self.ids.join(",")
    }

    /// `0,1 (from nvidia-smi)`, or `none (from none)`.
    pub fn describe(&self) -> String {
        let list = if self.ids.is_empty() { "none".to_string() } else { self.list() };
        format!("{list} (from {})", self.source)
    }

    /// Record `gpus`, `gpu_count` and `gpus_source` as facts.
    pub fn record<H: Host>(&self, act: &mut Act<'_, H>) {
        act.facts.set("gpus", self.list());
        act.facts.set("gpu_count", self.ids.len());
        act.facts.set("gpus_source", &self.source);
    }
}

/// The shell command that prints `source=<where>` and `gpus=<comma-separated names>`.
pub fn detect_command() -> String {
    format!(
        r#"if [ -n "${{CUDA_VISIBLE_DEVICES+set}}" ]; then
  echo source=CUDA_VISIBLE_DEVICES
  printf 'gpus=%s\n' "$CUDA_VISIBLE_DEVICES"
elif command -v nvidia-smi >/dev/null 2>&1; then
  if command -v timeout >/dev/null 2>&1; then l=$(timeout {NVIDIA_SMI_SECS} nvidia-smi -L 2>/dev/null); else l=$(nvidia-smi -L 2>/dev/null); fi
  echo source=nvidia-smi
  printf 'gpus=%s\n' "$(printf '%s\n' "$l" | sed -n 's/^GPU \([0-9][0-9]*\):.*/\1/p' | tr '\n' ',')"
else
  echo source=none
  echo gpus=
fi"#
    )
}

fn valid_device(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Parse the output of [`detect_command`].
pub fn parse(stdout: &str) -> Result<Gpus, String> {
    let mut source = None;
    let mut raw = None;
    for line in stdout.lines() {
        if let Some(s) = line.strip_prefix("source=") {
            source = Some(s.trim().to_string());
        } else if let Some(g) = line.strip_prefix("gpus=") {
            raw = Some(g.trim().to_string());
        }
    }
    let (Some(source), Some(raw)) = (source, raw) else {
        return Err(format!(
            "the GPU detection printed {:?}, not source= and gpus= lines",
            crate::outcome::first_chars(stdout.trim(), 200)
        ));
    };
    if !matches!(source.as_str(), "CUDA_VISIBLE_DEVICES" | "nvidia-smi" | "none") {
        return Err(format!("the GPU detection names the unknown source {source:?}"));
    }
    let ids = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take_while(|s| valid_device(s))
        .map(str::to_string)
        .collect();
    Ok(Gpus { source, ids })
}

/// Detect the target's GPUs (one read-only exec). A reply that cannot be read is a failure
/// with the phase's catch-all code.
pub fn detect<H: Host>(act: &mut Act<'_, H>) -> Result<Gpus, Failure> {
    let code = act.generic();
    let res = act.exec_ok(
        "finding the target's GPUs",
        &detect_command(),
        None,
        &[],
        DETECT_TIMEOUT_MS,
        ActionClass::Read,
        code,
        "check that the pod's shell works (`wfhost doctor`)",
    )?;
    let gpus = parse(&res.stdout).map_err(|e| Failure::new(code, e))?;
    act.log(Level::Info, &format!("GPUs on the target: {}", gpus.describe()));
    Ok(gpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_source() {
        let g = parse("source=nvidia-smi\ngpus=0,1,2,3,\n").unwrap();
        assert_eq!((g.source.as_str(), g.list().as_str()), ("nvidia-smi", "0,1,2,3"));
        let g = parse("source=CUDA_VISIBLE_DEVICES\ngpus=GPU-3f2a,MIG-1:2\n").unwrap();
        assert_eq!(g.ids, ["GPU-3f2a", "MIG-1:2"]);
        assert!(parse("source=none\ngpus=\n").unwrap().ids.is_empty());
        // CUDA stops at the first entry that is not a device: -1 hides every GPU.
        assert!(parse("source=CUDA_VISIBLE_DEVICES\ngpus=-1\n").unwrap().ids.is_empty());
        assert_eq!(parse("source=CUDA_VISIBLE_DEVICES\ngpus=2,bad id,3\n").unwrap().ids, ["2"]);
        assert!(parse("gpus=0\n").is_err());
        assert!(parse("source=elsewhere\ngpus=0\n").unwrap_err().contains("unknown source"));
    }

    #[test]
    fn the_command_finds_each_source_for_real() {
        use wfhost_pack_sdk::testing::{run, RunSpec, TempDir};
        let tmp = TempDir::new("wfhost-gpus").unwrap();
        let bin = tmp.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let smi = format!("{bin}/nvidia-smi");
        std::fs::write(
            &smi,
            "#!/bin/sh\n[ \"$1\" = -L ] || exit 2\nfor i in 0 1 2; do echo \"GPU $i: Stand-in (UUID: GPU-$i)\"; done\n",
        )
        .unwrap();
        std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("{bin}:/usr/bin:/bin");
        let detect = |env: &str| {
            let r = run(&RunSpec::sh(&format!("{env} {}", detect_command()), &[]));
            assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
            parse(&r.stdout).unwrap()
        };
        let g = detect(&format!("unset CUDA_VISIBLE_DEVICES; PATH={path};"));
        assert_eq!((g.source.as_str(), g.list().as_str()), ("nvidia-smi", "0,1,2"));
        let g = detect(&format!("CUDA_VISIBLE_DEVICES=5,7; export CUDA_VISIBLE_DEVICES; PATH={path};"));
        assert_eq!((g.source.as_str(), g.list().as_str()), ("CUDA_VISIBLE_DEVICES", "5,7"));
        let g = detect("unset CUDA_VISIBLE_DEVICES; PATH=/nonexistent:/usr/bin:/bin; command -v nvidia-smi >/dev/null && exit 9;");
        assert_eq!((g.source.as_str(), g.ids.len()), ("none", 0));
    }
}
