//! Built-in nonlinear systems: models to invert and the processes that
//! generate their data.
//!
//! # The Lorenz attractor
//! The Lorenz (1963, "Deterministic nonperiodic flow") system as SPM12's
//! `DEM_demo_Lorenz` writes it (`spm_DEM_M('Lorenz')`, `spm_fx_lorenz`): time
//! rescaled by 1/32, parameters `P = [18, −4, 46.92]` and a single
//! observation, the sum of the states,
//!
//! ```text
//! f(x) = [[−P₁, P₁, 0], [P₃ − x₃, −1, −x₁], [x₂, x₁, P₂]] x / 32,   g(x) = x₁ + x₂ + x₃
//! ```
//!
//! with `Πz = 1`, `Πw = e¹⁶`, smoothness `s = 1/8` and 7 generalized
//! coordinates (SPM's `E.n = 6`), sampled every `dt = 1`. SPM simulates from
//! [`LORENZ_TRUE_START`] and inverts from [`LORENZ_WRONG_START`] (`z`: 16
//! instead of 30); the D-step recovers the trajectory after a transient
//! (`tests/lorenz.rs` reproduces SPM's own run).

use nalgebra::{DMatrix, DVector};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::GcError;
use crate::nonlinear::{ModelFn, NonlinearModel};
use crate::simulate::{smooth_noise, Simulation};

/// SPM's Lorenz parameters `P = [18, −4, 46.92]`.
pub const LORENZ_P: [f64; 3] = [18.0, -4.0, 46.92];
/// The time rescaling of SPM's Lorenz flow (`f` is divided by it).
pub const LORENZ_TIME_SCALE: f64 = 32.0;
/// The true initial state of SPM's `DEM_demo_Lorenz`.
pub const LORENZ_TRUE_START: [f64; 3] = [0.9, 0.8, 30.0];
/// The initial expectation SPM's `DEM_demo_Lorenz` inverts from.
pub const LORENZ_WRONG_START: [f64; 3] = [1.0, 1.0, 16.0];
/// RK4 steps per sample in [`simulate_lorenz`].
pub const LORENZ_SUBSTEPS: usize = 32;

/// SPM's rescaled Lorenz flow `f(x)` (module docs).
pub fn lorenz_flow(x: &DVector<f64>) -> DVector<f64> {
    let p = LORENZ_P;
    DVector::from_vec(vec![
        (-p[0] * x[0] + p[0] * x[1]) / LORENZ_TIME_SCALE,
        ((p[2] - x[2]) * x[0] - x[1] - x[0] * x[2]) / LORENZ_TIME_SCALE,
        (x[1] * x[0] + x[0] * x[1] + p[1] * x[2]) / LORENZ_TIME_SCALE,
    ])
}

/// The analytic Jacobian `∂f/∂x` of [`lorenz_flow`].
pub fn lorenz_flow_jacobian(x: &DVector<f64>) -> DMatrix<f64> {
    let p = LORENZ_P;
    DMatrix::from_row_slice(
        3,
        3,
        &[
            -p[0],
            p[0],
            0.0,
            p[2] - 2.0 * x[2],
            -1.0,
            -2.0 * x[0],
            2.0 * x[1],
            2.0 * x[0],
            p[1],
        ],
    ) / LORENZ_TIME_SCALE
}

/// SPM's Lorenz model (module docs) with analytic Jacobians of `f` and `g`.
///
/// # Errors
/// None in practice (the constants are valid); the constructor's
/// [`GcError`]s are passed on.
pub fn lorenz_model() -> Result<NonlinearModel, GcError> {
    Ok(lorenz_model_without_jacobians()?
        .with_flow_jacobian(Box::new(|x, _| {
            (lorenz_flow_jacobian(x), DMatrix::zeros(3, 0))
        }))
        .with_observation_jacobian(Box::new(|_, _| {
            (DMatrix::from_element(1, 3, 1.0), DMatrix::zeros(1, 0))
        })))
}

