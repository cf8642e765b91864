//! The constitution is stated once: no Rust source outside this crate (and the tables build
//! scripts generate from it) restates a failure code or a config default.
//!
//! The test reads the codes and the defaults from the constitution itself and scans every `.rs`
//! file of the host crates, the end-to-end tests and the built-in executor component with a
//! small Rust lexer (comments, strings, raw strings, chars and lifetimes, number literals):
//!
//! - **a code literal**: an integer literal equal to a code of `codes.toml`, on a line that
//!   speaks of codes (`code`, `family`, `status`, `fail`, `refusal`, or a phase id like
//!   `"P40"`), or a code inside a string after `code`/`CODE=` (`"PHASE=P70 STATUS=fail
//!   CODE=407"`). Durations, sizes and counts that happen to equal a code are not codes and
//!   do not speak of them;
//! - **a config default**: outside tests, a string literal equal to a distinctive default of
//!   `config.toml` (`"/mnt/outputs"`, `".wfhost/pods"`, `"executors"`, ...), or an integer literal
//!   equal to a distinctive numeric default (`86400`, `1_000_000_000`, ...);
//! - **a config key by name**: outside tests, a string literal equal to a key's name
//!   (`"WF_TRANSPORT"`): host code names keys through `keys::*`, so a misspelt key does not
//!   compile.
//!
//! Anything else that matches is listed in [`ALLOWED`], each entry with the reason it is not a
//! restatement. A hit names the file, the line and the constant to use instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wfhost_constitution::{codes, Code, Constitution};

/// Matches that are not restatements: (path suffix, text on the line, why).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "host/wfhost-audit/src/status.rs",
        "format!(\"{}h{:02}m\", s / 3600, (s % 3600) / 60)",
        "seconds in an hour, for showing a duration, not WF_TASK_TIMEOUT_SECS's default",
    ),
    (
        "host/wfhost-flow/src/gateway.rs",
        ".unwrap_or(Duration::from_secs(3600))",
        "an hour as the budget of a call made outside any phase (no deadline set), not WF_TASK_TIMEOUT_SECS's default",
    ),
    (
        "host/wfhost-flow/src/gateway.rs",
        "const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);",
        "seconds in an hour, for a century, not WF_TASK_TIMEOUT_SECS's default",
    ),
    (
        "host/wfhost-builtins/build.rs",
        "\"wit\", \"constitution\"]",
        "the constitution/ directory the build script watches for changes, not WF_AUDITORS's default",
    ),
    (
        "host/wfhost-flow/src/plugins.rs",
        "pub const BUILTIN_AUDITOR: &str = \"constitution\";",
        "the built-in auditor's component name in the runtime's builtin table, the court's judge \
         when no config could be read; WF_AUDITORS's default names the same component",
    ),
    (
        "host/cli/commands.rs",
        "default_value = \"constitution\"",
        "`court audit --auditor`: the built-in auditor's component name, as above",
    ),
    (
        "host/wfhost-config/src/manifest.rs",
        "start_at == \"first\"",
        "SWEEP_START_AT's grammar: the keyword `first` (which the default also uses) as parsed",
    ),
];

/// Directories scanned, relative to the repository root.
const SCANNED: &[&str] = &["host", "tests", "plugins/executors"];

