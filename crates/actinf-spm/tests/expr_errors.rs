//! Text outside the subset, or shapes MATLAB would reject, are refused with
//! a typed error naming the token and its 0-based character position.

use actinf_spm::expr::{CompiledExpr, ExprError, Param, Signature};

fn compile(text: &str) -> Result<CompiledExpr, ExprError> {
    let pe = Param::structure(vec![
        (
            "a".into(),
            Param::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap(),
        ),
        ("b".into(), Param::column(vec![10.0, 20.0, 30.0])),
    ])
    .unwrap();
    CompiledExpr::compile(text, &Signature::columns(2, 1, pe.layout()))
}

fn error(text: &str) -> ExprError {
    match compile(text) {
        Ok(_) => panic!("{text:?} compiled"),
        Err(e) => e,
    }
}

#[test]
fn unknown_function_or_variable() {
    assert_eq!(
        error("P.a*x + foo(v)"),
        ExprError::UnknownName {
            name: "foo".into(),
            pos: 8
        }
    );
    assert_eq!(
        error("y + 1"),
        ExprError::UnknownName {
            name: "y".into(),
            pos: 0
        }
    );
    assert_eq!(
        error("P.c"),
        ExprError::UnknownField {
            field: "c".into(),
            pos: 2
        }
    );
    assert_eq!(
        error("x.a"),
        ExprError::UnknownField {
            field: "a".into(),
            pos: 2
        }
    );
}

#[test]
fn bad_tokens() {
    assert_eq!(error("x @ v"), ExprError::BadCharacter { ch: '@', pos: 2 });
    assert_eq!(
        error("x +* v"),
        ExprError::UnexpectedToken {
            token: "*".into(),
            pos: 3,
            expected: "an operand"
        }
    );
    assert_eq!(
        error("x v"),
        ExprError::UnexpectedToken {
            token: "v".into(),
            pos: 2,
            expected: "an operator or the end of the expression"
        }
    );
    assert_eq!(
        error("x +"),
        ExprError::UnexpectedEnd {
            pos: 3,
            expected: "an operand"
        }
    );
    assert_eq!(
        error("x \\ v"),
        ExprError::Unsupported {
            what: "left division `\\`".into(),
            pos: 2
        }
    );
    assert_eq!(
        error("x > 0"),
        ExprError::Unsupported {
            what: "operator `>`".into(),
            pos: 2
        }
    );
    assert_eq!(
        error("['a' x]"),
        ExprError::Unsupported {
            what: "character string".into(),
            pos: 1
        }
    );
    assert_eq!(
        error("x % comment"),
        ExprError::Unsupported {
            what: "comment `%`".into(),
            pos: 2
        }
    );
    assert_eq!(
        error("1e"),
        ExprError::BadNumber {
            text: "1e".into(),
            pos: 0
        }
    );
    assert_eq!(
        error("x, v"),
        ExprError::Unsupported {
            what: "more than one statement".into(),
            pos: 1
        }
    );
    assert_eq!(
        error("P."),
        ExprError::UnexpectedEnd {
            pos: 2,
            expected: "a field name after `.`"
        }
    );
    // positions count characters, not bytes
    assert_eq!(error("x + é"), ExprError::BadCharacter { ch: 'é', pos: 4 });
}

#[test]
fn unbalanced_brackets() {
    assert_eq!(
        error("sum(x"),
        ExprError::Unclosed {
            open: '(',
            close: ')',
            pos: 3
        }
    );
    assert_eq!(
        error("[x; v"),
        ExprError::Unclosed {
            open: '[',
            close: ']',
            pos: 0
        }
    );
    assert_eq!(
        error("x)"),
        ExprError::UnexpectedToken {
            token: ")".into(),
            pos: 1,
            expected: "no closing bracket without an opening one"
        }
    );
    assert_eq!(
        error("[x)"),
        ExprError::UnexpectedToken {
            token: ")".into(),
            pos: 2,
            expected: "`]`"
        }
    );
}

#[test]
fn dimension_mismatches() {
    assert_eq!(
        error("P.a*x + P.b"),
        ExprError::DimensionMismatch {
            op: "+",
            pos: 6,
            left: (2, 1),
            right: (3, 1)
        }
    );
    assert_eq!(
        error("P.b*x"),
        ExprError::DimensionMismatch {
            op: "*",
            pos: 3,
            left: (3, 1),
            right: (2, 1)
        }
    );
    assert_eq!(
        error("x .* P.b"),
        ExprError::DimensionMismatch {
            op: ".*",
            pos: 2,
            left: (2, 1),
            right: (3, 1)
        }
    );
    assert_eq!(
        error("[x P.b]"),
        ExprError::DimensionMismatch {
            op: "horizontal concatenation",
            pos: 3,
            left: (2, 1),
            right: (3, 1)
        }
    );
    assert_eq!(
        error("[x'; P.b']"),
        ExprError::DimensionMismatch {
            op: "vertical concatenation",
            pos: 5,
            left: (1, 2),
            right: (1, 3)
        }
    );
    assert_eq!(
        error("P.b^2"),
        ExprError::DimensionMismatch {
            op: "^",
            pos: 3,
            left: (3, 1),
            right: (1, 1)
        }
    );
}

