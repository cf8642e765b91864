//! `wfhost report`: one self-contained HTML page about a flow, from its evidence files alone.
//!
//! ```text
//! flow_dir ─► Story::read (records) ──────────┐
//!          ├► verify (does the evidence hold?) ├─► Page { html }: banner (verified / tampered,
//!          └► runs: the P70 counts, and each   │    signed), header, halt, phase timeline (SVG)
//!             fetched run's _wf/exit_code,     │    and table, runs table (sortable) and chart
//!             started_at, ended_at and         │    (SVG, metric chosen in the page), side
//!             summary.json (sha256 checked     │    effects with consents and receipts, pod,
//!             against its artifact record) ────┘    refused calls, secrets, fetched files
//! ```
//!
//! The page holds everything inline (CSS, a small script, SVG) and a Content-Security-Policy
//! that forbids every fetch, so opening it touches no network. Every string from the evidence
//! (which can hold hostile text from a pod) is HTML-escaped, and the runs' data is embedded as
//! JSON with `<`, `>` and `&` escaped, so nothing from evidence can close a tag or start a
//! script. Without the script the page still shows every phase and every run; the script adds
//! sorting and the chart's metric choice.

use crate::explain_json::halt_json;
use crate::story::{Ending, Fetched, Story, StoryError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use wfhost_evidence::Timestamp;

/// The most bytes read of one fetched file (summary.json, _wf/*).
const MAX_FILE: u64 = 1 << 20;
/// The most metric columns shown (the first ones, by name).
const MAX_METRICS: usize = 24;

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Page {
    /// The flow id.
    pub flow_id: String,
    /// Whether the evidence verified.
    pub verified: bool,
    /// The page.
    pub html: String,
}

/// One run of the sweep as the evidence tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRow {
    /// The run id.
    pub run_id: String,
    /// `ok`, `failed`, `lost`, `running` or `unknown`.
    pub state: String,
    /// Its exit code, when fetched.
    pub exit_code: Option<i64>,
    /// Seconds from started_at to ended_at, when fetched.
    pub duration_s: Option<f64>,
    /// The numbers its summary.json holds (nested members as `a.b`), and those of its
    /// metrics.json as `metrics.<name>`.
    pub metrics: BTreeMap<String, f64>,
    /// Whether its files were fetched.
    pub fetched: bool,
    /// A problem with its files (changed since fetch, unreadable).
    pub problem: Option<String>,
}

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe to embed in a `<script type="application/json">` element.
fn script_json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| esc(&v.to_string())).unwrap_or_else(|| "–".into())
}

