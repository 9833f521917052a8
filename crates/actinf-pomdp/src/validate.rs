//! Validation shared by every entry point: finite values, non-negative
//! probabilities and counts, columns that sum to one. Each error names the
//! array, the modality or factor index, and the entry.

use actinf_core::tensor::unravel;
use actinf_core::Tensor;

use crate::error::PomdpError;
use crate::model::NORMALISATION_TOLERANCE;

/// Finite everywhere, and non-negative when `probability` is set.
pub(crate) fn check_values(
    array: &'static str,
    index: usize,
    t: &Tensor,
    probability: bool,
) -> Result<(), PomdpError> {
    for (k, &v) in t.data().iter().enumerate() {
        if !v.is_finite() || (probability && v < 0.0) {
            let mut at = vec![0; t.ndim()];
            unravel(t.shape(), k, &mut at);
            return Err(if !v.is_finite() {
                PomdpError::NonFinite {
                    array,
                    index,
                    at,
                    value: v,
                }
            } else {
                PomdpError::Negative {
                    array,
                    index,
                    at,
                    value: v,
                }
            });
        }
    }
    Ok(())
}

/// Every column (axis 0) sums to one.
pub(crate) fn check_columns(
    array: &'static str,
    index: usize,
    t: &Tensor,
) -> Result<(), PomdpError> {
    let rows = t.shape()[0];
    let sums = actinf_core::maths::column_sums(t.data(), rows);
    for (j, &s) in sums.iter().enumerate() {
        if (s - 1.0).abs() > NORMALISATION_TOLERANCE {
            let mut column = vec![0; t.ndim() - 1];
            unravel(&t.shape()[1..], j, &mut column);
            return Err(PomdpError::NotNormalised {
                array,
                index,
                column,
                sum: s,
                tolerance: NORMALISATION_TOLERANCE,
            });
        }
    }
    Ok(())
}

/// Entries finite and non-negative, and every column (axis 0) summing to one
/// within [`NORMALISATION_TOLERANCE`].
pub(crate) fn check_probabilities(
    array: &'static str,
    index: usize,
    t: &Tensor,
) -> Result<(), PomdpError> {
    check_values(array, index, t, true)?;
    check_columns(array, index, t)
}

/// Entries finite and non-negative.
pub(crate) fn check_entries(
    array: &'static str,
    index: usize,
    t: &Tensor,
) -> Result<(), PomdpError> {
    check_values(array, index, t, true)
}

/// A vector of length `len` with finite, non-negative entries.
pub(crate) fn check_vector(
    array: &'static str,
    index: usize,
    v: &[f64],
    len: usize,
) -> Result<(), PomdpError> {
    if v.len() != len {
        return Err(PomdpError::Shape {
            array,
            index,
            expected: vec![len],
            got: vec![v.len()],
        });
    }
    check_values(array, index, &Tensor::new(vec![len], v.to_vec())?, true)
}
