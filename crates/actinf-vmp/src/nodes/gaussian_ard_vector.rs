//! A D-dimensional Gaussian vector with a Gaussian mean and a diagonal
//! (automatic relevance determination) precision of independent Gamma
//! scalars.
//!
//! `x ~ N(μ, diag(α)⁻¹)`, one precision `α_d` per dimension:
//!
//! ```text
//! ln p(x | μ, α) = Σ_d [α_d μ_d x_d − ½ α_d x_d² − ½ α_d μ_d² + ½ ln α_d] − (D/2) ln 2π
//! ```
//!
//! With `u(x) = [x, x xᵀ]` (D and D×D values, row-major), the mean's
//! `u(μ) = [μ, μ μᵀ]` and each precision's `u(α_d) = [α_d, ln α_d]`:
//!
//! - `φ_p = [⟨α⟩ ⊙ ⟨μ⟩, −½ diag(⟨α⟩)]`,
//!   `⟨g_p⟩ = Σ_d (−½⟨α_d⟩⟨μμᵀ⟩_dd + ½⟨ln α_d⟩)`, `f = −(D/2) ln 2π`;
//! - `q(x)` is a full-covariance Gaussian (the children's messages couple the
//!   dimensions): precision `P = −2φ₁`, `⟨x⟩ = P⁻¹φ₀`,
//!   `⟨x xᵀ⟩ = ⟨x⟩⟨x⟩ᵀ + P⁻¹`, `g = −½⟨x⟩ᵀφ₀ + ½ ln|P|` (as
//!   [`Gaussian`]);
//! - message to the mean `μ`: `[⟨α⟩ ⊙ ⟨x⟩, −½ diag(⟨α⟩)]`;
//! - message to the precision `α_d`:
//!   `[−½(⟨x xᵀ⟩_dd − 2⟨x_d⟩⟨μ_d⟩ + ⟨μμᵀ⟩_dd), ½]`.
//!
//! The precision slot carries one trailing plate of length D beyond the
//! node's plates ([`Family::parent_extra_plates`]): a Gamma node with plates
//! `[D]` gives each dimension its own precision shared over the node's
//! plates (the ARD prior on the loadings of Bayesian PCA), one with no plates
//! a single precision for every dimension, one with plates `[.., D]` a
//! precision per plate element and dimension.
//!
//! Sources: Bishop (1999), "Variational principal components", ICANN,
//! eq. 3–4 (the ARD prior `p(W | α) = Π_i N(w_i | 0, α_i⁻¹ I)`); Winn &
//! Bishop (2005), "Variational message passing", JMLR 6, table 1; BayesPy's
//! `GaussianARD(mu, alpha, shape=(D,))` (same `φ`, `g`, `f` and messages;
//! its posterior also has a full covariance).

use std::f64::consts::PI;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::Kind;

use super::Gaussian;

/// `N(x | μ, diag(α)⁻¹)` of dimension D; parents: mean (Gaussian of
/// dimension D), precisions (Gamma, broadcast to the node's plates followed
/// by `[D]`), nodes or constants. Exposes Gaussian(D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaussianArdVector {
    dim: usize,
}

impl GaussianArdVector {
    /// A Gaussian vector node of dimension `d ≥ 1` with a diagonal precision.
    pub fn new(d: usize) -> Result<Self, VmpError> {
        Ok(Self {
            dim: super::positive_dimension("GaussianArdVector dimension", d)?,
        })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl Family for GaussianArdVector {
    fn kind(&self) -> Kind {
        Kind::Gaussian(self.dim)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Gaussian(self.dim), Kind::Gamma]
    }

    fn parent_extra_plates(&self, slot: usize) -> Vec<usize> {
        if slot == 1 {
            vec![self.dim]
        } else {
            Vec::new()
        }
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let d = self.dim;
        let dd = d * d;
        let (mu, mumu) = (&parents[0][0], &parents[0][1]);
        let (alpha, ln_alpha) = (&parents[1][0], &parents[1][1]);
        let mut phi0 = Vec::with_capacity(n * d);
        let mut phi1 = vec![0.0; n * dd];
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let mut gi = 0.0;
            for a in 0..d {
                let al = alpha[i * d + a];
                phi0.push(al * mu[i * d + a]);
                phi1[i * dd + a * d + a] = -0.5 * al;
                gi += -0.5 * al * mumu[i * dd + a * d + a] + 0.5 * ln_alpha[i * d + a];
            }
            g.push(gi);
        }
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        Gaussian::new(self.dim)
            .expect("dimension checked at construction")
            .moments(phi, n)
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![-0.5 * self.dim as f64 * (2.0 * PI).ln(); n]
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
        let (x, xx) = (&u[0], &u[1]);
        match slot {
            0 => {
                let alpha = &parents[1][0];
                let m0 = (0..n * d).map(|k| alpha[k] * x[k]).collect();
                let mut m1 = vec![0.0; n * dd];
                for i in 0..n {
                    for a in 0..d {
                        m1[i * dd + a * d + a] = -0.5 * alpha[i * d + a];
                    }
                }
                vec![m0, m1]
            }
            _ => {
                let (mu, mumu) = (&parents[0][0], &parents[0][1]);
                let mut m0 = Vec::with_capacity(n * d);
                for i in 0..n {
                    for a in 0..d {
                        let e = i * dd + a * d + a;
                        let k = i * d + a;
                        m0.push(-0.5 * (xx[e] - 2.0 * x[k] * mu[k] + mumu[e]));
                    }
                }
                vec![m0, vec![0.5; n * d]]
            }
        }
    }
}
