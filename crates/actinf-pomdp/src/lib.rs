//! # actinf-pomdp
//!
//! Discrete active inference: an agent with a generative model over discrete
//! hidden states and outcomes infers states by minimising variational free
//! energy, scores policies by their expected free energy, acts, and learns
//! its model's parameters as Dirichlet counts.
//!
//! The layout mirrors the maths: [`model`] (the generative model and its
//! validation), [`inference`] (state inference), [`control`] (policies and
//! expected free energy), [`learning`] (Dirichlet updates), [`agent`] (the
//! loop that ties them together) and [`mod@env`] (generative processes to act in).
//! Array layouts and setting names are pymdp's, so a pymdp user can move a
//! model over unchanged.

#![warn(missing_docs)]

pub mod agent;
pub mod control;
pub mod env;
pub mod error;
pub mod inference;
pub mod learning;
pub mod mmp;
pub mod model;
pub mod reduction;
pub mod rollout;
pub mod sequence;
pub mod settings;
pub mod spm;
mod validate;

pub use agent::{Agent, PolicyInference, StepRecord};
pub use error::PomdpError;
pub use model::{GenerativeModel, ModelArrays};
pub use settings::Settings;
