//! Tests of the sweep manifest: CSV parsing, validation, commands (run through a real `sh`),
//! selection.

use super::*;
use sha2::{Digest, Sha256};
use std::process::Command;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text.as_bytes(), "sweep.csv")
}

fn parse_err(text: &str) -> ManifestError {
    match parse(text) {
        Ok(m) => panic!("expected an error for {text:?}, got {m:?}"),
        Err(e) => e,
    }
}

fn with_template(t: &str) -> PlanOptions {
    PlanOptions {
        template: Some(t.to_owned()),
        ..PlanOptions::default()
    }
}

fn opts(template: &str, sweep_match: &str, start_at: &str) -> PlanOptions {
    PlanOptions {
        template: Some(template.to_owned()),
        sweep_match: sweep_match.to_owned(),
        start_at: start_at.to_owned(),
        limit: 0,
    }
}

fn ids(runs: &[PlannedRun]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

/// Run `command` with `sh -c` in an empty directory, with an environment of only `env` and a
/// PATH that holds no programs: if quoting failed, `rm` and friends cannot even be found.
/// Returns (stdout, the directory, whether the exit status was 0).
fn run_sh(command: &str, env: &[(&str, &str)]) -> (String, tempfile::TempDir, bool) {
    let dir = tempfile::tempdir().unwrap();
    let empty_bin = dir.path().join("empty-bin");
    std::fs::create_dir(&empty_bin).unwrap();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", &empty_bin)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        dir,
        out.status.success(),
    )
}

// ----- CSV -----------------------------------------------------------------------------------

#[test]
fn quoted_fields_keep_commas_quotes_and_newlines_and_lines_are_physical() {
    let text = "run_id,notes,seed\n\
                a,\"one, two\",1\n\
                b,\"multi\nline\n\"\"field\"\"\",2\n\
                c,\"  spaces kept  \",3\n";
    let m = parse(text).unwrap();
    assert_eq!(m.header, vec!["run_id", "notes", "seed"]);
    assert_eq!(m.rows.len(), 3);
    assert_eq!(m.rows[0].fields, vec!["a", "one, two", "1"]);
    assert_eq!(m.rows[1].fields, vec!["b", "multi\nline\n\"field\"", "2"]);
    assert_eq!(m.rows[2].fields[1], "  spaces kept  ");
    let lines: Vec<u64> = m.rows.iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        vec![2, 3, 6],
        "a record's line is the physical line where it starts"
    );
    assert_eq!(m.field(&m.rows[1], "seed"), Some("2"));
    assert_eq!(m.run_id(&m.rows[2]), "c");
}

#[test]
fn bom_crlf_blank_lines_and_header_whitespace_are_tolerated() {
    let bytes = b"\xEF\xBB\xBFrun_id , seed\r\n\r\nr1,1\r\n   \r\nr2,2\r\n\r\n\r\n";
    let m = Manifest::parse(bytes, "sweep.csv").unwrap();
    assert_eq!(m.header, vec!["run_id", "seed"]);
    assert_eq!(m.rows.len(), 2);
    assert_eq!(m.rows[1].fields, vec!["r2", "2"]);
    assert_eq!(m.rows[0].line, 3);
    assert_eq!(m.rows[1].line, 5);
    // Blank lines before a record do not shift its line, with LF or CRLF endings.
    for text in [
        "run_id\n\n\n\na\n\nb\n",
        "run_id\r\n\r\n\r\n\r\na\r\n\r\nb\r\n",
    ] {
        let m = parse(text).unwrap();
        assert_eq!(
            m.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![5, 7],
            "{text:?}"
        );
    }
    let err = parse_err("run_id,seed\r\n\r\n\r\na,1\r\n\r\nb,2,3\r\n");
    assert_eq!(err.line(), Some(6), "{err}");
    assert_eq!(
        m.sha256,
        hex::encode(Sha256::digest(bytes)),
        "the hash covers the raw bytes, BOM included"
    );
}

