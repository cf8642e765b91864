//! The sweep manifest: parsing the CSV, validating it, and planning the runs P60 starts.
//!
//! Data flows in two steps:
//!
//! 1. [`Manifest::parse`] (or [`Manifest::load`]) reads the CSV with the `csv` crate: a header
//!    row, RFC 4180 quoting (commas, quotes and newlines inside quoted fields), CRLF or LF line
//!    endings, a UTF-8 BOM tolerated, empty lines (and lines of only whitespace) ignored. Header
//!    names are trimmed; field values are kept exactly as written. Every record must have the
//!    header's field count, and a `run_id` column must hold non-empty, unique, path-safe ids
//!    (`[A-Za-z0-9._-]`, not starting with `.`, at most 128 characters). The sha256 is taken
//!    over the raw bytes.
//! 2. [`plan`] selects rows (`SWEEP_MATCH`, `SWEEP_START_AT`) and gives each selected row its
//!    shell command, producing [`PlannedRun`]s in manifest order.
//!
//! # Commands
//!
//! - A `command` column is used verbatim as the run's POSIX shell command (no placeholders);
//!   `SWEEP_RUN_TEMPLATE` is then ignored ([`Manifest::command_source`] says which applies).
//! - Otherwise `SWEEP_RUN_TEMPLATE` is expanded per row: `{column}` becomes the row's field,
//!   **POSIX-shell-quoted** ([`sh_quote`]) so it reaches the program as exactly one argument,
//!   whatever it contains (`;`, `$(...)`, backticks, quotes, spaces, newlines): a field cannot
//!   inject shell syntax. `{run_id}` is always available; `{run_dir}` becomes `"$WF_RUN_DIR"`
//!   (the run executes with `WF_RUN_DIR` set to its own output directory), `{gpus}` becomes
//!   `"$WF_GPUS"` (the run's GPUs, comma-separated: its `WF_GPUS_PER_RUN` slice, else every GPU
//!   of the target) and `{nproc}` `"$WF_NPROC"` (how many, at least 1: for launchers such as
//!   `torchrun --nproc_per_node={nproc}`); a column of one of these names collides with the
//!   placeholder when the template uses it, which is an error; `{{` and `}}` are
//!   literal braces. Because values are quoted for you, a placeholder must not stand inside
//!   quotes in the template (`"--x={a}"` would defeat the quoting): that is an error, as are an
//!   unknown placeholder, an unclosed `{`, a lone `}` and an unclosed quote.
//! - With neither, planning fails and says to add one.
//!
//! # Selection
//!
//! `SWEEP_START_AT` is `first` or a run_id that must exist: rows before it are skipped.
//! `SWEEP_MATCH` is `all`, a glob on run_id (`*` any run of characters, `?` one character;
//! no `[...]` classes), or comma-separated `column=glob` conditions that must all hold (a glob
//! in a condition cannot contain a comma; whitespace around names and globs is trimmed). An
//! unknown column is an error. Selecting no run is an error naming the filter that removed them.
//! `SWEEP_LIMIT` (0 = no limit) keeps the first N of the selected runs, in manifest order.
//!
//! Every error is a [`ManifestError`] carrying the manifest's name, the physical line where the
//! offending record starts (when there is one) and the constitution code [`CODE`]
//! (`MANIFEST_INVALID`).

use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use wfhost_constitution::codes::{self, Code};
use wfhost_constitution::keys;

/// The constitution code of every manifest error.
pub const CODE: Code = codes::MANIFEST_INVALID;

/// The longest run_id accepted.
pub const MAX_RUN_ID_LEN: usize = 128;

const RUN_ID: &str = "run_id";
const COMMAND: &str = "command";
/// The placeholders the runner fills in when the run starts, and what each becomes: a variable
/// of the run's environment, double-quoted.
const RUN_VARS: [(&str, &str); 3] = [
    ("run_dir", "\"$WF_RUN_DIR\""),
    ("gpus", "\"$WF_GPUS\""),
    ("nproc", "\"$WF_NPROC\""),
];

