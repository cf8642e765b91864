//! Where two byte strings or two JSON values first differ, said briefly enough for one line
//! of a report: a byte offset with a little context, or a JSON pointer with both values.

use serde_json::Value;

/// Bytes of context shown on each side of a difference.
const CONTEXT: usize = 24;
/// Longest value shown in a JSON difference.
const SHOWN: usize = 120;

/// The first offset at which `a` and `b` differ (the shorter length when one is a prefix of
/// the other), or `None` when they are equal.
pub(crate) fn first_byte_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len())))
}

/// A short, escaped excerpt of `bytes` around `offset` (`<end of file>` past the end).
pub(crate) fn context(bytes: &[u8], offset: usize) -> String {
    if offset >= bytes.len() {
        let from = bytes.len().saturating_sub(CONTEXT);
        return format!("{:?}<end of file>", String::from_utf8_lossy(&bytes[from..]));
    }
    let from = offset.saturating_sub(CONTEXT);
    let to = (offset + CONTEXT).min(bytes.len());
    format!("{:?}", String::from_utf8_lossy(&bytes[from..to]))
}

/// One difference between two JSON values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonDifference {
    /// RFC 6901 pointer to the first differing member (`""` is the whole value).
    pub(crate) pointer: String,
    /// What the left value holds there (`None` = absent).
    pub(crate) left: Option<Value>,
    /// What the right value holds there.
    pub(crate) right: Option<Value>,
}

impl JsonDifference {
    /// `pointer` for messages: `/` for the whole value.
    pub(crate) fn at(&self) -> &str {
        if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        }
    }
}

/// A value for a message: compact JSON, shortened.
pub(crate) fn shown(v: &Option<Value>) -> String {
    match v {
        None => "nothing (absent)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.len() <= SHOWN {
                s
            } else {
                let mut end = SHOWN;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}…", &s[..end])
            }
        }
    }
}

/// The first member (in sorted member order, then array order) where `a` and `b` differ.
pub(crate) fn first_json_difference(a: &Value, b: &Value) -> Option<JsonDifference> {
    walk(a, b, String::new())
}

fn walk(a: &Value, b: &Value, at: String) -> Option<JsonDifference> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(l), Some(r)) => {
                        if let Some(d) = walk(l, r, here) {
                            return Some(d);
                        }
                    }
                    (l, r) => {
                        return Some(JsonDifference { pointer: here, left: l.cloned(), right: r.cloned() })
                    }
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let here = format!("{at}/{i}");
                match (x.get(i), y.get(i)) {
                    (Some(l), Some(r)) => {
                        if let Some(d) = walk(l, r, here) {
                            return Some(d);
                        }
                    }
                    (l, r) => {
                        return Some(JsonDifference { pointer: here, left: l.cloned(), right: r.cloned() })
                    }
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some(JsonDifference { pointer: at, left: Some(a.clone()), right: Some(b.clone()) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn byte_differences_are_located() {
        assert_eq!(first_byte_difference(b"abc", b"abc"), None);
        assert_eq!(first_byte_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_byte_difference(b"abc", b"abcd"), Some(3));
        assert!(context(b"abc", 3).ends_with("<end of file>"));
        assert_eq!(context(b"0123456789", 5), "\"0123456789\"");
    }

    #[test]
    fn json_differences_name_the_member() {
        let a = json!({"a": 1, "b": {"c": [1, 2, {"d/e": true}]}});
        let mut b = a.clone();
        assert_eq!(first_json_difference(&a, &b), None);
        b["b"]["c"][2]["d/e"] = json!(false);
        let d = first_json_difference(&a, &b).unwrap();
        assert_eq!(d.pointer, "/b/c/2/d~1e");
        assert_eq!((d.left, d.right), (Some(json!(true)), Some(json!(false))));
        let d = first_json_difference(&json!({"a": 1}), &json!({"a": 1, "z": 2})).unwrap();
        assert_eq!((d.at(), &d.left, &d.right), ("/z", &None, &Some(json!(2))));
        let d = first_json_difference(&json!([1]), &json!("x")).unwrap();
        assert_eq!(d.at(), "/");
    }
}