#[test]
fn load_reads_a_file_and_hashes_it_like_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sweep.csv");
    std::fs::write(&path, template_csv()).unwrap();
    let m = Manifest::load(&path).unwrap();
    assert_eq!(m.rows.len(), 3);
    assert_eq!(m.source, path.display().to_string());
    let out = Command::new("sha256sum").arg(&path).output().unwrap();
    let expected = String::from_utf8(out.stdout).unwrap();
    assert_eq!(m.sha256, expected.split_whitespace().next().unwrap());

    let missing = dir.path().join("missing.csv");
    let err = Manifest::load(&missing).unwrap_err();
    assert_eq!(err.code(), codes::MANIFEST_INVALID);
    assert_eq!(err.manifest(), missing.display().to_string());
    assert!(err.to_string().contains("missing.csv"), "{err}");
}

#[test]
fn malformed_manifests_name_the_line() {
    let cases: &[(&str, &str, Option<u64>)] = &[
        (
            "seed,config\n1,a\n",
            "sweep.csv:1: the header (seed,config) has no run_id column",
            Some(1),
        ),
        (
            "run_id,seed,seed\na,1,2\n",
            "column \"seed\" appears twice",
            Some(1),
        ),
        (
            "run_id,,seed\na,1,2\n",
            "column 2 of the header has no name",
            Some(1),
        ),
        (
            "run_id,seed\na,1\nb,2,3\n",
            "sweep.csv:3: the record has 3 fields but the header has 2",
            Some(3),
        ),
        (
            "run_id,seed\na,1\n\"b\nc\",2,9\n",
            "sweep.csv:3: the record has 3 fields",
            Some(3),
        ),
        (
            "run_id,seed\na,1\nb\n",
            "sweep.csv:3: the record has 1 fields",
            Some(3),
        ),
        (
            "run_id,seed\n,1\n",
            "sweep.csv:2: run_id \"\" is empty",
            Some(2),
        ),
        (
            "run_id,seed\na,1\n\"a b\",2\n",
            "sweep.csv:3: run_id \"a b\" contains ' '",
            Some(3),
        ),
        (
            "run_id,seed\n../x,1\n",
            "run_id \"../x\" starts with `.`",
            Some(2),
        ),
        ("run_id,seed\na/b,1\n", "contains '/'", Some(2)),
        ("run_id,seed\n.hidden,1\n", "starts with `.`", Some(2)),
        ("run_id,seed\na;rm,1\n", "contains ';'", Some(2)),
    ];
    for (text, expect, line) in cases {
        let err = parse_err(text);
        assert_eq!(err.code(), codes::MANIFEST_INVALID);
        assert_eq!(err.line(), *line, "{text:?}");
        assert!(err.to_string().contains(expect), "{text:?}: {err}");
    }
    let long = format!("run_id\n{}\n", "x".repeat(129));
    assert!(parse_err(&long).to_string().contains("longer than 128"));
    assert!(parse(&format!("run_id\n{}\n", "x".repeat(128))).is_ok());
}

#[test]
fn a_duplicate_run_id_names_both_lines() {
    let err = parse_err("run_id,seed\na,1\nb,2\nb2,\"multi\nline\"\na,4\n");
    assert_eq!(
        err.to_string(),
        "sweep.csv: run_id \"a\" appears twice, on line 2 and on line 6; run_ids must be unique"
    );
}

