//! SPM's own finite differences (`spm_diff`), for an `spm` compatibility
//! mode: the same one-sided differences with SPM's step, bit for bit, and
//! close to the exact derivatives by as much as that step allows.

use actinf_spm::expr::{
    CompiledExpr, Derivatives, Order, Param, Signature, Workspace, SPM_DIFF_STEP,
};
use nalgebra::DMatrix;

const LORENZ_F: &str = "[-P(1) P(1) 0; (P(3)-x(3)) -1 -x(1); x(2) x(1) P(2)]*x/32;";

fn lorenz() -> (CompiledExpr, Vec<f64>) {
    let pe = Param::column(vec![18.0, -4.0, 46.92]);
    let sig = Signature::columns(3, 1, pe.layout());
    (CompiledExpr::compile(LORENZ_F, &sig).unwrap(), pe.spm_vec())
}

#[test]
fn the_step_is_spms() {
    assert_eq!(SPM_DIFF_STEP, (-8.0f64).exp());
}

#[test]
fn differences_are_spm_diffs_one_sided_formula() {
    let (f, p) = lorenz();
    let (x, v) = ([1.0, 1.0, 16.0], [0.0]);
    let mut ws = Workspace::new();
    let mut d = Derivatives::new();
    f.evaluate_spm_diff(&x, &v, &p, None, Order::MixedSecond, &mut ws, &mut d)
        .unwrap();
    let dx = SPM_DIFF_STEP;
    let f0 = f.value(&x, &v, &p, &mut ws).unwrap();
    // ∂f/∂x₃
    let x3 = [1.0, 1.0, 16.0 + dx];
    let want = (f.value(&x3, &v, &p, &mut ws).unwrap() - &f0) / dx;
    assert_eq!(d.dx.column(2), want);
    // ∂f/∂P₂
    let p2 = [18.0, -4.0 + dx, 46.92];
    let f_p2 = f.value(&x, &v, &p2, &mut ws).unwrap();
    assert_eq!(d.dp.column(1), (&f_p2 - &f0) / dx);
    // ∂/∂P₃ of ∂f/∂x₁: the difference of two differences
    let p3 = [18.0, -4.0, 46.92 + dx];
    let x1 = [1.0 + dx, 1.0, 16.0];
    let f_p3 = f.value(&x, &v, &p3, &mut ws).unwrap();
    let j_p3 = (f.value(&x1, &v, &p3, &mut ws).unwrap() - &f_p3) / dx;
    let j = (f.value(&x1, &v, &p, &mut ws).unwrap() - &f0) / dx;
    assert_eq!(d.dxp[2].column(0), (j_p3 - j) / dx);
    assert_eq!(d.value, f0);
}

#[test]
fn on_lorenz_the_differences_are_exact_up_to_rounding() {
    // Lorenz's flow has no square of any one state (only x₁x₃, x₁x₂) and is
    // linear in P, so a one-sided difference is exact but for rounding
    let (f, p) = lorenz();
    let (x, v) = ([0.9, 0.8, 30.0], [0.0]);
    let mut ws = Workspace::new();
    let (mut exact, mut spm) = (Derivatives::new(), Derivatives::new());
    f.evaluate(&x, &v, &p, None, Order::MixedSecond, &mut ws, &mut exact)
        .unwrap();
    f.evaluate_spm_diff(&x, &v, &p, None, Order::MixedSecond, &mut ws, &mut spm)
        .unwrap();
    assert!((&spm.dx - &exact.dx).amax() < 1e-10);
    assert!((&spm.dp - &exact.dp).amax() < 1e-10);
    for j in 0..3 {
        assert!((&spm.dxp[j] - &exact.dxp[j]).amax() < 1e-6, "dxp[{j}]");
    }
}

#[test]
fn on_a_square_the_differences_err_by_half_a_step() {
    let sig = Signature::columns(2, 1, Param::column(vec![0.5]).layout());
    let f = CompiledExpr::compile("P*x.^2", &sig).unwrap();
    let (x, v, p) = ([0.9, -0.3], [0.0], [0.5]);
    let mut ws = Workspace::new();
    let (mut exact, mut spm) = (Derivatives::new(), Derivatives::new());
    f.evaluate(&x, &v, &p, None, Order::MixedSecond, &mut ws, &mut exact)
        .unwrap();
    f.evaluate_spm_diff(&x, &v, &p, None, Order::MixedSecond, &mut ws, &mut spm)
        .unwrap();
    // (P(x+dx)² − P x²)/dx = 2Px + P·dx
    let err = &spm.dx - &exact.dx;
    assert!((err[(0, 0)] - 0.5 * SPM_DIFF_STEP).abs() < 1e-10, "{err}");
    assert!((err[(1, 1)] - 0.5 * SPM_DIFF_STEP).abs() < 1e-10, "{err}");
    // ∂/∂P of that: 2x + dx
    assert!((spm.dxp[0][(0, 0)] - (1.8 + SPM_DIFF_STEP)).abs() < 1e-8);
}

#[test]
fn with_a_basis_and_lower_orders() {
    let pe = Param::structure(vec![
        (
            "f".into(),
            Param::from_rows(&[vec![-0.25, 1.0], vec![-0.5, -0.25]]).unwrap(),
        ),
        ("h".into(), Param::column(vec![1.0, 0.0])),
    ])
    .unwrap();
    let sig = Signature::columns(2, 1, pe.layout());
    let f = CompiledExpr::compile("P.f*x + P.h*v", &sig).unwrap();
    let (x, v, p) = ([0.3, -1.2], [0.7], pe.spm_vec());
    // parameters 2 and 5 free, as in SPM's triple-estimation demo
    let mut u = DMatrix::zeros(6, 2);
    u[(1, 0)] = 1.0;
    u[(4, 1)] = 1.0;
    let mut ws = Workspace::new();
    let (mut exact, mut spm) = (Derivatives::new(), Derivatives::new());
    f.evaluate(
        &x,
        &v,
        &p,
        Some(&u),
        Order::MixedSecond,
        &mut ws,
        &mut exact,
    )
    .unwrap();
    f.evaluate_spm_diff(&x, &v, &p, Some(&u), Order::MixedSecond, &mut ws, &mut spm)
        .unwrap();
    assert_eq!(spm.dp.shape(), (2, 2));
    assert!((&spm.dp - &exact.dp).amax() < 1e-10);
    assert!((&spm.dx - &exact.dx).amax() < 1e-10);
    assert!((&spm.dv - &exact.dv).amax() < 1e-10);
    for j in 0..2 {
        assert!((&spm.dxp[j] - &exact.dxp[j]).amax() < 1e-7);
        assert!((&spm.dvp[j] - &exact.dvp[j]).amax() < 1e-7);
    }
    f.evaluate_spm_diff(&x, &v, &p, None, Order::StateJacobians, &mut ws, &mut spm)
        .unwrap();
    assert_eq!(spm.dp.shape(), (2, 0));
    assert!(spm.dxp.is_empty());
    f.evaluate_spm_diff(&x, &v, &p, None, Order::Value, &mut ws, &mut spm)
        .unwrap();
    assert_eq!(spm.dx.shape(), (2, 0));
    assert_eq!(spm.value, exact.value);
}
