//! `wfhost:plugin/memo`: a small memory a transport keeps for the flow, forwarded to the
//! [`Memo`] its [`TransportHost`](crate::TransportHost) holds.
//!
//! Only store data implementing [`MemoView`] can be given the interface, and only the
//! transport's does. A [`Memo`] is bounded ([`MAX_ENTRIES`] keys of at most [`MAX_KEY_BYTES`],
//! values of at most [`MAX_VALUE_BYTES`]), lives in host memory for as long as its owner (the
//! flow's transport host) and is never written anywhere. A host that keeps none answers `get`
//! with nothing and refuses `set`.

use crate::bindings::transport::wfhost::plugin::memo;
use crate::host::TransportHost;
use std::collections::BTreeMap;
use std::sync::Mutex;
use wasmtime::component::{HasData, Linker};

/// Most keys a memo holds.
pub const MAX_ENTRIES: usize = 64;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// A bounded key/value memory, shared by every call of one transport in one flow.
#[derive(Debug, Default)]
pub struct Memo {
    entries: Mutex<BTreeMap<String, String>>,
}

impl Memo {
    /// An empty memo.
    pub fn new() -> Memo {
        Memo::default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().get(key).cloned()
    }

    /// Store `value` under `key`; refused (saying which bound) when the key or value is too long,
    /// or when a new key would make more than [`MAX_ENTRIES`].
    pub fn set(&self, key: &str, value: &str) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(format!("memo key of {} bytes refused: keys are 1 to {MAX_KEY_BYTES} bytes", key.len()));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("memo value of {} bytes under {key:?} refused: values are at most {MAX_VALUE_BYTES} bytes", value.len()));
        }
        let mut entries = self.lock();
        if !entries.contains_key(key) && entries.len() >= MAX_ENTRIES {
            return Err(format!("memo key {key:?} refused: the memo holds {MAX_ENTRIES} keys already"));
        }
        entries.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A poisoned lock only means another call panicked mid-update; the map is still whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Store data whose component may keep a memo.
pub(crate) trait MemoView: Send {
    /// The host that holds the memo.
    fn memo_host(&mut self) -> &dyn TransportHost;
}

/// `memo::Host` over the host a [`MemoView`] names.
pub(crate) struct MemoCtx<'a>(&'a dyn TransportHost);

impl memo::Host for MemoCtx<'_> {
    fn get(&mut self, key: String) -> Option<String> {
        self.0.memo().and_then(|m| m.get(&key))
    }

    fn set(&mut self, key: String, value: String) -> Result<(), String> {
        match self.0.memo() {
            Some(m) => m.set(&key, &value),
            None => Err("this host keeps no memo".to_string()),
        }
    }
}

struct MemoData;

impl HasData for MemoData {
    type Data<'a> = MemoCtx<'a>;
}

/// Link `wfhost:plugin/memo`.
pub(crate) fn add_to_linker<T: MemoView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    memo::add_to_linker::<T, MemoData>(linker, |state| MemoCtx(state.memo_host()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_keeps_short_strings_within_its_bounds() {
        let m = Memo::new();
        assert_eq!(m.get("pod"), None);
        m.set("pod", "root@10.0.0.5:2222").unwrap();
        m.set("pod", "root@10.0.0.6:22").unwrap();
        assert_eq!(m.get("pod").as_deref(), Some("root@10.0.0.6:22"));
        assert!(m.set("", "x").unwrap_err().contains("1 to 128 bytes"));
        assert!(m.set(&"k".repeat(MAX_KEY_BYTES + 1), "x").is_err());
        assert!(m.set("big", &"v".repeat(MAX_VALUE_BYTES + 1)).unwrap_err().contains("at most 4096"));
        m.set("big", &"v".repeat(MAX_VALUE_BYTES)).unwrap();
        for i in m.len()..MAX_ENTRIES {
            m.set(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(m.len(), MAX_ENTRIES);
        assert!(m.set("one-more", "v").unwrap_err().contains("64 keys"));
        m.set("pod", "replacing an existing key is fine").unwrap();
    }
}