/// Why a manifest could not be read, validated or planned. Every variant has [`CODE`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read: missing, unreadable, not a regular file, or over its size cap
    /// (`wfhost_evidence::input`).
    #[error("cannot read the sweep manifest: {problem}; check SWEEP_MANIFEST points at a CSV file")]
    Unreadable {
        /// The manifest's name (its path as given).
        manifest: String,
        /// What is wrong, naming the file.
        problem: String,
    },
    /// The CSV reader failed (invalid UTF-8 or an I/O error).
    #[error("{manifest}:{line}: {problem}; fix that line (save the file as UTF-8 CSV)")]
    Csv {
        /// The manifest's name.
        manifest: String,
        /// Physical line where the record starts.
        line: u64,
        /// What the reader reported.
        problem: String,
    },
    /// There is no header row.
    #[error("{manifest} is empty: it needs a header row with a run_id column and one row per run (`wfhost sweep-csv-template` prints an example)")]
    Empty {
        /// The manifest's name.
        manifest: String,
    },
    /// The header is malformed (empty or duplicate column, no run_id).
    #[error("{manifest}:{line}: {problem}; fix the header row (`wfhost sweep-csv-template` prints an example)")]
    Header {
        /// The manifest's name.
        manifest: String,
        /// Physical line of the header.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// A record does not have the header's field count.
    #[error("{manifest}:{line}: the record has {found} fields but the header has {expected}; quote fields that contain commas, and give every row one value per column")]
    FieldCount {
        /// The manifest's name.
        manifest: String,
        /// Physical line where the record starts.
        line: u64,
        /// The header's field count.
        expected: usize,
        /// This record's field count.
        found: usize,
    },
    /// The header is there but no rows follow.
    #[error("{manifest} has a header but no runs; add one row per run below the header")]
    NoRows {
        /// The manifest's name.
        manifest: String,
    },
    /// A run_id is empty or not a safe path segment.
    #[error("{manifest}:{line}: run_id {run_id:?} {problem}; use letters, digits, `.`, `_` and `-` (not starting with `.`, at most 128 characters)")]
    BadRunId {
        /// The manifest's name.
        manifest: String,
        /// Physical line where the record starts.
        line: u64,
        /// The run_id as written.
        run_id: String,
        /// What is wrong.
        problem: String,
    },
    /// Two rows have the same run_id.
    #[error("{manifest}: run_id {run_id:?} appears twice, on line {first_line} and on line {second_line}; run_ids must be unique")]
    DuplicateRunId {
        /// The manifest's name.
        manifest: String,
        /// The run_id.
        run_id: String,
        /// Where it appears first.
        first_line: u64,
        /// Where it appears again.
        second_line: u64,
    },
    /// Neither a command column nor a template.
    #[error("{manifest} has no `command` column and SWEEP_RUN_TEMPLATE is not set, so the runs have no command; add a command column, or set SWEEP_RUN_TEMPLATE (e.g. `python train.py --config {{config}} --seed {{seed}}`)")]
    NoCommand {
        /// The manifest's name.
        manifest: String,
    },
    /// A row's command column is empty.
    #[error("{manifest}:{line}: run {run_id:?} has an empty command; fill in its command field")]
    EmptyCommand {
        /// The manifest's name.
        manifest: String,
        /// Physical line where the record starts.
        line: u64,
        /// The run_id.
        run_id: String,
    },
    /// The template cannot be used.
    #[error("SWEEP_RUN_TEMPLATE {template:?} (for {manifest}): {problem}")]
    Template {
        /// The manifest's name.
        manifest: String,
        /// The template.
        template: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A field holds a NUL character, which no shell command can carry.
    #[error("{manifest}:{line}: column {column} contains a NUL character, which cannot be passed to a command; remove it")]
    NulInField {
        /// The manifest's name.
        manifest: String,
        /// Physical line where the record starts.
        line: u64,
        /// The column.
        column: String,
    },
    /// SWEEP_MATCH is malformed or names an unknown column.
    #[error("SWEEP_MATCH={filter:?} (for {manifest}): {problem}")]
    Match {
        /// The manifest's name.
        manifest: String,
        /// The filter.
        filter: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// SWEEP_START_AT names no run of the manifest.
    #[error("SWEEP_START_AT={run_id:?} is not a run_id of {manifest}; set it to an existing run_id, or to `first`")]
    StartAtUnknown {
        /// The manifest's name.
        manifest: String,
        /// The run_id asked for.
        run_id: String,
    },
    /// The filters left no run.
    #[error("{manifest}: no run selected: {reason}")]
    NothingSelected {
        /// The manifest's name.
        manifest: String,
        /// Which filter removed the runs, and what to change.
        reason: String,
    },
}

impl ManifestError {
    /// The constitution code: always [`CODE`] (`MANIFEST_INVALID`).
    pub fn code(&self) -> Code {
        CODE
    }

    /// The manifest's name (its path as given to [`Manifest::load`] or [`Manifest::parse`]).
    pub fn manifest(&self) -> &str {
        match self {
            ManifestError::Unreadable { manifest, .. }
            | ManifestError::Csv { manifest, .. }
            | ManifestError::Empty { manifest }
            | ManifestError::Header { manifest, .. }
            | ManifestError::FieldCount { manifest, .. }
            | ManifestError::NoRows { manifest }
            | ManifestError::BadRunId { manifest, .. }
            | ManifestError::DuplicateRunId { manifest, .. }
            | ManifestError::NoCommand { manifest }
            | ManifestError::EmptyCommand { manifest, .. }
            | ManifestError::Template { manifest, .. }
            | ManifestError::NulInField { manifest, .. }
            | ManifestError::Match { manifest, .. }
            | ManifestError::StartAtUnknown { manifest, .. }
            | ManifestError::NothingSelected { manifest, .. } => manifest,
        }
    }

    /// The physical line the error is about, when it is about one line (for a duplicate
    /// run_id: the second occurrence).
    pub fn line(&self) -> Option<u64> {
        match self {
            ManifestError::Csv { line, .. }
            | ManifestError::Header { line, .. }
            | ManifestError::FieldCount { line, .. }
            | ManifestError::BadRunId { line, .. }
            | ManifestError::EmptyCommand { line, .. }
            | ManifestError::NulInField { line, .. } => Some(*line),
            ManifestError::DuplicateRunId { second_line, .. } => Some(*second_line),
            _ => None,
        }
    }
}

/// One data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Physical line (1-based) where the record starts.
    pub line: u64,
    /// The fields, in header order, exactly as written (quotes removed).
    pub fields: Vec<String>,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest's name, used in messages.
    pub source: String,
    /// Lower-case hex sha256 of the raw bytes.
    pub sha256: String,
    /// Column names (trimmed), in order.
    pub header: Vec<String>,
    /// Data rows, in order.
    pub rows: Vec<Row>,
}

/// Where the runs' commands come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSource {
    /// The manifest's `command` column (a template, if any, is ignored).
    Column,
    /// `SWEEP_RUN_TEMPLATE`.
    Template,
    /// Neither: [`plan`] fails with [`ManifestError::NoCommand`].
    Missing,
}