#[test]
fn empty_manifests_and_bad_utf8_are_errors() {
    let err = parse_err("");
    assert!(err.to_string().contains("sweep.csv is empty"), "{err}");
    let err = parse_err("\n\n");
    assert!(err.to_string().contains("sweep.csv is empty"), "{err}");
    let err = parse_err("run_id,seed\n\n");
    assert!(
        err.to_string().contains("has a header but no runs"),
        "{err}"
    );
    let err = Manifest::parse(b"run_id,seed\na,1\nb,\xff\n", "sweep.csv").unwrap_err();
    assert_eq!(err.line(), Some(3), "{err}");
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

// ----- commands ------------------------------------------------------------------------------

#[test]
fn a_command_column_is_used_verbatim() {
    let m = parse("run_id,command\na,\"echo {not_a_placeholder} 'x' $HOME\"\nb,true\n").unwrap();
    let o = with_template("ignored {nothing}");
    assert_eq!(m.command_source(&o), CommandSource::Column);
    let runs = plan(&m, &o).unwrap();
    assert_eq!(runs[0].command, "echo {not_a_placeholder} 'x' $HOME");
    assert_eq!(
        runs[1],
        PlannedRun {
            run_id: "b".into(),
            command: "true".into(),
            line: 3
        }
    );

    let m = parse("run_id,command\na,true\nb,\"  \"\n").unwrap();
    let err = plan(&m, &PlanOptions::default()).unwrap_err();
    assert_eq!(err.line(), Some(3));
    assert!(
        err.to_string().contains("run \"b\" has an empty command"),
        "{err}"
    );
}

#[test]
fn no_command_column_and_no_template_says_to_add_one() {
    let m = parse("run_id,seed\na,1\n").unwrap();
    assert_eq!(
        m.command_source(&PlanOptions::default()),
        CommandSource::Missing
    );
    let err = plan(&m, &PlanOptions::default()).unwrap_err();
    assert_eq!(err.code(), codes::MANIFEST_INVALID);
    let msg = err.to_string();
    assert!(
        msg.contains("add a command column, or set SWEEP_RUN_TEMPLATE"),
        "{msg}"
    );
    assert!(
        msg.contains("{config}"),
        "literal braces in the hint: {msg}"
    );
}

#[test]
fn the_common_layout_works_through_a_template_and_a_real_shell() {
    let text = "run_id,config,seed,overrides,notes\n\
                r1,configs/a b.yaml,1,lr=0.1,\"first, with comma\"\n\
                r2,configs/b.yaml,2,\"model.depth=4 model.width=8\",\"it's \"\"quoted\"\"\"\n";
    let m = parse(text).unwrap();
    let template = "printf '<%s>\\n' {run_id} {config} {seed} {overrides} {notes} {run_dir}";
    let o = with_template(template);
    assert_eq!(m.command_source(&o), CommandSource::Template);
    let runs = plan(&m, &o).unwrap();
    assert_eq!(ids(&runs), vec!["r1", "r2"]);
    assert_eq!(
        runs[0].command,
        "printf '<%s>\\n' r1 'configs/a b.yaml' 1 'lr=0.1' 'first, with comma' \"$WF_RUN_DIR\""
    );
    let run_dir = "/tmp/out dir/runs/r2";
    let (stdout, _dir, ok) = run_sh(&runs[1].command, &[("WF_RUN_DIR", run_dir)]);
    assert!(ok);
    assert_eq!(
        stdout,
        format!("<r2>\n<configs/b.yaml>\n<2>\n<model.depth=4 model.width=8>\n<it's \"quoted\">\n<{run_dir}>\n")
    );
}

#[test]
fn injection_attempts_arrive_as_one_intact_argument() {
    let hostile = [
        "; rm -rf /",
        "$(echo pwned > canary1)",
        "`echo pwned > canary2`",
        "' ; echo pwned > canary3 ; '",
        "\" ; echo pwned > canary4 ; \"",
        "a\nb; echo pwned > canary5",
        "${HOME:-x}",
        "* ? [a]",
        "~",
        "FOO=bar",
        "-n",
        "",
        "\\'\\\"\\\\",
        "tab\there | cat & wait",
        "ünïcødé ✓",
    ];
    let mut csv = String::from("run_id,value\n");
    for (i, h) in hostile.iter().enumerate() {
        csv.push_str(&format!("r{i},\"{}\"\n", h.replace('"', "\"\"")));
    }
    let m = parse(&csv).unwrap();
    let runs = plan(
        &m,
        &with_template("printf '<%s>\\n' {value}; printf 'argc=%s\\n' \"$#\""),
    )
    .unwrap();
    assert_eq!(runs.len(), hostile.len());
    for (run, value) in runs.iter().zip(hostile) {
        // Each row also runs as `set -- <arg>` to count the words the shell sees.
        let counted = format!("set -- {}; printf '%s' \"$#\"", sh_quote(value));
        let (argc, _d, ok) = run_sh(&counted, &[]);
        assert!(ok);
        assert_eq!(argc, "1", "{value:?} split into several words");

        let (stdout, dir, ok) = run_sh(&run.command, &[]);
        assert!(ok, "{:?}", run.command);
        assert!(
            stdout.starts_with(&format!("<{value}>\n")),
            "{value:?}: {stdout:?}"
        );
        for n in 1..=5 {
            assert!(
                !dir.path().join(format!("canary{n}")).exists(),
                "{value:?} ran a command"
            );
        }
    }
}

#[test]
fn sh_quote_round_trips_through_a_real_shell() {
    for value in [
        "plain",
        "with space",
        "it's",
        "",
        "'",
        "''",
        "a'b'c",
        "$x",
        "\n",
        "-",
        "a=b",
        "~user",
    ] {
        let (stdout, _d, ok) = run_sh(&format!("printf '%s' {}", sh_quote(value)), &[]);
        assert!(ok);
        assert_eq!(stdout, value);
    }
    assert_eq!(
        sh_quote("configs/base.yaml"),
        "configs/base.yaml",
        "safe values stay readable"
    );
    assert_eq!(
        sh_quote("a=b"),
        "'a=b'",
        "= is quoted so a value cannot become an assignment"
    );
}

#[test]
fn template_braces_run_id_and_run_dir() {
    let m = parse("run_id,seed\nr1,7\n").unwrap();
    let runs = plan(
        &m,
        &with_template("printf '%s\\n' '{{literal}}' {{ {seed} }} {run_id}-x {run_dir}"),
    )
    .unwrap();
    assert_eq!(
        runs[0].command,
        "printf '%s\\n' '{literal}' { 7 } r1-x \"$WF_RUN_DIR\""
    );
    let (stdout, _d, ok) = run_sh(&runs[0].command, &[("WF_RUN_DIR", "/o/r1")]);
    assert!(ok);
    assert_eq!(stdout, "{literal}\n{\n7\n}\nr1-x\n/o/r1\n");
}

#[test]
fn sweep_limit_keeps_the_first_selected_runs() {
    let m = parse("run_id,seed,grp\na,1,x\nb,2,y\nc,3,x\nd,4,y\ne,5,x\n").unwrap();
    let limited = |sweep_match: &str, start_at: &str, limit: u64| {
        let o = PlanOptions { limit, ..opts("t {seed}", sweep_match, start_at) };
        plan(&m, &o).map(|r| ids(&r).join(",")).unwrap()
    };
    assert_eq!(limited("all", "first", 2), "a,b");
    assert_eq!(limited("all", "first", 0), "a,b,c,d,e", "0 is no limit");
    assert_eq!(limited("all", "first", 99), "a,b,c,d,e");
    // After SWEEP_MATCH and SWEEP_START_AT: the first N of what they select.
    assert_eq!(limited("grp=x", "first", 2), "a,c");
    assert_eq!(limited("all", "c", 2), "c,d");
    assert_eq!(limited("grp=y", "c", 5), "d");
}

#[test]
fn template_gpus_and_nproc_become_the_runs_own_gpus() {
    let m = parse("run_id,seed\nr1,7\n").unwrap();
    let runs = plan(
        &m,
        &with_template("printf '%s\\n' {gpus} --nproc_per_node={nproc} {seed}"),
    )
    .unwrap();
    assert_eq!(
        runs[0].command,
        "printf '%s\\n' \"$WF_GPUS\" --nproc_per_node=\"$WF_NPROC\" 7"
    );
    let (stdout, _d, ok) = run_sh(&runs[0].command, &[("WF_GPUS", "2,3"), ("WF_NPROC", "2")]);
    assert!(ok);
    assert_eq!(stdout, "2,3\n--nproc_per_node=2\n7\n");
    for column in ["gpus", "nproc"] {
        let m = parse(&format!("run_id,{column}\nr1,x\n")).unwrap();
        let err = plan(&m, &with_template(&format!("train {{{column}}}"))).unwrap_err();
        assert!(err.to_string().contains(&format!("collides with the {{{column}}} placeholder")), "{err}");
        // A column of that name that the template does not use is data like any other.
        assert!(plan(&m, &with_template("train {run_id}")).is_ok());
    }
    let err = plan(&m, &with_template("train {gpu}")).unwrap_err();
    assert!(err.to_string().contains("plus {run_dir}, {gpus}, {nproc}"), "{err}");
}

#[test]
fn bad_templates_name_the_problem_and_the_template() {
    let m = parse("run_id,seed\nr1,7\n").unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "train --lr {lr}",
            "unknown placeholder {lr}; the manifest's columns are {run_id}, {seed}, plus {run_dir}",
        ),
        ("train {seed", "`{seed` is not closed"),
        ("train seed}", "a lone `}`"),
        (
            "train --seed=\"{seed}\"",
            "placeholder {seed} stands inside quotes",
        ),
        (
            "train --seed '{seed}'",
            "placeholder {seed} stands inside quotes",
        ),
        (
            "train --out \"{run_dir}/x\"",
            "placeholder {run_dir} stands inside quotes",
        ),
        ("train 'unclosed {seed}", "stands inside quotes"),
        ("train 'unclosed", "a quote is not closed"),
        ("   ", "the template is empty"),
    ];
    for (template, expect) in cases {
        let err = plan(&m, &with_template(template)).unwrap_err();
        assert_eq!(err.code(), codes::MANIFEST_INVALID);
        let msg = err.to_string();
        assert!(msg.contains(expect), "{template}: {msg}");
        assert!(
            msg.contains(&format!("{template:?}")),
            "names the template: {msg}"
        );
    }
    // Escaped quotes outside quotes do not open a quoted region.
    let runs = plan(&m, &with_template("echo \\' {seed} \\\" {seed}")).unwrap();
    assert_eq!(runs[0].command, "echo \\' 7 \\\" 7");
    let (stdout, _d, _) = run_sh(&runs[0].command, &[]);
    assert_eq!(stdout, "' 7 \" 7\n");

    let m = parse("run_id,run_dir\nr1,x\n").unwrap();
    let err = plan(&m, &with_template("train {run_dir}")).unwrap_err();
    assert!(
        err.to_string()
            .contains("collides with the {run_dir} placeholder"),
        "{err}"
    );
}

