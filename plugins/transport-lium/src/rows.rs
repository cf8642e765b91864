//! The API's rows as the transport reads them: nodes (`GET /executors`), pods (`GET /pods`,
//! `GET /pods/{id}`), their ssh endpoint and events, and the choice of a node.
//!
//! Only the fields the transport uses are read; a row without an `id` is skipped. A pod's
//! status is compared upper-cased and sorted into [`Phase`]: `PENDING` and `REBOOT_PENDING` are
//! starting, `RUNNING` is up, `DELETING` is going away, every other value (CREATION_FAILED,
//! BROKEN, FAILED, REBOOT_FAILED, STOPPED, ...) is terminal, as the official client treats them.
//! The ssh endpoint is `ssh_connect_cmd` in the only shape the official client accepts
//! (`ssh user@host` or `ssh user@host -p port`), checked word by word so nothing of it can
//! reach ssh as an option.

use crate::settings::Settings;
use serde_json::Value;

/// A node that can be rented.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its UUID.
    pub id: String,
    /// Its GPU model.
    pub machine_name: String,
    /// USD per GPU and hour.
    pub price_per_gpu: f64,
    /// GPUs in the host.
    pub gpu_count: u32,
    /// GPUs free now.
    pub available: u32,
    /// Whether it rents only whole.
    pub whole_only: bool,
    /// Its country and country code, lowercase.
    pub country: (String, String),
    /// `secure` or `spot`.
    pub tier: String,
}

impl Node {
    /// Read one row of `GET /executors`.
    pub fn from_row(v: &Value) -> Option<Node> {
        let id = v.get("id")?.as_str()?.to_ascii_lowercase();
        let gpu_count = v.get("gpu_count").and_then(Value::as_u64).unwrap_or(0) as u32;
        let available = v.get("available_gpu_count").and_then(Value::as_u64).map(|n| n as u32).unwrap_or(gpu_count);
        let loc = |k: &str| v.pointer(&format!("/location/{k}")).and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        Some(Node {
            id,
            machine_name: v.get("machine_name").and_then(Value::as_str).unwrap_or("").to_string(),
            price_per_gpu: v.get("price_per_gpu").and_then(Value::as_f64).unwrap_or(f64::INFINITY),
            gpu_count,
            available,
            whole_only: v.get("min_gpu_count_for_rental").is_some_and(Value::is_null),
            country: (loc("country"), loc("country_code")),
            tier: v.get("tier").and_then(Value::as_str).unwrap_or("").to_string(),
        })
    }

    /// GPUs a rent of this node takes: all of them when it rents only whole, else `count`.
    pub fn gpus_for(&self, count: u32) -> u32 {
        if self.whole_only {
            self.gpu_count
        } else {
            count
        }
    }

    /// USD per hour for `count` GPUs (see [`Node::gpus_for`]).
    pub fn price_for(&self, count: u32) -> f64 {
        self.price_per_gpu * f64::from(self.gpus_for(count))
    }

    /// Why this node does not fit the filters of `s` (the price cap aside), if it does not.
    pub fn misfit(&self, s: &Settings) -> Option<String> {
        if let Some(g) = &s.gpu {
            if !self.machine_name.to_ascii_lowercase().contains(g.as_str()) {
                return Some(format!("its GPU is {}, not {g}", self.machine_name));
            }
        }
        if let Some(c) = &s.country {
            if self.country.0 != *c && self.country.1 != *c {
                return Some(format!("it is in {}, not {c}", if self.country.0.is_empty() { "an unknown country" } else { &self.country.0 }));
            }
        }
        if self.available < s.count {
            return Some(format!("it has {} free GPU(s), {} wanted", self.available, s.count));
        }
        if self.whole_only && self.gpu_count != s.count {
            return Some(format!("it rents only whole ({} GPUs), {} wanted", self.gpu_count, s.count));
        }
        None
    }
}