fn check_run_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".to_owned());
    }
    if id.starts_with('.') {
        return Err("starts with `.`".to_owned());
    }
    if id.chars().count() > MAX_RUN_ID_LEN {
        return Err(format!("is longer than {MAX_RUN_ID_LEN} characters"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("contains {c:?}"));
    }
    Ok(())
}

impl Manifest {
    /// Read and parse the manifest at `path`; its name in messages is the path as given.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let name = path.display().to_string();
        let bytes = wfhost_evidence::input::read(path, wfhost_evidence::input::InputKind::Manifest).map_err(|e| {
            ManifestError::Unreadable { manifest: name.clone(), problem: e.to_string() }
        })?;
        Manifest::parse(&bytes, &name)
    }

    /// Parse and validate manifest bytes; `source` names the manifest in messages.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Manifest, ManifestError> {
        let manifest = source.to_owned();
        let sha256 = wfhost_evidence::hash::sha256_hex(bytes);
        let body = bytes
            .strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(body);

        let lines = LineIndex::new(body);
        let mut header: Option<(u64, Vec<String>)> = None;
        let mut rows = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let offset = e
                        .position()
                        .map_or_else(|| reader.position().byte(), |p| p.byte());
                    let line = lines.line_at(offset);
                    let problem = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => "the record is not valid UTF-8".to_owned(),
                        _ => e.to_string(),
                    };
                    return Err(ManifestError::Csv {
                        manifest,
                        line,
                        problem,
                    });
                }
            }
            let line = lines.line_at(record.position().map_or(0, |p| p.byte()));
            if record.len() == 1 && record[0].trim().is_empty() {
                continue;
            }
            match &header {
                None => {
                    let names: Vec<String> = record.iter().map(|f| f.trim().to_owned()).collect();
                    check_header(&manifest, line, &names)?;
                    header = Some((line, names));
                }
                Some((_, names)) => {
                    if record.len() != names.len() {
                        return Err(ManifestError::FieldCount {
                            manifest,
                            line,
                            expected: names.len(),
                            found: record.len(),
                        });
                    }
                    rows.push(Row {
                        line,
                        fields: record.iter().map(str::to_owned).collect(),
                    });
                }
            }
        }
        let Some((_, header)) = header else {
            return Err(ManifestError::Empty { manifest });
        };
        if rows.is_empty() {
            return Err(ManifestError::NoRows { manifest });
        }
        let id_col = header.iter().position(|h| h == RUN_ID).unwrap_or(0);
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &rows {
            let id = row.fields[id_col].as_str();
            check_run_id(id).map_err(|problem| ManifestError::BadRunId {
                manifest: manifest.clone(),
                line: row.line,
                run_id: id.to_owned(),
                problem,
            })?;
            if let Some(&first_line) = seen.get(id) {
                return Err(ManifestError::DuplicateRunId {
                    manifest,
                    run_id: id.to_owned(),
                    first_line,
                    second_line: row.line,
                });
            }
            seen.insert(id, row.line);
        }
        Ok(Manifest {
            source: manifest,
            sha256,
            header,
            rows,
        })
    }

    /// Index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// A row's field in a column.
    pub fn field<'a>(&self, row: &'a Row, column: &str) -> Option<&'a str> {
        row.fields.get(self.column(column)?).map(String::as_str)
    }

    /// A row's run_id (validated by [`Manifest::parse`]).
    pub fn run_id<'a>(&self, row: &'a Row) -> &'a str {
        self.field(row, RUN_ID).unwrap_or("")
    }

    /// Where the commands come from with these options.
    pub fn command_source(&self, options: &PlanOptions) -> CommandSource {
        if self.column(COMMAND).is_some() {
            CommandSource::Column
        } else if options.template.is_some() {
            CommandSource::Template
        } else {
            CommandSource::Missing
        }
    }
}

