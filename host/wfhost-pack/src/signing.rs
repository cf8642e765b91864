//! Pack signatures and the trust policy.
//!
//! ```text
//! sign:   Manifest ─► in-toto Statement {subject: pack:<id>@<version>, digest.sha256 = identity,
//!                     predicateType PACK_PREDICATE, predicate {id, version}}
//!                  ─► DSSE envelope (ed25519, wfhost_evidence::dsse) ─► pack.sig.json
//! check:  pack.sig.json + Manifest + trusted keys ─► SignatureCheck (unsigned, verified by a
//!                     trusted key, signed by keys none of which is trusted) or a refusal (a
//!                     signature by a trusted key that does not verify, a statement about
//!                     another manifest)
//! admit:  TrustPolicy (WF_REQUIRE_SIGNED_PACKS, WF_PACK_TRUSTED_KEYS) decides on a
//!                     SignatureCheck, naming the rule it applies
//! ```
//!
//! The signature covers the identity, so it covers every component digest, every capability and
//! the version: a pack whose manifest changes needs a new signature.

use crate::manifest::Manifest;
use serde_json::{json, Value};
use wfhost_constitution::keys;
use wfhost_evidence::dsse::{self, DsseError, PublicKey, Signer};

/// The predicate type of a pack signature.
pub const PACK_PREDICATE: &str = "https://wfhost.dev/attestation/pack/v1";

/// The subject name a signature gives the pack: `pack:<id>@<version>`.
pub fn subject_name(manifest: &Manifest) -> String {
    format!("pack:{}", manifest.name())
}

/// The signature envelope of `manifest` by `signer`.
pub fn sign(manifest: &Manifest, signer: &Signer) -> Result<Value, DsseError> {
    let name = subject_name(manifest);
    let statement = dsse::statement(
        &[(&name, manifest.identity())],
        PACK_PREDICATE,
        json!({"id": manifest.id, "version": manifest.version.to_string()}),
    );
    dsse::sign_statement(signer, &statement)
}

/// What a pack's signature says, before any policy is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No `pack.sig.json`.
    Unsigned,
    /// Signed by this trusted key, and the statement is about this manifest.
    Verified {
        /// The key's id (sha256 of the raw public key).
        key_id: String,
    },
    /// Signed by keys none of which is trusted (or no key is configured): not checked.
    NotTrusted {
        /// The key ids the signatures name.
        key_ids: Vec<String>,
    },
}

impl SignatureCheck {
    /// How evidence and listings describe it.
    pub fn describe(&self) -> String {
        match self {
            SignatureCheck::Unsigned => "unsigned".to_string(),
            SignatureCheck::Verified { key_id } => format!("signed by trusted key ed25519:{key_id}"),
            SignatureCheck::NotTrusted { key_ids } => {
                format!("signed by ed25519:{}, not a trusted key (not checked)", key_ids.join(", ed25519:"))
            }
        }
    }

    /// As JSON for records: `null`, or the key and whether it was verified.
    pub fn to_json(&self) -> Value {
        match self {
            SignatureCheck::Unsigned => Value::Null,
            SignatureCheck::Verified { key_id } => json!({"key_id": key_id, "verified": true}),
            SignatureCheck::NotTrusted { key_ids } => json!({"key_id": key_ids.join(","), "verified": false}),
        }
    }
}

/// A signature that is refused whatever the policy.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The envelope is damaged or its signature by a trusted key does not verify.
    #[error("signature (pack.sig.json) refused: {0}")]
    Dsse(#[from] DsseError),
    /// The signature verifies but is about another manifest.
    #[error("signature (pack.sig.json) is about {found_name} with identity {found}, but this manifest is {expected_name} with identity {expected}: the manifest changed after it was signed (sign it again with `wfhost pack sign`) or the signature belongs to another pack")]
    OtherManifest {
        /// The identity it signs.
        found: String,
        /// The subject name it signs.
        found_name: String,
        /// This manifest's identity.
        expected: String,
        /// This manifest's subject name.
        expected_name: String,
    },
}

/// The key ids an envelope's signatures name (read without verifying anything).
fn claimed_key_ids(envelope: &[u8]) -> Result<Vec<String>, DsseError> {
    let v: Value = serde_json::from_slice(envelope).map_err(|e| DsseError::Envelope(format!("not JSON ({e})")))?;
    let sigs = v
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| DsseError::Envelope("member \"signatures\" is missing, empty or not an array".into()))?;
    Ok(sigs.iter().filter_map(|s| s.get("keyid").and_then(Value::as_str)).map(str::to_string).collect())
}

