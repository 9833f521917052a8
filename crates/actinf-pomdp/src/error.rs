//! The error type of `actinf-pomdp`.

use thiserror::Error;

/// Everything that can be wrong with a POMDP model, its settings or its inputs.
///
/// Each variant names the array (`A`, `B`, `pA`, …), the index of the
/// modality or factor, and what was expected, so a user can find the entry.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PomdpError {
    /// A required array is missing.
    #[error("{array} is required but missing")]
    Missing {
        /// The array's name.
        array: &'static str,
    },
    /// A list of arrays has the wrong length (e.g. one `C` per modality).
    #[error("{array} has {got} entries, expected {expected} ({what})")]
    Count {
        /// The array's name.
        array: &'static str,
        /// The expected number of entries.
        expected: usize,
        /// The number given.
        got: usize,
        /// What the entries correspond to.
        what: &'static str,
    },
    /// An array has the wrong shape.
    #[error("{array}[{index}] has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The array's name.
        array: &'static str,
        /// The modality or factor index.
        index: usize,
        /// The expected shape.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A value is NaN or infinite.
    #[error("{array}[{index}] holds a non-finite value ({value}) at {at:?}")]
    NonFinite {
        /// The array's name.
        array: &'static str,
        /// The modality or factor index.
        index: usize,
        /// The multi-index of the entry.
        at: Vec<usize>,
        /// The value found.
        value: f64,
    },
    /// A probability or count is negative.
    #[error("{array}[{index}] holds a negative value ({value}) at {at:?}")]
    Negative {
        /// The array's name.
        array: &'static str,
        /// The modality or factor index.
        index: usize,
        /// The multi-index of the entry.
        at: Vec<usize>,
        /// The value found.
        value: f64,
    },
    /// A distribution does not sum to one.
    #[error("{array}[{index}] column {column:?} sums to {sum}, expected 1 (within {tolerance:e})")]
    NotNormalised {
        /// The array's name.
        array: &'static str,
        /// The modality or factor index.
        index: usize,
        /// The multi-index of the column, without axis 0.
        column: Vec<usize>,
        /// The sum found.
        sum: f64,
        /// The tolerance applied.
        tolerance: f64,
    },
    /// A dependency list refers to a factor that does not exist, or repeats one.
    #[error("{array}[{index}] is invalid: {reason}")]
    Dependency {
        /// `A_dependencies` or `B_dependencies`.
        array: &'static str,
        /// The modality or factor index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// An observation index is outside `0..num_obs[modality]`.
    #[error("observation for modality {modality} is {value}, expected 0..{num_obs}")]
    ObservationOutOfRange {
        /// The modality.
        modality: usize,
        /// The index given.
        value: usize,
        /// The number of outcomes of that modality.
        num_obs: usize,
    },
    /// An observation vector has the wrong number of modalities.
    #[error("observation has {got} entries, expected one per modality ({expected})")]
    ObservationLength {
        /// The number of modalities.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// An action index is outside `0..num_controls[factor]`.
    #[error("action for factor {factor} is {value}, expected 0..{num_controls}")]
    ActionOutOfRange {
        /// The factor.
        factor: usize,
        /// The index given.
        value: usize,
        /// The number of controls of that factor.
        num_controls: usize,
    },
    /// An action vector has the wrong number of factors.
    #[error("action has {got} entries, expected one per hidden-state factor ({expected})")]
    ActionLength {
        /// The number of factors.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// A setting has an invalid value or does not exist.
    #[error("setting `{name}`: {reason}")]
    Setting {
        /// The setting's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An operation was called out of order (e.g. policies before states).
    #[error("{0}")]
    Order(&'static str),
    /// A tensor-level error.
    #[error(transparent)]
    Core(#[from] actinf_core::CoreError),
    /// Finite inputs whose result overflows float64 (a log-preference of
    /// 1e308, a precision of 1e308): refused rather than printed as NaN.
    #[error("{quantity} of policy {policy} is not finite ({value}): {cause}")]
    Overflow {
        /// The result that overflowed.
        quantity: &'static str,
        /// The policy's index.
        policy: usize,
        /// The value computed.
        value: f64,
        /// Which inputs are too large.
        cause: &'static str,
    },
    /// A size from input beyond the memory budget.
    #[error(transparent)]
    Budget(#[from] actinf_core::budget::BudgetError),
}
