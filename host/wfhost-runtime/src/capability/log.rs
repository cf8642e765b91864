//! `wfhost:plugin/log`: a plugin's log lines, forwarded to
//! [`PluginHost::log`](crate::PluginHost::log).
//!
//! Store data that may log implements [`LogView`] (it names the host the lines go to);
//! [`add_to_linker`] links the interface for any such store, so a role whose store data does not
//! implement the view cannot be given the interface (it does not compile). Messages are cut to
//! [`MAX_LOG_MESSAGE`] bytes (on a character boundary) before they reach the host, so one call
//! cannot flood the flow's progress stream.

use crate::bindings::executor::wfhost::plugin::log;
use crate::host::PluginHost;
use wasmtime::component::{HasData, Linker};

/// Longest log message forwarded, in bytes.
pub(crate) const MAX_LOG_MESSAGE: usize = 16 * 1024;

/// Store data whose component may log.
pub(crate) trait LogView: Send {
    /// The host the component's log lines go to.
    fn log_host(&mut self) -> &dyn PluginHost;
}

/// `log::Host` over the host a [`LogView`] names.
pub(crate) struct LogCtx<'a>(&'a dyn PluginHost);

impl log::Host for LogCtx<'_> {
    fn emit(&mut self, level: log::Level, message: String) {
        self.0.log(level, truncate(&message, MAX_LOG_MESSAGE));
    }
}

struct Log;

impl HasData for Log {
    type Data<'a> = LogCtx<'a>;
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
pub(crate) fn add_to_linker<T: LogView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    log::add_to_linker::<T, Log>(linker, |state| LogCtx(state.log_host()))
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
