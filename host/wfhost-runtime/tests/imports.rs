//! What the components really import, printed for the record (`--nocapture`), and checked so the
//! sandbox and refusal tests cannot pass vacuously: each hostile fixture must really import the
//! capability it is meant to be denied or refused, and each built-in must import only what its
//! role allows.

mod common;

use wasmtime::component::Component;
use wasmtime::{Config, Engine};
use wfhost_runtime::WASI_BASE_IMPORTS;

fn imports(stem: &str) -> Vec<String> {
    let engine = Engine::new(Config::new().wasm_component_model(true)).expect("engine");
    let component = Component::new(&engine, common::component_bytes(stem)).expect("component");
    let list: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    println!("{stem}: {}", list.join(" "));
    list
}

fn unversioned(import: &str) -> &str {
    import.split('@').next().unwrap_or(import)
}

fn only_allowed(stem: &str, wfhost: &[&str]) {
    for import in imports(stem) {
        let name = unversioned(&import);
        let ok = WASI_BASE_IMPORTS.contains(&name)
            || name == "wfhost:plugin/types"
            || wfhost.iter().any(|w| name == format!("wfhost:plugin/{w}"));
        assert!(ok, "{stem} imports {import}, which its role does not allow");
    }
}

#[test]
fn built_ins_import_only_what_their_role_allows() {
    only_allowed("wfhost_auditor_constitution", &[]);
    only_allowed("wfhost_executors", &["log", "settings", "gateway"]);
    only_allowed("wfhost_transport_local", &["log", "settings", "process"]);
}

#[test]
fn hostile_fixtures_really_import_what_they_are_denied_or_refused() {
    let has = |stem: &str, prefix: &str| imports(stem).iter().any(|i| i.starts_with(prefix));
    // Denied at run time (linked with nothing behind them).
    for iface in ["wasi:filesystem/preopens@", "wasi:filesystem/types@"] {
        assert!(has("hostile_fs", iface), "{iface}");
    }
    for iface in [
        "wasi:sockets/tcp-create-socket@",
        "wasi:sockets/tcp@",
        "wasi:sockets/ip-name-lookup@",
        "wasi:sockets/udp-create-socket@",
    ] {
        assert!(has("hostile_net", iface), "{iface}");
    }
    assert!(has("hostile_env", "wasi:cli/environment@"));
    assert!(has("probe_executor", "wasi:filesystem/"));
    assert!(has("probe_executor", "wasi:sockets/"));
    assert!(has("probe_transport", "wasi:filesystem/"));
    assert!(!has("hostile_runtime", "wasi:filesystem/"));
    // Refused at load.
    assert!(has("hostile_gateway", "wfhost:plugin/gateway@"));
    assert!(has("hostile_process", "wfhost:plugin/process@"));
    assert!(!has("hostile_process", "wfhost:plugin/gateway@"));
}