/// Physical line numbers from byte offsets. The `csv` crate's own line numbers count from the
/// end of the previous record (blank lines and CRLF make them drift), so a record's line is
/// computed here: skip the line breaks at its reported offset, then count the breaks before it.
struct LineIndex<'a> {
    body: &'a [u8],
    /// Offsets of line breaks: `\n`, or a `\r` not followed by `\n`.
    breaks: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(body: &'a [u8]) -> Self {
        let breaks = body
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && body.get(i + 1) != Some(&b'\n')))
            .map(|(i, _)| i)
            .collect();
        LineIndex { body, breaks }
    }

    fn line_at(&self, offset: u64) -> u64 {
        let mut start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.body.len());
        while start < self.body.len() && matches!(self.body[start], b'\r' | b'\n') {
            start += 1;
        }
        self.breaks.partition_point(|&b| b < start) as u64 + 1
    }
}

fn check_header(manifest: &str, line: u64, names: &[String]) -> Result<(), ManifestError> {
    let bad = |problem: String| ManifestError::Header {
        manifest: manifest.to_owned(),
        line,
        problem,
    };
    if let Some(i) = names.iter().position(String::is_empty) {
        return Err(bad(format!("column {} of the header has no name", i + 1)));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(bad(format!("column {name:?} appears twice in the header")));
        }
    }
    if !names.iter().any(|n| n == RUN_ID) {
        return Err(bad(format!(
            "the header ({}) has no run_id column",
            names.join(",")
        )));
    }
    Ok(())
}

