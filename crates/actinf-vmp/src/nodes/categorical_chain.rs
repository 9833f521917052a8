//! A categorical Markov chain: the hidden states `z_0 … z_{N−1}` of a hidden
//! Markov model, each one of K states.
//!
//! ```text
//! ln p(z | π, A) = Σ_k z_{0k} ln π_k + Σ_{t≥1} Σ_{j,k} z_{t−1,j} z_{tk} ln A_{jk}
//! ```
//!
//! with `A_{jk} = p(z_t = k | z_{t−1} = j)` (row `j` is a distribution over
//! the next state, as in BayesPy's `CategoricalMarkovChain`). The node has
//! plates `[N]` and exposes to its children `Kind::Categorical(K)`: part 0 is
//! the marginals `⟨z_t⟩ = q(z_t)` (N×K). It keeps one internal part, the
//! pairwise expectations `ξ_t[j][k] = q(z_{t−1} = j, z_t = k)` (N×K×K, zero
//! at `t = 0`).
//!
//! **Prior.** Both parents are Dirichlet-kind (a constant probability
//! vector, or a Dirichlet node): the initial probabilities `π` (plates `[]`
//! or `[1]`) and the transition rows (plates `[K]`, or `[N, K]` for
//! time-varying transitions). In the node's layout
//! `φ_p = [⟨ln π⟩ at t = 0 and 0 after; ⟨ln A⟩ at every t ≥ 1]`,
//! `⟨g_p⟩ = 0` and `f = 0`. A constant zero probability gives `ln 0`, which
//! is floored at [`LN_ZERO`] so that `0 · ln 0` stays 0 in the ELBO.
//!
//! **Posterior.** The children's messages add to the node potentials
//! (part 0); the pairwise potentials stay `⟨ln A⟩`. This is the structured
//! mean-field factor `q(z) ∝ exp(φ·u(z))` over the whole chain (Beal 2003,
//! *Variational algorithms for approximate Bayesian inference*, ch. 3;
//! Winn & Bishop 2005, §5), not a product over time steps.
//!
//! **Moments.** [`Family::moments`] runs the scaled forward–backward
//! recursions (Rabiner 1989, "A tutorial on hidden Markov models", eqs.
//! 91–93) on `ψ_t(k) = exp φ_0[t][k]` and `Ψ_t(j,k) = exp φ_1[t][j][k]`,
//! each shifted by its maximum, in `O(N K²)`:
//!
//! ```text
//! α̂_0 = ψ_0 / c_0,     α̂_t(k) = ψ_t(k) Σ_j α̂_{t−1}(j) Ψ_t(j,k) / c_t
//! β̂_{N−1} = 1,        β̂_{t−1}(j) = Σ_k Ψ_t(j,k) ψ_t(k) β̂_t(k) / c_t
//! q(z_t) = α̂_t β̂_t,   ξ_t(j,k) = α̂_{t−1}(j) Ψ_t(j,k) ψ_t(k) β̂_t(k) / c_t
//! ln Z = Σ_t (ln c_t + the shifts)
//! ```
//!
//! and returns `g = −ln Z` (spread over the time steps: `g_t = −ln c_t −`
//! shifts). With this layout the graph's generic ELBO term for the chain is
//! `ln Z − Σ_t m_t·⟨z_t⟩` (`m_t` the children's messages), and the children
//! add back `Σ_t m_t·⟨z_t⟩` plus their own terms; so with known parameters
//! the ELBO is exactly `ln Σ_z p(z) Π_t p(y_t | z_t) = ln p(y)`, the forward
//! algorithm's log-likelihood.
//!
//! **Messages to the parents** are expected counts: `q(z_0)` to the initial
//! probabilities, and `ξ_t(j, ·)` to transition row `j` at every `t ≥ 1`
//! (the graph sums them over time to `Σ_t ξ_t`).
//!
//! The chain's plates must be exactly `[N]` (one sequence; the whole plate
//! is the time axis), and the chain cannot be observed.

use crate::family::{Family, Parts};
use crate::kind::Kind;

/// The value standing for `ln 0` in natural parameters: finite, so that
/// `0 · ln 0 = 0` and `ln 0 − ln 0 = 0` in the ELBO, and so negative that
/// `exp` of it (after any shift) is exactly 0.
pub const LN_ZERO: f64 = -1e100;

/// `ln p` floored at [`LN_ZERO`] (also maps `−∞` to it).
#[inline]
pub(crate) fn floor_ln(x: f64) -> f64 {
    if x < LN_ZERO {
        LN_ZERO
    } else {
        x
    }
}

/// A categorical Markov chain over the node's plates `[N]` with `K`
/// states; parents: initial probabilities (Dirichlet(K)) and transition rows
/// (Dirichlet(K), plates `[K]`).
#[derive(Debug, Clone, Copy)]
pub struct CategoricalChain {
    states: usize,
}

