//! `wfhost:plugin/settings`: read-only, non-secret settings, forwarded to
//! [`PluginHost::setting`](crate::PluginHost::setting).
//!
//! Store data that may read settings implements [`SettingsView`]; [`add_to_linker`] links the
//! interface for any such store.

use crate::bindings::executor::wfhost::plugin::settings;
use crate::host::PluginHost;
use wasmtime::component::{HasData, Linker};

/// Store data whose component may read settings.
pub(crate) trait SettingsView: Send {
    /// The host that answers setting lookups.
    fn settings_host(&mut self) -> &dyn PluginHost;
}

/// `settings::Host` over the host a [`SettingsView`] names.
pub(crate) struct SettingsCtx<'a>(&'a dyn PluginHost);

impl settings::Host for SettingsCtx<'_> {
    fn get(&mut self, key: String) -> Option<String> {
        self.0.setting(&key)
    }
}

struct Settings;

impl HasData for Settings {
    type Data<'a> = SettingsCtx<'a>;
}

/// Link `wfhost:plugin/settings`.
pub(crate) fn add_to_linker<T: SettingsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    settings::add_to_linker::<T, Settings>(linker, |state| SettingsCtx(state.settings_host()))
}
