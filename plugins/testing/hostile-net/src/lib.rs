//! Test-only auditor that tries to reach the network through `std::net` (so it imports
//! `wasi:sockets`). The host links `wasi:sockets` for every role with sockets and name lookup
//! denied, so the component loads and every attempt must fail.
//!
//! The request's `config` names the targets: `tcp_port` (a loopback TCP listener that must never
//! see a connection) and `udp_port` (a loopback UDP socket that must never receive a datagram).
//! The verdict is `pass` with one reason per attempt, `<attempt>: ok: <what it got>` or
//! `<attempt>: error: <error>`.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

#[path = "../../hostile-fs/src/attempt.rs"]
mod attempt;


wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });

use attempt::report;
use exports::wfhost::plugin::judge::Guest;
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct OpensSockets;

fn resolved(addrs: impl Iterator<Item = std::net::SocketAddr>) -> String {
    addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(",")
}

impl Guest for OpensSockets {
    fn audit(request: AuditRequest) -> Verdict {
        let port = |key: &str| -> u16 {
            request
                .pack
                .config
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.parse().ok())
                .unwrap_or(9)
        };
        let (tcp_port, udp_port) = (port("tcp_port"), port("udp_port"));
        let peer = |s: TcpStream| format!("connected to {:?}", s.peer_addr());
        let reasons = vec![
            report(
                "connect 127.0.0.1",
                TcpStream::connect(("127.0.0.1", tcp_port)),
                peer,
            ),
            report(
                "connect localhost",
                TcpStream::connect(("localhost", tcp_port)),
                peer,
            ),
            report(
                "resolve localhost",
                ("localhost", tcp_port).to_socket_addrs(),
                resolved,
            ),
            report(
                "resolve example.com",
                ("example.com", 443).to_socket_addrs(),
                resolved,
            ),
            report("listen", TcpListener::bind("127.0.0.1:0"), |l| {
                format!("listening on {:?}", l.local_addr())
            }),
            report(
                "send udp",
                UdpSocket::bind("127.0.0.1:0")
                    .and_then(|s| s.send_to(b"planted", ("127.0.0.1", udp_port))),
                |n| format!("sent {n} bytes"),
            ),
        ];
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons,
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-net".into()
    }
}

export!(OpensSockets);
