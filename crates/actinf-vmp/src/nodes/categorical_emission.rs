//! A categorical observation of a categorical state through a known
//! emission matrix: the emission model of a hidden Markov model.
//!
//! With `B_{kj} = p(y = j | z = k)` (row `k` is a distribution over the
//! J symbols), `u(y) = onehot(y)` and `u(z) = onehot(z)`:
//!
//! ```text
//! ln p(y | z) = Σ_{k,j} z_k y_j ln B_{kj}
//! ```
//!
//! so the node is conjugate to a Categorical(K) parent (a
//! [`CategoricalChain`](super::CategoricalChain), or any categorical node):
//!
//! - prior natural parameters `φ_p[j] = Σ_k ⟨z_k⟩ ln B_{kj}`, `⟨g_p⟩ = 0`,
//!   `f = 0`;
//! - message to the parent `m[k] = Σ_j ⟨y_j⟩ ln B_{kj}` (for an observed
//!   `y`: `ln B_{k,y}`, the HMM's log-emission column);
//! - as a latent node, `q(y) = softmax(φ)` and `g = −ln Σ_j exp φ_j`.
//!
//! (Winn & Bishop 2005, §4 and table 1; BayesPy's
//! `Mixture(z, Categorical, B)` with a constant `B`.) Zero probabilities
//! enter as [`LN_ZERO`](super::categorical_chain::LN_ZERO), so an impossible
//! emission is a hard zero without `0 · ∞` in the ELBO.

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::Kind;

use super::categorical_chain::floor_ln;

const NAME: &str = "CategoricalEmission";

/// `y ~ Categorical(B_{z,·})` with a known K×J emission matrix `B`; parent:
/// the state `z` (Categorical(K)); exposes Categorical(J).
#[derive(Debug, Clone)]
pub struct CategoricalEmission {
    states: usize,
    symbols: usize,
    /// `ln B`, K×J row-major, floored at `LN_ZERO`.
    ln_b: Vec<f64>,
}

impl CategoricalEmission {
    /// An emission with `B` given row-major as K×J (`states` × `symbols`):
    /// `B[k·J + j] = p(y = j | z = k)`. Each row must be a probability
    /// vector (non-negative, summing to 1 within 1e-9); it is not
    /// renormalised.
    pub fn new(emission: &[f64], states: usize, symbols: usize) -> Result<Self, VmpError> {
        let size = actinf_core::budget::check(
            "categorical_emission: B (states × symbols)",
            &[states, symbols],
            8,
        )?;
        if states == 0 || symbols == 0 || emission.len() != size {
            return Err(VmpError::Size {
                node: NAME.into(),
                what: format!("emission matrix B ({states} states × {symbols} symbols)"),
                expected: states * symbols,
                got: emission.len(),
            });
        }
        if let Some(i) = emission.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(VmpError::Value {
                node: NAME.into(),
                what: "emission matrix B".into(),
                index: i,
                value: emission[i],
                expected: "a probability in [0, 1]".into(),
            });
        }
        for k in 0..states {
            let s: f64 = emission[k * symbols..(k + 1) * symbols].iter().sum();
            if (s - 1.0).abs() > 1e-9 {
                return Err(VmpError::Value {
                    node: NAME.into(),
                    what: format!("row {k} of emission matrix B (its sum)"),
                    index: k * symbols,
                    value: s,
                    expected: "rows summing to 1".into(),
                });
            }
        }
        Ok(Self {
            states,
            symbols,
            ln_b: emission.iter().map(|v| floor_ln(v.ln())).collect(),
        })
    }

    /// The number of states K of the parent.
    pub fn states(&self) -> usize {
        self.states
    }

    /// The number of symbols J.
    pub fn symbols(&self) -> usize {
        self.symbols
    }
}

impl Family for CategoricalEmission {
    fn kind(&self) -> Kind {
        Kind::Categorical(self.symbols)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Categorical(self.states)]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let (k, j) = (self.states, self.symbols);
        let z = &parents[0][0];
        let mut phi = vec![0.0; n * j];
        for i in 0..n {
            let out = &mut phi[i * j..(i + 1) * j];
            for (s, &zs) in z[i * k..(i + 1) * k].iter().enumerate() {
                if zs == 0.0 {
                    continue;
                }
                for (o, &lb) in out.iter_mut().zip(&self.ln_b[s * j..(s + 1) * j]) {
                    *o += zs * lb;
                }
            }
        }
        (vec![phi], vec![0.0; n])
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let j = self.symbols;
        let mut p = phi[0].clone();
        if p.len() != n * j || p.iter().any(|v| v.is_nan() || *v == f64::INFINITY) {
            return None;
        }
        let mut g = Vec::with_capacity(n);
        for row in p.chunks_mut(j) {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !m.is_finite() {
                return None;
            }
            let mut s = 0.0;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                s += *v;
            }
            row.iter_mut().for_each(|v| *v /= s);
            g.push(-(m + s.ln()));
        }
        Some((vec![p], g))
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
        let (k, j) = (self.states, self.symbols);
        let y = &u[0];
        let mut m = vec![0.0; n * k];
        for i in 0..n {
            let yi = &y[i * j..(i + 1) * j];
            for s in 0..k {
                let lb = &self.ln_b[s * j..(s + 1) * j];
                m[i * k + s] = yi
                    .iter()
                    .zip(lb)
                    .filter(|(&yv, _)| yv != 0.0)
                    .map(|(yv, lv)| yv * lv)
                    .sum();
            }
        }
        vec![m]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_log_emission_columns() {
        let b = [0.7, 0.2, 0.1, 0.0, 0.5, 0.5];
        let e = CategoricalEmission::new(&b, 2, 3).unwrap();
        let y = vec![vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]];
        let m = e.message_to_parent(0, &y, &[], 2);
        assert_eq!(m[0][0], 0.2f64.ln());
        assert_eq!(m[0][1], 0.5f64.ln());
        assert_eq!(m[0][2], 0.7f64.ln());
        assert!(m[0][3] < -1e99 && m[0][3].is_finite());
        // A certain parent gives the emission row as the latent posterior.
        let (phi, _) = e.prior(&[&[vec![1.0, 0.0]]], 1);
        let (u, g) = e.moments(&phi, 1).unwrap();
        for (a, b) in u[0].iter().zip(&b[..3]) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!(g[0].abs() < 1e-15);
    }

    #[test]
    fn bad_emission_matrices_are_refused() {
        let e = CategoricalEmission::new(&[0.5, 0.4, 0.5, 0.5], 2, 2).unwrap_err();
        assert!(e.to_string().contains("row 0"), "{e}");
        let e = CategoricalEmission::new(&[1.5, -0.5], 1, 2).unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
        let e = CategoricalEmission::new(&[1.0; 3], 2, 2).unwrap_err();
        assert!(matches!(e, VmpError::Size { .. }), "{e}");
    }
}
