//! A mixture: a selector `z` (one of K) picks which of K components'
//! parameters generate the node.
//!
//! With a component family `ln p_k(x) = φ_k·u(x) + g_k + f(x)` (its `φ_k`,
//! `g_k` from the k-th slice of the component parameters) and
//! `ln p(x | z, θ) = Σ_k z_k ln p_k(x)`, the node is conjugate to `z` and to
//! each component parameter. With `u` the component's statistics:
//!
//! - `φ_p = Σ_k ⟨z_k⟩ ⟨φ_k⟩`, `⟨g_p⟩ = Σ_k ⟨z_k⟩ ⟨g_k⟩`, `f` the component's;
//!   the moments of `q(x)` are the component's;
//! - message to `z` (Categorical kind, K values):
//!   `m_k = ⟨φ_k⟩·⟨u(x)⟩ + ⟨g_k⟩ + f(x)`, the expected log-likelihood of the
//!   k-th component (`f` is the same for every k, so it does not change `q(z)`);
//! - message to a component parameter, per component k: `⟨z_k⟩` times the
//!   component family's own message to that parameter.
//!
//! The component parameters carry a trailing plate of size K beyond the
//! node's plates ([`Family::parent_extra_plates`]), BayesPy's
//! `cluster_plate = −1`; a parameter without it is shared by the components.
//! Any [`Family`] can be the component (Gaussian, GaussianArd, Categorical
//! and so Bernoulli, …). Sources: Winn & Bishop (2005), "Variational message
//! passing", JMLR 6, §4.3 (mixture, or "gate", nodes); Bishop (2006), *PRML*
//! §10.2 (the variational Gaussian mixture) and §9.3.3 (Bernoulli mixtures);
//! BayesPy's `Mixture(z, family, *params)`.

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::Kind;

/// `Σ_k z_k p_k(x | θ_k)`: slot 0 the selector (Categorical of K), then the
/// component family's parameters, each with a trailing component plate of K.
#[derive(Debug)]
pub struct Mixture {
    components: usize,
    family: Box<dyn Family>,
}

impl Mixture {
    /// A mixture of `k ≥ 1` components of the family `component`.
    pub fn new(k: usize, component: impl Family + 'static) -> Result<Self, VmpError> {
        Self::boxed(k, Box::new(component))
    }

    /// [`Mixture::new`] with an already boxed component family.
    pub fn boxed(k: usize, component: Box<dyn Family>) -> Result<Self, VmpError> {
        if k == 0 {
            return Err(VmpError::Setting {
                name: "Mixture components".into(),
                reason: "needs at least one component".into(),
            });
        }
        Ok(Self {
            components: k,
            family: component,
        })
    }

    /// Number of components K.
    pub fn components(&self) -> usize {
        self.components
    }

    /// The component family.
    pub fn component(&self) -> &dyn Family {
        self.family.as_ref()
    }

    /// Component priors `φ_k`, `g_k` for the `n × K` (element, component) pairs.
    fn component_priors(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        self.family.prior(&parents[1..], n * self.components)
    }
}

impl Family for Mixture {
    fn kind(&self) -> Kind {
        self.family.kind()
    }

    fn part_dims(&self) -> Vec<usize> {
        self.family.part_dims()
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        let mut kinds = vec![Kind::Categorical(self.components)];
        kinds.extend(self.family.parent_kinds());
        kinds
    }

    fn parent_extra_plates(&self, slot: usize) -> Vec<usize> {
        if slot == 0 {
            return Vec::new();
        }
        // The component axis, then whatever the component itself adds (a
        // mixture of mixtures sees (element, component, inner component)).
        let mut extra = vec![self.components];
        extra.extend(self.family.parent_extra_plates(slot - 1));
        extra
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let k = self.components;
        let z = &parents[0][0];
        let (phi_k, g_k) = self.component_priors(parents, n);
        let dims = self.family.part_dims();
        let mut phi: Parts = dims.iter().map(|&d| vec![0.0; n * d]).collect();
        let mut g = vec![0.0; n];
        for i in 0..n {
            for c in 0..k {
                let w = z[i * k + c];
                if w == 0.0 {
                    continue;
                }
                let e = i * k + c;
                for ((out, src), &d) in phi.iter_mut().zip(&phi_k).zip(&dims) {
                    for (a, b) in out[i * d..(i + 1) * d]
                        .iter_mut()
                        .zip(&src[e * d..(e + 1) * d])
                    {
                        *a += w * b;
                    }
                }
                g[i] += w * g_k[e];
            }
        }
        (phi, g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        self.family.moments(phi, n)
    }

    fn log_base_measure(&self, u: &[Vec<f64>], n: usize) -> Vec<f64> {
        self.family.log_base_measure(u, n)
    }

    fn message_to_parent(
        &self,
        slot: usize,
        u: &[Vec<f64>],
        parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let k = self.components;
        let dims = self.family.part_dims();
        if slot == 0 {
            let (phi_k, g_k) = self.component_priors(parents, n);
            let f = self.family.log_base_measure(u, n);
            let mut m = Vec::with_capacity(n * k);
            for i in 0..n {
                for c in 0..k {
                    let e = i * k + c;
                    let mut l = g_k[e] + f[i];
                    for ((p, x), &d) in phi_k.iter().zip(u).zip(&dims) {
                        l += p[e * d..(e + 1) * d]
                            .iter()
                            .zip(&x[i * d..(i + 1) * d])
                            .map(|(a, b)| a * b)
                            .sum::<f64>();
                    }
                    m.push(l);
                }
            }
            return vec![m];
        }
        // The component's message with u repeated over the component axis,
        // then weighted by ⟨z_k⟩.
        let u_rep: Parts = u
            .iter()
            .zip(&dims)
            .map(|(x, &d)| {
                let mut out = Vec::with_capacity(n * k * d);
                for i in 0..n {
                    for _ in 0..k {
                        out.extend_from_slice(&x[i * d..(i + 1) * d]);
                    }
                }
                out
            })
            .collect();
        let mut m = self
            .family
            .message_to_parent(slot - 1, &u_rep, &parents[1..], n * k);
        let z = &parents[0][0];
        for part in m.iter_mut() {
            // Values per (element, component) pair: the part's size, times
            // the inner component plates of a nested mixture.
            let per = (part.len() / (n * k).max(1)).max(1);
            for (e, chunk) in part.chunks_mut(per).enumerate() {
                let w = z[e];
                for v in chunk {
                    // A component with no weight sends nothing (even ±∞).
                    *v = if w == 0.0 { 0.0 } else { w * *v };
                }
            }
        }
        m
    }

    fn posterior(&self, prior: &[Vec<f64>], messages: &[Vec<f64>], n: usize) -> Parts {
        self.family.posterior(prior, messages, n)
    }
}
