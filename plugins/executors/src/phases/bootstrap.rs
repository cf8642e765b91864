//! P40 BOOTSTRAP: the evidence directories under OUT, the config copy at REMOTE_ENV_PATH
//! (mode 0600), and BOOTSTRAP_SCRIPT when given (written to OUT/_control/bootstrap.sh and run
//! with `sh` in OUT/_control, with WF_OUTPUTS_DIR and WF_ENV_FILE set to the resolved paths).
//! It records the pod's GPUs ([`crate::gpus`]) and checks APT_PACKAGES: the missing ones are
//! installed with apt-get when AUTO_INSTALL_PREREQS=1 (non-interactive, bounded by
//! WF_BOOTSTRAP_TIMEOUT_SECS), else P40 fails naming them.
//! Facts: `bootstrap_script` (none|ran), `remote_env_path`, `outputs_dir`, `gpus`, `gpu_count`,
//! `gpus_source`, and with APT_PACKAGES `apt_packages`, `apt_missing`, `apt_installed`.

use super::remote_path;
use crate::context::{config, Defaults, PhaseContext};
use crate::host::{ActionClass, Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use wfhost_pack_sdk::path::join;
use wfhost_pack_sdk::shell::shell_join;

const MKDIR_TIMEOUT_MS: u64 = 60_000;

/// Run P40.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::BOOTSTRAP_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let out = remote_path(
        act.ctx,
        config::OPS_REMOTE_OUTPUTS_DIR,
        code::BOOTSTRAP_FAILED,
    )?;
    let env_path = remote_path(
        act.ctx,
        config::REMOTE_ENV_PATH,
        code::BOOTSTRAP_FAILED,
    )?;
    let config_text = act.ctx.input("config_text").ok_or_else(|| {
        Failure::new(
            code::BOOTSTRAP_FAILED,
            "the host gave no config_text to copy to the pod; this is a wfhost bug, report it",
        )
    })?;
    act.facts.set("outputs_dir", &out);
    act.facts.set("remote_env_path", &env_path);
    act.facts.set("bootstrap_script", "none");

    let out_r = act.resolve(&out)?;
    let dirs: Vec<String> = ["_control", "_manifests", "_sweep", "runs"]
        .iter()
        .map(|d| join(&out_r, d))
        .collect();
    let mkdir = format!("mkdir -p {}", shell_join(&dirs));
    act.exec_ok(
        "creating the evidence directories",
        &mkdir,
        None,
        &[],
        MKDIR_TIMEOUT_MS,
        ActionClass::WriteInternal,
        code::BOOTSTRAP_FAILED,
        &format!("check that {out} (OPS_REMOTE_OUTPUTS_DIR) is writable on the pod"),
    )?;
    act.put(&env_path, config_text.as_bytes(), 0o600)?;
    let gpus = crate::gpus::detect(act)?;
    gpus.record(act);
    let timeout_s = act.ctx.secs(act.host, config::WF_BOOTSTRAP_TIMEOUT_SECS);
    prerequisites(act, timeout_s)?;

    let script = act.ctx.input("bootstrap_script").unwrap_or("");
    if script.trim().is_empty() {
        return Ok((
            Status::Ok,
            format!("bootstrapped {out}; config copied to {env_path}; no BOOTSTRAP_SCRIPT"),
        ));
    }
    let control = join(&out, "_control");
    act.put(&join(&control, "bootstrap.sh"), script.as_bytes(), 0o700)?;
    let env_r = act.resolve(&env_path)?;
    act.log(
        Level::Info,
        &format!("running BOOTSTRAP_SCRIPT on the pod (limit {timeout_s} s)"),
    );
    act.exec_ok(
        "BOOTSTRAP_SCRIPT",
        "sh bootstrap.sh",
        Some(&control),
        &[("WF_OUTPUTS_DIR", &out_r), ("WF_ENV_FILE", &env_r)],
        timeout_s.saturating_mul(1000),
        ActionClass::WriteInternal,
        code::BOOTSTRAP_FAILED,
        "read its output in the phase evidence, fix BOOTSTRAP_SCRIPT and rerun with --provision skip",
    )?;
    act.facts.set("bootstrap_script", "ran");
    Ok((
        Status::Ok,
        format!("bootstrapped {out}; config copied to {env_path}; BOOTSTRAP_SCRIPT ran"),
    ))
}