/// Check `envelope` (the bytes of `pack.sig.json`, if any) against `manifest` and the trusted
/// keys.
pub fn check(envelope: Option<&[u8]>, manifest: &Manifest, trusted: &[PublicKey]) -> Result<SignatureCheck, SignatureError> {
    let Some(envelope) = envelope else {
        return Ok(SignatureCheck::Unsigned);
    };
    let key_ids = claimed_key_ids(envelope)?;
    for key in trusted {
        match dsse::verify_envelope(envelope, key, PACK_PREDICATE) {
            Ok(statement) => {
                let expected_name = subject_name(manifest);
                let about = statement.subjects.iter().find(|s| s.sha256 == manifest.identity() && s.name == expected_name);
                if about.is_none() {
                    let first = statement.subjects.first();
                    return Err(SignatureError::OtherManifest {
                        found: first.map(|s| s.sha256.clone()).unwrap_or_default(),
                        found_name: first.map(|s| s.name.clone()).unwrap_or_default(),
                        expected: manifest.identity().to_string(),
                        expected_name,
                    });
                }
                return Ok(SignatureCheck::Verified { key_id: key.key_id().to_string() });
            }
            Err(DsseError::Untrusted { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(SignatureCheck::NotTrusted { key_ids })
}

/// Which packs are admitted: `WF_REQUIRE_SIGNED_PACKS` and the keys of `WF_PACK_TRUSTED_KEYS`.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Only packs signed by a trusted key are admitted.
    pub require_signed: bool,
    /// The trusted public keys.
    pub trusted: Vec<PublicKey>,
}

impl TrustPolicy {
    /// Admit or refuse a pack with signature `check`; the error is the rule that refuses it.
    pub fn admit(&self, check: &SignatureCheck) -> Result<(), String> {
        if !self.require_signed {
            return Ok(());
        }
        let require = format!("{}=1", keys::WF_REQUIRE_SIGNED_PACKS.name());
        let trusted = keys::WF_PACK_TRUSTED_KEYS.name();
        match check {
            SignatureCheck::Verified { .. } => Ok(()),
            _ if self.trusted.is_empty() => Err(format!(
                "{require} admits only packs signed by a key in {trusted}, and {trusted} names no key; add the signer's public key file to it"
            )),
            SignatureCheck::Unsigned => Err(format!(
                "the pack is unsigned, and {require} admits only packs signed by a key in {trusted}; ask its author for a signed pack or sign it yourself with `wfhost pack sign --key <private key> <pack dir>`"
            )),
            SignatureCheck::NotTrusted { key_ids } => Err(format!(
                "the pack is signed by ed25519:{}, which is not in {trusted}, and {require} admits only trusted signers; add the signer's public key to {trusted} if you trust it",
                key_ids.join(", ed25519:")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(description: &str) -> Manifest {
        let doc = json!({
            "pack_manifest": 1, "id": "acme-judge", "version": "0.1.0", "description": description,
            "components": [{"role": "auditor", "file": "judge.wasm", "sha256": "c".repeat(64), "wit_version": "0.2.0"}],
        });
        Manifest::from_document(doc, "test").unwrap()
    }

    #[test]
    fn a_signature_verifies_only_for_its_manifest_and_its_key() {
        let signer = Signer::from_seed(&[7; 32]);
        let other = Signer::from_seed(&[9; 32]);
        let m = manifest("judges");
        let env = serde_json::to_vec(&sign(&m, &signer).unwrap()).unwrap();
        let trusted = [signer.public_key().clone()];
        assert_eq!(check(Some(&env), &m, &trusted).unwrap(), SignatureCheck::Verified { key_id: signer.key_id().to_string() });
        assert_eq!(check(None, &m, &trusted).unwrap(), SignatureCheck::Unsigned);
        // Another key trusted: not checked, and named.
        let c = check(Some(&env), &m, &[other.public_key().clone()]).unwrap();
        assert_eq!(c, SignatureCheck::NotTrusted { key_ids: vec![signer.key_id().to_string()] });
        // The manifest changed after signing.
        let changed = manifest("judges harder");
        let e = check(Some(&env), &changed, &trusted).unwrap_err();
        assert!(matches!(e, SignatureError::OtherManifest { .. }), "{e}");
        assert!(e.to_string().contains(changed.identity()), "{e}");
        // A flipped byte of the signature.
        let mut v: Value = serde_json::from_slice(&env).unwrap();
        let sig = v["signatures"][0]["sig"].as_str().unwrap().to_string();
        let flipped = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
        v["signatures"][0]["sig"] = json!(flipped);
        let e = check(Some(&serde_json::to_vec(&v).unwrap()), &m, &trusted).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        let e = check(Some(b"[]"), &m, &trusted).unwrap_err();
        assert!(e.to_string().contains("signatures"), "{e}");
    }

    #[test]
    fn the_policy_names_its_rule() {
        let key = Signer::from_seed(&[1; 32]).public_key().clone();
        let open = TrustPolicy::default();
        assert!(open.admit(&SignatureCheck::Unsigned).is_ok());
        let strict = TrustPolicy { require_signed: true, trusted: vec![key] };
        let e = strict.admit(&SignatureCheck::Unsigned).unwrap_err();
        assert!(e.contains("unsigned") && e.contains("WF_REQUIRE_SIGNED_PACKS=1"), "{e}");
        let e = strict.admit(&SignatureCheck::NotTrusted { key_ids: vec!["ab".into()] }).unwrap_err();
        assert!(e.contains("ed25519:ab") && e.contains("WF_PACK_TRUSTED_KEYS"), "{e}");
        assert!(strict.admit(&SignatureCheck::Verified { key_id: "x".into() }).is_ok());
        let no_keys = TrustPolicy { require_signed: true, trusted: vec![] };
        assert!(no_keys.admit(&SignatureCheck::Unsigned).unwrap_err().contains("names no key"));
    }
}
