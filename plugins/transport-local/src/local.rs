//! The operations of the local transport ([`Transport`]), over the [`Host`] capabilities.
//!
//! Every operation validates its target and paths with [`crate::paths`], then runs one small
//! POSIX `sh` script through `process.run` with the host paths as positional arguments
//! (`sh -c '<script>' sh <arg>...`), so no path is ever interpolated into shell text. The scripts
//! signal their own outcomes with fixed exit codes ([`RC_VANISHED`], [`RC_MISSING`],
//! [`RC_REFUSED`]) which map to `transport-error` variants. User commands (`exec`) are run
//! separately, after a pre-check, so their exit codes are never confused with ours.

use crate::paths::{self, PodPaths};
use wfhost_pack_sdk::text::{last_line, utc_rfc3339};
use wfhost_pack_sdk::transport::{
    CommandResult, ExecSpec, FetchSource, Host, Level, PodIdentity, PodState, PodReport,
    RunRequest, Transport, TransportError,
};

/// Transport id.
pub const ID: &str = "local";

/// A script's exit code: the pod (its `pod.json`) does not exist.
pub const RC_VANISHED: i32 = 3;
/// A script's exit code: the file or directory asked for does not exist.
pub const RC_MISSING: i32 = 4;
/// A script's exit code: the operation was refused as unsafe.
pub const RC_REFUSED: i32 = 5;

const SCRIPT_TIMEOUT_MS: u64 = 60_000;
const PUT_TIMEOUT_MS: u64 = 300_000;
const FETCH_TIMEOUT_MS: u64 = 3_600_000;
const DELETE_TIMEOUT_MS: u64 = 600_000;

/// `$1` pods dir, `$2` pod dir, `$3` pod root; stdin: the pod.json text.
/// Prints `created`, `exists` + the existing pod.json, or `taken` (a directory without pod.json).
const PROVISION_SH: &str = r#"mkdir -p -- "$1" || { cat >/dev/null; exit 1; }
if mkdir -- "$2" 2>/dev/null; then
  mkdir -- "$3" || { cat >/dev/null; exit 1; }
  cat > "$2/pod.json.tmp" && mv -f -- "$2/pod.json.tmp" "$2/pod.json" || exit 1
  echo created
elif [ -f "$2/pod.json" ]; then
  cat >/dev/null
  echo exists
  cat -- "$2/pod.json"
else
  cat >/dev/null
  echo taken
fi"#;

/// `$1` pod.json, `$2` optional directory that must exist. Prints `ok`, `missing-pod` or
/// `missing-dir`.
const CHECK_SH: &str = r#"if [ ! -f "$1" ]; then echo missing-pod
elif [ -n "$2" ] && [ ! -d "$2" ]; then echo missing-dir
else echo ok
fi"#;

/// `$1` pod.json, `$2` parent dir, `$3` file, `$4` octal mode; stdin: the contents.
const PUT_SH: &str = r#"if [ ! -f "$1" ]; then cat >/dev/null; exit 3; fi
mkdir -p -- "$2" || { cat >/dev/null; exit 1; }
tmp="$3.wfhost-tmp.$$"
if cat > "$tmp" && chmod "$4" "$tmp" && mv -f -- "$tmp" "$3"; then exit 0; fi
rm -f -- "$tmp"
exit 1"#;

/// `$1` pod.json, `$2` file, `$3` max bytes.
const GET_SH: &str = r#"[ -f "$1" ] || exit 3
[ -f "$2" ] || { echo "no such file: $2" >&2; exit 4; }
head -c "$3" -- "$2""#;

/// `$1` pod.json, `$2` remote dir (resolved); stdout: a tar archive of the directory's contents.
const FETCH_SH: &str = r#"[ -f "$1" ] || exit 3
[ -d "$2" ] || { echo "no such directory: $2" >&2; exit 4; }
cd -- "$2" && exec tar -cf - ."#;

