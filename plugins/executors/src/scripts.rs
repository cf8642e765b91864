//! The shell side of the sweep: the embedded `runner.sh` and `status.sh` (POSIX sh, in
//! `scripts/`), and the small command lines and generated scripts the sweep phases run.
//!
//! Each embedded script is `scripts/common.sh` (the shebang, `set -u` and the functions both
//! use: `valid_id`, `alive`) followed by its own file, joined at compile time, so the runner and
//! the status reader share one definition of a valid run id and of a live process.
//!
//! Every command here takes resolved paths (as they live on the target) and quotes every value
//! with [`shell_quote`]. The remote layout these scripts implement is described in the crate
//! docs ([`crate`]) and in the header of each script.

use wfhost_pack_sdk::shell::shell_quote;

/// The part both sweep scripts start with.
pub const COMMON_SH: &str = include_str!("../scripts/common.sh");
/// `OUT/_sweep/runner.sh`: launches the detached runner, runs the sweep, runs one run.
pub const RUNNER_SH: &str = concat!(
    include_str!("../scripts/common.sh"),
    include_str!("../scripts/runner.sh")
);
/// `OUT/_sweep/status.sh`: prints one JSON status object.
pub const STATUS_SH: &str = concat!(
    include_str!("../scripts/common.sh"),
    include_str!("../scripts/status.sh")
);

/// Exit code of the status command when there is no sweep on the target.
pub const NO_SWEEP_RC: i32 = 3;

/// One run as P60 receives it in `runs_json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RunSpec {
    /// Safe path segment, unique in the sweep.
    pub run_id: String,
    /// Fully expanded shell command.
    pub command: String,
}

/// `sh OUT/_sweep/status.sh OUT`, exiting [`NO_SWEEP_RC`] when status.sh is not installed.
pub fn status_command(out: &str) -> String {
    let status = shell_quote(&format!("{out}/_sweep/status.sh"));
    format!(
        "[ -f {status} ] || {{ echo 'no sweep here: status.sh is not installed' >&2; exit {NO_SWEEP_RC}; }}; sh {status} {}",
        shell_quote(out)
    )
}

/// Print `none`, or `sha=<manifest sha256 on the target>` followed by the status JSON.
pub fn inspect_command(out: &str) -> String {
    let sweep = format!("{out}/_sweep");
    format!(
        "if [ -f {tsv} ]; then printf 'sha=%s\\n' \"$(cat {sha} 2>/dev/null)\"; sh {status} {out}; else echo none; fi",
        tsv = shell_quote(&format!("{sweep}/runs.tsv")),
        sha = shell_quote(&format!("{sweep}/manifest.sha256")),
        status = shell_quote(&format!("{sweep}/status.sh")),
        out = shell_quote(out),
    )
}

/// Which claimed runs a runner that starts hands back to the queue first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requeue {
    /// Lost runs (SWEEP_RETRY_LOST=1).
    pub lost: bool,
    /// Finished runs, ok or failed (SWEEP_FORCE=1, with consent).
    pub finished: bool,
}

impl Requeue {
    /// The runner's mode word: `keep`, `retry-lost`, `force` or `retry-lost,force`.
    pub fn mode(self) -> &'static str {
        match (self.lost, self.finished) {
            (false, false) => "keep",
            (true, false) => "retry-lost",
            (false, true) => "force",
            (true, true) => "retry-lost,force",
        }
    }
}

/// `sh OUT/_sweep/runner.sh launch OUT REPO MAXP TOKEN MODE`: a runner that starts requeues the
/// runs `requeue` names first (see `scripts/runner.sh`).
pub fn launch_command(
    out: &str,
    repo: &str,
    max_parallel: u32,
    token: &str,
    requeue: Requeue,
) -> String {
    format!(
        "sh {} launch {} {} {} {} {}",
        shell_quote(&format!("{out}/_sweep/runner.sh")),
        shell_quote(out),
        shell_quote(repo),
        max_parallel,
        shell_quote(token),
        requeue.mode()
    )
}

