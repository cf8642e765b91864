//! Signed attestations of evidence: in-toto Statement v1 inside a DSSE envelope, ed25519.
//!
//! Data flow when signing: the caller builds a [`statement`] (the files it vouches for, as
//! `(name, sha256)` subjects, a predicate type and a predicate); [`sign_statement`] takes its
//! RFC 8785 canonical bytes as the payload, signs the DSSE pre-authentication encoding
//! ([`pae`]) with a [`Signer`] and returns the envelope
//! `{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig" (base64)}]}`.
//!
//! Data flow when verifying: [`verify_envelope`] reads the envelope's members, finds the
//! signature whose `keyid` is the trusted key's, checks it over the PAE *before* the payload is
//! parsed, then checks the payload type, and only then parses the payload as a Statement and
//! checks its `_type` and predicate type. Nothing in an unverified payload is ever looked at.
//!
//! Keys: a private key is PKCS#8 PEM (what `openssl genpkey -algorithm ed25519` writes), a
//! public key is SPKI PEM (`openssl pkey -pubout`). A key's id is the sha256 (lowercase hex) of
//! its raw 32-byte public key. [`generate_key`] writes a new pair.
//!
//! References: DSSE v1 (github.com/secure-systems-lab/dsse, envelope.md and protocol.md),
//! in-toto Statement v1 (github.com/in-toto/attestation, spec/v1/statement.md), RFC 8032
//! (ed25519), RFC 8410 (ed25519 keys in PKCS#8 and SPKI).

use crate::canonical::{self, CanonicalError};
use crate::hash::sha256_hex;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The DSSE payload type of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Predicate type of a signed phase verdict (`phase/phase.<Pxx>.verdict.dsse.json`): the
/// predicate is the verdict file's JSON, the one subject is the verdict file.
pub const VERDICT_PREDICATE: &str = "https://wfhost.dev/attestation/phase-verdict/v1";
/// Predicate type of a signed flow (`flow.dsse.json`): the predicate is
/// `{"flow_id", "exit_code", "records"}`, the subjects are `events.jsonl` and
/// `flow.summary.json`.
pub const FLOW_PREDICATE: &str = "https://wfhost.dev/attestation/flow/v1";
/// The file name [`generate_key`] uses when it is given a directory.
pub const DEFAULT_KEY_FILE: &str = "wfhost-signing.pem";

const CREATE_KEY: &str = "create one with `wfhost keygen <path>` (or `openssl genpkey -algorithm ed25519 -out <path>`)";

