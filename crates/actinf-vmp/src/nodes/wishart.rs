//! A Wishart-distributed D×D precision matrix with fixed degrees of freedom
//! and a Wishart-kind (constant or latent) inverse scale.
//!
//! With `n > D − 1` degrees of freedom and inverse scale (rate) matrix `V`,
//! so that `⟨Λ⟩ = n V⁻¹`:
//! `ln p(Λ | n, V) = ((n − D − 1)/2) ln|Λ| − ½ tr(VΛ) + (n/2) ln|V|
//!  − (nD/2) ln 2 − ln Γ_D(n/2)`, and with `u = [Λ, ln|Λ|]` (BayesPy's
//! parametrisation):
//!
//! - `φ = [−⟨V⟩/2, n/2]`, `⟨g⟩ = (n/2)⟨ln|V|⟩ − (nD/2) ln 2 − ln Γ_D(n/2)`,
//!   `f(Λ) = −((D + 1)/2) ln|Λ|`;
//! - moments of `q(Λ)` with natural parameters `φ = [φ₀, a]`, `V' = −2φ₀`:
//!   `⟨Λ⟩ = 2a V'⁻¹`, `⟨ln|Λ|⟩ = ψ_D(a) − ln|V'| + D ln 2`,
//!   `g = a ln|V'| − aD ln 2 − ln Γ_D(a)`;
//! - message to the inverse scale `V`: `[−⟨Λ⟩/2, n/2]` (the coefficients
//!   of `V` and `ln|V|`, so a Wishart `V` is conjugate too).
//!
//! Here `ln Γ_D(a) = (D(D−1)/4) ln π + Σ_{j=1..D} ln Γ(a + (1 − j)/2)` and
//! `ψ_D(a) = Σ_{j=1..D} ψ(a + (1 − j)/2)`. Sources: Winn & Bishop (2005),
//! "Variational message passing", JMLR 6, table 1; Bishop (2006), *PRML*
//! appendix B and §10.2; BayesPy's `Wishart(n, V)` (same `φ`, `g`, `f`).

use std::f64::consts::{LN_2, PI};

use actinf_core::maths::digamma;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::{cholesky, lgamma, spd_inverse, Kind};

/// `W(Λ | n, V)` over D×D precision matrices; `n` fixed, parent: the inverse
/// scale `V` (Wishart kind: a constant positive-definite matrix or a node).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wishart {
    dim: usize,
    dof: f64,
}

impl Wishart {
    /// A Wishart node of dimension `d ≥ 1` with `n > d − 1` degrees of
    /// freedom; a [`VmpError::Setting`] otherwise.
    pub fn new(d: usize, n: f64) -> Result<Self, VmpError> {
        if d == 0 {
            return Err(VmpError::Setting {
                name: "Wishart dimension".into(),
                reason: "must be at least 1".into(),
            });
        }
        if !(n.is_finite() && n > d as f64 - 1.0) {
            return Err(VmpError::Setting {
                name: "Wishart degrees of freedom".into(),
                reason: format!("{n} given, expected a finite value > D − 1 = {}", d - 1),
            });
        }
        Ok(Self { dim: d, dof: n })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The degrees of freedom n.
    pub fn dof(&self) -> f64 {
        self.dof
    }
}

/// `ln Γ_D(a)`, the multivariate log-gamma function.
pub(crate) fn ln_multigamma(a: f64, d: usize) -> f64 {
    let df = d as f64;
    df * (df - 1.0) / 4.0 * PI.ln() + (0..d).map(|j| lgamma(a - 0.5 * j as f64)).sum::<f64>()
}

/// `ψ_D(a)`, the multivariate digamma function.
pub(crate) fn multidigamma(a: f64, d: usize) -> f64 {
    (0..d).map(|j| digamma(a - 0.5 * j as f64)).sum()
}

impl Family for Wishart {
    fn kind(&self) -> Kind {
        Kind::Wishart(self.dim)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Wishart(self.dim)]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let d = self.dim;
        let dd = d * d;
        let (v, ln_det_v) = (&parents[0][0], &parents[0][1]);
        let half_n = 0.5 * self.dof;
        let phi0 = v[..n * dd].iter().map(|x| -0.5 * x).collect();
        let phi1 = vec![half_n; n];
        let c = -half_n * d as f64 * LN_2 - ln_multigamma(half_n, d);
        let g = (0..n).map(|i| half_n * ln_det_v[i] + c).collect();
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let d = self.dim;
        let dd = d * d;
        let df = d as f64;
        let mut u0 = Vec::with_capacity(n * dd);
        let mut u1 = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        let mut v = vec![0.0; dd];
        for i in 0..n {
            let p0 = &phi[0][i * dd..(i + 1) * dd];
            let a = phi[1][i];
            if !(a.is_finite() && a > 0.5 * (df - 1.0) && p0.iter().all(|x| x.is_finite())) {
                return None;
            }
            // V' = −2φ₀, symmetrised (exact for a symmetric φ₀).
            for r in 0..d {
                for c in 0..d {
                    v[r * d + c] = -(p0[r * d + c] + p0[c * d + r]);
                }
            }
            let l = cholesky(&v, d)?;
            let inv = spd_inverse(&v, d)?;
            let logdet = 2.0 * (0..d).map(|r| l[r * d + r].ln()).sum::<f64>();
            u0.extend(inv.iter().map(|x| 2.0 * a * x));
            u1.push(multidigamma(a, d) - logdet + df * LN_2);
            g.push(a * logdet - a * df * LN_2 - ln_multigamma(a, d));
        }
        Some((vec![u0, u1], g))
    }

    fn log_base_measure(&self, u: &[Vec<f64>], n: usize) -> Vec<f64> {
        let c = -0.5 * (self.dim as f64 + 1.0);
        (0..n).map(|i| c * u[1][i]).collect()
    }

    fn message_to_parent(
        &self,
        _slot: usize,
        u: &[Vec<f64>],
        _parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let dd = self.dim * self.dim;
        let m0 = u[0][..n * dd].iter().map(|x| -0.5 * x).collect();
        vec![m0, vec![0.5 * self.dof; n]]
    }
}
