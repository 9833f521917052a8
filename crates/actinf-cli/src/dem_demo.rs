//! `actinf demo gc triple`: triple estimation — states, parameters and noise
//! precisions learned together by DEM (Friston, Trujillo-Barreto &
//! Daunizeau 2008), on SPM's linear convolution model (as in SPM's
//! `DEM_demo_DEM`).
//!
//! The data are simulated from the convolution model with smooth noise
//! (`s = 1/2`, `Πz = e⁸ I`, `Πw = e⁶ I`) driven by a Gaussian input bump.
//! The inversion model does not know two of its parameters — the coupling
//! `A(2,1)` of the second state to the first and the weight `C(1,1)` of the
//! first state in the first channel — which start at 0 with prior variance
//! `e⁸`, nor the two noise precisions: as in SPM's demo, `Π = I + exp(h) I`
//! (outputs) and `I + exp(g) I` (states) with priors `h, g ~ N(0, 1)`. The
//! input is known (the top causes' prior expectation is the bump, with
//! precision `e⁸`). Like SPM's demo, the scheme is run for 16 iterations.

use std::sync::Arc;

use actinf_gc::dem::{Dem, DemResult, DemSettings};
use actinf_gc::hierarchical::{CauseLevel, FnLevel, HierarchicalModel, Level, LogPrecisionPrior};
use actinf_gc::simulate::{simulate_linear, Simulation};
use anyhow::Result;
use nalgebra::{DMatrix, DVector};

use crate::gc_spec::convolution_model;

/// Index in `θ = [vec(A); vec(C); vec(B)]` of the free `A(2,1)`.
const FREE_A21: usize = 1;
/// Index of the free `C(1,1)`.
const FREE_C11: usize = 4;

/// Smoothness of the simulated noise.
const SMOOTHNESS: f64 = 0.5;
/// True log-precision of the observation noise.
const LOG_PI_Z: f64 = 8.0;
/// True log-precision of the state noise.
const LOG_PI_W: f64 = 6.0;

/// What the demo found.
pub struct TripleEstimation {
    /// The simulated data and true states.
    pub simulation: Simulation,
    /// DEM's result.
    pub result: DemResult,
    /// True values of the free parameters `A(2,1)`, `C(1,1)`.
    pub true_parameters: [f64; 2],
    /// True log-precisions `[ln Πz, ln Πw]`.
    pub true_log_precisions: [f64; 2],
}

/// The convolution level over `θ = [vec(A) (4); vec(C) (8); vec(B) (2)]`
/// (column-major, SPM's `spm_vec` order of `P.f`, `P.g`, `P.h`).
fn convolution_level() -> FnLevel {
    FnLevel::new(
        2,
        4,
        |x, v, p| {
            let a = DMatrix::from_column_slice(2, 2, &p[0..4]);
            let b = DVector::from_column_slice(&p[12..14]);
            a * DVector::from_column_slice(x) + b * v[0]
        },
        |x, _v, p| DMatrix::from_column_slice(4, 2, &p[4..12]) * DVector::from_column_slice(x),
    )
}

/// Simulates `samples` samples with `seed` and runs DEM with `order`
/// generalized orders of the states for at most `iterations` iterations.
pub fn triple_estimation(
    order: usize,
    seed: u64,
    samples: usize,
    iterations: usize,
) -> Result<TripleEstimation> {
    let base = convolution_model(order, SMOOTHNESS)?;
    let truth = actinf_gc::model::LinearModel::new(
        base.a().clone(),
        base.b().clone(),
        base.c().clone(),
        base.d().clone(),
        DMatrix::identity(4, 4) * LOG_PI_Z.exp(),
        DMatrix::identity(2, 2) * LOG_PI_W.exp(),
    )?
    .with_smoothness(SMOOTHNESS)?;
    let bump = |t: f64| DVector::from_element(1, (-(t - 12.0).powi(2) / 4.0).exp());
    let simulation = simulate_linear(&truth, &bump, samples, 1.0, 40, seed)?;
    let mut prior_mean: Vec<f64> = truth.a().iter().copied().collect();
    prior_mean.extend(truth.c().iter().copied());
    prior_mean.extend(truth.b().iter().copied());
    let true_parameters = [prior_mean[FREE_A21], prior_mean[FREE_C11]];
    prior_mean[FREE_A21] = 0.0;
    prior_mean[FREE_C11] = 0.0;
    let mut prior_cov = DMatrix::zeros(14, 14);
    prior_cov[(FREE_A21, FREE_A21)] = 8f64.exp();
    prior_cov[(FREE_C11, FREE_C11)] = 8f64.exp();
    let weak = |k: usize| LogPrecisionPrior {
        mean: DVector::zeros(k),
        covariance: DMatrix::identity(k, k),
    };
    let level = Level {
        functions: Arc::new(convolution_level()),
        outputs: 4,
        states: 2,
        causes: 1,
        x0: DVector::zeros(2),
        v0: DVector::zeros(1),
        parameter_mean: DVector::from_vec(prior_mean),
        parameter_covariance: prior_cov,
        output_precision: DMatrix::identity(4, 4),
        state_precision: DMatrix::identity(2, 2),
        output_components: vec![DMatrix::identity(4, 4)],
        state_components: vec![DMatrix::identity(2, 2)],
        output_log_precision: weak(1),
        state_log_precision: weak(1),
        state_prior_precision: DMatrix::zeros(2, 2),
        output_smoothness: SMOOTHNESS,
        state_smoothness: SMOOTHNESS,
    };
    let model = HierarchicalModel {
        levels: vec![level],
        top: CauseLevel {
            causes: 1,
            precision: DMatrix::from_element(1, 1, 8f64.exp()),
            components: Vec::new(),
            log_precision: LogPrecisionPrior::none(),
            smoothness: SMOOTHNESS,
        },
    };
    let settings = DemSettings {
        state_orders: order,
        cause_orders: 3.min(order),
        iterations,
        m_iterations: 8,
        linear: false,
        static_iterations: 1,
    };
    let result = Dem::new(model, settings)?.run(&simulation.y, &simulation.v)?;
    Ok(TripleEstimation {
        simulation,
        result,
        true_parameters,
        true_log_precisions: [truth.pi_z()[(0, 0)].ln(), truth.pi_w()[(0, 0)].ln()],
    })
}

