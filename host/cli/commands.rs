//! Subcommands: clap definitions and their thin `exec` bodies.

use crate::error::{CliError, ErrorKind};
use crate::Exit;
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use wfhost_evidence::dsse;
use wfhost_audit as audit_trail;
use wfhost_config::flags::{self, Fetch, Flags};
use wfhost_config::plan::Plan;
use wfhost_flow::engine::{run_flow, Confirm, FlowRequest};
use wfhost_flow::ops;
use wfhost_flow::output::{printable, Output};

const ABOUT: &str = "Run GPU experiment sweeps end to end, every phase judged by a fail-closed court.";

const LONG_ABOUT: &str = "\
Run GPU experiment sweeps end to end, every phase judged by a fail-closed court.

`wfhost flow` runs the whole lifecycle from one command: precheck, provision, bind the target,
wait until ready, bootstrap, check out, sweep, monitor, fetch, teardown, summary. After every
phase a deterministic validator AND the constitutional auditors must pass before the next phase
starts; every decision is written as evidence under artifacts/pod_logs/_flows/<flow_id>/.

Configuration is one file, infra_scripts/workflow.env, relative to the directory wfhost runs in
(see -C). Nothing ever waits on standard input unless a person is at a terminal.";

/// The top-level help's closing text: the primitives, examples, and every exit status.
fn after_help() -> String {
    format!(
        "\
Commands marked [legacy primitive] run one step through the same engine, court and evidence as
`flow`; they exist for diagnosis and recovery. `flow` is the canonical path (Law L2).

Examples:
  wfhost -C examples/quickstart flow --yes --wait true --fetch all --teardown delete
  wfhost flow --provision skip --sweep resume --wait true
  wfhost doctor

{}",
        crate::error::exit_status_help()
    )
}

const FLOW_AFTER_HELP: &str = "\
Runs detach from wfhost: if wfhost or the connection dies, nothing is lost and no run starts
twice. Common invocations (with LIUM_TARGET set in the config, e.g. an ssh host):

  Start a sweep and wait for it:     wfhost flow --provision skip --wait true --fetch all
  Look in on a sweep (one snapshot): wfhost flow --provision skip --sweep skip
  Continue after a crash or Ctrl-C:  wfhost flow --provision skip --sweep resume --wait true
  Run lost runs again (killed, or the pod restarted): set SWEEP_RETRY_LOST=1, then resume
  Fetch one run:                     wfhost flow --provision skip --sweep skip --fetch run:<id>
  Create a pod, run, clean up:       wfhost flow --yes --wait true --fetch all --teardown delete

Each halt prints its code and the command to run next; `wfhost explain <flow_dir>` tells the
whole story of a run. Config keys: docs/remote-experiment-workflow.md.";

