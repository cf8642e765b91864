//! `wfhost report` in a real browser: Debian's headless Chromium loads the page with every
//! network request made to fail (a proxy on a closed port, every host name unresolvable) and
//! its net log recorded, prints its DOM after the script ran and takes a screenshot (kept under
//! target/tmp/report-screenshots). The page must log no console message, request nothing from
//! the network, and show every phase and every run; a tampered flow's page says so first.
//! Chromium is installed with apt-get when missing (the tests never skip), as `.ci/run` does.

use crate::harness::Sandbox;
use crate::read_commands::{document, flows};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

const CHROMIUM: &str = "/usr/bin/chromium";

fn ensure_chromium() {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if Path::new(CHROMIUM).is_file() {
        return;
    }
    eprintln!("report e2e: {CHROMIUM} is missing; installing Debian's chromium with apt-get");
    let apt = |args: &[&str]| Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null()).output();
    let update = apt(&["update", "-qq"]);
    let install = apt(&["install", "-y", "-qq", "--no-install-recommends", "chromium"]);
    assert!(
        Path::new(CHROMIUM).is_file(),
        "the report tests need Chromium ({CHROMIUM}) and installing it failed: apt-get install chromium, then rerun.\n\
         apt-get update: {update:?}\napt-get install: {install:?}"
    );
}

/// What Chromium made of a page.
struct Rendered {
    dom: String,
    /// Console messages Chromium logged (`INFO:CONSOLE` lines of its log).
    console: Vec<String>,
    /// URLs the page itself asked the network for (from the net log).
    requests: Vec<String>,
}

/// The page's own requests in a Chromium net log: URL requests whose network isolation key is
/// the file page's (the browser's background traffic has none), other than file: and data:.
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).unwrap_or_else(|e| panic!("{}: {e}", netlog.display()));
    // Chromium leaves the closing brackets off a log it was killed before finishing.
    let log: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .unwrap_or_else(|e| panic!("{}: not a net log ({e})", netlog.display()));
    let mut urls = Vec::new();
    for e in log["events"].as_array().into_iter().flatten() {
        let p = &e["params"];
        if let (Some(url), Some(nik)) = (p["url"].as_str(), p["network_isolation_key"].as_str()) {
            if nik.contains("file://") && !url.starts_with("file:") && !url.starts_with("data:") {
                urls.push(url.to_string());
            }
        }
    }
    urls.sort();
    urls.dedup();
    urls
}

/// Render `page` headless; keep a screenshot at `shot`.
fn render(page: &Path, shot: &Path) -> Rendered {
    ensure_chromium();
    let work = tempfile::tempdir().unwrap();
    let netlog = work.path().join("net.json");
    let url = format!("file://{}", page.display());
    let chromium = |profile: &str, extra: &[String]| {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", "90", CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", work.path().join(profile).display()))
            // Every request that reaches the network stack fails: no proxy listens on port 9 and
            // no host name resolves.
            .args(["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=3000"])
            .args(extra)
            .arg(&url)
            .stdin(Stdio::null());
        let out = cmd.output().expect("chromium runs");
        assert!(out.status.success(), "chromium {extra:?}: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        out
    };
    let out = chromium("dom", &[format!("--log-net-log={}", netlog.display()), "--dump-dom".into()]);
    let console = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(shot);
    chromium("shot", &[format!("--screenshot={}", shot.display()), "--window-size=1280,2400".into()]);
    let png = std::fs::read(shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} is no screenshot of a page", shot.display());
    Rendered { dom: String::from_utf8_lossy(&out.stdout).into_owned(), console, requests: page_requests(&netlog) }
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots")
}

