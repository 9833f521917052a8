//! # actinf-vmp
//!
//! Variational message passing (Winn & Bishop 2005) on factor graphs of
//! conjugate-exponential nodes. A model is a list of nodes, each with a type
//! ([`family::Family`], one file per type under [`nodes`]), parents by name or
//! constant, plates and optionally observed data; [`graph::Graph`] checks
//! every edge for conjugacy, then updates one mean-field factor at a time and
//! reports the evidence lower bound (the negative variational free energy)
//! after every sweep.

#![warn(missing_docs)]
// Families index several per-plate-element arrays in step; index loops read
// closest to the equations there.
#![allow(clippy::needless_range_loop)]

pub mod error;
pub mod family;
pub mod graph;
pub mod kind;
pub mod nodes;

pub use error::VmpError;
pub use graph::{Graph, NodeSpec, Parent, Run};
pub use kind::Kind;
