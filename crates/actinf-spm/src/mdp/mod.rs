//! SPM12's `spm_MDP_VB_X` (discrete active inference by variational message
//! passing) replayed on recorded trials.
//!
//! - [`vbx`]: one trial of the scheme, [`replay_trial`], on actinf-pomdp's
//!   marginal message passing and SPM compatibility pieces.
//! - [`model`]: the MDP as SPM takes it ([`MdpModel`], [`Policies`],
//!   [`VbxSettings`], learned [`Concentrations`]).
//! - [`document`]: SPM fixture documents (`spec`, `single_trial`,
//!   `sequence.trials`) read, replayed and filled in, [`replay_document`].
//!
//! SPM's quirks reproduced, and where they differ from the rest of actinf,
//! are listed in `docs/spm-mdp.md`.

pub mod document;
mod error;
mod json;
pub mod model;
pub mod vbx;

pub use document::{replay_document, trial_from_json, MdpSpec};
pub use error::MdpError;
pub use model::{Concentrations, MdpModel, Policies, VbxSettings};
pub use vbx::{replay_trial, NeuronalTraces, TrialInputs, TrialResult};
