//! `wfhost completions <shell>` and `wfhost man`: generated from the clap definitions
//! ([`crate::commands::Cli`]), so they list exactly the commands and flags the binary parses.
//!
//! ```text
//! Cli::command() ─► clap_complete::generate(shell) ─► stdout
//!                └► clap_mangen::Man (wfhost, and one page per subcommand) ─► stdout or DIR
//! ```

use crate::commands::{workdir, Cli};
use crate::error::CliError;
use crate::Exit;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Print the completion script of `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit, CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "wfhost", &mut std::io::stdout());
    Ok(Exit::OK)
}

/// The roff of one man page.
fn page(cmd: clap::Command) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut bytes)
        .map_err(|e| CliError::internal(format!("cannot render the man page: {e}")))?;
    Ok(bytes)
}

/// Print wfhost.1 on stdout, or write wfhost.1 and wfhost-<command>.1 into `dir` (relative to
/// -C, like every path).
pub fn man(cli_dir: &Option<PathBuf>, dir: Option<&Path>) -> Result<Exit, CliError> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        use std::io::Write;
        let bytes = page(cmd)?;
        std::io::stdout().write_all(&bytes).map_err(|e| CliError::internal(format!("cannot write the man page: {e}")))?;
        return Ok(Exit::OK);
    };
    let dir = workdir(cli_dir)?.join(dir);
    std::fs::create_dir_all(&dir).map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    let mut pages = vec![("wfhost.1".to_string(), page(cmd.clone())?)];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("wfhost-{}", sub.get_name());
        pages.push((format!("{name}.1"), page(sub.clone().name(name))?));
    }
    for (name, bytes) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    println!("wrote {} man page(s) to {} (read them with `MANPATH={}: man wfhost`)", pages.len(), dir.display(), dir.parent().unwrap_or(&dir).display());
    Ok(Exit::OK)
}
