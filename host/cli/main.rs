//! The `wfhost` command line: parse, build a typed request, call the library, map the exit
//! status. No lifecycle logic lives here (cargo-style `cli()`/`exec()` split); the one place
//! that turns outcomes into exit statuses is [`Exit`].

mod commands;

use clap::Parser;
use std::process::ExitCode;

/// Exit statuses (DESIGN.md, "Output contract").
#[derive(Debug, Clone, Copy)]
pub struct Exit(pub i32);

impl Exit {
    /// Success.
    pub const OK: Exit = Exit(0);
    /// A usage error (unknown flag, missing argument).
    pub const USAGE: Exit = Exit(wfhost_flow::EXIT_USAGE);
    /// An internal error.
    pub const INTERNAL: Exit = Exit(wfhost_flow::EXIT_INTERNAL);
}

fn main() -> ExitCode {
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => Exit::USAGE.0,
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let Exit(code) = commands::exec(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(70))
}
