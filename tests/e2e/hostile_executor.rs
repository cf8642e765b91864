//! A hostile phase executor against the gateway, through the real binary: in P40 the
//! `hostile-executor` test component (plugins/testing/hostile-executor, configured with
//! `WF_EXECUTOR=<path of its .wasm>`) asks the gateway to run a command on a pod the flow is not
//! bound to (Law 3) and to delete the bound pod outside P90 (Law 7), then claims P40 passed.
//! The gateway must refuse both and record the refusals, the court must halt the flow at P40,
//! the command must never run, and the evidence must still verify.

use crate::harness::{Run, Sandbox};
use serde_json::Value;
use std::path::{Path, PathBuf};
use wfhost_constitution::Constitution;

/// Constants of the hostile executor (plugins/testing/hostile-executor/src/lib.rs).
const OTHER_TARGET: &str = "other-pod";
const MARKER: &str = "HOSTILE_MARKER";

fn hostile_executor() -> PathBuf {
    let p = wfhost_builtins::components_dir().join("hostile_executor.wasm");
    assert!(p.exists(), "{} is built by wfhost-builtins' build script", p.display());
    p
}

/// A local pod made by hand, as the local transport lays one out: `pod.json` and `root/`.
fn make_local_pod(s: &Sandbox, name: &str) -> PathBuf {
    let dir = s.root().join(".wfhost/pods").join(name);
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("pod.json"), format!("{{\"name\":\"{name}\"}}\n")).unwrap();
    dir
}

/// Every path under `dir` whose file name is `name`.
fn find_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == name) {
                out.push(p.clone());
            }
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

