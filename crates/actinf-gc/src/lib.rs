//! # actinf-gc
//!
//! Continuous active inference in generalized coordinates of motion (Friston
//! 2008, "Hierarchical models in the brain"; Friston, Trujillo-Barreto &
//! Daunizeau 2008, "DEM: a variational treatment of dynamic systems";
//! Friston et al. 2010, "Generalised filtering"). A state is represented with
//! its motion, `x̃ = [x, x′, x″, …]`; noise is smooth, with a temporal
//! precision that couples the orders; inference descends the Laplace free
//! energy of the whole generalized trajectory while its expectation moves
//! with the flow, `dμ̃/dt = Dμ̃ − ∂F/∂μ̃`.
//!
//! Schemes: the D-step of a linear model ([`dstep`]); DEM's D-, E- and
//! M-steps of a [`hierarchical::HierarchicalModel`] ([`dem`], SPM12's
//! `spm_DEM`); and generalized filtering, states, parameters and
//! log-precisions updated together online ([`lap`], SPM12's `spm_LAP`).

#![warn(missing_docs)]

pub mod action;
pub mod dem;
pub mod dstep;
pub mod embed;
pub mod error;
pub mod hierarchical;
pub mod lap;
pub mod linearise;
pub mod model;
pub mod nonlinear;
pub mod precision;
pub mod shift;
pub mod simulate;
mod small;
pub mod systems;

pub use error::GcError;
