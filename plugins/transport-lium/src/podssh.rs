//! ssh to one pod: the ssh client of `wfhost-ssh-client`, with the host key pinned under the
//! pod's id.
//!
//! Lium nodes reuse `host:port` across rentals and a pod's host key is new with every pod, so a
//! pod's key can neither be known before it runs nor be pinned by its address. [`PodHost`] is
//! the [`Host`] an [`wfhost_ssh_client::ssh::Ssh`] runs on for one pod: it answers the ssh
//! client's settings so that every ssh call to the pod carries `HostKeyAlias=lium-<pod id>`
//! (before the user's WF_SSH_OPTIONS, so they cannot replace it: ssh keeps the first value),
//! trusts a key on first use (`accept-new`, never a changed key) and keeps it in LIUM_KNOWN_HOSTS,
//! which the host watches and records (`host_key.accepted`, naming the alias: the entries are
//! not hashed). A second pod on the same address
//! is a new alias, and a pod whose key changes is refused. Everything else (the identity by
//! handle, BatchMode, connection sharing, the scripts) is the ssh client's.

use wfhost_pack_sdk::transport::{CommandResult, Host, HttpError, HttpRequest, HttpResponse, Level, RunRequest};
use wfhost_ssh_client::command::{SETTING_ACCEPT_NEW, SETTING_DEFAULT_HOST, SETTING_KNOWN_HOSTS, SETTING_OPTIONS};

/// The host key alias of a pod.
pub fn alias(pod_id: &str) -> String {
    format!("lium-{pod_id}")
}

/// A [`Host`] whose ssh settings pin the host key of one pod (see the module documentation).
pub struct PodHost<'h, H: Host> {
    host: &'h H,
    options: String,
    known_hosts: Option<String>,
}

impl<'h, H: Host> PodHost<'h, H> {
    /// The host for pod `pod_id`, keeping its key in `known_hosts`; `extra` are ssh options put
    /// before the user's (a shorter `ConnectTimeout` for a readiness probe).
    pub fn new(host: &'h H, pod_id: &str, known_hosts: Option<&str>, extra: &str) -> Self {
        let user = host.setting(SETTING_OPTIONS).unwrap_or_default();
        // Unhashed, so the pin (and its host_key.accepted record) names the pod it belongs to.
        let options = format!("-o HostKeyAlias={} -o HashKnownHosts=no {extra} {user}", alias(pod_id));
        PodHost { host, options: options.split_whitespace().collect::<Vec<_>>().join(" "), known_hosts: known_hosts.map(str::to_string) }
    }
}

impl<H: Host> Host for PodHost<'_, H> {
    fn run(&self, request: &RunRequest) -> Result<CommandResult, String> {
        self.host.run(request)
    }

    fn setting(&self, key: &str) -> Option<String> {
        match key {
            SETTING_OPTIONS => Some(self.options.clone()),
            SETTING_ACCEPT_NEW => Some("1".into()),
            SETTING_KNOWN_HOSTS => self.known_hosts.clone(),
            SETTING_DEFAULT_HOST => None,
            other => self.host.setting(other),
        }
    }

    fn log(&self, level: Level, message: &str) {
        self.host.log(level, message);
    }

    fn http(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        self.host.http(request)
    }

    fn memo_get(&self, key: &str) -> Option<String> {
        self.host.memo_get(key)
    }

    fn memo_set(&self, key: &str, value: &str) -> Result<(), String> {
        self.host.memo_set(key, value)
    }

    fn now_secs(&self) -> i64 {
        self.host.now_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_ssh_client::command::{ssh_args, SshSettings, Stdin};
    use wfhost_ssh_client::target::Target;

    struct Settings;
    impl Host for Settings {
        fn run(&self, _: &RunRequest) -> Result<CommandResult, String> {
            Err("no processes".into())
        }
        fn setting(&self, key: &str) -> Option<String> {
            match key {
                SETTING_OPTIONS => Some("-o HostKeyAlias=evil -o ConnectTimeout=3".into()),
                SETTING_ACCEPT_NEW => Some("0".into()),
                SETTING_DEFAULT_HOST => Some("someone@else".into()),
                _ => None,
            }
        }
        fn log(&self, _: Level, _: &str) {}
    }

    #[test]
    fn every_call_pins_the_key_under_the_pod_id_before_the_users_options() {
        let h = PodHost::new(&Settings, "0b6f2a7e-4c1d-4e0f-9a3b-2d5e6f708192", Some("/w/.wfhost/lium_known_hosts"), "-o ConnectTimeout=5");
        let s = SshSettings::from_lookup(|k| h.setting(k)).expect("the settings are accepted");
        assert!(s.accept_new);
        assert_eq!(s.known_hosts.as_deref(), Some("/w/.wfhost/lium_known_hosts"));
        assert_eq!(s.default_host, None);
        let t = Target::parse("ssh://root@127.0.0.1:2222").unwrap();
        let args = ssh_args(&s, &t, Stdin::Closed, "true").unwrap().join(" ");
        let ours = args.find("HostKeyAlias=lium-0b6f2a7e-4c1d-4e0f-9a3b-2d5e6f708192").expect(&args);
        let theirs = args.find("HostKeyAlias=evil").expect(&args);
        assert!(ours < theirs, "ssh keeps the first value: {args}");
        assert!(args.find("ConnectTimeout=5").unwrap() < args.find("ConnectTimeout=3").unwrap(), "{args}");
        assert!(args.contains("StrictHostKeyChecking=accept-new"), "{args}");
    }
}
