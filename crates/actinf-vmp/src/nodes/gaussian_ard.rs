//! A scalar Gaussian with a Gaussian mean and a Gamma precision.
//!
//! `ln p(x | μ, τ) = τμ·x − (τ/2)·x² − τμ²/2 + (ln τ)/2 − (ln 2π)/2`, so
//! with `u = [x, x²]`: `φ = [⟨τ⟩⟨μ⟩, −⟨τ⟩/2]`,
//! `⟨g⟩ = −⟨τ⟩⟨μ²⟩/2 + ⟨ln τ⟩/2`, `f = −(ln 2π)/2` (Winn & Bishop 2005,
//! table 1; BayesPy's `GaussianARD` with scalar shape).

use std::f64::consts::PI;

use crate::family::{Family, Parts};
use crate::kind::Kind;

/// Scalar Gaussian `N(x | μ, τ⁻¹)`; parents: mean (Gaussian), precision (Gamma).
#[derive(Debug, Clone, Copy, Default)]
pub struct GaussianArd;

impl Family for GaussianArd {
    fn kind(&self) -> Kind {
        Kind::Gaussian(1)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Gaussian(1), Kind::Gamma]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let (mu, mu2) = (&parents[0][0], &parents[0][1]);
        let (tau, ln_tau) = (&parents[1][0], &parents[1][1]);
        let mut phi0 = Vec::with_capacity(n);
        let mut phi1 = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            phi0.push(tau[i] * mu[i]);
            phi1.push(-0.5 * tau[i]);
            g.push(-0.5 * tau[i] * mu2[i] + 0.5 * ln_tau[i]);
        }
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let mut u0 = Vec::with_capacity(n);
        let mut u1 = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let precision = -2.0 * phi[1][i];
            if !(precision > 0.0 && precision.is_finite() && phi[0][i].is_finite()) {
                return None;
            }
            let m = phi[0][i] / precision;
            u0.push(m);
            u1.push(m * m + 1.0 / precision);
            g.push(-0.5 * precision * m * m + 0.5 * precision.ln());
        }
        Some((vec![u0, u1], g))
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![-0.5 * (2.0 * PI).ln(); n]
    }

    fn message_to_parent(
        &self,
        slot: usize,
        u: &[Vec<f64>],
        parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let (x, x2) = (&u[0], &u[1]);
        match slot {
            0 => {
                let tau = &parents[1][0];
                let m0 = (0..n).map(|i| tau[i] * x[i]).collect();
                let m1 = (0..n).map(|i| -0.5 * tau[i]).collect();
                vec![m0, m1]
            }
            _ => {
                let (mu, mu2) = (&parents[0][0], &parents[0][1]);
                let m0 = (0..n)
                    .map(|i| -0.5 * (x2[i] - 2.0 * x[i] * mu[i] + mu2[i]))
                    .collect();
                vec![m0, vec![0.5; n]]
            }
        }
    }
}
