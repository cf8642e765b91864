//! The built-in phase executors (world `executor`): one component serving P10, P30, P40, P50,
//! P60, P70, P75 (tracked tasks, under `_tasks/`), P80 and P90.
//!
//! Data flow: the host calls `run-phase(ctx)`; the WIT glue (`glue`, wasm32 only: the SDK's
//! [`export_executor!`](wfhost_pack_sdk::export_executor)) converts the context (its flags
//! typed) into [`context::PhaseContext`] and hands [`phases::Builtin`], and so
//! [`phases::run_phase`], a [`host::Host`] backed by the `gateway`, `settings` and `log`
//! imports. Each phase module acts on `ctx.target` through an [`outcome::Act`] (every exec
//! recorded with its output tails) and returns an
//! [`outcome::Outcome`] with a status, a code from `constitution/codes.toml`, a one-line
//! message, facts, artifacts and `details-json`.
//!
//! Remote layout (see the remote-layout contract): under OUT = OPS_REMOTE_OUTPUTS_DIR, P40
//! creates `_control/`, `_manifests/`, `_sweep/`, `runs/`; P60 writes `_manifests/` (the
//! manifest, config copy, `flow-<id>.json`), `_sweep/runs.tsv` (`run_id<TAB>runs/<id>/_wf/cmd.sh`,
//! relative to OUT), `_sweep/manifest.sha256`, `_sweep/runner.sh` and `_sweep/status.sh`
//! ([`scripts`]), `_sweep/options` (the run time limit, the target's GPUs and the GPUs per
//! run), and each unclaimed run's `runs/<id>/_wf/cmd.sh`; the host itself writes
//! `_control/run-secrets.env` (WF_RUN_SECRETS, mode 0600) just before P60. The runner claims
//! runs with `mkdir runs/<id>/_wf/claim` and records `pid`, `started_at`, `ended_at`,
//! `exit_code`, and where the options ask, `deadline`, `timed_out`, `gpu_slot` and `gpus`.
//! Commands always use paths resolved with `gateway.resolve-path`; file transfers use the
//! remote paths (the transport resolves them).
//!
//! A transport whose profile declares the executor setting `WF_SWEEP_BACKEND = "slurm"` gets the
//! sweep run as Slurm job arrays instead ([`phases::slurm_array`], [`slurm`]): P60 submits one
//! array with `sbatch --array`, whose tasks claim their runs as the runner does, and the Slurm
//! status script installed as `_sweep/status.sh` answers P70, P80 and `wfhost sweep-status`.
//!
//! Everything except the glue compiles and is tested on the host target.

pub mod context;
pub mod gpus;
pub mod host;
pub mod outcome;
pub mod phases;
pub mod scripts;
pub mod slurm;
pub mod status;

#[cfg(target_arch = "wasm32")]
mod glue;
