//! The user guide Law 8 requires, rendered from `constitution/` data.
//!
//! `docs/remote-experiment-workflow.md` is the output of [`render`]; a test compares the file
//! with a fresh rendering, so the guide cannot drift from the laws, the phase table, the codes
//! or the config vocabulary. Regenerate it with `wfhost docs guide > docs/remote-experiment-workflow.md`.
//!
//! The Slurm section comes from the executor's Slurm data (`plugins/executors/slurm.toml`: its
//! `[guide]` text per phase and the keys it lists, the task states and the safe sbatch options),
//! the Lium section from the lium transport's (`plugins/transport-lium/guide.toml`: the same
//! `[guide]` table), each key's meaning, kind and default from the vocabulary; a phase or key
//! there that the constitution does not know fails the rendering.

use crate::config::{Kind, ListSeparator, PathScope, Vocabulary};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use wfhost_constitution::vocabulary::format_millis;
use wfhost_constitution::{codes, keys, Constitution, Runner};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// What a key's value must look like, for the key table: the range of a number, the legal
/// values of an enum, the scope of a path, the separator of a list.
fn kind_cell(kind: &Kind) -> String {
    match kind {
        Kind::String => "text".into(),
        Kind::Path(PathScope::Local) => "local path".into(),
        Kind::Path(PathScope::Remote) => "absolute path on the target".into(),
        Kind::Bool01 => "`0` or `1`".into(),
        Kind::Uint { min, max } => match max {
            Some(max) => format!("whole number, {} to {max}", min.unwrap_or(0)),
            None => format!("whole number, at least {}", min.unwrap_or(0)),
        },
        Kind::Decimal { min_millis, max_millis } => match max_millis {
            Some(max) => format!("number, {} to {}", format_millis(min_millis.unwrap_or(0)), format_millis(*max)),
            None => format!("number, at least {}", format_millis(min_millis.unwrap_or(0))),
        },
        Kind::Enum(values) => format!("one of {}", values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")),
        Kind::List(ListSeparator::Comma) => "list, `,`-separated".into(),
        Kind::List(ListSeparator::DoubleSemicolon) => "list, `;;`-separated".into(),
        Kind::List(ListSeparator::Whitespace) => "list, whitespace-separated".into(),
    }
}

/// [`kind_cell`], plus what a list's items must be and how many it may have.
fn key_kind_cell(k: &wfhost_constitution::KeySpec) -> String {
    match &k.items {
        Some(items) => format!("{} ({}, at most {})", kind_cell(&k.kind), items.rule.describe(), items.max),
        None => kind_cell(&k.kind),
    }
}

/// A phase table `skip_flag` (`sweep=skip and no REPO_URL`) as the flag and its condition.
fn skip_cell(flag: &str) -> String {
    let (flag, condition) = flag.split_once(" and ").map_or((flag, None), |(f, c)| (f, Some(c)));
    let flag = format!("`--{}`", flag.replacen('=', " ", 1));
    match condition {
        Some(c) => format!("{flag} and {c}"),
        None => flag,
    }
}

fn law_text(c: &Constitution, id: &str) -> String {
    c.law(id).map(|l| format!("> **{} — {}.** {}\n", l.id, l.title, cell(&l.text))).unwrap_or_default()
}

/// The executor's Slurm data, as the guide reads it.
const SLURM_TOML: &str = include_str!("../../../plugins/executors/slurm.toml");

#[derive(Deserialize)]
struct SlurmData {
    states: BTreeMap<String, String>,
    state_meaning: BTreeMap<String, String>,
    sbatch: SlurmSbatch,
    guide: SectionGuide,
}

#[derive(Deserialize)]
struct SlurmSbatch {
    with_value: Vec<String>,
    flags: Vec<String>,
}

/// A `[guide]` table: a section's title and introduction, what each phase does there, and the
/// keys it lists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionGuide {
    title: String,
    intro: String,
    keys: Vec<String>,
    phases: BTreeMap<String, String>,
}

