//! The error type of `actinf-vmp`.

use thiserror::Error;

/// What can be wrong with a factor graph, its data or its inference.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum VmpError {
    /// A parent name that no node has.
    #[error("node `{node}`: unknown parent `{parent}`")]
    UnknownParent {
        /// The node.
        node: String,
        /// The missing parent.
        parent: String,
    },
    /// Two nodes with one name.
    #[error("node name `{0}` is used twice")]
    DuplicateName(String),
    /// A parent whose distribution is not conjugate to the slot it fills.
    #[error("node `{node}`: parent {slot} (`{parent}`) is not conjugate to its slot: it provides {got}, the slot needs {expected}")]
    NotConjugate {
        /// The node.
        node: String,
        /// The parent slot (0-based).
        slot: usize,
        /// The parent's name.
        parent: String,
        /// What the slot needs.
        expected: String,
        /// What the parent provides.
        got: String,
    },
    /// The wrong number of parents.
    #[error("node `{node}`: {got} parents given, expected {expected}")]
    ParentCount {
        /// The node.
        node: String,
        /// Parents needed.
        expected: usize,
        /// Parents given.
        got: usize,
    },
    /// Plates that do not broadcast.
    #[error("node `{node}`: plates {child:?} do not broadcast with parent `{parent}`'s plates {parent_plates:?}")]
    Plates {
        /// The node.
        node: String,
        /// The node's plates (with any component axis).
        child: Vec<usize>,
        /// The parent.
        parent: String,
        /// The parent's plates.
        parent_plates: Vec<usize>,
    },
    /// Data or constants of the wrong size.
    #[error("node `{node}`: {what} has {got} values, expected {expected}")]
    Size {
        /// The node.
        node: String,
        /// Which array.
        what: String,
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A value outside the distribution's support (NaN, negative precision, …).
    #[error("node `{node}`: {what} at index {index} is {value}, {expected}")]
    Value {
        /// The node.
        node: String,
        /// Which array.
        what: String,
        /// Flat index.
        index: usize,
        /// The value found.
        value: f64,
        /// What was expected.
        expected: String,
    },
    /// A matrix that must be positive definite is not.
    #[error("node `{node}`: {what} is not positive definite")]
    NotPositiveDefinite {
        /// The node.
        node: String,
        /// Which matrix.
        what: String,
    },
    /// A graph with a cycle.
    #[error("the graph has a cycle through `{0}`")]
    Cycle(String),
    /// A setting out of range or unknown.
    #[error("setting `{name}`: {reason}")]
    Setting {
        /// The setting.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A size from input beyond the memory budget.
    #[error(transparent)]
    Budget(#[from] actinf_core::budget::BudgetError),
}