#[test]
fn indices_and_sizes() {
    assert_eq!(
        error("x(3)"),
        ExprError::IndexOutOfBounds {
            index: 3,
            shape: (2, 1),
            pos: 2
        }
    );
    assert_eq!(
        error("P.a(1,3)"),
        ExprError::IndexOutOfBounds {
            index: 3,
            shape: (2, 2),
            pos: 6
        }
    );
    assert_eq!(
        error("x(0)"),
        ExprError::NotAnInteger {
            what: "an index",
            expected: "positive integer",
            value: 0.0,
            pos: 2
        }
    );
    assert_eq!(
        error("x(1.5)"),
        ExprError::NotAnInteger {
            what: "an index",
            expected: "positive integer",
            value: 1.5,
            pos: 2
        }
    );
    assert_eq!(
        error("x(v)"),
        ExprError::NotConstant {
            what: "an index",
            pos: 2
        }
    );
    assert_eq!(
        error("zeros(x(1))"),
        ExprError::NotConstant {
            what: "a size",
            pos: 6
        }
    );
    assert_eq!(
        error("sparse(-1,1)"),
        ExprError::NotAnInteger {
            what: "a size",
            expected: "non-negative integer",
            value: -1.0,
            pos: 7
        }
    );
    assert_eq!(
        error("x(1,1,1)"),
        ExprError::Unsupported {
            what: "indexing with more than two subscripts".into(),
            pos: 0
        }
    );
    assert_eq!(
        error("end + 1"),
        ExprError::Unsupported {
            what: "`end` outside an index".into(),
            pos: 0
        }
    );
}

#[test]
fn unsupported_operations_and_calls() {
    assert_eq!(
        error("x / [1 2]"),
        ExprError::Unsupported {
            what: "matrix right division `/` by a non-scalar".into(),
            pos: 2
        }
    );
    assert_eq!(
        error("P.a^x(1)"),
        ExprError::Unsupported {
            what: "matrix power `^` other than square matrix ^ constant non-negative integer"
                .into(),
            pos: 3
        }
    );
    assert_eq!(
        error("exp(x, v)"),
        ExprError::ArgumentCount {
            name: "exp".into(),
            expected: "1",
            found: 2,
            pos: 0
        }
    );
    assert_eq!(
        error("sum"),
        ExprError::ArgumentCount {
            name: "sum".into(),
            expected: "1 or 2",
            found: 0,
            pos: 0
        }
    );
    assert_eq!(
        error("sum(P.a, 3)"),
        ExprError::Unsupported {
            what: "sum along dimension 3".into(),
            pos: 9
        }
    );
    assert_eq!(error("P + 1"), ExprError::StructNotMatrix { pos: 0 });
}

#[test]
fn errors_read_well() {
    assert_eq!(
        error("x +* v").to_string(),
        "unexpected token \"*\" at position 3: expected an operand"
    );
    assert_eq!(
        error("P.a*x + P.b").to_string(),
        "dimension mismatch in + at position 6: (2, 1) and (3, 1)"
    );
}

/// Random text over the subset's alphabet: compiling returns a value or an
/// error, and what compiles evaluates, in every order — never a panic.
#[test]
fn random_text_never_panics() {
    use actinf_spm::expr::{Derivatives, Order, Workspace};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    const PIECES: &[&str] = &[
        "x", "v", "P", "P.a", "P.b", ".", "a", "(", ")", "[", "]", ",", ";", ":", " ", "  ", "+",
        "-", "*", ".*", "/", "./", "^", ".^", "'", ".'", "1", "2", "0", "3.5", "1e-3", ".5", "end",
        "sum", "exp", "log", "tanh", "sparse", "zeros", "ones", "eye", "sqrt", "\n", "\t", "@",
        "%", "=", "é",
    ];
    let pe = Param::structure(vec![
        (
            "a".into(),
            Param::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap(),
        ),
        ("b".into(), Param::column(vec![10.0, 20.0, 30.0])),
    ])
    .unwrap();
    let sig = Signature::columns(2, 1, pe.layout());
    let p = pe.spm_vec();
    let mut rng = StdRng::seed_from_u64(99);
    let mut ws = Workspace::new();
    let mut out = Derivatives::new();
    let mut compiled = 0;
    for _ in 0..20_000 {
        let len = rng.random_range(0..12);
        let text: String = (0..len)
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect();
        if let Ok(expr) = CompiledExpr::compile(&text, &sig) {
            compiled += 1;
            for order in [
                Order::Value,
                Order::StateJacobians,
                Order::Jacobians,
                Order::MixedSecond,
            ] {
                expr.evaluate(&[0.5, -1.5], &[2.0], &p, None, order, &mut ws, &mut out)
                    .unwrap();
                assert_eq!(out.value.len(), expr.output_len());
            }
        }
    }
    assert!(compiled > 100, "only {compiled} random texts compiled");
}

#[test]
fn deep_or_long_text_is_refused_not_overflowing_the_stack() {
    let deep_parens = format!("{}x{}", "(".repeat(2000), ")".repeat(2000));
    assert!(
        matches!(error(&deep_parens), ExprError::Unsupported { what, .. } if what.starts_with("nesting deeper"))
    );
    let many_signs = format!("{}x", "-".repeat(3000));
    assert!(
        matches!(error(&many_signs), ExprError::Unsupported { what, .. } if what.starts_with("nesting deeper"))
    );
    let long_chain = vec!["x"; 1000].join("+");
    assert!(
        matches!(error(&long_chain), ExprError::Unsupported { what, .. } if what.starts_with("nesting deeper"))
    );
    let very_long = vec!["x"; 5000].join("+");
    assert_eq!(
        error(&very_long),
        ExprError::Unsupported {
            what: "expression longer than 4096 tokens".into(),
            pos: 4096
        }
    );
    // within the limits, deep text still works
    let fine = format!("{}x{}", "(".repeat(100), ")".repeat(100));
    assert!(compile(&fine).is_ok());
    assert!(compile(&vec!["x"; 150].join("+")).is_ok());
}