/// A section from its `[guide]` table (read from `origin`): title, introduction, the phase
/// table (`column` heads its third column, "On a Slurm cluster") and the key table ("the keys
/// of a flow `keys_of`", "on a Slurm cluster").
fn guide_section(w: &mut String, c: &Constitution, v: &Vocabulary, g: &SectionGuide, origin: &str, column: &str, keys_of: &str) -> Result<(), String> {
    if let Some(p) = g.phases.keys().find(|id| !c.phases.iter().any(|p| &p.id == *id)) {
        return Err(format!("{origin}: [guide.phases] names {p}, which is not a phase of constitution/phases.toml"));
    }
    let _ = writeln!(w, "\n## {}\n", g.title);
    let _ = writeln!(w, "{}\n", g.intro);
    let _ = writeln!(w, "| Phase | Name | {column} |\n| --- | --- | --- |");
    for p in &c.phases {
        if let Some(text) = g.phases.get(p.id.as_ref() as &str) {
            let _ = writeln!(w, "| {} | {} | {} |", p.id, p.name, cell(text));
        }
    }
    let _ = writeln!(w, "\nThe keys of a flow {keys_of} (each is also in the table of every key above):\n");
    let _ = writeln!(w, "| Key | Meaning | Value | Default |\n| --- | --- | --- | --- |");
    for name in &g.keys {
        let k = v.key(name).ok_or_else(|| format!("{origin}: [guide] keys names {name}, which is not a key of constitution/config.toml"))?;
        let default = k.default.as_deref().map(|d| format!("`{}`", cell(d))).unwrap_or_else(|| "unset".into());
        let _ = writeln!(w, "| `{}` | {} | {} | {default} |", k.name, cell(&k.meaning), cell(&kind_cell(&k.kind)));
    }
    Ok(())
}

/// The lium transport's guide data.
const LIUM_TOML: &str = include_str!("../../../plugins/transport-lium/guide.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiumData {
    guide: SectionGuide,
}

/// The Lium section: what each phase does with a Lium pod, and the keys.
fn lium_section(w: &mut String, c: &Constitution, v: &Vocabulary, data: &str) -> Result<(), String> {
    let d: LiumData = toml::from_str(data).map_err(|e| format!("plugins/transport-lium/guide.toml does not parse: {e}"))?;
    guide_section(w, c, v, &d.guide, "plugins/transport-lium/guide.toml", "With a Lium pod", "on Lium")
}

/// The Slurm section: what each phase does on a cluster, the keys, the task states and the
/// sbatch options `SLURM_EXTRA_ARGS` may carry.
fn slurm_section(w: &mut String, c: &Constitution, v: &Vocabulary, data: &str) -> Result<(), String> {
    let d: SlurmData = toml::from_str(data).map_err(|e| format!("plugins/executors/slurm.toml does not parse: {e}"))?;
    guide_section(w, c, v, &d.guide, "plugins/executors/slurm.toml", "On a Slurm cluster", "on a Slurm cluster")?;
    let _ = writeln!(w, "\nWhat the state of a run's task (`squeue`'s `%T`) means for the run; a state not listed counts as lost:\n");
    let _ = writeln!(w, "| Task states | For the run |\n| --- | --- |");
    for (class, meaning) in &d.state_meaning {
        let states: Vec<String> = d.states.iter().filter(|(_, c)| *c == class).map(|(s, _)| format!("`{s}`")).collect();
        let _ = writeln!(w, "| {} | {} |", states.join(", "), cell(meaning));
    }
    let opts: Vec<String> = d.sbatch.with_value.iter().map(|o| format!("`{o}=…`")).chain(d.sbatch.flags.iter().map(|f| format!("`{f}`"))).collect();
    let _ = writeln!(w, "\nThe sbatch options `SLURM_EXTRA_ARGS` may carry (anything else fails P60 with code {} before a job is submitted): {}.", codes::SWEEP_LAUNCH_FAILED, opts.join(", "));
    Ok(())
}

