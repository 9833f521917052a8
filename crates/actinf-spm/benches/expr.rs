//! Criterion benchmarks of SPM expression evaluation on the `f` and `g` of
//! SPM's demos as the SPM12 fixtures give them (text embedded here, so the
//! bench needs no fixtures):
//!
//! - convolution (`DEM_demo_convolution`): `P.f*x + P.h*v`, `P.g*x`, with
//!   `P` a structure of 14 parameters, 2 states, 1 cause;
//! - the same model as the generalized-filtering demo writes it, element
//!   by element over a plain 14-vector `P`;
//! - Lorenz (`DEM_demo_Lorenz`): the 3×3 flow matrix literal times `x`, and
//!   `sum(x)`, 3 parameters.
//!
//! For each: `value` (the value only), `states` (value and Jacobians in `x`
//! and `v`, what DEM's D-step needs), `mixed` (value, Jacobians in `x`, `v`,
//! `P` and the mixed second derivatives `∂²/∂x∂P`, `∂²/∂v∂P`, what DEM's
//! E-step needs), each one call of `CompiledExpr::evaluate` into reused
//! buffers; and `compile` (reading and compiling the text).

use std::hint::black_box;

use actinf_spm::expr::{CompiledExpr, Derivatives, Order, Param, Signature, Workspace};
use criterion::{criterion_group, criterion_main, Criterion};

fn convolution_pe() -> Param {
    Param::structure(vec![
        (
            "f".into(),
            Param::from_rows(&[vec![-0.25, 1.0], vec![-0.5, -0.25]]).unwrap(),
        ),
        (
            "g".into(),
            Param::from_rows(&[
                vec![0.125, 0.16332037060954707],
                vec![0.125, 0.06764951251827464],
                vec![0.125, -0.06764951251827463],
                vec![0.125, -0.16332037060954707],
            ])
            .unwrap(),
        ),
        ("h".into(), Param::column(vec![1.0, 0.0])),
    ])
    .unwrap()
}

struct Case {
    name: &'static str,
    text: &'static str,
    signature: Signature,
    x: Vec<f64>,
    v: Vec<f64>,
    p: Vec<f64>,
}

fn cases() -> Vec<Case> {
    let conv = convolution_pe();
    let p = conv.spm_vec();
    let plain = Param::column(p.clone()).layout();
    let lorenz = Param::column(vec![18.0, -4.0, 46.92]);
    let conv_case = |name, text, layout| Case {
        name,
        text,
        signature: Signature::columns(2, 1, layout),
        x: vec![0.3, -1.2],
        v: vec![0.7],
        p: p.clone(),
    };
    let lorenz_case = |name, text| Case {
        name,
        text,
        signature: Signature::columns(3, 1, lorenz.layout()),
        x: vec![0.9, 0.8, 30.0],
        v: vec![0.0],
        p: lorenz.spm_vec(),
    };
    vec![
        conv_case("convolution_f", "P.f*x + P.h*v", conv.layout()),
        conv_case("convolution_g", "P.g*x", conv.layout()),
        conv_case(
            "lap_f",
            "[P(1,:).*x(1,:)+P(3,:).*x(2,:)+P(13,:).*v(:,:);P(2,:).*x(1,:)+P(4,:).*x(2,:)+P(14,:).*v(:,:);]",
            plain.clone(),
        ),
        conv_case(
            "lap_g",
            "[P(5,:).*x(1,:)+P(9,:).*x(2,:);P(6,:).*x(1,:)+P(10,:).*x(2,:);P(7,:).*x(1,:)+P(11,:).*x(2,:);P(8,:).*x(1,:)+P(12,:).*x(2,:);]",
            plain,
        ),
        lorenz_case("lorenz_f", "[-P(1) P(1) 0; (P(3)-x(3)) -1 -x(1); x(2) x(1) P(2)]*x/32;"),
        lorenz_case("lorenz_g", "sum(x)"),
    ]
}

fn bench(c: &mut Criterion) {
    for case in cases() {
        let expr = CompiledExpr::compile(case.text, &case.signature).unwrap();
        let mut group = c.benchmark_group(format!("expr/{}", case.name));
        for (label, order) in [
            ("value", Order::Value),
            ("states", Order::StateJacobians),
            ("mixed", Order::MixedSecond),
        ] {
            let mut ws = Workspace::new();
            let mut out = Derivatives::new();
            group.bench_function(label, |b| {
                b.iter(|| {
                    expr.evaluate(
                        black_box(&case.x),
                        black_box(&case.v),
                        black_box(&case.p),
                        None,
                        order,
                        &mut ws,
                        &mut out,
                    )
                    .unwrap();
                    black_box(&out);
                })
            });
        }
        group.bench_function("compile", |b| {
            b.iter(|| CompiledExpr::compile(black_box(case.text), &case.signature).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
