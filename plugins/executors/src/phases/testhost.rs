//! A test host: a temp directory stands in for a pod (remote `/x` lives at `<root>/x`), execs
//! run real `sh` there, fetches copy into `<tmp>/fetched/<local-rel>`, and individual gateway
//! calls can be scripted to fail. Time can be virtual (sleeps advance a counter) or real.

use crate::context::PhaseContext;
use crate::host::*;
use wfhost_pack_sdk::records::{FetchMode, FlowFlags, ProvisionMode, SweepMode, TeardownMode};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use wfhost_pack_sdk::testing::{run, RunSpec, TempDir};

pub struct TestHost {
    pub tmp: TempDir,
    pub root: String,
    pub settings: BTreeMap<String, String>,
    pub logs: RefCell<Vec<(Level, String)>>,
    pub execs: RefCell<Vec<ExecRequest>>,
    pub statuses: RefCell<VecDeque<Result<PodReport, GatewayError>>>,
    pub provisioned: RefCell<Vec<String>>,
    pub provision_result: RefCell<Option<Result<PodIdentity, GatewayError>>>,
    pub delete_result: RefCell<Option<Result<(), GatewayError>>>,
    pub deleted: RefCell<Vec<String>>,
    /// Fail every exec whose command contains the key with the given error.
    pub exec_errors: RefCell<Vec<(String, GatewayError)>>,
    pub put_error: RefCell<Option<GatewayError>>,
    /// Fail fetch-dir of the given local-rel with the given error.
    pub fetch_error: RefCell<Option<(String, GatewayError)>>,
    pub virtual_time: bool,
    pub clock: Cell<u64>,
    pub slept: RefCell<Vec<u64>>,
    start: std::time::Instant,
}

impl TestHost {
    pub fn new() -> Self {
        let tmp = TempDir::new("wfhost-exec").unwrap();
        let root = tmp.join("root");
        std::fs::create_dir_all(&root).unwrap();
        TestHost {
            tmp,
            root,
            settings: BTreeMap::new(),
            logs: RefCell::new(vec![]),
            execs: RefCell::new(vec![]),
            statuses: RefCell::new(VecDeque::new()),
            provisioned: RefCell::new(vec![]),
            provision_result: RefCell::new(None),
            delete_result: RefCell::new(None),
            deleted: RefCell::new(vec![]),
            exec_errors: RefCell::new(vec![]),
            put_error: RefCell::new(None),
            fetch_error: RefCell::new(None),
            virtual_time: true,
            clock: Cell::new(0),
            slept: RefCell::new(vec![]),
            start: std::time::Instant::now(),
        }
    }

    pub fn real_time(mut self) -> Self {
        self.virtual_time = false;
        self
    }

    /// Where remote `path` lives.
    pub fn local(&self, path: &str) -> String {
        if path == "/" {
            self.root.clone()
        } else {
            format!("{}{path}", self.root)
        }
    }

    pub fn read(&self, remote: &str) -> String {
        std::fs::read_to_string(self.local(remote)).unwrap_or_else(|e| panic!("{remote}: {e}"))
    }

    pub fn exists(&self, remote: &str) -> bool {
        std::path::Path::new(&self.local(remote)).exists()
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.logs.borrow().iter().any(|(_, m)| m.contains(needle))
    }

    pub fn ctx(&self, phase: &str) -> PhaseContext {
        PhaseContext {
            flow_id: "20240101T000000Z-abcd1234".into(),
            phase: phase.into(),
            flow_flags: FlowFlags {
                provision: ProvisionMode::Skip,
                ..FlowFlags::default()
            },
            config: vec![("WF_PHASE_COURT_ENFORCE".into(), "1".into())],
            target: Some("pod-1".into()),
            fsm_state: "INIT".into(),
            inputs: vec![],
        }
    }

    fn check_target(&self, target: &str) -> Result<(), GatewayError> {
        if target == "pod-1" {
            Ok(())
        } else {
            Err(GatewayError::Refused(format!(
                "{target} is not the bound target"
            )))
        }
    }

    fn resolve(&self, path: &str) -> Result<String, GatewayError> {
        wfhost_pack_sdk::path::normalize_abs_path(path)
            .map(|p| self.local(&p))
            .map_err(|e| GatewayError::Failed(e.to_string()))
    }
}

/// Set flag `key` of `ctx` to `value`, in the form the command line takes (the host parses it the
/// same way). `run:<id>` is not checked: the executors must still refuse an unsafe id.
pub fn flag(ctx: &mut PhaseContext, key: &str, value: &str) {
    let f = &mut ctx.flow_flags;
    match (key, value) {
        ("provision", "auto") => f.provision = ProvisionMode::Auto,
        ("provision", "skip") => f.provision = ProvisionMode::Skip,
        ("sweep", "start") => f.sweep = SweepMode::Start,
        ("sweep", "resume") => f.sweep = SweepMode::Resume,
        ("sweep", "skip") => f.sweep = SweepMode::Skip,
        ("fetch", "none") => f.fetch = FetchMode::None,
        ("fetch", "all") => f.fetch = FetchMode::All,
        ("teardown", "keep") => f.teardown = TeardownMode::Keep,
        ("teardown", "delete") => f.teardown = TeardownMode::Delete,
        ("fetch", v) if v.starts_with("run:") => f.fetch = FetchMode::Run(v[4..].to_string()),
        _ => panic!("--{key} {value} is not a flag the host would pass"),
    }
}

