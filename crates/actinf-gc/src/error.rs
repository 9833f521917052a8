//! The error type of `actinf-gc`.

use thiserror::Error;

/// What can be wrong with a continuous model, its data or its integration.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GcError {
    /// Arrays whose dimensions do not fit together.
    #[error("{what}: expected {expected}, got {got}")]
    Dimension {
        /// Which array or relation.
        what: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A setting out of range (embedding order, smoothness, time step, …).
    #[error("setting `{name}`: {reason}")]
    Setting {
        /// The setting.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A value that is NaN, infinite or outside its support (a non-positive precision, …).
    #[error("{what} at index {index} is {value}: {expected}")]
    Value {
        /// Which array.
        what: String,
        /// Flat index.
        index: usize,
        /// The value found.
        value: f64,
        /// What was expected.
        expected: String,
    },
    /// A matrix that must be positive definite (a precision) is not.
    #[error("{0} is not positive definite")]
    NotPositiveDefinite(String),
    /// The integration diverged (non-finite or exploding states).
    #[error("the integration diverged at step {step}: {reason}")]
    Diverged {
        /// The time step.
        step: usize,
        /// What was observed.
        reason: String,
    },
}
