//! The crate's one error type: every bad input names what was wrong, where,
//! and what was expected.

use thiserror::Error;

/// Errors from decoding inputs, building texture arrays, scoring and allocating.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RelevanceError {
    /// The image bytes could not be decoded (unknown format, corrupt data,
    /// or dimensions beyond the decoder limits).
    #[error("cannot decode image `{name}`: {reason}")]
    ImageDecode {
        /// Which input (a path or a label).
        name: String,
        /// What the decoder reported.
        reason: String,
    },
    /// An image with no pixels, or whose pixel buffer does not match its size.
    #[error("image `{name}`: {reason}")]
    BadImage {
        /// Which input.
        name: String,
        /// What is wrong, with the expected and the found size.
        reason: String,
    },
    /// An array whose shape differs from what the computation needs.
    #[error("array `{name}` has shape {found:?}, expected {expected}")]
    Shape {
        /// Which array.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The expected shape, in words.
        expected: String,
    },
    /// A value that is NaN or infinite.
    #[error("array `{name}` holds a non-finite value {value} at index {index}")]
    NonFinite {
        /// Which array.
        name: String,
        /// Flat index of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A `.npy` file that is not a strict little-endian float array.
    #[error("`.npy` input `{name}`: {reason}")]
    Npy {
        /// Which input.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A budget the grid cannot take.
    #[error("budget {budget} is not possible for {patches} patches: {reason}")]
    Budget {
        /// The requested total.
        budget: u64,
        /// Number of patches.
        patches: usize,
        /// Why, with the admissible range.
        reason: String,
    },
    /// A setting outside its admissible range.
    #[error("setting `{name}` = {value}: expected {expected}")]
    Setting {
        /// Which setting.
        name: String,
        /// Its value, as text.
        value: String,
        /// The admissible range, in words.
        expected: String,
    },
    /// A query form that needs something not supplied.
    #[error("query: {0}")]
    Query(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, RelevanceError>;
