//! A categorical variable (one of K) with Dirichlet-distributed
//! probabilities.
//!
//! `ln p(x | p) = Σ_k x_k ln p_k` for the one-hot `x`, so with `u = [x]`
//! (K values; for a posterior the probabilities `⟨x_k⟩ = q(x = k)`):
//!
//! - `φ = ⟨ln p⟩` (the Dirichlet parent's moments), `⟨g⟩ = 0` (`p` sums to
//!   one), `f = 0`;
//! - moments of `q(x)` with natural parameters `φ`:
//!   `⟨x_k⟩ = exp(φ_k − ln Σ_j exp φ_j)` (softmax), `g = −ln Σ_j exp φ_j`;
//! - message to the parent `p`: `[⟨x⟩]` (the coefficients of `ln p`).
//!
//! Observed values are category indices `0..K`. Sources: Winn & Bishop
//! (2005), "Variational message passing", JMLR 6, table 1 (discrete node);
//! Bishop (2006), *PRML* §10.2; BayesPy's `Categorical` (same `φ`, `g`).

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::Kind;

/// `Cat(x | p)` over K categories; parent: the probabilities (Dirichlet
/// kind, a node or a constant probability vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Categorical {
    pub(crate) categories: usize,
}

impl Categorical {
    /// A categorical node over `k ≥ 1` categories.
    pub fn new(k: usize) -> Result<Self, VmpError> {
        if k == 0 {
            return Err(VmpError::Setting {
                name: "Categorical categories".into(),
                reason: "needs at least one category".into(),
            });
        }
        Ok(Self { categories: k })
    }

    /// Number of categories K.
    pub fn categories(&self) -> usize {
        self.categories
    }
}

/// `eˣ`, skipping the libm call (whose underflow path is slow) where the
/// result is 0 anyway: below −760, `eˣ < 2⁻¹⁰⁹⁶`, under half the smallest
/// subnormal. A Dirichlet parent with tiny `α` puts `⟨ln p⟩ ≈ −10⁵` on
/// empty categories, so most of a mixture's assignment probabilities are
/// such zeros.
#[inline]
fn exp(x: f64) -> f64 {
    if x < -760.0 {
        0.0
    } else {
        x.exp()
    }
}

/// `actinf_core::maths::log_sum_exp` (the same operations, so the same
/// value), with [`exp`]'s shortcut.
fn log_sum_exp_fast(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + x.iter().map(|&v| exp(v - m)).sum::<f64>().ln()
}

impl Family for Categorical {
    fn kind(&self) -> Kind {
        Kind::Categorical(self.categories)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Dirichlet(self.categories)]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let k = self.categories;
        (vec![parents[0][0][..n * k].to_vec()], vec![0.0; n])
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let k = self.categories;
        let mut u = Vec::with_capacity(n * k);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let a = &phi[0][i * k..(i + 1) * k];
            // −∞ is a valid natural parameter (a zero probability); NaN and
            // +∞ are not, and at least one category must stay possible.
            if a.iter().any(|x| x.is_nan() || *x == f64::INFINITY) {
                return None;
            }
            let lse = log_sum_exp_fast(a);
            if !lse.is_finite() {
                return None;
            }
            // exp(φ − lse) sums to one only to the rounding of φ − lse,
            // which for large |φ| (a Dirichlet parent with tiny α gives
            // ⟨ln p⟩ ≈ −10⁵) is far above ε; the ELBO multiplies Σ⟨x⟩ by φ,
            // so renormalise (as BayesPy does).
            let start = u.len();
            u.extend(a.iter().map(|&x| exp(x - lse)));
            let s: f64 = u[start..].iter().sum();
            for v in &mut u[start..] {
                *v /= s;
            }
            g.push(-lse);
        }
        Some((vec![u], g))
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
        vec![u[0][..n * self.categories].to_vec()]
    }
}
