//! Values of the supported MATLAB subset, each against a result worked out
//! by hand (as MATLAB gives it).

use actinf_spm::expr::{CompiledExpr, Param, Signature, Workspace};

/// x = [1; 2; 3], v = [0.5; -2],
/// P.a = [1 2; 3 4], P.b = [10; 20], P.c = 2, P.s.t = [7 8 9] (nested).
fn setup() -> (Signature, Vec<f64>, Vec<f64>, Vec<f64>) {
    let pe = Param::structure(vec![
        (
            "a".into(),
            Param::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap(),
        ),
        ("b".into(), Param::column(vec![10.0, 20.0])),
        ("c".into(), Param::from_rows(&[vec![2.0]]).unwrap()),
        (
            "s".into(),
            Param::structure(vec![(
                "t".into(),
                Param::from_rows(&[vec![7.0, 8.0, 9.0]]).unwrap(),
            )])
            .unwrap(),
        ),
    ])
    .unwrap();
    let sig = Signature::columns(3, 2, pe.layout());
    (sig, vec![1.0, 2.0, 3.0], vec![0.5, -2.0], pe.spm_vec())
}

/// Evaluates `text` and returns (shape, column-major values).
fn eval(text: &str) -> ((usize, usize), Vec<f64>) {
    let (sig, x, v, p) = setup();
    let expr = CompiledExpr::compile(text, &sig).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut ws = Workspace::new();
    let value = expr.value(&x, &v, &p, &mut ws).unwrap();
    (expr.output_shape(), value.as_slice().to_vec())
}

fn check(text: &str, shape: (usize, usize), want: &[f64]) {
    let (got_shape, got) = eval(text);
    assert_eq!(got_shape, shape, "{text}: shape");
    assert_eq!(got.len(), want.len(), "{text}");
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= 1e-14 * b.abs().max(1.0),
            "{text}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn numbers() {
    check("1e-3", (1, 1), &[1e-3]);
    check(".5", (1, 1), &[0.5]);
    check("2.5E+1", (1, 1), &[25.0]);
    check("3.", (1, 1), &[3.0]);
    check("pi", (1, 1), &[std::f64::consts::PI]);
}

#[test]
fn precedence_is_matlabs() {
    check("-2^2", (1, 1), &[-4.0]);
    check("2^-1", (1, 1), &[0.5]);
    check("2^3^2", (1, 1), &[64.0]);
    check("1 + 2*3", (1, 1), &[7.0]);
    check("(1 + 2)*3", (1, 1), &[9.0]);
    check("8/2/2", (1, 1), &[2.0]);
    check("1 - 2 - 3", (1, 1), &[-4.0]);
    check("-x(2)^2", (1, 1), &[-4.0]);
    check("2*-1", (1, 1), &[-2.0]);
    check("--3", (1, 1), &[3.0]);
    check("+3", (1, 1), &[3.0]);
    check("x';", (1, 3), &[1.0, 2.0, 3.0]);
    check("2.^x'", (1, 3), &[2.0, 4.0, 8.0]);
}

#[test]
fn variables_fields_and_nesting() {
    check("x", (3, 1), &[1.0, 2.0, 3.0]);
    check("v", (2, 1), &[0.5, -2.0]);
    check("P.a", (2, 2), &[1.0, 3.0, 2.0, 4.0]);
    check("P.c", (1, 1), &[2.0]);
    check("P.s.t", (1, 3), &[7.0, 8.0, 9.0]);
    check("P.s.t(2)", (1, 1), &[8.0]);
    check("P.a(2,1)", (1, 1), &[3.0]);
}

#[test]
fn matrix_operators() {
    check("P.a*v", (2, 1), &[0.5 - 4.0, 1.5 - 8.0]);
    check("P.a'", (2, 2), &[1.0, 2.0, 3.0, 4.0]);
    check("P.a.'", (2, 2), &[1.0, 2.0, 3.0, 4.0]);
    check("x'*x", (1, 1), &[14.0]);
    check(
        "x*x'",
        (3, 3),
        &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 6.0, 9.0],
    );
    check("P.a^2", (2, 2), &[7.0, 15.0, 10.0, 22.0]);
    check("P.a^0", (2, 2), &[1.0, 0.0, 0.0, 1.0]);
    check("P.c*x", (3, 1), &[2.0, 4.0, 6.0]);
    check("x*P.c", (3, 1), &[2.0, 4.0, 6.0]);
    check("x/2", (3, 1), &[0.5, 1.0, 1.5]);
    check("P.a .* P.a", (2, 2), &[1.0, 9.0, 4.0, 16.0]);
    check("P.a ./ P.a", (2, 2), &[1.0, 1.0, 1.0, 1.0]);
    check("P.a.^2", (2, 2), &[1.0, 9.0, 4.0, 16.0]);
    check("x.^x", (3, 1), &[1.0, 4.0, 27.0]);
    check("v.^2", (2, 1), &[0.25, 4.0]);
    check("(-2).^3", (1, 1), &[-8.0]);
    check("1 ./ x", (3, 1), &[1.0, 0.5, 1.0 / 3.0]);
    check("x - 1", (3, 1), &[0.0, 1.0, 2.0]);
    check("1 - x", (3, 1), &[0.0, -1.0, -2.0]);
    check("-x", (3, 1), &[-1.0, -2.0, -3.0]);
}

