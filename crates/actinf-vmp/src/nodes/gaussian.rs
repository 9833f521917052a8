//! A D-dimensional Gaussian vector with a Gaussian mean and a Wishart
//! precision matrix.
//!
//! `ln p(x | μ, Λ) = xᵀΛμ − ½ tr(Λ x xᵀ) − ½ tr(Λ μ μᵀ) + ½ ln|Λ| − (D/2) ln 2π`,
//! so with `u = [x, x xᵀ]` (D and D×D values, row-major):
//!
//! - `φ = [⟨Λ⟩⟨μ⟩, −⟨Λ⟩/2]`, `⟨g⟩ = −½ tr(⟨Λ⟩⟨μμᵀ⟩) + ½⟨ln|Λ|⟩`,
//!   `f = −(D/2) ln 2π`;
//! - moments of `q(x)` with natural parameters `φ`: precision `P = −2φ₁`,
//!   covariance `Σ = P⁻¹`, mean `m = Σφ₀`, `⟨x⟩ = m`, `⟨x xᵀ⟩ = m mᵀ + Σ`,
//!   `g = −½ mᵀφ₀ + ½ ln|P|`;
//! - message to the mean `μ`: `[⟨Λ⟩⟨x⟩, −⟨Λ⟩/2]`;
//! - message to the precision `Λ`:
//!   `[−½(⟨x xᵀ⟩ − ⟨x⟩⟨μ⟩ᵀ − ⟨μ⟩⟨x⟩ᵀ + ⟨μμᵀ⟩), ½]`.
//!
//! Sources: Winn & Bishop (2005), "Variational message passing", JMLR 6,
//! table 1 and §4; Bishop (2006), *PRML* §2.3 and §10.2; BayesPy's
//! `Gaussian(mu, Lambda)` (same `φ`, `g`, `f`).

use std::f64::consts::PI;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::{cholesky, spd_inverse, Kind};

/// `N(x | μ, Λ⁻¹)` of dimension D; parents: mean (Gaussian of dimension D),
/// precision (Wishart of dimension D), nodes or constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gaussian {
    dim: usize,
}

impl Gaussian {
    /// A Gaussian node of dimension `d ≥ 1`.
    pub fn new(d: usize) -> Result<Self, VmpError> {
        if d == 0 {
            return Err(VmpError::Setting {
                name: "Gaussian dimension".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self { dim: d })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl Family for Gaussian {
    fn kind(&self) -> Kind {
        Kind::Gaussian(self.dim)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Gaussian(self.dim), Kind::Wishart(self.dim)]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let d = self.dim;
        let dd = d * d;
        let (mu, mumu) = (&parents[0][0], &parents[0][1]);
        let (lam, ln_det) = (&parents[1][0], &parents[1][1]);
        let mut phi0 = Vec::with_capacity(n * d);
        let mut phi1 = Vec::with_capacity(n * dd);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let l = &lam[i * dd..(i + 1) * dd];
            let m = &mu[i * d..(i + 1) * d];
            for a in 0..d {
                phi0.push((0..d).map(|b| l[a * d + b] * m[b]).sum::<f64>());
            }
            phi1.extend(l.iter().map(|v| -0.5 * v));
            let tr: f64 = l
                .iter()
                .zip(&mumu[i * dd..(i + 1) * dd])
                .map(|(a, b)| a * b)
                .sum();
            g.push(-0.5 * tr + 0.5 * ln_det[i]);
        }
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let d = self.dim;
        let dd = d * d;
        let mut u0 = Vec::with_capacity(n * d);
        let mut u1 = Vec::with_capacity(n * dd);
        let mut g = Vec::with_capacity(n);
        let mut p = vec![0.0; dd];
        for i in 0..n {
            let p1 = &phi[1][i * dd..(i + 1) * dd];
            let p0 = &phi[0][i * d..(i + 1) * d];
            if !p0.iter().chain(p1).all(|v| v.is_finite()) {
                return None;
            }
            // P = −2φ₁, symmetrised (exact for a symmetric φ₁).
            for a in 0..d {
                for b in 0..d {
                    p[a * d + b] = -(p1[a * d + b] + p1[b * d + a]);
                }
            }
            let l = cholesky(&p, d)?;
            let cov = spd_inverse(&p, d)?;
            let m: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * p0[b]).sum())
                .collect();
            let logdet = 2.0 * (0..d).map(|a| l[a * d + a].ln()).sum::<f64>();
            for a in 0..d {
                for b in 0..d {
                    u1.push(m[a] * m[b] + cov[a * d + b]);
                }
            }
            let mphi: f64 = m.iter().zip(p0).map(|(a, b)| a * b).sum();
            g.push(-0.5 * mphi + 0.5 * logdet);
            u0.extend_from_slice(&m);
        }
        Some((vec![u0, u1], g))
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
                let lam = &parents[1][0];
                let mut m0 = Vec::with_capacity(n * d);
                for i in 0..n {
                    let l = &lam[i * dd..(i + 1) * dd];
                    let xi = &x[i * d..(i + 1) * d];
                    for a in 0..d {
                        m0.push((0..d).map(|b| l[a * d + b] * xi[b]).sum::<f64>());
                    }
                }
                let m1 = lam[..n * dd].iter().map(|v| -0.5 * v).collect();
                vec![m0, m1]
            }
            _ => {
                let (mu, mumu) = (&parents[0][0], &parents[0][1]);
                let mut m0 = Vec::with_capacity(n * dd);
                for i in 0..n {
                    let xi = &x[i * d..(i + 1) * d];
                    let mi = &mu[i * d..(i + 1) * d];
                    for a in 0..d {
                        for b in 0..d {
                            let e = i * dd + a * d + b;
                            m0.push(-0.5 * (xx[e] - xi[a] * mi[b] - mi[a] * xi[b] + mumu[e]));
                        }
                    }
                }
                vec![m0, vec![0.5; n]]
            }
        }
    }
}