/// Quote `value` for a POSIX shell so it is read back as exactly one word, unchanged: the pack
/// SDK's quoting, the one the plugins use, so host and target quote alike. Values made only of
/// `A-Za-z0-9` and `_ . / : , + @ % -` (and not empty) are returned as they are; anything else
/// (`=` included, so a value cannot become an assignment) is wrapped in single quotes, with
/// each `'` written as `'\''`.
pub use wfhost_pack_sdk::shell::shell_quote as sh_quote;

/// The sweep a config names, as P60 starts it: `SWEEP_MANIFEST` read (a regular file within its
/// size cap), parsed, and planned with `SWEEP_RUN_TEMPLATE`, `SWEEP_MATCH` and
/// `SWEEP_START_AT`. P00 and `wfhost doctor` call it too, so a manifest that cannot run is
/// found before anything is created.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The manifest's bytes, as read.
    pub bytes: Vec<u8>,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The runs it plans, in order.
    pub runs: Vec<PlannedRun>,
}

impl Sweep {
    /// Read, parse and plan the sweep of `config` (an unset `SWEEP_MANIFEST` reads as an empty
    /// path, which names no file).
    pub fn load(config: &crate::config::Config) -> Result<Sweep, ManifestError> {
        let path = config.local_path(keys::SWEEP_MANIFEST).unwrap_or_else(|| config.workdir().to_path_buf());
        let name = path.display().to_string();
        let bytes = wfhost_evidence::input::read(&path, wfhost_evidence::input::InputKind::Manifest)
            .map_err(|e| ManifestError::Unreadable { manifest: name.clone(), problem: e.to_string() })?;
        let manifest = Manifest::parse(&bytes, &name)?;
        let runs = plan(&manifest, &PlanOptions::from_config(config))?;
        Ok(Sweep { bytes, manifest, runs })
    }
}

/// How to select rows and build commands; `Default` is no template, `all`, `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// `SWEEP_RUN_TEMPLATE`, used when the manifest has no `command` column.
    pub template: Option<String>,
    /// `SWEEP_MATCH`: `all`, a glob on run_id, or `column=glob,...`.
    pub sweep_match: String,
    /// `SWEEP_START_AT`: `first` or a run_id.
    pub start_at: String,
    /// `SWEEP_LIMIT`: at most this many of the selected runs, the first ones (0 = all).
    pub limit: u64,
}

impl PlanOptions {
    /// The options a config gives: `SWEEP_RUN_TEMPLATE`, `SWEEP_MATCH`, `SWEEP_START_AT` and
    /// `SWEEP_LIMIT` (with their defaults `all`, `first` and 0).
    pub fn from_config(config: &crate::config::Config) -> PlanOptions {
        PlanOptions {
            template: config.get(keys::SWEEP_RUN_TEMPLATE).map(str::to_owned),
            sweep_match: config.value(keys::SWEEP_MATCH).to_owned(),
            start_at: config.value(keys::SWEEP_START_AT).to_owned(),
            limit: config.uint(keys::SWEEP_LIMIT),
        }
    }
}

impl Default for PlanOptions {
    /// The options of a config that sets none of the keys: the vocabulary's defaults.
    fn default() -> Self {
        PlanOptions {
            template: keys::SWEEP_RUN_TEMPLATE.default().map(str::to_owned),
            sweep_match: keys::SWEEP_MATCH.default().unwrap_or_default().to_owned(),
            start_at: keys::SWEEP_START_AT.default().unwrap_or_default().to_owned(),
            limit: keys::SWEEP_LIMIT.default_value(),
        }
    }
}

/// One run to start: its id, its full shell command, and the manifest line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRun {
    /// The run_id.
    pub run_id: String,
    /// The POSIX shell command (executed with cwd = checkout, WF_RUN_ID and WF_RUN_DIR set).
    pub command: String,
    /// Physical line where the row starts.
    pub line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Column(usize),
    /// A run placeholder, as it expands.
    RunVar(&'static str),
}

