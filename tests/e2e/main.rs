//! End-to-end tests: the real `wfhost` binary, real processes, real git, stdin closed.

mod courts;
mod evidence;
mod fetch;
mod hardening;
mod hardening_ssh;
mod harness;
mod hostile_executor;
mod laws;
mod lium;
mod lium_safety;
mod lium_sim;
mod local_flow;
mod packs;
mod logs;
mod primitives;
mod progress;
mod read_commands;
mod report;
mod slurm;
mod ssh;
mod sweep_controls;
mod tasks;