/// The limits wfhost holds inputs to: the size of every file it reads on the user's word, and
/// the largest value of every numeric key, each with its default.
fn limits(w: &mut String, v: &Vocabulary) {
    use wfhost_evidence::input::InputKind;
    let _ = writeln!(w, "\n## Limits\n");
    let _ = writeln!(w, "Files wfhost reads because the config or a flag names them must be regular files (a FIFO, a device, a directory or a socket is refused at once, naming the file) no larger than:\n");
    let _ = writeln!(w, "| File | Largest size |\n| --- | --- |");
    for kind in InputKind::ALL {
        let cap = kind.cap();
        let shown = if cap % (1024 * 1024) == 0 { format!("{} MiB", cap / (1024 * 1024)) } else { format!("{} KiB", cap / 1024) };
        let _ = writeln!(w, "| {} | {shown} |", kind.name());
    }
    let _ = writeln!(w, "\nNumeric keys, their largest value and their default (a larger value fails P00 with code {}):\n", codes::CONFIG_INVALID);
    let _ = writeln!(w, "| Key | Largest value | Default |\n| --- | --- | --- |");
    for k in &v.keys {
        let max = match &k.kind {
            Kind::Uint { max: Some(max), .. } => max.to_string(),
            Kind::Decimal { max_millis: Some(max), .. } => format!("{}", *max as f64 / 1000.0),
            _ => continue,
        };
        let _ = writeln!(w, "| `{}` | {max} | {} |", k.name, k.default.as_deref().map(|d| format!("`{d}`")).unwrap_or_else(|| "unset".into()));
    }
    for p in &v.patterns {
        if let Kind::Uint { max: Some(max), .. } = &p.kind {
            let _ = writeln!(w, "| `{}` | {max} | the phase's own timeout |", p.name);
        }
    }
}

