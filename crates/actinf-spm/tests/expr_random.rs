//! Random expressions over the whole subset: every exact derivative the
//! evaluator gives (Jacobians in x, v, P; mixed second derivatives; a
//! parameter basis) agrees with central finite differences.

mod expr_support;

use actinf_spm::expr::{CompiledExpr, Param, Signature};
use expr_support::check_derivatives;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

type Shape = (usize, usize);

/// x is 3×1, v is 2×1; P.a is 3×3, P.b 3×1, P.c 1×1, P.d 2×3.
fn leaf(rng: &mut StdRng, shape: Shape) -> String {
    let text = leaf_text(rng, shape);
    // a product or a signed number is an operand only in parentheses
    if text.contains(['*', '+', '-']) {
        format!("({text})")
    } else {
        text
    }
}

fn leaf_text(rng: &mut StdRng, shape: Shape) -> String {
    fn pick(rng: &mut StdRng, options: Vec<String>) -> String {
        options[rng.random_range(0..options.len())].clone()
    }
    let i3 = rng.random_range(1..=3);
    let j3 = rng.random_range(1..=3);
    let i2 = rng.random_range(1..=2);
    let scalar = rng.random::<f64>() * 2.0 - 1.0;
    match shape {
        (1, 1) => pick(
            rng,
            vec![
                format!("{:.3}", scalar),
                format!("x({i3})"),
                format!("v({i2})"),
                "P.c".into(),
                format!("P.a({i3},{j3})"),
                format!("P.b({i3})"),
                format!("P.d(end,{j3})"),
                "x(end)".into(),
            ],
        ),
        (3, 1) => pick(
            rng,
            vec![
                "x".into(),
                "P.b".into(),
                "P.a*x".into(),
                format!("P.a(:,{j3})"),
                "P.d'*v".into(),
            ],
        ),
        (2, 1) => pick(
            rng,
            vec!["v".into(), "P.d*x".into(), "x(2:3)".into(), "x(1:2)".into()],
        ),
        (1, 3) => pick(
            rng,
            vec![
                "x'".into(),
                "P.b.'".into(),
                format!("P.a({i3},:)"),
                "v'*P.d".into(),
            ],
        ),
        (1, 2) => pick(rng, vec!["v'".into(), "x(1:2)'".into()]),
        (3, 3) => pick(rng, vec!["P.a".into(), "x*x'".into(), "P.a'".into()]),
        (2, 3) => pick(rng, vec!["P.d".into(), "v*x'".into()]),
        (3, 2) => pick(rng, vec!["P.d'".into(), "x*v'".into()]),
        (2, 2) => pick(rng, vec!["P.a(1:2,2:3)".into(), "v*v'".into()]),
        (r, c) => format!("(zeros({r},{c}) + {})", leaf(rng, (1, 1))),
    }
}

fn expression(rng: &mut StdRng, shape: Shape, depth: usize) -> String {
    if depth == 0 || rng.random::<f64>() < 0.2 {
        return leaf(rng, shape);
    }
    let d = depth - 1;
    let (r, c) = shape;
    match rng.random_range(0..22) {
        0 => format!(
            "({} + {})",
            expression(rng, shape, d),
            expression(rng, shape, d)
        ),
        1 => format!(
            "({} - {})",
            expression(rng, shape, d),
            expression(rng, shape, d)
        ),
        2 => format!(
            "({} .* {})",
            expression(rng, shape, d),
            expression(rng, shape, d)
        ),
        3 => format!(
            "({} .* {})",
            expression(rng, shape, d),
            expression(rng, (1, 1), d)
        ),
        4 => format!(
            "({} ./ (2 + {}.^2))",
            expression(rng, shape, d),
            expression(rng, shape, d)
        ),
        5 => format!("exp(0.3*{})", expression(rng, shape, d)),
        6 => format!("tanh({})", expression(rng, shape, d)),
        7 => format!("sin({})", expression(rng, shape, d)),
        8 => format!("cos({})", expression(rng, shape, d)),
        9 => format!("log(1 + {}.^2)", expression(rng, shape, d)),
        10 => format!("sqrt(1.5 + {}.^2)", expression(rng, shape, d)),
        11 => format!(
            "((1 + {}.^2).^(0.5*{}))",
            expression(rng, shape, d),
            expression(rng, shape, d)
        ),
        12 => format!("(-{})", expression(rng, shape, d)),
        13 => format!(
            "({}.^{})",
            expression(rng, shape, d),
            rng.random_range(2..=3)
        ),
        14 => {
            let k = rng.random_range(1..=3);
            format!(
                "({} * {})",
                expression(rng, (r, k), d),
                expression(rng, (k, c), d)
            )
        }
        15 => format!("({})'", expression(rng, (c, r), d)),
        16 => format!(
            "({} / (3 + cos({})))",
            expression(rng, shape, d),
            expression(rng, (1, 1), d)
        ),
        17 if c == 1 && r >= 2 => {
            format!(
                "[{}; {}]",
                expression(rng, (r - 1, 1), d),
                expression(rng, (1, 1), d)
            )
        }
        17 if r == 1 && c >= 2 => {
            // MATLAB's whitespace rule: ` -a` after an element starts a new element
            let sep = [", ", " ", " -"][rng.random_range(0..3)];
            format!(
                "[{}{sep}{}]",
                expression(rng, (1, c - 1), d),
                expression(rng, (1, 1), d)
            )
        }
        18 if shape == (1, 1) => {
            let k = rng.random_range(1..=3);
            format!("sum({})", expression(rng, (k, 1), d))
        }
        18 if r == 1 => {
            let k = rng.random_range(2..=3);
            format!("sum({})", expression(rng, (k, c), d))
        }
        19 if c == 1 => {
            let k = rng.random_range(1..=3);
            format!("sum({}, 2)", expression(rng, (r, k), d))
        }
        20 if shape == (r, r) => format!("({})^2", expression(rng, shape, d)),
        21 => format!(
            "({} * {})",
            expression(rng, (1, 1), d),
            expression(rng, shape, d)
        ),
        _ => leaf(rng, shape),
    }
}

fn params(rng: &mut impl Rng) -> Param {
    let mut matrix = |rows: usize, cols: usize| {
        Param::matrix(
            rows,
            cols,
            (0..rows * cols)
                .map(|_| rng.random::<f64>() * 2.0 - 1.0)
                .collect(),
        )
        .unwrap()
    };
    Param::structure(vec![
        ("a".into(), matrix(3, 3)),
        ("b".into(), matrix(3, 1)),
        ("c".into(), matrix(1, 1)),
        ("d".into(), matrix(2, 3)),
    ])
    .unwrap()
}

#[test]
fn random_expressions_have_exact_derivatives() {
    let mut rng = StdRng::seed_from_u64(2026);
    let shapes = [(1, 1), (2, 1), (3, 1), (1, 3), (2, 3), (3, 3)];
    let mut worst = 0.0_f64;
    for trial in 0..200 {
        let shape = shapes[trial % shapes.len()];
        let text = expression(&mut rng, shape, 4);
        let pe = params(&mut rng);
        let sig = Signature::columns(3, 2, pe.layout());
        let expr = CompiledExpr::compile(&text, &sig).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(expr.output_shape(), shape, "{text}");
        let x: Vec<f64> = (0..3).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        let v: Vec<f64> = (0..2).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        worst = worst.max(check_derivatives(&expr, &x, &v, &pe.spm_vec(), 1e-7));
    }
    eprintln!("largest relative deviation from central differences: {worst:e}");
}
