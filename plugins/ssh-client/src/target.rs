//! Target strings of the ssh transport: parsing, validation and the normal form.
//!
//! Accepted forms:
//! - `host`: a host name, an IPv4 address or a `Host` alias of the user's ssh config;
//! - `user@host`;
//! - `ssh://[user@]host[:port]`, where host may also be a bracketed IPv6 address (`[::1]`).
//!
//! User names are `[A-Za-z0-9._-]` and host names dot-separated labels of `[A-Za-z0-9_-]`;
//! neither may start with `-` (it would read as an ssh option). Anything else — whitespace,
//! quotes, `$`, `;`, `|`, a path after the authority — is refused with `invalid`, so a target
//! never carries shell metacharacters into a command line.
//!
//! The normal form is `[user@]host` without a port and `ssh://[user@]host:port` with one (IPv6
//! hosts keep their brackets in it). [`Target::destination`] is what ssh is given.

use wfhost_pack_sdk::transport::TransportError;

/// Longest accepted user name.
pub const MAX_USER_LEN: usize = 64;
/// Longest accepted host name.
pub const MAX_HOST_LEN: usize = 253;

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Login name; `None` = ssh's default (the config's `User`, else the local user).
    pub user: Option<String>,
    /// Host name, alias or address (IPv6 without brackets).
    pub host: String,
    /// Port; `None` = ssh's default (the config's `Port`, else 22).
    pub port: Option<u16>,
}

impl Target {
    /// Parse and validate `raw` (surrounding spaces are ignored; control characters are not).
    pub fn parse(raw: &str) -> Result<Target, TransportError> {
        if let Some(bad) = raw.chars().find(|c| c.is_control()) {
            return Err(invalid(raw, &format!("it contains {bad:?}")));
        }
        let s = raw.trim_matches(' ');
        if s.is_empty() {
            return Err(invalid(
                raw,
                "it is empty; use user@host or ssh://user@host:port",
            ));
        }
        if let Some(bad) = s.chars().find(|c| c.is_whitespace()) {
            return Err(invalid(raw, &format!("it contains {bad:?}")));
        }
        if let Some(rest) = s.strip_prefix("ssh://") {
            return parse_url(raw, rest);
        }
        if s.contains("://") {
            return Err(invalid(raw, "only the ssh:// scheme is accepted"));
        }
        let (user, host) = split_user(raw, s)?;
        if host.contains(':') {
            return Err(invalid(
                raw,
                "a port needs the URL form: ssh://user@host:port (IPv6 hosts: ssh://user@[::1]:22)",
            ));
        }
        check_host(raw, host)?;
        Ok(Target {
            user: user.map(str::to_string),
            host: host.to_string(),
            port: None,
        })
    }

    /// The normal form (see the module documentation).
    pub fn normalised(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        match self.port {
            None if !self.host.contains(':') => format!("{user}{}", self.host),
            None => format!("ssh://{user}[{}]", self.host),
            Some(p) if self.host.contains(':') => format!("ssh://{user}[{}]:{p}", self.host),
            Some(p) => format!("ssh://{user}{}:{p}", self.host),
        }
    }

    /// The destination argument for ssh: `[user@]host`.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

fn invalid(raw: &str, why: &str) -> TransportError {
    TransportError::Invalid(format!("target {raw:?} is not an ssh destination: {why}"))
}

fn split_user<'a>(raw: &str, s: &'a str) -> Result<(Option<&'a str>, &'a str), TransportError> {
    match s.split_once('@') {
        None => Ok((None, s)),
        Some((user, host)) => {
            if host.contains('@') {
                return Err(invalid(raw, "it contains more than one @"));
            }
            check_user(raw, user)?;
            Ok((Some(user), host))
        }
    }
}

fn check_user(raw: &str, user: &str) -> Result<(), TransportError> {
    if user.is_empty() {
        return Err(invalid(raw, "the user name before @ is empty"));
    }
    if user.len() > MAX_USER_LEN {
        return Err(invalid(
            raw,
            &format!("the user name is longer than {MAX_USER_LEN} characters"),
        ));
    }
    if user.starts_with('-') {
        return Err(invalid(raw, "the user name starts with -"));
    }
    if let Some(c) = user
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(raw, &format!("the user name contains {c:?}")));
    }
    Ok(())
}

fn check_host(raw: &str, host: &str) -> Result<(), TransportError> {
    if host.is_empty() {
        return Err(invalid(raw, "the host name is empty"));
    }
    if host.len() > MAX_HOST_LEN {
        return Err(invalid(
            raw,
            &format!("the host name is longer than {MAX_HOST_LEN} characters"),
        ));
    }
    if host.starts_with('-') {
        return Err(invalid(raw, "the host name starts with -"));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(invalid(
                raw,
                "the host name has an empty label (.. or a leading/trailing dot)",
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        {
            return Err(invalid(raw, &format!("the host name contains {c:?}")));
        }
    }
    Ok(())
}

fn check_ipv6(raw: &str, addr: &str) -> Result<(), TransportError> {
    let ok = addr.contains(':')
        && addr.len() <= 45
        && addr
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(invalid(raw, &format!("[{addr}] is not an IPv6 address")))
    }
}

fn parse_port(raw: &str, p: &str) -> Result<u16, TransportError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 {
        return Err(invalid(
            raw,
            &format!("port {p:?} is not a number from 1 to 65535"),
        ));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            raw,
            &format!("port {p:?} is not a number from 1 to 65535"),
        )),
    }
}

