//! POSIX shell quoting.
//!
//! Plugins compose command lines that a transport hands to `sh -c` on the target. Every value
//! that comes from config, a manifest or a remote (paths, URLs, refs, run ids) must pass through
//! [`shell_quote`] so the shell sees it as exactly one word, whatever bytes it holds.
//!
//! The quoting is single-quote based and therefore valid for every POSIX shell (dash, busybox
//! ash, bash): inside single quotes nothing is special except the closing quote, which is written
//! as `'\''`.

/// Characters that never need quoting in any position of a POSIX shell word.
///
/// `=` and `~` are left out on purpose: `a=b` as the first word is an assignment and a leading
/// `~` is expanded.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | ',' | '+' | '@' | '%')
}

/// Quote `s` so a POSIX shell reads it back as exactly one word with the same bytes.
///
/// Words made only of plain characters (`A-Za-z0-9_-./:,+@%`) are returned unchanged so command
/// lines stay readable; anything else is wrapped in single quotes.
///
/// ```
/// use wfhost_pack_sdk::shell::shell_quote;
/// assert_eq!(shell_quote("/mnt/outputs"), "/mnt/outputs");
/// assert_eq!(shell_quote(""), "''");
/// assert_eq!(shell_quote("a b"), "'a b'");
/// assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
/// assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
/// ```
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote every word and join them with single spaces.
///
/// ```
/// use wfhost_pack_sdk::shell::shell_join;
/// assert_eq!(shell_join(["git", "clone", "my repo"]), "git clone 'my repo'");
/// ```
pub fn shell_join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Ask a real `sh` to print each word of `line` on its own line.
    fn sh_words(line: &str) -> Vec<String> {
        let script = format!("for w in {line}; do printf '%s\\n' \"$w\"; done");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn plain_words_are_unchanged() {
        assert_eq!(shell_quote("abc-1.2_x/y:z"), "abc-1.2_x/y:z");
    }

    #[test]
    fn special_words_are_quoted() {
        assert_eq!(shell_quote("a=b"), "'a=b'");
        assert_eq!(shell_quote("~root"), "'~root'");
        assert_eq!(shell_quote("*"), "'*'");
    }

    #[test]
    fn sh_reads_back_hostile_words_unchanged() {
        let words = [
            "plain",
            "with space",
            "it's",
            "''",
            "$(touch /tmp/wfhost-pwned)",
            "`id`",
            "a\\b",
            "\"dq\"",
            "semi;colon|pipe&amp",
            "*glob?[x]",
            "tab\there",
            "ünïcødé",
            "-n",
        ];
        let line = shell_join(words);
        let back = sh_words(&line);
        assert_eq!(
            back,
            words.iter().map(|w| w.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_word_survives() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {}; echo $#", shell_quote("")))
            .output()
            .expect("run sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    }

    #[test]
    fn newline_survives() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' {}", shell_quote("a\nb")))
            .output()
            .expect("run sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb");
    }
}
