//! Phase tests against the test host: real `sh`, real git, real files in a temp "pod".

use super::testhost::{flag, set, TestHost};
use super::*;
use crate::host::{GatewayError, Level, PodIdentity, PodState, PodReport};
use crate::outcome::{code, Outcome, Status};
use std::os::unix::fs::PermissionsExt;
use wfhost_pack_sdk::testing::{run, RunSpec};

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The family of `phase` in the constitution's phase table.
fn family(phase: &str) -> u16 {
    code::PHASE_FAMILIES
        .iter()
        .find(|(id, _)| *id == phase)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("{phase} is not in constitution/phases.toml"))
}

fn status(state: PodState, detail: &str) -> PodReport {
    PodReport {
        state,
        detail: detail.into(),
    }
}

#[track_caller]
fn assert_ok(o: &Outcome) {
    assert_eq!((o.status, o.code), (Status::Ok, 0), "{o:#?}");
    assert!(!o.message.contains('\n'));
}

#[track_caller]
fn assert_fail(o: &Outcome, code: u16, needle: &str) {
    assert_eq!((o.status, o.code), (Status::Fail, code), "{o:#?}");
    assert_eq!(
        code::family_of(o.code),
        family(&o.phase),
        "codes stay in the phase's family"
    );
    assert!(
        o.message.contains(needle),
        "message {:?} lacks {needle:?}",
        o.message
    );
    assert!(!o.message.contains('\n'), "one-line message");
}

fn details(o: &Outcome) -> serde_json::Value {
    serde_json::from_str(o.details_json.as_deref().unwrap()).unwrap()
}

// ====================================================================== dispatch

#[test]
fn phases_are_listed_and_unknown_ones_fail_in_their_family() {
    assert_eq!(
        PHASES,
        ["P10", "P30", "P40", "P50", "P60", "P70", "P75", "P80", "P90"]
    );
    let h = TestHost::new();
    let o = run_phase(&h, &h.ctx("P20"));
    assert_eq!((o.status, o.code), (Status::Fail, code::PROVISION_FAILED));
    assert!(o.message.contains("does not serve"));
    let o = run_phase(&h, &h.ctx("P00"));
    assert_eq!(o.code, code::PLUGIN_UNAVAILABLE);
    let o = run_phase(&h, &h.ctx("bogus"));
    assert_eq!((o.status, o.code), (Status::Fail, code::PLUGIN_UNAVAILABLE));
}

// ====================================================================== P10

#[test]
fn p10_skips_on_flag_or_explicit_target() {
    let h = TestHost::new();
    let o = run_phase(&h, &h.ctx("P10"));
    assert_eq!(o.status, Status::Skip);
    let mut ctx = h.ctx("P10");
    flag(&mut ctx, "provision", "auto");
    set(&mut ctx.config, "LIUM_TARGET", "pod-9");
    let o = run_phase(&h, &ctx);
    assert_eq!(o.status, Status::Skip);
    assert!(o.message.contains("LIUM_TARGET=pod-9"));
    assert!(h.provisioned.borrow().is_empty());
}

#[test]
fn p10_provisions_with_a_hint_from_the_flow_id() {
    let h = TestHost::new();
    let mut ctx = h.ctx("P10");
    ctx.target = None;
    flag(&mut ctx, "provision", "auto");
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(*h.provisioned.borrow(), vec!["wf-abcd1234".to_string()]);
    assert_eq!(o.fact("target"), Some("wf-abcd1234"));
    assert_eq!(o.fact("transport"), Some("local"));
    assert_eq!(o.fact("location"), Some("/pods/wf-abcd1234"));
}

#[test]
fn p10_failures_are_200() {
    let h = TestHost::new();
    let mut ctx = h.ctx("P10");
    flag(&mut ctx, "provision", "auto");
    *h.provision_result.borrow_mut() = Some(Err(GatewayError::Failed("quota exceeded".into())));
    let o = run_phase(&h, &ctx);
    assert_fail(&o, code::PROVISION_FAILED, "quota exceeded");
    assert_eq!(o.fact("gateway_error"), Some("failed"));
    *h.provision_result.borrow_mut() = Some(Err(GatewayError::Refused("no consent".into())));
    assert_fail(&run_phase(&h, &ctx), code::PROVISION_FAILED, "refused");
}

#[test]
fn p10_name_hints_are_safe() {
    assert_eq!(provision::name_hint("20240101T000000Z-abcd"), "wf-abcd");
    assert_eq!(provision::name_hint("a/b c$d"), "wf-abcd");
    assert_eq!(provision::name_hint("///"), "wf-flow");
    let _ = PodIdentity {
        transport: String::new(),
        target: String::new(),
        location: String::new(),
    };
}

// ====================================================================== P30

#[test]
fn p30_ready_pod_that_answers_is_ok() {
    let h = TestHost::new();
    let o = run_phase(&h, &h.ctx("P30"));
    assert_ok(&o);
    assert_eq!(o.fact("pod_state"), Some("ready"));
    assert_eq!(h.execs.borrow()[0].command, "echo wfhost-ready");
    assert_eq!(h.execs.borrow()[0].class, crate::host::ActionClass::Read);
}

#[test]
fn p30_polls_a_starting_pod_until_ready() {
    let h = TestHost::new();
    for _ in 0..2 {
        h.statuses
            .borrow_mut()
            .push_back(Ok(status(PodState::Starting, "booting")));
    }
    let o = run_phase(&h, &h.ctx("P30"));
    assert_ok(&o);
    assert_eq!(o.fact("status_polls"), Some("3"));
    assert_eq!(*h.slept.borrow(), vec![2000, 2000]);
    assert!(h.logged("is starting"));
}

#[test]
fn p30_gives_up_on_a_pod_that_keeps_starting() {
    let mut h = TestHost::new();
    h.settings
        .insert("WF_POD_READY_TIMEOUT_SECS".into(), "5".into());
    for _ in 0..100 {
        h.statuses
            .borrow_mut()
            .push_back(Ok(status(PodState::Starting, "booting")));
    }
    let o = run_phase(&h, &h.ctx("P30"));
    assert_fail(&o, code::POD_NOT_READY, "still starting after 5 s");
    assert_eq!(h.clock.get(), 5000, "waited exactly the budget");
    assert!(h.execs.borrow().is_empty());
}

