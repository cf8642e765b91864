//! The pack manifest (`pack.json`): strict parsing, its canonical identity, the components it
//! ships and the capabilities it asks for.
//!
//! ```text
//! pack.json bytes ─► JSON ─► the published schema (docs/schemas/pack-manifest.schema.json):
//!                            the first violation names the member (`components[0].sha256`)
//!                 ─► typed Manifest ─► rules a schema cannot say (semver, one component per
//!                            role, capabilities only with a transport)
//!   identity = sha256 of the RFC 8785 canonical JSON of the document as written (ops
//!              constitution O2/O11: one spelling per content), so reformatting pack.json keeps
//!              the identity and changing any value changes it
//! ```
//!
//! The manifest is data only: whether a component really implements its role, imports only what
//! the role may have and was built against the declared WIT version is checked by the runtime
//! when the pack is added (`wfhost pack add`), not here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;
use wfhost_config::config::Vocabulary;
use wfhost_config::profile::{SecretGrant, TransportProfile};

/// The manifest's file name in a pack directory.
pub const MANIFEST_FILE: &str = "pack.json";
/// The signature's file name beside the manifest (an in-toto Statement in a DSSE envelope).
pub const SIGNATURE_FILE: &str = "pack.sig.json";
/// The manifest format this wfhost reads (`pack_manifest`).
pub const MANIFEST_FORMAT: u64 = 1;
/// The published JSON Schema of the manifest, relative to the repository root.
pub const SCHEMA_PATH: &str = "docs/schemas/pack-manifest.schema.json";
/// The published JSON Schema's text.
pub const SCHEMA_TEXT: &str = include_str!("../../../docs/schemas/pack-manifest.schema.json");

/// The role of a pack's component: the WIT world it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// World `auditor`: judges phases, gets no host capability.
    Auditor,
    /// World `executor`: does phases through the host gateway.
    Executor,
    /// World `transport-plugin`: reaches pods by running the programs it declares.
    Transport,
}

impl Role {
    /// Every role, in manifest order.
    pub const ALL: [Role; 3] = [Role::Auditor, Role::Executor, Role::Transport];

    /// `auditor`, `executor` or `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Executor => "executor",
            Role::Transport => "transport",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One component of a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// The world it implements.
    pub role: Role,
    /// Its file, a bare name in the pack directory.
    pub file: String,
    /// sha256 (lowercase hex) of the file.
    pub sha256: String,
    /// The `wfhost:plugin` version it was built against.
    pub wit_version: String,
}

/// What the pack's transport asks of the host: the programs it may run, the hosts it may call,
/// the config keys passed to it as settings and the secrets injected by handle (the same
/// meaning as in a built-in transport's `profile.toml`, see [`TransportProfile`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[allow(missing_docs)]
    #[serde(default)]
    pub programs: Vec<String>,
    #[allow(missing_docs)]
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Config keys whose values are the base URLs its requests must lie under (each also
    /// passed as a setting when listed in `settings`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_base_url_keys: Vec<String>,
    #[allow(missing_docs)]
    #[serde(default)]
    pub settings: Vec<String>,
    #[allow(missing_docs)]
    #[serde(default)]
    pub secrets: Vec<SecretGrant>,
}

impl Capabilities {
    /// Whether it asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.http_hosts.is_empty() && self.http_base_url_keys.is_empty() && self.settings.is_empty() && self.secrets.is_empty()
    }

    /// One line per capability, for the user to read before installing.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.programs.is_empty() {
            out.push(format!("run host programs: {}", self.programs.join(", ")));
        }
        if !self.http_hosts.is_empty() {
            let under = if self.http_base_url_keys.is_empty() { String::new() } else { format!(" under the base URLs in {}", self.http_base_url_keys.join(", ")) };
            out.push(format!("call HTTP hosts: {}{under}", self.http_hosts.join(", ")));
        }
        if !self.settings.is_empty() {
            out.push(format!("read config settings: {}", self.settings.join(", ")));
        }
        for s in &self.secrets {
            match &s.http_header {
                Some(h) => out.push(format!("have the host put secret {} (handle {}) into HTTP header {h} of its requests", s.key, s.handle)),
                None => out.push(format!("have the host inject secret {} (handle {}) into its processes", s.key, s.handle)),
            }
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Typed {
    #[allow(dead_code)]
    pack_manifest: u64,
    id: String,
    version: String,
    description: String,
    components: Vec<Component>,
    #[serde(default)]
    capabilities: Option<Capabilities>,
}

/// A parsed, checked manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The pack's id.
    pub id: String,
    /// Its version.
    pub version: semver::Version,
    /// What it is.
    pub description: String,
    /// Its components (at most one per role).
    pub components: Vec<Component>,
    /// What its transport asks for.
    pub capabilities: Capabilities,
    document: Value,
    identity: String,
}

