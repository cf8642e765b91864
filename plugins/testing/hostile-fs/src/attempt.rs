//! One line per attempt of a hostile test component: `<attempt>: ok: <what it got>` or
//! `<attempt>: error: <error>`. Shared by `hostile-fs` and `hostile-net` (which includes this file
//! by path), so the tests read both the same way.

use std::fmt::Display;

/// The report line of one attempt; `shown` describes what a successful attempt got.
pub fn report<T, E: Display>(
    attempt: &str,
    result: Result<T, E>,
    shown: impl Fn(T) -> String,
) -> String {
    result.map_or_else(
        |e| format!("{attempt}: error: {e}"),
        |v| format!("{attempt}: ok: {}", shown(v)),
    )
}
