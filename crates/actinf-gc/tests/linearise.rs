//! Checks of the local-linearisation step: exact for linear flows
//! `x′ = J x + b` (regular, singular, nilpotent, oscillatory and stiff `J`),
//! against closed-form solutions, to 1e-12; the matrix exponential; bad
//! input.

use actinf_gc::linearise::{expm, local_linearisation_step};
use actinf_gc::GcError;
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;

/// `(e^x − 1)/x`, accurately, with its limit 1 at 0.
fn phi1(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        x.exp_m1() / x
    }
}

/// An orthogonal matrix: the product of Householder reflections.
fn orthogonal(n: usize) -> DMatrix<f64> {
    let mut q = DMatrix::identity(n, n);
    for r in 0..3 {
        let v = DVector::from_fn(n, |i, _| ((i + 1) as f64 * (r as f64 + 1.3)).sin());
        let v = &v / v.norm();
        let h = DMatrix::identity(n, n) - 2.0 * &v * v.transpose();
        q = h * q;
    }
    q
}

fn max_gap(a: &DVector<f64>, b: &DVector<f64>) -> f64 {
    (a - b).amax()
}

/// The exact solution of x′ = J x + b, J = Q Λ Qᵀ, over dt, mode by mode:
/// z(dt) = z + φ₁(λ dt) dt (λ z + c), z = Qᵀ x, c = Qᵀ b.
fn exact_symmetric(
    q: &DMatrix<f64>,
    lambda: &[f64],
    x: &DVector<f64>,
    b: &DVector<f64>,
    dt: f64,
) -> DVector<f64> {
    let (z, c) = (q.transpose() * x, q.transpose() * b);
    let dz = DVector::from_fn(lambda.len(), |i, _| {
        phi1(lambda[i] * dt) * dt * (lambda[i] * z[i] + c[i])
    });
    q * dz
}

#[test]
fn exact_for_symmetric_flows_including_singular() {
    // Tolerance 1e-12 (absolute; the states and steps are O(1)).
    let n = 5;
    let q = orthogonal(n);
    let x = DVector::from_vec(vec![0.3, -1.2, 0.8, 2.0, -0.4]);
    let b = DVector::from_vec(vec![1.0, 0.5, -0.7, 0.2, 0.0]);
    for lambda in [
        vec![-2.0, -0.5, -1e-3, -4.0, -1.0],
        vec![-2.0, -0.5, 0.0, 0.3, -1.0], // singular, one unstable mode
        vec![0.0, 0.0, 0.0, -1.0, -3.0],  // rank 2
        vec![0.0; 5],                     // J = 0: Δx = b dt
    ] {
        let j = &q * DMatrix::from_diagonal(&DVector::from_vec(lambda.clone())) * q.transpose();
        for dt in [1e-6, 0.01, 0.5, 2.0] {
            let f = &j * &x + &b;
            let dx = local_linearisation_step(&j, &f, dt).unwrap();
            let exact = exact_symmetric(&q, &lambda, &x, &b, dt);
            let gap = max_gap(&dx, &exact);
            println!("λ = {lambda:?}, dt = {dt}: gap {gap:.1e}");
            assert!(gap <= 1e-12, "λ = {lambda:?}, dt = {dt}: gap {gap:e}");
        }
    }
}

