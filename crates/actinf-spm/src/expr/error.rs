//! Errors of the expression reader and evaluator.
//!
//! Every error found in the text carries `pos`: the **0-based character
//! offset** (counted in Unicode scalar values, not bytes) of the offending
//! token in the expression text, so `"P.f*x +* v"` reports its second operator
//! at position 7. Shapes are `(rows, columns)`.

use thiserror::Error;

/// What went wrong while reading, compiling or evaluating an SPM expression.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprError {
    /// A character that starts no token of the subset (`@`, `&`, `\`, `%`, …).
    #[error("unexpected character {ch:?} at position {pos}")]
    BadCharacter {
        /// The character.
        ch: char,
        /// 0-based character offset.
        pos: usize,
    },
    /// A malformed number such as `1e` or `1e+`.
    #[error("malformed number {text:?} at position {pos}")]
    BadNumber {
        /// The text of the number.
        text: String,
        /// 0-based character offset.
        pos: usize,
    },
    /// A token the grammar does not allow where it stands.
    #[error("unexpected token {token:?} at position {pos}: expected {expected}")]
    UnexpectedToken {
        /// The token's text.
        token: String,
        /// 0-based character offset.
        pos: usize,
        /// What the grammar wanted there.
        expected: &'static str,
    },
    /// The text ended while the grammar wanted more.
    #[error("unexpected end of expression at position {pos}: expected {expected}")]
    UnexpectedEnd {
        /// 0-based character offset of the end of the text.
        pos: usize,
        /// What the grammar wanted there.
        expected: &'static str,
    },
    /// A `(` or `[` that is never closed.
    #[error("unbalanced {open:?} at position {pos}: no closing {close:?}")]
    Unclosed {
        /// The opening bracket.
        open: char,
        /// The closing bracket that is missing.
        close: char,
        /// 0-based character offset of the opening bracket.
        pos: usize,
    },
    /// A MATLAB construct outside the supported subset (strings, `\`,
    /// comparisons, several statements, matrix division, …).
    #[error("unsupported {what} at position {pos}")]
    Unsupported {
        /// What the construct is, in words.
        what: String,
        /// 0-based character offset.
        pos: usize,
    },
    /// A name that is neither a variable (`x`, `v`, `P`), a constant (`pi`)
    /// nor a supported function.
    #[error("unknown function or variable {name:?} at position {pos}")]
    UnknownName {
        /// The name.
        name: String,
        /// 0-based character offset.
        pos: usize,
    },
    /// `P.name` where the parameter structure has no such field (or `P` is a
    /// plain matrix).
    #[error("P has no field {field:?} (position {pos})")]
    UnknownField {
        /// The field's name.
        field: String,
        /// 0-based character offset of the field's name.
        pos: usize,
    },
    /// A structure used where a matrix is needed (`P + 1` when `P` has fields).
    #[error("a structure is not a matrix (position {pos})")]
    StructNotMatrix {
        /// 0-based character offset.
        pos: usize,
    },
    /// A function called with the wrong number of arguments.
    #[error("{name} takes {expected} argument(s), got {found} (position {pos})")]
    ArgumentCount {
        /// The function's name.
        name: String,
        /// What it accepts, in words.
        expected: &'static str,
        /// How many it got.
        found: usize,
        /// 0-based character offset of the function's name.
        pos: usize,
    },
    /// Operand shapes that the operation cannot combine.
    #[error("dimension mismatch in {op} at position {pos}: {left:?} and {right:?}")]
    DimensionMismatch {
        /// The operation (`+`, `*`, `horzcat`, …).
        op: &'static str,
        /// 0-based character offset of the operator.
        pos: usize,
        /// Shape of the left operand.
        left: (usize, usize),
        /// Shape of the right operand.
        right: (usize, usize),
    },
    /// An index, a dimension or a size argument that must be known before
    /// evaluation (a constant) but depends on `x`, `v` or `P`.
    #[error("{what} at position {pos} must be a constant, not depend on x, v or P")]
    NotConstant {
        /// What must be constant.
        what: &'static str,
        /// 0-based character offset.
        pos: usize,
    },
    /// An index or size that is not a non-negative integer (or, for an
    /// index, not positive).
    #[error("{what} at position {pos} must be a {expected}, got {value}")]
    NotAnInteger {
        /// What the number is used for.
        what: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The value found.
        value: f64,
        /// 0-based character offset.
        pos: usize,
    },
    /// An index beyond the indexed matrix (1-based, as in MATLAB).
    #[error("index {index} out of bounds for {shape:?} at position {pos}")]
    IndexOutOfBounds {
        /// The 1-based index.
        index: usize,
        /// Shape of the indexed matrix.
        shape: (usize, usize),
        /// 0-based character offset.
        pos: usize,
    },
    /// An input vector of the wrong length at evaluation.
    #[error("input {input} has length {found}, the expression was compiled for {expected}")]
    InputLength {
        /// Which input (`x`, `v`, `P`, or the parameter basis).
        input: &'static str,
        /// The length the expression was compiled for.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// An equation whose result has the wrong number of elements (SPM's
    /// "please check: M(i).f(x,v,P)": `f` must give one value per state).
    #[error("{what} gives {found} values, expected {expected}")]
    OutputLength {
        /// Which equation (`f`).
        what: &'static str,
        /// The number of values required.
        expected: usize,
        /// The number the expression gives.
        found: usize,
    },
    /// A parameter structure that cannot describe `P` (duplicate field names,
    /// data of the wrong length).
    #[error("invalid parameter structure: {reason}")]
    InvalidParams {
        /// What is wrong.
        reason: String,
    },
}
