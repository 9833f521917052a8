//! The error type of the MDP replay.

use actinf_pomdp::PomdpError;
use thiserror::Error;

/// Everything that can be wrong with an SPM MDP description, a trial's
/// recorded inputs or the settings.
///
/// `field` is the place in the input: a JSON path such as
/// `cases[0].spec.A[1]` or `sequence.trials[3].o_outcomes[1][2]` (list
/// positions 0-based, as in the file), so a user can find the entry.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MdpError {
    /// A required field is missing.
    #[error("{field} is required but missing")]
    Missing {
        /// Where it was expected.
        field: String,
    },
    /// A field has the wrong JSON type (e.g. a string where numbers belong)
    /// or a list is ragged.
    #[error("{field} must be {expected}")]
    Type {
        /// The field.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// An array has the wrong shape.
    #[error("{field} has shape {got:?}, expected {expected}")]
    Shape {
        /// The field.
        field: String,
        /// The expected shape, in words (e.g. `[5, 4, 2]` or `[No, T]`).
        expected: String,
        /// The shape found.
        got: Vec<usize>,
    },
    /// A 1-based index (outcome, state, action) outside its range.
    #[error("{field} is {value}, expected a whole number in 1..={max}")]
    IndexOutOfRange {
        /// The field and entry.
        field: String,
        /// The value found.
        value: f64,
        /// The largest valid index.
        max: usize,
    },
    /// A number that is not allowed there (negative, NaN, infinite, zero).
    #[error("{field} is {value}, expected {expected}")]
    Value {
        /// The field and entry.
        field: String,
        /// The value found.
        value: f64,
        /// What was expected.
        expected: &'static str,
    },
    /// An SPM feature this replay does not implement.
    #[error("{field} is not supported: {reason}")]
    Unsupported {
        /// The field.
        field: String,
        /// Why, or what to do instead.
        reason: &'static str,
    },
    /// The engine refused its inputs.
    #[error("{context}: {source}")]
    Engine {
        /// What was being computed.
        context: String,
        /// The engine's error.
        #[source]
        source: PomdpError,
    },
}

impl MdpError {
    /// The same error with `prefix` put in front of its field (`prefix.field`),
    /// used to report errors with their full path in a document.
    pub fn within(self, prefix: &str) -> Self {
        let join = |f: String| {
            if prefix.is_empty() {
                f
            } else if f.starts_with('[') {
                format!("{prefix}{f}")
            } else {
                format!("{prefix}.{f}")
            }
        };
        match self {
            MdpError::Missing { field } => MdpError::Missing { field: join(field) },
            MdpError::Type { field, expected } => MdpError::Type {
                field: join(field),
                expected,
            },
            MdpError::Shape {
                field,
                expected,
                got,
            } => MdpError::Shape {
                field: join(field),
                expected,
                got,
            },
            MdpError::IndexOutOfRange { field, value, max } => MdpError::IndexOutOfRange {
                field: join(field),
                value,
                max,
            },
            MdpError::Value {
                field,
                value,
                expected,
            } => MdpError::Value {
                field: join(field),
                value,
                expected,
            },
            MdpError::Unsupported { field, reason } => MdpError::Unsupported {
                field: join(field),
                reason,
            },
            MdpError::Engine { context, source } => MdpError::Engine {
                context: join(context),
                source,
            },
        }
    }

    pub(crate) fn engine(context: impl Into<String>) -> impl FnOnce(PomdpError) -> Self {
        let context = context.into();
        move |source| MdpError::Engine { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_prefixes_fields_and_list_positions() {
        let e = MdpError::Missing { field: "A".into() }.within("cases[0].spec");
        assert_eq!(e.to_string(), "cases[0].spec.A is required but missing");
        let e = MdpError::Missing {
            field: "[2]".into(),
        }
        .within("trials");
        assert_eq!(
            e,
            MdpError::Missing {
                field: "trials[2]".into()
            }
        );
        let e = MdpError::Missing { field: "T".into() }.within("");
        assert_eq!(e, MdpError::Missing { field: "T".into() });
    }
}