#[test]
fn p30_maps_pod_states_and_gateway_errors() {
    type Case = (Result<PodReport, GatewayError>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            Ok(status(PodState::Missing, "gone")),
            code::POD_VANISHED_2XX,
            "does not exist",
        ),
        (
            Ok(status(PodState::Stopped, "off")),
            code::POD_NOT_READY,
            "is stopped",
        ),
        (
            Err(GatewayError::Unreachable("no route".into())),
            code::POD_UNREACHABLE_2XX,
            "cannot be reached",
        ),
        (
            Err(GatewayError::Vanished("deleted".into())),
            code::POD_VANISHED_2XX,
            "no longer exists",
        ),
        (
            Err(GatewayError::Timeout("slow".into())),
            code::POD_NOT_READY,
            "timed out",
        ),
    ];
    for (status, expected, needle) in cases {
        let h = TestHost::new();
        h.statuses.borrow_mut().push_back(status);
        assert_fail(&run_phase(&h, &h.ctx("P30")), expected, needle);
    }
}

#[test]
fn p30_ready_pod_that_does_not_answer_fails() {
    let h = TestHost::new();
    h.exec_errors.borrow_mut().push((
        "wfhost-ready".into(),
        GatewayError::Unreachable("sshd down".into()),
    ));
    assert_fail(
        &run_phase(&h, &h.ctx("P30")),
        code::POD_UNREACHABLE_2XX,
        "sshd down",
    );
    let h = TestHost::new();
    h.exec_errors.borrow_mut().push((
        "wfhost-ready".into(),
        GatewayError::Failed("exec broke".into()),
    ));
    assert_fail(
        &run_phase(&h, &h.ctx("P30")),
        code::POD_NOT_READY,
        "exec broke",
    );
}

#[test]
fn p30_without_target_fails() {
    let h = TestHost::new();
    let mut ctx = h.ctx("P30");
    ctx.target = None;
    assert_fail(
        &run_phase(&h, &ctx),
        code::POD_NOT_READY,
        "needs a bound target",
    );
}

// ====================================================================== P40

fn p40_ctx(h: &TestHost, script: Option<&str>) -> crate::context::PhaseContext {
    let mut ctx = h.ctx("P40");
    ctx.inputs
        .push(("config_text".into(), "REPO_URL=x\nSECRETLESS=1\n".into()));
    ctx.inputs.push(("ts".into(), "20240101T000000Z".into()));
    if let Some(s) = script {
        ctx.inputs.push(("bootstrap_script".into(), s.into()));
    }
    ctx
}