/// Render the guide.
pub fn render() -> Result<String, String> {
    let c = Constitution::get().map_err(|e| e.to_string())?;
    let v = Vocabulary::get().map_err(|e| e.to_string())?;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Remote experiment workflow\n");
    let _ = writeln!(w, "<!-- Generated by `wfhost docs guide` from constitution/*.toml. Do not edit by hand: a test fails when this file and the constitution disagree. -->\n");
    let _ = writeln!(w, "`wfhost flow` runs the whole lifecycle of a sweep from one command. Every phase below runs in this order; after each one a deterministic validator and every auditor must pass before the next starts (the *court*). This guide is the one Law L8 requires; constitution version {}.\n", c.version);
    let _ = writeln!(w, "```\nwfhost flow --provision auto|skip --sweep start|resume|skip --wait true|false \\\n            --fetch none|run:<id>|all --teardown keep|delete [--yes]\n```\n");
    let _ = writeln!(w, "Defaults: `--provision auto --sweep start --wait false --fetch none --teardown keep`. Every option also works as `--key=value`.\n");

    let _ = writeln!(w, "## Lifecycle order\n");
    let _ = writeln!(w, "| Phase | Name | Runs in | What it does | Skipped when | Failure codes | Laws |");
    let _ = writeln!(w, "| --- | --- | --- | --- | --- | --- | --- |");
    for p in &c.phases {
        let runner = match p.runner {
            Runner::Host => "host",
            Runner::Plugin => "executor component",
        };
        let family = c.families.get(&p.family).map(|f| f.name.as_str()).unwrap_or("");
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {}xx ({}) | {} |",
            p.id,
            p.name,
            runner,
            cell(&p.summary),
            match (p.flow, p.skip_flag.as_deref()) {
                (false, _) => "not part of `flow`: run by its own commands only".to_string(),
                (true, Some(flag)) => skip_cell(flag),
                (true, None) => "never".to_string(),
            },
            p.family,
            family,
            p.laws.join(", ")
        );
    }
    let _ = writeln!(w, "\nEach phase's contract — the checks before it (*pre*) and after it (*post*):\n");
    let _ = writeln!(w, "| Phase | Pre | Post | FSM on success | FSM on failure |");
    let _ = writeln!(w, "| --- | --- | --- | --- | --- |");
    for p in &c.phases {
        let list = |v: &[String]| if v.is_empty() { "—".to_string() } else { v.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ") };
        let _ = writeln!(w, "| {} | {} | {} | {} | {} |", p.id, list(&p.pre), list(&p.post), list(&p.fsm_ok), p.fsm_fail.as_deref().unwrap_or("—"));
    }
    let _ = writeln!(w, "\n| Check | What it asserts | Law it enforces |\n| --- | --- | --- |");
    for (name, check) in &c.checks {
        let _ = writeln!(w, "| `{name}` | {} | {} |", cell(&check.text), check.law);
    }

    let _ = writeln!(w, "\n## Required variables\n");
    let _ = writeln!(w, "The one canonical config is `infra_scripts/workflow.env`, relative to the directory `wfhost` runs in (`-C DIR` changes it): `KEY=VALUE` lines, `#` comments, optional quotes, never executed by a shell.\n");
    let _ = writeln!(w, "{}", law_text(c, "L1"));
    let required: Vec<_> = v.keys.iter().filter(|k| !k.required_for.is_empty()).collect();
    if !required.is_empty() {
        let _ = writeln!(w, "Needed by the phases that use them (a missing one fails P00 with code {}, before anything is created):\n", codes::REQUIRED_VAR_MISSING);
        for k in required {
            let phases: Vec<&str> = k.required_for.iter().map(|p| p.as_str()).collect();
            let _ = writeln!(w, "- `{}` — needed by {}: {}", k.name, phases.join(", "), k.meaning);
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "Every key (a value outside its kind or range fails P00 with code {}, naming the key and what it accepts):\n", codes::CONFIG_INVALID);
    let _ = writeln!(w, "| Key | Meaning | Value | Default | Secret |");
    let _ = writeln!(w, "| --- | --- | --- | --- | --- |");
    for k in &v.keys {
        let _ = writeln!(
            w,
            "| `{}` | {} | {} | {} | {} |",
            k.name,
            cell(&k.meaning),
            cell(&key_kind_cell(k)),
            k.default.as_deref().map(|d| format!("`{}`", cell(d))).unwrap_or_else(|| "unset".into()),
            if k.secret { "yes" } else { "" }
        );
    }
    for p in &v.patterns {
        let _ = writeln!(w, "| `{}` | {} | {} | unset | {} |", p.name, cell(&p.meaning), cell(&kind_cell(&p.kind)), if p.secret { "yes" } else { "" });
    }
    let _ = writeln!(w, "\nUnknown keys are kept in evidence and warned about, never used.");

    limits(w, v);

    let _ = writeln!(w, "\n## Target binding\n");
    let _ = writeln!(w, "{}", law_text(c, "L3"));
    let _ = writeln!(w, "The header line `target_source=` says which rule bound the target. With autobind it reads `resolved_target=pending` until P20 binds the pod P10 created; then both lines are printed again. The primitives (`checkout`, `sweep-status`, ...) never create a pod: they act on `--target` or `LIUM_TARGET`.\n");
    let _ = writeln!(w, "P20 also takes the target's lock (a file under `.wfhost/locks/` in the working directory): while one flow works on a target, another started from the same directory stops in P20 with {}, naming the first (its flow id, pid and evidence directory), before it touches the target. The lock ends with the flow's process, however it ends; flows started from another directory or machine are not seen.\n", codes::TARGET_BUSY);

    let _ = writeln!(w, "## Non-interactive policy\n");
    let _ = writeln!(w, "{}", law_text(c, "L4"));
    let _ = writeln!(w, "Every process wfhost starts has its standard input closed, a hard timeout, and non-interactive flags (ssh `BatchMode`, `GIT_TERMINAL_PROMPT=0`).\n");

    let _ = writeln!(w, "## Teardown semantics\n");
    let _ = writeln!(w, "{}", law_text(c, "L7"));
    let _ = writeln!(w, "A flow that halts never runs P90: the pod keeps running, and the last line on stderr and `delete_command` in `flow.summary.json` give the exact command that deletes it.\n");

    let _ = writeln!(w, "## Runs that outlive wfhost\n");
    let _ = writeln!(w, "P60 hands the runs to a runner on the target, detached from wfhost and from the connection (own session, stdin closed): killing wfhost or losing the connection does not stop them. Each run works in `runs/<run_id>/`; its `_wf/` holds the command (`cmd.sh`), `stdout.log`, `stderr.log`, `pid`, `started_at`, `ended_at` and `exit_code`, each written atomically, `exit_code` last. A run is claimed once (`_wf/claim`, an atomic `mkdir`), so it never starts twice in one sweep; at most `SWEEP_MAX_PARALLEL` run at once, counting the runs an earlier runner left running; one runner works a sweep at a time (`flock` on `_sweep/runner.lock` where the target has it). P70 reads the state of every run with one command.\n");
    let _ = writeln!(w, "Ctrl-C (SIGINT), SIGTERM or SIGHUP stop a flow cleanly: the processes wfhost started for it are stopped, the phase cut short is not judged, `flow.halted` records the signal, and the last line on stderr names the pod, the command that deletes it and the command that resumes the flow; the exit status is 130, 143 or 129. A second signal exits at once. The runner on the target goes on.\n");
    let _ = writeln!(w, "`wfhost flow --provision skip --sweep resume` continues a sweep: finished and running runs are left alone, never-started runs start. A run that ended without an exit code and has no process left (killed, or the pod restarted) is *lost*: it counts as failed ({}) and stays so unless `SWEEP_RETRY_LOST=1`, with which the next runner that starts runs it again and keeps the earlier attempt's files in `_wf/attempts/<n>/`.\n", codes::RUNS_FAILED);

    let _ = writeln!(w, "## Tracked tasks\n");
    let task_key = keys::WF_TASK_TIMEOUT_SECS;
    let _ = writeln!(w, "`wfhost task run --id ID [--timeout-secs N] -- CMD` starts an ad-hoc command on the bound target (`LIUM_TARGET` or `--target`), detached like a run: it works in `OUT/_tasks/<id>/` (OUT is `OPS_REMOTE_OUTPUTS_DIR`), whose `_wf/` holds its `cmd.sh`, `stdout.log`, `stderr.log`, `started_at`, `ended_at` and `exit_code`. It runs with `sh` in the checkout when there is one, else in its own directory, with `WF_RUN_ID` (the task id) and `WF_RUN_DIR` (its directory) set and stdin closed; the runs' secrets are not given to it. Past its time limit (`--timeout-secs`, default `{name}`, at most {max} s) its process group is stopped (TERM, then KILL 5 s later) and it is reported `timed_out`. A task id is one path segment (letters, digits, `.`, `_`, `-`; a bad one halts P00 with {flags}); an id whose task still runs is refused with {refused}, and an ended task's files are kept in `_wf/attempts/<n>/` when its id is used again.\n", name = task_key.name(), max = task_key.spec().max, flags = codes::FLAGS_ILLEGAL.get(), refused = codes::TASK_REFUSED.get());
    let _ = writeln!(w, "`wfhost task status --id ID [--json]` tells a task's state (`running`, `exited` with its code, `timed_out`, or `lost`: no exit code and nothing of it alive) and the last lines of its logs; `wfhost task list [--json]` (or `task status` without `--id`) every task's. `wfhost task wait --id ID [--timeout-secs N]` looks every `WF_MONITOR_POLL_SECS`, each look one bounded call, and exits 0 only when the task exited with code 0 ({failed} otherwise; {timeout} when the wait's limit came first; three unreadable looks in a row end it): the task goes on either way. Each task command is a flow of its own (P00, P20, P75, P99) with its evidence and court, like every primitive; P75 never moves the remote FSM or touches the sweep.\n", failed = codes::TASK_FAILED.get(), timeout = codes::TASK_WAIT_TIMEOUT.get());

    slurm_section(w, c, v, SLURM_TOML)?;
    lium_section(w, c, v, LIUM_TOML)?;

    let _ = writeln!(w, "\n## The court\n");
    let _ = writeln!(w, "{}", law_text(c, "L9"));
    let _ = writeln!(w, "After each phase two lines go to stdout:\n\n```\nPHASE=<Pxx> STATUS=<ok|skip|fail> CODE=<int> ARTIFACT=<path>\nPHASE=<Pxx> COURT=<pass|fail> DET=<pass|fail> CONST=<pass|fail|unverified> VERDICT=<path>\n```\n");
    let _ = writeln!(w, "A flow that halts for another reason than a verdict ends stdout with one more line, `FLOW=halted CAUSE=internal EXIT=70` when evidence could not be written (a full disk, a directory made read-only), `FLOW=halted CAUSE=interrupted EXIT=130` (143 for SIGTERM) when a signal stopped it. Control characters in any value are written escaped (`\\n`, `\\x1b`), so every line is one line.\n");
    let _ = writeln!(w, "An auditor is a WebAssembly component with no capability that could change anything (no files, no environment, no network, no processes), run on a fuel budget (`WF_AUDITOR_FUEL`), a memory cap (`WF_AUDITOR_MEMORY_MB`) and a wall-clock limit (`WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS`). Running out of any of them, trapping, or returning a malformed verdict is `unverified`, which fails the phase. `wfhost court audit --phase Pxx --evidence phase/phase.Pxx.pack.json` re-runs an auditor by hand, under the limits of the config in the directory it runs in (`-C`), as the flow did.\n");

    let _ = writeln!(w, "## Evidence files\n");
    let _ = writeln!(w, "{}", law_text(c, "L6"));
    let evidence = keys::WF_FLOW_EVIDENCE_DIR;
    let _ = writeln!(w, "Locally, under `{evidence}` (default `{}`)`/<flow_id>/`:\n", evidence.default().unwrap_or_default());
    let _ = writeln!(w, "| File | What it holds |\n| --- | --- |");
    let _ = writeln!(w, "| `events.jsonl` | The append-only, hash-chained event log: every decision, fsync'd before it takes effect. The write truth. |");
    let _ = writeln!(w, "| `phase/phase.<Pxx>.json` | The phase outcome: status, code, message, facts, artifacts, every gateway call. |");
    let _ = writeln!(w, "| `phase/phase.<Pxx>.deterministic.json` | Each pre and post check with its finding. |");
    let _ = writeln!(w, "| `phase/phase.<Pxx>.pack.json` | The evidence pack the auditors judged. |");
    let _ = writeln!(w, "| `phase/phase.<Pxx>.constitutional.json` | Each auditor's verdict, fuel used and time. |");
    let _ = writeln!(w, "| `phase/phase.<Pxx>.verdict.json` | The court's decision: `halt_reason`, `violated_laws`, `next_command`. |");
    let _ = writeln!(w, "| `fsm.json` | The local mirror of the remote FSM state. |");
    for p in &c.phases {
        for a in &p.artifacts {
            let _ = writeln!(w, "| `{a}` | Written by {} {}: a projection of `events.jsonl`, rebuilt from it byte for byte. |", p.id, p.name);
        }
    }
    let _ = writeln!(w, "\nOn the target, under `OPS_REMOTE_OUTPUTS_DIR`: `_control/workflow_state.json` (the FSM: state, previous_state, reason, updated_at, host), `_manifests/sweep-latest.csv`, `sweep-<ts>.csv`, `workflow-<ts>.env`, `flow-<flow_id>.json`, and one directory per run under `runs/<run_id>/` (the run's outputs; `_wf/` holds its command, logs, times and exit code). Fetched runs land in `artifacts/pod_logs/<target>/<run_id>/`.\n");
    let _ = writeln!(w, "The remote FSM:\n\n| State | May move to |\n| --- | --- |");
    for st in &c.fsm.states {
        let _ = writeln!(w, "| {}{} | {} |", st.name, if st.failure { " (failure)" } else { "" }, st.next.join(", "));
    }

    let _ = writeln!(w, "\n## Failure codes and exit status\n");
    let _ = writeln!(w, "| Family | Meaning | Exit status |\n| --- | --- | --- |");
    for (d, f) in &c.families {
        let _ = writeln!(w, "| {d}xx | {} | {} |", f.name, f.exit);
    }
    let _ = writeln!(w, "\nOther exit statuses: 0 success, 64 usage error, 70 internal error.\n");
    let _ = writeln!(w, "| Code | Name | Meaning | Next step |\n| --- | --- | --- | --- |");
    for code in &c.codes {
        let _ = writeln!(w, "| {} | {} | {} | {} |", code.code, code.name, cell(&code.text), cell(&code.next));
    }

    let _ = writeln!(w, "\n## The laws\n");
    for l in &c.laws {
        let _ = writeln!(w, "### {} — {}\n\n{}\n", l.id, l.title, l.text.replace('\n', " "));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_guide_matches_the_constitution() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/remote-experiment-workflow.md");
        let fresh = super::render().expect("guide renders");
        if std::env::var_os("WFHOST_BLESS").is_some() {
            std::fs::write(&path, &fresh).expect("write guide");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/remote-experiment-workflow.md is out of date with constitution/: run \
             `WFHOST_BLESS=1 cargo test -p wfhost-config guide` (or `wfhost docs guide > docs/remote-experiment-workflow.md`)"
        );
        for p in &wfhost_constitution::Constitution::get().unwrap().phases {
            assert!(fresh.contains(&format!("| {} | {} |", p.id, p.name)));
        }
        assert!(fresh.contains("| P60 | SWEEP | Submits every run"), "the Slurm section says what P60 does on a cluster");
        assert!(fresh.contains("| `CANCELLED`, `DEADLINE`, `FAILED`, `OUT_OF_MEMORY`, `TIMEOUT` |"), "the task states come from slurm.toml");
        assert!(fresh.contains("## Lium pods") && fresh.contains("| P10 | PROVISION | Reads the balance"), "the Lium section says what P10 does");
        let ttl = wfhost_constitution::keys::LIUM_TTL;
        assert!(fresh.contains(&format!("| `{}` |", ttl.name())) && fresh.contains(&format!("`{}`", ttl.default().unwrap_or_default())), "the Lium keys come from config.toml");
    }

    #[test]
    fn a_lium_section_naming_an_unknown_phase_or_key_is_refused() {
        let c = wfhost_constitution::Constitution::get().unwrap();
        let v = crate::config::Vocabulary::get().unwrap();
        let mut out = String::new();
        super::lium_section(&mut out, c, v, super::LIUM_TOML).expect("the shipped data renders");
        assert!(out.contains("| Phase | Name | With a Lium pod |"), "{out}");
        for (from, to, why) in [("P90 = ", "P95 = ", "names P95"), ("\"LIUM_TTL\",", "\"LIUM_TTLS\",", "names LIUM_TTLS")] {
            let text = super::LIUM_TOML.replacen(from, to, 1);
            let e = super::lium_section(&mut String::new(), c, v, &text).unwrap_err();
            assert!(e.contains("plugins/transport-lium/guide.toml") && e.contains(why), "{e}");
        }
    }

    #[test]
    fn a_slurm_section_naming_an_unknown_phase_or_key_is_refused() {
        let c = wfhost_constitution::Constitution::get().unwrap();
        let v = crate::config::Vocabulary::get().unwrap();
        let with = |guide: &str| {
            let text = super::SLURM_TOML.split("\n[guide]").next().unwrap().to_string() + guide;
            super::slurm_section(&mut String::new(), c, v, &text)
        };
        let ok = with("\n[guide]\ntitle = \"t\"\nintro = \"i\"\nkeys = [\"SLURM_TIME\"]\n[guide.phases]\nP60 = \"x\"\n");
        assert_eq!(ok, Ok(()));
        let e = with("\n[guide]\ntitle = \"t\"\nintro = \"i\"\nkeys = []\n[guide.phases]\nP65 = \"x\"\n").unwrap_err();
        assert!(e.contains("P65") && e.contains("phases.toml"), "{e}");
        let e = with("\n[guide]\ntitle = \"t\"\nintro = \"i\"\nkeys = [\"SLURM_NOPE\"]\n[guide.phases]\n").unwrap_err();
        assert!(e.contains("SLURM_NOPE") && e.contains("config.toml"), "{e}");
    }
}