#[test]
fn a_nul_character_in_a_field_is_refused() {
    let m = parse("run_id,seed\nr1,\"a\u{0}b\"\n").unwrap();
    let err = plan(&m, &with_template("x {seed}")).unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(
        err.to_string().contains("column seed contains a NUL"),
        "{err}"
    );
}

// ----- selection -----------------------------------------------------------------------------

const SWEEP: &str = "run_id,config,seed\n\
                     base-s1,base.yaml,1\n\
                     base-s2,base.yaml,2\n\
                     big-s1,big.yaml,1\n\
                     big-s2,big.yaml,2\n\
                     big-s10,big.yaml,10\n";

#[test]
fn glob_matching() {
    for (p, t, want) in [
        ("*", "", true),
        ("*", "anything", true),
        ("a*", "abc", true),
        ("*c", "abc", true),
        ("a*c", "ac", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*s1", "big-s10", false),
        ("*s1*", "big-s10", true),
        ("abc", "abcd", false),
        ("", "", true),
        ("", "a", false),
        ("*a*a*a", "aaaaaaaaaaaaaaaaaaab", false),
        ("*", "*", true),
        ("a\\*", "a*", false),
        ("[ab]", "a", false),
        ("[ab]", "[ab]", true),
        ("?", "é", true),
    ] {
        assert_eq!(glob_match(p, t), want, "{p:?} vs {t:?}");
    }
}

#[test]
fn sweep_match_selects_by_run_id_glob_or_column_conditions() {
    let m = parse(SWEEP).unwrap();
    let sel = |f: &str| {
        plan(&m, &opts("x {seed}", f, "first"))
            .map(|r| ids(&r).join(" "))
            .map_err(|e| e.to_string())
    };
    assert_eq!(sel("all").unwrap(), "base-s1 base-s2 big-s1 big-s2 big-s10");
    assert_eq!(sel("big-*").unwrap(), "big-s1 big-s2 big-s10");
    assert_eq!(sel("*-s?").unwrap(), "base-s1 base-s2 big-s1 big-s2");
    assert_eq!(sel("seed=1").unwrap(), "base-s1 big-s1");
    assert_eq!(sel("config=big*, seed=1*").unwrap(), "big-s1 big-s10");
    assert_eq!(sel("run_id=base-*,seed=2").unwrap(), "base-s2");

    let err = sel("lr=0.1").unwrap_err();
    assert!(
        err.contains("unknown column \"lr\"; the manifest's columns are run_id, config, seed"),
        "{err}"
    );
    assert!(
        sel("seed")
            .unwrap_err()
            .contains("matches none of the 5 runs"),
        "a bare word is a run_id glob"
    );
    assert!(sel("seed=1,").unwrap_err().contains("empty condition"));
    assert!(sel("seed=1,config")
        .unwrap_err()
        .contains("condition \"config\" is not column=glob"));
    assert!(sel("  ").unwrap_err().contains("the filter is empty"));
}

#[test]
fn start_at_skips_earlier_rows() {
    let m = parse(SWEEP).unwrap();
    let runs = plan(&m, &opts("x {seed}", "all", "big-s1")).unwrap();
    assert_eq!(ids(&runs), vec!["big-s1", "big-s2", "big-s10"]);
    assert_eq!(runs[0].line, 4);
    let runs = plan(&m, &opts("x {seed}", "seed=1", "base-s2")).unwrap();
    assert_eq!(ids(&runs), vec!["big-s1"]);

    let err = plan(&m, &opts("x {seed}", "all", "nope")).unwrap_err();
    assert_eq!(err.code(), codes::MANIFEST_INVALID);
    assert!(
        err.to_string()
            .contains("SWEEP_START_AT=\"nope\" is not a run_id of sweep.csv"),
        "{err}"
    );
}

#[test]
fn selecting_nothing_says_which_filter_removed_the_runs() {
    let m = parse(SWEEP).unwrap();
    let err = plan(&m, &opts("x {seed}", "huge-*", "first")).unwrap_err();
    assert!(
        err.to_string()
            .contains("SWEEP_MATCH=\"huge-*\" matches none of the 5 runs"),
        "{err}"
    );
    let err = plan(&m, &opts("x {seed}", "base-*", "big-s1")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "matches 2 of 5 runs, but all of them come before SWEEP_START_AT=\"big-s1\" (line 4)"
        ),
        "{msg}"
    );
}

