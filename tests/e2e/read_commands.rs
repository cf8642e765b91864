//! The read commands as a user runs them: every `--json` document against its published schema
//! (docs/schemas/cli-*) for a passing, a halted and a tampered flow, with the text form's exit
//! status; `status` over a workdir holding broken and half-written flow directories; the
//! completion script in a real bash; the man pages.

use crate::harness::{Run, Sandbox};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The document `run` printed, checked against `schema`.
pub fn document(run: &Run, schema: &str) -> Value {
    let doc: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not one JSON document ({e})\n{}", run.explain()));
    let s = wfhost_audit::output_schema(schema).unwrap_or_else(|| panic!("no published schema {schema}"));
    let problem = s.check(&doc).expect("schema compiles");
    assert_eq!(problem, None, "{schema}: {doc:#}");
    doc
}

/// A passing flow (three runs fetched), a flow halted at P70 by a failing run, and the passing
/// flow's copy with one evidence byte changed.
pub struct Flows {
    pub s: Sandbox,
    pub passing: PathBuf,
    pub halted: PathBuf,
    pub tampered: PathBuf,
}

pub fn flows() -> Flows {
    let mut s = Sandbox::new();
    let pass = s.run(&["flow", "--yes", "--wait", "true", "--fetch", "all"]);
    assert_eq!(pass.status, 0, "{}", pass.explain());
    let passing = pass.flow_dir();
    s.manifest("run_id,command\nr1,sh train.sh --seed 1\nr2,sh train.sh --seed 2 --fail 3\n");
    let halt = s.run(&["flow", "--yes", "--wait", "true", "--fetch", "all"]);
    assert_ne!(halt.status, 0, "{}", halt.explain());
    let halted = halt.flow_dir();
    // The tampered copy: a phase's message changed after the fact (same length, so only the
    // record comparison can tell).
    let tampered = passing.with_file_name(format!("{}-copy", passing.file_name().unwrap().to_string_lossy()));
    copy_dir(&passing, &tampered);
    let file = tampered.join("phase/phase.P30.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replacen("ready", "READY", 1);
    assert_ne!(text, changed, "{text}");
    std::fs::write(&file, changed).unwrap();
    Flows { s, passing, halted, tampered }
}

pub fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").args(["-a"]).arg(from).arg(to).stdin(Stdio::null()).status().unwrap();
    assert!(status.success());
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn every_json_document_meets_its_schema_with_the_text_forms_exit_status() {
    let f = flows();
    let s = &f.s;
    for (dir, verifies, replays, ending) in [
        (&f.passing, true, true, "passed"),
        (&f.halted, true, true, "halted"),
        (&f.tampered, false, false, "passed"),
    ] {
        let d = arg(dir);
        // verify
        let (text, json) = (s.run(&["verify", &d]), s.run(&["verify", &d, "--json"]));
        assert_eq!(text.status, json.status, "{}\n{}", text.explain(), json.explain());
        assert_eq!(json.status, if verifies { 0 } else { 1 });
        let doc = document(&json, "cli-verify");
        assert_eq!(doc["ok"], verifies);
        // replay
        let (text, json) = (s.run(&["replay", &d]), s.run(&["replay", &d, "--json"]));
        assert_eq!(text.status, json.status, "{}\n{}", text.explain(), json.explain());
        assert_eq!(json.status, if replays { 0 } else { 1 });
        let doc = document(&json, "cli-replay");
        assert_eq!(doc["identical"], replays);
        if !replays {
            let differs: Vec<&Value> = doc["files"].as_array().unwrap().iter().filter(|f| f["state"] == "differs").collect();
            assert_eq!(differs.len(), 1, "{doc:#}");
            assert_eq!(differs[0]["path"], "phase/phase.P30.json");
        }
        // explain
        let (text, json) = (s.run(&["explain", &d]), s.run(&["explain", &d, "--json"]));
        assert_eq!((text.status, json.status), (0, 0), "{}\n{}", text.explain(), json.explain());
        let doc = document(&json, "cli-explain");
        assert_eq!(doc["evidence"]["verified"], verifies, "{doc:#}");
        assert_eq!(doc["ending"]["state"], ending);
        for p in doc["phases"].as_array().unwrap() {
            assert!(text.stdout.contains(&format!("  {} {}", p["phase"].as_str().unwrap(), p["name"].as_str().unwrap())), "{p}\n{}", text.stdout);
        }
        if !verifies {
            assert_eq!(doc["evidence"]["problem"]["file"], "phase/phase.P30.json", "{doc:#}");
            assert!(text.stdout.contains("DOES NOT VERIFY"));
        }
        if ending == "halted" {
            assert_eq!(doc["halt"]["phase"], "P70", "{doc:#}");
            assert_eq!(doc["halt"]["code_name"], "RUNS_FAILED");
            assert!(doc["next_command"].as_str().is_some());
        } else {
            assert!(doc["halt"].is_null());
            assert_eq!(doc["fetched"].as_array().unwrap().iter().filter(|f| f["name"] == "summary.json").count(), 3, "{doc:#}");
        }
    }

    // status: the three flows, newest first, and the halted one's next command.
    let (text, json) = (s.run(&["status"]), s.run(&["status", "--json"]));
    assert_eq!((text.status, json.status), (0, 0), "{}\n{}", text.explain(), json.explain());
    let doc = document(&json, "cli-status");
    let rows = doc["flows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{doc:#}");
    let halted_row = rows.iter().find(|r| r["flow_dir"] == arg(&f.halted)).unwrap();
    assert_eq!(halted_row["state"], "halted");
    assert_eq!(halted_row["halted_at"]["phase"], "P70");
    let next = halted_row["next_command"].as_str().unwrap();
    assert!(text.stdout.contains(&format!("next: {next}")), "{}", text.stdout);
    assert_eq!(rows[0]["flow_dir"], arg(&f.halted), "the newest flow comes first: {doc:#}");
    for r in rows {
        assert!(text.stdout.contains(r["id"].as_str().unwrap()), "{}", text.stdout);
        assert_eq!(r["pod"]["state"], "running", "{r:#}");
    }
    // --check asks the transport about the pods the evidence leaves running.
    let checked = document(&s.run(&["status", "--json", "--check"]), "cli-status");
    for r in checked["flows"].as_array().unwrap() {
        assert_eq!(r["pod_check"]["state"], "ready", "{r:#}");
    }

    // doctor, fsm-status and sweep-status on the sandbox's pod.
    let (text, json) = (s.run(&["doctor"]), s.run(&["doctor", "--json"]));
    assert_eq!(text.status, json.status, "{}\n{}", text.explain(), json.explain());
    let doc = document(&json, "cli-doctor");
    assert_eq!(doc["checks"].as_array().unwrap().len(), text.stdout.lines().count());
    let pod = rows[0]["target"].as_str().unwrap().to_string();
    let (text, json) = (s.run(&["fsm-status", "--target", &pod]), s.run(&["fsm-status", "--target", &pod, "--json"]));
    assert_eq!((text.status, json.status), (0, 0), "{}\n{}", text.explain(), json.explain());
    let doc = document(&json, "cli-fsm-status");
    assert_eq!(doc["present"], true);
    assert_eq!(doc["state"]["state"], "SWEEP_FAILED", "{doc:#}");
    let (text, json) = (s.run(&["sweep-status", "--target", &pod]), s.run(&["sweep-status", "--target", &pod, "--json"]));
    assert_eq!(text.status, json.status, "{}\n{}", text.explain(), json.explain());
    assert!(!json.stdout.contains("PHASE="), "{}", json.stdout);
    let doc = document(&json, "cli-sweep-status");
    assert_eq!(doc["sweep"]["total"], 2, "{doc:#}");
    assert_eq!(doc["sweep"]["failed_runs"], serde_json::json!(["r2"]));

    // Errors are one document too, with the text form's status.
    for (args, expect) in [
        (vec!["explain", "--json", "no/such/dir"], Some(64)),
        (vec!["replay", "--json", "no/such/dir"], Some(64)),
        (vec!["verify", "--json", "no/such/dir"], Some(64)),
        (vec!["fsm-status", "--json", "--target", "no-such-pod"], None),
        // A flag the command does not have: clap's error, as the same document.
        (vec!["status", "--json", "--no-such-flag"], Some(64)),
    ] {
        let json = s.run(&args);
        let text = s.run(&args.iter().copied().filter(|a| *a != "--json").collect::<Vec<_>>());
        assert_eq!(text.status, json.status, "{args:?}\n{}\n{}", text.explain(), json.explain());
        assert_ne!(json.status, 0, "{args:?}\n{}", json.explain());
        let doc = document(&json, "cli-error");
        assert_eq!(doc["error"]["exit_status"], json.status);
        assert!(json.stderr.contains(doc["error"]["message"].as_str().unwrap()), "{}", json.explain());
        if let Some(status) = expect {
            assert_eq!(json.status, status, "{args:?}");
        }
    }
}

#[test]
fn status_lists_broken_and_half_written_flows_and_never_stops() {
    let mut s = Sandbox::new();
    s.manifest("run_id,seed,extra\nr1,1,\n");
    let ok = s.run(&["flow", "--yes", "--wait", "true"]);
    assert_eq!(ok.status, 0, "{}", ok.explain());
    let root = ok.flow_dir().parent().unwrap().to_path_buf();
    // A directory with no log, a log cut in the middle of a line, a log of garbage, an
    // unreadable directory's worth of nonsense names, and a stray file.
    std::fs::create_dir_all(root.join("20990101T000000Z-000000")).unwrap();
    let half = root.join("20980101T000000Z-111111");
    copy_dir(&ok.flow_dir(), &half);
    let log = std::fs::read(half.join("events.jsonl")).unwrap();
    std::fs::write(half.join("events.jsonl"), &log[..log.len() * 2 / 3]).unwrap();
    let garbage = root.join("20970101T000000Z-222222");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("events.jsonl"), "{not json\n\u{1b}[2J hostile\n").unwrap();
    std::fs::write(root.join("stray.txt"), "x").unwrap();
    let (text, json) = (s.run(&["status"]), s.run(&["status", "--json"]));
    assert_eq!((text.status, json.status), (0, 0), "{}\n{}", text.explain(), json.explain());
    assert!(!text.stderr.contains("panicked") && !json.stderr.contains("panicked"));
    let doc = document(&json, "cli-status");
    let rows = doc["flows"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    // Newest first by the first record's time; without records, by the id's time. The
    // half-written copy started when the flow it was copied from did (its id ranks it after).
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(ids[..3], ["20990101T000000Z-000000", "20970101T000000Z-222222", "20980101T000000Z-111111"]);
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(row("20990101T000000Z-000000")["state"], "unreadable");
    assert!(row("20990101T000000Z-000000")["problem"].as_str().unwrap().contains("events.jsonl"));
    let half_row = row("20980101T000000Z-111111");
    assert_eq!(half_row["state"], "unfinished", "{half_row:#}");
    assert!(half_row["problem"].as_str().unwrap().contains("partial line"), "{half_row:#}");
    assert!(half_row["next_command"].as_str().is_some());
    assert_eq!(row("20970101T000000Z-222222")["state"], "unreadable");
    assert_eq!(rows[3]["state"], "passed");
    for id in &ids {
        assert!(text.stdout.contains(id), "{}", text.stdout);
    }
    assert!(!text.stdout.contains('\u{1b}'), "a hostile log must not reach the terminal raw");
}

#[test]
fn bash_completes_fl_to_flow_from_the_generated_script() {
    let s = Sandbox::new();
    let script = s.run(&["completions", "bash"]);
    assert_eq!(script.status, 0, "{}", script.explain());
    let path = s.root().join("wfhost.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    // Load it in a real bash and call the completion function bound to `wfhost` as readline
    // would for `wfhost fl<TAB>`, then for a flag of `flow`.
    let probe = format!(
        "source {}\n\
         f=$(complete -p wfhost | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\
         COMP_WORDS=(wfhost fl); COMP_CWORD=1; COMP_LINE='wfhost fl'; COMP_POINT=${{#COMP_LINE}}\n\
         \"$f\" wfhost fl wfhost; echo \"words: ${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(wfhost flow --tea); COMP_CWORD=2; COMP_LINE='wfhost flow --tea'; COMP_POINT=${{#COMP_LINE}}\n\
         \"$f\" wfhost --tea flow; echo \"flags: ${{COMPREPLY[*]}}\"\n",
        path.display()
    );
    let out = Command::new("bash").args(["--norc", "--noprofile", "-c", &probe]).stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l == "words: flow"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "flags: --teardown"), "{stdout}");
    for shell in ["zsh", "fish"] {
        let run = s.run(&["completions", shell]);
        assert_eq!(run.status, 0, "{}", run.explain());
        assert!(run.stdout.contains("sweep-status") && run.stdout.contains("teardown"), "{shell}");
    }
}

#[test]
fn man_pages_cover_every_command() {
    let s = Sandbox::new();
    let page = s.run(&["man"]);
    assert_eq!(page.status, 0, "{}", page.explain());
    assert!(page.stdout.starts_with(".ie") || page.stdout.contains(".TH wfhost"), "{}", &page.stdout[..200.min(page.stdout.len())]);
    for cmd in ["flow", "status", "logs", "report", "verify", "completions"] {
        assert!(page.stdout.contains(cmd), "{cmd}");
    }
    let dir = s.run(&["man", "--dir", "man1"]);
    assert_eq!(dir.status, 0, "{}", dir.explain());
    let names: Vec<String> = std::fs::read_dir(s.root().join("man1")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for name in ["wfhost.1", "wfhost-flow.1", "wfhost-status.1", "wfhost-logs.1", "wfhost-report.1"] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    let flow = std::fs::read_to_string(s.root().join("man1/wfhost-flow.1")).unwrap();
    assert!(flow.contains("teardown") && flow.contains(".TH wfhost-flow"), "{flow}");
}
