//! A Dirichlet-distributed probability vector with a constant concentration.
//!
//! `ln p(p | α) = Σ_k (α_k − 1) ln p_k + ln Γ(Σ_k α_k) − Σ_k ln Γ(α_k)`, so
//! with `u = [ln p]` (K values) and BayesPy's parametrisation:
//!
//! - `φ = α`, `g(α) = ln Γ(Σ_k α_k) − Σ_k ln Γ(α_k)`, `f(p) = −Σ_k ln p_k`;
//! - moments of `q(p) = Dir(φ)`: `⟨ln p_k⟩ = ψ(φ_k) − ψ(Σ_j φ_j)`,
//!   `g = ln Γ(Σ φ) − Σ ln Γ(φ_k)`;
//! - no parents, so no messages to send: `α` is a hyperparameter of the node
//!   type, shared by every plate element.
//!
//! Sources: Winn & Bishop (2005), "Variational message passing", JMLR 6,
//! table 1; Bishop (2006), *Pattern Recognition and Machine Learning*,
//! §2.2.1 and §10.2; BayesPy's `Dirichlet` (same `φ`, `g`, `f`).

use actinf_core::maths::digamma;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::{lgamma, Kind};

/// `Dir(p | α)` over K probabilities, with `α` (all `> 0`) fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Dirichlet {
    alpha: Vec<f64>,
}

impl Dirichlet {
    /// A Dirichlet node with concentration `α` (K ≥ 1 entries, each finite
    /// and `> 0`); a [`VmpError::Setting`] otherwise.
    pub fn new(alpha: impl Into<Vec<f64>>) -> Result<Self, VmpError> {
        let alpha = alpha.into();
        if alpha.is_empty() {
            return Err(VmpError::Setting {
                name: "Dirichlet alpha".into(),
                reason: "needs at least one category".into(),
            });
        }
        if let Some(k) = alpha.iter().position(|a| !(a.is_finite() && *a > 0.0)) {
            return Err(VmpError::Setting {
                name: "Dirichlet alpha".into(),
                reason: format!("entry {k} is {}, expected a finite value > 0", alpha[k]),
            });
        }
        Ok(Self { alpha })
    }

    /// The concentration `α`.
    pub fn alpha(&self) -> &[f64] {
        &self.alpha
    }

    /// Number of categories K.
    pub fn categories(&self) -> usize {
        self.alpha.len()
    }
}

/// `ln Γ(Σ a) − Σ ln Γ(a_k)`: minus the log multivariate Beta function.
fn log_normaliser(a: &[f64]) -> f64 {
    lgamma(a.iter().sum()) - a.iter().map(|&x| lgamma(x)).sum::<f64>()
}

impl Family for Dirichlet {
    fn kind(&self) -> Kind {
        Kind::Dirichlet(self.alpha.len())
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        Vec::new()
    }

    fn prior(&self, _parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let mut phi = Vec::with_capacity(n * self.alpha.len());
        for _ in 0..n {
            phi.extend_from_slice(&self.alpha);
        }
        (vec![phi], vec![log_normaliser(&self.alpha); n])
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let k = self.alpha.len();
        let mut u = Vec::with_capacity(n * k);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let a = &phi[0][i * k..(i + 1) * k];
            if !a.iter().all(|x| x.is_finite() && *x > 0.0) {
                return None;
            }
            let psi_sum = digamma(a.iter().sum());
            u.extend(a.iter().map(|&x| digamma(x) - psi_sum));
            g.push(log_normaliser(a));
        }
        Some((vec![u], g))
    }

    fn log_base_measure(&self, u: &[Vec<f64>], n: usize) -> Vec<f64> {
        let k = self.alpha.len();
        (0..n)
            .map(|i| -u[0][i * k..(i + 1) * k].iter().sum::<f64>())
            .collect()
    }

    fn message_to_parent(
        &self,
        _slot: usize,
        _u: &[Vec<f64>],
        _parents: &[&[Vec<f64>]],
        _n: usize,
    ) -> Parts {
        // No parents: the graph never asks.
        Vec::new()
    }
}
