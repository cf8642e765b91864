//! Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for everything that is hashed.
//!
//! Values go in as `serde_json::Value`; bytes come out from the `serde_jcs` crate: members
//! sorted by their UTF-16 code units, no whitespace, strings with only the mandatory escapes
//! (lowercase `\u00xx` for other control characters), numbers in the ECMAScript shortest
//! round-trip form (`1e+21`, `0.000001`, `-0` as `0`).
//!
//! One addition of ours, before serialisation: RFC 8785 treats every number as an IEEE 754
//! double, so `serde_jcs` silently rounds an integer above 2^53 (`18446744073709551615` becomes
//! `18446744073709552000`). A hash over a rounded number would certify a value nobody wrote, so
//! [`to_vec`] refuses integers outside `±(2^53-1)` (the I-JSON range, RFC 7493) and names where
//! they are; encode such values as strings. Numbers with a fraction or exponent are doubles
//! already and pass.

use crate::ops::MAX_SAFE_INTEGER;
use serde_json::Value;

/// A value that has no faithful canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// An integer outside `±(2^53-1)` would be rounded by canonicalisation.
    #[error(
        "integer {value} at JSON pointer {pointer:?} is outside ±(2^53-1) and would be rounded in \
         canonical JSON; record it as a string"
    )]
    IntegerOutOfRange {
        /// RFC 6901 pointer to the number (`""` is the whole value).
        pointer: String,
        /// The integer as written.
        value: String,
    },
    /// The serialiser failed (should not happen for a `serde_json::Value`).
    #[error("canonical JSON serialisation failed: {0}")]
    Serialize(String),
}

/// The RFC 8785 canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    check_numbers(value)?;
    serde_jcs::to_vec(value).map_err(|e| CanonicalError::Serialize(e.to_string()))
}

/// The RFC 8785 canonical text of `value`.
pub fn to_string(value: &Value) -> Result<String, CanonicalError> {
    check_numbers(value)?;
    serde_jcs::to_string(value).map_err(|e| CanonicalError::Serialize(e.to_string()))
}

/// sha256 (lowercase hex) of the canonical bytes of `value`.
pub fn sha256(value: &Value) -> Result<String, CanonicalError> {
    to_vec(value).map(|b| crate::hash::sha256_hex(&b))
}

/// The canonical bytes of each member value of `object`, sorted by member name in RFC 8785
/// order. [`join`] assembles them into the canonical bytes of the object, optionally without
/// one member: the same bytes `to_vec` gives, obtained with one canonicalisation pass, so a
/// record, the record without its `record_hash`, and its payload all come from one pass.
pub fn members(
    object: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, Vec<u8>)>, CanonicalError> {
    let mut parts = Vec::with_capacity(object.len());
    for (name, value) in object {
        check_numbers(value).map_err(|e| match e {
            CanonicalError::IntegerOutOfRange { pointer, value } => {
                CanonicalError::IntegerOutOfRange {
                    pointer: format!("/{}{pointer}", name.replace('~', "~0").replace('/', "~1")),
                    value,
                }
            }
            other => other,
        })?;
        let bytes =
            serde_jcs::to_vec(value).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
        parts.push((name.clone(), bytes));
    }
    parts.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    Ok(parts)
}

/// The canonical bytes of the object whose sorted member parts are `parts` (from
/// [`members`]), leaving out the member named `skip`.
pub fn join(parts: &[(String, Vec<u8>)], skip: Option<&str>) -> Vec<u8> {
    let size: usize = parts.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
    let mut out = Vec::with_capacity(size + 2);
    out.push(b'{');
    let mut first = true;
    for (name, bytes) in parts {
        if Some(name.as_str()) == skip {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        // A member name is a JSON string: without `"`, `\` or control characters its canonical
        // form is the name in quotes; otherwise serde_jcs escapes it.
        if name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        } else {
            match serde_jcs::to_vec(name) {
                Ok(key) => out.extend_from_slice(&key),
                Err(_) => out.extend_from_slice(b"\"\""),
            }
        }
        out.push(b':');
        out.extend_from_slice(bytes);
    }
    out.push(b'}');
    out
}