/// What went wrong with a key or an envelope. Each message names the file or member at fault
/// and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DsseError {
    /// A key file is not a regular file, too large, not text, or cannot be read.
    #[error("{0}; {CREATE_KEY}")]
    KeyFile(crate::input::InputError),
    /// A private key file holds no usable ed25519 private key.
    #[error("{} is not an unencrypted PKCS#8 PEM ed25519 private key ({reason}); {CREATE_KEY}", path.display())]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A public key (file or text) holds no usable ed25519 public key.
    #[error("{origin} is not an SPKI PEM ed25519 public key ({reason}); write one from the private key with `openssl pkey -in <key.pem> -pubout -out <key.pem>.pub`")]
    PublicKey {
        /// The file or where the text came from.
        origin: String,
        /// Why it was refused.
        reason: String,
    },
    /// [`generate_key`] will not replace an existing file.
    #[error("{} already exists; a signing key is never overwritten: choose another path or move the old key away first", path.display())]
    KeyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A new key file could not be written.
    #[error("cannot write key file {}: {source}; check that the directory exists and is writable", path.display())]
    WriteKey {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The operating system gave no random bytes for a new key.
    #[error("cannot get random bytes from the operating system for a new key: {0}; retry, or create the key with `openssl genpkey -algorithm ed25519 -out <path>`")]
    Random(String),
    /// A key could not be encoded as PEM (should not happen for ed25519).
    #[error("cannot encode the key as PEM: {0}")]
    Encode(String),
    /// A statement has no canonical JSON form.
    #[error("cannot sign the statement: {0}")]
    Canonical(#[from] CanonicalError),
    /// The envelope is not a DSSE envelope.
    #[error("not a DSSE envelope: {0}; the file was damaged or is not what wfhost writes")]
    Envelope(String),
    /// No signature of the envelope is by the trusted key.
    #[error("signed by key {} only, not by the trusted key {trusted}; verify with the public key of the key that signed it, or treat the file as forged", if found.is_empty() { "(none)".to_string() } else { found.join(", ") })]
    Untrusted {
        /// The key ids the envelope's signatures name.
        found: Vec<String>,
        /// The trusted key's id.
        trusted: String,
    },
    /// The signature by the trusted key does not verify.
    #[error("the signature by key {key_id} does not verify: the payload, its type or the signature changed after signing; treat the file as forged")]
    BadSignature {
        /// The trusted key's id.
        key_id: String,
    },
    /// The signed payload is not an in-toto Statement.
    #[error("payloadType is {found:?}, but an in-toto attestation has {PAYLOAD_TYPE:?}; the envelope signs something other than an attestation")]
    PayloadType {
        /// The payload type found.
        found: String,
    },
    /// The signed payload is not an in-toto Statement v1.
    #[error("the signed payload is not an in-toto Statement v1: {0}")]
    Statement(String),
    /// The Statement attests something else than expected.
    #[error("the statement's predicateType is {found:?}, but {expected:?} was expected; the envelope attests something else (was it copied from another file?)")]
    PredicateType {
        /// The predicate type found.
        found: String,
        /// The predicate type expected.
        expected: String,
    },
}

/// An ed25519 public key and its key id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: String,
}

impl PublicKey {
    /// The key from an SPKI PEM text; `origin` names where the text came from, for errors.
    pub fn from_pem(text: &str, origin: &str) -> Result<PublicKey, DsseError> {
        let err = |reason: String| DsseError::PublicKey { origin: origin.to_string(), reason };
        if text.contains("PRIVATE KEY-----") {
            return Err(err("it holds a private key; give the public half, never the private key".into()));
        }
        if !text.contains("-----BEGIN PUBLIC KEY-----") {
            return Err(err("it holds no PEM public key (no `-----BEGIN PUBLIC KEY-----` line); give the .pub file `wfhost keygen` wrote".into()));
        }
        let key = VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| err(e.to_string()))?;
        Ok(PublicKey::from_verifying_key(key))
    }

    /// The key from its raw 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, DsseError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|e| DsseError::PublicKey {
            origin: "the raw key".into(),
            reason: e.to_string(),
        })?;
        Ok(PublicKey::from_verifying_key(key))
    }

    fn from_verifying_key(key: VerifyingKey) -> PublicKey {
        PublicKey { key_id: key_id(&key), key }
    }

    /// sha256 (lowercase hex) of the raw 32-byte public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key as SPKI PEM (LF line endings), as `openssl pkey -pubout` writes it.
    pub fn to_pem(&self) -> Result<String, DsseError> {
        self.key.to_public_key_pem(LineEnding::LF).map_err(|e| DsseError::Encode(e.to_string()))
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(ed25519:{})", self.key_id)
    }
}

/// The key id of an ed25519 public key: sha256 (lowercase hex) of its raw 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    sha256_hex(key.as_bytes())
}

/// An ed25519 private key that signs envelopes. Its `Debug` shows the key id only.
pub struct Signer {
    key: SigningKey,
    public: PublicKey,
    warning: Option<String>,
}