/// The records of a flow's events.jsonl.
fn events(run: &Run) -> Vec<Value> {
    let text = std::fs::read_to_string(run.flow_dir().join("events.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// Gateway records (`gateway.call` or `gateway.refused`) of `phase` for `op`.
fn gateway_records<'a>(events: &'a [Value], phase: &str, op: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"].as_str().is_some_and(|t| t.starts_with("gateway.")))
        .filter(|e| e["payload"]["op"] == op && e["native_id"].as_str().is_some_and(|n| n.starts_with(&format!("{phase}/"))))
        .collect()
}

/// The code in the engine's `halted at <phase> (code N)` line on stderr.
fn halt_code(run: &Run, phase: &str) -> u16 {
    let prefix = format!("wfhost: halted at {phase} (code ");
    let line = run.stderr.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no halt line for {phase}: {}", run.explain()));
    line.split(')').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no code in halt line {line:?}"))
}

#[test]
fn a_hostile_executor_reaching_another_target_is_refused_and_halts_p40() {
    let c = Constitution::get().unwrap();
    let mut s = Sandbox::new();
    s.set("WF_EXECUTOR", &hostile_executor().display().to_string());
    let other = make_local_pod(&s, OTHER_TARGET);
    let run = s.run(&["flow", "--yes"]);

    // The flow halts at P40, judged by the court: the executor itself claimed success.
    let statuses = run.statuses();
    assert_eq!(statuses.last().map(|s| (s.0.as_str(), s.1.as_str())), Some(("P40", "ok")), "nothing runs after P40: {}", run.explain());
    let courts = run.courts();
    let last = courts.last().unwrap();
    assert_eq!((last.0.as_str(), last.1.as_str(), last.2.as_str()), ("P40", "fail", "fail"), "{}", run.explain());
    assert!(courts[..courts.len() - 1].iter().all(|c| c.1 == "pass"), "only P40 fails: {}", run.explain());

    // The halt code: the one the engine prints, in the verdict and the summary alike; the code
    // checks.toml gives a failed target_unchanged (TARGET_DRIFT), whose family's exit status
    // the process returns.
    let code = halt_code(&run, "P40");
    let verdict = run.verdict("P40");
    let summary = run.summary();
    assert_eq!(verdict["code"], code, "{verdict}");
    assert_eq!((summary["first_failure_phase"].as_str(), summary["first_failure_code"].as_u64()), (Some("P40"), Some(u64::from(code))), "{summary}");
    let drift = c.checks["target_unchanged"].code.expect("checks.toml gives target_unchanged a code");
    assert_eq!(c.code(drift).map(|k| k.name.as_str()), Some("TARGET_DRIFT"));
    assert_eq!(code, drift, "the halt code is target_unchanged's");
    assert_eq!(Some(run.status), wfhost_constitution::Code::from_u16(drift).map(|k| k.family().exit_status()), "{}", run.explain());
    assert_ne!(run.status, 0);

    // The verdict names Law 3 and the drift.
    assert!(verdict["violated_laws"].as_array().unwrap().iter().any(|l| l == "L3"), "{verdict}");
    let reason = verdict["halt_reason"].as_str().unwrap();
    assert!(reason.contains("target_unchanged") && reason.contains(&format!("exec on {OTHER_TARGET}")), "{reason}");
    let det: Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join("phase/phase.P40.deterministic.json")).unwrap()).unwrap();
    for name in ["target_unchanged", "calls_within_capability"] {
        let check = det["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).unwrap();
        assert_eq!(check["pass"], false, "{name}: {det}");
    }
    assert!(verdict["violated_laws"].as_array().unwrap().iter().any(|l| l == "L5"), "a refused call breaks the phase contract: {verdict}");

    // The command never ran: no marker anywhere, not in the other pod's root.
    assert!(!other.join("root").join(MARKER).exists());
    assert_eq!(find_named(s.root(), MARKER), Vec::<PathBuf>::new());

    // The refusals are evidence: the exec on the other target ...
    let bound = summary["target"].as_str().unwrap().to_string();
    assert_ne!(bound, OTHER_TARGET);
    let ev = events(&run);
    let execs = gateway_records(&ev, "P40", "exec");
    assert_eq!(execs.len(), 1, "{execs:?}");
    let exec = execs[0];
    assert_eq!(exec["event_type"], "gateway.refused", "{exec}");
    assert_eq!((exec["payload"]["target"].as_str(), exec["payload"]["ok"].as_bool()), (Some(OTHER_TARGET), Some(false)), "{exec}");
    let detail = exec["payload"]["detail"].as_str().unwrap();
    assert!(detail.contains(OTHER_TARGET) && detail.contains(&bound) && detail.contains("Law 3"), "{detail}");
    // ... with no receipt for a side effect on it and no call that reached it ...
    assert!(!ev.iter().any(|e| e["event_type"] == "receipt.side_effect" && e["payload"]["target"] == OTHER_TARGET), "a refused exec has no receipt");
    assert!(!ev.iter().any(|e| e["event_type"] == "gateway.call" && e["payload"]["target"] == OTHER_TARGET), "no call reached {OTHER_TARGET}");
    // ... and the deletion of the bound pod outside P90 (Law 7), which is still there.
    let deletes = gateway_records(&ev, "P40", "delete-pod");
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    let delete = deletes[0];
    assert_eq!(delete["event_type"], "gateway.refused", "{delete}");
    assert_eq!((delete["payload"]["target"].as_str(), delete["payload"]["ok"].as_bool()), (Some(bound.as_str()), Some(false)), "{delete}");
    assert!(delete["payload"]["detail"].as_str().unwrap().contains("Law 7"), "{delete}");
    assert!(s.root().join(".wfhost/pods").join(&bound).join("pod.json").is_file(), "the bound pod must not be deleted");
    assert!(summary["pod_state"].as_str().unwrap().starts_with("running"), "{summary}");
    // The executor saw both refusals (its facts hold the gateway's answers).
    let outcome: Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join("phase/phase.P40.json")).unwrap()).unwrap();
    assert!(outcome["facts"]["other_target_exec"].as_str().unwrap().starts_with("refused:"), "{outcome}");
    assert!(outcome["facts"]["delete_pod"].as_str().unwrap().starts_with("refused:"), "{outcome}");

    // Recorded refusals are evidence, not tampering: the flow verifies.
    let verify = s.run(&["verify", &run.flow_dir().display().to_string()]);
    assert_eq!(verify.status, 0, "{}", verify.explain());
    assert!(verify.stdout.contains("verdict halted"), "{}", verify.stdout);

    // Control: bound to the other pod, the same executor's command does run there, so the
    // marker check above could have failed.
    let control = s.run(&["bootstrap", "--target", OTHER_TARGET]);
    assert!(other.join("root").join(MARKER).is_file(), "the marker command must run on the bound target: {}", control.explain());
    let cev = events(&control);
    let exec = gateway_records(&cev, "P40", "exec");
    assert_eq!(exec.len(), 1, "{exec:?}");
    assert_eq!((exec[0]["event_type"].as_str(), exec[0]["payload"]["ok"].as_bool()), (Some("gateway.call"), Some(true)), "{}", exec[0]);
    // Its delete-pod outside P90 is still refused, and a refused call fails the phase on its
    // own: no drift, so the family's deterministic-rejection code.
    assert_ne!(control.status, 0, "{}", control.explain());
    let cverdict = control.verdict("P40");
    let family = c.phase("P40").unwrap().family;
    assert_eq!(cverdict["code"].as_u64(), c.code_named(family, "COURT_DETERMINISTIC_FAIL").map(|k| u64::from(k.code)), "{cverdict}");
    assert!(cverdict["halt_reason"].as_str().unwrap().contains("calls_within_capability"), "{cverdict}");
}
