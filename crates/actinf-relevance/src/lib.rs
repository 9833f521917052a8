//! # actinf-relevance
//!
//! Query-aware vision-token allocation as variational inference: the front
//! end of a vision-language model that decides how many vision tokens each
//! image patch deserves (none, or 64 to 400) under a total budget, given a
//! query, and over video plans the allocation by expected free energy.
//!
//! Why inference: a fixed token grid spends as much on empty background as
//! on what was asked about, and a hand-tuned rule (ARR-COC-0-1's "top 200
//! patches, equal budget") has no notion of how sure it is or of an exact
//! budget. Here the level a patch deserves is a hidden cause of what three
//! scorers report; its posterior, the scorers' precisions and the budget's
//! Lagrange multiplier follow from one variational free energy, whose ELBO
//! is reported every sweep.
//!
//! The pieces, in pipeline order:
//!
//! * [`image`] — decoded RGB images, with decoder limits;
//! * [`texture`] — the 13-channel texture array, ARR-COC's (`faithful`,
//!   checked against torch + kornia) and an area-measured default;
//! * [`scorers`] — propositional, perspectival and participatory scores, the
//!   last from an exemplar crop or external embeddings ([`npy`]);
//! * [`allocation`] — the allocation posterior, `λ`, the ELBO and the exact
//!   integer allocation;
//! * [`pipeline`] — all of the above in one call;
//! * [`video`] — planning over frames by expected free energy;
//! * [`quality`] — what the tokens keep: reconstruction, PSNR, the benchmark.
//!
//! The maths is in `docs/relevance.md`.
#![warn(missing_docs)]

pub mod allocation;
pub mod error;
pub mod image;
pub mod npy;
pub mod pipeline;
pub mod quality;
pub mod resize;
pub mod scorers;
pub mod texture;
pub mod video;

pub use error::{RelevanceError, Result};