#[test]
fn exact_for_a_nilpotent_jacobian() {
    // x′ = J x + b with J a Jordan block of eigenvalue 0 (singular, not
    // diagonalisable): the exact solution is a polynomial in dt.
    let j = DMatrix::from_row_slice(3, 3, &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    let x = DVector::from_vec(vec![1.0, -2.0, 0.5]);
    let b = DVector::from_vec(vec![0.3, 0.1, -1.0]);
    for dt in [1e-3, 0.1, 1.0, 3.0] {
        let f = &j * &x + &b;
        let dx = local_linearisation_step(&j, &f, dt).unwrap();
        // x₃(t) = x₃ + b₃ t; x₂ = x₂ + (x₃ + b₂) t + b₃ t²/2;
        // x₁ = x₁ + (x₂ + b₁) t + (x₃ + b₂) t²/2 + b₃ t³/6.
        let exact = DVector::from_vec(vec![
            (x[1] + b[0]) * dt + (x[2] + b[1]) * dt * dt / 2.0 + b[2] * dt.powi(3) / 6.0,
            (x[2] + b[1]) * dt + b[2] * dt * dt / 2.0,
            b[2] * dt,
        ]);
        let gap = max_gap(&dx, &exact);
        println!("nilpotent, dt = {dt}: gap {gap:.1e}");
        assert!(
            gap <= 1e-12 * (1.0 + exact.amax()),
            "dt = {dt}: gap {gap:e}"
        );
    }
}

#[test]
fn exact_for_a_damped_rotation() {
    // J = [[−a, −ω], [ω, −a]]: exp(J t) = e^{−a t} R(ω t); the fixed point is
    // x* = −J⁻¹ b, and x(t) = x* + exp(J t)(x − x*).
    let (a, w) = (0.2f64, 3.0f64);
    let j = DMatrix::from_row_slice(2, 2, &[-a, -w, w, -a]);
    let b = DVector::from_vec(vec![1.0, -0.5]);
    let det = a * a + w * w;
    let jinv = DMatrix::from_row_slice(2, 2, &[-a / det, w / det, -w / det, -a / det]);
    let xstar = -(&jinv * &b);
    let x = DVector::from_vec(vec![0.7, 1.1]);
    for dt in [0.01, 0.4, 2.5, 10.0] {
        let (c, s) = ((w * dt).cos(), (w * dt).sin());
        let e = DMatrix::from_row_slice(2, 2, &[c, -s, s, c]) * (-a * dt).exp();
        let exact = &xstar + e * (&x - &xstar) - &x;
        let dx = local_linearisation_step(&j, &(&j * &x + &b), dt).unwrap();
        let gap = max_gap(&dx, &exact);
        println!("damped rotation, dt = {dt}: gap {gap:.1e}");
        assert!(gap <= 1e-12, "dt = {dt}: gap {gap:e}");
    }
    // A pure rotation (a = 0) is singular-free but undamped: still exact.
    let j = DMatrix::from_row_slice(2, 2, &[0.0, -w, w, 0.0]);
    let dt = 1.7;
    let x = DVector::from_vec(vec![1.0, 0.0]);
    let dx = local_linearisation_step(&j, &(&j * &x), dt).unwrap();
    let exact = DVector::from_vec(vec![(w * dt).cos() - 1.0, (w * dt).sin()]);
    assert!(max_gap(&dx, &exact) <= 1e-12);
}

#[test]
fn stiff_flows_reach_their_fixed_point() {
    // λ = −1e4, −50, −1, dt = 1: e^{−1e4 dt} underflows; the fast modes must
    // land on their fixed point, the slow one exactly. Relative 1e-12.
    let q = orthogonal(3);
    let lambda = [-1e4, -50.0, -1.0];
    let j = &q * DMatrix::from_diagonal(&DVector::from_row_slice(&lambda)) * q.transpose();
    let x = DVector::from_vec(vec![1.0, 2.0, 3.0]);
    let b = DVector::from_vec(vec![100.0, -20.0, 5.0]);
    let dx = local_linearisation_step(&j, &(&j * &x + &b), 1.0).unwrap();
    let exact = exact_symmetric(&q, &lambda, &x, &b, 1.0);
    let gap = max_gap(&dx, &exact);
    println!("stiff: gap {gap:.1e} (|Δx| {:.1e})", exact.amax());
    assert!(gap <= 1e-12 * exact.amax().max(1.0), "gap {gap:e}");
}

#[test]
fn scalar_steps() {
    // dx = (e^{λ dt} − 1)/λ · f, including λ = 0 and tiny λ dt where the
    // naive formula cancels. Relative 1e-13.
    for lambda in [-3.0, -1e-9, 0.0, 1e-12, 0.5, 5.0] {
        for dt in [1e-4, 0.3, 2.0] {
            let f = 1.7;
            let dx = local_linearisation_step(
                &DMatrix::from_element(1, 1, lambda),
                &DVector::from_element(1, f),
                dt,
            )
            .unwrap()[0];
            let exact = phi1(lambda * dt) * dt * f;
            assert!(
                (dx - exact).abs() <= 1e-13 * exact.abs(),
                "λ = {lambda}, dt = {dt}: {dx} vs {exact}"
            );
        }
    }
}

#[test]
fn scale_of_f_does_not_matter() {
    // The step is linear in f: huge and tiny flows give the scaled step.
    let j = DMatrix::from_row_slice(2, 2, &[-1.0, 2.0, 0.0, -0.5]);
    let f = DVector::from_vec(vec![0.3, -0.8]);
    let base = local_linearisation_step(&j, &f, 0.7).unwrap();
    for scale in [1e-200, 1e-8, 1e8, 1e200] {
        let dx = local_linearisation_step(&j, &(&f * scale), 0.7).unwrap();
        assert!(max_gap(&(dx / scale), &base) <= 1e-15 * base.amax() * 10.0);
    }
    let zero = local_linearisation_step(&j, &DVector::zeros(2), 0.7).unwrap();
    assert_eq!(zero, DVector::zeros(2));
}

#[test]
fn matrix_exponential() {
    // exp(A) exp(−A) = I and agreement with nalgebra's (Al-Mohy & Higham
    // 2009) exponential, over norms from 1e-3 to 1e2; relative 1e-12.
    for (k, norm) in [1e-3, 0.1, 0.9, 2.0, 5.0, 30.0, 100.0].iter().enumerate() {
        let a = DMatrix::from_fn(4, 4, |i, j| ((i * 4 + j + k) as f64 * 0.77).sin());
        let a = &a * (norm / a.abs().column_sum().max());
        let e = expm(&a).unwrap();
        let reference = a.clone().exp();
        let rel = (&e - &reference).amax() / reference.amax();
        println!("‖A‖₁ = {norm}: relative gap to nalgebra {rel:.1e}");
        assert!(rel <= 1e-12, "‖A‖₁ = {norm}: vs nalgebra {rel:e}");
        if *norm <= 5.0 {
            let round = &e * expm(&(-&a)).unwrap() - DMatrix::identity(4, 4);
            assert!(round.amax() <= 1e-12, "‖A‖₁ = {norm}: {:e}", round.amax());
        }
    }
    assert_eq!(
        expm(&DMatrix::zeros(3, 3)).unwrap(),
        DMatrix::identity(3, 3)
    );
    assert_eq!(expm(&DMatrix::zeros(0, 0)).unwrap().shape(), (0, 0));
    let d = expm(&DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, -2.0]))).unwrap();
    assert!((d[(0, 0)] - 1f64.exp()).abs() <= 1e-15 * 3.0);
    assert!((d[(1, 1)] - (-2f64).exp()).abs() <= 1e-16);
    assert_eq!((d[(0, 1)], d[(1, 0)]), (0.0, 0.0));
}