/// A file a fetch recorded, read back (at most [`MAX_FILE`]) and checked against its sha256.
fn read_fetched(flow_dir: &Path, f: &Fetched) -> Result<Vec<u8>, String> {
    let path = Path::new(&f.path);
    let path: PathBuf = if path.is_absolute() { path.to_path_buf() } else { flow_dir.join(path) };
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", f.name))?;
    if meta.len() > MAX_FILE {
        return Err(format!("{} is larger than {} bytes", f.name, MAX_FILE));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", f.name))?;
    match &f.sha256 {
        Some(want) if *want != wfhost_evidence::hash::sha256_hex(&bytes) => Err(format!("{} changed since it was fetched (sha256 differs from its record)", f.name)),
        _ => Ok(bytes),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (runner.sh) or with milliseconds, as Unix milliseconds.
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let with_ms = match s.strip_suffix('Z') {
        Some(base) if base.len() == 19 => format!("{base}.000Z"),
        _ => s.to_string(),
    };
    Timestamp::parse(&with_ms).ok().map(Timestamp::unix_millis)
}

fn flatten(prefix: &str, v: &Value, depth: usize, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                out.insert(prefix.to_string(), f);
            }
        }
        Value::Object(m) if depth < 2 => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The runs of the sweep: every fetched run with what its files say, and the failed runs P70
/// named that were not fetched.
pub fn runs(story: &Story) -> Vec<RunRow> {
    let mut by_run: BTreeMap<String, Vec<&Fetched>> = BTreeMap::new();
    for f in &story.fetched {
        if let Some(id) = &f.run_id {
            by_run.entry(id.clone()).or_default().push(f);
        }
    }
    let monitor = story.phases.iter().rev().find(|p| p.phase == "P70" && p.facts.contains_key("total"));
    let failed: Vec<String> = monitor
        .and_then(|p| p.facts.get("failed_runs"))
        .map(|f| f.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (id, files) in &by_run {
        let mut row = RunRow { run_id: id.clone(), fetched: true, ..RunRow::default() };
        let mut problems = Vec::new();
        let mut text = |name: &str| -> Option<String> {
            let f = files.iter().find(|f| f.name == name)?;
            match read_fetched(&story.flow_dir, f) {
                Ok(b) => Some(String::from_utf8_lossy(&b).trim().to_string()),
                Err(e) => {
                    problems.push(e);
                    None
                }
            }
        };
        row.exit_code = text("_wf/exit_code").and_then(|s| s.parse().ok());
        let started = text("_wf/started_at").and_then(|s| parse_time(&s));
        let ended = text("_wf/ended_at").and_then(|s| parse_time(&s));
        if let (Some(a), Some(b)) = (started, ended) {
            row.duration_s = Some((b - a).max(0) as f64 / 1000.0);
        }
        let summary: Option<Value> = text("summary.json").and_then(|s| serde_json::from_str(&s).ok());
        if let Some(s) = &summary {
            flatten("", s, 0, &mut row.metrics);
        }
        // A run that keeps its numbers in metrics.json (the quickstart's does) shows them too.
        if let Some(m) = text("metrics.json").and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
            flatten("metrics", &m, 0, &mut row.metrics);
        }
        let summary_failed = summary.as_ref().and_then(|s| s.get("ok")).and_then(Value::as_bool) == Some(false);
        row.state = match row.exit_code {
            Some(0) if !summary_failed => "ok",
            Some(_) => "failed",
            None if failed.contains(id) => "lost",
            None => "unknown",
        }
        .into();
        if !problems.is_empty() {
            row.problem = Some(problems.join("; "));
        }
        rows.push(row);
    }
    for id in failed.iter().filter(|id| !by_run.contains_key(*id)) {
        rows.push(RunRow { run_id: id.clone(), state: "failed".into(), problem: Some("not fetched: only its state is known".into()), ..RunRow::default() });
    }
    rows
}

const STYLE: &str = r#"
:root{--ok:#1a7f37;--fail:#cf222e;--skip:#8c959f;--warn:#9a6700;--ink:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.banner{padding:12px 16px;border-radius:6px;margin:8px 0 12px;font-weight:600}
.banner.ok{background:#dafbe1;border:1px solid #4ac26b}.banner.bad{background:#ffebe9;border:2px solid var(--fail);color:#82071e;font-size:16px}
.banner .sub{font-weight:400;display:block;margin-top:4px}
.grid{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}.grid dt{color:var(--mute)}.grid dd{margin:0;word-break:break-word}
.pill{white-space:nowrap;display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--skip)}
.pill.pass,.pill.ok,.pill.passed{background:var(--ok)}.pill.fail,.pill.failed,.pill.halted,.pill.lost{background:var(--fail)}
.pill.unfinished,.pill.running,.pill.unknown{background:var(--warn)}
table{border-collapse:collapse;width:100%;margin:4px 0}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}td.text{overflow-wrap:anywhere;min-width:16em}
th{background:var(--bg);position:sticky;top:0}th.sortable{cursor:pointer;user-select:none}th.sortable:after{content:" ⇅";color:var(--mute)}
td.num{text-align:right;font-variant-numeric:tabular-nums}.mute{color:var(--mute)}code{font-size:12px;background:var(--bg);padding:1px 4px;border-radius:3px;word-break:break-all}
.halt{border-left:4px solid var(--fail);background:#fff8f7;padding:8px 12px;margin:8px 0}
.wrap{overflow-x:auto}svg text{font:11px system-ui,sans-serif;fill:var(--ink)}.counts span{margin-right:14px}
"#;

const SCRIPT: &str = r#"
(function(){
  function cell(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;var n=parseFloat(v);return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      th.classList.add('sortable');
      th.addEventListener('click',function(){
        var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows),asc=th.getAttribute('data-dir')!=='asc';
        t.querySelectorAll('th').forEach(function(o){o.removeAttribute('data-dir');});th.setAttribute('data-dir',asc?'asc':'desc');
        rows.sort(function(a,b){var x=cell(a.cells[i]),y=cell(b.cells[i]);if(x===y)return 0;if(typeof x!==typeof y)return (typeof x==='number'?-1:1)*(asc?1:-1);return (x<y?-1:1)*(asc?1:-1);});
        rows.forEach(function(r){tb.appendChild(r);});
      });
    });
  });
  var data=document.getElementById('runs-data'),sel=document.getElementById('metric'),svg=document.getElementById('runs-chart');
  if(!data||!sel||!svg)return;
  var runs=JSON.parse(data.textContent);
  var NS='http://www.w3.org/2000/svg';
  function draw(){
    var m=sel.value;while(svg.firstChild)svg.removeChild(svg.firstChild);
    var vals=runs.map(function(r){return m==='duration_s'?r.duration_s:(m==='exit_code'?r.exit_code:r.metrics[m]);});
    var nums=vals.filter(function(v){return typeof v==='number';});var max=Math.max.apply(null,nums.concat([0]));var min=Math.min.apply(null,nums.concat([0]));
    var W=Math.max(600,runs.length*6+60),H=220,bw=Math.max(1,(W-60)/Math.max(1,runs.length)),span=(max-min)||1;
    svg.setAttribute('width',W);svg.setAttribute('viewBox','0 0 '+W+' '+(H+20));
    var zero=H-((0-min)/span)*(H-20);
    runs.forEach(function(r,i){var v=vals[i];if(typeof v!=='number')return;var y=H-((v-min)/span)*(H-20);
      var rect=document.createElementNS(NS,'rect');rect.setAttribute('x',50+i*bw);rect.setAttribute('width',Math.max(1,bw-1));
      rect.setAttribute('y',Math.min(y,zero));rect.setAttribute('height',Math.max(1,Math.abs(zero-y)));rect.setAttribute('class','bar '+r.state);
      rect.setAttribute('fill',r.state==='ok'?'#1a7f37':(r.state==='failed'||r.state==='lost'?'#cf222e':'#9a6700'));
      var t=document.createElementNS(NS,'title');t.textContent=r.run_id+': '+v;rect.appendChild(t);svg.appendChild(rect);});
    [[max,20],[min,H]].forEach(function(p){var t=document.createElementNS(NS,'text');t.setAttribute('x',2);t.setAttribute('y',p[1]);t.textContent=String(Math.round(p[0]*1000)/1000);svg.appendChild(t);});
    var l=document.createElementNS(NS,'text');l.setAttribute('x',50);l.setAttribute('y',H+16);l.textContent=m+' per run ('+nums.length+' of '+runs.length+' runs have it)';svg.appendChild(l);
  }
  // Runs too short to time (whole seconds on the target) chart their first number instead.
  if(sel.options.length>2&&!runs.some(function(r){return r.duration_s>0;}))sel.selectedIndex=2;
  sel.addEventListener('change',draw);draw();
})();
"#;

