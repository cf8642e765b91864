//! P50 CHECKOUT: REPO_URL at REPO_REF in REMOTE_REPO_DIR on the pod, then CHECKOUT_CHECKS.
//!
//! 1. clone (`git clone --no-checkout`) when the directory has no checkout, else point `origin`
//!    at REPO_URL and `git fetch --all --tags`;
//! 2. a checkout with local changes (`git status --porcelain`) fails with 302 unless
//!    CHECKOUT_FORCE_CLEAN=1, which resets it (`git reset --hard`, `git clean -fdx`);
//! 3. REPO_REF resolves as `origin/<ref>` first (branches, and `HEAD` = the remote default
//!    branch), then as `<ref>` (tags, commits); not found is 304;
//! 4. `git checkout --detach <commit>`;
//! 5. each CHECKOUT_CHECKS command (split on `;;`, trimmed) runs in the checkout; a non-zero
//!    exit is 303 naming the check.
//!
//! git runs non-interactively (GIT_TERMINAL_PROMPT=0, ssh BatchMode; the host closes stdin).
//! Facts: `repo_url`, `ref`, `commit`, `checks_run`, `repo_dir`, `checkout` (cloned|fetched),
//! `forced_clean` when a reset happened.

use super::remote_path;
use crate::context::{config, Defaults, PhaseContext};
use crate::host::{ActionClass, Host, Level};
use crate::outcome::{check_exit, code, first_chars, Act, Failure, Outcome, PhaseResult, Status};
use wfhost_pack_sdk::kv::parse_bool;
use wfhost_pack_sdk::shell::shell_quote;
use wfhost_pack_sdk::text::last_line;

const GIT_TIMEOUT_MS: u64 = 1_800_000;
const QUICK_TIMEOUT_MS: u64 = 60_000;
const GIT_ENV: [(&str, &str); 2] = [
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
];

/// Run P50.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::CHECKOUT_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