#[test]
fn bad_input_is_an_error() {
    let j = DMatrix::from_element(2, 2, -1.0);
    let f = DVector::from_element(2, 1.0);
    assert!(matches!(
        local_linearisation_step(&DMatrix::zeros(2, 3), &f, 0.1),
        Err(GcError::Dimension { .. })
    ));
    assert!(matches!(
        local_linearisation_step(&j, &DVector::zeros(3), 0.1),
        Err(GcError::Dimension { .. })
    ));
    for dt in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(
                local_linearisation_step(&j, &f, dt),
                Err(GcError::Setting { .. })
            ),
            "dt = {dt}"
        );
    }
    let mut bad = j.clone();
    bad[(1, 0)] = f64::NAN;
    assert!(matches!(
        local_linearisation_step(&bad, &f, 0.1),
        Err(GcError::Value { index: 1, .. })
    ));
    assert!(matches!(
        local_linearisation_step(&j, &DVector::from_vec(vec![1.0, f64::INFINITY]), 0.1),
        Err(GcError::Value { index: 1, .. })
    ));
    // An unstable flow over a long step overflows: an error, not infinity.
    let unstable = DMatrix::from_element(1, 1, 1000.0);
    assert!(matches!(
        local_linearisation_step(&unstable, &DVector::from_element(1, 1.0), 10.0),
        Err(GcError::Value { .. })
    ));
    // J·dt whose norm overflows.
    let huge = DMatrix::from_element(2, 2, 1e308);
    assert!(local_linearisation_step(&huge, &f, 10.0).is_err());
    assert!(matches!(
        expm(&DMatrix::zeros(2, 3)),
        Err(GcError::Dimension { .. })
    ));
    // Empty system: an empty step.
    assert_eq!(
        local_linearisation_step(&DMatrix::zeros(0, 0), &DVector::zeros(0), 1.0)
            .unwrap()
            .len(),
        0
    );
}

proptest! {
    /// For a linear flow, two half steps make one whole step (the exact flow
    /// is a semigroup); tolerance 1e-11 relative.
    #[test]
    fn two_half_steps_make_a_whole_step(
        entries in proptest::collection::vec(-2.0f64..2.0, 9),
        b in proptest::collection::vec(-1.0f64..1.0, 3),
        x in proptest::collection::vec(-1.0f64..1.0, 3),
        dt in 0.01f64..1.0,
    ) {
        let j = DMatrix::from_row_slice(3, 3, &entries);
        let (b, x) = (DVector::from_vec(b), DVector::from_vec(x));
        let whole = local_linearisation_step(&j, &(&j * &x + &b), dt).unwrap();
        let h1 = local_linearisation_step(&j, &(&j * &x + &b), dt / 2.0).unwrap();
        let mid = &x + &h1;
        let h2 = local_linearisation_step(&j, &(&j * &mid + &b), dt / 2.0).unwrap();
        let gap = (&whole - (h1 + h2)).amax();
        prop_assert!(gap <= 1e-11 * (1.0 + whole.amax()), "gap {:e}", gap);
    }
}
