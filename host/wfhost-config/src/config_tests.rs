//! Tests of the canonical config: locating, syntax, resolution, secrets, codes.

use super::*;
use wfhost_constitution::codes;
use wfhost_constitution::keys;
use std::process::Command;

/// A working directory with `infra_scripts/workflow.env` holding `text`.
fn workdir_with(text: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("infra_scripts")).unwrap();
    std::fs::write(dir.path().join(CANONICAL_CONFIG), text).unwrap();
    dir
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    load_bytes_env(text.as_bytes(), &[])
}

fn load_bytes_env(text: &[u8], pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = workdir_with(text);
    let loc = ConfigLocation::resolve(dir.path(), &env(pairs))?;
    Config::load(&loc)
}

fn load_err(text: &str) -> ConfigError {
    match load_text(text) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e,
    }
}

// ----- locating ------------------------------------------------------------------------------

#[test]
fn the_canonical_config_is_relative_to_the_given_workdir() {
    let dir = workdir_with(b"REPO_URL=x\n");
    let loc = ConfigLocation::resolve(dir.path(), &env(&[])).unwrap();
    assert_eq!(loc.path(), dir.path().join("infra_scripts/workflow.env"));
    assert!(loc.path().is_absolute());
    assert!(!loc.override_enabled());
    let cfg = Config::load(&loc).unwrap();
    assert_eq!(cfg.get(keys::REPO_URL), Some("x"));
    assert_eq!(cfg.path(), loc.path());
}

#[test]
fn a_relative_workdir_is_made_absolute() {
    let loc = ConfigLocation::resolve(Path::new("some/relative/dir"), &env(&[])).unwrap();
    assert!(loc.path().is_absolute(), "{}", loc.path().display());
    assert!(loc
        .path()
        .ends_with("some/relative/dir/infra_scripts/workflow.env"));
}

#[test]
fn a_missing_config_names_the_absolute_path_and_what_to_create() {
    let dir = tempfile::tempdir().unwrap();
    let loc = ConfigLocation::resolve(dir.path(), &env(&[])).unwrap();
    let err = Config::load(&loc).unwrap_err();
    assert_eq!(err.code(), codes::CONFIG_MISSING);
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().join(CANONICAL_CONFIG).display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("Create infra_scripts/workflow.env"), "{msg}");
}

