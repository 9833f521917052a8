//! # actinf-spm
//!
//! Interoperability with SPM12 (MATLAB): SPM describes its models in its own
//! terms — DEM levels whose equations of motion `f` and observers `g` are
//! MATLAB expression text over `x`, `v` and `P`, MDP structures of arrays —
//! and this crate reads those descriptions so actinf's engines can run them
//! without MATLAB, reproducing SPM's numbers where SPM's quirks matter.
//!
//! - [`expr`]: SPM's MATLAB expression subset for `f(x, v, P)` and
//!   `g(x, v, P)`: lexer, parser, compiler to a small instruction tape, and an
//!   evaluator that returns values with exact first derivatives and the mixed
//!   second derivatives DEM's E-step needs.
//! - [`dem`]: a DEM run as SPM describes it (the model structure `M` with
//!   `f`/`g` as expression text, the data) read into actinf-gc's
//!   hierarchical model and inverted by its DEM, results written in SPM's layout.
//! - [`mdp`]: `spm_MDP_VB_X` (discrete active inference) replayed on SPM's
//!   MDP structures, single trials and sequences of trials with Dirichlet
//!   learning, on top of `actinf-pomdp`'s marginal message passing.

#![warn(missing_docs)]

pub mod dem;
pub mod expr;
pub mod mdp;