/// The nodes of `rows` that fit `s` and its price cap, cheapest first (secure before spot at the
/// same price); with LIUM_EXECUTOR_ID only that node. When none fits, why (one reason per node
/// seen, at most a few).
pub fn candidates(rows: &[Value], s: &Settings) -> Result<Vec<Node>, String> {
    let nodes: Vec<Node> = rows.iter().filter_map(Node::from_row).collect();
    if let Some(id) = &s.executor_id {
        let Some(n) = nodes.into_iter().find(|n| n.id == *id) else {
            return Err(format!(
                "node {id} (LIUM_EXECUTOR_ID) is not in Lium's listing: it is rented out, offline or unknown; choose another with `lium ls`, or unset LIUM_EXECUTOR_ID to rent by LIUM_GPU"
            ));
        };
        let price = n.price_for(s.count);
        if price > s.max_price {
            return Err(format!(
                "node {id} costs ${price:.2}/h for {} GPU(s), over LIUM_MAX_PRICE_PER_HOUR=${:.2}; raise the cap or choose a cheaper node",
                n.gpus_for(s.count),
                s.max_price
            ));
        }
        if n.available < n.gpus_for(s.count) {
            return Err(format!("node {id} has {} free GPU(s), {} wanted (LIUM_COUNT)", n.available, n.gpus_for(s.count)));
        }
        return Ok(vec![n]);
    }
    let mut why = Vec::new();
    let mut fit: Vec<Node> = Vec::new();
    for n in nodes {
        match n.misfit(s) {
            Some(m) => why.push(format!("{} ({}): {m}", n.id, n.machine_name)),
            None if n.price_for(s.count) > s.max_price => {
                why.push(format!("{} ({}): ${:.2}/h is over LIUM_MAX_PRICE_PER_HOUR=${:.2}", n.id, n.machine_name, n.price_for(s.count), s.max_price))
            }
            None => fit.push(n),
        }
    }
    if fit.is_empty() {
        let shown: Vec<String> = why.iter().take(4).cloned().collect();
        return Err(format!(
            "no listed Lium node fits LIUM_GPU={}, LIUM_COUNT={}, LIUM_COUNTRY={} and LIUM_MAX_PRICE_PER_HOUR=${:.2}{}; widen the filters or raise the cap",
            s.gpu.as_deref().unwrap_or("(any)"),
            s.count,
            s.country.as_deref().unwrap_or("(any)"),
            s.max_price,
            if shown.is_empty() { " (the listing is empty)".to_string() } else { format!(" ({}{})", shown.join("; "), if why.len() > 4 { "; ..." } else { "" }) }
        ));
    }
    fit.sort_by(|a, b| {
        a.price_for(s.count)
            .partial_cmp(&b.price_for(s.count))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| (b.tier == "secure").cmp(&(a.tier == "secure")))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(fit)
}

/// Where a pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// PENDING, REBOOT_PENDING.
    Starting,
    /// RUNNING.
    Running,
    /// DELETING.
    Deleting,
    /// Anything else: it will never run.
    Terminal,
}

