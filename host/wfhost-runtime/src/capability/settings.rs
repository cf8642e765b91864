//! `wfhost:plugin/settings`: read-only, non-secret settings, forwarded to
//! [`PluginHost::setting`](crate::PluginHost::setting).

use crate::bindings::executor::wfhost::plugin::settings;
use crate::store::HostState;
use wasmtime::component::{HasSelf, Linker};

impl settings::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.plugin_host().and_then(|host| host.setting(&key))
    }
}

/// Link `wfhost:plugin/settings`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    settings::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
