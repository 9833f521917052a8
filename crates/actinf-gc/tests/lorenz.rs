//! The Lorenz attractor tracked from a wrong initial state by the nonlinear
//! D-step, on SPM12's own run of `DEM_demo_Lorenz` (`spm_DEM_M('Lorenz')`,
//! stored in `tests/fixtures/spm12/dem_lorenz.json`, a copy of the shared
//! SPM12 fixture: data `Y`, the true states and SPM's estimates `qU.x`).
//!
//! SPM's Lorenz model ([`actinf_gc::systems::lorenz_model`]) is the Lorenz
//! system rescaled by 1/32 in time, with parameters `P = [18, −4, 46.92]` and
//! a single observation, the sum of the states:
//!
//! ```text
//! f(x) = [[−P₁, P₁, 0], [P₃ − x₃, −1, −x₁], [x₂, x₁, P₂]] x / 32,   g(x) = x₁ + x₂ + x₃
//! ```
//!
//! with `Πz = 1`, `Πw = e¹⁶`, smoothness `s = 1/8`, `E.n = 6` (7 orders),
//! `dt = 1`, 64 samples; the inversion starts at `[1, 1, 16]`, the truth at
//! `[0.9, 0.8, 30]`. The states are compared in SPM's convention (column `t`
//! is the expectation before sample `t` is assimilated).

use std::path::Path;

use actinf_gc::dstep::{DStep, DStepSettings, DataMotion, Window};
use actinf_gc::model::LinearModel;
use actinf_gc::nonlinear::{ModelFn, NonlinearDStep, NonlinearModel, NonlinearSettings};
use actinf_gc::systems::{lorenz_model, lorenz_model_without_jacobians};
use actinf_gc::GcError;
use nalgebra::{DMatrix, DVector};
use serde_json::Value;

fn matrix(v: &Value) -> DMatrix<f64> {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

/// RMSE over all states of columns `range`.
fn rmse(a: &DMatrix<f64>, b: &DMatrix<f64>, range: std::ops::Range<usize>) -> f64 {
    let count = (range.len() * a.nrows()) as f64;
    let sse: f64 = range
        .map(|t| (a.column(t) - b.column(t)).norm_squared())
        .sum();
    (sse / count).sqrt()
}

fn spm_run() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spm12/dem_lorenz.json");
    let text = std::fs::read_to_string(path).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all["runs"][0].clone()
}

/// Tolerance on the state RMSE after the first quarter, relative to the
/// attractor's scale (the RMS deviation of the true states from their mean).
const RELATIVE_TOLERANCE: f64 = 0.25;

#[test]
fn lorenz_recovers_the_true_trajectory_after_the_transient() {
    let run = spm_run();
    let y = matrix(&run["Y"]);
    let truth = matrix(&run["true"]["x"]);
    let spm = matrix(&run["qU"]["x1"]);
    let big_t = y.ncols();
    assert_eq!((truth.shape(), spm.shape()), ((3, 64), (3, 64)));
    let mean = truth.column_mean();
    let scale = (truth
        .column_iter()
        .map(|c| (c - &mean).norm_squared())
        .sum::<f64>()
        / (3 * big_t) as f64)
        .sqrt();

    for analytic in [true, false] {
        let model = if analytic {
            lorenz_model()
        } else {
            lorenz_model_without_jacobians()
        }
        .unwrap();
        let mut d = NonlinearDStep::new(&model, NonlinearSettings::default()).unwrap();
        let mut mu = vec![0.0; 21];
        mu[..3].copy_from_slice(&[1.0, 1.0, 16.0]);
        d.set_state(&mu).unwrap();
        let trace = d.run(&y, &DMatrix::zeros(0, big_t)).unwrap();
        assert!(trace.free_energy.iter().all(|f| f.is_finite()));
        assert!(trace.x.iter().all(|x| x.is_finite()));
        let q = big_t / 4;
        println!(
            "Lorenz ({} Jacobians), attractor scale {scale:.2}: state RMSE per quarter",
            if analytic {
                "analytic"
            } else {
                "finite-difference"
            }
        );
        for k in 0..4 {
            println!(
                "  quarter {}: ours {:.3}   SPM {:.3}",
                k + 1,
                rmse(&trace.x, &truth, k * q..(k + 1) * q),
                rmse(&spm, &truth, k * q..(k + 1) * q)
            );
        }
        let ours = rmse(&trace.x, &truth, q..big_t);
        let theirs = rmse(&spm, &truth, q..big_t);
        println!(
            "  after the first quarter: ours {ours:.3}, SPM {theirs:.3}, tolerance {:.3} \
             ({RELATIVE_TOLERANCE} × scale); whole run: ours {:.3}, SPM {:.3}",
            RELATIVE_TOLERANCE * scale,
            rmse(&trace.x, &truth, 0..big_t),
            rmse(&spm, &truth, 0..big_t)
        );
        assert!(
            ours < RELATIVE_TOLERANCE * scale,
            "RMSE after the transient {ours} ≥ {RELATIVE_TOLERANCE} × {scale}"
        );
        // Same data, same scheme: within 5% of SPM's error after the transient.
        assert!(ours < 1.05 * theirs, "ours {ours} vs SPM {theirs}");
        let gap = (&trace.x - &spm).amax();
        println!("  largest difference from SPM's estimate: {gap:.2e}");
        assert!(gap < 1e-3, "differs from SPM's qU.x by {gap}");
        // The estimate starts far off (z: 16 vs 30) and must have improved.
        assert!(rmse(&trace.x, &truth, 0..q) > ours);
    }
}

