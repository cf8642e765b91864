//! End-to-end tests: the real `wfhost` binary, real processes, real git, stdin closed.

mod courts;
mod evidence;
mod hardening;
mod hardening_ssh;
mod harness;
mod hostile_executor;
mod laws;
mod local_flow;
mod primitives;
mod ssh;
