//! A Gamma-distributed positive scalar (a precision) with a constant shape
//! and a Gamma (or constant) rate.
//!
//! `ln p(x | a, b) = −b·x + (a − 1)·ln x + a ln b − ln Γ(a)`, so with
//! `u = [x, ln x]`: `φ = [−⟨b⟩, a − 1]`, `⟨g⟩ = a⟨ln b⟩ − ln Γ(a)`, `f = 0`;
//! the posterior has `⟨x⟩ = a/b`, `⟨ln x⟩ = ψ(a) − ln b` (Winn & Bishop
//! 2005, table 1).

use actinf_core::maths::digamma;

use crate::family::{Family, Parts};
use crate::kind::{lgamma, Kind};

/// `Gamma(x | a, b)` with shape `a` fixed and rate `b` a parent (Gamma kind).
#[derive(Debug, Clone, Copy)]
pub struct Gamma {
    /// The shape `a` (> 0).
    pub shape: f64,
}

impl Gamma {
    /// A Gamma node with shape `a`.
    pub fn new(shape: f64) -> Self {
        Self { shape }
    }
}

impl Family for Gamma {
    fn kind(&self) -> Kind {
        Kind::Gamma
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Gamma]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let (b, ln_b) = (&parents[0][0], &parents[0][1]);
        let a = self.shape;
        let phi0 = (0..n).map(|i| -b[i]).collect();
        let phi1 = vec![a - 1.0; n];
        let g = (0..n).map(|i| a * ln_b[i] - lgamma(a)).collect();
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let mut u0 = Vec::with_capacity(n);
        let mut u1 = Vec::with_capacity(n);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let b = -phi[0][i];
            let a = phi[1][i] + 1.0;
            if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
                return None;
            }
            u0.push(a / b);
            u1.push(digamma(a) - b.ln());
            g.push(a * b.ln() - lgamma(a));
        }
        Some((vec![u0, u1], g))
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![0.0; n]
    }

    fn message_to_parent(
        &self,
        _slot: usize,
        u: &[Vec<f64>],
        _parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let m0 = (0..n).map(|i| -u[0][i]).collect();
        vec![m0, vec![self.shape; n]]
    }
}