#[test]
fn matches_the_linear_dstep_on_a_linear_model() {
    // SPM's convolution model (states 2, input 1, data 4), written as closures.
    let a = DMatrix::from_row_slice(2, 2, &[-0.25, 1.0, -0.5, -0.25]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.0]);
    let c = DMatrix::from_row_slice(
        4,
        2,
        &[0.125, 0.16, 0.125, 0.07, 0.125, -0.07, 0.125, -0.16],
    );
    let linear = LinearModel::new(
        a.clone(),
        b.clone(),
        c.clone(),
        DMatrix::zeros(4, 1),
        DMatrix::identity(4, 4) * 8.0,
        DMatrix::identity(2, 2) * 4.0,
    )
    .unwrap()
    .with_smoothness(1.0)
    .unwrap()
    .with_order(5)
    .unwrap();
    let (fa, fb, gc) = (a.clone(), b.clone(), c.clone());
    let f: ModelFn = Box::new(move |x, v| &fa * x + &fb * v);
    let g: ModelFn = Box::new(move |x, _| &gc * x);
    let nonlinear = NonlinearModel::new(
        2,
        1,
        4,
        f,
        g,
        DMatrix::identity(4, 4) * 8.0,
        DMatrix::identity(2, 2) * 4.0,
    )
    .unwrap()
    .with_smoothness(1.0)
    .unwrap()
    .with_order(5)
    .unwrap();
    let big_t = 32;
    let v = DMatrix::from_fn(1, big_t, |_, t| (-((t as f64 - 12.0).powi(2)) / 4.0).exp());
    let y = DMatrix::from_fn(4, big_t, |i, t| {
        ((t as f64) * 0.3 + i as f64).sin() * 0.5 + 0.1 * ((t * 7 + i * 3) % 5) as f64
    });
    let mut lin = DStep::new(
        &linear,
        DStepSettings {
            window: Window::Sample,
            data_motion: DataMotion::Shift,
            ..DStepSettings::default()
        },
    )
    .unwrap();
    let mut non = NonlinearDStep::new(&nonlinear, NonlinearSettings::default()).unwrap();
    let lt = lin.run(&y, &v).unwrap();
    let nt = non.run(&y, &v).unwrap();
    let diff = (&lt.generalized - &nt.generalized).amax();
    let size = lt.generalized.amax();
    println!("linear vs nonlinear D-step: max difference {diff:.2e} (scale {size:.2e})");
    assert!(diff < 1e-7 * (1.0 + size), "{diff}");
    for (a, b) in lt.free_energy.iter().zip(&nt.free_energy) {
        assert!((a - b).abs() < 1e-7 * (1.0 + a.abs()), "F {a} vs {b}");
    }
}

#[test]
fn an_exploding_flow_is_reported_as_divergence() {
    // exp overflows to infinity beyond x ≈ 709.8.
    let f: ModelFn = Box::new(|x, _| x.map(f64::exp));
    let g: ModelFn = Box::new(|x, _| DVector::from_element(1, x[0]));
    let m = NonlinearModel::new(
        1,
        0,
        1,
        f,
        g,
        DMatrix::identity(1, 1) * 1e-6,
        DMatrix::identity(1, 1) * 1e6,
    )
    .unwrap()
    .with_order(3)
    .unwrap();
    let mut d = NonlinearDStep::new(&m, NonlinearSettings::default()).unwrap();
    d.set_state(&[800.0, 0.0, 0.0]).unwrap();
    let y = DMatrix::zeros(1, 200);
    let e = d.run(&y, &DMatrix::zeros(0, 200)).unwrap_err();
    assert!(matches!(e, GcError::Diverged { .. }), "{e}");
}
