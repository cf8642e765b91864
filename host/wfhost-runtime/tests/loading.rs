//! Loading: built-ins load for their role, components that import the WASI a language runtime
//! brings (files, sockets) load for theirs, components of the wrong world and bytes that are not
//! a component, and components built against another version of the contract, are refused with an
//! error that names the problem.

mod common;

use common::{component, component_bytes, request, runtime};
use sha2::Digest;
use wfhost_builtins::builtins;
use wfhost_runtime::types::VerdictStatus;
use wfhost_runtime::{ComponentSource, FailureKind, Limits, LoadError, LoadSource, Role, WFHOST_PLUGIN_VERSION};

#[test]
fn every_built_in_loads_for_its_role() {
    let (rt, _dir) = runtime();
    let names: Vec<(&str, Role)> = builtins().collect();
    for expected in [
        ("constitution", Role::Auditor),
        ("executors", Role::Executor),
        ("local", Role::Transport),
    ] {
        assert!(
            names.contains(&expected),
            "missing built-in {expected:?} in {names:?}"
        );
    }
    for (name, role) in names {
        let source = wfhost_builtins::builtin(name).expect("a listed built-in");
        match role {
            Role::Auditor => {
                let auditor = rt.load_auditor(&source).expect("auditor loads");
                assert_eq!(auditor.name(), format!("builtin:{name}"));
                assert_eq!(auditor.sha256().len(), 64);
                let described = auditor
                    .describe(&Limits::auditor_default())
                    .expect("describe");
                assert!(!described.is_empty());
            }
            Role::Executor => {
                let executor = rt.load_executor(&source).expect("executor loads");
                executor
                    .phases(&Limits::executor_default())
                    .expect("phases() runs");
            }
            Role::Transport => {
                rt.load_transport(&source).expect("transport loads");
            }
        }
    }
    let loaded = wfhost_builtins::preload(&rt).expect("all built-ins preload");
    assert_eq!(loaded.len(), builtins().count());
}

#[test]
fn components_importing_files_and_sockets_load_for_every_role() {
    // A component's imports are not its capabilities: what the toolchain brings is linked for
    // every role (denying access; `hostile.rs` and `plugins.rs` show each attempt failing).
    let (rt, _dir) = runtime();
    for stem in ["hostile_fs", "hostile_net"] {
        let auditor = rt.load_auditor(&component(stem)).expect("auditor loads");
        let described = auditor
            .describe(&Limits::auditor_default())
            .expect("describe runs");
        assert_eq!(described, stem.replace('_', "-"));
    }
    let executor = rt
        .load_executor(&component("probe_executor"))
        .expect("executor loads");
    executor
        .phases(&Limits::executor_default())
        .expect("phases() runs");
    rt.load_transport(&component("probe_transport"))
        .expect("transport loads");
}

#[test]
fn the_built_in_auditor_stays_far_below_the_default_fuel() {
    let (rt, _dir) = runtime();
    let auditor = rt
        .load_auditor(&wfhost_builtins::builtin("constitution").expect("built-in"))
        .expect("loads");
    let limits = Limits::auditor_default();
    let result = auditor.audit(&request("P30"), &limits);
    println!(
        "built-in audit: {:?}, fuel {}",
        result.status(),
        result.fuel_used
    );
    assert!(result.fuel_used > 0);
    assert!(
        result.fuel_used < limits.fuel / 100,
        "the built-in auditor used {} of {} fuel",
        result.fuel_used,
        limits.fuel
    );
    // Whatever it decided, it was not the host that overrode it for resources.
    if let Some(reason) = &result.reason {
        assert!(
            !matches!(
                reason.kind,
                FailureKind::FuelExhausted | FailureKind::Deadline | FailureKind::MemoryLimit
            ),
            "{reason:?}"
        );
    }
}

#[test]
fn a_component_built_against_wit_0_1_is_refused_saying_how_to_rebuild_it() {
    let (rt, _dir) = runtime();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transport-local-wit-0.1.0.wasm");
    let source = ComponentSource::file(&fixture);
    let errors = [
        (Role::Transport, rt.load_transport(&source).expect_err("0.1 refused")),
        (Role::Executor, rt.load_executor(&source).expect_err("0.1 refused")),
        (Role::Auditor, rt.load_auditor(&source).expect_err("0.1 refused")),
    ];
    for (wanted, err) in errors {
        let LoadError::WitVersion { name, role, version } = &err else {
            panic!("expected a version refusal as {wanted}, got {err}");
        };
        assert_eq!((version.as_str(), *role), ("0.1.0", wanted));
        assert_eq!(name, &fixture.display().to_string());
        let text = err.to_string();
        for needle in [
            name.as_str(),
            "built against wfhost:plugin@0.1.0",
            &format!("only wfhost:plugin@{WFHOST_PLUGIN_VERSION} components"),
            "rebuild it against",
            "wit_bindgen::generate!",
            wanted.world(),
        ] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
    }
    // The same component built from this tree loads.
    rt.load_transport(&wfhost_builtins::builtin("local").expect("built-in"))
        .expect("the current local transport loads");
}