/// Directories not scanned: this crate states the constitution; the generic runtime does not
/// know it (it reads no codes and no config keys).
const SKIPPED: &[&str] = &["host/wfhost-constitution", "host/wfhost-runtime", "target"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        if SKIPPED.iter().any(|s| rel == *s || rel.ends_with("/target")) {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if rel.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// One lexical token the scan cares about.
#[derive(Debug, PartialEq)]
enum Token {
    /// An integer literal's value (suffix and `_` removed), with its 1-based line.
    Int(u128, usize),
    /// A string literal's contents (escapes left as written), with the line it starts on.
    Str(String, usize),
}

/// The tokens of `src`, and each line with its comments removed (strings kept).
fn lex(src: &str) -> (Vec<Token>, Vec<String>) {
    let b = src.as_bytes();
    let mut tokens = Vec::new();
    let mut code_lines: Vec<String> = vec![String::new()];
    let mut line = 1;
    let mut i = 0;
    let push = |lines: &mut Vec<String>, c: char| lines.last_mut().expect("a line").push(c);
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            code_lines.push(String::new());
            i += 1;
        } else if src[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if src[i..].starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        line += 1;
                        code_lines.push(String::new());
                    }
                    i += 1;
                }
            }
        } else if c == b'"' || ((c == b'r' || c == b'b') && is_string_start(&src[i..])) {
            let start_line = line;
            let start = i;
            let (body, end) = string_at(src, i);
            for ch in src[start..end].chars() {
                if ch == '\n' {
                    line += 1;
                    code_lines.push(String::new());
                } else {
                    push(&mut code_lines, ch);
                }
            }
            tokens.push(Token::Str(body, start_line));
            i = end;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let rest = &src[i + 1..];
            let end = if rest.starts_with('\\') {
                rest.find('\'').map(|e| i + 1 + e + 1)
            } else {
                let mut cs = rest.char_indices();
                match (cs.next(), cs.next()) {
                    (Some(_), Some((n, '\''))) => Some(i + 1 + n + 1),
                    _ => None,
                }
            };
            let end = end.unwrap_or(i + 1);
            src[i..end].chars().for_each(|ch| push(&mut code_lines, ch));
            i = end;
        } else if c.is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))) {
                i += 1;
            }
            let text = &src[start..i];
            text.chars().for_each(|ch| push(&mut code_lines, ch));
            if let Some(v) = int_value(text) {
                tokens.push(Token::Int(v, line));
            }
        } else {
            let ch = src[i..].chars().next().expect("a char");
            push(&mut code_lines, ch);
            i += ch.len_utf8();
        }
    }
    (tokens, code_lines)
}

fn is_string_start(s: &str) -> bool {
    let s = s.strip_prefix('b').unwrap_or(s);
    s.starts_with('"') || (s.starts_with('r') && s[1..].trim_start_matches('#').starts_with('"'))
}

/// The contents of the string literal starting at `i`, and the index after it.
fn string_at(src: &str, mut i: usize) -> (String, usize) {
    let b = src.as_bytes();
    if b[i] == b'b' {
        i += 1;
    }
    if b[i] == b'r' {
        let hashes = src[i + 1..].bytes().take_while(|&c| c == b'#').count();
        let open = i + 1 + hashes + 1;
        let close = format!("\"{}", "#".repeat(hashes));
        let end = src[open..].find(&close).map(|e| open + e).unwrap_or(src.len());
        return (src[open..end].to_owned(), (end + close.len()).min(src.len()));
    }
    let mut j = i + 1;
    while j < b.len() && b[j] != b'"' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    let end = j.min(src.len());
    (src[i + 1..end].to_owned(), (end + 1).min(src.len()))
}

/// A decimal integer literal's value; `None` for floats, hex, octal and binary.
fn int_value(text: &str) -> Option<u128> {
    if text.starts_with("0x") || text.starts_with("0o") || text.starts_with("0b") || text.contains('.') {
        return None;
    }
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '_').filter(|c| *c != '_').collect();
    let suffix = &text[text.chars().take_while(|c| c.is_ascii_digit() || *c == '_').count()..];
    if !(suffix.is_empty() || suffix.starts_with('u') || suffix.starts_with('i')) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a line (comments removed) speaks of codes.
fn speaks_of_codes(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let phase_literal = line.as_bytes().windows(5).any(|w| w[0] == b'"' && w[1] == b'P' && w[2].is_ascii_digit() && w[3].is_ascii_digit() && w[4] == b'"');
    phase_literal || ["code", "family", "status", "fail", "refusal"].iter().any(|w| lower.contains(w))
}