/// The runner's `OUT/_sweep/options` (see `scripts/runner.sh`): the run time limit in seconds
/// (0 = none), the target's GPUs (comma-separated device names) and the GPUs each run gets
/// (0 = no slicing).
pub fn options_text(run_timeout_secs: u64, gpus: &str, gpus_per_run: u64) -> String {
    format!("run_timeout_secs={run_timeout_secs}\ngpus={gpus}\ngpus_per_run={gpus_per_run}\n")
}

/// What `runner.sh launch` answered: `runner=started|already-running pid=N [requeued=IDS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// `started` or `already-running`.
    pub runner: String,
    /// The runner's pid.
    pub pid: String,
    /// With retry-lost: the runs requeued by a runner that started (`None`: flock(1) is missing
    /// on the target, so nothing was requeued).
    pub requeued: Option<Vec<String>>,
}

impl Launched {
    /// Parse the launch's stdout (its last `runner=` line).
    pub fn parse(stdout: &str) -> Option<Launched> {
        let line = stdout
            .lines()
            .map(str::trim)
            .rfind(|l| l.starts_with("runner="))?;
        let mut words = line.split_whitespace();
        let runner = words.next()?.strip_prefix("runner=")?;
        if !matches!(runner, "started" | "already-running") {
            return None;
        }
        let pid = words.next()?.strip_prefix("pid=")?;
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let requeued = match words.next() {
            None => Some(Vec::new()),
            Some(w) => match w.strip_prefix("requeued=")? {
                "-" => Some(Vec::new()),
                "noflock" => None,
                ids => Some(ids.split(',').map(str::to_string).collect()),
            },
        };
        if words.next().is_some() {
            return None;
        }
        Some(Launched {
            runner: runner.to_string(),
            pid: pid.to_string(),
            requeued,
        })
    }
}

/// Runs staged per batch by the generated prepare script (one `mkdir` and one `mv` each).
const PREPARE_BATCH: usize = 256;

