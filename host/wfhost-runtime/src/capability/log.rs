//! `wfhost:plugin/log`: a plugin's log lines, forwarded to
//! [`PluginHost::log`](crate::PluginHost::log).
//!
//! Messages are cut to [`MAX_LOG_MESSAGE`] bytes (on a character boundary) before they reach the
//! host, so one call cannot flood the flow's progress stream.

use crate::bindings::executor::wfhost::plugin::log;
use crate::store::HostState;
use wasmtime::component::{HasSelf, Linker};

/// Longest log message forwarded, in bytes.
pub(crate) const MAX_LOG_MESSAGE: usize = 16 * 1024;

impl log::Host for HostState {
    fn emit(&mut self, level: log::Level, message: String) {
        if let Some(host) = self.plugin_host() {
            host.log(level, truncate(&message, MAX_LOG_MESSAGE));
        }
    }
}

/// The longest prefix of `text` that fits in `max` bytes without splitting a character.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Link `wfhost:plugin/log`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("short", 100), "short");
    }
}