/// `$1` pods dir, `$2` pod dir. Refuses (exit 5) unless the real pod dir is strictly inside the
/// real pods dir (symlinks resolved).
const DELETE_SH: &str = r#"[ -f "$2/pod.json" ] || exit 3
pods_real=$(cd -P -- "$1" && pwd -P) || exit 1
pod_real=$(cd -P -- "$2" && pwd -P) || exit 1
case $pod_real in
  "$pods_real"/?*) ;;
  *) echo "refusing to delete $pod_real: it is not inside $pods_real" >&2; exit 5 ;;
esac
rm -rf -- "$2""#;

/// The local transport bound to a host; its operations are its [`Transport`] implementation.
pub struct Local<'h, H: Host> {
    host: &'h H,
}

impl<'h, H: Host> Local<'h, H> {
    /// Wrap `host`.
    pub fn new(host: &'h H) -> Self {
        Local { host }
    }

    fn pods(&self) -> Result<String, TransportError> {
        paths::pods_dir(self.host.setting(paths::PODS_DIR_SETTING).as_deref())
    }

    fn pod(&self, target: &str) -> Result<(String, PodPaths), TransportError> {
        let name = paths::pod_name(target)?;
        let pods = self.pods()?;
        let p = paths::pod_paths(&pods, name);
        Ok((pods, p))
    }

    /// Run one of our scripts. Spawn failures are `failed`, timeouts `timeout`.
    fn sh(
        &self,
        what: &str,
        script: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        timeout_ms: u64,
    ) -> Result<CommandResult, TransportError> {
        let req = Self::sh_request(script, args, stdin, timeout_ms);
        let res = self.host.run(&req).map_err(|e| {
            TransportError::Failed(format!("{what}: could not run sh on the host: {e}"))
        })?;
        if res.timed_out {
            return Err(TransportError::Timeout(format!(
                "{what}: no answer within {} s",
                timeout_ms / 1000
            )));
        }
        Ok(res)
    }

    /// `sh -c <script> sh <args>...`.
    fn sh_request(script: &str, args: &[&str], stdin: Option<Vec<u8>>, timeout_ms: u64) -> RunRequest {
        let mut argv = vec!["-c".to_string(), script.to_string(), "sh".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        RunRequest {
            program: "sh".into(),
            args: argv,
            cwd: None,
            env: Vec::new(),
            secret_env: Vec::new(),
            stdin,
            timeout_ms,
        }
    }

    /// Map the exit code of one of our scripts to a result.
    fn check_rc(
        &self,
        what: &str,
        target: &str,
        res: &CommandResult,
    ) -> Result<(), TransportError> {
        match res.exit_code {
            Some(0) => Ok(()),
            Some(RC_VANISHED) => Err(vanished(target)),
            Some(RC_MISSING) => Err(TransportError::Failed(format!(
                "{what}: {}",
                last_line(&res.stderr)
            ))),
            Some(RC_REFUSED) => Err(TransportError::Invalid(format!(
                "{what}: {}",
                last_line(&res.stderr)
            ))),
            other => Err(TransportError::Failed(format!(
                "{what} failed (exit {}): {}",
                other
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                nonempty(last_line(&res.stderr))
            ))),
        }
    }

    /// Pre-check that the pod exists (and optionally a directory in it).
    fn require_pod(
        &self,
        target: &str,
        p: &PodPaths,
        dir: Option<&str>,
    ) -> Result<(), TransportError> {
        let res = self.sh(
            "pod check",
            CHECK_SH,
            &[&p.marker, dir.unwrap_or("")],
            None,
            SCRIPT_TIMEOUT_MS,
        )?;
        match (res.exit_code, res.stdout.trim()) {
            (Some(0), "ok") => Ok(()),
            (Some(0), "missing-pod") => Err(vanished(target)),
            (Some(0), "missing-dir") => Err(TransportError::Failed(format!(
                "working directory {} does not exist in pod {target}; create it first",
                dir.unwrap_or("")
            ))),
            _ => Err(TransportError::Failed(format!(
                "pod check of {target} failed: {}",
                nonempty(last_line(&res.stderr))
            ))),
        }
    }
}

impl<H: Host> Transport for Local<'_, H> {
    /// `id`.
    fn id(&self) -> String {
        ID.to_string()
    }

