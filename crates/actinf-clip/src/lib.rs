//! A local CLIP model directory → text embeddings and dense patch
//! embeddings, so that a text query can steer vision-token allocation.
//!
//! `actinf-relevance` scores patches by the cosine between a query
//! embedding and one embedding per patch, from any encoder. This crate is
//! one such encoder, offline: it reads a Hugging Face CLIP directory
//! (`config.json`, `model.safetensors`, `vocab.json` + `merges.txt` or
//! `tokenizer.json`, `preprocessor_config.json`), tokenises text with
//! CLIP's byte-level BPE, runs both towers on the CPU with `candle`, and
//! turns the vision tower's patch tokens into per-patch embeddings in the
//! joint space with MaskCLIP's recipe (Zhou, Loy & Dai 2022), resampled to
//! the allocation grid.
//!
//! Everything is written out here rather than taken from
//! `candle-transformers` and `tokenizers`, whose build cost is out of
//! proportion to two small transformers and a tokenizer; the pieces are
//! checked against PyTorch and Hugging Face on a tiny model made by
//! `scripts/make_tiny_clip.py` (see `docs/clip.md`).
//!
//! ```no_run
//! # fn main() -> actinf_clip::Result<()> {
//! use actinf_clip::ClipModel;
//! let model = ClipModel::load(std::path::Path::new("clip-vit-base-patch16"))?;
//! let query = model.text_embedding("a red striped disc")?;
//! # let image = actinf_relevance::image::RgbImage::new(1, 1, vec![0, 0, 0]).unwrap();
//! let patches = model.patch_embeddings(&image, 32)?; // 32² × D
//! # let _ = (query, patches);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod error;
mod layers;
pub mod model;
pub mod text;
pub mod tokenizer;
pub mod vision;
mod weights;

pub use config::{Activation, ClipConfig, PreprocessorConfig};
pub use error::{ClipError, Result};
pub use model::{ClipModel, Precision, MAX_GRID};
pub use tokenizer::Tokenizer;
