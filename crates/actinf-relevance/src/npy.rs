//! A small, strict `.npy` reader for embedding arrays.
//!
//! Accepts format versions 1.0–3.0, C order, little-endian `f4`/`f8`
//! (`<f4`, `<f8`); anything else (big-endian, integers, objects, Fortran
//! order, a data section of the wrong length) is an error that says what was
//! found. Values are returned as f64; non-finite values are rejected.

use crate::error::{RelevanceError, Result};

/// A dense array read from `.npy`: its shape and its values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

fn fail(name: &str, reason: impl Into<String>) -> RelevanceError {
    RelevanceError::Npy {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// The value of `'key': value` in the header dictionary (up to the next
/// top-level comma or closing brace).
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// Parse `.npy` bytes; `name` labels the input in errors.
pub fn read_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fail(name, "not a .npy file (no \\x93NUMPY magic)"));
    }
    let major = bytes[6];
    let (header_len, offset) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(fail(name, "truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(fail(
                name,
                format!("format version {v} (expected 1, 2 or 3)"),
            ))
        }
    };
    let data_start = offset + header_len;
    if bytes.len() < data_start {
        return Err(fail(name, "truncated header"));
    }
    let header = std::str::from_utf8(&bytes[offset..data_start])
        .map_err(|_| fail(name, "header is not text"))?;
    let descr = header_field(header, "descr")
        .ok_or_else(|| fail(name, "header has no 'descr'"))?
        .trim_matches(|c| c == '\'' || c == '"');
    let width = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => {
            return Err(fail(
                name,
                format!("dtype {other} (expected little-endian float32 '<f4' or float64 '<f8')"),
            ))
        }
    };
    match header_field(header, "fortran_order") {
        Some("False") => {}
        Some("True") => {
            return Err(fail(
                name,
                "Fortran order (save a C-ordered array: np.ascontiguousarray)",
            ))
        }
        _ => return Err(fail(name, "header has no valid 'fortran_order'")),
    }
    let shape_text =
        header_field(header, "shape").ok_or_else(|| fail(name, "header has no 'shape'"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| fail(name, format!("bad shape {shape_text}")))
        })
        .collect::<Result<_>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| fail(name, format!("shape {shape_text} overflows")))?;
    let body = &bytes[data_start..];
    if Some(body.len()) != count.checked_mul(width) {
        return Err(fail(
            name,
            format!(
                "data section of {} bytes for shape {shape:?} of {descr}, expected {}",
                body.len(),
                count.saturating_mul(width)
            ),
        ));
    }
    let data: Vec<f64> = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect()
    };
    if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(RelevanceError::NonFinite {
            name: name.to_string(),
            index,
            value,
        });
    }
    Ok(NpyArray { shape, data })
}

/// Write a C-ordered little-endian float32 `.npy` (format 1.0); used to make
/// test inputs and by callers that export embeddings.
pub fn write_npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so the data starts on a multiple of 64 bytes, header ending in '\n'.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_f32() {
        let bytes = write_npy_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        let a = read_npy(&bytes, "a.npy").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        let v = read_npy(&write_npy_f32(&[3], &[1.0, 2.0, 3.0]), "v.npy").unwrap();
        assert_eq!(v.shape, vec![3]);
    }

    #[test]
    fn reads_numpy_f8_header() {
        // Exactly what numpy 1.x writes for np.array([0.5, -1.0]).
        let mut bytes = b"\x93NUMPY\x01\x00v\x00".to_vec();
        let mut h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }".to_string();
        while h.len() < 117 {
            h.push(' ');
        }
        h.push('\n');
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&0.5f64.to_le_bytes());
        bytes.extend_from_slice(&(-1.0f64).to_le_bytes());
        let a = read_npy(&bytes, "x").unwrap();
        assert_eq!(a.data, vec![0.5, -1.0]);
    }

    #[test]
    fn rejects_what_it_cannot_read_exactly() {
        let good = write_npy_f32(&[2, 2], &[1.0; 4]);
        let mut truncated = good.clone();
        truncated.pop();
        assert!(matches!(
            read_npy(&truncated, "t"),
            Err(RelevanceError::Npy { .. })
        ));
        let ints = String::from_utf8_lossy(&good).replace("<f4", "<i4");
        assert!(read_npy(ints.as_bytes(), "i").is_err());
        let fortran = String::from_utf8_lossy(&good).replace("False", "True ");
        assert!(read_npy(fortran.as_bytes(), "f").is_err());
        assert!(read_npy(b"PK\x03\x04 not npy", "z").is_err());
        let nan = write_npy_f32(&[2], &[1.0, f32::NAN]);
        assert!(matches!(
            read_npy(&nan, "n"),
            Err(RelevanceError::NonFinite { index: 1, .. })
        ));
    }
}
