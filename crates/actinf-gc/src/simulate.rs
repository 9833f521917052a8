//! Generative processes for linear dynamic models driven by smooth noise:
//! the data a demo or a test inverts.
//!
//! Smooth noise is white noise convolved with a Gaussian kernel
//! `exp(−τ²/(2s²))` on a fine grid, normalised to unit variance and coloured
//! by the Cholesky factor of the noise covariance, so its autocorrelation is
//! `exp(−τ²/(4s²))`, the form the temporal precision assumes (Friston 2008,
//! "Hierarchical models in the brain", eq. 4). The states follow
//! `x′ = A x + B v + w` by fourth-order Runge–Kutta on that grid and are
//! sampled every `dt` as `y = C x + D v + z`.

use nalgebra::{DMatrix, DVector};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::error::GcError;
use crate::model::LinearModel;

/// A simulated run: true states, data and causes at the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// True states, `nx × T`.
    pub x: DMatrix<f64>,
    /// Data, `ny × T`.
    pub y: DMatrix<f64>,
    /// Causes (known inputs) at the samples, `nv × T`.
    pub v: DMatrix<f64>,
}

fn standard_normal(rng: &mut StdRng) -> f64 {
    // Box–Muller.
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// `dims × len` smooth noise of smoothness `s` on a grid of spacing `h`,
/// unit variance per channel before colouring by `chol` (lower triangular,
/// `dims × dims`).
pub fn smooth_noise(
    rng: &mut StdRng,
    chol: &DMatrix<f64>,
    len: usize,
    h: f64,
    s: f64,
) -> DMatrix<f64> {
    let dims = chol.nrows();
    let half = (4.0 * s / h).ceil() as usize;
    let kernel: Vec<f64> = (0..=2 * half)
        .map(|m| {
            let tau = (m as f64 - half as f64) * h;
            (-tau * tau / (2.0 * s * s)).exp()
        })
        .collect();
    let norm = kernel.iter().map(|k| k * k).sum::<f64>().sqrt();
    let white = DMatrix::from_fn(dims, len + 2 * half, |_, _| standard_normal(rng));
    let unit = DMatrix::from_fn(dims, len, |d, t| {
        kernel
            .iter()
            .enumerate()
            .map(|(m, k)| k * white[(d, t + m)])
            .sum::<f64>()
            / norm
    });
    chol * unit
}

fn covariance_factor(precision: &DMatrix<f64>, what: &str) -> Result<DMatrix<f64>, GcError> {
    let cov = precision
        .clone()
        .try_inverse()
        .ok_or_else(|| GcError::NotPositiveDefinite(what.into()))?;
    let chol =
        nalgebra::Cholesky::new(cov).ok_or_else(|| GcError::NotPositiveDefinite(what.into()))?;
    Ok(chol.l())
}

/// Simulate `samples` samples (spacing `dt`, `substeps` RK4 steps of the
/// noise grid per sample, even) of a linear model driven by the known input
/// `input(t)` (length `nv`) and smooth noise of the model's precisions and
/// smoothness, from `x(0) = 0`, with the given seed.
pub fn simulate_linear(
    model: &LinearModel,
    input: &dyn Fn(f64) -> DVector<f64>,
    samples: usize,
    dt: f64,
    substeps: usize,
    seed: u64,
) -> Result<Simulation, GcError> {
    if samples == 0 || substeps == 0 || substeps % 2 != 0 || !(dt > 0.0 && dt.is_finite()) {
        return Err(GcError::Setting {
            name: "simulation".into(),
            reason: format!(
                "needs samples ≥ 1, an even number of substeps and dt > 0; got {samples}, {substeps}, {dt}"
            ),
        });
    }
    let (a, b, c, d) = (model.a(), model.b(), model.c(), model.d());
    let (nx, nv, ny) = (model.nx(), model.nv(), model.ny());
    let s = model.smoothness();
    let mut rng = StdRng::seed_from_u64(seed);
    let h = dt / substeps as f64;
    let len = samples * substeps + 1;
    let w = smooth_noise(&mut rng, &covariance_factor(model.pi_w(), "Πw")?, len, h, s);
    let z = smooth_noise(&mut rng, &covariance_factor(model.pi_z(), "Πz")?, len, h, s);
    let flow = |x: &DVector<f64>, t: f64, k: usize| -> DVector<f64> {
        let v = input(t);
        a * x + b * v + w.column(k)
    };
    let mut x = DVector::zeros(nx);
    let mut sim = Simulation {
        x: DMatrix::zeros(nx, samples),
        y: DMatrix::zeros(ny, samples),
        v: DMatrix::zeros(nv, samples),
    };
    for t in 0..samples {
        let time = t as f64 * dt;
        let v = input(time);
        if v.len() != nv {
            return Err(GcError::Dimension {
                what: "simulation input".into(),
                expected: format!("{nv} causes"),
                got: format!("{}", v.len()),
            });
        }
        sim.x.column_mut(t).copy_from(&x);
        sim.v.column_mut(t).copy_from(&v);
        sim.y
            .column_mut(t)
            .copy_from(&(c * &x + d * &v + z.column(t * substeps)));
        for j in 0..substeps / 2 {
            // One RK4 step of 2h from grid point i, noise at i, i + 1, i + 2.
            let i = t * substeps + 2 * j;
            let ti = i as f64 * h;
            let k1 = flow(&x, ti, i);
            let k2 = flow(&(&x + &k1 * h), ti + h, i + 1);
            let k3 = flow(&(&x + &k2 * h), ti + h, i + 1);
            let k4 = flow(&(&x + &k3 * (2.0 * h)), ti + 2.0 * h, i + 2);
            x += (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 3.0);
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(GcError::Diverged {
                step: t,
                reason: "the simulated states are not finite".into(),
            });
        }
    }
    Ok(sim)
}