#[test]
fn an_override_is_refused_without_allow_override() {
    let dir = workdir_with(b"REPO_URL=canonical\n");
    std::fs::write(dir.path().join("other.env"), "REPO_URL=other\n").unwrap();
    for allow in [None, Some("0")] {
        let mut e = env(&[("WORKFLOW_CONFIG", "other.env")]);
        if let Some(a) = allow {
            e.insert("WF_ALLOW_OVERRIDE".into(), a.into());
        }
        let err = ConfigLocation::resolve(dir.path(), &e).unwrap_err();
        assert_eq!(err.code(), codes::OVERRIDE_REFUSED);
        let msg = err.to_string();
        assert!(
            msg.contains(&dir.path().join("other.env").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("WF_ALLOW_OVERRIDE=1"), "{msg}");
    }
}

#[test]
fn an_allowed_override_is_used_and_reported() {
    let dir = workdir_with(b"REPO_URL=canonical\n");
    std::fs::write(dir.path().join("other.env"), "REPO_URL=other\n").unwrap();
    let e = env(&[("WORKFLOW_CONFIG", "other.env"), ("WF_ALLOW_OVERRIDE", "1")]);
    let loc = ConfigLocation::resolve(dir.path(), &e).unwrap();
    assert!(loc.override_enabled());
    let cfg = Config::load(&loc).unwrap();
    assert!(cfg.override_enabled());
    assert_eq!(cfg.get(keys::REPO_URL), Some("other"));
    assert_eq!(cfg.path(), dir.path().join("other.env"));

    // A missing override file is code 100 and says WORKFLOW_CONFIG named it.
    let e = env(&[
        ("WORKFLOW_CONFIG", "/nonexistent/wf.env"),
        ("WF_ALLOW_OVERRIDE", "1"),
    ]);
    let loc = ConfigLocation::resolve(dir.path(), &e).unwrap();
    let err = Config::load(&loc).unwrap_err();
    assert_eq!(err.code(), codes::CONFIG_MISSING);
    assert!(err.to_string().contains("/nonexistent/wf.env"), "{err}");
    assert!(err.to_string().contains("WORKFLOW_CONFIG"), "{err}");
}

#[test]
fn workflow_config_naming_the_canonical_file_or_empty_is_no_override() {
    let dir = workdir_with(b"REPO_URL=canonical\n");
    for value in [
        "infra_scripts/workflow.env",
        "./infra_scripts/../infra_scripts/workflow.env",
        "",
    ] {
        let loc = ConfigLocation::resolve(dir.path(), &env(&[("WORKFLOW_CONFIG", value)])).unwrap();
        assert!(!loc.override_enabled(), "{value}");
        assert_eq!(loc.path(), dir.path().join(CANONICAL_CONFIG));
    }
}

#[test]
fn an_illegal_allow_override_value_is_an_error() {
    let dir = workdir_with(b"");
    let err =
        ConfigLocation::resolve(dir.path(), &env(&[("WF_ALLOW_OVERRIDE", "yes")])).unwrap_err();
    assert_eq!(err.code(), codes::CONFIG_INVALID);
    assert!(err.to_string().contains("WF_ALLOW_OVERRIDE"), "{err}");
}

// ----- syntax --------------------------------------------------------------------------------

#[test]
fn the_documented_syntax_parses() {
    let text = concat!(
        "# a comment\n",
        "\n",
        "   # an indented comment\n",
        "export REPO_URL=https://example.invalid/repo.git\n",
        "REPO_REF='feature/x y'   # trailing comment\n",
        "SWEEP_RUN_TEMPLATE=\"python train.py --note \\\"hi\\\" \\\\ done\\nnext \\$HOME\"\n",
        "CHECKOUT_CHECKS='python -c \"import torch\";;test -d data'\n",
        "LIUM_TARGET=pod#1 # '#' inside a word is part of the value\n",
        "BOOTSTRAP_SCRIPT=\n",
        "OPS_DEFAULT_HOST=  # empty, with a comment\n",
        "\tWF_TRANSPORT=ssh\t\n",
        "WF_SUBAGENT_VALIDATOR_CMD= python -c 'import x' --flag   # unquoted, with spaces\n",
        "WF_SSH_OPTIONS=-o ConnectTimeout=10 -o ServerAliveInterval=5\n",
        "SWEEP_MATCH=\"seed=1 # not a comment\"  # a comment\n",
    );
    let cfg = load_text(text).unwrap();
    assert_eq!(
        cfg.get(keys::REPO_URL),
        Some("https://example.invalid/repo.git")
    );
    assert_eq!(cfg.get(keys::REPO_REF), Some("feature/x y"));
    assert_eq!(
        cfg.get(keys::SWEEP_RUN_TEMPLATE),
        Some("python train.py --note \"hi\" \\ done\nnext $HOME")
    );
    assert_eq!(
        cfg.list(keys::CHECKOUT_CHECKS),
        vec![
            "python -c \"import torch\"".to_string(),
            "test -d data".to_string()
        ]
    );
    assert_eq!(cfg.get(keys::LIUM_TARGET), Some("pod#1"));
    assert_eq!(cfg.get(keys::BOOTSTRAP_SCRIPT), None, "an empty value is unset");
    assert_eq!(cfg.get(keys::OPS_DEFAULT_HOST), None);
    assert_eq!(cfg.get(keys::WF_TRANSPORT), Some("ssh"));
    assert_eq!(
        cfg.get(keys::WF_SUBAGENT_VALIDATOR_CMD),
        Some("python -c 'import x' --flag")
    );
    assert_eq!(
        cfg.list(keys::WF_SSH_OPTIONS),
        (
            vec!["-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(cfg.get(keys::SWEEP_MATCH), Some("seed=1 # not a comment"));
    assert_eq!(cfg.source(keys::REPO_URL), Some(ValueSource::File { line: 4 }));
}

#[test]
fn shell_syntax_in_values_is_kept_literally_and_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    let text = format!(
        "REPO_URL=$(id)\nREPO_REF=\"`touch {c}`\"\nOPS_DEFAULT_HOST='${{HOME}}'\nLIUM_TARGET=$HOME\nSWEEP_RUN_TEMPLATE=\"$(touch {c}) ${{HOME}}\"\n",
        c = canary.display()
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(cfg.get(keys::REPO_URL), Some("$(id)"));
    assert_eq!(
        cfg.get(keys::REPO_REF),
        Some(format!("`touch {}`", canary.display()).as_str())
    );
    assert_eq!(cfg.get(keys::OPS_DEFAULT_HOST), Some("${HOME}"));
    assert_eq!(cfg.get(keys::LIUM_TARGET), Some("$HOME"));
    assert_eq!(
        cfg.get(keys::SWEEP_RUN_TEMPLATE),
        Some(format!("$(touch {}) ${{HOME}}", canary.display()).as_str())
    );
    assert!(!canary.exists(), "a value was executed");
}

#[test]
fn crlf_and_a_bom_are_tolerated_and_hashed_as_is() {
    let bytes = b"\xEF\xBB\xBFREPO_URL=a\r\nREPO_REF=\"b c\"\r\n\r\n# c\r\n";
    let dir = workdir_with(bytes);
    let loc = ConfigLocation::resolve(dir.path(), &env(&[])).unwrap();
    let cfg = Config::load(&loc).unwrap();
    assert_eq!(cfg.get(keys::REPO_URL), Some("a"));
    assert_eq!(cfg.get(keys::REPO_REF), Some("b c"));
    assert_eq!(cfg.raw(), bytes);
    // The hash is over the raw bytes, BOM and CR included: compare with the system tool.
    let out = Command::new("sha256sum").arg(loc.path()).output().unwrap();
    assert!(out.status.success());
    let expected = String::from_utf8(out.stdout).unwrap();
    assert_eq!(cfg.sha256(), expected.split_whitespace().next().unwrap());
}

#[test]
fn bad_lines_name_the_path_the_line_and_the_fix() {
    let cases: &[(&str, &str)] = &[
        ("just some words", "not a KEY=VALUE line"),
        ("repo_url=x", "is not a valid key"),
        ("1ABC=x", "is not a valid key"),
        ("REPO_URL =x", "space before ="),
        ("REPO_URL=\"abc", "double quote is not closed"),
        ("REPO_URL='abc", "single quote is not closed"),
        ("REPO_URL=\"a\\tb\"", "unknown escape \\t"),
        ("REPO_URL=\"a\"b", "unexpected text after the closing quote"),
        (
            "REPO_URL=\"a\"#b",
            "unexpected text after the closing quote",
        ),
        ("export", "`export` without KEY=VALUE"),
        ("=value", "the key before = is empty"),
    ];
    for (line, problem) in cases {
        let text = format!("# header\nREPO_REF=main\n{line}\n");
        let err = load_err(&text);
        assert_eq!(err.code(), codes::CONFIG_INVALID, "{line}");
        let msg = err.to_string();
        assert!(msg.contains("workflow.env:3:"), "{line}: {msg}");
        assert!(msg.contains(problem), "{line}: {msg}");
        assert!(msg.contains(line.trim()), "{line}: {msg}");
        assert!(msg.contains("Fix:"), "{line}: {msg}");
    }
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let err = load_bytes_env(b"REPO_URL=a\nREPO_REF=\xff\xfe\n", &[]).unwrap_err();
    assert_eq!(err.code(), codes::CONFIG_INVALID);
    assert!(err.to_string().contains("workflow.env:2:"), "{err}");
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn secrets_are_redacted_in_syntax_errors() {
    for line in [
        "LIUM_API_KEY = hunter2",
        "LIUM_API_KEY=\"hunter2",
        "WF_SECRET_DB=\"hunter2\" extra",
        "HF_TOKEN='hunter2",
        "export MY_PASSWORD='hunter2",
        "LIUM_API_KEY hunter2",
        "export WF_SECRET_X hunter2",
    ] {
        let err = load_err(&format!("{line}\n"));
        let msg = err.to_string();
        assert!(!msg.contains("hunter2"), "{line}: {msg}");
        assert!(msg.contains("<redacted>"), "{line}: {msg}");
    }
}

#[test]
fn a_duplicate_key_names_both_lines() {
    let err = load_err("REPO_URL=a\n# x\nexport REPO_URL=b\n");
    assert_eq!(err.code(), codes::CONFIG_INVALID);
    let msg = err.to_string();
    assert!(
        msg.contains("REPO_URL is set twice, on line 1 and on line 3"),
        "{msg}"
    );
}

// ----- resolution ----------------------------------------------------------------------------

#[test]
fn defaults_apply_and_typed_getters_work() {
    let dir = workdir_with(b"SWEEP_MAX_PARALLEL=4\nCHECKOUT_FORCE_CLEAN=1\nSWEEP_MANIFEST=sweeps/a.csv\nWF_AUDITORS=\"constitution, extra.wasm\"\n");
    let cfg = Config::load(&ConfigLocation::resolve(dir.path(), &env(&[])).unwrap()).unwrap();
    assert_eq!(cfg.get(keys::OPS_REMOTE_OUTPUTS_DIR), Some("/mnt/outputs"));
    assert_eq!(
        cfg.source(keys::OPS_REMOTE_OUTPUTS_DIR),
        Some(ValueSource::Default)
    );
    assert_eq!(cfg.get(keys::REMOTE_ENV_PATH), Some("/mnt/project.env"));
    assert_eq!(cfg.get(keys::REMOTE_REPO_DIR), Some("/mnt/repo"));
    assert_eq!(cfg.get(keys::REPO_REF), Some("HEAD"));
    assert_eq!(cfg.get(keys::WF_TRANSPORT), Some("local"));
    assert_eq!(cfg.get(keys::WF_EXECUTOR), Some("executors"));
    assert_eq!(cfg.get(keys::SWEEP_MATCH), Some("all"));
    assert_eq!(cfg.get(keys::SWEEP_START_AT), Some("first"));
    assert_eq!(cfg.get(keys::LIUM_TARGET), None);
    assert_eq!(cfg.uint(keys::WF_MONITOR_TIMEOUT_SECS), 86400);
    assert_eq!(cfg.millis(keys::WF_MONITOR_POLL_SECS), 2000);
    assert_eq!(cfg.uint(keys::WF_POD_READY_TIMEOUT_SECS), 60);
    assert_eq!(cfg.uint(keys::WF_BOOTSTRAP_TIMEOUT_SECS), 1800);
    assert_eq!(cfg.uint(keys::WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS), 120);
    assert_eq!(cfg.uint(keys::SWEEP_MAX_PARALLEL), 4);
    assert_eq!(cfg.u64_by_name("SWEEP_MAX_PARALLEL").unwrap(), Some(4));
    assert!(cfg.flag(keys::CHECKOUT_FORCE_CLEAN));
    assert_eq!(cfg.bool01_by_name("CHECKOUT_FORCE_CLEAN").unwrap(), Some(true));
    assert!(!cfg.flag(keys::LIUM_YES));
    assert_eq!(cfg.bool01_by_name("LIUM_YES").unwrap(), None);
    assert!(!cfg.consent_given());
    assert_eq!(
        cfg.list(keys::WF_AUDITORS),
        vec!["constitution".to_string(), "extra.wasm".to_string()]
    );
    assert_eq!(
        cfg.list_by_name("WF_AUDITORS"),
        Some(vec!["constitution".to_string(), "extra.wasm".to_string()])
    );
    assert_eq!(
        cfg.local_path(keys::SWEEP_MANIFEST),
        Some(dir.path().join("sweeps/a.csv"))
    );
    assert_eq!(
        cfg.local_path(keys::WF_LOCAL_PODS_DIR),
        Some(dir.path().join(".wfhost/pods"))
    );
    assert_eq!(
        cfg.path_by_name("WF_FLOW_EVIDENCE_DIR"),
        Some(dir.path().join("artifacts/pod_logs/_flows"))
    );
    assert_eq!(
        cfg.path_by_name("REMOTE_REPO_DIR"),
        Some(PathBuf::from("/mnt/repo"))
    );
    assert_eq!(cfg.value(keys::REMOTE_REPO_DIR), "/mnt/repo");
    assert_eq!(cfg.path_by_name("REPO_URL"), None, "not a path key");
    // By-name getters on keys of another kind fail with 101 and say where the value came from.
    let err = cfg.u64_by_name("SWEEP_MANIFEST").unwrap_err();
    assert_eq!(err.code(), codes::CONFIG_INVALID);
    assert!(
        err.to_string()
            .contains("workflow.env:3: SWEEP_MANIFEST=\"sweeps/a.csv\""),
        "{err}"
    );
    assert_eq!(cfg.bool01_by_name("WF_TRANSPORT").unwrap_err().code(), codes::CONFIG_INVALID);
    assert_eq!(cfg.u64_by_name("NOT_A_KEY").unwrap(), None);
    let map = cfg.resolved_map();
    assert_eq!(map.get("SWEEP_MAX_PARALLEL").map(String::as_str), Some("4"));
    assert_eq!(
        map.get("WF_AUDITOR_FUEL").map(String::as_str),
        Some("1000000000")
    );
    assert_eq!(
        map.get("WF_AUDITOR_MEMORY_MB").map(String::as_str),
        Some("64")
    );
    assert!(!map.contains_key("LIUM_TARGET"));
    let defaults = load_text("").unwrap();
    assert_eq!(
        defaults.list(keys::WF_AUDITORS),
        vec!["constitution".to_string()]
    );
    assert_eq!(defaults.list_by_name("CHECKOUT_CHECKS"), None);
    assert!(defaults.list(keys::CHECKOUT_CHECKS).is_empty());
    assert_eq!(defaults.uint(keys::WF_AUDITOR_FUEL), keys::WF_AUDITOR_FUEL.default_value());
    assert_eq!(cfg.get(keys::WF_CONSTITUTION_VERSION), Some("1"));
    assert_eq!(cfg.get(keys::WF_PHASE_COURT_ENFORCE), Some("1"));
}

#[test]
fn illegal_values_name_the_line_and_the_key() {
    let cases: &[(&str, &str)] = &[
        ("SWEEP_MAX_PARALLEL=abc", "whole number"),
        ("SWEEP_MAX_PARALLEL=0", "at least 1"),
        ("SWEEP_MAX_PARALLEL=+3", "whole number"),
        ("WF_AUDITOR_MEMORY_MB=4097", "at most 4096"),
        ("WF_PHASE_TIMEOUT_P60=soon", "whole number"),
        (
            "WF_MONITOR_TIMEOUT_SECS=99999999999999999999999",
            "too large",
        ),
        ("CHECKOUT_FORCE_CLEAN=yes", "must be 0 or 1"),
        ("LIUM_YES=2", "must be 0 or 1"),
        (
            "OPS_REMOTE_OUTPUTS_DIR=outputs",
            "absolute path on the target",
        ),
        (
            "REMOTE_ENV_PATH='~/project.env'",
            "absolute path on the target",
        ),
    ];
    for (line, problem) in cases {
        let err = load_err(&format!("REPO_URL=x\n{line}\n"));
        assert_eq!(err.code(), codes::CONFIG_INVALID, "{line}");
        let msg = err.to_string();
        let key = line.split('=').next().unwrap();
        assert!(
            msg.contains(&format!("workflow.env:2: {key}=")),
            "{line}: {msg}"
        );
        assert!(msg.contains(problem), "{line}: {msg}");
    }
}

#[test]
fn the_constitution_version_and_the_court_switch_have_their_own_codes() {
    let err = load_err("WF_CONSTITUTION_VERSION=2\n");
    assert_eq!(err.code(), codes::CONSTITUTION_VERSION);
    assert!(
        err.to_string().contains("set WF_CONSTITUTION_VERSION=1"),
        "{err}"
    );
    for off in ["0", "false", "no"] {
        let err = load_err(&format!("# x\nWF_PHASE_COURT_ENFORCE={off}\n"));
        assert_eq!(err.code(), codes::COURT_DISABLED, "{off}");
        assert!(err.to_string().contains("workflow.env:2:"), "{err}");
        assert!(err.to_string().contains("cannot be switched off"), "{err}");
    }
    let cfg = load_text("WF_CONSTITUTION_VERSION=1\nWF_PHASE_COURT_ENFORCE=1\n").unwrap();
    assert_eq!(cfg.get(keys::WF_PHASE_COURT_ENFORCE), Some("1"));
}

#[test]
fn environment_only_keys_are_refused_in_the_file() {
    for key in ["WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE", "WFHOST_CACHE_DIR"] {
        let err = load_err(&format!("REPO_URL=x\n{key}=1\n"));
        assert_eq!(err.code(), codes::CONFIG_INVALID, "{key}");
        assert!(
            err.to_string().contains(&format!(
                "workflow.env:2: {key} is read from the process environment only"
            )),
            "{err}"
        );
    }
}

#[test]
fn consent_may_come_from_the_file_or_the_environment() {
    let cfg = load_text("LIUM_YES=1\n").unwrap();
    assert!(cfg.consent_given());
    assert_eq!(cfg.source(keys::LIUM_YES), Some(ValueSource::File { line: 1 }));

    let cfg = load_bytes_env(b"", &[("LIUM_YES", "1")]).unwrap();
    assert!(cfg.consent_given());
    assert_eq!(cfg.source(keys::LIUM_YES), Some(ValueSource::Env));

    // A non-empty environment value wins over the file.
    let cfg = load_bytes_env(b"LIUM_YES=1\n", &[("LIUM_YES", "0")]).unwrap();
    assert!(!cfg.consent_given());

    let err = load_bytes_env(b"", &[("LIUM_YES", "y")]).unwrap_err();
    assert_eq!(err.code(), codes::CONFIG_INVALID);
    assert!(
        err.to_string()
            .contains("process environment sets LIUM_YES=\"y\""),
        "{err}"
    );

    let cfg = load_bytes_env(b"", &[("WFHOST_CACHE_DIR", "/tmp/cache")]).unwrap();
    assert_eq!(cfg.get(keys::WFHOST_CACHE_DIR), Some("/tmp/cache"));
    assert!(cfg
        .public_entries()
        .iter()
        .all(|(k, _)| k != "WFHOST_CACHE_DIR"));
}

#[test]
fn file_only_keys_in_the_environment_are_ignored_with_a_warning() {
    let cfg = load_bytes_env(
        b"LIUM_TARGET=from-file\n",
        &[("LIUM_TARGET", "from-env"), ("REPO_URL", "env-url")],
    )
    .unwrap();
    assert_eq!(cfg.get(keys::LIUM_TARGET), Some("from-file"));
    assert_eq!(cfg.get(keys::REPO_URL), None);
    let warnings = cfg.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("LIUM_TARGET is set in the process environment")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("REPO_URL is set in the process environment")),
        "{warnings:?}"
    );
}

#[test]
fn unknown_keys_are_kept_in_order_warned_about_and_never_used() {
    let cfg = load_text("ZZZ_LAST=1\nREPO_URL=x\nAAA_FIRST=2\nSWEEP_MANIFST=typo.csv\n").unwrap();
    let unknown: Vec<(&str, usize)> = cfg
        .unknown_keys()
        .iter()
        .map(|u| (u.key.as_str(), u.line))
        .collect();
    assert_eq!(
        unknown,
        vec![("ZZZ_LAST", 1), ("AAA_FIRST", 3), ("SWEEP_MANIFST", 4)]
    );
    assert_eq!(cfg.unknown_keys()[2].to_string(), "SWEEP_MANIFST (line 4)");
    assert_eq!(cfg.get_by_name("SWEEP_MANIFST"), None);
    assert_eq!(cfg.get(keys::SWEEP_MANIFEST), None);
    assert!(cfg
        .public_entries()
        .iter()
        .all(|(k, _)| k != "ZZZ_LAST" && k != "SWEEP_MANIFST"));
    let warnings = cfg.warnings();
    assert_eq!(warnings.len(), 3);
    assert!(
        warnings[2].contains("workflow.env:4: unknown key SWEEP_MANIFST"),
        "{warnings:?}"
    );
}

#[test]
fn phase_timeouts_are_a_known_family() {
    let cfg = load_text("WF_PHASE_TIMEOUT_P60=1200\nREPO_URL=x\n").unwrap();
    assert_eq!(cfg.u64_by_name("WF_PHASE_TIMEOUT_P60").unwrap(), Some(1200));
    assert_eq!(cfg.u64_by_name("WF_PHASE_TIMEOUT_P50").unwrap(), None);
    let timeout = keys::patterns::WF_PHASE_TIMEOUT;
    assert_eq!(cfg.pattern_uint(timeout, "P60"), Some(1200));
    assert_eq!(cfg.pattern_uint(timeout, "P50"), None);
    assert!(cfg.unknown_keys().is_empty());
    let entries = cfg.public_entries();
    assert_eq!(
        entries.last(),
        Some(&("WF_PHASE_TIMEOUT_P60".to_string(), "1200".to_string()))
    );
    assert_eq!(load_err("WF_PHASE_TIMEOUT_P60=0\n").code(), codes::CONFIG_INVALID);
}

#[test]
fn required_keys_fail_with_107() {
    let cfg = load_text("REPO_URL=x\n").unwrap();
    assert_eq!(cfg.require(keys::REPO_URL, "P50 CHECKOUT").unwrap(), "x");
    let err = cfg.require(keys::SWEEP_MANIFEST, "P60 SWEEP").unwrap_err();
    assert_eq!(err.code(), codes::REQUIRED_VAR_MISSING);
    assert!(
        err.to_string().starts_with("SWEEP_MANIFEST is not set in "),
        "{err}"
    );
    assert!(err.to_string().contains("P60 SWEEP"), "{err}");
}

// ----- secrets -------------------------------------------------------------------------------

#[test]
fn secrets_stay_out_of_values_debug_entries_and_redacted_text() {
    let text = "REPO_URL=x\nLIUM_API_KEY=sk-live-111\r\nWF_SECRET_HF='hf_222'\nWF_SSH_IDENTITY=keys/id_333\nHF_TOKEN=tok444\n";
    let cfg = load_text(text).unwrap();
    assert_eq!(
        cfg.secret(keys::LIUM_API_KEY).map(SecretValue::expose),
        Some("sk-live-111")
    );
    assert_eq!(
        cfg.secret_by_name("WF_SECRET_HF").map(SecretValue::expose),
        Some("hf_222")
    );
    assert_eq!(
        cfg.secret(keys::WF_SSH_IDENTITY).map(SecretValue::expose),
        Some("keys/id_333")
    );
    assert_eq!(
        cfg.secrets().keys().collect::<Vec<_>>(),
        vec!["LIUM_API_KEY", "WF_SECRET_HF", "WF_SSH_IDENTITY"]
    );
    for key in ["LIUM_API_KEY", "WF_SECRET_HF", "WF_SSH_IDENTITY"] {
        assert_eq!(
            cfg.get_by_name(key),
            None,
            "{key} must not be readable through get()"
        );
    }
    assert_eq!(cfg.get(keys::LIUM_API_KEY), None);
    assert_eq!(cfg.value(keys::WF_SSH_IDENTITY), "");
    let secrets = ["sk-live-111", "hf_222", "id_333"];
    let debug = format!(
        "{cfg:?} {:?} {:?}",
        cfg.secrets(),
        cfg.secret(keys::LIUM_API_KEY)
    );
    let entries = format!("{:?}", cfg.public_entries());
    let redacted = cfg.redacted_text();
    for s in secrets {
        assert!(!debug.contains(s), "Debug leaks {s}: {debug}");
        assert!(!entries.contains(s), "public_entries leaks {s}: {entries}");
        assert!(!redacted.contains(s), "redacted_text leaks {s}: {redacted}");
    }
    assert!(
        !redacted.contains("tok444"),
        "a credential-looking unknown key is redacted too"
    );
    assert!(
        String::from_utf8_lossy(cfg.raw()).contains("sk-live-111"),
        "raw is the file as is"
    );
    assert_eq!(
        redacted,
        "REPO_URL=x\nLIUM_API_KEY=<redacted>\r\nWF_SECRET_HF=<redacted>\nWF_SSH_IDENTITY=<redacted>\nHF_TOKEN=<redacted>\n"
    );
    let entries = cfg.public_entries();
    let get = |k: &str| {
        entries
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("LIUM_API_KEY"), Some(SECRET_MARKER));
    assert_eq!(get("WF_SECRET_HF"), Some(SECRET_MARKER));
    assert_eq!(get("WF_SSH_IDENTITY"), Some(SECRET_MARKER));
    assert_eq!(get("WF_SIGNING_KEY"), None, "unset secrets are not listed");
    assert_eq!(get("REPO_URL"), Some("x"));
    assert_eq!(
        get("OPS_REMOTE_OUTPUTS_DIR"),
        Some("/mnt/outputs"),
        "defaults are listed"
    );
    assert_eq!(get("HF_TOKEN"), None, "unknown keys are not listed");
}

#[test]
fn an_illegal_secret_value_is_reported_without_the_value() {
    // WF_SSH_IDENTITY is a local path; a NUL character is illegal in any value.
    let err = load_err("WF_SSH_IDENTITY=\"abc\u{0}def-secret\"\n");
    assert_eq!(err.code(), codes::CONFIG_INVALID);
    assert!(!err.to_string().contains("def-secret"), "{err}");
    assert!(err.to_string().contains("<redacted>"), "{err}");
}

// ----- rehash --------------------------------------------------------------------------------

#[test]
fn rehash_detects_a_changed_or_vanished_config() {
    let dir = workdir_with(b"REPO_URL=x\n");
    let loc = ConfigLocation::resolve(dir.path(), &env(&[])).unwrap();
    let cfg = Config::load(&loc).unwrap();
    assert_eq!(cfg.rehash().unwrap(), cfg.sha256());
    std::fs::write(loc.path(), "REPO_URL=y\n").unwrap();
    assert_ne!(cfg.rehash().unwrap(), cfg.sha256());
    std::fs::remove_file(loc.path()).unwrap();
    assert_eq!(cfg.rehash().unwrap_err().code(), codes::CONFIG_MISSING);
}

// ----- vocabulary ----------------------------------------------------------------------------

#[test]
fn the_embedded_vocabulary_holds_every_documented_key() {
    let v = Vocabulary::get().unwrap();
    for key in [
        "WF_CONSTITUTION_VERSION",
        "WF_TRANSPORT",
        "LIUM_TARGET",
        "LIUM_YES",
        "OPS_DEFAULT_HOST",
        "REMOTE_ENV_PATH",
        "OPS_REMOTE_OUTPUTS_DIR",
        "REPO_URL",
        "REPO_REF",
        "CHECKOUT_FORCE_CLEAN",
        "CHECKOUT_CHECKS",
        "BOOTSTRAP_SCRIPT",
        "SWEEP_MANIFEST",
        "SWEEP_RUN_TEMPLATE",
        "SWEEP_MAX_PARALLEL",
        "SWEEP_MATCH",
        "SWEEP_START_AT",
        "WF_PHASE_COURT_ENFORCE",
        "WF_AUDITORS",
        "WF_AUDITOR_FUEL",
        "WF_AUDITOR_MEMORY_MB",
        "WF_SUBAGENT_VALIDATOR_CMD",
        "WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS",
        "WF_FLOW_EVIDENCE_DIR",
        "REMOTE_REPO_DIR",
        "WF_LOCAL_PODS_DIR",
        "WF_MONITOR_TIMEOUT_SECS",
        "WF_MONITOR_POLL_SECS",
        "WF_POD_READY_TIMEOUT_SECS",
        "WF_BOOTSTRAP_TIMEOUT_SECS",
        "WF_EXECUTOR",
        "WF_SSH_IDENTITY",
        "WF_SSH_KNOWN_HOSTS",
        "WF_SSH_OPTIONS",
        "WF_SIGNING_KEY",
        "LIUM_API_KEY",
        "WF_ALLOW_OVERRIDE",
        "WORKFLOW_CONFIG",
        "WFHOST_CACHE_DIR",
    ] {
        let spec = v
            .key(key)
            .unwrap_or_else(|| panic!("{key} missing from constitution/config.toml"));
        assert!(!spec.meaning.is_empty(), "{key}");
    }
    for secret in [
        "LIUM_API_KEY",
        "WF_SIGNING_KEY",
        "WF_SSH_IDENTITY",
        "WF_SECRET_ANYTHING",
    ] {
        assert!(v.is_secret(secret), "{secret}");
    }
    assert!(
        !v.is_secret("WF_SECRET_"),
        "a family needs at least one character after the prefix"
    );
    assert!(!v.is_secret("REPO_URL"));
    assert_eq!(v.key("WORKFLOW_CONFIG").unwrap().source, Source::Env);
    assert_eq!(v.key("LIUM_YES").unwrap().source, Source::FileOrEnv);
    assert_eq!(
        v.key("REPO_URL").unwrap().required_for,
        vec!["P50".to_string()]
    );
    // Every phase named by required_for exists in the constitution.
    let c = wfhost_constitution::Constitution::get().unwrap();
    for spec in &v.keys {
        for phase in &spec.required_for {
            assert!(
                c.phase(phase).is_some(),
                "{}: unknown phase {phase}",
                spec.name
            );
        }
    }
}

#[test]
fn a_broken_vocabulary_is_rejected() {
    let head = "version = 1\n[[key]]\nname = \"K\"\nmeaning = \"m\"\n";
    for (body, expect) in [
        ("kind = \"enum\"\n", "non-empty values"),
        ("kind = \"uint\"\ndefault = \"x\"\n", "whole number"),
        ("kind = \"path\"\n", "scope"),
        ("kind = \"list\"\n", "separator"),
        ("kind = \"string\"\nmin = 1\n", "min does not apply"),
        (
            "kind = \"enum\"\nvalues = [\"a\"]\nmax = 1\n",
            "max does not apply",
        ),
        ("kind = \"string\"\nbogus = 1\n", "unknown field"),
        (
            "kind = \"string\"\nsecret = true\ndefault = \"x\"\n",
            "secret cannot have a default",
        ),
        ("kind = \"float\"\n", "unknown kind"),
    ] {
        let err = Vocabulary::parse(&format!("{head}{body}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "{body}: {err}");
    }
    let block = "[[key]]\nname = \"K\"\nmeaning = \"m\"\nkind = \"string\"\n";
    let dup = format!("version = 1\n{block}{block}");
    assert!(Vocabulary::parse(&dup)
        .unwrap_err()
        .to_string()
        .contains("listed twice"));
}

#[test]
fn every_error_code_is_a_family_1_code_of_the_constitution() {
    let c = wfhost_constitution::Constitution::get().unwrap();
    let io = || Arc::new(io::Error::other("x"));
    let p = PathBuf::from("/p");
    let errors = [
        ConfigError::Workdir {
            workdir: p.clone(),
            source: io(),
        },
        ConfigError::Unreadable {
            path: p.clone(),
            next: String::new(),
            source: io(),
        },
        ConfigError::OverrideRefused {
            requested: p.clone(),
            canonical: p.clone(),
            allow: "unset".into(),
        },
        ConfigError::Syntax {
            path: p.clone(),
            line: 1,
            text: String::new(),
            problem: String::new(),
            fix: String::new(),
        },
        ConfigError::ConstitutionVersion {
            path: p.clone(),
            line: 1,
            found: "2".into(),
            expected: 1,
        },
        ConfigError::CourtDisabled {
            path: p.clone(),
            line: 1,
            found: "0".into(),
        },
        ConfigError::RequiredMissing {
            path: p,
            key: "K".into(),
            needed_by: "P50".into(),
        },
    ];
    let expected_names = [
        "CONFIG_MISSING",
        "CONFIG_MISSING",
        "OVERRIDE_REFUSED",
        "CONFIG_INVALID",
        "CONSTITUTION_VERSION",
        "COURT_DISABLED",
        "REQUIRED_VAR_MISSING",
    ];
    for (e, name) in errors.iter().zip(expected_names) {
        let code = c
            .code(e.code())
            .unwrap_or_else(|| panic!("code {} not in codes.toml", e.code()));
        assert_eq!(code.name, name, "{e}");
    }
}