/// wfhost command line.
#[derive(Parser, Debug)]
#[command(name = "wfhost", version, about = ABOUT, long_about = LONG_ABOUT, after_help = after_help())]
pub struct Cli {
    /// Run as if started in DIR: the config and evidence paths are relative to it.
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole lifecycle (the canonical way to run a sweep).
    #[command(after_help = FLOW_AFTER_HELP)]
    Flow(FlowArgs),
    /// Check config, toolchain, plugins and the target before a run.
    Doctor {
        /// Print the checks as one JSON document on stdout (docs/schemas/cli-doctor.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Run the court's auditors by hand.
    #[command(subcommand)]
    Court(CourtCommand),
    /// Print generated documentation.
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Write, sign, check, install and remove packs (third-party transports, executors, auditors).
    #[command(subcommand)]
    Pack(crate::pack::PackCommand),
    /// Print an example sweep manifest (CSV) and a matching SWEEP_RUN_TEMPLATE.
    SweepCsvTemplate,
    /// Re-check a flow's evidence from its files alone.
    ///
    /// Checks the event log's hash chain, every evidence file against its published schema
    /// (docs/schemas) and against the records that carry it, the phase order and the court's
    /// rules, capabilities and consent, and that flow.summary.json is the log's projection. A
    /// flow signed with WF_SIGNING_KEY also has every signature checked: each verdict's and the
    /// flow's envelope, against the key in the log's `signing` header. The first problem is
    /// named with its file, line and member. Exit status 0 when everything holds, 1 at the
    /// first problem (see docs/evidence.md).
    Verify {
        /// The flow's evidence directory (artifacts/pod_logs/_flows/<flow_id>).
        flow_dir: PathBuf,
        /// Print the report (or the failure) as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// The public key the flow must be signed by (SPKI PEM: the .pub file `wfhost keygen`
        /// wrote, or `openssl pkey -pubout`). Without it a signed flow is checked against the
        /// signing.pub in its own directory, and the report warns that the key is not pinned;
        /// with it an unsigned flow, or one signed by another key, fails.
        #[arg(long, value_name = "PUBLIC_KEY_PEM")]
        key: Option<PathBuf>,
    },
    /// Create an ed25519 key pair for signing flow evidence.
    ///
    /// Writes the private key (PKCS#8 PEM, mode 0600) at PATH, or at PATH/wfhost-signing.pem
    /// when PATH is a directory, and its public key (SPKI PEM) next to it as <that path>.pub.
    /// A missing parent directory is created (mode 0700). Never overwrites a file. Set WF_SIGNING_KEY=<private key> in infra_scripts/workflow.env
    /// to sign every verdict and the finished flow; check a flow with
    /// `wfhost verify <flow_dir> --key <private key>.pub`. A key from
    /// `openssl genpkey -algorithm ed25519` works the same.
    Keygen {
        /// Where to write the private key (a file that does not exist yet, or a directory).
        path: PathBuf,
    },
    /// Rebuild flow.summary.json, the phase files and fsm.json from events.jsonl; compare.
    ///
    /// Reports every byte difference (offset and context); exit 0 when all are identical, 1
    /// when one differs or is missing. Nothing is written unless --write is given.
    Replay {
        /// The flow's evidence directory.
        flow_dir: PathBuf,
        /// Replace the files that differ or are missing with the rebuilt bytes.
        #[arg(long)]
        write: bool,
        /// Print the report as one JSON document on stdout (docs/schemas/cli-replay.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Tell a flow in plain words: command, config, target, phases, halt, side effects, pod.
    Explain {
        /// The flow's evidence directory.
        flow_dir: PathBuf,
        /// Print the story as one JSON document on stdout (docs/schemas/cli-explain.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// List the flows of this workdir, newest first: result, target, pod, what to run next.
    ///
    /// Reads every flow directory under the evidence root (WF_FLOW_EVIDENCE_DIR, default
    /// artifacts/pod_logs/_flows): id, command, when it started and how long it took, whether it
    /// passed, halted (where, with which code) or did not finish, the target and what the
    /// evidence says of the pod, and for each flow that did not pass the command to run next. A
    /// directory that cannot be read as a flow is listed as unreadable with the reason.
    Status {
        /// Print the listing as one JSON document on stdout (docs/schemas/cli-status.schema.json).
        #[arg(long)]
        json: bool,
        /// Also ask the transport about every target the evidence leaves possibly running (the
        /// check `doctor` makes of LIUM_TARGET).
        #[arg(long)]
        check: bool,
    },
    /// Show a run's output on the target (runs/<id>/_wf/stdout.log), through the transport.
    ///
    /// With --follow, keeps reading (every WF_MONITOR_POLL_SECS) until the run has ended and
    /// everything is shown, or Ctrl-C; each read is one bounded call, and three failed reads in a
    /// row end it with the target family's exit status. Exit status 0 otherwise.
    Logs {
        /// The run_id (a row of the sweep manifest).
        run_id: String,
        /// Keep reading until the run ends.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Show the run's stderr.log instead of stdout.log.
        #[arg(long)]
        stderr: bool,
        /// Start with the last N lines only.
        #[arg(long, short = 'n', value_name = "N")]
        lines: Option<u64>,
        /// The target to read from (overrides LIUM_TARGET).
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
    },
    /// Write one self-contained HTML page about a flow: phases and verdicts, runs, side effects.
    ///
    /// The page holds everything inline (styles, script, charts) and loads nothing from the
    /// network. It shows a timeline of the phases with their court verdicts, the sweep's runs as
    /// a sortable table and a chart (state, duration, exit code and the numbers each fetched run
    /// wrote to its summary.json), the side effects with their consents and receipts, the pod's
    /// fate, and whether the evidence verifies (and who signed it); a flow whose evidence does
    /// not verify says so at the top.
    Report {
        /// The flow's evidence directory.
        flow_dir: PathBuf,
        /// Where to write the page (default: report-<flow_id>.html in the current directory; the
        /// evidence directory is never written to).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// Install for bash: wfhost completions bash > ~/.local/share/bash-completion/completions/wfhost
    /// zsh: wfhost completions zsh > "${fpath[1]}/_wfhost"; fish: wfhost completions fish >
    /// ~/.config/fish/completions/wfhost.fish
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or write one page per command into a directory.
    ///
    /// Install: wfhost man --dir ~/.local/share/man/man1 (then `man wfhost`, `man wfhost-flow`).
    Man {
        /// Write wfhost.1 and wfhost-<command>.1 into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },

    /// Run an ad-hoc command on the target as a tracked task (detached), and follow it (P75).
    ///
    /// A task lives in OUT/_tasks/<id>/ on the target (OUT: OPS_REMOTE_OUTPUTS_DIR): its
    /// command, stdout.log, stderr.log and exit_code. It survives wfhost exiting and the
    /// connection dropping; past its time limit its process group is stopped (TERM, KILL 5 s
    /// later) and it is reported timed_out. Each task command is a flow of its own (P00, P20,
    /// P75, P99) with its evidence and court; the remote FSM and the sweep are not touched.
    #[command(subcommand)]
    Task(TaskCommand),

    /// [legacy primitive] Create a pod and wait until it is ready (P10-P30).
    PodUp(PrimitiveArgs),
    /// [legacy primitive] Check that the target is ready (P30).
    PodStatus(PrimitiveArgs),
    /// [legacy primitive] Bootstrap the target (P40).
    Bootstrap(PrimitiveArgs),
    /// [legacy primitive] Check out REPO_URL at REPO_REF on the target (P50).
    Checkout(PrimitiveArgs),
    /// [legacy primitive] Start the sweep (P60).
    SweepStart(PrimitiveArgs),
    /// [legacy primitive] Resume the sweep: start runs that never started (P60).
    SweepResume(PrimitiveArgs),
    /// [legacy primitive] One monitor snapshot of the sweep (P70).
    SweepStatus(ReadArgs),
    /// [legacy primitive] Wait for the sweep to finish, showing progress (P70).
    SweepWatch(PrimitiveArgs),
    /// [legacy primitive] Copy one run's outputs back (P80).
    FetchRun {
        /// The run_id to fetch.
        run_id: String,
        #[command(flatten)]
        common: PrimitiveArgs,
    },
    /// [legacy primitive] Copy every run's outputs back (P80).
    FetchAll(PrimitiveArgs),
    /// [legacy primitive] Delete the pod (P90). Needs --yes without a terminal.
    PodDelete(PrimitiveArgs),
    /// [legacy primitive] Print the remote FSM state file of the target.
    FsmStatus(ReadArgs),
    /// [legacy primitive] Reset the remote FSM to INIT (the pod is not touched otherwise).
    FsmReset(PrimitiveArgs),
}

/// `wfhost flow` flags. Each also works as `--key=value`.
#[derive(Args, Debug)]
pub struct FlowArgs {
    /// Create a pod in P10 (auto; skipped when LIUM_TARGET is set) or never (skip).
    #[arg(long, value_name = "auto|skip", default_value = "auto")]
    pub provision: String,
    /// Start the manifest's runs, resume a sweep already on the target, or skip.
    #[arg(long, value_name = "start|resume|skip", default_value = "start")]
    pub sweep: String,
    /// Wait for the sweep to finish (true) or take one snapshot (false).
    #[arg(long, value_name = "true|false", default_value = "false")]
    pub wait: String,
    /// Copy run outputs back: none, one run (run:<id>) or all.
    #[arg(long, value_name = "none|run:<id>|all", default_value = "none")]
    pub fetch: String,
    /// Keep the pod (default) or delete it at the end of a passing flow.
    #[arg(long, value_name = "keep|delete", default_value = "keep")]
    pub teardown: String,
    /// Consent to create a pod without a terminal (same as LIUM_YES=1).
    #[arg(long)]
    pub yes: bool,
}

/// Options every primitive takes.
#[derive(Args, Debug)]
pub struct PrimitiveArgs {
    /// The target to act on (overrides LIUM_TARGET; required when the config has none).
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Consent to side effects without a terminal (pod-up, pod-delete, fsm-reset).
    #[arg(long)]
    pub yes: bool,
}

impl Cli {
    /// Whether the command prints one JSON document (then an error is one too, on stdout).
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Command::Verify { json, .. }
            | Command::Replay { json, .. }
            | Command::Explain { json, .. }
            | Command::Doctor { json }
            | Command::Status { json, .. } => *json,
            Command::SweepStatus(a) | Command::FsmStatus(a) => a.json,
            Command::Task(TaskCommand::Status { json, .. } | TaskCommand::List { json, .. }) => *json,
            _ => false,
        }
    }
}

/// Options of a primitive that reads: those of every primitive, and `--json`.
#[derive(Args, Debug)]
pub struct ReadArgs {
    #[command(flatten)]
    pub common: PrimitiveArgs,
    /// Print one JSON document on stdout instead of the text (docs/schemas/cli-<command>.schema.json).
    #[arg(long)]
    pub json: bool,
}

/// `wfhost task ...`
#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Start CMD as task ID on the target, detached; exits once it has started.
    ///
    /// The command runs with sh in the checkout (REMOTE_REPO_DIR) when it exists, else in the
    /// task's directory, with WF_RUN_ID (the task id) and WF_RUN_DIR (its directory) set and
    /// stdin closed. A task of the same id that is still running is not started twice (code
    /// 409); an ended one is kept in _wf/attempts/<n>/ and the id is reused.
    Run {
        #[command(flatten)]
        task: TaskArgs,
        /// The command line (after --), run by sh on the target.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// One task's state (running, exited, timed_out, lost), exit code and log tail; every
    /// task's without --id.
    Status {
        /// The task id.
        #[arg(long)]
        id: Option<String>,
        /// Print one JSON document (docs/schemas/cli-task-status.schema.json, or
        /// cli-task-list.schema.json without --id).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: PrimitiveArgs,
    },
    /// Wait for task ID to end, at most N seconds; exit 0 only when it exited with code 0.
    ///
    /// Each look is one bounded call (every WF_MONITOR_POLL_SECS); three failed looks in a row
    /// end the wait (code 405), the time limit with code 412; the task goes on either way.
    Wait(TaskArgs),
    /// Every task on the target, with its state.
    List {
        /// Print one JSON document (docs/schemas/cli-task-list.schema.json).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: PrimitiveArgs,
    },
}

/// The options of `task run` and `task wait`.
#[derive(Args, Debug)]
pub struct TaskArgs {
    /// The task id: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'.
    #[arg(long)]
    pub id: String,
    /// The task's time limit (run), or how long to wait (wait); default WF_TASK_TIMEOUT_SECS,
    /// at most its documented maximum.
    #[arg(long, value_name = "N")]
    pub timeout_secs: Option<u64>,
    #[command(flatten)]
    pub common: PrimitiveArgs,
}

/// `wfhost court ...`
#[derive(Subcommand, Debug)]
pub enum CourtCommand {
    /// Run one auditor on an evidence pack and print its verdict as JSON.
    ///
    /// FILE is a phase's evidence pack (phase/phase.<Pxx>.pack.json in a flow's evidence
    /// directory), relative to -C like every path. The auditor runs under the limits of the
    /// config in -C (WF_AUDITOR_FUEL, WF_AUDITOR_MEMORY_MB, WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS),
    /// as in the flow; without a config there, under their defaults ("limits" in the output
    /// says which). Exit status 0 when the verdict is pass, 1 when fail or unverified.
    Audit {
        /// The phase the pack belongs to (P00..P99).
        #[arg(long)]
        phase: String,
        /// The evidence pack JSON file.
        #[arg(long, value_name = "FILE")]
        evidence: PathBuf,
        /// Auditor: a built-in name (constitution) or a .wasm component path.
        #[arg(long, default_value = "constitution")]
        auditor: String,
    },
}

/// `wfhost docs ...`
#[derive(Subcommand, Debug)]
pub enum DocsCommand {
    /// Print the user guide (docs/remote-experiment-workflow.md), generated from constitution/.
    Guide,
}

pub(crate) fn workdir(cli_dir: &Option<PathBuf>) -> Result<PathBuf, CliError> {
    let cwd = std::env::current_dir().map_err(|e| CliError::internal(format!("cannot read the current directory: {e}")))?;
    let dir = match cli_dir {
        Some(d) => cwd.join(d),
        None => cwd,
    };
    let dir = dir.canonicalize().map_err(|e| CliError::usage(format!("-C {}: {e}", dir.display())))?;
    if !dir.is_dir() {
        return Err(CliError::usage(format!(
            "-C {}: not a directory; -C takes the directory that holds infra_scripts/workflow.env",
            dir.display()
        )));
    }
    Ok(dir)
}

pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask a yes/no question on the terminal (only called when stdin and stderr are terminals).
fn prompt_yes_no(question: &str) -> bool {
    use std::io::{BufRead, Write};
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(_) => matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"),
        Err(_) => false,
    }
}

pub(crate) fn env_map() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn parse_flow_flags(a: &FlowArgs) -> (Flags, Vec<String>) {
    let mut errors = Vec::new();
    let mut f = Flags { yes: a.yes, ..Flags::default() };
    match a.provision.parse() {
        Ok(v) => f.provision = v,
        Err(e) => errors.push(format!("{e}")),
    }
    match a.sweep.parse() {
        Ok(v) => f.sweep = v,
        Err(e) => errors.push(format!("{e}")),
    }
    match flags::parse_wait(&a.wait) {
        Ok(v) => f.wait = v,
        Err(e) => errors.push(format!("{e}")),
    }
    match a.fetch.parse() {
        Ok(v) => f.fetch = v,
        Err(e) => errors.push(format!("{e}")),
    }
    match a.teardown.parse() {
        Ok(v) => f.teardown = v,
        Err(e) => errors.push(format!("{e}")),
    }
    (f, errors)
}

pub(crate) fn run_plan(dir: &Option<PathBuf>, plan: Plan, flags: Flags, flag_errors: Vec<String>, target: Option<String>) -> Result<Exit, CliError> {
    run_plan_with(dir, plan, flags, flag_errors, target, Output::stdio()).map(|r| Exit(r.exit_status))
}

/// [`run_plan`] with the output contract's lines going to `out`; returns the flow's report.
pub(crate) fn run_plan_with(
    dir: &Option<PathBuf>,
    plan: Plan,
    flags: Flags,
    flag_errors: Vec<String>,
    target: Option<String>,
    out: Output,
) -> Result<wfhost_flow::engine::FlowReport, CliError> {
    let workdir = workdir(dir)?;
    // SIGINT, SIGTERM, SIGHUP: the first stops the flow cleanly (recorded, pod line, resume
    // command, exit 130/143/129), a second exits at once.
    wfhost_runtime::interrupt::install().map_err(|e| CliError::internal(format!("cannot handle signals: {e}")))?;
    let report = run_flow(
        FlowRequest {
            workdir,
            env: env_map(),
            flags,
            plan,
            target,
            interactive: interactive(),
            confirm: Some(Confirm(std::sync::Arc::new(prompt_yes_no))),
            flag_errors,
        },
        &out,
    );
    Ok(report)
}

fn primitive(dir: &Option<PathBuf>, plan: Plan, a: PrimitiveArgs) -> Result<Exit, CliError> {
    let flags = Flags { yes: a.yes, ..Flags::default() };
    let mut errors = Vec::new();
    if plan == Plan::PodDelete && !a.yes && !interactive() {
        errors.push("pod-delete deletes a pod: pass --yes (there is no terminal to confirm on)".into());
    }
    if plan == Plan::PodDelete && !a.yes && interactive() {
        let t = a.target.clone().unwrap_or_else(|| "the configured target".into());
        if !prompt_yes_no(&format!("Delete pod {t}? [y/N] ")) {
            eprintln!("wfhost: not deleted");
            return Ok(Exit::OK);
        }
    }
    run_plan(dir, plan, flags, errors, a.target)
}

/// Run a parsed command line: the status it decided, or the error that stopped it.
pub fn exec(cli: Cli) -> Result<Exit, CliError> {
    let dir = cli.directory.clone();
    match cli.command {
        Command::Flow(a) => {
            let (flags, errors) = parse_flow_flags(&a);
            run_plan(&dir, Plan::Flow, flags, errors, None)
        }
        Command::Task(t) => crate::task::exec(&dir, t),
        Command::PodUp(a) => primitive(&dir, Plan::PodUp, a),
        Command::PodStatus(a) => primitive(&dir, Plan::PodStatus, a),
        Command::Bootstrap(a) => primitive(&dir, Plan::Bootstrap, a),
        Command::Checkout(a) => primitive(&dir, Plan::Checkout, a),
        Command::SweepStart(a) => primitive(&dir, Plan::SweepStart { resume: false }, a),
        Command::SweepResume(a) => primitive(&dir, Plan::SweepStart { resume: true }, a),
        Command::SweepStatus(a) if a.json => crate::read::sweep_status_json(&dir, a.common),
        Command::SweepStatus(a) => primitive(&dir, Plan::SweepStatus { watch: false }, a.common),
        Command::SweepWatch(a) => primitive(&dir, Plan::SweepStatus { watch: true }, a),
        Command::FetchRun { run_id, common } => {
            let fetch = format!("run:{run_id}").parse::<Fetch>().map_err(|e| CliError::usage(e.to_string()))?;
            primitive(&dir, Plan::Fetch(fetch), common)
        }
        Command::FetchAll(a) => primitive(&dir, Plan::Fetch(Fetch::All), a),
        Command::PodDelete(a) => primitive(&dir, Plan::PodDelete, a),
        Command::FsmStatus(a) => {
            let report = ops::fsm_status(&workdir(&dir)?, &env_map(), a.common.target.as_deref())?;
            if a.json {
                crate::read::print_json(&crate::read::fsm_status_json(&report));
            } else if report.present {
                println!("{}", serde_json::to_string_pretty(&report.state).unwrap_or_default());
            } else {
                println!("{}", report.state);
            }
            Ok(Exit::OK)
        }
        Command::FsmReset(a) => {
            if !a.yes {
                return Err(CliError::usage("fsm-reset rewrites the target's workflow_state.json to INIT: pass --yes"));
            }
            let report = ops::fsm_reset(&workdir(&dir)?, &env_map(), a.target.as_deref())?;
            eprintln!("wfhost: {}: FSM {} -> INIT", printable(&report.target), printable(&report.previous));
            Ok(Exit::OK)
        }
        Command::SweepCsvTemplate => {
            print!("{}", wfhost_config::manifest::template_csv());
            eprintln!("wfhost: matching template: SWEEP_RUN_TEMPLATE={}", wfhost_config::manifest::example_run_template());
            Ok(Exit::OK)
        }
        Command::Doctor { json } => {
            let report = ops::doctor(&workdir(&dir)?, &env_map());
            if json {
                crate::read::print_json(&crate::read::doctor_json(&report));
            }
            for c in report.checks.iter().filter(|_| !json) {
                println!("{} {}: {}", if c.ok { "ok  " } else { "FAIL" }, printable(&c.what), printable(&c.detail));
            }
            Ok(if report.ok() { Exit::OK } else { Exit(ErrorKind::Config.exit_status()) })
        }
        Command::Court(CourtCommand::Audit { phase, evidence, auditor }) => {
            let report = ops::audit_file(&workdir(&dir)?, &env_map(), &phase, &evidence, &auditor)?;
            println!("{}", serde_json::to_string_pretty(&report.document).unwrap_or_default());
            Ok(if report.pass { Exit::OK } else { Exit::FAILED })
        }
        Command::Keygen { path } => keygen(&dir, &path),
        Command::Verify { flow_dir, json, key } => {
            let options = verify_options(&dir, key.as_deref())?;
            let d = workdir(&dir)?.join(flow_dir);
            match audit_trail::verify_with(&d, &options) {
                Ok(report) => {
                    if json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.render());
                    }
                    Ok(Exit::OK)
                }
                Err(failure) if failure.kind == audit_trail::FailureKind::NotAFlow => Err(CliError::usage(failure.problem)),
                Err(failure) if json => {
                    println!("{}", serde_json::json!({"ok": false, "failure": failure.to_json()}));
                    Ok(Exit::FAILED)
                }
                Err(failure) => Err(CliError::new(ErrorKind::Failed, format!("verify failed: {failure}")).with_hint(failure.next_step())),
            }
        }
        Command::Replay { flow_dir, write, json: true } => crate::read::replay_json(&workdir(&dir)?.join(flow_dir), write),
        Command::Replay { flow_dir, write, json: false } => match audit_trail::replay(&workdir(&dir)?.join(flow_dir), write) {
            Ok(report) => {
                print!("{}", report.render());
                Ok(if report.identical() { Exit::OK } else { Exit::FAILED })
            }
            Err(audit_trail::ReplayError::NotAFlow(e)) => Err(CliError::usage(e)),
            Err(e) => Err(CliError::new(ErrorKind::Failed, format!("replay failed: {e}"))),
        },
        Command::Explain { flow_dir, json: true } => crate::read::explain_json(&workdir(&dir)?.join(flow_dir)),
        Command::Explain { flow_dir, json: false } => match audit_trail::explain(&workdir(&dir)?.join(flow_dir)) {
            Ok(text) => {
                print!("{text}");
                Ok(Exit::OK)
            }
            Err(audit_trail::ExplainError::NotAFlow(e)) => Err(CliError::usage(e)),
            Err(e) => Err(CliError::new(ErrorKind::Failed, format!("explain failed: {e}"))),
        },
        Command::Pack(command) => crate::pack::exec(&workdir(&dir)?, &env_map(), interactive(), prompt_yes_no, command),
        Command::Status { json, check } => crate::read::status(&dir, json, check),
        Command::Logs { run_id, follow, stderr, lines, target } => crate::read::logs(&dir, run_id, follow, stderr, lines, target),
        Command::Report { flow_dir, output } => crate::read::report(&dir, &flow_dir, output.as_deref()),
        Command::Completions { shell } => crate::shell::completions(shell),
        Command::Man { dir: out } => crate::shell::man(&dir, out.as_deref()),
        Command::Docs(DocsCommand::Guide) => {
            let text = wfhost_config::guide::render().map_err(CliError::internal)?;
            print!("{text}");
            Ok(Exit::OK)
        }
    }
}

