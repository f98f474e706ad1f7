//! Non-finite floats in JSON. JSON has no NaN or infinity (`serde_json` writes them as `null`),
//! so every stored file goes through [`to_value`], which writes a non-finite `f64`/`f32` as the
//! string `"NaN"`, `"inf"` or `"-inf"`, and is read back through [`from_value`], which reads
//! those strings — and the `null` of files written before — into `f64`/`f32`. Domain types
//! keep plain `f64` fields; `Option<f64>` still reads `null` as `None`.

mod de;
mod ser;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// `value` as JSON, with non-finite floats as the strings `"NaN"`, `"inf"`, `"-inf"`.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    value.serialize(ser::ValueSerializer)
}

/// Reads a `T` from JSON written by [`to_value`] (or by plain `serde_json`, whose `null` is
/// read as NaN where a float is expected).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(de::Lenient(value))
}

/// The stored string of a non-finite float; `None` for a finite one.
pub fn encode(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// The float of a stored non-finite string (`NaN`, `inf`, `-inf`; also `+inf`, `Infinity`,
/// `-Infinity`).
pub fn decode(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "inf" | "+inf" | "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    enum Kind {
        Plain,
        Scaled(f64),
        Pair { a: f64, b: f32 },
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Record {
        name: String,
        x: f64,
        xs: Vec<f64>,
        nested: Vec<Vec<f64>>,
        maybe: Option<f64>,
        absent: Option<f64>,
        pair: (u32, f64),
        kinds: Vec<Kind>,
        by_width: BTreeMap<usize, f64>,
        small: f32,
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a == b
    }

    #[test]
    fn nan_and_infinities_survive_a_round_trip() {
        let r = Record {
            name: "NaN".into(),
            x: f64::NAN,
            xs: vec![1.5, f64::INFINITY, f64::NEG_INFINITY, -0.25],
            nested: vec![vec![f64::NAN], vec![2.0]],
            maybe: Some(f64::NEG_INFINITY),
            absent: None,
            pair: (3, f64::INFINITY),
            kinds: vec![
                Kind::Plain,
                Kind::Scaled(f64::NAN),
                Kind::Pair {
                    a: f64::INFINITY,
                    b: f32::NAN,
                },
            ],
            by_width: [(10, f64::NAN), (20, 0.5)].into_iter().collect(),
            small: f32::NEG_INFINITY,
        };
        let v = to_value(&r).unwrap();
        assert_eq!(v["x"], "NaN");
        assert_eq!(v["xs"][1], "inf");
        assert_eq!(v["xs"][2], "-inf");
        assert_eq!(v["maybe"], "-inf");
        assert_eq!(v["absent"], Value::Null);
        assert_eq!(v["by_width"]["10"], "NaN");
        assert_eq!(v["kinds"][0], "Plain");
        // Through text, as in a file.
        let text = serde_json::to_string_pretty(&v).unwrap();
        let back: Record = from_value(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back.name, "NaN");
        assert!(back.x.is_nan());
        for (a, b) in back.xs.iter().zip(&r.xs) {
            assert!(same(*a, *b), "{a} vs {b}");
        }
        assert!(back.nested[0][0].is_nan() && back.nested[1][0] == 2.0);
        assert_eq!(back.maybe, Some(f64::NEG_INFINITY));
        assert_eq!(back.absent, None);
        assert_eq!(back.pair.0, 3);
        assert_eq!(back.pair.1, f64::INFINITY);
        assert_eq!(back.kinds[0], Kind::Plain);
        assert!(matches!(back.kinds[1], Kind::Scaled(v) if v.is_nan()));
        assert!(matches!(back.kinds[2], Kind::Pair { a, b } if a == f64::INFINITY && b.is_nan()));
        assert!(back.by_width[&10].is_nan() && back.by_width[&20] == 0.5);
        assert_eq!(back.small, f32::NEG_INFINITY);
    }

    #[test]
    fn finite_values_are_written_as_serde_json_writes_them() {
        let r = (1u8, -2i64, 0.1f64, 1e300, "s", Some(0.5f32), [true, false]);
        assert_eq!(to_value(&r).unwrap(), serde_json::to_value(r).unwrap());
    }

    #[test]
    fn legacy_null_reads_as_nan() {
        let legacy = serde_json::json!({
            "name": "old", "x": null, "xs": [null, 1.0], "nested": [[null]],
            "maybe": null, "absent": null, "pair": [1, null], "kinds": [{"Scaled": null}],
            "by_width": {"5": null}, "small": null
        });
        let r: Record = from_value(legacy).unwrap();
        assert!(r.x.is_nan() && r.xs[0].is_nan() && r.xs[1] == 1.0 && r.nested[0][0].is_nan());
        assert_eq!(r.maybe, None);
        assert!(r.pair.1.is_nan() && r.small.is_nan() && r.by_width[&5].is_nan());
        assert!(matches!(r.kinds[0], Kind::Scaled(v) if v.is_nan()));
    }

    #[test]
    fn other_strings_are_not_floats() {
        let bad = serde_json::json!(["oops"]);
        assert!(from_value::<Vec<f64>>(bad).is_err());
        assert_eq!(encode(1.0), None);
        assert_eq!(decode("inf"), Some(f64::INFINITY));
    }
}