/// SPM's Lorenz model with no analytic Jacobians: the D-step takes them by
/// finite differences.
///
/// # Errors
/// As [`lorenz_model`].
pub fn lorenz_model_without_jacobians() -> Result<NonlinearModel, GcError> {
    let f: ModelFn = Box::new(|x, _| lorenz_flow(x));
    let g: ModelFn = Box::new(|x, _| DVector::from_element(1, x.sum()));
    NonlinearModel::new(
        3,
        0,
        1,
        f,
        g,
        DMatrix::identity(1, 1),
        DMatrix::identity(3, 3) * 16f64.exp(),
    )?
    .with_smoothness(0.125)?
    .with_order(7)
}

/// Simulate SPM's Lorenz system for `samples` samples (`dt = 1`) from
/// `start`: the flow [`lorenz_flow`] integrated by fourth-order Runge–Kutta
/// with [`LORENZ_SUBSTEPS`] steps per sample, observed as
/// `y = x₁ + x₂ + x₃ + z` with smooth observation noise `z`
/// ([`smooth_noise`], smoothness 1/8 as the model's, standard deviation
/// `noise_sd`, drawn with `seed`). The state noise is left out: the model's
/// `Πw = e¹⁶` gives it a standard deviation of `e⁻⁸ ≈ 3e-4`. Column `t` of
/// the result holds the state at sample `t` (column 0 is `start`); there are
/// no causes (`v` is `0 × samples`).
///
/// # Errors
/// [`GcError::Setting`] for no samples or a negative or non-finite
/// `noise_sd`; [`GcError::Diverged`] if the states stop being finite.
pub fn simulate_lorenz(
    start: [f64; 3],
    samples: usize,
    noise_sd: f64,
    seed: u64,
) -> Result<Simulation, GcError> {
    if samples == 0 || !(noise_sd.is_finite() && noise_sd >= 0.0) {
        return Err(GcError::Setting {
            name: "Lorenz simulation".into(),
            reason: format!(
                "needs samples ≥ 1 and a finite noise sd ≥ 0; got {samples}, {noise_sd}"
            ),
        });
    }
    let h = 1.0 / LORENZ_SUBSTEPS as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let z = smooth_noise(
        &mut rng,
        &DMatrix::from_element(1, 1, noise_sd),
        (samples - 1) * LORENZ_SUBSTEPS + 1,
        h,
        0.125,
    );
    let mut x = DVector::from_column_slice(&start);
    let mut sim = Simulation {
        x: DMatrix::zeros(3, samples),
        y: DMatrix::zeros(1, samples),
        v: DMatrix::zeros(0, samples),
    };
    for t in 0..samples {
        if x.iter().any(|v| !v.is_finite()) {
            return Err(GcError::Diverged {
                step: t,
                reason: "the simulated Lorenz states are not finite".into(),
            });
        }
        sim.x.column_mut(t).copy_from(&x);
        sim.y[(0, t)] = x.sum() + z[(0, t * LORENZ_SUBSTEPS)];
        if t + 1 == samples {
            break;
        }
        for _ in 0..LORENZ_SUBSTEPS {
            let k1 = lorenz_flow(&x);
            let k2 = lorenz_flow(&(&x + &k1 * (h / 2.0)));
            let k3 = lorenz_flow(&(&x + &k2 * (h / 2.0)));
            let k4 = lorenz_flow(&(&x + &k3 * h));
            x += (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
        }
    }
    Ok(sim)
}

/// A damped point mass pushed by action: position `p`, velocity `q`,
/// `p′ = q`, `q′ = −q/2 + a`, both sensed (the process of the reaching demo;
/// Friston et al. 2010, "Action and behavior: a free-energy formulation").
pub fn point_mass() -> crate::action::LinearProcess {
    crate::action::LinearProcess::new(
        DMatrix::from_row_slice(2, 2, &[0.0, 1.0, 0.0, -0.5]),
        DMatrix::from_row_slice(2, 1, &[0.0, 1.0]),
        DMatrix::identity(2, 2),
    )
    .expect("fixed, valid matrices")
}

/// The reaching agent's model: it believes a spring pulls it to the set
/// point `η` (its known cause), `p′ = q`, `q′ = −k₁(p − η) − k₂ q`, senses
/// both states with unit precisions, embedding order 4.
pub fn set_point_model(k1: f64, k2: f64) -> Result<crate::model::LinearModel, GcError> {
    crate::model::LinearModel::new(
        DMatrix::from_row_slice(2, 2, &[0.0, 1.0, -k1, -k2]),
        DMatrix::from_row_slice(2, 1, &[0.0, k1]),
        DMatrix::identity(2, 2),
        DMatrix::zeros(2, 1),
        DMatrix::identity(2, 2),
        DMatrix::identity(2, 2),
    )?
    .with_order(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_analytic_jacobians_match_finite_differences() {
        let analytic = lorenz_model().unwrap();
        let numeric = lorenz_model_without_jacobians().unwrap();
        let x = DVector::from_vec(vec![3.0, -2.0, 25.0]);
        let v = DVector::zeros(0);
        let (a, _) = analytic.flow_jacobians(&x, &v).unwrap();
        let (b, _) = numeric.flow_jacobians(&x, &v).unwrap();
        assert!((&a - &b).amax() < 1e-8, "{a} vs {b}");
        let (a, _) = analytic.observation_jacobians(&x, &v).unwrap();
        let (b, _) = numeric.observation_jacobians(&x, &v).unwrap();
        assert!((&a - &b).amax() < 1e-8, "{a} vs {b}");
    }

    #[test]
    fn the_simulation_follows_spms_true_states() {
        // SPM12's true states at samples 1 and 2 of `DEM_demo_Lorenz`
        // (tests/fixtures/spm12/dem_lorenz.json, `true.x`). SPM integrates
        // with one local-linearisation step per sample and adds its tiny
        // state noise, so the two agree to about 1%, not to RK4's accuracy.
        let spm = [
            [0.7851110760054035, 0.5327852371026518, 26.506452412452404],
            [0.6527823210224405, 0.45888131974051816, 23.411804772937614],
        ];
        let sim = simulate_lorenz(LORENZ_TRUE_START, 3, 0.0, 0).unwrap();
        assert_eq!(sim.x.column(0).as_slice(), &LORENZ_TRUE_START);
        for (t, s) in spm.iter().enumerate() {
            for (i, &want) in s.iter().enumerate() {
                let ours = sim.x[(i, t + 1)];
                let close = (ours - want).abs() < 0.02 * (1.0 + want.abs());
                assert!(close, "{ours} vs {want}");
            }
        }
        assert!((sim.y.row(0) - sim.x.row_sum()).amax() < 1e-12);
        assert_eq!(sim.v.shape(), (0, 3));
    }

    #[test]
    fn the_noise_is_seeded_and_scaled() {
        let a = simulate_lorenz(LORENZ_TRUE_START, 400, 1.0, 7).unwrap();
        let b = simulate_lorenz(LORENZ_TRUE_START, 400, 1.0, 7).unwrap();
        let c = simulate_lorenz(LORENZ_TRUE_START, 400, 1.0, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.y, c.y);
        let z = a.y.row(0) - a.x.row_sum();
        let sd = (z.norm_squared() / z.len() as f64).sqrt();
        assert!((sd - 1.0).abs() < 0.15, "noise sd {sd}");
        assert!(simulate_lorenz(LORENZ_TRUE_START, 0, 1.0, 0).is_err());
        assert!(simulate_lorenz(LORENZ_TRUE_START, 4, f64::NAN, 0).is_err());
    }
}