/// Root-mean-square error of the estimated states against the truth.
pub fn state_rmse(run: &TripleEstimation) -> f64 {
    let d = &run.result.states - &run.simulation.x;
    (d.norm_squared() / d.len() as f64).sqrt()
}

/// The printed report: free energy per iteration, then the learned
/// quantities against the truth.
pub fn report(run: &TripleEstimation) -> String {
    let r = &run.result;
    let mut out = String::from("iteration  free energy (SPM's sign: higher is better)\n");
    for (i, f) in r.free_energy.iter().enumerate() {
        out += &format!("{:>9}  {:>12.3}\n", i + 1, f);
    }
    let sd = |i: usize| r.parameter_covariance[(i, i)].max(0.0).sqrt();
    out += &format!(
        "\n{:<16} {:>9} {:>9} {:>9}\n",
        "quantity", "truth", "estimate", "post. sd"
    );
    out += &format!(
        "{:<16} {:>9.4} {:>9.4} {:>9.4}\n",
        "A(2,1)",
        run.true_parameters[0],
        r.parameters[FREE_A21],
        sd(FREE_A21)
    );
    out += &format!(
        "{:<16} {:>9.4} {:>9.4} {:>9.4}\n",
        "C(1,1)",
        run.true_parameters[1],
        r.parameters[FREE_C11],
        sd(FREE_C11)
    );
    let hsd = |i: usize| r.log_precision_covariance[(i, i)].max(0.0).sqrt();
    out += &format!(
        "{:<16} {:>9.4} {:>9.4} {:>9.4}\n",
        "ln Πz (h)",
        run.true_log_precisions[0],
        r.output_log_precisions[0],
        hsd(0)
    );
    out += &format!(
        "{:<16} {:>9.4} {:>9.4} {:>9.4}\n",
        "ln Πw (g)",
        run.true_log_precisions[1],
        r.state_log_precisions[0],
        hsd(1)
    );
    out += &format!(
        "\nstate RMSE {:.4} after {} iterations\n",
        state_rmse(run),
        r.iterations
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_raises_free_energy_and_moves_parameters_toward_the_truth() {
        let run = triple_estimation(7, 1, 64, 16).unwrap();
        let f = &run.result.free_energy;
        assert!(f.windows(2).all(|w| w[1] >= w[0]), "{f:?}");
        assert!(f.last().unwrap() > &f[0]);
        // Both parameters start at 0; after learning they sit near the truth.
        let a21 = run.result.parameters[FREE_A21];
        let c11 = run.result.parameters[FREE_C11];
        assert!((a21 - run.true_parameters[0]).abs() < 0.1, "A(2,1) = {a21}");
        assert!(
            (c11 - run.true_parameters[1]).abs() < 0.02,
            "C(1,1) = {c11}"
        );
        let h = run.result.output_log_precisions[0];
        let g = run.result.state_log_precisions[0];
        assert!((h - run.true_log_precisions[0]).abs() < 1.5, "h = {h}");
        assert!((g - run.true_log_precisions[1]).abs() < 1.0, "g = {g}");
        assert!(state_rmse(&run) < 0.1);
    }
}
