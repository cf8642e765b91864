//! The phase context as plain Rust, with typed access to flags, config, inputs and settings.
//!
//! The host has applied config defaults already; the fallbacks here only guard against a host
//! that did not (they are the documented defaults of remote-layout).

use crate::host::{Host, Kv};
use wfhost_pack_sdk::kv::{get, get_or};

/// `phase-context`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhaseContext {
    /// Flow ID.
    pub flow_id: String,
    /// `P10` ... `P90`.
    pub phase: String,
    /// Flow flags (`provision`, `sweep`, `wait`, `fetch`, `teardown`).
    pub flow_flags: Vec<Kv>,
    /// Non-secret config.
    pub config: Vec<Kv>,
    /// The bound target (`None` before P20).
    pub target: Option<String>,
    /// Remote FSM state before the phase.
    pub fsm_state: String,
    /// Extra inputs prepared by the host.
    pub inputs: Vec<Kv>,
}

impl PhaseContext {
    /// A flag value, trimmed (`None` when absent).
    pub fn flag(&self, key: &str) -> Option<&str> {
        get(&self.flow_flags, key).map(str::trim)
    }

    /// A config value, trimmed, or `default` when absent or empty.
    pub fn config_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        get_or(&self.config, key, default).trim()
    }

    /// A config value, trimmed, `None` when absent or empty.
    pub fn config(&self, key: &str) -> Option<&str> {
        get(&self.config, key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// An input (untrimmed: inputs are file contents), `None` when absent.
    pub fn input(&self, key: &str) -> Option<&str> {
        get(&self.inputs, key)
    }

    /// A positive number of seconds from the setting `key`, else the config `key`, else
    /// `default`. A value that is not a positive integer is ignored with a warning.
    pub fn secs<H: Host>(&self, host: &H, key: &str, default: u64) -> u64 {
        let from_setting = host.setting(key);
        let raw = from_setting
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .or_else(|| self.config(key));
        match raw {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    host.log(
                        crate::host::Level::Warn,
                        &format!(
                            "{key}={v:?} is not a positive number of seconds; using {default}"
                        ),
                    );
                    default
                }
            },
        }
    }
}