/// Codes written inside a string after `code`: `CODE=407`, `code 302`, `(code 106)`.
fn codes_in_string(s: &str, known: &BTreeMap<u16, Code>) -> Vec<u16> {
    let lower = s.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("code") {
        let rest = lower[from + at + 4..].trim_start_matches([' ', '=', ':']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u16>() {
            if digits.len() == 3 && known.contains_key(&n) {
                found.push(n);
            }
        }
        from += at + 4;
    }
    found
}

fn is_test_file(rel: &str) -> bool {
    rel.starts_with("tests/") || rel.contains("/tests/") || rel.contains("/benches/") || rel.ends_with("tests.rs") || rel.ends_with("/testhost.rs")
}

fn allowed(rel: &str, line: &str) -> bool {
    ALLOWED.iter().any(|(path, text, _)| rel.ends_with(path) && line.contains(text))
}

fn scan() -> Vec<String> {
    let c = Constitution::get().expect("constitution");
    let known: BTreeMap<u16, Code> = codes::ALL.iter().map(|k| (k.get(), *k)).collect();
    let defaults: Vec<&str> = c
        .vocabulary
        .keys
        .iter()
        .filter_map(|k| k.default.as_deref())
        .filter(|d| d.len() >= 4)
        .collect();
    let key_names: Vec<&str> = c.vocabulary.keys.iter().map(|k| k.name.as_str()).collect();
    let numeric_defaults: Vec<u128> = defaults.iter().filter_map(|d| d.parse().ok()).filter(|n| *n >= 1000).collect();
    let root = repo();
    let mut files = Vec::new();
    for dir in SCANNED {
        rust_files(&root.join(dir), &root, &mut files);
    }
    assert!(files.len() > 40, "the scan found only {} files under {SCANNED:?}", files.len());
    let mut hits = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().into_owned();
        let src = std::fs::read_to_string(&path).unwrap_or_default();
        let (tokens, lines) = lex(&src);
        // Outside tests: everything before a trailing `#[cfg(test)]` module.
        let test_from = src
            .lines()
            .position(|l| l.trim() == "#[cfg(test)]")
            .map(|i| i + 1)
            .filter(|_| !is_test_file(&rel))
            .unwrap_or(if is_test_file(&rel) { 0 } else { usize::MAX });
        let line_of = |n: usize| lines.get(n - 1).map(String::as_str).unwrap_or_default();
        for t in &tokens {
            let (n, hit) = match t {
                Token::Int(v, n) => {
                    let code = u16::try_from(*v).ok().and_then(|v| known.get(&v));
                    let hit = match code {
                        Some(k) if speaks_of_codes(line_of(*n)) => Some(format!("code literal {} ({}): use codes::{}", k.get(), k.name(), k.name())),
                        _ if *n < test_from && numeric_defaults.contains(v) => Some(format!("config default {v} restated: read it through the key")),
                        _ => None,
                    };
                    (*n, hit)
                }
                Token::Str(s, n) => {
                    let in_string = codes_in_string(s, &known);
                    let hit = if let Some(code) = in_string.first() {
                        Some(format!("code {code} written in a string: format codes::{} instead", known[code].name()))
                    } else if *n < test_from && defaults.contains(&s.as_str()) {
                        Some(format!("config default {s:?} restated: read it through the key (Config::value, Key::default)"))
                    } else if *n < test_from && !rel.starts_with("plugins/") && key_names.contains(&s.as_str()) {
                        Some(format!("config key {s:?} named by a string: use keys::{s}"))
                    } else {
                        None
                    };
                    (*n, hit)
                }
            };
            if let Some(what) = hit {
                if !allowed(&rel, line_of(n)) {
                    hits.push(format!("{rel}:{n}: {what}\n    {}", line_of(n).trim()));
                }
            }
        }
    }
    hits
}

#[test]
fn no_source_restates_a_code_or_a_config_default() {
    let hits = scan();
    assert!(hits.is_empty(), "{} restatement(s) of the constitution:\n{}", hits.len(), hits.join("\n"));
}

#[test]
fn every_allowance_is_still_needed() {
    let root = repo();
    for (path, text, why) in ALLOWED {
        assert!(!why.is_empty());
        let src = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        assert!(src.contains(text), "{path} no longer contains {text:?}: remove the allowance");
    }
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    let (tokens, lines) = lex("let a = fail(phase, 105, \"x\"); // 107\nlet d = 1_000_000_000u64; /* 86400 */ let s = r#\"CODE=407\"#; 'a'; '\\n';\n");
    assert_eq!(
        tokens,
        vec![Token::Int(105, 1), Token::Str("x".into(), 1), Token::Int(1_000_000_000, 2), Token::Str("CODE=407".into(), 2)]
    );
    assert!(!lines[0].contains("107") && !lines[1].contains("86400"));
    assert!(speaks_of_codes(&lines[0]));
    assert!(!speaks_of_codes("Duration::from_millis(200)"));
    assert!(speaks_of_codes("(\"P60\", 400)"));
    let known: BTreeMap<u16, Code> = codes::ALL.iter().map(|k| (k.get(), *k)).collect();
    assert_eq!(codes_in_string("PHASE=P70 STATUS=fail CODE=407", &known), vec![407]);
    assert_eq!(codes_in_string("halted at P40 (code 306)", &known), vec![306]);
    assert!(codes_in_string("exit code 1; code 999", &known).is_empty());
    assert_eq!(int_value("0x7f"), None);
    assert_eq!(int_value("256u16"), Some(256));
}