/// Why a manifest was refused. The message names where it came from and the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pack manifest {origin}: {field}: {problem}")]
pub struct ManifestError {
    /// The file (or other origin) of the manifest.
    pub origin: String,
    /// The member at fault (`components[0].sha256`), or `the manifest`.
    pub field: String,
    /// What is wrong and what to do.
    pub problem: String,
}

/// `/components/0/sha256` as `components[0].sha256`; the root as `the manifest`.
fn field_name(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    if out.is_empty() {
        "the manifest".to_string()
    } else {
        out
    }
}

fn validator() -> Result<&'static jsonschema::Validator, String> {
    static V: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA_TEXT).map_err(|e| format!("{SCHEMA_PATH} is not JSON: {e}"))?;
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .map_err(|e| format!("{SCHEMA_PATH} does not compile: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

impl Manifest {
    /// Parse and check manifest bytes from `origin` (a path, for messages).
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Manifest, ManifestError> {
        let err = |field: &str, problem: String| ManifestError { origin: origin.to_string(), field: field.to_string(), problem };
        let document: Value = serde_json::from_slice(bytes).map_err(|e| {
            err("the manifest", format!("is not JSON ({e}); a pack manifest is a JSON object, see {SCHEMA_PATH}"))
        })?;
        Manifest::from_document(document, origin)
    }

    /// Check an already parsed manifest document.
    pub fn from_document(document: Value, origin: &str) -> Result<Manifest, ManifestError> {
        let err = |field: &str, problem: String| ManifestError { origin: origin.to_string(), field: field.to_string(), problem };
        if let Some(format) = document.get("pack_manifest").and_then(Value::as_u64).filter(|f| *f != MANIFEST_FORMAT) {
            return Err(err(
                "pack_manifest",
                format!("format {format} is not one this wfhost reads (it reads {MANIFEST_FORMAT}); upgrade wfhost or rewrite the manifest for format {MANIFEST_FORMAT}"),
            ));
        }
        let validator = validator().map_err(|e| err("the manifest", format!("cannot be checked: {e}")))?;
        if let Some(e) = validator.iter_errors(&document).next() {
            return Err(err(&field_name(&e.instance_path().to_string()), format!("{e} (see {SCHEMA_PATH})")));
        }
        let typed: Typed = serde_json::from_value(document.clone())
            .map_err(|e| err("the manifest", format!("does not match its schema: {e}")))?;
        let version = semver::Version::parse(&typed.version)
            .map_err(|e| err("version", format!("{:?} is not a semantic version ({e}); write MAJOR.MINOR.PATCH, e.g. 0.1.0", typed.version)))?;
        for (i, c) in typed.components.iter().enumerate() {
            if let Some(j) = typed.components[..i].iter().position(|o| o.role == c.role) {
                return Err(err(
                    &format!("components[{i}].role"),
                    format!("a second {} component (components[{j}] is one); a pack has at most one component per role", c.role),
                ));
            }
            if let Some(j) = typed.components[..i].iter().position(|o| o.file == c.file) {
                return Err(err(&format!("components[{i}].file"), format!("{} is also components[{j}]'s file", c.file)));
            }
        }
        let capabilities = typed.capabilities.unwrap_or_default();
        let has_transport = typed.components.iter().any(|c| c.role == Role::Transport);
        if !has_transport {
            let asked = [
                ("programs", !capabilities.programs.is_empty()),
                ("http_hosts", !capabilities.http_hosts.is_empty()),
                ("http_base_url_keys", !capabilities.http_base_url_keys.is_empty()),
                ("settings", !capabilities.settings.is_empty()),
                ("secrets", !capabilities.secrets.is_empty()),
            ];
            if let Some((name, _)) = asked.iter().find(|(_, a)| *a) {
                return Err(err(
                    &format!("capabilities.{name}"),
                    "only a transport component gets host capabilities, and this pack has none; auditors and executors get nothing beyond their WIT interfaces".to_string(),
                ));
            }
        }
        let identity = wfhost_evidence::canonical::sha256(&document)
            .map_err(|e| err("the manifest", format!("has no canonical JSON form: {e}")))?;
        Ok(Manifest {
            id: typed.id,
            version,
            description: typed.description,
            components: typed.components,
            capabilities,
            document,
            identity,
        })
    }

    /// The pack's identity: sha256 (lowercase hex) of the canonical JSON of the manifest.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The manifest as written (the JSON value the identity is computed from).
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The manifest's canonical bytes plus a newline (how the store keeps it).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = wfhost_evidence::canonical::to_vec(&self.document).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// `<id>@<version>`.
    pub fn name(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// The component of `role`, if the pack has one.
    pub fn component(&self, role: Role) -> Option<&Component> {
        self.components.iter().find(|c| c.role == role)
    }

    /// The roles of its components, comma-separated, for messages.
    pub fn roles(&self) -> String {
        self.components.iter().map(|c| c.role.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Every component must have been built against `host_wit` (the `wfhost:plugin` version the
    /// host loads); the error names the component and how to rebuild it.
    pub fn check_wit_version(&self, host_wit: &str, origin: &str) -> Result<(), ManifestError> {
        for (i, c) in self.components.iter().enumerate() {
            if c.wit_version != host_wit {
                return Err(ManifestError {
                    origin: origin.to_string(),
                    field: format!("components[{i}].wit_version"),
                    problem: format!(
                        "the {} component {} was built against wfhost:plugin@{}, and this wfhost loads only wfhost:plugin@{host_wit}; rebuild it against the wit/ shipped with this wfhost (the pack SDK {host_wit}) and set wit_version to {host_wit}",
                        c.role, c.file, c.wit_version
                    ),
                });
            }
        }
        Ok(())
    }

    /// The transport profile its capabilities declare (`None` without a transport component),
    /// every key checked against the config vocabulary.
    pub fn transport_profile(&self, vocab: &Vocabulary, origin: &str) -> Result<Option<TransportProfile>, ManifestError> {
        if self.component(Role::Transport).is_none() {
            return Ok(None);
        }
        let caps = self.capabilities.clone();
        let profile = TransportProfile {
            programs: caps.programs,
            http_hosts: caps.http_hosts,
            http_base_url_keys: caps.http_base_url_keys,
            settings: caps.settings,
            secrets: caps.secrets,
            ..TransportProfile::empty(&self.id)
        };
        profile
            .check(&format!("of pack {}", self.name()), vocab)
            .map(Some)
            .map_err(|e| ManifestError { origin: origin.to_string(), field: "capabilities".to_string(), problem: e.problem })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "pack_manifest": 1,
            "id": "acme-local",
            "version": "1.2.3",
            "description": "A transport that runs pods as directories.",
            "components": [{"role": "transport", "file": "acme.wasm", "sha256": "a".repeat(64), "wit_version": "0.2.0"}],
            "capabilities": {"programs": ["sh"], "settings": ["WF_LOCAL_PODS_DIR"]}
        })
    }

    fn parse(v: &Value) -> Result<Manifest, ManifestError> {
        Manifest::parse(serde_json::to_string(v).unwrap().as_bytes(), "test/pack.json")
    }

    #[test]
    fn a_good_manifest_parses_and_its_identity_ignores_formatting_only() {
        let m = parse(&doc()).unwrap();
        assert_eq!((m.id.as_str(), m.version.to_string().as_str()), ("acme-local", "1.2.3"));
        assert_eq!(m.component(Role::Transport).unwrap().file, "acme.wasm");
        let pretty = serde_json::to_string_pretty(&doc()).unwrap();
        let again = Manifest::parse(pretty.as_bytes(), "x").unwrap();
        assert_eq!(again.identity(), m.identity(), "whitespace and member order do not change the identity");
        assert_eq!(m.identity(), wfhost_evidence::canonical::sha256(&doc()).unwrap());
        let mut other = doc();
        other["description"] = json!("A transport that runs pods as directories!");
        assert_ne!(parse(&other).unwrap().identity(), m.identity(), "any value changes it");
        assert!(m.canonical_bytes().ends_with(b"}\n"));
    }

    #[test]
    fn every_refusal_names_the_member_at_fault() {
        type Case = (Box<dyn Fn(&mut Value)>, &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|d| d["components"][0]["sha256"] = json!("XYZ")), "components[0].sha256", "does not match"),
            (Box::new(|d| d["id"] = json!("Acme")), "id", "does not match"),
            (Box::new(|d| d["surprise"] = json!(1)), "the manifest", "surprise"),
            (Box::new(|d| d["components"][0]["file"] = json!("../x.wasm")), "components[0].file", "does not match"),
            (Box::new(|d| d["components"][0]["role"] = json!("judge")), "components[0].role", "judge"),
            (Box::new(|d| d["version"] = json!("1.2")), "version", "does not match"),
            (Box::new(|d| { d.as_object_mut().unwrap().remove("description"); }), "the manifest", "description"),
            (Box::new(|d| d["pack_manifest"] = json!(2)), "pack_manifest", "format 2"),
            (Box::new(|d| d["capabilities"]["programs"] = json!(["/bin/sh"])), "capabilities.programs[0]", "does not match"),
            (
                Box::new(|d| {
                    let c = d["components"][0].clone();
                    d["components"] = json!([c.clone(), {"role": "transport", "file": "b.wasm", "sha256": "b".repeat(64), "wit_version": "0.2.0"}]);
                }),
                "components[1].role",
                "at most one component per role",
            ),
            (
                Box::new(|d| d["components"][0]["role"] = json!("auditor")),
                "capabilities.programs",
                "only a transport component",
            ),
        ];
        for (i, (change, field, needle)) in cases.iter().enumerate() {
            let mut d = doc();
            change(&mut d);
            let e = parse(&d).expect_err(&format!("case {i} is refused"));
            assert_eq!(e.field, *field, "case {i}: {e}");
            assert!(e.to_string().contains(needle), "case {i}: {e}");
            assert!(e.to_string().starts_with("pack manifest test/pack.json: "), "case {i}: {e}");
        }
        let e = Manifest::parse(b"{not json", "p.json").unwrap_err();
        assert!(e.problem.contains("is not JSON"), "{e}");
    }

    #[test]
    fn wit_versions_and_capabilities_are_checked_against_the_host() {
        let m = parse(&doc()).unwrap();
        m.check_wit_version("0.2.0", "x").unwrap();
        let e = m.check_wit_version("0.3.0", "x").unwrap_err();
        assert_eq!(e.field, "components[0].wit_version");
        assert!(e.problem.contains("acme.wasm") && e.problem.contains("rebuild"), "{e}");
        let vocab = Vocabulary::get().unwrap();
        let p = m.transport_profile(vocab, "x").unwrap().unwrap();
        assert_eq!((p.id.as_str(), p.programs.clone()), ("acme-local", vec!["sh".to_string()]));
        let mut d = doc();
        d["capabilities"]["settings"] = json!(["NOT_A_KEY"]);
        let e = parse(&d).unwrap().transport_profile(vocab, "x").unwrap_err();
        assert!(e.problem.contains("NOT_A_KEY"), "{e}");
        let mut d = doc();
        d["capabilities"]["secrets"] = json!([{"handle": "token", "key": "WF_SECRET_ACME_TOKEN", "setting": "ACME_TOKEN_HANDLE"}]);
        let p = parse(&d).unwrap().transport_profile(vocab, "x").unwrap().unwrap();
        assert_eq!(p.secrets[0].key, "WF_SECRET_ACME_TOKEN", "a key of a secret family is accepted");
    }

    #[test]
    fn the_published_schema_reads_this_format_and_compiles() {
        assert!(validator().is_ok());
        let schema: Value = serde_json::from_str(SCHEMA_TEXT).unwrap();
        assert_eq!(schema["properties"]["pack_manifest"]["const"], json!(MANIFEST_FORMAT));
    }
}