impl CategoricalChain {
    /// A chain with `states` (K ≥ 1) states.
    pub fn new(states: usize) -> Self {
        Self { states }
    }

    /// The number of states K.
    pub fn states(&self) -> usize {
        self.states
    }
}

impl Family for CategoricalChain {
    fn check_plates(&self, plates: &[usize]) -> Result<(), String> {
        if plates.len() == 1 && plates[0] >= 1 {
            Ok(())
        } else {
            Err(format!(
                "a Markov chain's plates are its time steps: one axis of length N >= 1, got {plates:?}"
            ))
        }
    }

    fn kind(&self) -> Kind {
        Kind::Categorical(self.states)
    }

    fn part_dims(&self) -> Vec<usize> {
        vec![self.states, self.states * self.states]
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Dirichlet(self.states), Kind::Dirichlet(self.states)]
    }

    fn parent_extra_plates(&self, slot: usize) -> Vec<usize> {
        if slot == 1 {
            vec![self.states]
        } else {
            Vec::new()
        }
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let k = self.states;
        let kk = k * k;
        let mut phi0 = vec![0.0; n * k];
        let mut phi1 = vec![0.0; n * kk];
        if n > 0 {
            let ln_pi = &parents[0][0];
            for j in 0..k {
                phi0[j] = floor_ln(ln_pi[j]);
            }
        }
        // The transition view has plates [N, K]: element (t, j) holds
        // ⟨ln A_{j·}⟩ at offset (t K + j) K, i.e. row-major K×K per t.
        let ln_a = &parents[1][0];
        for t in 1..n {
            for (dst, &src) in phi1[t * kk..(t + 1) * kk]
                .iter_mut()
                .zip(&ln_a[t * kk..(t + 1) * kk])
            {
                *dst = floor_ln(src);
            }
        }
        (vec![phi0, phi1], vec![0.0; n])
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let k = self.states;
        let kk = k * k;
        let (phi0, phi1) = (&phi[0], &phi[1]);
        if phi0.len() != n * k || phi1.len() != n * kk {
            return None;
        }
        if phi0
            .iter()
            .chain(phi1.iter())
            .any(|v| v.is_nan() || *v == f64::INFINITY)
        {
            return None;
        }
        // Node potentials ψ_t (shifted by their maximum) into `gamma`, pair
        // potentials Ψ_t into `xi`; both are overwritten by the moments.
        let mut gamma = vec![0.0; n * k];
        let mut xi = vec![0.0; n * kk];
        let mut g = vec![0.0; n];
        for t in 0..n {
            let row = &phi0[t * k..(t + 1) * k];
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !m.is_finite() {
                return None;
            }
            for (p, &v) in gamma[t * k..(t + 1) * k].iter_mut().zip(row) {
                *p = (v - m).exp();
            }
            g[t] = -m;
        }
        for t in 1..n {
            let cur = &phi1[t * kk..(t + 1) * kk];
            if t >= 2 && cur == &phi1[(t - 1) * kk..t * kk] {
                // Time-homogeneous transitions: reuse the previous Ψ.
                xi.copy_within((t - 1) * kk..t * kk, t * kk);
                let shift = cur.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                g[t] -= shift;
                continue;
            }
            let m = cur.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !m.is_finite() {
                return None;
            }
            for (p, &v) in xi[t * kk..(t + 1) * kk].iter_mut().zip(cur) {
                *p = (v - m).exp();
            }
            g[t] -= m;
        }

        // Forward: α̂_t and the scale factors c_t.
        let mut alpha = vec![0.0; n * k];
        let mut c = vec![0.0; n];
        for t in 0..n {
            let (done, rest) = alpha.split_at_mut(t * k);
            let a_t = &mut rest[..k];
            let psi = &gamma[t * k..(t + 1) * k];
            if t == 0 {
                a_t.copy_from_slice(psi);
            } else {
                let a_prev = &done[(t - 1) * k..t * k];
                let pair = &xi[t * kk..(t + 1) * kk];
                a_t.iter_mut().for_each(|v| *v = 0.0);
                for j in 0..k {
                    let aj = a_prev[j];
                    if aj == 0.0 {
                        continue;
                    }
                    for (v, &p) in a_t.iter_mut().zip(&pair[j * k..(j + 1) * k]) {
                        *v += aj * p;
                    }
                }
                for (v, &p) in a_t.iter_mut().zip(psi) {
                    *v *= p;
                }
            }
            let s: f64 = a_t.iter().sum();
            if !(s > 0.0 && s.is_finite()) {
                return None;
            }
            a_t.iter_mut().for_each(|v| *v /= s);
            c[t] = s;
            g[t] -= s.ln();
        }

        // Backward: β̂_t, the pairwise expectations ξ_t and the marginals.
        let mut beta = vec![1.0; k];
        let mut w = vec![0.0; k];
        for t in (1..n).rev() {
            for q in 0..k {
                w[q] = gamma[t * k + q] * beta[q] / c[t];
            }
            // q(z_t) = α̂_t β̂_t replaces ψ_t, which is no longer needed.
            for q in 0..k {
                gamma[t * k + q] = alpha[t * k + q] * beta[q];
            }
            let a_prev = &alpha[(t - 1) * k..t * k];
            let pair = &mut xi[t * kk..(t + 1) * kk];
            for j in 0..k {
                let row = &mut pair[j * k..(j + 1) * k];
                let mut b = 0.0;
                for (p, &wq) in row.iter_mut().zip(&w) {
                    let v = *p * wq;
                    b += v;
                    *p = a_prev[j] * v;
                }
                beta[j] = b;
            }
        }
        if n > 0 {
            for q in 0..k {
                gamma[q] = alpha[q] * beta[q];
            }
        }
        Some((vec![gamma, xi], g))
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![0.0; n]
    }

    fn message_to_parent(
        &self,
        slot: usize,
        u: &[Vec<f64>],
        _parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let k = self.states;
        match slot {
            0 => {
                // View plates [N]: the initial marginal at t = 0 only.
                let mut m = vec![0.0; n * k];
                if n > 0 {
                    m[..k].copy_from_slice(&u[0][..k]);
                }
                vec![m]
            }
            _ => {
                // View plates [N, K]: element (t, j) gets ξ_t(j, ·); ξ_0 = 0.
                vec![u[1].clone()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force marginals, pairwise marginals and ln Z by enumeration.
    fn brute(phi0: &[f64], phi1: &[f64], n: usize, k: usize) -> (Vec<f64>, Vec<f64>, f64) {
        let mut gamma = vec![0.0; n * k];
        let mut xi = vec![0.0; n * k * k];
        let mut z = 0.0;
        let total = k.pow(n as u32);
        for code in 0..total {
            let path: Vec<usize> = (0..n).map(|t| (code / k.pow(t as u32)) % k).collect();
            let mut lw = 0.0;
            for t in 0..n {
                lw += phi0[t * k + path[t]];
                if t > 0 {
                    lw += phi1[t * k * k + path[t - 1] * k + path[t]];
                }
            }
            let w = lw.exp();
            z += w;
            for t in 0..n {
                gamma[t * k + path[t]] += w;
                if t > 0 {
                    xi[t * k * k + path[t - 1] * k + path[t]] += w;
                }
            }
        }
        gamma.iter_mut().for_each(|v| *v /= z);
        xi.iter_mut().for_each(|v| *v /= z);
        (gamma, xi, z.ln())
    }

    #[test]
    fn forward_backward_matches_enumeration() {
        let (n, k) = (5, 3);
        let phi0: Vec<f64> = (0..n * k)
            .map(|i| ((i * 7 % 11) as f64) * 0.3 - 1.5)
            .collect();
        let mut phi1: Vec<f64> = (0..n * k * k)
            .map(|i| ((i * 5 % 13) as f64) * 0.2 - 1.0)
            .collect();
        phi1[..k * k].iter_mut().for_each(|v| *v = 0.0);
        let chain = CategoricalChain::new(k);
        let (u, g) = chain.moments(&[phi0.clone(), phi1.clone()], n).unwrap();
        let (gamma, xi, ln_z) = brute(&phi0, &phi1, n, k);
        for (a, b) in u[0].iter().zip(&gamma) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        for (a, b) in u[1].iter().zip(&xi) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        let g_sum: f64 = g.iter().sum();
        assert!((g_sum + ln_z).abs() < 1e-13 * ln_z.abs().max(1.0));
    }

    #[test]
    fn zero_probabilities_are_hard_zeros() {
        let chain = CategoricalChain::new(2);
        // z_0 = 0 surely; from state 0 the chain must move to 1.
        let ln_pi = vec![0.0, f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY];
        let ln_a = vec![f64::NEG_INFINITY, 0.0, 0.5f64.ln(), 0.5f64.ln()];
        let ln_a_view: Vec<f64> = ln_a.iter().chain(&ln_a).copied().collect();
        let (phi, g_p) = chain.prior(&[&[ln_pi], &[ln_a_view]], 2);
        assert!(phi.iter().flatten().all(|v| v.is_finite()));
        assert_eq!(g_p, vec![0.0, 0.0]);
        let (u, g) = chain.moments(&phi, 2).unwrap();
        assert_eq!(u[0], vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(u[1][4..], [0.0, 1.0, 0.0, 0.0]);
        assert!(g.iter().sum::<f64>().abs() < 1e-15);
    }

    #[test]
    fn outside_the_parameter_space_is_none() {
        let chain = CategoricalChain::new(2);
        assert!(chain
            .moments(&[vec![0.0, f64::NAN], vec![0.0; 4]], 1)
            .is_none());
        assert!(chain
            .moments(&[vec![f64::NEG_INFINITY; 2], vec![0.0; 4]], 1)
            .is_none());
    }
}
