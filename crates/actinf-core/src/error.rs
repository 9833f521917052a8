//! The error type of `actinf-core`.

use thiserror::Error;

/// Errors raised by the shared numerics: always about an array's shape or values.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// The number of elements does not match the product of the shape.
    #[error("tensor with shape {shape:?} needs {expected} elements, got {got}")]
    ElementCount {
        /// The declared shape.
        shape: Vec<usize>,
        /// The product of the shape.
        expected: usize,
        /// The number of elements given.
        got: usize,
    },
    /// A shape with a zero-length axis.
    #[error("tensor shape {shape:?} has an empty axis")]
    EmptyAxis {
        /// The offending shape.
        shape: Vec<usize>,
    },
    /// Operands whose shapes do not fit together.
    #[error("shape mismatch: {what}")]
    ShapeMismatch {
        /// Which operands, and how they differ.
        what: String,
    },
}
