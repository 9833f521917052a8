//! # actinf-relevance
//!
//! Query-aware vision-token allocation as variational inference.
#![warn(missing_docs)]

pub mod error;
pub mod image;
pub mod resize;
pub mod texture;

pub use error::{RelevanceError, Result};
pub mod allocation;
pub mod npy;
pub mod pipeline;
pub mod quality;
pub mod scorers;
pub mod video;