    /// `check-config`: WF_LOCAL_PODS_DIR, when set, must be a usable absolute directory path.
    fn check_config(&self) -> Result<(), TransportError> {
        self.pods().map(|_| ())
    }

    /// `parse-target`: a safe pod name, returned unchanged.
    fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        paths::pod_name(target).map(str::to_string)
    }

    /// `provision`: create `<hint>` (or `<hint>-2`, ...), or return the pod this idempotency key
    /// already created.
    fn provision(
        &self,
        name_hint: &str,
        idempotency_key: &str,
    ) -> Result<PodIdentity, TransportError> {
        let pods = self.pods()?;
        let candidates = paths::candidate_names(name_hint)?;
        for name in &candidates {
            let p = paths::pod_paths(&pods, name);
            let marker = serde_json::json!({
                "name": name,
                "idempotency_key": idempotency_key,
                "created_at": utc_rfc3339(self.host.now_secs()),
            });
            let body = format!("{marker}\n").into_bytes();
            let res = self.sh(
                "provision",
                PROVISION_SH,
                &[&pods, &p.dir, &p.root],
                Some(body),
                SCRIPT_TIMEOUT_MS,
            )?;
            if res.exit_code != Some(0) {
                return Err(TransportError::Failed(format!(
                    "could not create pod directory {}: {}; check that {} is writable",
                    p.dir,
                    nonempty(last_line(&res.stderr)),
                    pods
                )));
            }
            let mut lines = res.stdout.splitn(2, '\n');
            match lines.next().map(str::trim) {
                Some("created") => {
                    self.host.log(
                        Level::Info,
                        &format!("created local pod {name} at {}", p.dir),
                    );
                    return Ok(identity(name, &p));
                }
                Some("exists") => {
                    let existing = lines.next().unwrap_or("");
                    let same = serde_json::from_str::<serde_json::Value>(existing)
                        .ok()
                        .and_then(|v| {
                            v.get("idempotency_key")
                                .and_then(|k| k.as_str())
                                .map(|k| k == idempotency_key)
                        })
                        .unwrap_or(false);
                    if same {
                        self.host.log(
                            Level::Info,
                            &format!("local pod {name} already exists for this key; reusing it"),
                        );
                        return Ok(identity(name, &p));
                    }
                }
                _ => {}
            }
        }
        Err(TransportError::Failed(format!(
            "every pod name from {name_hint} to {} is taken in {pods}; delete old pods or pick another name",
            candidates.last().map(String::as_str).unwrap_or(name_hint)
        )))
    }

    /// `status`: `ready` when pod.json exists, else `missing`.
    fn status(&self, target: &str) -> Result<PodReport, TransportError> {
        let (_, p) = self.pod(target)?;
        match self.require_pod(target, &p, None) {
            Ok(()) => Ok(PodReport {
                state: PodState::Ready,
                detail: format!("local pod at {}", p.dir),
            }),
            Err(TransportError::Vanished(_)) => {
                Ok(PodReport {
                    state: PodState::Missing,
                    detail: format!("no pod.json at {}", p.marker),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `resolve-path`: `<root><path>` for an existing pod.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
        let (_, p) = self.pod(target)?;
        let resolved = paths::resolve(&p.root, path)?;
        self.require_pod(target, &p, None)?;
        Ok(resolved)
    }

    /// `exec`: `sh -c <command>` in the resolved cwd (default: the pod root). A timed-out
    /// command is returned as a result with `timed-out` set, with whatever output it produced.
    fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError> {
        let (_, p) = self.pod(target)?;
        let cwd = match &spec.cwd {
            Some(c) => paths::resolve(&p.root, c)?,
            None => p.root.clone(),
        };
        self.require_pod(target, &p, Some(&cwd))?;
        let req = RunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), spec.command.clone()],
            cwd: Some(cwd),
            env: spec.env.clone(),
            secret_env: Vec::new(),
            stdin: None,
            timeout_ms: spec.timeout_ms,
        };
        self.host.run(&req).map_err(|e| {
            TransportError::Failed(format!("could not run the command in pod {target}: {e}"))
        })
    }

    /// `put-file`: write atomically (temp file next to the target, chmod, rename), creating
    /// parent directories.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), TransportError> {
        let (_, p) = self.pod(target)?;
        let file = paths::resolve(&p.root, path)?;
        let parent = paths::resolve(&p.root, &paths::remote_parent(path)?)?;
        let mode = format!("{:o}", mode & 0o7777);
        let res = self.sh(
            &format!("put-file {path}"),
            PUT_SH,
            &[&p.marker, &parent, &file, &mode],
            Some(contents),
            PUT_TIMEOUT_MS,
        )?;
        self.check_rc(&format!("put-file {path} in pod {target}"), target, &res)
    }

    /// `get-file`: at most `max_bytes` of a (text) file.
    fn get_file(
        &self,
        target: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TransportError> {
        let (_, p) = self.pod(target)?;
        let file = paths::resolve(&p.root, path)?;
        let res = self.sh(
            &format!("get-file {path}"),
            GET_SH,
            &[&p.marker, &file, &max_bytes.to_string()],
            None,
            SCRIPT_TIMEOUT_MS,
        )?;
        self.check_rc(&format!("get-file {path} in pod {target}"), target, &res)?;
        Ok(res.stdout.into_bytes())
    }

    /// `fetch-command`: `sh` streaming the pod directory's `remote_dir` as a tar archive (the
    /// host unpacks it, recreating regular files and directories only).
    fn fetch_command(&self, target: &str, remote_dir: &str) -> Result<FetchSource, TransportError> {
        let (_, p) = self.pod(target)?;
        let src = paths::resolve(&p.root, remote_dir)?;
        Ok(FetchSource {
            command: Self::sh_request(FETCH_SH, &[&p.marker, &src], None, FETCH_TIMEOUT_MS),
            begin_after: None,
        })
    }

    /// `fetch-ended`: the exit code of [`FETCH_SH`] as a result.
    fn fetch_ended(&self, target: &str, remote_dir: &str, ended: &CommandResult) -> Result<(), TransportError> {
        let what = format!("fetch-dir {remote_dir} from pod {target}");
        if ended.timed_out {
            return Err(TransportError::Timeout(format!("{what}: no answer within the time allowed")));
        }
        self.check_rc(&what, target, ended)
    }

    /// `delete`: remove the pod directory, only when it is strictly inside the pods dir.
    fn delete(&self, target: &str) -> Result<(), TransportError> {
        let (pods, p) = self.pod(target)?;
        if !paths::is_deletable(&pods, &p.dir) {
            return Err(TransportError::Invalid(format!(
                "refusing to delete {}: it is not inside {pods}",
                p.dir
            )));
        }
        let res = self.sh(
            &format!("delete pod {target}"),
            DELETE_SH,
            &[&pods, &p.dir],
            None,
            DELETE_TIMEOUT_MS,
        )?;
        self.check_rc(&format!("delete pod {target}"), target, &res)?;
        self.host.log(
            Level::Info,
            &format!("deleted local pod {target} ({})", p.dir),
        );
        Ok(())
    }
}

fn identity(name: &str, p: &PodPaths) -> PodIdentity {
    PodIdentity {
        transport: ID.into(),
        target: name.to_string(),
        location: p.dir.clone(),
    }
}

fn vanished(target: &str) -> TransportError {
    TransportError::Vanished(format!(
        "local pod {target} does not exist (no pod.json); provision a new one with --provision auto"
    ))
}

fn nonempty(s: &str) -> &str {
    if s.is_empty() {
        "no error output"
    } else {
        s
    }
}

#[cfg(test)]
mod tests;
