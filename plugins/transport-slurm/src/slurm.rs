//! The operations of the slurm transport ([`Transport`]), over the [`Host`] capabilities.
//!
//! A "pod" of this transport is a Slurm submit host: this machine (`slurm://local`) or one
//! reached with OpenSSH (`slurm+ssh://user@host[:port]`), with the partition bound in the target
//! ([`crate::target`]). Commands, files and fetches go to the submit host through
//! [`wfhost_ssh_client::ssh::Ssh`]: over ssh with the ssh transport's settings and checks, or on
//! this machine through [`LocalShell`]. Remote paths are the submit host's own; the sweep's
//! outputs must be on a filesystem the compute nodes share. Every command gets `SLURM_CONF` when
//! the setting names one, so `sbatch`, `squeue`, `scontrol` and `scancel` read that cluster's
//! configuration.
//!
//! `status` asks the cluster, in one command ([`CHECK_SH`]): the controller answers
//! `scontrol ping` and the partition is up with nodes → `ready`, with the cluster's and the
//! partition's names; the controller does not answer → `starting` (P30 waits for it, up to
//! WF_POD_READY_TIMEOUT_SECS); SLURM_CONF missing, the partition unknown, down or without nodes
//! → `stopped`, the detail saying which; no Slurm client → `failed`.
//!
//! What this transport never does: create or delete a cluster or its submit host (`provision`
//! and `delete` fail saying what to do instead). Cancelling a sweep's own jobs is the executor's
//! work in P90 (`--teardown delete`), through `exec`.

use crate::local::{LocalShell, DESTINATION};
use crate::target::SlurmTarget;
use wfhost_pack_sdk::path::normalize_abs_path;
use wfhost_pack_sdk::transport::{
    CommandResult, ExecSpec, FetchSource, Host, PodIdentity, PodReport, PodState, Transport,
    TransportError,
};
use wfhost_ssh_client::ssh::Ssh;

/// Transport id.
pub const ID: &str = "slurm";
/// Setting: the slurm.conf path on the submit host, exported to every command as SLURM_CONF.
pub const SETTING_SLURM_CONF: &str = "SLURM_CONF";
/// Setting: the partition bound with the target when the target names none.
pub const SETTING_PARTITION: &str = "SLURM_PARTITION";
/// The variable the Slurm commands read their configuration path from.
pub const SLURM_CONF_ENV: &str = "SLURM_CONF";
/// `status`: the check command's time limit (a controller that is down makes `sinfo` retry).
pub const CHECK_TIMEOUT_MS: u64 = 60_000;

/// The cluster check of `status`: one line per fact, read by [`read_check`].
///
/// `noslurm` (no `scontrol`), `noconf PATH` (SLURM_CONF names no file: every client would
/// retry for a minute), `down TEXT` (`scontrol ping` says the controller is not up), else
/// `cluster NAME` and one `part NAME AVAIL NODES STATE` line per partition and node state
/// (`sinfo`; the default partition's name ends with `*`).
pub const CHECK_SH: &str = r#"command -v scontrol >/dev/null 2>&1 || { echo noslurm; exit 0; }
if [ -n "${SLURM_CONF:-}" ] && [ ! -f "$SLURM_CONF" ]; then printf 'noconf %s\n' "$SLURM_CONF"; exit 0; fi
ping=$(scontrol ping 2>&1)
case $ping in
  *' is UP'*) ;;
  *) printf 'down %s\n' "$(printf '%s' "$ping" | tr '\n' ' ')"; exit 0 ;;
esac
printf 'cluster %s\n' "$(scontrol show config 2>/dev/null | sed -n 's/^ClusterName *= *//p')"
sinfo -h -o 'part %P %a %D %T' 2>&1"#;

/// One partition as the check saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Partition {
    /// Its name.
    pub name: String,
    /// The cluster's default partition.
    pub default: bool,
    /// `up`, `down`, `drain` or `inact`.
    pub avail: String,
    /// Nodes in it.
    pub nodes: u64,
    /// The node states with their counts, as sinfo groups them (`1 idle`, `2 mixed`).
    pub states: Vec<String>,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No Slurm client on the submit host.
    NoSlurm,
    /// SLURM_CONF names a file that is not there.
    NoConf(String),
    /// The controller does not answer.
    Down(String),
    /// The controller answers.
    Up {
        /// ClusterName.
        cluster: String,
        /// Every partition.
        partitions: Vec<Partition>,
    },
}