impl Signer {
    /// The signer whose private key is the 32-byte seed `seed` (RFC 8032 secret key).
    pub fn from_seed(seed: &[u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::from_verifying_key(key.verifying_key());
        Signer { key, public, warning: None }
    }

    /// A new random key, from the operating system's random source.
    pub fn generate() -> Result<Signer, DsseError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DsseError::Random(e.to_string()))?;
        let signer = Signer::from_seed(&seed);
        seed.fill(0);
        Ok(signer)
    }

    /// sha256 (lowercase hex) of the raw 32-byte public key.
    pub fn key_id(&self) -> &str {
        self.public.key_id()
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The public half as SPKI PEM.
    pub fn public_pem(&self) -> Result<String, DsseError> {
        self.public.to_pem()
    }

    /// A warning about the key file this key was loaded from (readable by other users), if
    /// any; the caller shows it to the person running wfhost.
    pub fn permission_warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The private key as unencrypted PKCS#8 v1 PEM (RFC 8410 §7, no public key member), the
    /// form `openssl genpkey -algorithm ed25519` writes.
    fn private_pem(&self) -> Result<String, DsseError> {
        let bytes = ed25519_dalek::ed25519::KeypairBytes { secret_key: self.key.to_bytes(), public_key: None };
        bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_string())
            .map_err(|e| DsseError::Encode(e.to_string()))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer(ed25519:{})", self.public.key_id)
    }
}

/// Load the private key at `path` (unencrypted PKCS#8 PEM ed25519). A key file other users
/// can read is accepted; [`Signer::permission_warning`] says so.
pub fn load_signing_key(path: &Path) -> Result<Signer, DsseError> {
    let text = crate::input::read_to_string(path, crate::input::InputKind::SigningKey).map_err(DsseError::KeyFile)?;
    let err = |reason: &str| DsseError::PrivateKey { path: path.to_path_buf(), reason: reason.to_string() };
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(err("it is encrypted; wfhost signs without a prompt, so decrypt it with `openssl pkey -in <key> -out <plain key>`"));
    }
    if text.contains("-----BEGIN PUBLIC KEY-----") {
        return Err(err("it holds a public key; WF_SIGNING_KEY names the private key, its .pub file is the public half"));
    }
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(err("it holds no PEM private key (no `-----BEGIN PRIVATE KEY-----` line)"));
    }
    let key = SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| err(&e.to_string()))?;
    let public = PublicKey::from_verifying_key(key.verifying_key());
    Ok(Signer { key, public, warning: permission_warning(path) })
}

#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "signing key {} can be read by other users (mode {mode:03o}); anyone who reads it can sign evidence in your name: run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

/// Load the public key at `path` (SPKI PEM ed25519).
pub fn load_public_key(path: &Path) -> Result<PublicKey, DsseError> {
    let text = crate::input::read_to_string(path, crate::input::InputKind::PublicKey).map_err(DsseError::KeyFile)?;
    PublicKey::from_pem(&text, &path.display().to_string())
}

/// The files [`generate_key`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The private key (PKCS#8 PEM, mode 0600).
    pub private_path: PathBuf,
    /// The public key (SPKI PEM), the private key's path plus `.pub`.
    pub public_path: PathBuf,
    /// The key id.
    pub key_id: String,
}

/// Write a new ed25519 key pair: the private key at `path` (or `<path>/wfhost-signing.pem`
/// when `path` is a directory), mode 0600, and its public key at `<that path>.pub`. Refuses to
/// overwrite either file.
pub fn generate_key(path: &Path) -> Result<GeneratedKey, DsseError> {
    let private_path = if path.is_dir() { path.join(DEFAULT_KEY_FILE) } else { path.to_path_buf() };
    let mut public_path = private_path.clone().into_os_string();
    public_path.push(".pub");
    let public_path = PathBuf::from(public_path);
    for p in [&private_path, &public_path] {
        if p.symlink_metadata().is_ok() {
            return Err(DsseError::KeyExists { path: p.clone() });
        }
    }
    let signer = Signer::generate()?;
    let private_pem = signer.private_pem()?;
    let public_pem = signer.public_pem()?;
    write_new(&private_path, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public_path, public_pem.as_bytes(), 0o644) {
        // Leave no private key without its public half.
        let _ = std::fs::remove_file(&private_path);
        return Err(e);
    }
    Ok(GeneratedKey { private_path, public_path, key_id: signer.key_id().to_string() })
}

