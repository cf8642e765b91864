//! The built-in constitutional auditor (world `auditor`).
//!
//! The host hands the auditor one phase's evidence pack and the texts of the laws applicable to
//! it; the auditor answers pass, fail (with violated law IDs, evidence references, one reason per
//! finding and a remediation sentence) or unverified. It has no capabilities at all.
//!
//! Data flow: the WIT glue ([`glue`], wasm32 only) copies the WIT `audit-request` into the plain
//! [`model::AuditRequest`], [`rules::audit`] judges it against the embedded constitution tables
//! ([`table`]) and returns an SDK `VerdictParts`, which the glue copies back into a WIT `verdict`.
//! Everything except the glue compiles and is tested on the host target.

pub mod model;
pub mod rules;
pub mod table;

#[cfg(target_arch = "wasm32")]
mod glue;

/// What `describe` reports: auditor name, version and the constitution version it implements.
pub fn description() -> String {
    format!(
        "wfhost-auditor-constitution {} (constitution v{})",
        env!("CARGO_PKG_VERSION"),
        rules::CONSTITUTION_VERSION
    )
}
