//! Key/value lists: config entries, inputs, phase facts.
//!
//! The WIT contract carries these as `list<kv>`; plugin logic holds them as
//! `Vec<(String, String)>` so it stays independent of the generated bindings. [`Facts`] builds a
//! fact list in insertion order; [`get`] reads one; [`to_json`] and [`from_json`] convert to and
//! from a flat JSON object (used in `details-json` and by tests).

use serde_json::{Map, Value};
use thiserror::Error;

/// One key/value entry.
pub type Kv = (String, String);

/// Why a JSON text is not a flat key/value object.
#[derive(Debug, Error)]
pub enum KvJsonError {
    /// The text is not JSON.
    #[error("not valid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// The JSON is not an object.
    #[error("expected a JSON object of key/value pairs, found {0}")]
    NotObject(&'static str),
    /// A value is an array, an object or null.
    #[error("the value of {0:?} is not a string, number or boolean")]
    NotScalar(String),
}

/// The value of `key` in `list`; when a key repeats, the last entry wins (as in env files).
///
/// ```
/// use wfhost_pack_sdk::kv::get;
/// let flags = vec![("wait".to_string(), "true".to_string())];
/// assert_eq!(get(&flags, "wait"), Some("true"));
/// assert_eq!(get(&flags, "fetch"), None);
/// ```
pub fn get<'a>(list: &'a [Kv], key: &str) -> Option<&'a str> {
    list.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The value of `key`, or `default` when it is absent or empty.
pub fn get_or<'a>(list: &'a [Kv], key: &str, default: &'a str) -> &'a str {
    match get(list, key) {
        Some(v) if !v.trim().is_empty() => v,
        _ => default,
    }
}

/// Read a number of seconds written with up to three decimals (`0.2`, `2`, `1.25`) as
/// milliseconds; `None` for anything else (a sign, an exponent, a fourth decimal, overflow).
///
/// ```
/// use wfhost_pack_sdk::kv::parse_millis;
/// assert_eq!(parse_millis("0.2"), Some(200));
/// assert_eq!(parse_millis("2"), Some(2000));
/// assert_eq!(parse_millis("1.25"), Some(1250));
/// assert_eq!(parse_millis("0.0005"), None);
/// assert_eq!(parse_millis("-1"), None);
/// assert_eq!(parse_millis(".5"), None);
/// ```
pub fn parse_millis(s: &str) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return None,
        None => (s, ""),
    };
    if int.is_empty() || frac.len() > 3 || !(int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut millis: u64 = int.parse::<u64>().ok()?.checked_mul(1000)?;
    for (i, d) in frac.bytes().enumerate() {
        millis = millis.checked_add(u64::from(d - b'0') * [100, 10, 1][i])?;
    }
    Some(millis)
}

/// Read a boolean written as `true`/`false`/`1`/`0`/`yes`/`no` (case-insensitive).
///
/// ```
/// use wfhost_pack_sdk::kv::parse_bool;
/// assert_eq!(parse_bool("TRUE"), Some(true));
/// assert_eq!(parse_bool("0"), Some(false));
/// assert_eq!(parse_bool("maybe"), None);
/// ```
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// An ordered fact list; setting a key again replaces its value in place.
///
/// ```
/// use wfhost_pack_sdk::kv::Facts;
/// let facts = Facts::new().with("total", 3).with("ok", 2).with("total", 4).into_vec();
/// assert_eq!(facts, vec![("total".into(), "4".into()), ("ok".into(), "2".into())]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(Vec<Kv>);

impl Facts {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key` to `value` (anything displayable).
    pub fn set(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let value = value.to_string();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
        self
    }

    /// Builder form of [`Facts::set`].
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.set(key, value);
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        get(&self.0, key)
    }

    /// The entries, in insertion order.
    pub fn into_vec(self) -> Vec<Kv> {
        self.0
    }

    /// The entries, borrowed.
    pub fn as_slice(&self) -> &[Kv] {
        &self.0
    }
}

/// Render a key/value list as a flat JSON object (string values; last entry wins on repeats).
///
/// ```
/// use wfhost_pack_sdk::kv::to_json;
/// let list = vec![("a".to_string(), "1".to_string())];
/// assert_eq!(to_json(&list), r#"{"a":"1"}"#);
/// ```
pub fn to_json(list: &[Kv]) -> String {
    let mut map = Map::new();
    for (k, v) in list {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(map).to_string()
}

/// Parse a flat JSON object into a key/value list (numbers and booleans become their text).
///
/// ```
/// use wfhost_pack_sdk::kv::from_json;
/// let list = from_json(r#"{"total": 4, "complete": true, "mode": "start"}"#).unwrap();
/// assert!(list.contains(&("total".to_string(), "4".to_string())));
/// assert!(from_json("[1]").is_err());
/// ```
pub fn from_json(text: &str) -> Result<Vec<Kv>, KvJsonError> {
    let value: Value = serde_json::from_str(text)?;
    let Value::Object(map) = value else {
        return Err(KvJsonError::NotObject(kind(&value)));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(KvJsonError::NotScalar(k)),
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> Kv {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn get_takes_the_last_repeat() {
        let list = vec![kv("a", "1"), kv("b", "2"), kv("a", "3")];
        assert_eq!(get(&list, "a"), Some("3"));
        assert_eq!(get(&list, "c"), None);
    }

    #[test]
    fn get_or_falls_back_on_empty() {
        let list = vec![kv("a", " "), kv("b", "x")];
        assert_eq!(get_or(&list, "a", "d"), "d");
        assert_eq!(get_or(&list, "b", "d"), "x");
        assert_eq!(get_or(&list, "z", "d"), "d");
    }

    #[test]
    fn facts_replace_in_place() {
        let mut f = Facts::new();
        f.set("x", 1).set("y", "two").set("x", 3);
        assert_eq!(f.get("x"), Some("3"));
        assert_eq!(f.as_slice(), &[kv("x", "3"), kv("y", "two")]);
    }

    #[test]
    fn json_round_trip() {
        let list = vec![kv("quote", "a\"b"), kv("nl", "1\n2")];
        let back = from_json(&to_json(&list)).unwrap();
        assert_eq!(get(&back, "quote"), Some("a\"b"));
        assert_eq!(get(&back, "nl"), Some("1\n2"));
    }

    #[test]
    fn json_errors_are_typed() {
        assert!(matches!(from_json("{"), Err(KvJsonError::Syntax(_))));
        assert!(matches!(
            from_json("3"),
            Err(KvJsonError::NotObject("a number"))
        ));
        assert!(matches!(from_json(r#"{"a":null}"#), Err(KvJsonError::NotScalar(k)) if k == "a"));
        assert!(matches!(
            from_json(r#"{"a":[1]}"#),
            Err(KvJsonError::NotScalar(_))
        ));
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool(" yes "), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool(""), None);
    }
}