/// Refuse integers that canonical JSON cannot carry exactly.
pub fn check_numbers(value: &Value) -> Result<(), CanonicalError> {
    // Walk without building paths; on the way back out of an error, collect the path.
    fn walk(v: &Value, path: &mut Vec<String>) -> Result<(), String> {
        match v {
            Value::Number(n) => {
                let out = match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => u > MAX_SAFE_INTEGER,
                    (None, Some(i)) => i.unsigned_abs() > MAX_SAFE_INTEGER,
                    // A double (fraction or exponent): canonical form is defined for it.
                    (None, None) => false,
                };
                if out {
                    return Err(n.to_string());
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, path).inspect_err(|_| path.push(i.to_string()))?;
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, item) in map {
                    walk(item, path)
                        .inspect_err(|_| path.push(k.replace('~', "~0").replace('/', "~1")))?;
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        }
    }
    let mut path = Vec::new();
    walk(value, &mut path).map_err(|value| {
        let pointer = path.iter().rev().map(|seg| format!("/{seg}")).collect();
        CanonicalError::IntegerOutOfRange { pointer, value }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        let v: Value = serde_json::from_str(text).expect("test input parses");
        to_string(&v).expect("canonicalises")
    }

    #[test]
    fn rfc8785_section_3_2_2_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        assert_eq!(
            canon(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_section_3_2_3_sorting_by_utf16_code_units() {
        let input = r#"{
          "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let out = canon(input);
        let v: serde_json::Map<String, Value> = serde_json::from_str(&out).expect("output parses");
        assert_eq!(v.len(), 7);
        // Order of the values in the output: by UTF-16 code units of the keys, so the emoji
        // (a surrogate pair, 0xD83D...) sorts before U+FB33 although its code point is larger.
        let order: Vec<&str> = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ]
        .to_vec();
        let mut last = 0;
        for name in order {
            let at = out
                .find(name)
                .unwrap_or_else(|| panic!("{name} missing in {out}"));
            assert!(at > last, "{name} out of order in {out}");
            last = at;
        }
    }

    #[test]
    fn rfc8785_appendix_b_numbers() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, want) in cases {
            let v = json!(f64::from_bits(bits));
            assert_eq!(to_string(&v).expect("finite"), want, "bits {bits:#018x}");
        }
    }

    #[test]
    fn strings_escape_only_what_the_rfc_requires() {
        let v = json!("tab\t nul\u{0} del\u{7f} ls\u{2028} é 😀 \"q\" \\ /");
        assert_eq!(
            to_string(&v).expect("ok"),
            "\"tab\\t nul\\u0000 del\u{7f} ls\u{2028} é 😀 \\\"q\\\" \\\\ /\""
        );
    }

    #[test]
    fn integers_beyond_2_pow_53_are_refused_not_rounded() {
        assert_eq!(
            to_string(&json!(9_007_199_254_740_991u64)).expect("max safe"),
            "9007199254740991"
        );
        assert_eq!(
            to_string(&json!(-9_007_199_254_740_991i64)).expect("min safe"),
            "-9007199254740991"
        );
        let err = to_string(&json!({"a": [1, {"b/c": u64::MAX}]})).unwrap_err();
        assert_eq!(
            err,
            CanonicalError::IntegerOutOfRange {
                pointer: "/a/1/b~1c".into(),
                value: u64::MAX.to_string()
            }
        );
        assert!(matches!(
            to_vec(&json!(i64::MIN)),
            Err(CanonicalError::IntegerOutOfRange { .. })
        ));
    }

    #[test]
    fn members_and_join_give_the_bytes_of_the_whole() {
        let v = json!({"z": 1, "é": [1.5, {"b": null, "a": "x"}], "a\u{1}": true, "q\"\\": 0, "": {}, "A": "\u{1F600}", "\u{FB33}": 2});
        let Value::Object(map) = &v else {
            unreachable!()
        };
        let parts = members(map).expect("parts");
        assert_eq!(join(&parts, None), to_vec(&v).expect("whole"));
        let mut without = map.clone();
        without.remove("z");
        assert_eq!(
            join(&parts, Some("z")),
            to_vec(&Value::Object(without)).expect("without")
        );
        let err = members(json!({"p": {"n": u64::MAX}}).as_object().expect("object")).unwrap_err();
        assert!(
            matches!(err, CanonicalError::IntegerOutOfRange { ref pointer, .. } if pointer == "/p/n"),
            "{err}"
        );
    }

    #[test]
    fn canonical_form_is_a_fixed_point_and_ignores_input_layout() {
        let a = canon(r#"{ "b" : [1.0, 2.50, -0.0], "a" : { "y": true, "x": null } }"#);
        assert_eq!(a, r#"{"a":{"x":null,"y":true},"b":[1,2.5,0]}"#);
        assert_eq!(canon(&a), a);
    }
}