/// Create `path` (never replacing a file) with `mode`, write `bytes`, sync.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DsseError> {
    let err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            DsseError::KeyExists { path: path.to_path_buf() }
        } else {
            DsseError::WriteKey { path: path.to_path_buf(), source }
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(err)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(err)
}

/// The DSSE v1 pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP
/// body`, lengths as ASCII decimal byte counts. This is what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// An in-toto Statement v1 about `subjects` (`(name, sha256 hex)` each).
pub fn statement(subjects: &[(&str, &str)], predicate_type: &str, predicate: Value) -> Value {
    let subject: Vec<Value> = subjects
        .iter()
        .map(|(name, sha256)| json!({"name": name, "digest": {"sha256": sha256}}))
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// A DSSE envelope of `payload` of type `payload_type`, signed by `signer`.
pub fn sign(signer: &Signer, payload_type: &str, payload: &[u8]) -> Value {
    let sig: Signature = signer.key.sign(&pae(payload_type, payload));
    json!({
        "payloadType": payload_type,
        "payload": BASE64.encode(payload),
        "signatures": [{"keyid": signer.key_id(), "sig": BASE64.encode(sig.to_bytes())}],
    })
}

/// A DSSE envelope of the canonical JSON bytes of `statement` (an in-toto Statement).
pub fn sign_statement(signer: &Signer, statement: &Value) -> Result<Value, DsseError> {
    let payload = canonical::to_vec(statement)?;
    Ok(sign(signer, PAYLOAD_TYPE, &payload))
}

/// One subject of a verified Statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject's name (a path relative to the flow directory, for wfhost).
    pub name: String,
    /// Its sha256 (lowercase hex).
    pub sha256: String,
}

/// A Statement whose envelope verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The subjects, in the order signed.
    pub subjects: Vec<Subject>,
    /// The predicate type.
    pub predicate_type: String,
    /// The predicate.
    pub predicate: Value,
}

/// Verify the DSSE envelope `envelope` (its JSON bytes) against the trusted key `trusted` and
/// return its Statement, which must have the predicate type `predicate_type`. Order: the
/// envelope's members; the signature whose keyid is the trusted key's, over the PAE; the
/// payload type; only then the payload, parsed as an in-toto Statement v1.
pub fn verify_envelope(envelope: &[u8], trusted: &PublicKey, predicate_type: &str) -> Result<Statement, DsseError> {
    let bad = |m: String| DsseError::Envelope(m);
    let value: Value = serde_json::from_slice(envelope).map_err(|e| bad(format!("not JSON ({e})")))?;
    let obj = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
    let text = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("member {name:?} is missing or not a string")))
    };
    let payload_type = text("payloadType")?;
    let payload = BASE64
        .decode(text("payload")?)
        .map_err(|e| bad(format!("member \"payload\" is not standard base64 ({e})")))?;
    let signatures = obj
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("member \"signatures\" is missing, empty or not an array".into()))?;
    let mut found = Vec::new();
    let mut matching = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        let keyid = s
            .get("keyid")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("signatures[{i}] has no string \"keyid\"")))?;
        let sig = s
            .get("sig")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("signatures[{i}] has no string \"sig\"")))?;
        found.push(keyid.to_string());
        if keyid == trusted.key_id() {
            matching.push((i, sig));
        }
    }
    if matching.is_empty() {
        return Err(DsseError::Untrusted { found, trusted: trusted.key_id().to_string() });
    }
    let message = pae(payload_type, &payload);
    let mut verified = false;
    for (i, sig) in matching {
        let bytes = BASE64
            .decode(sig)
            .map_err(|e| bad(format!("signatures[{i}].sig is not standard base64 ({e})")))?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| bad(format!("signatures[{i}].sig is {} bytes, an ed25519 signature is 64", b.len())))?;
        if trusted.key.verify_strict(&message, &Signature::from_bytes(&bytes)).is_ok() {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(DsseError::BadSignature { key_id: trusted.key_id().to_string() });
    }
    if payload_type != PAYLOAD_TYPE {
        return Err(DsseError::PayloadType { found: payload_type.to_string() });
    }
    parse_statement(&payload, predicate_type)
}

