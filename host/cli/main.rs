//! The `wfhost` command line: parse, build a typed request, call the library, map the exit
//! status. No lifecycle logic lives here (cargo-style `cli()`/`exec()` split); a command
//! returns the [`Exit`] it decided or a [`error::CliError`], and [`error`] is the one place that
//! turns an error into its `wfhost:` message and exit status.

mod commands;
mod error;
mod pack;
mod read;
mod shell;
mod task;

use clap::Parser;
use std::process::ExitCode;

/// An exit status a command decided (a flow's 0/10..50/70, a check's 0/1).
#[derive(Debug, Clone, Copy)]
pub struct Exit(pub i32);

impl Exit {
    /// Success.
    pub const OK: Exit = Exit(0);
    /// A check whose answer is no (verify, replay, court audit).
    pub const FAILED: Exit = Exit(error::EXIT_FAILED);
}

fn main() -> ExitCode {
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => error::EXIT_USAGE,
            };
            // A caller that asked for JSON gets the usage error as the cli-error document too
            // (clap's own text, with its suggestions, still goes to stderr).
            if code != 0 && std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json") {
                let text = e.render().to_string();
                let message = text.lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
                read::print_json(&error::CliError::usage(message).with_hint("see `wfhost <command> --help`").to_json());
            }
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let json = cli.wants_json();
    let code = match commands::exec(cli) {
        Ok(Exit(code)) => code,
        Err(e) if json => {
            read::print_json(&e.to_json());
            e.report()
        }
        Err(e) => e.report(),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(70))
}