#[test]
fn p40_creates_dirs_and_copies_the_config() {
    let h = TestHost::new();
    let o = run_phase(&h, &p40_ctx(&h, None));
    assert_ok(&o);
    for d in ["_control", "_manifests", "_sweep", "runs"] {
        assert!(h.exists(&format!("/mnt/outputs/{d}")), "{d}");
    }
    assert_eq!(h.read("/mnt/project.env"), "REPO_URL=x\nSECRETLESS=1\n");
    let mode = std::fs::metadata(h.local("/mnt/project.env"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(o.fact("bootstrap_script"), Some("none"));
    assert_eq!(o.fact("remote_env_path"), Some("/mnt/project.env"));
}

#[test]
fn p40_runs_the_bootstrap_script_in_control() {
    let h = TestHost::new();
    let script = "pwd > here.txt\necho \"$WF_OUTPUTS_DIR|$WF_ENV_FILE\" > env.txt\ngrep -q REPO_URL \"$WF_ENV_FILE\"\n";
    let o = run_phase(&h, &p40_ctx(&h, Some(script)));
    assert_ok(&o);
    assert_eq!(o.fact("bootstrap_script"), Some("ran"));
    assert_eq!(
        h.read("/mnt/outputs/_control/here.txt").trim(),
        h.local("/mnt/outputs/_control")
    );
    assert_eq!(
        h.read("/mnt/outputs/_control/env.txt").trim(),
        format!(
            "{}|{}",
            h.local("/mnt/outputs"),
            h.local("/mnt/project.env")
        )
    );
    assert_eq!(h.read("/mnt/outputs/_control/bootstrap.sh"), script);
}

#[test]
fn p40_failing_script_is_300_with_its_stderr() {
    let h = TestHost::new();
    let o = run_phase(
        &h,
        &p40_ctx(
            &h,
            Some("echo working\necho 'pip: no such package torch9' >&2\nexit 4\n"),
        ),
    );
    assert_fail(&o, code::BOOTSTRAP_FAILED, "pip: no such package torch9");
    assert!(o.message.contains("exit 4"));
    assert_eq!(o.fact("bootstrap_script"), Some("none"));
    let d = details(&o);
    let last = d["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["step"], "BOOTSTRAP_SCRIPT");
    assert!(last["stderr_tail"].as_str().unwrap().contains("torch9"));
    assert_eq!(last["stdout_tail"], "working\n");
}

#[test]
fn p40_script_timeout_is_305() {
    let mut h = TestHost::new();
    h.settings
        .insert("WF_BOOTSTRAP_TIMEOUT_SECS".into(), "1".into());
    let o = run_phase(&h, &p40_ctx(&h, Some("sleep 20\n")));
    assert_fail(&o, code::COMMAND_TIMEOUT_3XX, "timed out after 1 s");
}

#[test]
fn p40_gateway_and_input_problems_stay_in_family_3() {
    let h = TestHost::new();
    *h.put_error.borrow_mut() = Some(GatewayError::Vanished("pod deleted".into()));
    let o = run_phase(&h, &p40_ctx(&h, None));
    assert_fail(&o, code::POD_VANISHED_3XX, "no longer exists");
    assert_eq!(o.fact("gateway_error"), Some("vanished"));
    let h = TestHost::new();
    *h.put_error.borrow_mut() = Some(GatewayError::Unreachable("Connection refused".into()));
    let o = run_phase(&h, &p40_ctx(&h, None));
    assert_fail(&o, code::POD_UNREACHABLE_3XX, "cannot be reached (Connection refused)");
    let h = TestHost::new();
    *h.put_error.borrow_mut() = Some(GatewayError::Timeout("no answer in 30 s".into()));
    let o = run_phase(&h, &p40_ctx(&h, None));
    assert_fail(&o, code::COMMAND_TIMEOUT_3XX, "timed out (no answer in 30 s)");

    let h = TestHost::new();
    let mut ctx = h.ctx("P40");
    assert_fail(&run_phase(&h, &ctx), code::BOOTSTRAP_FAILED, "config_text");
    ctx.inputs.push(("config_text".into(), "".into()));
    set(&mut ctx.config, "OPS_REMOTE_OUTPUTS_DIR", "relative/out");
    assert_fail(
        &run_phase(&h, &ctx),
        code::BOOTSTRAP_FAILED,
        "OPS_REMOTE_OUTPUTS_DIR",
    );
}

// ====================================================================== P50

struct Repo {
    dir: String,
}

fn git(dir: &str, args: &[&str]) -> String {
    let mut all = vec![
        "-C",
        dir,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "init.defaultBranch=main",
    ];
    all.extend_from_slice(args);
    let out = run(&RunSpec {
        program: "git".into(),
        args: all.iter().map(|s| s.to_string()).collect(),
        ..RunSpec::sh("", &[])
    });
    assert_eq!(out.exit_code, Some(0), "git {args:?}: {}", out.stderr);
    out.stdout.trim().to_string()
}

impl Repo {
    /// A source repo with main (2 commits), tag v1 on the first, and branch feature.
    fn new(h: &TestHost) -> Repo {
        let dir = h.tmp.join("src");
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
        std::fs::write(format!("{dir}/a.txt"), "one\n").unwrap();
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-qm", "one"]);
        git(&dir, &["tag", "v1"]);
        git(&dir, &["branch", "feature"]);
        std::fs::write(format!("{dir}/a.txt"), "two\n").unwrap();
        git(&dir, &["commit", "-qam", "two"]);
        Repo { dir }
    }
    fn rev(&self, r: &str) -> String {
        git(&self.dir, &["rev-parse", &format!("{r}^{{commit}}")])
    }
    fn commit(&self, file: &str, text: &str) -> String {
        std::fs::write(format!("{}/{file}", self.dir), text).unwrap();
        git(&self.dir, &["add", "."]);
        git(&self.dir, &["commit", "-qm", file]);
        self.rev("HEAD")
    }
}

fn p50_ctx(h: &TestHost, repo: &Repo, git_ref: &str) -> crate::context::PhaseContext {
    let mut ctx = h.ctx("P50");
    ctx.inputs.push(("repo_url".into(), repo.dir.clone()));
    set(&mut ctx.config, "REPO_REF", git_ref);
    ctx
}

#[test]
fn p50_clones_at_head_and_runs_checks() {
    let h = TestHost::new();
    let repo = Repo::new(&h);
    let mut ctx = p50_ctx(&h, &repo, "HEAD");
    set(
        &mut ctx.config,
        "CHECKOUT_CHECKS",
        " test -f a.txt ;; grep -q two a.txt && pwd > ../checked.txt ;; ",
    );
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(o.fact("commit"), Some(repo.rev("HEAD").as_str()));
    assert_eq!(o.fact("repo_url"), Some(repo.dir.as_str()));
    assert_eq!(o.fact("ref"), Some("HEAD"));
    assert_eq!(o.fact("checks_run"), Some("2"));
    assert_eq!(o.fact("checkout"), Some("cloned"));
    assert_eq!(h.read("/mnt/repo/a.txt"), "two\n");
    assert_eq!(h.read("/mnt/checked.txt").trim(), h.local("/mnt/repo"));
    let gits: Vec<_> = h
        .execs
        .borrow()
        .iter()
        .filter(|e| e.command.contains("git -C") || e.command.contains("git clone"))
        .map(|e| e.env.clone())
        .collect();
    assert_eq!(gits.len(), 3, "clone, rev-parse, checkout");
    assert!(gits
        .iter()
        .all(|env| env.contains(&("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()))));
}

#[test]
fn p50_resolves_tags_branches_and_commits() {
    let h = TestHost::new();
    let repo = Repo::new(&h);
    for r in ["v1", "feature", "main"] {
        let o = run_phase(&h, &p50_ctx(&h, &repo, r));
        assert_ok(&o);
        assert_eq!(o.fact("commit"), Some(repo.rev(r).as_str()), "{r}");
    }
    let first = repo.rev("v1");
    let o = run_phase(&h, &p50_ctx(&h, &repo, &first));
    assert_ok(&o);
    assert_eq!(h.read("/mnt/repo/a.txt"), "one\n");
    assert_eq!(o.fact("checkout"), Some("fetched"));
}

#[test]
fn p50_fetches_new_commits_into_an_existing_checkout() {
    let h = TestHost::new();
    let repo = Repo::new(&h);
    assert_ok(&run_phase(&h, &p50_ctx(&h, &repo, "main")));
    let new = repo.commit("b.txt", "bee\n");
    let o = run_phase(&h, &p50_ctx(&h, &repo, "main"));
    assert_ok(&o);
    assert_eq!(o.fact("commit"), Some(new.as_str()));
    assert_eq!(h.read("/mnt/repo/b.txt"), "bee\n");
}

#[test]
fn p50_unknown_or_odd_refs_are_304() {
    let h = TestHost::new();
    let repo = Repo::new(&h);
    assert_fail(
        &run_phase(&h, &p50_ctx(&h, &repo, "no-such-branch")),
        code::REF_NOT_FOUND,
        "no-such-branch",
    );
    assert_fail(
        &run_phase(&h, &p50_ctx(&h, &repo, "--upload-pack=x")),
        code::REF_NOT_FOUND,
        "not a usable git ref",
    );
}

#[test]
fn p50_dirty_checkout_is_302_unless_force_clean() {
    let h = TestHost::new();
    let repo = Repo::new(&h);
    assert_ok(&run_phase(&h, &p50_ctx(&h, &repo, "main")));
    std::fs::write(h.local("/mnt/repo/a.txt"), "local edit\n").unwrap();
    std::fs::write(h.local("/mnt/repo/junk.tmp"), "x").unwrap();
    let o = run_phase(&h, &p50_ctx(&h, &repo, "main"));
    assert_fail(&o, code::CHECKOUT_DIRTY, "2 local change(s)");
    assert!(o.message.contains("CHECKOUT_FORCE_CLEAN=1"));
    assert_eq!(
        h.read("/mnt/repo/a.txt"),
        "local edit\n",
        "nothing is discarded without the flag"
    );

    let mut ctx = p50_ctx(&h, &repo, "main");
    set(&mut ctx.config, "CHECKOUT_FORCE_CLEAN", "1");
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(o.fact("forced_clean"), Some("true"));
    assert_eq!(h.read("/mnt/repo/a.txt"), "two\n");
    assert!(!h.exists("/mnt/repo/junk.tmp"));
}

#[test]
fn p50_failing_check_is_303_naming_it() {
    let h = TestHost::new();
    let repo = Repo::new(&h);
    let mut ctx = p50_ctx(&h, &repo, "main");
    set(&mut ctx.config, "CHECKOUT_CHECKS", "true;;python3 -c 'import torch9' 2>/dev/null || { echo 'torch9 missing' >&2; exit 7; };;touch never");
    let o = run_phase(&h, &ctx);
    assert_fail(&o, code::CHECKOUT_CHECK_FAILED, "check 2 of 3");
    assert!(o.message.contains("torch9 missing"), "{}", o.message);
    assert!(o.message.contains("exit 7"));
    assert_eq!(o.fact("checks_run"), Some("1"));
    assert!(
        !h.exists("/mnt/repo/never"),
        "checks stop at the first failure"
    );
}

#[test]
fn p50_unreachable_repo_and_occupied_dir_are_301() {
    let h = TestHost::new();
    let mut ctx = h.ctx("P50");
    ctx.inputs
        .push(("repo_url".into(), h.tmp.join("does-not-exist.git")));
    let o = run_phase(&h, &ctx);
    assert_fail(&o, code::CHECKOUT_FAILED, "git clone failed");
    assert!(o.message.contains("REPO_URL is reachable"));

    let h = TestHost::new();
    let repo = Repo::new(&h);
    std::fs::create_dir_all(h.local("/mnt/repo")).unwrap();
    std::fs::write(h.local("/mnt/repo/precious"), "x").unwrap();
    assert_fail(
        &run_phase(&h, &p50_ctx(&h, &repo, "main")),
        code::CHECKOUT_FAILED,
        "not a git checkout",
    );
    assert_eq!(h.read("/mnt/repo/precious"), "x");

    let h = TestHost::new();
    assert_fail(
        &run_phase(&h, &h.ctx("P50")),
        code::CHECKOUT_FAILED,
        "REPO_URL is empty",
    );
}

#[test]
fn p50_split_checks() {
    assert_eq!(checkout::split_checks(" a ;; ;;b;;"), vec!["a", "b"]);
    assert!(checkout::split_checks("").is_empty());
    assert!(checkout::ref_is_sane("release/1.0"));
    assert!(!checkout::ref_is_sane("a b"));
}

// ====================================================================== P60 / P70 / P80

fn runs_json(runs: &[(&str, &str)]) -> String {
    serde_json::Value::Array(
        runs.iter()
            .map(|(id, cmd)| serde_json::json!({"run_id": id, "command": cmd}))
            .collect(),
    )
    .to_string()
}

fn p60_ctx(
    h: &TestHost,
    mode: &str,
    runs: Option<&[(&str, &str)]>,
    sha: &str,
) -> crate::context::PhaseContext {
    std::fs::create_dir_all(h.local("/mnt/repo")).unwrap();
    let mut ctx = h.ctx("P60");
    flag(&mut ctx, "sweep", mode);
    set(&mut ctx.config, "SWEEP_MAX_PARALLEL", "2");
    ctx.inputs.push(("ts".into(), "20240101T000000Z".into()));
    ctx.inputs.push(("flow_id".into(), ctx.flow_id.clone()));
    ctx.inputs
        .push(("config_text".into(), "SWEEP_MANIFEST=sweep.csv\n".into()));
    if let Some(runs) = runs {
        ctx.inputs.push(("runs_json".into(), runs_json(runs)));
        ctx.inputs.push(("manifest_sha256".into(), sha.into()));
        ctx.inputs
            .push(("manifest_csv".into(), "run_id,command\nr1,true\n".into()));
    }
    ctx
}

fn monitor_ctx(h: &TestHost, wait: bool) -> crate::context::PhaseContext {
    let mut ctx = h.ctx("P70");
    ctx.flow_flags.wait = wait;
    set(&mut ctx.config, "WF_MONITOR_POLL_SECS", "1");
    ctx
}

/// The last structured progress message of `phase` (a debug line, never a plain one).
fn last_progress(h: &TestHost, phase: &str) -> serde_json::Value {
    let logs = h.logs.borrow();
    let (level, message) = logs
        .iter()
        .rev()
        .find(|(_, m)| m.starts_with(crate::outcome::PROGRESS_PREFIX) && m.contains(&format!("\"phase\":\"{phase}\"")))
        .unwrap_or_else(|| panic!("no progress of {phase} in {logs:?}"));
    assert_eq!(*level, Level::Debug, "{message}");
    serde_json::from_str(&message[crate::outcome::PROGRESS_PREFIX.len()..]).unwrap()
}

/// Wait (real time) until the sweep is complete, through P70.
fn wait_sweep(h: &TestHost) -> Outcome {
    run_phase(h, &monitor_ctx(h, true))
}

#[test]
fn p60_starts_p70_reports_failures_p80_fetches() {
    let h = TestHost::new().real_time();
    let runs = [
        ("r1", "echo one > \"$WF_RUN_DIR/metrics.json\""),
        ("r2", "echo broken >&2; exit 2"),
        (
            "r3",
            "sleep 1; printf '{\"ok\": true}' > \"$WF_RUN_DIR/summary.json\"",
        ),
    ];
    let o = run_phase(&h, &p60_ctx(&h, "start", Some(&runs), SHA_A));
    assert_ok(&o);
    assert_eq!(o.fact("mode"), Some("start"));
    assert_eq!(o.fact("manifest_sha256"), Some(SHA_A));
    assert_eq!(o.fact("runs_selected"), Some("3"));
    assert_eq!(o.fact("runs_started"), Some("3"));
    assert_eq!(o.fact("runs_pending_at_launch"), Some("3"));
    assert_eq!(o.fact("runs_already_claimed"), Some("0"));
    assert_eq!(o.fact("runner"), Some("started"));
    // The remote layout.
    assert_eq!(
        h.read("/mnt/outputs/_manifests/sweep-latest.csv"),
        "run_id,command\nr1,true\n"
    );
    assert_eq!(
        h.read("/mnt/outputs/_manifests/sweep-20240101T000000Z.csv"),
        "run_id,command\nr1,true\n"
    );
    let env = h.local("/mnt/outputs/_manifests/workflow-20240101T000000Z.env");
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let flow: serde_json::Value = serde_json::from_str(
        &h.read("/mnt/outputs/_manifests/flow-20240101T000000Z-abcd1234.json"),
    )
    .unwrap();
    assert_eq!(flow["manifest_sha256"], SHA_A);
    assert_eq!(flow["target"], "pod-1");
    assert!(h
        .read("/mnt/outputs/_sweep/runs.tsv")
        .starts_with("r1\truns/r1/_wf/cmd.sh\n"));
    assert_eq!(
        h.read("/mnt/outputs/runs/r2/_wf/cmd.sh"),
        "echo broken >&2; exit 2\n"
    );
    assert!(h.exists("/mnt/outputs/_sweep/runner.sh") && h.exists("/mnt/outputs/_sweep/status.sh"));

    let m = wait_sweep(&h);
    assert_fail(&m, code::RUNS_FAILED, "1 of 3 runs failed: r2");
    assert_eq!(m.fact("fsm_state"), Some("SWEEP_FAILED"));
    assert_eq!(
        (m.fact("total"), m.fact("ok"), m.fact("failed")),
        (Some("3"), Some("2"), Some("1"))
    );
    assert_eq!(
        (m.fact("running"), m.fact("pending"), m.fact("lost")),
        (Some("0"), Some("0"), Some("0"))
    );
    assert_eq!(m.fact("complete"), Some("true"));
    assert_eq!(m.fact("failed_runs"), Some("r2"));
    assert!(
        h.logged("sweep: 3/3 done, 1 failed, 0 running"),
        "{:?}",
        h.logs.borrow()
    );
    // The same counts as structured progress for the host's bar.
    assert_eq!(
        last_progress(&h, "P70"),
        serde_json::json!({"phase": "P70", "total": 3, "ok": 2, "failed": 1, "running": 0, "pending": 0, "lost": 0})
    );

    let mut f = h.ctx("P80");
    flag(&mut f, "fetch", "all");
    let o = run_phase(&h, &f);
    assert_ok(&o);
    assert_eq!(
        last_progress(&h, "P80"),
        serde_json::json!({"phase": "P80", "runs_total": 3, "runs_done": 3, "files": o.artifacts.len()})
    );
    assert_eq!(o.fact("runs_fetched"), Some("3"));
    assert_eq!(o.fact("runs"), Some("r1,r2,r3"));
    let names: Vec<&str> = o.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"run:r1/metrics.json"), "{names:?}");
    assert!(names.contains(&"run:r2/_wf/stderr.log"), "{names:?}");
    assert_eq!(
        o.fact("files"),
        Some(o.artifacts.len().to_string().as_str())
    );
    assert!(o.artifacts.iter().all(|a| a.sha256.is_some()));
    assert_eq!(
        std::fs::read_to_string(h.tmp.join("fetched/r1/metrics.json")).unwrap(),
        "one\n"
    );

    flag(&mut f, "fetch", "run:r2");
    let o = run_phase(&h, &f);
    assert_ok(&o);
    assert_eq!(o.fact("runs"), Some("r2"));
    flag(&mut f, "fetch", "run:r9");
    assert_fail(
        &run_phase(&h, &f),
        code::RUN_NOT_FOUND,
        "run r9 is not in the sweep",
    );
    flag(&mut f, "fetch", "run:../x");
    assert_fail(
        &run_phase(&h, &f),
        code::RUN_NOT_FOUND,
        "does not name a run",
    );
}

#[test]
fn p70_snapshot_while_running_and_completion_without_failures() {
    let h = TestHost::new().real_time();
    let runs = [("s1", "sleep 2"), ("s2", "true")];
    assert_ok(&run_phase(&h, &p60_ctx(&h, "start", Some(&runs), SHA_A)));
    let snap = run_phase(&h, &monitor_ctx(&h, false));
    assert_ok(&snap);
    assert_eq!(snap.fact("fsm_state"), Some("SWEEP_RUNNING"));
    assert_eq!(snap.fact("complete"), Some("false"));
    assert_eq!(snap.fact("polls"), Some("1"));
    assert_eq!(
        h.execs
            .borrow()
            .iter()
            .filter(|e| e.command.contains("status.sh"))
            .count(),
        2,
        "inspect + one snapshot"
    );
    let done = wait_sweep(&h);
    assert_ok(&done);
    assert_eq!(done.fact("fsm_state"), Some("SWEEP_COMPLETED"));
    assert_eq!(done.fact("ok"), Some("2"));
    assert!(done.message.contains("2 of 2 runs ok"));
}

#[test]
fn p60_same_manifest_resumes_and_never_reruns_claimed_runs() {
    let h = TestHost::new().real_time();
    let runs = [
        ("c1", "echo x >> \"$WF_RUN_DIR/count\""),
        ("c2", "echo x >> \"$WF_RUN_DIR/count\""),
    ];
    assert_ok(&run_phase(&h, &p60_ctx(&h, "start", Some(&runs), SHA_A)));
    assert_ok(&wait_sweep(&h));
    let o = run_phase(&h, &p60_ctx(&h, "start", Some(&runs), SHA_A));
    assert_ok(&o);
    assert_eq!(o.fact("mode"), Some("resume"));
    assert_eq!(o.fact("runs_already_claimed"), Some("2"));
    assert_eq!(o.fact("runs_pending_at_launch"), Some("0"));
    // --sweep resume without new inputs works from the target's own state.
    let o = run_phase(&h, &p60_ctx(&h, "resume", None, ""));
    assert_ok(&o);
    assert_eq!(o.fact("mode"), Some("resume"));
    assert_eq!(o.fact("manifest_sha256"), Some(SHA_A));
    assert_eq!(o.fact("runs_selected"), Some("2"));
    assert_ok(&wait_sweep(&h));
    assert_eq!(h.read("/mnt/outputs/runs/c1/count"), "x\n");
    assert_eq!(h.read("/mnt/outputs/runs/c2/count"), "x\n");
}

#[test]
fn p60_restarts_lost_runs_only_with_sweep_retry_lost() {
    let h = TestHost::new().real_time();
    let victim = "echo attempt >> \"$WF_RUN_DIR/count\"; \
                  if [ ! -f \"$WF_RUN_DIR/once\" ]; then : > \"$WF_RUN_DIR/once\"; exec sleep 30; fi";
    let runs = [("victim", victim), ("fine", "true")];
    assert_ok(&run_phase(&h, &p60_ctx(&h, "start", Some(&runs), SHA_A)));
    let t0 = std::time::Instant::now();
    while !h.exists("/mnt/outputs/runs/victim/once") {
        assert!(t0.elapsed() < std::time::Duration::from_secs(60), "victim never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Killed with everything it started, as by the OOM killer or a restart of the pod.
    let pgid = h.read("/mnt/outputs/runs/victim/_wf/pgid").trim().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .status()
        .unwrap()
        .success());
    let m = wait_sweep(&h);
    assert_fail(&m, code::RUNS_FAILED, "1 of them lost");
    assert!(m.message.contains("SWEEP_RETRY_LOST=1"), "{}", m.message);
    assert_eq!(m.fact("lost"), Some("1"));

    let o = run_phase(&h, &p60_ctx(&h, "resume", None, ""));
    assert_ok(&o);
    assert_eq!(
        (o.fact("retry_lost"), o.fact("runs_lost_at_launch"), o.fact("runs_restarted")),
        (Some("false"), Some("1"), Some("0"))
    );
    assert!(o.message.contains("stay as they are; set SWEEP_RETRY_LOST=1"), "{}", o.message);
    assert_fail(&wait_sweep(&h), code::RUNS_FAILED, "victim");

    let mut ctx = p60_ctx(&h, "resume", None, "");
    set(&mut ctx.config, "SWEEP_RETRY_LOST", "1");
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(
        (o.fact("runs_restarted"), o.fact("restarted_runs"), o.fact("runs_started")),
        (Some("1"), Some("victim"), Some("1"))
    );
    assert!(o.message.contains("1 lost run(s) restarted: victim"), "{}", o.message);
    let done = wait_sweep(&h);
    assert_ok(&done);
    assert_eq!(h.read("/mnt/outputs/runs/victim/count"), "attempt\nattempt\n");
    assert!(h.exists("/mnt/outputs/runs/victim/_wf/attempts/1/requeued_at"));
}

#[test]
fn p60_different_manifest_is_refused_while_running_then_replaces() {
    let h = TestHost::new().real_time();
    assert_ok(&run_phase(
        &h,
        &p60_ctx(&h, "start", Some(&[("old", "sleep 2")]), SHA_A),
    ));
    let o = run_phase(&h, &p60_ctx(&h, "start", Some(&[("new", "true")]), SHA_B));
    assert_fail(
        &o,
        code::SWEEP_LAUNCH_FAILED,
        "runs another sweep (manifest aaaaaaaaaaaa",
    );
    assert_eq!(
        h.read("/mnt/outputs/_manifests/sweep-latest.csv"),
        "run_id,command\nr1,true\n"
    );
    assert_ok(&wait_sweep(&h));
    let o = run_phase(
        &h,
        &p60_ctx(
            &h,
            "start",
            Some(&[("old", "exit 9"), ("new", "true")]),
            SHA_B,
        ),
    );
    assert_ok(&o);
    assert_eq!(o.fact("mode"), Some("replace"));
    assert_eq!(o.fact("runs_already_claimed"), Some("1"));
    let done = wait_sweep(&h);
    assert_ok(&done);
    assert_eq!(
        done.fact("ok"),
        Some("2"),
        "the old run keeps its result and is not rerun"
    );
    assert_eq!(h.read("/mnt/outputs/_sweep/manifest.sha256").trim(), SHA_B);
}

#[test]
fn p60_resume_without_a_sweep_is_404_and_bad_inputs_are_400() {
    let h = TestHost::new();
    assert_fail(
        &run_phase(&h, &p60_ctx(&h, "resume", None, "")),
        code::NO_SWEEP_TO_RESUME,
        "--sweep start",
    );
    let mut ctx = p60_ctx(&h, "start", Some(&[("a", "true")]), SHA_A);
    set(
        &mut ctx.inputs,
        "runs_json",
        r#"[{"run_id":"a b","command":"true"}]"#,
    );
    assert_fail(&run_phase(&h, &ctx), code::MANIFEST_INVALID, "run_id");
    set(&mut ctx.inputs, "runs_json", "[]");
    assert_fail(
        &run_phase(&h, &ctx),
        code::MANIFEST_INVALID,
        "no run is selected",
    );
    let ctx = p60_ctx(&h, "start", Some(&[("a", "true")]), "short");
    assert_fail(&run_phase(&h, &ctx), code::MANIFEST_INVALID, "not a sha256");
    let ctx = p60_ctx(&h, "start", None, "");
    assert_fail(
        &run_phase(&h, &ctx),
        code::MANIFEST_INVALID,
        "SWEEP_MANIFEST",
    );
    let mut ctx = p60_ctx(&h, "start", Some(&[("a", "true")]), SHA_A);
    set(&mut ctx.config, "SWEEP_MAX_PARALLEL", "0");
    assert_fail(
        &run_phase(&h, &ctx),
        code::SWEEP_LAUNCH_FAILED,
        "SWEEP_MAX_PARALLEL",
    );
    let mut ctx = h.ctx("P60");
    flag(&mut ctx, "sweep", "skip");
    assert_eq!(run_phase(&h, &ctx).status, Status::Skip);
    assert!(!h.exists("/mnt/outputs/_sweep/runs.tsv"));
}

#[test]
fn p60_resume_refuses_a_tampered_manifest_sha() {
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs/_sweep")).unwrap();
    std::fs::write(h.local("/mnt/outputs/_sweep/runs.tsv"), "r1\tx\n").unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/manifest.sha256"),
        "ééééééééééééééé\n",
    )
    .unwrap();
    let o = run_phase(&h, &p60_ctx(&h, "resume", None, ""));
    assert_fail(&o, code::SWEEP_LAUNCH_FAILED, "no valid manifest sha256");
    assert!(
        !h.exists("/mnt/outputs/_sweep/runner.pid"),
        "nothing is launched"
    );
}

#[test]
fn p70_without_a_sweep_is_405() {
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs")).unwrap();
    assert_fail(
        &run_phase(&h, &monitor_ctx(&h, false)),
        code::MONITOR_UNREADABLE,
        "no sweep on the target",
    );
    assert_fail(
        &run_phase(&h, &monitor_ctx(&h, true)),
        code::MONITOR_UNREADABLE,
        "no sweep on the target",
    );
}

#[test]
fn p70_with_sweep_skip_and_no_sweep_skips() {
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs")).unwrap();
    for wait in [false, true] {
        let mut ctx = monitor_ctx(&h, wait);
        flag(&mut ctx, "sweep", "skip");
        let o = run_phase(&h, &ctx);
        assert_eq!(o.status, Status::Skip, "{}", o.message);
        assert!(o.message.contains("no sweep on the target"), "{}", o.message);
    }
}

#[test]
fn p70_times_out_with_403() {
    let h = TestHost::new().real_time();
    assert_ok(&run_phase(
        &h,
        &p60_ctx(&h, "start", Some(&[("slow", "sleep 4")]), SHA_A),
    ));
    let mut ctx = monitor_ctx(&h, true);
    set(&mut ctx.config, "WF_MONITOR_TIMEOUT_SECS", "1");
    let o = run_phase(&h, &ctx);
    assert_fail(&o, code::MONITOR_TIMEOUT, "WF_MONITOR_TIMEOUT_SECS=1");
    assert_eq!(o.fact("fsm_state"), Some("SWEEP_RUNNING"));
    assert_ok(&wait_sweep(&h));
}

#[test]
fn p70_backs_off_and_detects_a_dead_runner() {
    // Runs prepared but never launched: pending forever with no runner.
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs/_sweep")).unwrap();
    std::fs::create_dir_all(h.local("/mnt/repo")).unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/status.sh"),
        crate::scripts::STATUS_SH,
    )
    .unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/runs.tsv"),
        "p1\truns/p1/_wf/cmd.sh\n",
    )
    .unwrap();
    let o = run_phase(&h, &monitor_ctx(&h, true));
    assert_fail(
        &o,
        code::SWEEP_LAUNCH_FAILED,
        "runner is gone with 1 run(s) still pending",
    );
    assert_eq!(*h.slept.borrow(), vec![1000]);
}

#[test]
fn p70_backoff_grows_to_ten_times_the_poll() {
    // A sweep that never changes: one run claimed and "running" (its pid is this test's sh).
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs/_sweep")).unwrap();
    std::fs::create_dir_all(h.local("/mnt/outputs/runs/r1/_wf/claim")).unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/status.sh"),
        crate::scripts::STATUS_SH,
    )
    .unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/runs.tsv"),
        "r1\truns/r1/_wf/cmd.sh\n",
    )
    .unwrap();
    // A live process whose command line mentions runner.sh stands in for the run.
    let mut child = std::process::Command::new("sh")
        .args(["-c", "sleep 30", "runner.sh"])
        .spawn()
        .unwrap();
    std::fs::write(
        h.local("/mnt/outputs/runs/r1/_wf/pid"),
        format!("{}\n", child.id()),
    )
    .unwrap();
    let mut ctx = monitor_ctx(&h, true);
    set(&mut ctx.config, "WF_MONITOR_TIMEOUT_SECS", "60");
    let o = run_phase(&h, &ctx);
    let _ = child.kill();
    let _ = child.wait();
    assert_fail(&o, code::MONITOR_TIMEOUT, "1 running");
    let slept = h.slept.borrow().clone();
    assert_eq!(
        &slept[..6],
        &[1000, 2000, 4000, 8000, 10000, 10000],
        "{slept:?}"
    );
    assert_eq!(slept.iter().sum::<u64>(), 60_000);
}

#[test]
fn p70_polls_at_a_fractional_interval_and_ignores_a_bad_one() {
    // The dead-runner sweep of p70_backs_off_and_detects_a_dead_runner: one poll, one sleep, a
    // second poll that finds the runner still gone.
    let sweep = |poll: &str| {
        let h = TestHost::new();
        std::fs::create_dir_all(h.local("/mnt/outputs/_sweep")).unwrap();
        std::fs::create_dir_all(h.local("/mnt/repo")).unwrap();
        std::fs::write(h.local("/mnt/outputs/_sweep/status.sh"), crate::scripts::STATUS_SH).unwrap();
        std::fs::write(h.local("/mnt/outputs/_sweep/runs.tsv"), "p1\truns/p1/_wf/cmd.sh\n").unwrap();
        let mut ctx = monitor_ctx(&h, true);
        set(&mut ctx.config, "WF_MONITOR_POLL_SECS", poll);
        let o = run_phase(&h, &ctx);
        assert_fail(&o, code::SWEEP_LAUNCH_FAILED, "still pending");
        let slept = h.slept.borrow().clone();
        let warned = h.logged("WF_MONITOR_POLL_SECS");
        (slept, warned)
    };
    assert_eq!(sweep("0.2"), (vec![200], false));
    assert_eq!(sweep("1.25"), (vec![1250], false));
    // Not a positive decimal: the constitution's default (2 s), with a warning.
    for bad in ["0", "0.0001", "-1", "fast"] {
        assert_eq!(sweep(bad), (vec![2000], true), "{bad}");
    }
}

#[test]
fn p70_unreadable_status_is_retried_then_405() {
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs/_sweep")).unwrap();
    std::fs::write(h.local("/mnt/outputs/_sweep/status.sh"), "echo not-json\n").unwrap();
    let o = run_phase(&h, &monitor_ctx(&h, true));
    assert_fail(&o, code::MONITOR_UNREADABLE, "could not be read");
    assert_eq!(h.execs.borrow().len(), 3, "three tries");
    assert!(h
        .logs
        .borrow()
        .iter()
        .any(|(l, m)| *l == Level::Warn && m.contains("retrying")));
    // A gateway failure on the single snapshot maps into family 4.
    let h = TestHost::new();
    h.exec_errors.borrow_mut().push((
        "status.sh".into(),
        GatewayError::Vanished("pod gone".into()),
    ));
    let o = run_phase(&h, &monitor_ctx(&h, false));
    assert_fail(&o, code::POD_VANISHED_4XX, "no longer exists");
}

#[test]
fn p80_skips_and_reports_missing_sweeps() {
    let h = TestHost::new();
    assert_eq!(run_phase(&h, &h.ctx("P80")).status, Status::Skip);
    std::fs::create_dir_all(h.local("/mnt/outputs")).unwrap();
    let mut ctx = h.ctx("P80");
    flag(&mut ctx, "fetch", "all");
    assert_fail(
        &run_phase(&h, &ctx),
        code::FETCH_FAILED,
        "no sweep on the target",
    );
    flag(&mut ctx, "fetch", "run:r1");
    assert_fail(
        &run_phase(&h, &ctx),
        code::RUN_NOT_FOUND,
        "run r1 is not on the target",
    );
}

#[test]
fn p80_fetches_claimed_runs_and_reports_a_failed_copy() {
    let h = TestHost::new();
    std::fs::create_dir_all(h.local("/mnt/outputs/_sweep")).unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/status.sh"),
        crate::scripts::STATUS_SH,
    )
    .unwrap();
    std::fs::write(
        h.local("/mnt/outputs/_sweep/runs.tsv"),
        "r1\tx\nr2\tx\nr3\tx\n",
    )
    .unwrap();
    for id in ["r1", "r2"] {
        std::fs::create_dir_all(h.local(&format!("/mnt/outputs/runs/{id}/_wf/claim"))).unwrap();
        std::fs::write(
            h.local(&format!("/mnt/outputs/runs/{id}/_wf/exit_code")),
            "0\n",
        )
        .unwrap();
    }
    let mut ctx = h.ctx("P80");
    flag(&mut ctx, "fetch", "all");
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(
        o.fact("runs"),
        Some("r1,r2"),
        "pending runs are not fetched with --fetch all"
    );

    *h.fetch_error.borrow_mut() = Some((
        "r2".into(),
        GatewayError::Unreachable("ssh: connection refused".into()),
    ));
    let o = run_phase(&h, &ctx);
    assert_fail(&o, code::POD_UNREACHABLE_5XX, "ssh: connection refused");
    assert!(
        o.message.contains("--fetch all once the pod is reachable"),
        "{}",
        o.message
    );
    assert_eq!(o.fact("runs_fetched"), Some("1"));
    assert_eq!(o.fact("gateway_error"), Some("unreachable"));
}