/// `wfhost keygen PATH`: a new signing key pair (PATH relative to -C, like every path).
fn keygen(dir: &Option<PathBuf>, path: &std::path::Path) -> Result<Exit, CliError> {
    let target = workdir(dir)?.join(path);
    // A new directory for keys is made private (0700); an existing one is left as it is.
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| {
            CliError::usage(format!("cannot create {} for the key: {e}; create it or choose another path", parent.display()))
        })?;
    }
    match dsse::generate_key(&target) {
        Ok(made) => {
            println!("private key: {} (mode 0600; keep it secret, never commit it)", made.private_path.display());
            println!("public key:  {}", made.public_path.display());
            println!("key id:      ed25519:{}", made.key_id);
            println!("sign flows:  WF_SIGNING_KEY={} in infra_scripts/workflow.env", made.private_path.display());
            println!("check one:   wfhost verify <flow_dir> --key {}", made.public_path.display());
            Ok(Exit::OK)
        }
        Err(e @ (dsse::DsseError::KeyExists { .. } | dsse::DsseError::WriteKey { .. })) => Err(CliError::usage(e.to_string())),
        Err(e) => Err(CliError::internal(e.to_string())),
    }
}

/// The options of `wfhost verify`: the pinned public key, if `--key` names one (relative to
/// -C, like every path).
fn verify_options(dir: &Option<PathBuf>, key: Option<&std::path::Path>) -> Result<audit_trail::VerifyOptions, CliError> {
    let Some(key) = key else {
        return Ok(audit_trail::VerifyOptions::default());
    };
    let path = workdir(dir)?.join(key);
    let key = dsse::load_public_key(&path).map_err(|e| CliError::usage(format!("--key: {e}")))?;
    Ok(audit_trail::VerifyOptions { key: Some(key) })
}
