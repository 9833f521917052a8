//! SPM interop: models described as SPM12 describes them, run on actinf's
//! engines, with SPM's numbers reproduced where SPM's quirks matter.
//!
//! - [`mdp`]: `spm_MDP_VB_X` (discrete active inference) replayed on SPM's
//!   MDP structures, single trials and sequences of trials with Dirichlet
//!   learning, on top of `actinf-pomdp`'s marginal message passing.

#![warn(missing_docs)]

pub mod mdp;