/// An ssh endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Login name.
    pub user: String,
    /// Host name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// Read `ssh user@host` or `ssh user@host -p port`; `None` for anything else.
    pub fn parse(cmd: &str) -> Option<Endpoint> {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let (dest, port) = match words[..] {
            ["ssh", dest] => (dest, 22),
            ["ssh", dest, "-p", port] => (dest, port.parse::<u16>().ok().filter(|p| *p > 0)?),
            _ => return None,
        };
        let (user, host) = dest.split_once('@')?;
        let user_ok = !user.is_empty()
            && user.len() <= 32
            && user.bytes().enumerate().all(|(i, b)| b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-')));
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && !host.starts_with('-')
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        (user_ok && host_ok).then(|| Endpoint { user: user.to_string(), host: host.to_string(), port })
    }

    /// The destination as the ssh client takes it: `ssh://user@host:port`.
    pub fn destination(&self) -> String {
        if self.host.contains(':') {
            format!("ssh://{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            format!("ssh://{}@{}:{}", self.user, self.host, self.port)
        }
    }

    /// `user@host:port`, for messages and the memo.
    pub fn words(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// Read [`Endpoint::words`] back.
    pub fn from_words(s: &str) -> Option<Endpoint> {
        let (dest, port) = s.rsplit_once(':')?;
        Endpoint::parse(&format!("ssh {dest} -p {port}"))
    }
}

/// A pod as the transport reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    /// Its UUID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its status, upper-cased.
    pub status: String,
    /// Its ssh endpoint, once it has one.
    pub endpoint: Option<Endpoint>,
    /// PENDING's phase and estimate, in words.
    pub progress: Option<String>,
    /// The node's GPU model.
    pub machine_name: String,
    /// USD per hour.
    pub price: Option<f64>,
}

impl Pod {
    /// Read one pod row.
    pub fn from_row(v: &Value) -> Option<Pod> {
        let id = v.get("id")?.as_str()?.to_ascii_lowercase();
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let progress = match (v.get("phase").and_then(Value::as_str), v.get("estimated_ready_seconds").and_then(Value::as_i64)) {
            (Some(p), Some(s)) => Some(format!("{p}, about {s} s left")),
            (Some(p), None) => Some(p.to_string()),
            (None, Some(s)) => Some(format!("about {s} s left")),
            (None, None) => None,
        };
        Some(Pod {
            id,
            name: text("pod_name"),
            status: text("status").to_ascii_uppercase(),
            endpoint: v.get("ssh_connect_cmd").and_then(Value::as_str).and_then(Endpoint::parse),
            progress,
            machine_name: v.pointer("/executor/machine_name").and_then(Value::as_str).unwrap_or("").to_string(),
            price: v.get("price").and_then(Value::as_f64),
        })
    }

    /// Where it is in its life.
    pub fn phase(&self) -> Phase {
        match self.status.as_str() {
            "PENDING" | "REBOOT_PENDING" => Phase::Starting,
            "RUNNING" => Phase::Running,
            "DELETING" => Phase::Deleting,
            _ => Phase::Terminal,
        }
    }
}

/// The pods of a `GET /pods` answer.
pub fn pods(list: &Value) -> Vec<Pod> {
    list.as_array().map(|a| a.iter().filter_map(Pod::from_row).collect()).unwrap_or_default()
}

/// The last few events of a `GET /pods/{id}/events` answer in words, errors first.
pub fn events_words(list: &Value) -> String {
    let Some(events) = list.as_array() else { return "no events".into() };
    let words: Vec<String> = events
        .iter()
        .rev()
        .take(3)
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
            let kind = [s("event_type"), s("sub_event_type")].into_iter().filter(|w| !w.is_empty()).collect::<Vec<_>>().join("/");
            let change = match (s("from_status"), s("to_status")) {
                ("", "") => String::new(),
                (a, b) => format!(" {a}->{b}"),
            };
            let why = [s("error"), s("reason"), s("detail")].into_iter().find(|w| !w.is_empty()).unwrap_or("");
            format!("{kind}{change}{}", if why.is_empty() { String::new() } else { format!(": {why}") })
        })
        .collect();
    if words.is_empty() {
        "no events".into()
    } else {
        words.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings::read(|k| {
            Some(
                match k {
                    "LIUM_BASE_URL" => "https://lium.io/api",
                    "LIUM_TTL" => "8",
                    "LIUM_COUNT" => "1",
                    "LIUM_READY_RETRIES" => "1",
                    "WF_POD_READY_TIMEOUT_SECS" => "60",
                    "LIUM_DELETE_CONFIRM_SECS" => "120",
                    "LIUM_MAX_PRICE_PER_HOUR" => "3",
                    _ => return None,
                }
                .to_string(),
            )
        })
        .unwrap()
    }

    fn node(id: &str, name: &str, price: f64, gpus: u64, whole: bool, tier: &str) -> Value {
        json!({"id": id, "machine_name": name, "price_per_gpu": price, "gpu_count": gpus, "available_gpu_count": gpus,
               "min_gpu_count_for_rental": if whole { Value::Null } else { json!(1) },
               "location": {"country": "Germany", "country_code": "DE"}, "tier": tier})
    }

    #[test]
    fn nodes_are_chosen_by_filters_and_price() {
        let rows = vec![
            node("aa000000-0000-4000-8000-000000000001", "NVIDIA H100 80GB HBM3", 2.4, 1, false, "spot"),
            node("aa000000-0000-4000-8000-000000000002", "NVIDIA GeForce RTX 4090", 0.4, 2, false, "spot"),
            node("aa000000-0000-4000-8000-000000000003", "NVIDIA GeForce RTX 4090", 0.4, 2, false, "secure"),
            node("aa000000-0000-4000-8000-000000000004", "NVIDIA H200", 3.5, 1, false, "secure"),
            node("aa000000-0000-4000-8000-000000000005", "NVIDIA GeForce RTX 4090", 0.3, 2, true, "secure"),
        ];
        let mut s = settings();
        let ids: Vec<String> = candidates(&rows, &s).unwrap().into_iter().map(|n| n.id).collect();
        // Cheapest first, secure before spot; the H200 is over the cap; the whole-only node
        // would rent 2 GPUs for a wanted 1.
        assert_eq!(ids, ["aa000000-0000-4000-8000-000000000003", "aa000000-0000-4000-8000-000000000002", "aa000000-0000-4000-8000-000000000001"]);
        s.gpu = Some("h100".into());
        assert_eq!(candidates(&rows, &s).unwrap().len(), 1);
        s.country = Some("fr".into());
        let e = candidates(&rows, &s).unwrap_err();
        assert!(e.contains("no listed Lium node fits") && e.contains("not fr"), "{e}");
        let mut s = settings();
        s.count = 2;
        let all = candidates(&rows, &s).unwrap();
        assert_eq!(all[0].id, "aa000000-0000-4000-8000-000000000005", "whole-only with exactly 2 GPUs, $0.60/h");
        s.executor_id = Some("aa000000-0000-4000-8000-000000000004".into());
        let e = candidates(&rows, &s).unwrap_err();
        assert!(e.contains("over LIUM_MAX_PRICE_PER_HOUR"), "{e}");
        s.executor_id = Some("aa000000-0000-4000-8000-000000000009".into());
        assert!(candidates(&rows, &s).unwrap_err().contains("not in Lium's listing"));
    }

    #[test]
    fn ssh_endpoints_are_read_strictly() {
        let e = Endpoint::parse("ssh root@127.0.0.1 -p 31022").unwrap();
        assert_eq!((e.destination(), e.words()), ("ssh://root@127.0.0.1:31022".into(), "root@127.0.0.1:31022".into()));
        assert_eq!(Endpoint::from_words(&e.words()), Some(e));
        assert_eq!(Endpoint::parse("ssh ubuntu@pod.example").unwrap().port, 22);
        for bad in ["", "ssh", "ssh root@h -p 0", "ssh root@h -p x", "ssh -oProxyCommand=x@h", "ssh root@-h", "ssh root@h;rm -p 2", "scp root@h", "ssh root@h -p 22 -v"] {
            assert_eq!(Endpoint::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pods_and_events_are_read() {
        let p = Pod::from_row(&json!({"id": "0B6F2A7E-4C1D-4E0F-9A3B-2D5E6F708192", "pod_name": "wf", "status": "pending",
                                       "ssh_connect_cmd": null, "phase": "pulling image", "estimated_ready_seconds": 7})).unwrap();
        assert_eq!((p.id.as_str(), p.phase(), p.progress.as_deref()), ("0b6f2a7e-4c1d-4e0f-9a3b-2d5e6f708192", Phase::Starting, Some("pulling image, about 7 s left")));
        for (s, ph) in [("RUNNING", Phase::Running), ("CREATION_FAILED", Phase::Terminal), ("BROKEN", Phase::Terminal), ("DELETING", Phase::Deleting), ("REBOOT_PENDING", Phase::Starting)] {
            assert_eq!(Pod::from_row(&json!({"id": "x", "status": s})).unwrap().phase(), ph);
        }
        let ev = json!([
            {"event_type": "pod-rent", "sub_event_type": "requested", "to_status": "PENDING"},
            {"event_type": "pod-create", "sub_event_type": "failed", "from_status": "PENDING", "to_status": "CREATION_FAILED",
             "error": "Container creation failed (failure_step: ssh_connect)"}
        ]);
        let w = events_words(&ev);
        assert!(w.starts_with("pod-create/failed PENDING->CREATION_FAILED: Container creation failed"), "{w}");
        assert_eq!(events_words(&json!([])), "no events");
        assert_eq!(pods(&json!([{"id": "a"}, {"no": "id"}])).len(), 1);
    }
}