// ----- examples and outputs ------------------------------------------------------------------

#[test]
fn the_example_manifest_and_template_plan_cleanly() {
    let m = Manifest::parse(template_csv().as_bytes(), "template.csv").unwrap();
    assert_eq!(
        template_csv().lines().next(),
        Some("run_id,config,seed,overrides,notes")
    );
    assert_eq!(m.rows.len(), 3);
    let runs = plan(&m, &with_template(example_run_template())).unwrap();
    assert_eq!(ids(&runs), vec!["baseline-s1", "baseline-s2", "lr3e-3-s1"]);
    assert_eq!(
        runs[2].command,
        "python train.py --config configs/base.yaml --seed 1 'optimizer.lr=0.003' --output-dir \"$WF_RUN_DIR\""
    );
    assert_eq!(
        m.field(&m.rows[2], "notes"),
        Some("higher learning rate; \"notes\" may hold quotes")
    );
}

#[test]
fn runs_json_has_the_contract_shape() {
    let m = parse("run_id,seed\na,1\nb,2\n").unwrap();
    let runs = plan(&m, &with_template("echo {seed}")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&runs_json(&runs)).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"run_id": "a", "command": "echo 1"},
            {"run_id": "b", "command": "echo 2"},
        ])
    );
}

#[test]
fn plan_options_come_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("infra_scripts")).unwrap();
    std::fs::write(
        dir.path().join(crate::config::CANONICAL_CONFIG),
        "SWEEP_RUN_TEMPLATE=\"python t.py {seed}\"\nSWEEP_START_AT=b\n",
    )
    .unwrap();
    let loc = crate::config::ConfigLocation::resolve(dir.path(), &Default::default()).unwrap();
    let cfg = crate::config::Config::load(&loc).unwrap();
    let o = PlanOptions::from_config(&cfg);
    assert_eq!(
        o,
        PlanOptions {
            template: Some("python t.py {seed}".into()),
            sweep_match: "all".into(),
            start_at: "b".into(),
            limit: 0,
        }
    );
    let m = parse("run_id,seed\na,1\nb,2\n").unwrap();
    assert_eq!(
        plan(&m, &o).unwrap(),
        vec![PlannedRun {
            run_id: "b".into(),
            command: "python t.py 2".into(),
            line: 3
        }]
    );
}

#[test]
fn the_manifest_code_is_the_constitutions_manifest_invalid() {
    let c = wfhost_constitution::Constitution::get().unwrap();
    assert_eq!(
        c.code(CODE).map(|c| c.name.as_str()),
        Some("MANIFEST_INVALID")
    );
}