/// The shell that prints `missing <package>` for each of `packages` dpkg does not report
/// installed; exits 3 on a target without apt-get and dpkg-query.
fn missing_command(packages: &[String]) -> String {
    format!(
        "command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 || \
         {{ echo 'the target has no apt-get and dpkg-query (APT_PACKAGES needs a Debian or Ubuntu image)' >&2; exit 3; }}\n\
         for p in {}; do\n  \
           case $(dpkg-query -W -f='${{Status}}' \"$p\" 2>/dev/null) in *' ok installed') ;; *) printf 'missing %s\\n' \"$p\" ;; esac\n\
         done",
        shell_join(packages)
    )
}

/// The shell that installs `packages` with apt-get, non-interactively (as root, else through
/// `sudo -n`): `apt-get update`, then `apt-get install -y --no-install-recommends`, keeping the
/// configuration files a package finds.
fn install_command(packages: &[String]) -> String {
    format!(
        "if [ \"$(id -u)\" = 0 ]; then as=; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as='sudo -n'; \
         else echo 'installing packages needs root or passwordless sudo on the target' >&2; exit 3; fi\n\
         $as env DEBIAN_FRONTEND=noninteractive apt-get -q update || exit $?\n\
         $as env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
         -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {}",
        shell_join(packages)
    )
}

/// APT_PACKAGES: find the ones the target lacks; with AUTO_INSTALL_PREREQS=1 install them
/// (each command bounded by `timeout_s`), else fail naming them. A failed install fails P40
/// with 300. Facts: `apt_packages`, `apt_missing`, `apt_installed`.
fn prerequisites<H: Host>(act: &mut Act<'_, H>, timeout_s: u64) -> Result<(), Failure> {
    let packages: Vec<String> = act
        .ctx
        .config("APT_PACKAGES")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    if packages.is_empty() {
        return Ok(());
    }
    act.facts.set("apt_packages", packages.join(" "));
    let res = act.exec_ok(
        "checking APT_PACKAGES",
        &missing_command(&packages),
        None,
        &[],
        MKDIR_TIMEOUT_MS,
        ActionClass::Read,
        code::BOOTSTRAP_FAILED,
        "use a Debian or Ubuntu image, or remove APT_PACKAGES",
    )?;
    let missing: Vec<String> = res
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("missing "))
        .map(|p| p.trim().to_string())
        .filter(|p| packages.contains(p))
        .collect();
    act.facts.set("apt_missing", missing.join(" "));
    act.facts.set("apt_installed", "");
    if missing.is_empty() {
        return Ok(());
    }
    let auto = act
        .ctx
        .config("AUTO_INSTALL_PREREQS")
        .and_then(wfhost_pack_sdk::kv::parse_bool)
        .unwrap_or(false);
    if !auto {
        return Err(Failure::new(
            code::BOOTSTRAP_FAILED,
            format!(
                "the target lacks {} (APT_PACKAGES); install them, or set AUTO_INSTALL_PREREQS=1 to let P40 install them, then rerun with --provision skip",
                missing.join(" ")
            ),
        ));
    }
    act.log(
        Level::Info,
        &format!("installing {} with apt-get (limit {timeout_s} s)", missing.join(" ")),
    );
    act.exec_ok(
        &format!("installing {} with apt-get", missing.join(" ")),
        &install_command(&missing),
        None,
        &[],
        timeout_s.saturating_mul(1000),
        ActionClass::WriteInternal,
        code::BOOTSTRAP_FAILED,
        "read apt-get's output in the phase evidence, fix the package names or the image's sources, then rerun with --provision skip",
    )?;
    act.facts.set("apt_installed", missing.join(" "));
    Ok(())
}