/// The generated `OUT/_sweep/prepare.sh` (run as `sh prepare.sh OUT`): writes each unclaimed
/// run's `_wf/cmd.sh` (claimed runs are never touched), then `runs.tsv`, then
/// `manifest.sha256`, each atomically, and prints `pending=N claimed=M`.
///
/// No process is started per run. A run new to the target is written into a staging directory
/// (`_sweep/stage.<pid>/<id>/_wf/cmd.sh`) and moved into `runs/` with its batch: one `mkdir -p`
/// and one `mv` per [`PREPARE_BATCH`] runs, and a run directory appears with its command
/// complete. An unclaimed run that already has its directory keeps its `cmd.sh` when the text
/// is the same (compared by the shell) and has it replaced atomically (temp file + `mv`)
/// otherwise. `runs.tsv` is written as the runs go by and moved into place after the last
/// batch, so the runner never lists a run whose command is not there yet.
///
/// With `force` (SWEEP_FORCE), a claimed run gets its command in `_wf/cmd.sh.next` instead,
/// which the runner's forced requeue puts in place of `cmd.sh`.
pub fn prepare_script(runs: &[RunSpec], manifest_sha256: &str, flow_id: &str, force: bool) -> String {
    let mut s = String::new();
    s.push_str("# Generated by wfhost P60; run as: sh prepare.sh OUT\n");
    s.push_str(&format!("# flow {}\n", flow_id.replace('\n', " ")));
    s.push_str(&format!("force={}\n", u8::from(force)));
    s.push_str(
        r#"set -u
OUT=${1:?usage: prepare.sh OUT}
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
runs=$OUT/runs
sweep=$OUT/_sweep
stage=$sweep/stage.$$
claimed=0
pending=0
k=0
mkdir -p "$runs" || exit 1
# The stage of a prepare that was killed holds nothing a run uses.
for d in "$sweep"/stage.*; do
  [ -d "$d" ] || continue
  kill -0 "${d##*.}" 2>/dev/null || rm -rf "$d"
done
exec 4> "$sweep/runs.tsv.tmp" || exit 1
# same FILE TEXT: FILE holds TEXT followed by a newline.
same() {
  [ -f "$1" ] || return 1
  sm_have=
  sm_sep=
  while IFS= read -r sm_line; do
    sm_have=$sm_have$sm_sep$sm_line
    sm_sep='
'
  done < "$1"
  [ "$sm_have" = "$2" ]
}
# inplace ID TEXT: write the run's cmd.sh atomically where its directory is.
inplace() {
  mkdir -p "$runs/$1/_wf" && printf '%s\n' "$2" > "$runs/$1/_wf/cmd.sh.tmp" &&
    mv -f "$runs/$1/_wf/cmd.sh.tmp" "$runs/$1/_wf/cmd.sh" || exit 1
}
# prep ID TEXT: list the run; write its command unless it is claimed.
prep() {
  printf '%s\truns/%s/_wf/cmd.sh\n' "$1" "$1" >&4 || exit 1
  if [ -d "$runs/$1/_wf/claim" ]; then
    claimed=$((claimed + 1))
    if [ "$force" = 1 ]; then
      printf '%s\n' "$2" > "$runs/$1/_wf/cmd.sh.next.tmp" &&
        mv -f "$runs/$1/_wf/cmd.sh.next.tmp" "$runs/$1/_wf/cmd.sh.next" || exit 1
    fi
    return 0
  fi
  pending=$((pending + 1))
  if [ -e "$runs/$1" ]; then
    same "$runs/$1/_wf/cmd.sh" "$2" || inplace "$1" "$2"
    return 0
  fi
  eval "new_$k=\$1 text_$k=\$2"
  k=$((k + 1))
  [ "$k" -lt BATCH ] || flush
}
# flush: move the staged runs into runs/ (one mkdir, one mv). A run whose directory appeared
# meanwhile is handled where it is.
flush() {
  [ "$k" -gt 0 ] || return 0
  mkdir -p "$stage" && cd "$stage" || exit 1
  i=0
  ids=
  while [ "$i" -lt "$k" ]; do
    eval "ids=\"\$ids \$new_$i/_wf\""
    i=$((i + 1))
  done
  set -f
  mkdir -p $ids || exit 1
  i=0
  ids=
  while [ "$i" -lt "$k" ]; do
    eval "id=\$new_$i"
    eval "printf '%s\n' \"\$text_$i\"" > "$id/_wf/cmd.sh" || exit 1
    ids="$ids $id"
    i=$((i + 1))
  done
  mv -f -- $ids "$runs/" 2>/dev/null
  set +f
  i=0
  while [ "$i" -lt "$k" ]; do
    eval "id=\$new_$i"
    if [ -e "$id" ]; then
      if [ -d "$runs/$id/_wf/claim" ]; then
        claimed=$((claimed + 1))
        pending=$((pending - 1))
      else
        eval "inplace \"\$id\" \"\$text_$i\""
      fi
      rm -rf "$id"
    fi
    i=$((i + 1))
  done
  cd / || exit 1
  k=0
}
"#
        .replace("BATCH", &PREPARE_BATCH.to_string())
        .as_str(),
    );
    for r in runs {
        s.push_str(&format!(
            "prep {} {}\n",
            shell_quote(&r.run_id),
            shell_quote(&r.command)
        ));
    }
    s.push_str("flush\nrm -rf \"$stage\"\n");
    s.push_str("exec 4>&- && mv -f \"$sweep/runs.tsv.tmp\" \"$sweep/runs.tsv\" || exit 1\n");
    s.push_str(&format!(
        "printf '%s\\n' {} > \"$sweep/manifest.sha256.tmp\" && mv -f \"$sweep/manifest.sha256.tmp\" \"$sweep/manifest.sha256\" || exit 1\n",
        shell_quote(manifest_sha256)
    ));
    s.push_str("echo \"pending=$pending claimed=$claimed\"\n");
    s
}

// The path is spelt out so that benches/sweep_scale.rs can include this file as it is.
#[cfg(test)]
#[path = "scripts/tests.rs"]
mod tests;