#[test]
fn implicit_expansion_of_rows_and_columns() {
    // column + row
    check("v + [1 2 3]", (2, 3), &[1.5, -1.0, 2.5, 0.0, 3.5, 1.0]);
    // matrix .* column
    check("P.a .* v", (2, 2), &[0.5, -6.0, 1.0, -8.0]);
}

#[test]
fn matrix_literals() {
    check("[1 2; 3 4]", (2, 2), &[1.0, 3.0, 2.0, 4.0]);
    check("[1, 2; 3, 4;]", (2, 2), &[1.0, 3.0, 2.0, 4.0]);
    check("[-1 -x(1)]", (1, 2), &[-1.0, -1.0]);
    check("[1 - 2]", (1, 1), &[-1.0]);
    check("[1 -2]", (1, 2), &[1.0, -2.0]);
    check("[1- 2]", (1, 1), &[-1.0]);
    check("[x(1) +x(2)]", (1, 2), &[1.0, 2.0]);
    check("[x; v]", (5, 1), &[1.0, 2.0, 3.0, 0.5, -2.0]);
    check("[x' v']", (1, 5), &[1.0, 2.0, 3.0, 0.5, -2.0]);
    check("[P.a v]", (2, 3), &[1.0, 3.0, 2.0, 4.0, 0.5, -2.0]);
    check("[P.a; P.b']", (3, 2), &[1.0, 3.0, 10.0, 2.0, 4.0, 20.0]);
    check("[[], x']", (1, 3), &[1.0, 2.0, 3.0]);
    check("[]", (0, 0), &[]);
    check("[x]", (3, 1), &[1.0, 2.0, 3.0]);
    check("[(1 -2)]", (1, 1), &[-1.0]);
    check("[x(1)' 2]", (1, 2), &[1.0, 2.0]);
}

#[test]
fn indexing() {
    check("x(2)", (1, 1), &[2.0]);
    check("x(1,:)", (1, 1), &[1.0]);
    check("x(:)", (3, 1), &[1.0, 2.0, 3.0]);
    check("P.a(:)", (4, 1), &[1.0, 3.0, 2.0, 4.0]);
    check("P.a(2,:)", (1, 2), &[3.0, 4.0]);
    check("P.a(:,2)", (2, 1), &[2.0, 4.0]);
    check("x(2:3)", (2, 1), &[2.0, 3.0]);
    check("x(end)", (1, 1), &[3.0]);
    check("x(end-1:end)", (2, 1), &[2.0, 3.0]);
    check("x(3:-1:1)", (3, 1), &[3.0, 2.0, 1.0]);
    check("x([1 1 2])", (3, 1), &[1.0, 1.0, 2.0]);
    check("P.s.t([1 3])", (1, 2), &[7.0, 9.0]);
    check("P.a([1 2])", (1, 2), &[1.0, 3.0]);
    check("P.a([1; 2])", (2, 1), &[1.0, 3.0]);
    check("P.a(end,end)", (1, 1), &[4.0]);
    check("v(:,:)", (2, 1), &[0.5, -2.0]);
    check("x()", (3, 1), &[1.0, 2.0, 3.0]);
    check("1:3", (1, 3), &[1.0, 2.0, 3.0]);
}