// ====================================================================== P90

#[test]
fn p90_keeps_by_default() {
    let h = TestHost::new();
    let o = run_phase(&h, &h.ctx("P90"));
    assert_ok(&o);
    assert_eq!(o.fact("deleted"), Some("false"));
    assert!(o.message.contains("wfhost pod-delete --target pod-1"));
    assert!(h.deleted.borrow().is_empty());
}

#[test]
fn p90_deletes_on_request() {
    let h = TestHost::new();
    let mut ctx = h.ctx("P90");
    flag(&mut ctx, "teardown", "delete");
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(o.fact("deleted"), Some("true"));
    assert_eq!(*h.deleted.borrow(), vec!["pod-1".to_string()]);

    *h.delete_result.borrow_mut() = Some(Err(GatewayError::Vanished("no such pod".into())));
    let o = run_phase(&h, &ctx);
    assert_ok(&o);
    assert_eq!(
        (o.fact("deleted"), o.fact("already_gone")),
        (Some("true"), Some("true"))
    );

    *h.delete_result.borrow_mut() = Some(Err(GatewayError::Failed("api 500".into())));
    let o = run_phase(&h, &ctx);
    assert_fail(&o, code::TEARDOWN_FAILED, "api 500");
    assert!(o.message.contains("wfhost pod-delete --target pod-1 --yes"));
    assert_eq!(o.fact("deleted"), Some("false"));
}

// ====================================================================== details

#[test]
fn details_json_records_each_exec() {
    let h = TestHost::new();
    let o = run_phase(&h, &p40_ctx(&h, Some("echo hi >&2")));
    assert_ok(&o);
    let d = details(&o);
    assert_eq!(d["phase"], "P40");
    let steps = d["steps"].as_array().unwrap();
    assert!(steps
        .iter()
        .any(|s| s["step"] == "creating the evidence directories" && s["exit_code"] == 0));
    assert!(steps
        .iter()
        .any(|s| s["step"] == "BOOTSTRAP_SCRIPT" && s["stderr_tail"] == "hi\n"));
    assert!(steps
        .iter()
        .any(|s| s["step"] == "put-file" && s["mode"] == "600"));
}
