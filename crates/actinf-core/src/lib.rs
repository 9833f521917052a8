//! # actinf-core
//!
//! The numerics every actinf engine shares. Active inference is, underneath,
//! a handful of operations on probability vectors and tensors: taking logs
//! without producing `-inf`, normalising with a softmax, entropies and KL
//! divergences, contracting a likelihood tensor with factor marginals, and the
//! digamma function that turns Dirichlet counts into expected log
//! probabilities. Doing these once, carefully, keeps every engine honest.
//!
//! Dense arrays are row-major `Vec<f64>` plus a shape ([`Tensor`]). Hot loops
//! work on slices; the contraction routines take caller-owned scratch buffers
//! so that an agent step need not allocate.

#![warn(missing_docs)]

pub mod budget;
pub mod error;
pub mod maths;
pub mod tensor;

pub use error::CoreError;
pub use maths::LogGuard;
pub use tensor::Tensor;
