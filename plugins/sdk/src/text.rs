//! Text helpers for evidence: bounded output tails and UTC timestamps.
//!
//! Command output can be large; evidence keeps only its end ([`tail`]), cut on a character
//! boundary. Timestamps are formatted without a date library ([`utc_rfc3339`],
//! [`utc_compact`]) from seconds since the Unix epoch.

/// The last `max_bytes` bytes of `s` (cut forward to a character boundary), prefixed with `...`
/// when something was dropped.
///
/// ```
/// use wfhost_pack_sdk::text::tail;
/// assert_eq!(tail("hello world", 5), "...world");
/// assert_eq!(tail("short", 100), "short");
/// ```
pub fn tail(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_string();
    }
    let mut start = s.len() - max_bytes;
    while start < s.len() && !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

/// The last non-empty line of `s`, trimmed (empty when there is none).
///
/// ```
/// use wfhost_pack_sdk::text::last_line;
/// assert_eq!(last_line("a\nfatal: bad ref\n\n"), "fatal: bad ref");
/// ```
pub fn last_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn split(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `secs` since the Unix epoch.
///
/// ```
/// use wfhost_pack_sdk::text::utc_rfc3339;
/// assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
/// assert_eq!(utc_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
/// ```
pub fn utc_rfc3339(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `YYYYmmddTHHMMSSZ` (the form of the `ts` input) for `secs` since the Unix epoch.
///
/// ```
/// use wfhost_pack_sdk::text::utc_compact;
/// assert_eq!(utc_compact(1_709_210_096), "20240229T123456Z");
/// ```
pub fn utc_compact(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(secs);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_respects_char_boundaries() {
        let s = "ééé";
        assert_eq!(tail(s, 3), "...é");
        assert_eq!(tail(s, 6), s);
        assert_eq!(tail("", 0), "");
    }

    #[test]
    fn last_line_of_empty() {
        assert_eq!(last_line(""), "");
        assert_eq!(last_line("\n \n"), "");
    }

    #[test]
    fn timestamps_match_the_date_command() {
        for secs in [0_i64, 951_782_400, 1_700_000_000, 4_102_444_799] {
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
                .output()
                .expect("run date");
            assert_eq!(
                utc_rfc3339(secs),
                String::from_utf8_lossy(&out.stdout).trim(),
                "{secs}"
            );
        }
        assert_eq!(utc_rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