fn compile_template(manifest: &Manifest, template: &str) -> Result<Vec<Segment>, ManifestError> {
    let bad = |problem: String| ManifestError::Template {
        manifest: manifest.source.clone(),
        template: template.to_owned(),
        problem,
    };
    if template.trim().is_empty() {
        return Err(bad(
            "the template is empty; write the run command with {column} placeholders".to_owned(),
        ));
    }
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut quote = Quote::None;
    let mut escaped = false;
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
                escaped = false;
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
                escaped = false;
            }
            '}' => return Err(bad("a lone `}`; write `}}` for a literal brace".to_owned())),
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err(bad(format!(
                        "`{{{name}` is not closed; close the placeholder with `}}`, or write `{{{{` for a literal brace"
                    )));
                }
                if quote != Quote::None {
                    return Err(bad(format!(
                        "placeholder {{{name}}} stands inside quotes; remove the quotes around it: values are shell-quoted for you"
                    )));
                }
                let segment = if let Some((var, expansion)) = RUN_VARS.iter().find(|(v, _)| *v == name) {
                    if manifest.column(var).is_some() {
                        return Err(bad(format!(
                            "the manifest has a {var} column, which collides with the {{{var}}} placeholder; rename the column"
                        )));
                    }
                    Segment::RunVar(expansion)
                } else if let Some(i) = manifest.column(&name) {
                    Segment::Column(i)
                } else {
                    return Err(bad(format!(
                        "unknown placeholder {{{name}}}; the manifest's columns are {}, plus {}",
                        manifest.header.iter().map(|h| format!("{{{h}}}")).collect::<Vec<_>>().join(", "),
                        RUN_VARS.iter().map(|(v, _)| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")
                    )));
                };
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(segment);
                escaped = false;
            }
            c => {
                text.push(c);
                if escaped {
                    escaped = false;
                    continue;
                }
                match (&quote, c) {
                    (Quote::None, '\\') | (Quote::Double, '\\') => escaped = true,
                    (Quote::None, '\'') => quote = Quote::Single,
                    (Quote::None, '"') => quote = Quote::Double,
                    (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
                    _ => {}
                }
            }
        }
    }
    if quote != Quote::None {
        return Err(bad(
            "a quote is not closed; close it, or drop it (values are quoted for you)".to_owned(),
        ));
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

fn expand(manifest: &Manifest, segments: &[Segment], row: &Row) -> Result<String, ManifestError> {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text(t) => out.push_str(t),
            Segment::RunVar(expansion) => out.push_str(expansion),
            Segment::Column(i) => {
                let value = &row.fields[*i];
                if value.contains('\0') {
                    return Err(ManifestError::NulInField {
                        manifest: manifest.source.clone(),
                        line: row.line,
                        column: manifest.header[*i].clone(),
                    });
                }
                out.push_str(&sh_quote(value));
            }
        }
    }
    Ok(out)
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters and `?` one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

enum Matcher {
    All,
    RunId(String),
    Columns(Vec<(usize, String)>),
}

fn parse_match(manifest: &Manifest, filter: &str) -> Result<Matcher, ManifestError> {
    let bad = |problem: String| ManifestError::Match {
        manifest: manifest.source.clone(),
        filter: filter.to_owned(),
        problem,
    };
    let f = filter.trim();
    if f.is_empty() {
        return Err(bad(
            "the filter is empty; use `all`, a glob on run_id, or column=glob conditions"
                .to_owned(),
        ));
    }
    if f == "all" {
        return Ok(Matcher::All);
    }
    if !f.contains('=') {
        return Ok(Matcher::RunId(f.to_owned()));
    }
    let mut conditions = Vec::new();
    for cond in f.split(',') {
        let cond = cond.trim();
        if cond.is_empty() {
            return Err(bad("an empty condition (two commas, or a trailing comma); write column=glob,column=glob".to_owned()));
        }
        let Some((column, glob)) = cond.split_once('=') else {
            return Err(bad(format!("condition {cond:?} is not column=glob")));
        };
        let column = column.trim();
        let Some(i) = manifest.column(column) else {
            return Err(bad(format!(
                "unknown column {column:?}; the manifest's columns are {}",
                manifest.header.join(", ")
            )));
        };
        conditions.push((i, glob.trim().to_owned()));
    }
    Ok(Matcher::Columns(conditions))
}

impl Matcher {
    fn matches(&self, manifest: &Manifest, row: &Row) -> bool {
        match self {
            Matcher::All => true,
            Matcher::RunId(glob) => glob_match(glob, manifest.run_id(row)),
            Matcher::Columns(conds) => conds
                .iter()
                .all(|(i, glob)| glob_match(glob, &row.fields[*i])),
        }
    }
}

