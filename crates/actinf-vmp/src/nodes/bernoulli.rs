//! The Bernoulli distribution, as the two-category [`Categorical`].
//!
//! `x ∈ {0, 1}` with `P(x = 1) = p`, its parent the
//! [`beta`](super::beta::beta) node (a Dirichlet over `(1 − p, p)`). With
//! `u = [P(x = 0), P(x = 1)]` (for data the one-hot of `x`):
//! `φ = [⟨ln(1 − p)⟩, ⟨ln p⟩]`, `⟨g⟩ = 0`, `f = 0`; the message to the Beta
//! parent is `u`, and `q(x)` has `P(x = 1) = σ(φ₁ − φ₀)`. Equivalent to
//! BayesPy's `Bernoulli` (`u = x`, `φ = ⟨ln p⟩ − ⟨ln(1 − p)⟩`,
//! `g = ⟨ln(1 − p)⟩`): `φ·u + g` is the same number. Observed values are 0
//! or 1. Sources: Bishop (2006), *PRML* §2.1 and §9.3.3; Winn & Bishop
//! (2005), table 1 (discrete node).

use super::categorical::Categorical;

/// `Bern(x | p)`: the [`Categorical`] over the outcomes `{0, 1}`.
pub fn bernoulli() -> Categorical {
    Categorical { categories: 2 }
}
