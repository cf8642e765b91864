//! A tiny harness: a temp working dir with a real git repo, a config and a manifest, and the
//! real `wfhost` binary run in it with stdin closed and a hard timeout.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One isolated working directory.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    config: BTreeMap<String, String>,
    pub env: Vec<(String, String)>,
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    /// The value of a header line.
    pub fn header(&self, key: &str) -> Option<&str> {
        let prefix = format!("{key}=");
        self.stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).last()
    }

    /// (phase, status, code) of every status line.
    pub fn statuses(&self) -> Vec<(String, String, u16)> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("PHASE=") && l.contains(" STATUS="))
            .map(|l| {
                let f = fields(l);
                (f["PHASE"].clone(), f["STATUS"].clone(), f["CODE"].parse().unwrap_or(9999))
            })
            .collect()
    }

    /// (phase, court, det, const) of every court line.
    pub fn courts(&self) -> Vec<(String, String, String, String)> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("PHASE=") && l.contains(" COURT="))
            .map(|l| {
                let f = fields(l);
                (f["PHASE"].clone(), f["COURT"].clone(), f["DET"].clone(), f["CONST"].clone())
            })
            .collect()
    }

    /// The flow's evidence directory (from the last VERDICT path).
    pub fn flow_dir(&self) -> PathBuf {
        let verdict = self
            .stdout
            .lines()
            .filter_map(|l| l.split(" VERDICT=").nth(1))
            .last()
            .unwrap_or_else(|| panic!("no VERDICT line in stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr));
        Path::new(verdict).parent().and_then(Path::parent).unwrap().to_path_buf()
    }

    /// The flow's summary.
    pub fn summary(&self) -> serde_json::Value {
        let p = self.flow_dir().join("flow.summary.json");
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    }

    /// A phase's verdict file.
    pub fn verdict(&self, phase: &str) -> serde_json::Value {
        let p = self.flow_dir().join(format!("phase/phase.{phase}.verdict.json"));
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    }

    /// Stdout, with paths, ids, hashes and times replaced by stable placeholders.
    pub fn redacted_stdout(&self, root: &Path) -> String {
        let root = root.canonicalize().unwrap().display().to_string();
        let mut out = Vec::new();
        for line in self.stdout.lines() {
            let mut l = line.replace(&root, "[ROOT]");
            l = redact_after(&l, "active_config_sha256=", "[SHA256]");
            l = redact_after(&l, "flow_id=", "[FLOW_ID]");
            l = redact_flow_ids(&l);
            l = redact_pod_names(&l);
            out.push(l);
        }
        out.join("\n")
    }

    /// Panic with the run's output when a condition does not hold.
    pub fn explain(&self) -> String {
        format!("exit {}\n--- stdout\n{}\n--- stderr\n{}", self.status, self.stdout, self.stderr)
    }
}

fn fields(line: &str) -> BTreeMap<String, String> {
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn redact_after(line: &str, prefix: &str, with: &str) -> String {
    match line.strip_prefix(prefix) {
        Some(_) => format!("{prefix}{with}"),
        None => line.to_string(),
    }
}

/// Flow ids look like 20261121T230102Z-a1b2c3.
fn redact_flow_ids(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < line.len() {
        if i + 23 <= line.len() && is_flow_id(&bytes[i..i + 23]) {
            out.push_str("[FLOW_ID]");
            i += 23;
        } else {
            let ch = line[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_flow_id(b: &[u8]) -> bool {
    b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..23].iter().all(|c| c.is_ascii_hexdigit())
}

/// Pods created by the local transport are named wf-<the flow id's 6 hex digits>.
fn redact_pod_names(line: &str) -> String {
    let mut out = line.to_string();
    while let Some(pos) = out.find("wf-").filter(|&p| {
        out.len() >= p + 9 && out.as_bytes()[p + 3..p + 9].iter().all(|c| c.is_ascii_hexdigit())
    }) {
        out.replace_range(pos..pos + 9, "[POD]");
    }
    out
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=wfhost-test", "-c", "user.email=test@wfhost.invalid", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The experiment the test repos carry: writes metrics.json and summary.json into WF_RUN_DIR;
/// `--fail N` exits N, `--bad-summary` writes "ok": false.
const EXPERIMENT: &str = r#"#!/bin/sh
set -eu
seed=0 fail=0 bad=0 sleep_s=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift 2 ;;
    --fail) fail=$2; shift 2 ;;
    --bad-summary) bad=1; shift ;;
    --sleep) sleep_s=$2; shift 2 ;;
    *) shift ;;
  esac
done
echo "run $WF_RUN_ID seed $seed" > "$WF_RUN_DIR/train.log"
printf '{"seed": %s, "loss": 0.%s}\n' "$seed" "$seed" > "$WF_RUN_DIR/metrics.json"
[ "$sleep_s" = 0 ] || sleep "$sleep_s"
if [ "$bad" = 1 ]; then printf '{"ok": false}\n' > "$WF_RUN_DIR/summary.json"; else printf '{"ok": true}\n' > "$WF_RUN_DIR/summary.json"; fi
exit "$fail"
"#;

impl Sandbox {
    /// A sandbox with a committed experiment repo under `repo/` and a default config.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("train.sh"), EXPERIMENT).unwrap();
        std::fs::write(repo.join("README"), "test experiment\n").unwrap();
        git(&repo, &["init", "-q"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-qm", "experiment"]);
        let mut s = Sandbox { dir, config: BTreeMap::new(), env: Vec::new() };
        s.set("WF_CONSTITUTION_VERSION", "1");
        s.set("WF_TRANSPORT", "local");
        s.set("REPO_URL", "repo");
        s.set("REPO_REF", "main");
        s.set("SWEEP_MANIFEST", "sweep.csv");
        s.set("SWEEP_RUN_TEMPLATE", "sh train.sh --seed {seed} {extra}");
        s.set("SWEEP_MAX_PARALLEL", "2");
        s.set("WF_MONITOR_POLL_SECS", "0.2");
        s.manifest("run_id,seed,extra\nr1,1,\nr2,2,\nr3,3,\n");
        s
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Set a config key (written on the next run).
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Remove a config key.
    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.config.remove(key);
        self
    }

    /// Write the sweep manifest.
    pub fn manifest(&mut self, csv: &str) -> &mut Self {
        std::fs::write(self.root().join("sweep.csv"), csv).unwrap();
        self
    }

    /// Write a file relative to the sandbox.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn write_config(&self) {
        let mut text = String::from("# test config\n");
        for (k, v) in &self.config {
            text.push_str(&format!("{k}={v}\n"));
        }
        // Unchanged: left alone, so a flow running meanwhile never reads a half-written file.
        if std::fs::read_to_string(self.root().join("infra_scripts/workflow.env")).is_ok_and(|t| t == text) {
            return;
        }
        self.write("infra_scripts/workflow.env", &text);
    }

    /// Run `wfhost ARGS` in the sandbox, stdin closed, killed after `limit`.
    pub fn run_with_limit(&self, args: &[&str], limit: Duration) -> Run {
        self.write_config();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wfhost"));
        cmd.args(args)
            .current_dir(self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in ["LIUM_YES", "LIUM_TARGET", "WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE"] {
            cmd.env_remove(k);
        }
        cmd.env("WFHOST_CACHE_DIR", cache_dir());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let t0 = Instant::now();
        let mut child = cmd.spawn().expect("wfhost spawns");
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st.code().unwrap_or(-1);
            }
            if t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                let out = out_t.join().unwrap_or_default();
                let err = err_t.join().unwrap_or_default();
                panic!("wfhost {args:?} did not finish within {limit:?}\n--- stdout\n{out}\n--- stderr\n{err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap(), took: t0.elapsed() }
    }

    /// Run with the default limit (120 s: no flow here should come near it).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_limit(args, Duration::from_secs(120))
    }

    /// Pod directories under .wfhost/pods.
    pub fn pods(&self) -> Vec<String> {
        match std::fs::read_dir(self.root().join(".wfhost/pods")) {
            Ok(rd) => {
                let mut v: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                v.sort();
                v
            }
            Err(_) => vec![],
        }
    }
}

/// One compiled-component cache for the whole test run, so only the first flow compiles.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wfhost-component-cache")
}