pub fn set(list: &mut Vec<Kv>, key: &str, value: &str) {
    list.retain(|(k, _)| k != key);
    list.push((key.to_string(), value.to_string()));
}

impl Host for TestHost {
    fn provision(&self, name_hint: &str) -> Result<PodIdentity, GatewayError> {
        self.provisioned.borrow_mut().push(name_hint.to_string());
        self.provision_result.borrow().clone().unwrap_or_else(|| {
            Ok(PodIdentity {
                transport: "local".into(),
                target: name_hint.into(),
                location: format!("/pods/{name_hint}"),
            })
        })
    }

    fn bound_target(&self) -> Option<String> {
        Some("pod-1".into())
    }

    fn pod_status(&self, target: &str) -> Result<PodReport, GatewayError> {
        self.check_target(target)?;
        self.statuses.borrow_mut().pop_front().unwrap_or_else(|| {
            Ok(PodReport {
                state: PodState::Ready,
                detail: "test pod".into(),
            })
        })
    }

    fn get_file(&self, target: &str, path: &str, max_bytes: u64) -> Result<Vec<u8>, GatewayError> {
        use std::io::Read;
        self.check_target(target)?;
        let file = std::fs::File::open(self.resolve(path)?)
            .map_err(|e| GatewayError::Failed(format!("{path}: {e}")))?;
        let mut bytes = Vec::new();
        file.take(max_bytes)
            .read_to_end(&mut bytes)
            .map_err(|e| GatewayError::Failed(format!("{path}: {e}")))?;
        Ok(bytes)
    }

    fn resolve_path(&self, target: &str, path: &str) -> Result<String, GatewayError> {
        self.check_target(target)?;
        self.resolve(path)
    }

    fn exec(&self, r: &ExecRequest) -> Result<CommandResult, GatewayError> {
        self.check_target(&r.target)?;
        self.execs.borrow_mut().push(r.clone());
        if let Some((_, e)) = self
            .exec_errors
            .borrow()
            .iter()
            .find(|(k, _)| r.command.contains(k.as_str()))
        {
            return Err(e.clone());
        }
        let cwd = match &r.cwd {
            Some(c) => self.resolve(c)?,
            None => self.root.clone(),
        };
        if !std::path::Path::new(&cwd).is_dir() {
            return Err(GatewayError::Failed(format!(
                "working directory {cwd} does not exist"
            )));
        }
        Ok(run(&RunSpec {
            program: "sh".into(),
            args: vec!["-c".into(), r.command.clone()],
            cwd: Some(cwd),
            env: r.env.clone(),
            stdin: None,
            timeout: Duration::from_millis(r.timeout_ms),
        })
        .into())
    }

    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), GatewayError> {
        use std::os::unix::fs::PermissionsExt;
        self.check_target(target)?;
        if let Some(e) = self.put_error.borrow().clone() {
            return Err(e);
        }
        let p = self.resolve(path)?;
        let parent = std::path::Path::new(&p).parent().unwrap();
        std::fs::create_dir_all(parent).map_err(|e| GatewayError::Failed(e.to_string()))?;
        std::fs::write(&p, contents).map_err(|e| GatewayError::Failed(e.to_string()))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| GatewayError::Failed(e.to_string()))?;
        Ok(())
    }

    fn fetch_dir(
        &self,
        target: &str,
        remote_dir: &str,
        local_rel: &str,
    ) -> Result<Vec<Artifact>, GatewayError> {
        self.check_target(target)?;
        if let Some((rel, e)) = self.fetch_error.borrow().clone() {
            if rel == local_rel {
                return Err(e);
            }
        }
        let src = self.resolve(remote_dir)?;
        if !std::path::Path::new(&src).is_dir() {
            return Err(GatewayError::Failed(format!(
                "no such directory: {remote_dir}"
            )));
        }
        let dst = self.tmp.join(&format!("fetched/{local_rel}"));
        std::fs::create_dir_all(&dst).map_err(|e| GatewayError::Failed(format!("{dst}: {e}")))?;
        let out = run(&RunSpec::sh(
            "cp -RP \"$1/.\" \"$2/\" && cd \"$2\" && find . -type f | sort",
            &[&src, &dst],
        ));
        if out.exit_code != Some(0) {
            return Err(GatewayError::Failed(out.stderr));
        }
        Ok(out
            .stdout
            .lines()
            .map(|l| {
                let rel = l.trim_start_matches("./").to_string();
                Artifact {
                    path: format!("{dst}/{rel}"),
                    name: rel,
                    sha256: Some("0".repeat(64)),
                }
            })
            .collect())
    }

    fn delete_pod(&self, target: &str) -> Result<(), GatewayError> {
        self.check_target(target)?;
        self.deleted.borrow_mut().push(target.to_string());
        self.delete_result.borrow().clone().unwrap_or(Ok(()))
    }

    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn sleep_ms(&self, ms: u64) {
        self.slept.borrow_mut().push(ms);
        if self.virtual_time {
            self.clock.set(self.clock.get() + ms);
        } else {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }

    fn now_ms(&self) -> u64 {
        if self.virtual_time {
            self.clock.get()
        } else {
            self.start.elapsed().as_millis() as u64
        }
    }
}
