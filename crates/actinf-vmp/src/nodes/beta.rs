//! The Beta distribution, as the two-category [`Dirichlet`].
//!
//! `p ~ Beta(a, b)` (mean `a/(a + b)`) is the probability of a Bernoulli's
//! outcome 1. It is kept as the Dirichlet over the outcome probabilities
//! `(P(x = 0), P(x = 1)) = (1 − p, p)`, i.e. `Dir(α = [b, a])`, so that a
//! [`bernoulli`](super::bernoulli::bernoulli)'s 0/1 observation is the
//! category index. Everything is the Dirichlet's: with
//! `u = [ln(1 − p), ln p]`, `φ = [b, a]`, `g = ln Γ(a + b) − ln Γ(a) − ln Γ(b)`,
//! `f = −ln(1 − p) − ln p`, `⟨ln p⟩ = ψ(a) − ψ(a + b)`,
//! `⟨ln(1 − p)⟩ = ψ(b) − ψ(a + b)`.
//!
//! Note the order: BayesPy's `Beta([a, b])` stores `[ln p, ln(1 − p)]`; here
//! the moments and natural parameters run in outcome order (0 first).
//! Sources: Bishop (2006), *PRML* §2.1.1; Winn & Bishop (2005), table 1
//! (Dirichlet).

use crate::error::VmpError;

use super::dirichlet::Dirichlet;

/// `Beta(p | a, b)` over `p = P(x = 1)` (`a`, `b` finite and `> 0`): the
/// [`Dirichlet`] with `α = [b, a]` over `(1 − p, p)`; a
/// [`VmpError::Setting`] for bad `a` or `b`.
pub fn beta(a: f64, b: f64) -> Result<Dirichlet, VmpError> {
    Dirichlet::new(vec![b, a]).map_err(|e| match e {
        VmpError::Setting { reason, .. } => VmpError::Setting {
            name: "Beta(a, b)".into(),
            reason: format!("a = {a}, b = {b}: {reason}"),
        },
        other => other,
    })
}
