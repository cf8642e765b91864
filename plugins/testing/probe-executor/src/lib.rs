//! Test-only executor. It calls every import the executor world has (log, settings, gateway) and
//! reports what it saw as facts, so tests can check the host plumbing end to end. The phase
//! `trap` traps, `loop` never returns, `big` returns a 2 MiB message. The phase `reach-out` goes
//! around the gateway instead: it reads `/etc/hostname`, creates the file named by the config key
//! `canary`, connects to 127.0.0.1 on the port named by `port` and counts the environment, and
//! reports each result as a fact (all of them must be errors, and the count 0).

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "executor", path: "../../../wit" });

use exports::wfhost::plugin::phase::{Guest, PhaseContext};
use wfhost::plugin::gateway::{self, ExecRequest};
use wfhost::plugin::log::{self, Level};
use wfhost::plugin::settings;
use wfhost::plugin::types::{ActionClass, Kv, PhaseOutcome, PhaseStatus};

struct Probe;

fn fact(key: &str, value: String) -> Kv {
    Kv {
        key: key.into(),
        value,
    }
}

impl Guest for Probe {
    fn phases() -> Vec<String> {
        vec!["P30".into(), "P40".into()]
    }

    fn run_phase(context: PhaseContext) -> PhaseOutcome {
        match context.phase.as_str() {
            "trap" => core::arch::wasm32::unreachable(),
            "loop" => loop {
                std::hint::black_box(0u8);
            },
            "reach-out" => return reach_out(context),
            _ => {}
        }
        log::emit(Level::Info, &format!("probe running {}", context.phase));
        let setting = settings::get("probe_key").unwrap_or_else(|| "<none>".into());
        let target = gateway::bound_target();
        let exec = gateway::exec(&ExecRequest {
            target: target.clone().unwrap_or_default(),
            command: "echo probe".into(),
            cwd: None,
            env: vec![],
            timeout_ms: 1000,
            class: ActionClass::Read,
            idempotency_key: None,
        });
        let elsewhere = gateway::pod_status("elsewhere");
        let message = if context.phase == "big" {
            "m".repeat(2 << 20)
        } else {
            "probed".into()
        };
        PhaseOutcome {
            phase: context.phase,
            status: PhaseStatus::Ok,
            code: 0,
            message,
            artifacts: vec![],
            facts: vec![
                fact("setting", setting),
                fact("bound_target", format!("{target:?}")),
                fact("exec", format!("{:?}", exec.map(|r| r.stdout))),
                fact("elsewhere", format!("{elsewhere:?}")),
            ],
            details_json: None,
        }
    }
}

fn reach_out(context: PhaseContext) -> PhaseOutcome {
    let config = |key: &str| {
        let kv = context.config.iter().find(|kv| kv.key == key);
        kv.map(|kv| kv.value.clone()).unwrap_or_default()
    };
    let port: u16 = config("port").parse().unwrap_or(9);
    let read = std::fs::read_to_string("/etc/hostname");
    let create = std::fs::write(config("canary"), b"planted");
    let connect = std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| "connected");
    PhaseOutcome {
        phase: context.phase.clone(),
        status: PhaseStatus::Ok,
        code: 0,
        message: "reached out".into(),
        artifacts: vec![],
        facts: vec![
            fact("read", format!("{read:?}")),
            fact("create", format!("{create:?}")),
            fact("connect", format!("{connect:?}")),
            fact("env", std::env::vars().count().to_string()),
        ],
        details_json: None,
    }
}

export!(Probe);