/// Write the report of `flow_dir` and render it.
fn report(s: &Sandbox, flow_dir: &Path, name: &str) -> (Rendered, Value, String) {
    let page = s.root().join(format!("{name}.html"));
    let run = s.run(&["report", &flow_dir.display().to_string(), "-o", &page.display().to_string()]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let html = std::fs::read_to_string(&page).unwrap();
    let story = document(&s.run(&["explain", "--json", &flow_dir.display().to_string()]), "cli-explain");
    (render(&page, &screenshots().join(format!("{name}.png"))), story, html)
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// What every report must be: no console message, no network request, no reference outside
/// the page, every phase in the table and the timeline.
fn check_page(r: &Rendered, html: &str, story: &Value) {
    assert!(r.console.is_empty(), "console: {:#?}", r.console);
    assert!(r.requests.is_empty(), "network requests: {:#?}", r.requests);
    for attr in ["src=", "href=", "url(", "@import"] {
        assert!(!html.contains(attr), "the page refers to something outside it: {attr}");
    }
    // The one URL in the page is the SVG namespace the script creates elements in.
    assert_eq!(count(html, "http:") + count(html, "https:"), count(html, "http://www.w3.org/2000/svg"), "an external URL in the page");
    let phases = story["phases"].as_array().unwrap();
    assert_eq!(count(&r.dom, "<tr class=\"phase\">"), phases.len());
    for p in phases {
        let id = p["phase"].as_str().unwrap();
        assert!(r.dom.contains(&format!("<td>{id}</td>")), "{id} missing from the phase table");
        assert!(r.dom.contains(&format!("{id} {}</text>", p["name"].as_str().unwrap())), "{id} missing from the timeline");
    }
}

#[test]
fn the_report_renders_offline_in_chromium_with_every_phase_and_run_and_names_tampering() {
    // A control: the network check sees a page that does make a request.
    let probe = tempfile::tempdir().unwrap();
    let bad = probe.path().join("probe.html");
    std::fs::write(&bad, "<html><body><img src=\"http://wfhost-probe.invalid/x.png\"><script>console.error('probe')</script></body></html>").unwrap();
    let control = render(&bad, &probe.path().join("probe.png"));
    assert_eq!(control.requests, ["http://wfhost-probe.invalid/x.png"], "the net log check must see a page's request");
    assert!(control.console.iter().any(|l| l.contains("probe")), "the console check must see a message: {:#?}", control.console);

    let f = flows();
    // The passing flow: three runs fetched, each with its exit code, duration and numbers.
    let (r, story, html) = report(&f.s, &f.passing, "passing");
    check_page(&r, &html, &story);
    assert!(r.dom.contains("Evidence verified"), "no verified banner");
    assert!(r.dom.contains("PASSED"));
    assert_eq!(count(&r.dom, "<tr class=\"run\">"), 3);
    for id in ["r1", "r2", "r3"] {
        assert!(r.dom.contains(&format!("<tr class=\"run\"><td>{id}</td>")), "run {id} missing");
    }
    assert!(r.dom.contains(">metrics.loss</th>") && r.dom.contains(">metrics.seed</th>"), "the runs' numbers are columns");
    assert!(r.dom.contains("<th class=\"sortable\">run</th>"), "the script made the columns sortable");
    // The script ran: it drew the chart's bars.
    assert!(count(&r.dom, "class=\"bar ok\"") >= 1, "the chart was not drawn");
    assert!(r.dom.contains("provision") && r.dom.contains("consent given by"), "side effects and their consent");

    // The halted flow: the halt, the failing run.
    let (r, story, html) = report(&f.s, &f.halted, "halted");
    check_page(&r, &html, &story);
    assert!(r.dom.contains(&format!("HALTED at P70 with code {}", wfhost_constitution::codes::RUNS_FAILED)), "no halt in the page");
    assert!(r.dom.contains("RUNS_FAILED"));
    assert!(r.dom.contains("<tr class=\"run\"><td>r2</td>"), "the failed run is listed");
    assert!(r.dom.contains("total: <b>2</b>"));

    // The tampered flow: says so at the top, before anything else of the flow.
    let (r, story, html) = report(&f.s, &f.tampered, "tampered");
    check_page(&r, &html, &story);
    let banner = r.dom.find("EVIDENCE DOES NOT VERIFY").expect("no tampering banner");
    assert!(banner < r.dom.find("<h1>").unwrap(), "the banner is not at the top");
    assert!(r.dom.contains("phase/phase.P30.json"), "the banner names the changed file");
    assert!(!r.dom.contains("Evidence verified"));
}

#[test]
fn hostile_strings_from_evidence_stay_text() {
    // A run whose id and output carry markup: the page shows them as text, runs no script of
    // theirs and still loads nothing.
    let mut s = Sandbox::new();
    s.manifest(
        "run_id,command\nr1,\"printf '{\"\"ok\"\": true, \"\"</script><script>alert(1)</script>\"\": 7}' > \"\"$WF_RUN_DIR/summary.json\"\"\"\n",
    );
    let run = s.run(&["flow", "--yes", "--wait", "true", "--fetch", "all"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let (r, story, html) = report(&s, &run.flow_dir(), "hostile");
    check_page(&r, &html, &story);
    assert!(!html.contains("<script>alert(1)"), "evidence reached the page as markup");
    assert!(r.dom.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "the metric's name is shown as text");
    assert_eq!(count(&html, "<script"), 2, "only the page's own two script elements");
}

#[test]
fn a_signed_flows_report_names_its_key_and_an_unfinished_one_its_next_command() {
    let mut s = Sandbox::new();
    let keygen = s.run(&["keygen", "keys/flow.pem"]);
    assert_eq!(keygen.status, 0, "{}", keygen.explain());
    let key_id = keygen.stdout.lines().find_map(|l| l.strip_prefix("key id:      ")).expect("keygen names the key id").to_string();
    s.set("WF_SIGNING_KEY", "keys/flow.pem");
    let run = s.run(&["flow", "--yes", "--wait", "true"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let page = s.root().join("signed.html");
    let made = s.run(&["report", &run.flow_dir().display().to_string(), "-o", &page.display().to_string()]);
    assert_eq!(made.status, 0, "{}", made.explain());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Evidence verified") && html.contains(&format!("signed by {key_id}")), "{key_id} not in the banner");

    // A flow cut short (its log ends before the summary): the page says so and what to run.
    let cut = run.flow_dir().with_file_name("cut");
    crate::read_commands::copy_dir(&run.flow_dir(), &cut);
    let log = std::fs::read_to_string(cut.join("events.jsonl")).unwrap();
    let keep: Vec<&str> = log.lines().take_while(|l| !l.contains("\"phase.started\"") || !l.contains("\"P80\"")).collect();
    std::fs::write(cut.join("events.jsonl"), format!("{}\n", keep.join("\n"))).unwrap();
    let made = s.run(&["report", &cut.display().to_string(), "-o", "cut.html"]);
    assert_eq!(made.status, 0, "{}", made.explain());
    assert!(made.stderr.contains("does not verify"), "{}", made.explain());
    let html = std::fs::read_to_string(s.root().join("cut.html")).unwrap();
    assert!(html.contains("DID NOT FINISH") && html.contains("The flow did not finish."), "no unfinished state in the page");
    assert!(html.contains("EVIDENCE DOES NOT VERIFY"), "the files the log no longer carries are named");
}
