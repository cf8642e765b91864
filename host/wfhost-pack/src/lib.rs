//! wfhost packs: how third parties ship transports, executors and auditors.
//!
//! A pack is a directory with a manifest (`pack.json`), its WebAssembly components and, when it
//! is signed, `pack.sig.json`. This crate owns everything about a pack that needs no WebAssembly
//! engine (the runtime checks and precompiles components when a pack is added, in
//! `wfhost-flow`):
//!
//! ```text
//! manifest  pack.json ─► Manifest (schema docs/schemas/pack-manifest.schema.json, strict, every
//!           refusal naming the member) ─► identity = sha256 of its RFC 8785 canonical JSON
//! signing   Manifest + ed25519 key ─► pack.sig.json (in-toto Statement in DSSE, over the
//!           identity); check + TrustPolicy (WF_REQUIRE_SIGNED_PACKS, WF_PACK_TRUSTED_KEYS)
//! settings  config / environment ─► the store directory (WF_PACK_STORE) and the trust policy
//! store     read_pack (digests) ─► Store::install (objects/<identity>, then a pack.installed
//!           record in the hash-chained pack log) ─► Store::resolve (spec ─► component bytes,
//!           re-checked) ─► Store::remove (a pack.removed record; history stays)
//! spec      `id`, `id@version`, `id#identity` as a config names a pack
//! scaffold  the project templates of `wfhost pack new`
//! ```

#![warn(missing_docs)]

pub mod manifest;
pub mod scaffold;
pub mod settings;
pub mod signing;
pub mod spec;
pub mod store;

pub use manifest::{Capabilities, Component, Manifest, ManifestError, Role, MANIFEST_FILE, SIGNATURE_FILE};
pub use settings::PackSettings;
pub use signing::{SignatureCheck, SignatureError, TrustPolicy};
pub use spec::{PackSpec, Pin};
pub use store::{read_pack, InstallOutcome, Installed, PackError, ResolvedComponent, Staged, Store};