/// The phase timeline as SVG: one bar per phase from its start to its end, coloured by verdict.
fn timeline(story: &Story) -> String {
    let t0 = story.started.as_deref().and_then(parse_time);
    let rows: Vec<(&crate::story::PhaseStory, i64, i64)> = story
        .phases
        .iter()
        .map(|p| {
            let start = match (t0, p.started_at.as_deref().and_then(parse_time)) {
                (Some(a), Some(b)) => (b - a).max(0),
                _ => 0,
            };
            (p, start, start + p.duration_ms.unwrap_or(0) as i64)
        })
        .collect();
    let total = rows.iter().map(|r| r.2).max().unwrap_or(0).max(1) as f64;
    let (w, label, row_h) = (900.0, 170.0, 22.0);
    let h = rows.len() as f64 * row_h + 24.0;
    let mut svg = format!("<svg id=\"timeline\" role=\"img\" aria-label=\"phase timeline\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">");
    for (i, (p, a, b)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let x = label + (*a as f64 / total) * (w - label - 10.0);
        let bw = (((*b - *a) as f64 / total) * (w - label - 10.0)).max(2.0);
        let colour = match (p.court.as_deref(), p.status.as_deref()) {
            (Some("pass"), Some("skip")) => "#8c959f",
            (Some("pass"), _) => "#1a7f37",
            (Some(_), _) => "#cf222e",
            (None, _) => "#9a6700",
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\">{id} {name}</text><rect x=\"{x:.1}\" y=\"{y}\" width=\"{bw:.1}\" height=\"16\" rx=\"3\" fill=\"{colour}\"><title>{id} {status} code {code}, court {court}, {ms} ms</title></rect>",
            ty = y + 12.0,
            id = esc(&p.phase),
            name = esc(&p.name),
            status = opt(&p.status),
            code = opt(&p.code),
            court = opt(&p.court),
            ms = p.duration_ms.unwrap_or(0),
        );
    }
    let _ = write!(svg, "<text x=\"{label}\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.1} s</text></svg>", h - 4.0, w - 10.0, h - 4.0, total / 1000.0);
    svg
}

/// The runs chart as SVG, drawn in the page's order with durations (the script redraws it for
/// the metric chosen).
fn runs_chart(rows: &[RunRow]) -> String {
    let w = (rows.len() * 6 + 60).max(600);
    let max = rows.iter().filter_map(|r| r.duration_s).fold(0.0f64, f64::max).max(1e-9);
    let mut svg = format!("<svg id=\"runs-chart\" role=\"img\" aria-label=\"runs chart\" width=\"{w}\" height=\"240\" viewBox=\"0 0 {w} 240\">");
    let bw = (w - 60) as f64 / rows.len().max(1) as f64;
    for (i, r) in rows.iter().enumerate() {
        let Some(d) = r.duration_s else { continue };
        let hgt = (d / max) * 200.0;
        let _ = write!(svg, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {d}</title></rect>", 50.0 + i as f64 * bw, 220.0 - hgt, (bw - 1.0).max(1.0), hgt.max(1.0), esc(&r.run_id));
    }
    svg.push_str("</svg>");
    svg
}

/// Render the report of the flow in `flow_dir` (module doc).
pub fn render(flow_dir: &Path) -> Result<Page, StoryError> {
    let story = Story::read(flow_dir)?;
    let verified = crate::verify(flow_dir);
    let runs = runs(&story);
    let mut h = String::with_capacity(64 * 1024 + runs.len() * 600);
    let title = format!("wfhost flow {}", story.flow_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>",
        esc(&title)
    );

    // The banner: does the evidence hold?
    match &verified {
        Ok(r) => {
            let signed = match (&r.signing, &story.signed_by) {
                (Some(s), _) => format!("signed by ed25519:{} ({} envelope(s) verified{})", esc(&s.key_id), s.envelopes, if s.pinned { "" } else { "; key from signing.pub, not pinned" }),
                (None, _) => "not signed".into(),
            };
            let _ = write!(h, "<div class=\"banner ok\" id=\"evidence\">Evidence verified: {} records, hash chain intact, every file matches its record; {signed}.", r.records);
            if !r.warnings.is_empty() {
                let _ = write!(h, "<span class=\"sub\">{} warning(s): {}</span>", r.warnings.len(), esc(&r.warnings.join("; ")));
            }
            h.push_str("</div>");
        }
        Err(f) => {
            let _ = write!(
                h,
                "<div class=\"banner bad\" id=\"evidence\">EVIDENCE DOES NOT VERIFY — this flow's evidence was changed or damaged after it was written.<span class=\"sub\">First problem: {}</span><span class=\"sub\">What follows is what the records say, and they are in doubt. {}</span></div>",
                esc(&f.to_string()),
                esc(f.next_step())
            );
        }
    }

    // Header.
    let (ending_word, ending_class) = match &story.ending {
        Ending::Passed { .. } => ("PASSED".to_string(), "passed"),
        Ending::Halted { phase, code, .. } => (format!("HALTED at {} with code {}", phase.as_deref().unwrap_or("?"), code.map(|c| c.to_string()).unwrap_or_default()), "halted"),
        Ending::Unfinished { .. } => ("DID NOT FINISH".to_string(), "unfinished"),
    };
    let _ = write!(h, "<h1>Flow <code>{}</code> <span class=\"pill {ending_class}\" id=\"ending\">{}</span></h1>", esc(&story.flow_id), esc(&ending_word));
    h.push_str("<dl class=\"grid\">");
    let mut dd = |k: &str, v: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    dd("command", story.command_line.as_deref().map(|c| format!("<code>{}</code>", esc(c))).unwrap_or_else(|| "–".into()));
    dd("started", opt(&story.started));
    dd("finished", opt(&story.finished));
    dd("took", story.duration_ms.map(|ms| esc(&crate::status::human_ms(ms))).unwrap_or_else(|| "–".into()));
    dd("target", format!("{}{}", opt(&story.target), story.target_source.as_deref().map(|s| format!(" <span class=\"mute\">({})</span>", esc(s))).unwrap_or_default()));
    dd("transport", opt(&story.header.get("transport")));
    dd("config", format!("{} <span class=\"mute\">sha256 {}</span>", opt(&story.header.get("active_config_path")), opt(&story.header.get("active_config_sha256"))));
    dd("wfhost", opt(&story.wfhost_version));
    dd("records", story.records.to_string());
    h.push_str("</dl>");

    // The halt.
    let halt = halt_json(&story);
    if !halt.is_null() {
        let s = |k: &str| halt.get(k).and_then(Value::as_str).map(esc).unwrap_or_else(|| "–".into());
        let laws: Vec<String> = halt["violated_laws"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| format!("{} {}", esc(l["id"].as_str().unwrap_or("")), l["title"].as_str().map(|t| format!("({})", esc(t))).unwrap_or_default()))
            .collect();
        let _ = write!(
            h,
            "<div class=\"halt\" id=\"halt\"><b>Halted at {} with code {} {}</b>: {}<br>reason: {}<br>violated laws: {}<br>next: <code>{}</code></div>",
            s("phase"),
            halt["code"].as_u64().map(|c| c.to_string()).unwrap_or_default(),
            s("code_name"),
            s("code_text"),
            s("reason"),
            if laws.is_empty() { "none".into() } else { laws.join("; ") },
            s("next_command")
        );
    } else if let Some(next) = story.next_command() {
        let _ = write!(h, "<div class=\"halt\" id=\"halt\"><b>The flow did not finish.</b> Next: <code>{}</code></div>", esc(&next));
    }

    // Phases: timeline and table.
    let _ = write!(h, "<h2>Phases ({})</h2><div class=\"wrap\">{}</div>", story.phases.len(), timeline(&story));
    h.push_str("<table class=\"sortable\" id=\"phases\"><thead><tr><th>phase</th><th>name</th><th>status</th><th>code</th><th>court</th><th>deterministic</th><th>constitutional</th><th>ms</th><th>what happened</th></tr></thead><tbody>");
    for p in &story.phases {
        let court = p.court.as_deref().unwrap_or("none");
        let why = if court != "pass" && p.halt_reason.is_some() { p.halt_reason.clone() } else { p.message.clone() };
        let _ = write!(
            h,
            "<tr class=\"phase\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td><span class=\"pill {}\">{}</span></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"text\">{}</td></tr>",
            esc(&p.phase),
            esc(&p.name),
            opt(&p.status),
            opt(&p.code),
            esc(court),
            esc(court),
            opt(&p.deterministic),
            opt(&p.constitutional),
            opt(&p.duration_ms),
            opt(&why)
        );
    }
    h.push_str("</tbody></table>");

    // Runs.
    let monitor = story.phases.iter().rev().find(|p| p.phase == "P70" && p.facts.contains_key("total"));
    let _ = write!(h, "<h2>Runs ({})</h2>", runs.len());
    if let Some(m) = monitor {
        h.push_str("<p class=\"counts\" id=\"run-counts\">");
        for k in ["total", "ok", "failed", "running", "pending", "lost"] {
            let _ = write!(h, "<span>{k}: <b>{}</b></span>", m.facts.get(k).map(|v| esc(v)).unwrap_or_else(|| "–".into()));
        }
        h.push_str("<span class=\"mute\">(the last P70 snapshot)</span></p>");
    }
    if runs.is_empty() {
        h.push_str("<p class=\"mute\">No run was fetched (fetch them with <code>--fetch all</code>) and none failed, so the evidence holds no per-run data.</p>");
    } else {
        let metric_names: Vec<String> = {
            let mut all: Vec<String> = runs.iter().flat_map(|r| r.metrics.keys().cloned()).collect();
            all.sort();
            all.dedup();
            all.truncate(MAX_METRICS);
            all
        };
        h.push_str("<label>chart: <select id=\"metric\"><option value=\"duration_s\">duration (s)</option><option value=\"exit_code\">exit code</option>");
        for m in &metric_names {
            let _ = write!(h, "<option value=\"{0}\">{0}</option>", esc(m));
        }
        let _ = write!(h, "</select></label><div class=\"wrap\">{}</div>", runs_chart(&runs));
        h.push_str("<div class=\"wrap\"><table class=\"sortable\" id=\"runs\"><thead><tr><th>run</th><th>state</th><th>exit code</th><th>duration (s)</th>");
        for m in &metric_names {
            let _ = write!(h, "<th>{}</th>", esc(m));
        }
        h.push_str("<th>note</th></tr></thead><tbody>");
        for r in &runs {
            let _ = write!(
                h,
                "<tr class=\"run\"><td>{}</td><td data-v=\"{}\"><span class=\"pill {}\">{}</span></td><td class=\"num\">{}</td><td class=\"num\" data-v=\"{}\">{}</td>",
                esc(&r.run_id),
                esc(&r.state),
                esc(&r.state),
                esc(&r.state),
                opt(&r.exit_code),
                r.duration_s.map(|d| d.to_string()).unwrap_or_default(),
                r.duration_s.map(|d| format!("{d:.1}")).unwrap_or_else(|| "–".into())
            );
            for m in &metric_names {
                match r.metrics.get(m) {
                    Some(v) => {
                        let _ = write!(h, "<td class=\"num\" data-v=\"{v}\">{v}</td>");
                    }
                    None => h.push_str("<td class=\"num\" data-v=\"\">–</td>"),
                }
            }
            let _ = write!(h, "<td>{}</td></tr>", opt(&r.problem));
        }
        h.push_str("</tbody></table></div>");
        let data: Vec<Value> = runs
            .iter()
            .map(|r| {
                let metrics: Map<String, Value> = r.metrics.iter().filter(|(k, _)| metric_names.contains(k)).map(|(k, v)| (k.clone(), json!(v))).collect();
                json!({"run_id": r.run_id, "state": r.state, "exit_code": r.exit_code, "duration_s": r.duration_s, "metrics": metrics})
            })
            .collect();
        let _ = write!(h, "<script type=\"application/json\" id=\"runs-data\">{}</script>", script_json(&Value::Array(data)));
    }

    // Side effects.
    let _ = write!(h, "<h2>Side effects ({})</h2>", story.side_effects.len());
    if story.side_effects.is_empty() {
        h.push_str("<p class=\"mute\">None recorded.</p>");
    } else {
        h.push_str("<div class=\"wrap\"><table class=\"sortable\" id=\"side-effects\"><thead><tr><th>line</th><th>phase</th><th>operation</th><th>target</th><th>approved by</th><th>consent</th><th>capability</th><th>receipt (idempotency key)</th><th>result</th></tr></thead><tbody>");
        for e in &story.side_effects {
            let _ = write!(
                h,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"text\">{}</td></tr>",
                e.line,
                esc(&e.phase),
                esc(&e.op),
                esc(&e.target),
                esc(&e.approved_by),
                opt(&e.consent),
                opt(&e.capability),
                esc(&e.idempotency_key),
                esc(&e.result)
            );
        }
        h.push_str("</tbody></table></div>");
    }
    if !story.refused.is_empty() {
        let _ = write!(h, "<h2>Refused calls ({})</h2><table><thead><tr><th>line</th><th>operation</th><th>target</th><th>why</th></tr></thead><tbody>", story.refused.len());
        for r in &story.refused {
            let _ = write!(h, "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", r.line, esc(&r.op), opt(&r.target), esc(&r.detail));
        }
        h.push_str("</tbody></table>");
    }
    if !story.secrets_issued.is_empty() {
        h.push_str("<h2>Secrets issued</h2><p class=\"mute\">Handles only: the values never left the host.</p><table><thead><tr><th>handle</th><th>to</th><th>times</th></tr></thead><tbody>");
        for s in &story.secrets_issued {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>", esc(&s.handle), esc(&s.requester), s.times);
        }
        h.push_str("</tbody></table>");
    }

    // The pod.
    let _ = write!(
        h,
        "<h2>Pod</h2><p id=\"pod\"><span class=\"pill {0}\">{0}</span> {1}{2}</p>",
        esc(&story.pod.state),
        esc(&story.pod.detail),
        story.pod.delete_command.as_deref().map(|c| format!("<br>delete it with: <code>{}</code>", esc(c))).unwrap_or_default()
    );

    // Fetched files.
    let bytes: u64 = story.fetched.iter().filter_map(|f| f.size).sum();
    let _ = write!(h, "<h2>Fetched files</h2><p>{} file(s), {} byte(s); the sha256 of each is recorded in events.jsonl.</p>", story.fetched.len(), bytes);
    let _ = write!(
        h,
        "<p class=\"mute\">Written by wfhost report from {} alone; this page loads nothing from the network.</p></main><script>{SCRIPT}</script></body></html>\n",
        esc(&story.flow_dir.display().to_string())
    );
    Ok(Page { flow_id: story.flow_id.clone(), verified: verified.is_ok(), html: h })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_from_evidence() {
        let hostile = "</script><script>alert(1)</script><img src=x onerror=alert(1)> \"'&\u{7}";
        let e = esc(hostile);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''), "{e}");
        assert!(e.contains("&lt;/script&gt;") && e.contains("&amp;") && e.contains('\u{fffd}'));
        let j = script_json(&json!({"run_id": hostile}));
        assert!(!j.contains("</script") && !j.contains('<') && !j.contains('>'), "{j}");
        let back: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back["run_id"], hostile);
    }

    #[test]
    fn run_times_and_metrics_are_read() {
        assert_eq!(parse_time("2026-12-06T13:00:05Z").unwrap() - parse_time("2026-12-06T13:00:00Z").unwrap(), 5000);
        assert_eq!(parse_time("2026-12-06T13:00:00.250Z").unwrap() % 1000, 250);
        assert_eq!(parse_time("yesterday"), None);
        let mut m = BTreeMap::new();
        flatten("", &json!({"loss": 0.5, "ok": true, "eval": {"acc": 0.9, "deep": {"x": {"y": 1}}}, "name": "x", "nan": null}), 0, &mut m);
        assert_eq!(m, BTreeMap::from([("loss".to_string(), 0.5), ("eval.acc".to_string(), 0.9)]));
    }
}
