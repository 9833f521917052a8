//! A memory budget for sizes that come from user input.
//!
//! A model file can ask for a policy set of `|U|^T` policies or a plate of
//! 2^63 elements with a few bytes of text. Before memory is spent on such a
//! size, the code that allocates asks [`check`] for it: the product is
//! computed with checked arithmetic and compared with the process-wide
//! limit (4 GiB unless [`set_limit`] changes it, e.g. from `--max-memory`),
//! so the answer is an error naming the field and the figure, never an
//! overflow panic or an abort from the allocator.

use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

/// The default limit: 4 GiB.
pub const DEFAULT_LIMIT_BYTES: u64 = 4 << 30;

static LIMIT: AtomicU64 = AtomicU64::new(DEFAULT_LIMIT_BYTES);

/// Set the process-wide limit in bytes.
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The process-wide limit in bytes.
pub fn limit() -> u64 {
    LIMIT.load(Ordering::Relaxed)
}

/// A size from input that is too large to hold.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BudgetError {
    /// The product of the factors overflows 64 bits.
    #[error(
        "{what}: the size {} overflows (the product exceeds 2^64)",
        show(factors)
    )]
    Overflow {
        /// The field the size comes from.
        what: String,
        /// The factors whose product was asked for.
        factors: Vec<u64>,
    },
    /// The memory needed is over the limit.
    #[error("{what}: {elements} elements of {bytes_each} bytes need {needed} bytes, over the memory limit of {limit} bytes (--max-memory to change it)")]
    OverLimit {
        /// The field the size comes from.
        what: String,
        /// The number of elements.
        elements: u64,
        /// Bytes per element.
        bytes_each: u64,
        /// Bytes needed.
        needed: u64,
        /// The limit.
        limit: u64,
    },
}

/// The factors of a size, the first eight of a longer list then their count.
fn show(factors: &[u64]) -> String {
    if factors.len() <= 8 {
        return format!("{factors:?}");
    }
    format!("{:?}… ({} factors)", &factors[..8], factors.len())
}

/// The number of elements `Π factors`, checked for overflow and against the
/// limit at `bytes_each` bytes per element; `what` names the field.
pub fn check(what: &str, factors: &[usize], bytes_each: usize) -> Result<usize, BudgetError> {
    let overflow = || BudgetError::Overflow {
        what: what.to_string(),
        factors: factors.iter().map(|&f| f as u64).collect(),
    };
    let elements = factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f as u64))
        .ok_or_else(overflow)?;
    let needed = elements
        .checked_mul(bytes_each as u64)
        .ok_or_else(overflow)?;
    if needed > limit() {
        return Err(BudgetError::OverLimit {
            what: what.to_string(),
            elements,
            bytes_each: bytes_each as u64,
            needed,
            limit: limit(),
        });
    }
    usize::try_from(elements).map_err(|_| overflow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sizes_pass_and_large_ones_are_named() {
        assert_eq!(check("x", &[3, 4], 8), Ok(12));
        let e = check("settings.policy_len", &[4; 40], 8).unwrap_err();
        assert!(e.to_string().contains("settings.policy_len"), "{e}");
        let e = check("plates", &[1 << 40], 8).unwrap_err();
        assert!(matches!(e, BudgetError::OverLimit { .. }), "{e}");
    }
}
