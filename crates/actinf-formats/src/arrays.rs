//! Nested JSON lists (numpy's `tolist()` layout) to and from tensors.

use actinf_core::Tensor;
use serde_json::Value;

/// Why a nested list is not a numeric array.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArrayError {
    /// An entry is neither a number nor a list.
    #[error("{name}: entry at {path:?} is not a number")]
    NotNumber {
        /// The array's name, e.g. `A[1]`.
        name: String,
        /// The index path of the entry.
        path: Vec<usize>,
    },
    /// Sibling lists of different lengths, or a number beside a list.
    #[error("{name}: ragged nesting at {path:?} (expected {expected} entries, got {got})")]
    Ragged {
        /// The array's name.
        name: String,
        /// The index path of the list.
        path: Vec<usize>,
        /// The length of its first sibling.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// An empty list.
    #[error("{name}: empty list at {path:?}")]
    Empty {
        /// The array's name.
        name: String,
        /// The index path of the list.
        path: Vec<usize>,
    },
}

/// The strings that stand for Python's non-JSON `NaN`, `Infinity` and
/// `-Infinity` after [`mark_non_finite`].
pub const NON_FINITE_MARK: [&str; 3] = ["\u{1}NaN", "\u{1}Infinity", "\u{1}-Infinity"];

/// A number as every reader takes it: a JSON number, or `NaN`/`Infinity`/
/// `-Infinity` marked by [`mark_non_finite`]; validation then refuses the
/// non-finite ones with the array and index named.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl<'de> serde::Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::String(t) if t == NON_FINITE_MARK[0] => Ok(Number(f64::NAN)),
            Value::String(t) if t == NON_FINITE_MARK[1] => Ok(Number(f64::INFINITY)),
            Value::String(t) if t == NON_FINITE_MARK[2] => Ok(Number(f64::NEG_INFINITY)),
            _ => v
                .as_f64()
                .map(Number)
                .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {v}"))),
        }
    }
}

/// `deserialize_with` for a matrix of [`Number`]s given as rows.
pub fn de_rows<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
    let rows: Vec<Vec<Number>> = serde::Deserialize::deserialize(d)?;
    Ok(rows
        .into_iter()
        .map(|r| r.into_iter().map(|x| x.0).collect())
        .collect())
}

/// `deserialize_with` for an optional matrix of [`Number`]s.
pub fn de_opt_rows<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Vec<f64>>>, D::Error> {
    de_rows(d).map(Some)
}

/// `deserialize_with` for one [`Number`].
pub fn de_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    <Number as serde::Deserialize>::deserialize(d).map(|x| x.0)
}

/// Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity`, which are
/// not JSON. Rewrite them (outside strings) as marked strings, so that the
/// value reaches validation and the error names the array and the index
/// instead of a line and column.
pub fn mark_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let token = [("-Infinity", 2), ("Infinity", 1), ("NaN", 0)]
            .into_iter()
            .find(|(t, _)| rest.starts_with(t));
        if let Some((t, k)) = token {
            out.push('"');
            out.push_str(&NON_FINITE_MARK[k].replace('\u{1}', "\\u0001"));
            out.push('"');
            rest = &rest[t.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Read a nested list of numbers as a tensor; the shape is the nesting.
pub fn tensor_from_json(value: &Value, name: &str) -> Result<Tensor, ArrayError> {
    let mut shape = Vec::new();
    let mut v = value;
    while let Value::Array(items) = v {
        if items.is_empty() {
            return Err(ArrayError::Empty {
                name: name.into(),
                path: vec![0; shape.len()],
            });
        }
        shape.push(items.len());
        v = &items[0];
    }
    let mut data = Vec::with_capacity(shape.iter().product());
    let mut path = Vec::new();
    collect(value, &shape, 0, &mut path, &mut data, name)?;
    Ok(Tensor::new(shape, data).expect("shape read from the nesting"))
}

fn collect(
    v: &Value,
    shape: &[usize],
    depth: usize,
    path: &mut Vec<usize>,
    out: &mut Vec<f64>,
    name: &str,
) -> Result<(), ArrayError> {
    if depth == shape.len() {
        let special = match v {
            Value::String(t) if t == NON_FINITE_MARK[0] => Some(f64::NAN),
            Value::String(t) if t == NON_FINITE_MARK[1] => Some(f64::INFINITY),
            Value::String(t) if t == NON_FINITE_MARK[2] => Some(f64::NEG_INFINITY),
            _ => None,
        };
        return match special.or_else(|| v.as_f64()) {
            Some(x) => {
                out.push(x);
                Ok(())
            }
            None => Err(ArrayError::NotNumber {
                name: name.into(),
                path: path.clone(),
            }),
        };
    }
    match v {
        Value::Array(items) if items.len() == shape[depth] => {
            for (i, item) in items.iter().enumerate() {
                path.push(i);
                collect(item, shape, depth + 1, path, out, name)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => Err(ArrayError::Ragged {
            name: name.into(),
            path: path.clone(),
            expected: shape[depth],
            got: items.len(),
        }),
        _ => Err(ArrayError::Ragged {
            name: name.into(),
            path: path.clone(),
            expected: shape[depth],
            got: 0,
        }),
    }
}

/// A tensor as a nested JSON list.
pub fn tensor_to_json(t: &Tensor) -> Value {
    fn rec(data: &[f64], shape: &[usize]) -> Value {
        match shape.split_first() {
            None => serde_json::json!(data[0]),
            Some((&n, rest)) => {
                let inner = data.len() / n;
                Value::Array(
                    data.chunks_exact(inner.max(1))
                        .take(n)
                        .map(|c| rec(c, rest))
                        .collect(),
                )
            }
        }
    }
    rec(t.data(), t.shape())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_ragged() {
        let v = json!([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]);
        let t = tensor_from_json(&v, "A[0]").unwrap();
        assert_eq!(t.shape(), &[2, 2, 2]);
        assert_eq!(tensor_to_json(&t), v);
        let bad = json!([[1.0, 2.0], [3.0]]);
        assert!(matches!(
            tensor_from_json(&bad, "B[0]"),
            Err(ArrayError::Ragged { path, .. }) if path == vec![1]
        ));
        let text = mark_non_finite(r#"{"a": [NaN, -Infinity, 1.0], "s": "NaN"}"#);
        let v: Value = serde_json::from_str(&text).unwrap();
        let t = tensor_from_json(&v["a"], "a").unwrap();
        assert!(t.data()[0].is_nan() && t.data()[1] == f64::NEG_INFINITY);
        assert_eq!(v["s"], "NaN");
        let nan = json!([[1.0, "x"]]);
        assert!(matches!(
            tensor_from_json(&nan, "A[0]"),
            Err(ArrayError::NotNumber { path, .. }) if path == vec![0, 1]
        ));
    }
}