#[test]
fn functions() {
    check("sum(x)", (1, 1), &[6.0]);
    check("sum(x')", (1, 1), &[6.0]);
    check("sum(P.a)", (1, 2), &[4.0, 6.0]);
    check("sum(P.a, 2)", (2, 1), &[3.0, 7.0]);
    check("sum(P.a, 1)", (1, 2), &[4.0, 6.0]);
    check("sum([])", (1, 1), &[0.0]);
    check("exp(0*x)", (3, 1), &[1.0, 1.0, 1.0]);
    check("log(x)", (3, 1), &[0.0, 2f64.ln(), 3f64.ln()]);
    check("tanh(v)", (2, 1), &[0.5f64.tanh(), (-2f64).tanh()]);
    check("sqrt(x)", (3, 1), &[1.0, 2f64.sqrt(), 3f64.sqrt()]);
    check("abs(v)", (2, 1), &[0.5, 2.0]);
    check("sin(v)", (2, 1), &[0.5f64.sin(), (-2f64).sin()]);
    check("cos(v)", (2, 1), &[0.5f64.cos(), (-2f64).cos()]);
    check("sparse(0,1)", (0, 1), &[]);
    check("sparse(2,1) + v", (2, 1), &[0.5, -2.0]);
    check("sparse(x)", (3, 1), &[1.0, 2.0, 3.0]);
    check("zeros(2,1)", (2, 1), &[0.0, 0.0]);
    check("zeros(2)", (2, 2), &[0.0; 4]);
    check("zeros([1 2])", (1, 2), &[0.0; 2]);
    check("ones(1,2)", (1, 2), &[1.0, 1.0]);
    check("eye(2)*v", (2, 1), &[0.5, -2.0]);
    check("eye(2,3)", (2, 3), &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    check("zeros", (1, 1), &[0.0]);
}

#[test]
fn whitespace_line_breaks_and_trailing_semicolons() {
    check("  P.a * v ;", (2, 1), &[-3.5, -6.5]);
    check("x;;", (3, 1), &[1.0, 2.0, 3.0]);
    check("[1 2\n3 4]", (2, 2), &[1.0, 3.0, 2.0, 4.0]);
    check("[1\t2]", (1, 2), &[1.0, 2.0]);
}

#[test]
fn input_lengths_are_checked_at_evaluation() {
    let (sig, x, v, p) = setup();
    let expr = CompiledExpr::compile("x", &sig).unwrap();
    let mut ws = Workspace::new();
    assert_eq!(
        expr.value(&x[..2], &v, &p, &mut ws),
        Err(actinf_spm::expr::ExprError::InputLength {
            input: "x",
            expected: 3,
            found: 2
        })
    );
    assert!(expr.value(&x, &v, &p[1..], &mut ws).is_err());
    let mut out = [0.0; 2];
    assert!(expr.value_into(&x, &v, &p, &mut ws, &mut out).is_err());
}

#[test]
fn one_workspace_serves_several_expressions() {
    let (sig, x, v, p) = setup();
    let a = CompiledExpr::compile("[1 2]*v + 1", &sig).unwrap();
    let b = CompiledExpr::compile("x(1) + 10", &sig).unwrap();
    let mut ws = Workspace::new();
    for _ in 0..2 {
        assert_eq!(a.value(&x, &v, &p, &mut ws).unwrap()[0], 0.5 - 4.0 + 1.0);
        assert_eq!(b.value(&x, &v, &p, &mut ws).unwrap()[0], 11.0);
    }
}

#[test]
fn a_workspace_switches_between_a_parameter_basis_and_the_identity() {
    use actinf_spm::expr::{Derivatives, Order};
    use nalgebra::DMatrix;
    let pe = Param::column(vec![18.0, -4.0, 46.92]);
    let sig = Signature::columns(3, 1, pe.layout());
    let f = CompiledExpr::compile(
        "[-P(1) P(1) 0; (P(3)-x(3)) -1 -x(1); x(2) x(1) P(2)]*x/32;",
        &sig,
    )
    .unwrap();
    let (x, v, p) = ([1.0, 1.0, 16.0], [0.0], pe.spm_vec());
    // a basis as wide as P: the same jet sizes as the identity
    let u = DMatrix::from_row_slice(3, 3, &[0.5, 1.0, 0.0, 0.0, 2.0, 1.0, 1.0, 0.0, -1.0]);
    for order in [Order::Jacobians, Order::MixedSecond] {
        let mut shared = Workspace::new();
        let (mut a, mut b, mut fresh) =
            (Derivatives::new(), Derivatives::new(), Derivatives::new());
        f.evaluate(&x, &v, &p, Some(&u), order, &mut shared, &mut a)
            .unwrap();
        f.evaluate(&x, &v, &p, None, order, &mut shared, &mut b)
            .unwrap();
        f.evaluate(&x, &v, &p, None, order, &mut Workspace::new(), &mut fresh)
            .unwrap();
        assert_eq!(b, fresh);
        assert!((&a.dp - &fresh.dp * &u).amax() < 1e-15);
        f.evaluate(&x, &v, &p, Some(&u), order, &mut shared, &mut b)
            .unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn a_workspace_keeps_a_bounded_number_of_prepared_expressions() {
    let (sig, x, v, p) = setup();
    // more expressions than slots, cycled: results stay right as slots are reused
    let exprs: Vec<CompiledExpr> = (0..Workspace::SLOTS + 3)
        .map(|k| CompiledExpr::compile(&format!("x(1) + {k}"), &sig).unwrap())
        .collect();
    let mut ws = Workspace::new();
    for _ in 0..3 {
        for (k, e) in exprs.iter().enumerate() {
            assert_eq!(e.value(&x, &v, &p, &mut ws).unwrap()[0], 1.0 + k as f64);
        }
    }
}
