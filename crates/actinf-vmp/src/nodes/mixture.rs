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

/// Call `f::<D>` with the block size as a constant for the common small
/// sizes (so the per-block loops unroll), `f::<0>` (run-time size)
/// otherwise.
macro_rules! with_block {
    ($d:expr, $f:ident($($arg:expr),*)) => {
        match $d {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
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
        let z = &parents[0][0][..n * k];
        let (phi_k, g_k) = self.component_priors(parents, n);
        let dims = self.family.part_dims();
        let mut phi: Parts = dims.iter().map(|&d| vec![0.0; n * d]).collect();
        // Each output value sums its K weighted terms in component order.
        for ((out, src), &d) in phi.iter_mut().zip(&phi_k).zip(&dims) {
            let src = &src[..n * k * d];
            for ((o, zi), si) in out
                .chunks_exact_mut(d)
                .zip(z.chunks_exact(k))
                .zip(src.chunks_exact(k * d))
            {
                for (&w, sc) in zi.iter().zip(si.chunks_exact(d)) {
                    if w == 0.0 {
                        continue;
                    }
                    for (a, b) in o.iter_mut().zip(sc) {
                        *a += w * b;
                    }
                }
            }
        }
        let mut g = vec![0.0; n];
        for ((gi, zi), gk) in g
            .iter_mut()
            .zip(z.chunks_exact(k))
            .zip(g_k[..n * k].chunks_exact(k))
        {
            for (&w, gc) in zi.iter().zip(gk) {
                if w != 0.0 {
                    *gi += w * gc;
                }
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
            let mut m = vec![0.0; n * k];
            for ((mi, gi), fi) in m.chunks_exact_mut(k).zip(g_k.chunks_exact(k)).zip(&f) {
                for (l, g) in mi.iter_mut().zip(gi) {
                    *l = g + fi;
                }
            }
            // Each component's log-likelihood adds the parts in order.
            for ((p, x), &d) in phi_k.iter().zip(u).zip(&dims) {
                let (p, x) = (&p[..n * k * d], &x[..n * d]);
                with_block!(d, add_log_likelihoods(d, k, p, x, &mut m));
            }
            return vec![m];
        }
        // The component's message with u repeated over the component axis,
        // then weighted by ⟨z_k⟩.
        let u_rep: Parts = u
            .iter()
            .zip(&dims)
            .map(|(x, &d)| repeat_rows(&x[..n * d], d, k))
            .collect();
        let mut m = self
            .family
            .message_to_parent(slot - 1, &u_rep, &parents[1..], n * k);
        let z = &parents[0][0][..n * k];
        for part in m.iter_mut() {
            // Values per (element, component) pair: the part's size, times
            // the inner component plates of a nested mixture.
            let per = (part.len() / (n * k).max(1)).max(1);
            if part.len() == per * z.len() {
                with_block!(per, weigh(per, part, z));
            } else {
                weigh::<0>(per, part, z);
            }
        }
        m
    }

    fn posterior(&self, prior: &[Vec<f64>], messages: &[Vec<f64>], n: usize) -> Parts {
        self.family.posterior(prior, messages, n)
    }
}

/// `D` when it is a compile-time block size, else the run-time `d`.
#[inline(always)]
fn block<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}

/// `m[i, c] += φ_c[i]·x[i]` for one moment part (`d` values per element).
fn add_log_likelihoods<const D: usize>(d: usize, k: usize, p: &[f64], x: &[f64], m: &mut [f64]) {
    let d = block::<D>(d);
    for ((mi, pi), xi) in m
        .chunks_exact_mut(k)
        .zip(p.chunks_exact(k * d))
        .zip(x.chunks_exact(d))
    {
        for (l, pc) in mi.iter_mut().zip(pi.chunks_exact(d)) {
            *l += pc.iter().zip(xi).map(|(a, b)| a * b).sum::<f64>();
        }
    }
}

/// Weigh each `per`-value block of a message by its `⟨z_k⟩`.
fn weigh<const D: usize>(per: usize, part: &mut [f64], z: &[f64]) {
    let per = block::<D>(per);
    for (chunk, &w) in part.chunks_mut(per).zip(z) {
        // A component with no weight sends nothing (even ±∞). A select, not
        // a branch: which components are empty changes from one element to
        // the next.
        for v in chunk {
            *v = if w == 0.0 { 0.0 } else { w * *v };
        }
    }
}

/// Each `d`-value row of `x` repeated `k` times in a row.
fn repeat_rows(x: &[f64], d: usize, k: usize) -> Vec<f64> {
    fn go<const D: usize>(x: &[f64], k: usize, out: &mut [f64]) {
        for (row, dst) in x.chunks_exact(D).zip(out.chunks_exact_mut(k * D)) {
            let row: &[f64; D] = row.try_into().expect("a row");
            for c in dst.chunks_exact_mut(D) {
                let c: &mut [f64; D] = c.try_into().expect("a row");
                *c = *row;
            }
        }
    }
    let mut out = vec![0.0; x.len() * k];
    match d {
        1 => go::<1>(x, k, &mut out),
        2 => go::<2>(x, k, &mut out),
        3 => go::<3>(x, k, &mut out),
        4 => go::<4>(x, k, &mut out),
        _ if d > 0 => {
            for (row, dst) in x.chunks_exact(d).zip(out.chunks_exact_mut(k * d)) {
                for c in dst.chunks_exact_mut(d) {
                    c.copy_from_slice(row);
                }
            }
        }
        _ => {}
    }
    out
}
