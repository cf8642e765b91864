//! The ops constitution as this crate enforces it.
//!
//! `constitution/ops.toml` (the envelope members and their types, the event types, actor kinds,
//! action classes, the event-ID rule, the chain and the canonical order) is read and
//! cross-checked by `wfhost_constitution::ops`, which every list here comes from. This module
//! adds the one check only the evidence crate can make: that its [`crate::Envelope`] struct has
//! exactly the members the file declares. [`get`] runs it once, before the first record is
//! appended or verified, so the code and the normative text in `constitution/ops.md` cannot
//! drift.

use std::sync::OnceLock;
pub use wfhost_constitution::ops::*;

/// The embedded ops constitution, checked against the envelope struct once per process.
pub(crate) fn get() -> Result<&'static Ops, &'static OpsError> {
    static CHECKED: OnceLock<Result<(), OpsError>> = OnceLock::new();
    let ops = Ops::get()?;
    match CHECKED.get_or_init(|| checked(ops)) {
        Ok(()) => Ok(ops),
        Err(e) => Err(e),
    }
}

/// Whether the envelope struct has exactly the members `ops` declares.
fn checked(ops: &Ops) -> Result<(), OpsError> {
    crate::envelope::check_struct_matches(ops).map_err(OpsError::Inconsistent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_ops_file_matches_the_envelope_struct() {
        assert!(get().is_ok(), "{:?}", get().err());
    }

    #[test]
    fn a_member_the_envelope_struct_does_not_have_is_refused() {
        let from = "name = \"causation_id\"";
        assert!(OPS_TOML.contains(from), "fixture text {from:?} not in ops.toml");
        let ops = Ops::parse(&OPS_TOML.replacen(from, "name = \"causation_ref\"", 1))
            .expect("the file alone is consistent");
        assert!(matches!(
            checked(&ops),
            Err(OpsError::Inconsistent(m)) if m.contains("causation")
        ));
    }
}