/// Read the check's output.
pub fn read_check(stdout: &str) -> Result<Check, String> {
    let mut cluster = None;
    let mut partitions: Vec<Partition> = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "noslurm" => return Ok(Check::NoSlurm),
            "noconf" => return Ok(Check::NoConf(rest.to_string())),
            "down" => return Ok(Check::Down(rest.trim().to_string())),
            "cluster" if !rest.trim().is_empty() => cluster = Some(rest.trim().to_string()),
            "cluster" => return Err("scontrol show config names no ClusterName".into()),
            "part" => {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let [name, avail, nodes, state] = f[..] else {
                    return Err(format!("sinfo printed {line:?}"));
                };
                let nodes: u64 = nodes
                    .parse()
                    .map_err(|_| format!("sinfo printed {line:?}"))?;
                let default = name.ends_with('*');
                let name = name.trim_end_matches('*');
                match partitions.iter_mut().find(|p| p.name == name) {
                    Some(p) => {
                        p.nodes += nodes;
                        p.states.push(format!("{nodes} {state}"));
                    }
                    None => partitions.push(Partition {
                        name: name.to_string(),
                        default,
                        avail: avail.to_string(),
                        nodes,
                        states: vec![format!("{nodes} {state}")],
                    }),
                }
            }
            _ => return Err(format!("the cluster check printed {line:?}")),
        }
    }
    match cluster {
        Some(cluster) => Ok(Check::Up {
            cluster,
            partitions,
        }),
        None => Err("the cluster check printed nothing".into()),
    }
}

/// The `status` answer for `check` and the bound partition (`None`: the default one).
fn report(state: PodState, detail: String) -> PodReport {
    PodReport { state, detail }
}

/// The cluster check's answer as the target's state: `ready` when the controller answers and
/// the partition is up with nodes; `starting` while the controller does not answer; `stopped`
/// for a partition that is down, empty or missing, or a SLURM_CONF that does not exist.
pub fn judge(check: &Check, partition: Option<&str>) -> Result<PodReport, TransportError> {
    let (cluster, partitions) = match check {
        Check::NoSlurm => {
            return Err(TransportError::Failed(
                "the submit host has no Slurm client (scontrol is not on its PATH); install slurm-client there, or target a login node of the cluster".into(),
            ))
        }
        Check::NoConf(path) => {
            return Ok(report(PodState::Stopped, format!("SLURM_CONF={path} does not exist on the submit host; fix SLURM_CONF in the config or unset it to use the host's own slurm.conf"),
            ))
        }
        Check::Down(said) => {
            return Ok(report(PodState::Starting, format!("the Slurm controller does not answer (scontrol ping: {said})"),
            ))
        }
        Check::Up {
            cluster,
            partitions,
        } => (cluster, partitions),
    };
    let names = || {
        partitions
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match partition {
        Some(name) => partitions.iter().find(|p| p.name == name).ok_or_else(|| {
            format!("partition {name} does not exist on cluster {cluster} (partitions: {}); set SLURM_PARTITION to one of them", names())
        }),
        None => partitions.iter().find(|p| p.default).ok_or_else(|| {
            format!("cluster {cluster} has no default partition (partitions: {}); set SLURM_PARTITION", names())
        }),
    };
    let p = match found {
        Ok(p) => p,
        Err(detail) => return Ok(report(PodState::Stopped, detail)),
    };
    let which = if p.default { " (the default)" } else { "" };
    if p.avail != "up" {
        return Ok(report(PodState::Stopped, format!("partition {}{which} of cluster {cluster} is {}; ask the cluster's admins, or set SLURM_PARTITION to another one", p.name, p.avail),
        ));
    }
    if p.nodes == 0 {
        return Ok(report(PodState::Stopped, format!("partition {}{which} of cluster {cluster} has no nodes", p.name),
        ));
    }
    Ok(report(PodState::Ready, format!(
            "cluster {cluster}: the controller answers; partition {}{which} is up with {} node(s) ({})",
            p.name,
            p.nodes,
            p.states.join(", ")
        ),
    ))
}

/// The slurm transport bound to a host; its operations are its [`Transport`] implementation.
pub struct Slurm<'h, H: Host> {
    host: &'h H,
}

impl<'h, H: Host> Slurm<'h, H> {
    /// Wrap `host`.
    pub fn new(host: &'h H) -> Self {
        Slurm { host }
    }

    fn target(&self, raw: &str) -> Result<SlurmTarget, TransportError> {
        SlurmTarget::parse(raw, self.host.setting(SETTING_PARTITION).as_deref())
    }

    /// SLURM_CONF, checked: an absolute path on the submit host.
    fn slurm_conf(&self) -> Result<Option<String>, TransportError> {
        match self
            .host
            .setting(SETTING_SLURM_CONF)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
        {
            None => Ok(None),
            Some(p) => normalize_abs_path(&p).map(Some).map_err(|e| {
                TransportError::Invalid(format!(
                    "SLURM_CONF={p:?} is unusable ({e}); name the submit host's slurm.conf by an absolute path"
                ))
            }),
        }
    }

    /// Run `op` on the ssh client that reaches the submit host of `raw`, with the destination
    /// it knows the host by.
    fn on<R>(
        &self,
        raw: &str,
        op: impl FnOnce(&dyn Transport, &str) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let t = self.target(raw)?;
        match t.ssh_destination() {
            None => {
                let local = LocalShell::new(self.host);
                op(&Ssh::new(&local), DESTINATION)
            }
            Some(dest) => op(&Ssh::new(self.host), &dest),
        }
    }