/// Select the runs and give each its command. Runs come back in manifest order.
pub fn plan(manifest: &Manifest, options: &PlanOptions) -> Result<Vec<PlannedRun>, ManifestError> {
    let command_col = manifest.column(COMMAND);
    let segments = match (command_col, &options.template) {
        (Some(_), _) => None,
        (None, Some(template)) => Some(compile_template(manifest, template)?),
        (None, None) => {
            return Err(ManifestError::NoCommand {
                manifest: manifest.source.clone(),
            })
        }
    };
    let matcher = parse_match(manifest, &options.sweep_match)?;
    let start_at = options.start_at.trim();
    let start = if start_at == "first" {
        0
    } else {
        manifest
            .rows
            .iter()
            .position(|r| manifest.run_id(r) == start_at)
            .ok_or_else(|| ManifestError::StartAtUnknown {
                manifest: manifest.source.clone(),
                run_id: start_at.to_owned(),
            })?
    };

    let limit = match usize::try_from(options.limit) {
        Ok(0) | Err(_) => usize::MAX,
        Ok(n) => n,
    };
    let selected: Vec<&Row> = manifest.rows[start..]
        .iter()
        .filter(|r| matcher.matches(manifest, r))
        .take(limit)
        .collect();
    if selected.is_empty() {
        let total = manifest.rows.len();
        let matched = manifest
            .rows
            .iter()
            .filter(|r| matcher.matches(manifest, r))
            .count();
        let reason = if matched == 0 {
            format!(
                "SWEEP_MATCH={:?} matches none of the {total} runs; widen it, or set it to `all`",
                options.sweep_match
            )
        } else {
            format!(
                "SWEEP_MATCH={:?} matches {matched} of {total} runs, but all of them come before \
                 SWEEP_START_AT={start_at:?} (line {}); start earlier, or set SWEEP_START_AT=first",
                options.sweep_match, manifest.rows[start].line
            )
        };
        return Err(ManifestError::NothingSelected {
            manifest: manifest.source.clone(),
            reason,
        });
    }

    selected
        .into_iter()
        .map(|row| {
            let run_id = manifest.run_id(row).to_owned();
            let command = match (&segments, command_col) {
                (Some(segments), _) => expand(manifest, segments, row)?,
                (None, Some(i)) => {
                    let c = &row.fields[i];
                    if c.trim().is_empty() {
                        return Err(ManifestError::EmptyCommand {
                            manifest: manifest.source.clone(),
                            line: row.line,
                            run_id,
                        });
                    }
                    if c.contains('\0') {
                        return Err(ManifestError::NulInField {
                            manifest: manifest.source.clone(),
                            line: row.line,
                            column: COMMAND.to_owned(),
                        });
                    }
                    c.clone()
                }
                (None, None) => {
                    return Err(ManifestError::NoCommand {
                        manifest: manifest.source.clone(),
                    })
                }
            };
            Ok(PlannedRun {
                run_id,
                command,
                line: row.line,
            })
        })
        .collect()
}

/// The `runs_json` input of P60: a JSON array of `{"run_id": ..., "command": ...}`.
pub fn runs_json(runs: &[PlannedRun]) -> String {
    let items: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| json!({ "run_id": r.run_id, "command": r.command }))
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// An example manifest (what `wfhost sweep-csv-template` prints), for [`example_run_template`].
pub fn template_csv() -> &'static str {
    "run_id,config,seed,overrides,notes\n\
     baseline-s1,configs/base.yaml,1,trainer.max_epochs=10,\"baseline, first seed\"\n\
     baseline-s2,configs/base.yaml,2,trainer.max_epochs=10,\"baseline, second seed\"\n\
     lr3e-3-s1,configs/base.yaml,1,optimizer.lr=0.003,\"higher learning rate; \"\"notes\"\" may hold quotes\"\n"
}

/// A `SWEEP_RUN_TEMPLATE` that fits [`template_csv`].
pub fn example_run_template() -> &'static str {
    "python train.py --config {config} --seed {seed} {overrides} --output-dir {run_dir}"
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