fn parse_url(raw: &str, rest: &str) -> Result<Target, TransportError> {
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') || authority.contains('?') || authority.contains('#') {
        return Err(invalid(
            raw,
            "an ssh:// target names a host only, no path or query",
        ));
    }
    let (user, hostport) = split_user(raw, authority)?;
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| invalid(raw, "a [ without its ]"))?;
        check_ipv6(raw, addr)?;
        let port = match after {
            "" => None,
            p => Some(parse_port(
                raw,
                p.strip_prefix(':')
                    .ok_or_else(|| invalid(raw, "text after ] must be :port"))?,
            )?),
        };
        (addr, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(parse_port(raw, p)?)),
            None => (hostport, None),
        }
    };
    if !host.contains(':') {
        check_host(raw, host)?;
    }
    Ok(Target {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Target::parse(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .normalised()
    }

    #[test]
    fn plain_forms_are_kept() {
        assert_eq!(norm("gpu-box"), "gpu-box");
        assert_eq!(norm("root@10.0.0.7"), "root@10.0.0.7");
        assert_eq!(
            norm("  ubuntu@node-1.lab.example  "),
            "ubuntu@node-1.lab.example"
        );
        assert_eq!(norm("my_alias"), "my_alias");
    }

    #[test]
    fn url_forms_normalise() {
        assert_eq!(
            norm("ssh://root@127.0.0.1:2222"),
            "ssh://root@127.0.0.1:2222"
        );
        assert_eq!(
            norm("ssh://root@127.0.0.1:2222/"),
            "ssh://root@127.0.0.1:2222"
        );
        assert_eq!(norm("ssh://root@host"), "root@host");
        assert_eq!(norm("ssh://host:22"), "ssh://host:22");
        assert_eq!(norm("ssh://u@[::1]:2200"), "ssh://u@[::1]:2200");
        assert_eq!(norm("ssh://[fe80::1]"), "ssh://[fe80::1]");
        // The normal form parses back to itself.
        for s in ["ssh://u@[::1]:2200", "ssh://[fe80::1]", "u@h", "ssh://h:1"] {
            assert_eq!(norm(&norm(s)), norm(s));
        }
    }

    #[test]
    fn parts_and_destination() {
        let t = Target::parse("ssh://alice@[::1]:2022").unwrap();
        assert_eq!(t.user.as_deref(), Some("alice"));
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, Some(2022));
        assert_eq!(t.destination(), "alice@::1");
        let t = Target::parse("box").unwrap();
        assert_eq!(
            (t.user.clone(), t.port, t.destination()),
            (None, None, "box".to_string())
        );
    }

    #[test]
    fn shell_metacharacters_and_options_are_refused() {
        for bad in [
            "",
            "   ",
            "host;rm -rf /",
            "host rm",
            "a@b@c",
            "$(id)@host",
            "root@`id`",
            "root@host|x",
            "'host'",
            "\"host\"",
            "host&",
            "-oProxyCommand=sh",
            "root@-oProxyCommand=x",
            "-l@host",
            "@host",
            "root@",
            "root@host:2222",
            "host\n",
            "ho\tst",
            "a..b",
            ".host",
            "host.",
            "ssh://",
            "ssh://root@host:0",
            "ssh://root@host:65536",
            "ssh://root@host:22x",
            "ssh://root@host:",
            "ssh://root@host/path",
            "ssh://root@host?x=1",
            "ssh://[::1",
            "ssh://[zz::1]:22",
            "ssh://[::1]x",
            "http://host",
            "root@h*st",
            "~root",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(TransportError::Invalid(_))),
                "{bad:?} was accepted"
            );
        }
        let long_host = "h".repeat(MAX_HOST_LEN + 1);
        assert!(Target::parse(&long_host).is_err());
        let long_user = format!("{}@h", "u".repeat(MAX_USER_LEN + 1));
        assert!(Target::parse(&long_user).is_err());
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let e = Target::parse("root@host:2222").unwrap_err().to_string();
        assert!(e.contains("ssh://user@host:port"), "{e}");
        let e = Target::parse("ssh://h:99999").unwrap_err().to_string();
        assert!(e.contains("1 to 65535"), "{e}");
        let e = Target::parse("host;x").unwrap_err().to_string();
        assert!(e.contains("';'"), "{e}");
    }
}