    /// `spec` with SLURM_CONF added to its environment when the setting names a file.
    fn with_conf(&self, spec: &ExecSpec) -> Result<ExecSpec, TransportError> {
        let mut spec = spec.clone();
        if let Some(conf) = self.slurm_conf()? {
            spec.env.retain(|(k, _)| k != SLURM_CONF_ENV);
            spec.env.push((SLURM_CONF_ENV.to_string(), conf));
        }
        Ok(spec)
    }
}

impl<H: Host> Transport for Slurm<'_, H> {
    /// `id`.
    fn id(&self) -> String {
        ID.to_string()
    }

    /// `parse-target`: the normal form, carrying the partition.
    fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        self.target(target).map(|t| t.normalised())
    }

    /// `provision`: always fails; a cluster exists already.
    fn provision(
        &self,
        _name_hint: &str,
        _idempotency_key: &str,
    ) -> Result<PodIdentity, TransportError> {
        Err(TransportError::Failed(
            "the slurm transport creates nothing: the cluster exists already. Set LIUM_TARGET=slurm://local (this machine submits) or slurm+ssh://user@host (a login node), and use --provision skip".into(),
        ))
    }

    /// `status`: the cluster check (see the module documentation).
    fn status(&self, target: &str) -> Result<PodReport, TransportError> {
        let t = self.target(target)?;
        let spec = self.with_conf(&ExecSpec {
            command: CHECK_SH.to_string(),
            timeout_ms: CHECK_TIMEOUT_MS,
            ..ExecSpec::default()
        })?;
        let res = self.on(target, |s, d| s.exec(d, &spec))?;
        if res.timed_out {
            return Ok(report(PodState::Starting, format!(
                    "the Slurm commands on {} gave no answer within {} s",
                    t.normalised(),
                    CHECK_TIMEOUT_MS / 1000
                ),
            ));
        }
        if res.exit_code != Some(0) {
            return Err(TransportError::Failed(format!(
                "the cluster check on {} failed (exit {}): {}",
                t.normalised(),
                res.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                wfhost_pack_sdk::text::last_line(&res.stderr)
            )));
        }
        let check = read_check(&res.stdout).map_err(|e| {
            TransportError::Failed(format!(
                "the cluster check on {} is unreadable: {e}",
                t.normalised()
            ))
        })?;
        judge(&check, t.partition.as_deref())
    }

    /// `resolve-path`: the submit host's own paths; absolute normalised paths only.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
        self.on(target, |s, d| s.resolve_path(d, path))
    }

    /// `exec`: on the submit host, with SLURM_CONF.
    fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError> {
        let spec = self.with_conf(spec)?;
        self.on(target, |s, d| s.exec(d, &spec))
    }

    /// `put-file`.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), TransportError> {
        self.on(target, |s, d| s.put_file(d, path, contents, mode))
    }

    /// `get-file`.
    fn get_file(
        &self,
        target: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TransportError> {
        self.on(target, |s, d| s.get_file(d, path, max_bytes))
    }

    /// `fetch-command`: the ssh client's tar stream of the shared outputs; on the local submit
    /// host the same command through the local hop ([`crate::local::rewrite`]).
    fn fetch_command(&self, target: &str, remote_dir: &str) -> Result<FetchSource, TransportError> {
        let mut source = self.on(target, |s, d| s.fetch_command(d, remote_dir))?;
        if self.target(target)?.ssh_destination().is_none() {
            source.command = crate::local::rewrite(&source.command).map_err(TransportError::Failed)?;
        }
        Ok(source)
    }

    /// `fetch-ended`: judged by the ssh client, as every script's ending.
    fn fetch_ended(&self, target: &str, remote_dir: &str, ended: &CommandResult) -> Result<(), TransportError> {
        self.on(target, |s, d| s.fetch_ended(d, remote_dir, ended))
    }

    /// `check-config`: SLURM_CONF and the partition as a call reads them, and the ssh client's
    /// settings (for a submit host reached over ssh).
    fn check_config(&self) -> Result<(), TransportError> {
        self.slurm_conf()?;
        if let Some(p) = self.host.setting(SETTING_PARTITION).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
            SlurmTarget::parse("slurm://local", Some(&p))?;
        }
        Ssh::new(self.host).check_config()
    }

    /// `delete`: always refused; the cluster and its submit host stay.
    fn delete(&self, target: &str) -> Result<(), TransportError> {
        let t = self.target(target)?.normalised();
        Err(TransportError::Failed(format!(
            "the slurm transport never deletes a cluster or its submit host: {t} was left as it is. A flow's own jobs are cancelled by P90 with --teardown delete"
        )))
    }
}

#[cfg(test)]
mod tests;