#[test]
fn a_component_of_another_world_is_refused_naming_the_missing_export() {
    let (rt, _dir) = runtime();
    let executor_as_auditor = rt
        .load_auditor(&component("wfhost_executors"))
        .expect_err("refused");
    let LoadError::MissingExport { export, role, .. } = &executor_as_auditor else {
        panic!("expected a missing export, got {executor_as_auditor}");
    };
    assert_eq!(export, "wfhost:plugin/judge@0.2.0");
    assert_eq!(*role, Role::Auditor);
    assert!(executor_as_auditor
        .to_string()
        .contains("wfhost:plugin/judge@0.2.0"));

    let auditor_as_transport = rt
        .load_transport(&component("hostile_runtime"))
        .expect_err("refused");
    assert!(
        auditor_as_transport
            .to_string()
            .contains("wfhost:plugin/transport@0.2.0"),
        "{auditor_as_transport}"
    );

    // A transport is not an executor, even though both import log and settings.
    let transport_as_executor = rt
        .load_executor(&component("probe_transport"))
        .expect_err("refused");
    assert!(
        transport_as_executor
            .to_string()
            .contains("wfhost:plugin/phase@0.2.0"),
        "{transport_as_executor}"
    );

    // An executor's gateway is not a transport's capability: refused naming the import.
    let err = rt
        .load_transport(&component("probe_executor"))
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("does not export wfhost:plugin/transport@0.2.0"),
        "{err}"
    );

    // A built-in asked for under the wrong role.
    let err = rt
        .load_auditor(&wfhost_builtins::builtin("local").expect("built-in"))
        .expect_err("refused");
    assert!(
        matches!(
            err,
            LoadError::BuiltinRole {
                actual: Role::Transport,
                ..
            }
        ),
        "{err}"
    );
    let err = wfhost_builtins::builtin("nonesuch").expect_err("refused");
    assert!(
        err.to_string().contains("constitution"),
        "lists the known built-ins: {err}"
    );
}

#[test]
fn an_embedded_component_loads_under_its_precomputed_digest_and_role() {
    let (rt, _dir) = runtime();
    let bytes: &'static [u8] = component_bytes("hostile_runtime").leak();
    let sha256: [u8; 32] = sha2::Sha256::digest(bytes).into();
    let embedded = ComponentSource::Embedded {
        name: "minimal",
        role: Role::Auditor,
        bytes,
        sha256,
    };
    let auditor = rt.load_auditor(&embedded).expect("loads");
    assert_eq!(auditor.name(), "builtin:minimal");
    assert_eq!(auditor.sha256(), hex::encode(sha256));
    assert_eq!(auditor.load_source(), LoadSource::Compiled);
    // The same bytes from a file hash to the same key: the compiled code is found in memory.
    let from_file = rt
        .load_auditor(&component("hostile_runtime"))
        .expect("loads");
    assert_eq!(from_file.sha256(), auditor.sha256());
    assert_eq!(from_file.load_source(), LoadSource::Memory);
    assert_eq!(
        rt.preload(Role::Auditor, &embedded).expect("preloads"),
        LoadSource::Memory
    );

    let err = rt.load_transport(&embedded).expect_err("refused");
    assert!(
        matches!(
            err,
            LoadError::BuiltinRole {
                actual: Role::Auditor,
                wanted: Role::Transport,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("\"minimal\"") && message.contains("not a transport"),
        "{message}"
    );

    // Debug output names the component and summarises its bytes instead of printing them.
    let debug = format!("{embedded:?}");
    assert!(
        debug.contains("minimal") && debug.contains(&hex::encode(sha256)),
        "{debug}"
    );
    assert!(debug.len() < 300, "{debug}");
}

#[test]
fn garbage_core_modules_and_precompiled_code_are_refused() {
    let (rt, dir) = runtime();
    let garbage = ComponentSource::Bytes {
        name: "garbage".into(),
        bytes: b"#!/bin/sh\necho hi\n".to_vec(),
    };
    let err = rt.load_auditor(&garbage).expect_err("refused");
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("garbage"), "{err}");

    let core = ComponentSource::Bytes {
        name: "core".into(),
        bytes: b"\0asm\x01\0\0\0".to_vec(),
    };
    let err = rt.load_auditor(&core).expect_err("refused");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");

    // A truncated component: the right header, then nonsense.
    let mut truncated = component_bytes("hostile_runtime");
    truncated.truncate(100);
    let err = rt
        .load_auditor(&ComponentSource::Bytes {
            name: "cut".into(),
            bytes: truncated,
        })
        .expect_err("refused");
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");

    // Real precompiled native code for this very engine configuration is still refused.
    let engine = wasmtime::Engine::default();
    let precompiled = engine
        .precompile_component(&component_bytes("hostile_runtime"))
        .expect("precompile");
    let err = rt
        .load_auditor(&ComponentSource::Bytes {
            name: "shipped.cwasm".into(),
            bytes: precompiled.clone(),
        })
        .expect_err("refused");
    assert!(matches!(err, LoadError::Precompiled { .. }), "{err}");
    let path = dir.path().join("plugin.cwasm");
    std::fs::write(&path, &precompiled).expect("write");
    let err = rt
        .load_auditor(&ComponentSource::file(&path))
        .expect_err("refused");
    assert!(matches!(err, LoadError::Precompiled { .. }), "{err}");
    // Renaming it does not help.
    let renamed = dir.path().join("plugin.wasm");
    std::fs::rename(&path, &renamed).expect("rename");
    let err = rt
        .load_auditor(&ComponentSource::file(&renamed))
        .expect_err("refused");
    assert!(matches!(err, LoadError::Precompiled { .. }), "{err}");

    let err = rt
        .load_auditor(&ComponentSource::file(dir.path().join("absent.wasm")))
        .expect_err("refused");
    assert!(matches!(err, LoadError::Read { .. }), "{err}");

    // Through the never-failing entry point, each of these is an unverified verdict.
    let result = rt.audit(&garbage, &request("P30"), &Limits::auditor_default());
    assert_eq!(result.status(), VerdictStatus::Unverified);
    assert_eq!(
        result.reason.map(|r| r.kind),
        Some(FailureKind::LoadRefused)
    );
}
