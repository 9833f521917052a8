//! A scalar Gaussian whose mean is the inner product of two Gaussian vectors
//! and whose precision is a Gamma scalar: the observation model of Bayesian
//! PCA and of factor analysis with an unknown loading matrix.
//!
//! `y ~ N(wᵀx, τ⁻¹)` with `w, x ∈ ℝᴰ` independent in the posterior
//! (mean field), so `⟨(wᵀx)²⟩ = tr(⟨w wᵀ⟩⟨x xᵀ⟩)`:
//!
//! ```text
//! ln p(y | w, x, τ) = τ y wᵀx − ½ τ y² − ½ τ tr(w wᵀ x xᵀ) + ½ ln τ − ½ ln 2π
//! ```
//!
//! With `u(y) = [y, y²]`, the parents' `u(w) = [w, w wᵀ]`,
//! `u(x) = [x, x xᵀ]` and `u(τ) = [τ, ln τ]`:
//!
//! - `φ_p = [⟨τ⟩⟨w⟩ᵀ⟨x⟩, −½⟨τ⟩]`,
//!   `⟨g_p⟩ = −½⟨τ⟩ tr(⟨w wᵀ⟩⟨x xᵀ⟩) + ½⟨ln τ⟩`, `f = −½ ln 2π`;
//! - as a latent node, `q(y)` is the scalar Gaussian of
//!   [`GaussianArd`];
//! - message to `w`: `[⟨τ⟩⟨y⟩⟨x⟩, −½⟨τ⟩⟨x xᵀ⟩]`; to `x` symmetrically
//!   `[⟨τ⟩⟨y⟩⟨w⟩, −½⟨τ⟩⟨w wᵀ⟩]`;
//! - message to `τ`:
//!   `[−½(⟨y²⟩ − 2⟨y⟩⟨w⟩ᵀ⟨x⟩ + tr(⟨w wᵀ⟩⟨x xᵀ⟩)), ½]`.
//!
//! Broadcasting the parents over the node's plates gives the matrix model:
//! `W` with plates `[M, 1]`, `X` with plates `[1, N]` and `y` with plates
//! `[M, N]` is `Y = W Xᵀ + noise`, and each row `w_m` receives the sum of its
//! N observations' messages (each column `x_n` of its M). With a
//! [`GaussianArdVector`](super::GaussianArdVector) prior on `W` whose Gamma
//! precisions have plates `[D]`, this is Bishop's variational Bayesian PCA.
//!
//! Sources: Bishop (1999), "Variational principal components", ICANN, eq.
//! 1–4 and the factorised posterior of §3; Winn & Bishop (2005),
//! "Variational message passing", JMLR 6, §4 and table 1; BayesPy's
//! `GaussianARD(SumMultiply('d,d->', X, W), tau)` (the same `φ`, `g`, `f`
//! and messages, passed there through a deterministic product node).

use std::f64::consts::PI;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::Kind;

use super::GaussianArd;

/// `y ~ N(wᵀx, τ⁻¹)` with `w, x` of dimension D; parents: `w` (Gaussian(D)),
/// `x` (Gaussian(D)), `τ` (Gamma), nodes or constants. Exposes Gaussian(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotGaussian {
    dim: usize,
}

impl DotGaussian {
    /// An inner-product Gaussian over vectors of dimension `d ≥ 1`.
    pub fn new(d: usize) -> Result<Self, VmpError> {
        Ok(Self {
            dim: super::positive_dimension("DotGaussian dimension", d)?,
        })
    }

    /// The dimension D of the two vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `⟨w⟩ᵀ⟨x⟩` and `tr(⟨w wᵀ⟩⟨x xᵀ⟩)` of plate element `i`.
    fn products(&self, parents: &[&[Vec<f64>]], i: usize) -> (f64, f64) {
        let d = self.dim;
        let dd = d * d;
        let (w, ww) = (&parents[0][0], &parents[0][1]);
        let (x, xx) = (&parents[1][0], &parents[1][1]);
        let mean: f64 = w[i * d..(i + 1) * d]
            .iter()
            .zip(&x[i * d..(i + 1) * d])
            .map(|(a, b)| a * b)
            .sum();
        let (ww, xx) = (&ww[i * dd..(i + 1) * dd], &xx[i * dd..(i + 1) * dd]);
        let mut second = 0.0;
        for a in 0..d {
            for b in 0..d {
                second += ww[a * d + b] * xx[b * d + a];
            }
        }
        (mean, second)
    }
}

impl Family for DotGaussian {
    fn kind(&self) -> Kind {
        Kind::Gaussian(1)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![
            Kind::Gaussian(self.dim),
            Kind::Gaussian(self.dim),
            Kind::Gamma,
        ]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let (tau, ln_tau) = (&parents[2][0], &parents[2][1]);
        let mut phi0 = Vec::with_capacity(n);
        let mut phi1 = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let (mean, second) = self.products(parents, i);
            phi0.push(tau[i] * mean);
            phi1.push(-0.5 * tau[i]);
            g.push(-0.5 * tau[i] * second + 0.5 * ln_tau[i]);
        }
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        GaussianArd.moments(phi, n)
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
        let d = self.dim;
        let dd = d * d;
        let (y, y2) = (&u[0], &u[1]);
        let tau = &parents[2][0];
        match slot {
            0 | 1 => {
                // The other vector's moments.
                let (v, vv) = (&parents[1 - slot][0], &parents[1 - slot][1]);
                let mut m0 = Vec::with_capacity(n * d);
                let mut m1 = Vec::with_capacity(n * dd);
                for i in 0..n {
                    let ty = tau[i] * y[i];
                    m0.extend(v[i * d..(i + 1) * d].iter().map(|a| ty * a));
                    m1.extend(vv[i * dd..(i + 1) * dd].iter().map(|a| -0.5 * tau[i] * a));
                }
                vec![m0, m1]
            }
            _ => {
                let m0 = (0..n)
                    .map(|i| {
                        let (mean, second) = self.products(parents, i);
                        -0.5 * (y2[i] - 2.0 * y[i] * mean + second)
                    })
                    .collect();
                vec![m0, vec![0.5; n]]
            }
        }
    }
}
