//! [`ClipModel`]: a loaded model directory and the embeddings it computes.

use std::path::Path;

use actinf_relevance::image::RgbImage;
use candle_core::DType;

use crate::config::{file, ClipConfig, PreprocessorConfig};
use crate::error::{ClipError, Result};
use crate::text::TextTower;
use crate::tokenizer::Tokenizer;
use crate::vision::VisionTower;
use crate::weights::Weights;
use actinf_relevance::resize::torch_bilinear;

/// The largest allocation grid [`ClipModel::patch_embeddings`] accepts:
/// the texture array's limit in `actinf-relevance`.
pub const MAX_GRID: usize = actinf_relevance::texture::MAX_GRID;

/// Arithmetic precision of the towers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 32-bit floats, like the released models (the default).
    #[default]
    F32,
    /// 64-bit floats: slower, for checking against a float64 reference.
    F64,
}

/// A CLIP model loaded from a local Hugging Face directory.
pub struct ClipModel {
    config: ClipConfig,
    preprocessor: PreprocessorConfig,
    tokenizer: Tokenizer,
    text: TextTower,
    vision: VisionTower,
}

impl ClipModel {
    /// Load `dir` in 32-bit precision. The directory must hold
    /// `config.json`, `model.safetensors`, `vocab.json` + `merges.txt` (or
    /// `tokenizer.json`) and `preprocessor_config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with_precision(dir, Precision::F32)
    }

    /// Load `dir` computing in `precision`.
    pub fn load_with_precision(dir: &Path, precision: Precision) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ClipError::MissingDirectory {
                path: dir.to_path_buf(),
            });
        }
        let config_path = file(dir, "config.json");
        let config = ClipConfig::load(&config_path)?;
        let preprocessor = PreprocessorConfig::load(&file(dir, "preprocessor_config.json"))?;
        let tokenizer = Tokenizer::load(dir)?;
        let eos = config.text.eos_token_id;
        if eos != 2 && eos != tokenizer.eos_id() {
            return Err(ClipError::Config {
                path: config_path,
                field: "text_config.eos_token_id".into(),
                reason: format!(
                    "{eos}, but the tokenizer's <|endoftext|> is {}; the text embedding is pooled at that token",
                    tokenizer.eos_id()
                ),
            });
        }
        let dtype = match precision {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        };
        let weights = Weights::load(&file(dir, "model.safetensors"), dtype)?;
        debug_assert_eq!(weights.dtype(), dtype);
        let text = TextTower::load(&weights, &config.text, config.projection_dim)?;
        let vision = VisionTower::load(&weights, &config.vision, config.projection_dim)?;
        Ok(Self {
            config,
            preprocessor,
            tokenizer,
            text,
            vision,
        })
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The parsed `preprocessor_config.json`.
    pub fn preprocessor(&self) -> &PreprocessorConfig {
        &self.preprocessor
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Width of the joint embedding space.
    pub fn embedding_dim(&self) -> usize {
        self.config.projection_dim
    }

    /// Token ids of `text` with `<|startoftext|>` and `<|endoftext|>`,
    /// untruncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer.encode(text)
    }

    /// The text embedding (`CLIPModel.get_text_features`, not normalised).
    /// A text longer than the context is an error, not truncated.
    pub fn text_embedding(&self, text: &str) -> Result<Vec<f64>> {
        let ids = self.tokenize(text)?;
        let max = self.config.text.max_position_embeddings;
        if ids.len() > max {
            return Err(ClipError::TextTooLong {
                text: text.to_string(),
                tokens: ids.len(),
                max,
            });
        }
        self.text.embed_ids(&ids)
    }

    /// The text embedding of explicit token ids (markers included).
    pub fn text_embedding_ids(&self, ids: &[u32]) -> Result<Vec<f64>> {
        self.text.embed_ids(ids)
    }

    /// The image embedding (`CLIPModel.get_image_features`, not normalised)
    /// of the whole image resized to the model's input (see
    /// [`preprocess`](Self::preprocess)).
    pub fn image_embedding(&self, image: &RgbImage) -> Result<Vec<f64>> {
        let pixels = self.preprocess(image.width(), image.height(), image.pixels())?;
        self.vision.embed_cls(&pixels)
    }

    /// MaskCLIP dense embeddings on the ViT's own patch grid: `n² ×
    /// embedding_dim` row-major (`n` = [`vit_grid`](Self::vit_grid)).
    pub fn vit_patch_embeddings(&self, image: &RgbImage) -> Result<Vec<f64>> {
        let pixels = self.preprocess(image.width(), image.height(), image.pixels())?;
        self.vision.embed_patches(&pixels)
    }

    /// Patches per side of the ViT's grid (`image_size / patch_size`).
    pub fn vit_grid(&self) -> usize {
        self.vision.patches_per_side()
    }

    /// One embedding per patch of a `grid × grid` allocation grid over the
    /// whole image: `grid² × embedding_dim`, row-major, row `y·grid + x`.
    /// The ViT's dense embeddings are resampled bilinearly
    /// (`align_corners=False`) from its `n × n` grid.
    pub fn patch_embeddings(&self, image: &RgbImage, grid: usize) -> Result<Vec<f64>> {
        self.patch_embeddings_rgb(image.width(), image.height(), image.pixels(), grid)
    }

    /// [`patch_embeddings`](Self::patch_embeddings) for a raw RGB buffer
    /// (`width × height × 3` bytes, row-major).
    pub fn patch_embeddings_rgb(
        &self,
        width: usize,
        height: usize,
        rgb: &[u8],
        grid: usize,
    ) -> Result<Vec<f64>> {
        if grid == 0 || grid > MAX_GRID {
            return Err(ClipError::BadGrid {
                grid,
                max: MAX_GRID,
            });
        }
        let pixels = self.preprocess(width, height, rgb)?;
        let dense = self.vision.embed_patches(&pixels)?;
        let n = self.vit_grid();
        Ok(torch_bilinear(
            &dense,
            n,
            n,
            self.embedding_dim(),
            grid,
            grid,
        ))
    }

    /// The vision tower's input for an RGB buffer: the whole image resized
    /// to `image_size × image_size` by bilinear interpolation
    /// (`align_corners=False`, no antialiasing, no crop), scaled by
    /// `rescale_factor`, normalised by `image_mean`/`image_std`; returned
    /// channels first, `3 × S × S`.
    pub fn preprocess(&self, width: usize, height: usize, rgb: &[u8]) -> Result<Vec<f64>> {
        if width == 0 || height == 0 {
            return Err(ClipError::EmptyImage { width, height });
        }
        let expected = width.checked_mul(height).and_then(|n| n.checked_mul(3));
        if expected != Some(rgb.len()) {
            return Err(ClipError::ImageBuffer {
                width,
                height,
                expected: expected.unwrap_or(usize::MAX),
                found: rgb.len(),
            });
        }
        let p = &self.preprocessor;
        let s = self.vision.image_size();
        // Interpolating the bytes and then scaling equals scaling first:
        // both steps are linear. Only the S×S output is allocated.
        let resized = torch_bilinear(rgb, height, width, 3, s, s);
        let mut planar = vec![0.0; 3 * s * s];
        for (i, px) in resized.chunks_exact(3).enumerate() {
            for c in 0..3 {
                planar[c * s * s + i] =
                    (px[c] * p.rescale_factor - p.image_mean[c]) / p.image_std[c];
            }
        }
        Ok(planar)
    }
}
