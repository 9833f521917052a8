//! Nested JSON lists (first index outermost, as the SPM fixtures and numpy's
//! `tolist()` write them) to and from flat row-major arrays.

use serde_json::Value;

use super::error::MdpError;

/// A rectangular array read from nested lists: its shape and its entries,
/// row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NdArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Read a number or (nested) list of numbers; ragged lists and non-numbers
/// are refused with the field's path.
pub(crate) fn nd(value: &Value, field: &str) -> Result<NdArray, MdpError> {
    let mut shape = Vec::new();
    let mut probe = value;
    while let Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut data = Vec::with_capacity(shape.iter().product());
    fill(value, &shape, field, &mut data)?;
    Ok(NdArray { shape, data })
}

fn fill(value: &Value, shape: &[usize], field: &str, out: &mut Vec<f64>) -> Result<(), MdpError> {
    match (value, shape.split_first()) {
        (Value::Array(items), Some((&n, rest))) if items.len() == n => {
            for (i, item) in items.iter().enumerate() {
                fill(item, rest, &format!("{field}[{i}]"), out)?;
            }
            Ok(())
        }
        (Value::Number(x), None) => {
            let v = x.as_f64().ok_or_else(|| MdpError::Type {
                field: field.into(),
                expected: "a number",
            })?;
            out.push(v);
            Ok(())
        }
        _ => Err(MdpError::Type {
            field: field.into(),
            expected: "a rectangular (nested) list of numbers",
        }),
    }
}

/// A list of arrays (SPM's cell arrays such as `A{g}`).
pub(crate) fn cells(value: &Value, field: &str) -> Result<Vec<NdArray>, MdpError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| nd(v, &format!("{field}[{i}]")))
            .collect(),
        _ => Err(MdpError::Type {
            field: field.into(),
            expected: "a list with one array per modality or factor",
        }),
    }
}

/// A column vector given as `[n]` or `[n][1]`.
pub(crate) fn vector(arr: NdArray, field: &str) -> Result<Vec<f64>, MdpError> {
    match arr.shape.as_slice() {
        [_] | [_, 1] => Ok(arr.data),
        _ => Err(MdpError::Shape {
            field: field.into(),
            expected: "a vector [n] or a column [n][1]".into(),
            got: arr.shape,
        }),
    }
}

/// A matrix of 1-based indices `[rows][cols]`, each in `1..=max[row]`,
/// returned 0-based.
pub(crate) fn index_rows(
    value: &Value,
    field: &str,
    rows: usize,
    cols: usize,
    max: &[usize],
) -> Result<Vec<Vec<usize>>, MdpError> {
    let Value::Array(items) = value else {
        return Err(MdpError::Type {
            field: field.into(),
            expected: "a list of rows of 1-based indices",
        });
    };
    if items.len() != rows {
        return Err(MdpError::Shape {
            field: field.into(),
            expected: format!("{rows} rows"),
            got: vec![items.len()],
        });
    }
    let mut out = Vec::with_capacity(rows);
    for (r, item) in items.iter().enumerate() {
        let row_field = format!("{field}[{r}]");
        let arr = nd(item, &row_field)?;
        // A row of zero columns may come as [] or be absent in the data.
        let ok = arr.shape == [cols] || (cols == 0 && arr.data.is_empty());
        if !ok {
            return Err(MdpError::Shape {
                field: row_field,
                expected: format!("[{cols}]"),
                got: arr.shape,
            });
        }
        let mut row = Vec::with_capacity(cols);
        for (c, &v) in arr.data.iter().enumerate() {
            row.push(one_based(v, &format!("{row_field}[{c}]"), max[r])?);
        }
        out.push(row);
    }
    Ok(out)
}

/// A 1-based index in `1..=max`, returned 0-based.
pub(crate) fn one_based(v: f64, field: &str, max: usize) -> Result<usize, MdpError> {
    if v.fract() != 0.0 || v < 1.0 || v > max as f64 {
        return Err(MdpError::IndexOutOfRange {
            field: field.into(),
            value: v,
            max,
        });
    }
    Ok(v as usize - 1)
}

/// Nested lists of a row-major array of the given shape.
pub(crate) fn nested(shape: &[usize], data: &[f64]) -> Value {
    match shape.split_first() {
        None => number(data.first().copied().unwrap_or(0.0)),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().product();
            Value::Array(
                (0..n)
                    .map(|i| nested(rest, &data[i * inner..(i + 1) * inner]))
                    .collect(),
            )
        }
    }
}

/// A flat list of numbers.
pub(crate) fn list(data: &[f64]) -> Value {
    Value::Array(data.iter().map(|&x| number(x)).collect())
}

/// A matrix from its rows.
pub(crate) fn rows(rows: &[Vec<f64>]) -> Value {
    Value::Array(rows.iter().map(|r| list(r)).collect())
}

/// A JSON number (non-finite values, which JSON cannot hold, become null).
pub(crate) fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_lists_read_row_major_and_write_back() {
        let v = json!([[[1, 2], [3, 4], [5, 6]]]);
        let a = nd(&v, "x").unwrap();
        assert_eq!(a.shape, vec![1, 3, 2]);
        assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            nested(&a.shape, &a.data),
            json!([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        );
    }

    #[test]
    fn ragged_lists_and_non_numbers_are_named() {
        let e = nd(&json!([[1, 2], [3]]), "A[0]").unwrap_err();
        assert_eq!(
            e,
            MdpError::Type {
                field: "A[0][1]".into(),
                expected: "a rectangular (nested) list of numbers"
            }
        );
        assert!(nd(&json!([1, "2"]), "x").is_err());
        assert_eq!(nd(&json!([]), "x").unwrap().shape, vec![0]);
    }

    #[test]
    fn indices_are_one_based_whole_and_in_range() {
        assert_eq!(one_based(3.0, "o", 3).unwrap(), 2);
        for bad in [0.0, 4.0, 1.5, -1.0] {
            assert!(matches!(
                one_based(bad, "o", 3),
                Err(MdpError::IndexOutOfRange { .. })
            ));
        }
        let rows = index_rows(&json!([[1, 2], [2, 2]]), "u", 2, 2, &[2, 2]).unwrap();
        assert_eq!(rows, vec![vec![0, 1], vec![1, 1]]);
        assert!(matches!(
            index_rows(&json!([[1, 2]]), "u", 2, 2, &[2, 2]),
            Err(MdpError::Shape { .. })
        ));
    }
}