/// Parse a verified payload as an in-toto Statement v1 with the predicate type `expected`.
fn parse_statement(payload: &[u8], expected: &str) -> Result<Statement, DsseError> {
    let bad = |m: String| DsseError::Statement(m);
    let value: Value = serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON ({e})")))?;
    let obj = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
    let ty = obj.get("_type").and_then(Value::as_str).unwrap_or("");
    if ty != STATEMENT_TYPE {
        return Err(bad(format!("_type is {ty:?}, not {STATEMENT_TYPE:?}")));
    }
    let subjects = obj
        .get("subject")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("\"subject\" is missing, empty or not an array".into()))?;
    let mut out = Vec::with_capacity(subjects.len());
    for (i, s) in subjects.iter().enumerate() {
        let name = s
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("subject[{i}] has no string \"name\"")))?;
        let sha256 = s
            .pointer("/digest/sha256")
            .and_then(Value::as_str)
            .filter(|h| crate::is_sha256_hex(h))
            .ok_or_else(|| bad(format!("subject[{i}] ({name}) has no digest.sha256 of 64 lowercase hex digits")))?;
        out.push(Subject { name: name.to_string(), sha256: sha256.to_string() });
    }
    let predicate_type = obj
        .get("predicateType")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("\"predicateType\" is missing or not a string".into()))?;
    if predicate_type != expected {
        return Err(DsseError::PredicateType { found: predicate_type.to_string(), expected: expected.to_string() });
    }
    let predicate = obj.get("predicate").cloned().ok_or_else(|| bad("\"predicate\" is missing".into()))?;
    Ok(Statement { subjects: out, predicate_type: predicate_type.to_string(), predicate })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` (OpenSSL
    // 3.0); the key id is `openssl pkey -pubout -outform DER | tail -c 32 | sha256sum`, and
    // the signature is `openssl pkeyutl -sign -rawin` over the PAE of the DSSE example.
    const OPENSSL_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEILAaC6ld5k8YePve3FCidBL71wHQZimRLLcPwU+YLPLN\n\
        -----END PRIVATE KEY-----\n";
    const OPENSSL_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEAiUojQz6vUbGgKNtN2p7FLw5Op0Nxz+wstGIl9DXPSDM=\n\
        -----END PUBLIC KEY-----\n";
    const OPENSSL_KEY_ID: &str = "db0b6522dcf56339df111c4a2ea52636f37cf32187f92404332e8bbc50a75ed7";
    const OPENSSL_SIG_HELLO: &str =
        "nY7viqh7NnxO0+ueVe+1jdguoEpyiVoZN6EOc6UWGzWU3m1Coud1aVDSpjZ+aZ5245xfEVQrlb5tBK2bePGrAA==";

    fn signer(n: u8) -> Signer {
        Signer::from_seed(&[n; 32])
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    fn verdict_statement() -> Value {
        statement(
            &[("phase/phase.P30.verdict.json", &sha256_hex(b"{}\n"))],
            VERDICT_PREDICATE,
            json!({"phase": "P30", "court": "pass", "code": 0}),
        )
    }

    fn envelope_bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).expect("serialises")
    }

    #[test]
    fn pae_is_the_dsse_spec_formula() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        // Lengths count bytes, not characters; an empty body still ends with its space.
        assert_eq!(pae("t\u{e9}", b""), "DSSEv1 3 t\u{e9} 0 ".as_bytes().to_vec());
        let body = vec![b'x'; 1234];
        let p = pae(PAYLOAD_TYPE, &body);
        let head = format!("DSSEv1 {} {PAYLOAD_TYPE} 1234 ", PAYLOAD_TYPE.len());
        assert_eq!(&p[..head.len()], head.as_bytes());
        assert_eq!(&p[head.len()..], &body[..]);
    }

    #[test]
    fn openssl_keys_load_and_signatures_match_openssl_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let private = write(dir.path(), "k.pem", OPENSSL_PRIVATE, 0o600);
        let public = write(dir.path(), "k.pem.pub", OPENSSL_PUBLIC, 0o644);
        let s = load_signing_key(&private).expect("openssl private key loads");
        assert_eq!(s.key_id(), OPENSSL_KEY_ID);
        assert_eq!(s.permission_warning(), None);
        let p = load_public_key(&public).expect("openssl public key loads");
        assert_eq!(p.key_id(), OPENSSL_KEY_ID);
        assert_eq!(&p, s.public_key());
        assert_eq!(s.public_pem().expect("pem"), OPENSSL_PUBLIC);
        // ed25519 is deterministic: the same key signs the same bytes identically.
        let env = sign(&s, "http://example.com/HelloWorld", b"hello world");
        assert_eq!(env["signatures"][0]["sig"], OPENSSL_SIG_HELLO);
        assert_eq!(env["signatures"][0]["keyid"], OPENSSL_KEY_ID);
        assert_eq!(env["payload"], "aGVsbG8gd29ybGQ=");
        // And the private key written back is the form openssl writes.
        assert_eq!(s.private_pem().expect("pem"), OPENSSL_PRIVATE);
    }

    #[test]
    fn a_signed_statement_round_trips() {
        let s = signer(7);
        let st = verdict_statement();
        let env = sign_statement(&s, &st).expect("signs");
        assert_eq!(env["payloadType"], PAYLOAD_TYPE);
        let payload = BASE64.decode(env["payload"].as_str().expect("payload")).expect("base64");
        assert_eq!(payload, canonical::to_vec(&st).expect("canonical"), "the payload is the canonical statement");
        let got = verify_envelope(&envelope_bytes(&env), s.public_key(), VERDICT_PREDICATE).expect("verifies");
        assert_eq!(got.predicate_type, VERDICT_PREDICATE);
        assert_eq!(got.predicate, st["predicate"]);
        assert_eq!(
            got.subjects,
            vec![Subject { name: "phase/phase.P30.verdict.json".into(), sha256: sha256_hex(b"{}\n") }]
        );
    }

    /// Change one byte of a base64 member's decoded bytes and re-encode it.
    fn flip_b64(env: &mut Value, pointer: &str, at: usize) {
        let slot = env.pointer_mut(pointer).expect("member");
        let mut bytes = BASE64.decode(slot.as_str().expect("string")).expect("base64");
        bytes[at] ^= 0x01;
        *slot = json!(BASE64.encode(bytes));
    }

    #[test]
    fn a_flipped_byte_anywhere_fails() {
        let s = signer(7);
        let env = sign_statement(&s, &verdict_statement()).expect("signs");
        let payload_len = BASE64.decode(env["payload"].as_str().expect("payload")).expect("b64").len();
        for at in [0, payload_len / 2, payload_len - 1] {
            let mut e = env.clone();
            flip_b64(&mut e, "/payload", at);
            let err = verify_envelope(&envelope_bytes(&e), s.public_key(), VERDICT_PREDICATE).unwrap_err();
            assert!(matches!(err, DsseError::BadSignature { .. }), "payload byte {at}: {err}");
        }
        for at in [0, 31, 63] {
            let mut e = env.clone();
            flip_b64(&mut e, "/signatures/0/sig", at);
            let err = verify_envelope(&envelope_bytes(&e), s.public_key(), VERDICT_PREDICATE).unwrap_err();
            assert!(matches!(err, DsseError::BadSignature { .. }), "sig byte {at}: {err}");
        }
        let mut e = env.clone();
        let mut id = s.key_id().to_string();
        id.replace_range(0..1, if id.starts_with('0') { "1" } else { "0" });
        e["signatures"][0]["keyid"] = json!(id);
        let err = verify_envelope(&envelope_bytes(&e), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(&err, DsseError::Untrusted { found, .. } if found == &vec![id.clone()]), "{err}");
        let mut e = env.clone();
        e["payloadType"] = json!("application/vnd.in-toto+jsoN");
        let err = verify_envelope(&envelope_bytes(&e), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(err, DsseError::BadSignature { .. }), "the payload type is signed too: {err}");
        // A truncated signature is a damaged envelope, named as such.
        let mut e = env.clone();
        e["signatures"][0]["sig"] = json!(BASE64.encode([0u8; 63]));
        let err = verify_envelope(&envelope_bytes(&e), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(err.to_string().contains("63 bytes"), "{err}");
    }

    #[test]
    fn another_key_fails_even_when_it_claims_the_trusted_keyid() {
        let (a, b) = (signer(1), signer(2));
        let env = sign_statement(&b, &verdict_statement()).expect("signs");
        let err = verify_envelope(&envelope_bytes(&env), a.public_key(), VERDICT_PREDICATE).unwrap_err();
        match &err {
            DsseError::Untrusted { found, trusted } => {
                assert_eq!(found, &vec![b.key_id().to_string()]);
                assert_eq!(trusted, a.key_id());
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains(b.key_id()) && err.to_string().contains(a.key_id()), "{err}");
        let mut forged = env.clone();
        forged["signatures"][0]["keyid"] = json!(a.key_id());
        let err = verify_envelope(&envelope_bytes(&forged), a.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(err, DsseError::BadSignature { .. }), "{err}");
        // A second, valid signature by the trusted key makes the envelope good.
        let mut both = env.clone();
        let by_a = sign_statement(&a, &verdict_statement()).expect("signs");
        both["signatures"].as_array_mut().expect("array").push(by_a["signatures"][0].clone());
        verify_envelope(&envelope_bytes(&both), a.public_key(), VERDICT_PREDICATE).expect("a's signature verifies");
    }

    #[test]
    fn the_payload_is_judged_only_after_the_signature() {
        let s = signer(3);
        // A signed payload of another type: refused for its type, after the signature held.
        let env = sign(&s, "text/plain", b"not a statement");
        let err = verify_envelope(&envelope_bytes(&env), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(&err, DsseError::PayloadType { found } if found == "text/plain"), "{err}");
        // The same with a bad signature: the signature is what fails.
        let mut e = env.clone();
        flip_b64(&mut e, "/signatures/0/sig", 5);
        let err = verify_envelope(&envelope_bytes(&e), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(err, DsseError::BadSignature { .. }), "{err}");
        // Signed garbage of the right type is not a statement.
        let env = sign(&s, PAYLOAD_TYPE, b"{\"_type\": \"https://in-toto.io/Statement/v0.1\"}");
        let err = verify_envelope(&envelope_bytes(&env), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(&err, DsseError::Statement(m) if m.contains("v0.1")), "{err}");
        let st = statement(&[("x", "ABC")], VERDICT_PREDICATE, json!({}));
        let env = sign_statement(&s, &st).expect("signs");
        let err = verify_envelope(&envelope_bytes(&env), s.public_key(), VERDICT_PREDICATE).unwrap_err();
        assert!(matches!(&err, DsseError::Statement(m) if m.contains("subject[0] (x)")), "{err}");
        // The right statement for another purpose.
        let env = sign_statement(&s, &verdict_statement()).expect("signs");
        let err = verify_envelope(&envelope_bytes(&env), s.public_key(), FLOW_PREDICATE).unwrap_err();
        assert!(
            matches!(&err, DsseError::PredicateType { found, expected } if found == VERDICT_PREDICATE && expected == FLOW_PREDICATE),
            "{err}"
        );
    }

    #[test]
    fn malformed_envelopes_are_named() {
        let s = signer(4);
        for (bytes, want) in [
            (&b"nope"[..], "not JSON"),
            (b"[]", "not a JSON object"),
            (b"{\"payload\":\"\",\"signatures\":[{\"keyid\":\"k\",\"sig\":\"\"}]}", "\"payloadType\""),
            (b"{\"payloadType\":\"t\",\"payload\":\"*\",\"signatures\":[]}", "not standard base64"),
            (b"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[]}", "\"signatures\""),
            (b"{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":\"\"}]}", "keyid"),
        ] {
            let err = verify_envelope(bytes, s.public_key(), VERDICT_PREDICATE).unwrap_err();
            assert!(matches!(err, DsseError::Envelope(_)), "{err}");
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn generated_keys_are_private_paired_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("signing.pem");
        let made = generate_key(&path).expect("generates");
        assert_eq!(made.private_path, path);
        assert_eq!(made.public_path, dir.path().join("signing.pem.pub"));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let s = load_signing_key(&path).expect("loads");
        assert_eq!(s.permission_warning(), None);
        assert_eq!(s.key_id(), made.key_id);
        assert_eq!(load_public_key(&made.public_path).expect("pub loads").key_id(), made.key_id);
        let before = std::fs::read(&path).expect("read");
        let err = generate_key(&path).unwrap_err();
        assert!(matches!(&err, DsseError::KeyExists { path: p } if p == &path), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), before, "the existing key is untouched");
        // An existing .pub alone also stops it, before any private key is written.
        let other = dir.path().join("other.pem");
        std::fs::write(dir.path().join("other.pem.pub"), "x").expect("write");
        assert!(matches!(generate_key(&other), Err(DsseError::KeyExists { .. })));
        assert!(!other.exists());
        // A directory gets the default file name; two keys differ.
        let sub = dir.path().join("keys");
        std::fs::create_dir(&sub).expect("mkdir");
        let in_dir = generate_key(&sub).expect("generates in a directory");
        assert_eq!(in_dir.private_path, sub.join(DEFAULT_KEY_FILE));
        assert_ne!(in_dir.key_id, made.key_id);
        let missing = generate_key(&dir.path().join("no/such/dir/k.pem")).unwrap_err();
        assert!(matches!(missing, DsseError::WriteKey { .. }), "{missing}");
    }

    #[test]
    fn bad_key_files_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("gone.pem");
        let err = load_signing_key(&gone).unwrap_err();
        assert!(matches!(err, DsseError::KeyFile(_)) && err.to_string().contains("gone.pem"), "{err}");
        assert!(err.to_string().contains("wfhost keygen"), "{err}");
        let public = write(dir.path(), "pub.pem", OPENSSL_PUBLIC, 0o600);
        let err = load_signing_key(&public).unwrap_err();
        assert!(err.to_string().contains("public key") && err.to_string().contains("pub.pem"), "{err}");
        let junk = write(dir.path(), "junk.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0o600);
        let err = load_signing_key(&junk).unwrap_err();
        assert!(matches!(err, DsseError::PrivateKey { .. }) && err.to_string().contains("junk.pem"), "{err}");
        let enc = write(dir.path(), "enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", 0o600);
        assert!(load_signing_key(&enc).unwrap_err().to_string().contains("encrypted"));
        let private_as_public = write(dir.path(), "priv.pem", OPENSSL_PRIVATE, 0o600);
        let err = load_public_key(&private_as_public).unwrap_err();
        assert!(err.to_string().contains("private key") && err.to_string().contains("priv.pem"), "{err}");
        let loose = write(dir.path(), "loose.pem", OPENSSL_PRIVATE, 0o644);
        let s = load_signing_key(&loose).expect("a readable key still loads");
        let warning = s.permission_warning().expect("warned");
        assert!(warning.contains("644") && warning.contains("chmod 600"), "{warning}");
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let s = signer(9);
        let shown = format!("{s:?}");
        assert_eq!(shown, format!("Signer(ed25519:{})", s.key_id()));
        let seed_b64 = BASE64.encode([9u8; 32]);
        assert!(!shown.contains(&seed_b64));
        assert_eq!(s.key_id(), sha256_hex(&s.public_key().to_bytes()));
        assert_eq!(PublicKey::from_bytes(&s.public_key().to_bytes()).expect("valid").key_id(), s.key_id());
    }
}
