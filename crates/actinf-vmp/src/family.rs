//! The contract every node type fulfils.
//!
//! A conjugate-exponential node has log-density
//! `ln p(x | pa) = φ(pa)·u(x) + g(pa) + f(x)`, with `φ` linear in each
//! parent's moments. Variational message passing (Winn & Bishop 2005,
//! "Variational message passing", JMLR 6) then needs four things of each
//! node type: its prior natural parameters from its parents' moments, its
//! moments from natural parameters, its base measure, and its message to each
//! parent. Each node type implements them in its own file under `nodes/`.

use crate::kind::Kind;

/// Moment or natural-parameter parts: one flat vector per part, each holding
/// `n × part_dim` values (plate elements outermost).
pub type Parts = Vec<Vec<f64>>;

/// A node type: a conjugate-exponential family and its messages.
pub trait Family: std::fmt::Debug + Send + Sync {
    /// The moments this node exposes to its children.
    fn kind(&self) -> Kind;

    /// Per-element sizes of the node's own natural parameters and moments
    /// (the kind's parts first; chains add internal parts after them).
    fn part_dims(&self) -> Vec<usize> {
        self.kind().part_dims()
    }

    /// The kind each parent slot must provide.
    fn parent_kinds(&self) -> Vec<Kind>;

    /// Trailing plates a parent carries beyond this node's plates (a
    /// mixture's component axis). Parents are broadcast to
    /// `plates ++ extra` before [`Family::prior`] sees them.
    fn parent_extra_plates(&self, _slot: usize) -> Vec<usize> {
        Vec::new()
    }

    /// Prior natural parameters `φ_p` and expected log-partition `⟨g_p⟩`
    /// for each of the `n` plate elements, from the parents' moments.
    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>);

    /// Moments `⟨u⟩` and log-partition `g` for natural parameters `φ`, or
    /// `None` when `φ` is outside the natural parameter space.
    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)>;

    /// Base measure `f(x)` per element, from the moments of observed values.
    fn log_base_measure(&self, u: &[Vec<f64>], n: usize) -> Vec<f64>;

    /// The message to parent `slot`, per element of the broadcast parent view
    /// (`n × Π extra plates`), in the parent kind's part layout: the
    /// coefficients of the parent's moments in `⟨ln p(x | pa)⟩`.
    fn message_to_parent(
        &self,
        slot: usize,
        u: &[Vec<f64>],
        parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts;

    /// Refuse plates the node type cannot have (a chain's plates are its
    /// time axis: exactly one). `Err` holds the reason.
    fn check_plates(&self, _plates: &[usize]) -> Result<(), String> {
        Ok(())
    }

    /// Whether the node can be observed (a chain's internal moments cannot
    /// be computed from data).
    fn observable(&self) -> bool {
        self.part_dims() == self.kind().part_dims()
    }

    /// The posterior natural parameters from the prior's and the summed
    /// messages of the children (which arrive in the kind's layout).
    /// Conjugacy makes this a sum; chains override it.
    fn posterior(&self, prior: &[Vec<f64>], messages: &[Vec<f64>], _n: usize) -> Parts {
        let mut phi = prior.to_vec();
        for (p, m) in phi.iter_mut().zip(messages) {
            for (a, b) in p.iter_mut().zip(m) {
                *a += b;
            }
        }
        phi
    }
}