/// The CHECKOUT_CHECKS commands: split on `;;`, trimmed, empty ones dropped.
pub fn split_checks(raw: &str) -> Vec<String> {
    raw.split(";;")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// A ref git can be asked about safely: non-empty, no leading `-`, no whitespace or control
/// characters.
pub fn ref_is_sane(r: &str) -> bool {
    !r.is_empty() && !r.starts_with('-') && !r.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let url = act
        .ctx
        .input("repo_url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .or_else(|| act.ctx.config("REPO_URL"))
        .ok_or_else(|| {
            Failure::new(
                code::CHECKOUT_FAILED,
                "REPO_URL is empty: set it in the config, or run with --sweep skip",
            )
        })?
        .to_string();
    let git_ref = act.ctx.value(config::REPO_REF).to_string();
    let dir = remote_path(
        act.ctx,
        config::REMOTE_REPO_DIR,
        code::CHECKOUT_FAILED,
    )?;
    act.facts.set("repo_url", &url);
    act.facts.set("ref", &git_ref);
    act.facts.set("repo_dir", &dir);
    if !ref_is_sane(&git_ref) {
        return Err(Failure::new(
            code::REF_NOT_FOUND,
            format!(
                "REPO_REF={git_ref:?} is not a usable git ref; set it to a branch, tag or commit"
            ),
        ));
    }
    let dir_r = act.resolve(&dir)?;
    let q = shell_quote(&dir_r);
    let git = format!("git -C {q}");

    // What is there now?
    let probe = format!(
        "if [ -d {q}/.git ]; then if [ -f {q}/.git/index ]; then echo checked-out; else echo cloned; fi; \
         elif [ -e {q} ] && [ -n \"$(ls -A {q} 2>/dev/null)\" ]; then echo occupied; else echo absent; fi"
    );
    let state = act.exec_ok(
        "inspecting the checkout directory",
        &probe,
        None,
        &[],
        QUICK_TIMEOUT_MS,
        ActionClass::Read,
        code::CHECKOUT_FAILED,
        "check the pod",
    )?;
    let state = state.stdout.trim().to_string();
    match state.as_str() {
        "absent" => {
            act.log(Level::Info, &format!("cloning {url} into {dir}"));
            let parent = dir_r.rsplit_once('/').map(|(p, _)| if p.is_empty() { "/" } else { p }).unwrap_or("/");
            let clone = format!(
                "mkdir -p {} && git clone --no-checkout -- {} {q}",
                shell_quote(parent),
                shell_quote(&url)
            );
            act.exec_ok("git clone", &clone, None, &GIT_ENV, GIT_TIMEOUT_MS, ActionClass::WriteInternal, code::CHECKOUT_FAILED,
                "check that REPO_URL is reachable from the pod and rerun with --provision skip")?;
            act.facts.set("checkout", "cloned");
        }
        "cloned" | "checked-out" => {
            act.log(Level::Info, &format!("fetching {url} into the existing checkout {dir}"));
            let fetch = format!(
                "{{ {git} remote set-url origin {u} 2>/dev/null || {git} remote add origin {u}; }} && {git} fetch --all --tags",
                u = shell_quote(&url)
            );
            act.exec_ok("git fetch", &fetch, None, &GIT_ENV, GIT_TIMEOUT_MS, ActionClass::WriteInternal, code::CHECKOUT_FAILED,
                "check that REPO_URL is reachable from the pod and rerun with --provision skip")?;
            act.facts.set("checkout", "fetched");
        }
        "occupied" => {
            return Err(Failure::new(
                code::CHECKOUT_FAILED,
                format!("{dir} (REMOTE_REPO_DIR) exists on the pod and is not a git checkout; remove it or point REMOTE_REPO_DIR elsewhere"),
            ))
        }
        other => {
            return Err(Failure::new(code::CHECKOUT_FAILED, format!("could not inspect {dir} on the pod (it answered {other:?})")))
        }
    }

    // A checkout that was used before must be clean, or be cleaned on request.
    if state == "checked-out" {
        let st = act.exec_ok(
            "git status",
            &format!("{git} status --porcelain"),
            None,
            &GIT_ENV,
            QUICK_TIMEOUT_MS,
            ActionClass::Read,
            code::CHECKOUT_FAILED,
            "inspect the checkout on the pod",
        )?;
        let dirty: Vec<&str> = st.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        if !dirty.is_empty() {
            let shown = dirty
                .iter()
                .take(3)
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(", ");
            let force = act
                .ctx
                .config("CHECKOUT_FORCE_CLEAN")
                .and_then(parse_bool)
                .unwrap_or(false);
            if !force {
                return Err(Failure::new(
                    code::CHECKOUT_DIRTY,
                    format!("the checkout {dir} has {} local change(s) ({shown}); inspect it on the pod, or set CHECKOUT_FORCE_CLEAN=1 to discard them", dirty.len()),
                ));
            }
            act.log(
                Level::Warn,
                &format!(
                    "CHECKOUT_FORCE_CLEAN=1: discarding {} local change(s) in {dir}",
                    dirty.len()
                ),
            );
            act.exec_ok(
                "git reset --hard and git clean -fdx",
                &format!("{git} reset --hard && {git} clean -fdx"),
                None,
                &GIT_ENV,
                GIT_TIMEOUT_MS,
                ActionClass::WriteInternal,
                code::CHECKOUT_FAILED,
                "inspect the checkout on the pod",
            )?;
            act.facts.set("forced_clean", "true");
        }
    }

    // Resolve the ref: origin/<ref> (branches, HEAD), then <ref> (tags, commits).
    let resolve = format!(
        "{git} rev-parse --verify --quiet {} || {git} rev-parse --verify --quiet {}",
        shell_quote(&format!("origin/{git_ref}^{{commit}}")),
        shell_quote(&format!("{git_ref}^{{commit}}"))
    );
    let res = act.exec(
        "resolving REPO_REF",
        &resolve,
        None,
        &GIT_ENV,
        QUICK_TIMEOUT_MS,
        ActionClass::Read,
    )?;
    let commit = res
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| is_object_id(l))
        .map(str::to_string);
    let commit = match (res.timed_out, commit) {
        (false, Some(c)) if res.exit_code == Some(0) => c,
        (true, _) => return Err(Failure::new(code::CHECKOUT_FAILED, "resolving REPO_REF timed out; check the checkout on the pod")),
        _ => {
            return Err(Failure::new(
                code::REF_NOT_FOUND,
                format!("REPO_REF={git_ref} is not a branch, tag or commit of {url}; set REPO_REF to one that exists"),
            ))
        }
    };
    act.facts.set("commit", &commit);
    act.exec_ok(
        "git checkout",
        &format!("{git} checkout --quiet --detach {commit}"),
        None,
        &GIT_ENV,
        GIT_TIMEOUT_MS,
        ActionClass::WriteInternal,
        code::CHECKOUT_FAILED,
        "inspect the checkout on the pod (CHECKOUT_FORCE_CLEAN=1 discards local changes)",
    )?;

    // The contract checks.
    let checks = split_checks(act.ctx.config("CHECKOUT_CHECKS").unwrap_or(""));
    act.facts.set("checks_run", 0);
    for (i, check) in checks.iter().enumerate() {
        let step = format!(
            "check {} of {} `{}`",
            i + 1,
            checks.len(),
            first_chars(check, 80)
        );
        act.log(Level::Info, &format!("running {step}"));
        let res = act.exec(
            &step,
            check,
            Some(&dir),
            &[("WF_REPO_DIR", &dir_r)],
            GIT_TIMEOUT_MS,
            ActionClass::WriteInternal,
        )?;
        if let Err(f) = check_exit(
            &step,
            &res,
            GIT_TIMEOUT_MS,
            code::CHECKOUT_CHECK_FAILED,
            "read its output in the phase evidence and fix the repo or the pod",
        ) {
            let detail = if res.stderr.trim().is_empty() {
                last_line(&res.stdout)
            } else {
                last_line(&res.stderr)
            };
            return Err(Failure::new(
                f.code,
                format!("{} (last output: {detail})", f.message),
            ));
        }
        act.facts.set("checks_run", i + 1);
    }
    let short = &commit[..12.min(commit.len())];
    Ok((
        Status::Ok,
        format!(
            "checked out {url} at {git_ref} ({short}) in {dir}; {} check(s) passed",
            checks.len()
        ),
    ))
}
