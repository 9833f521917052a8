//! The whole front end in one call: texture array → three scorers →
//! allocation posterior → integer token budget per patch.

use serde::Serialize;

use crate::allocation::{allocate, Allocation, AllocationSettings, Budget, Precision, Scorer};
use crate::error::{RelevanceError, Result};
use crate::image::RgbImage;
use crate::npy::NpyArray;
use crate::scorers::{embedding_similarity, perspectival, propositional, Exemplar};
use crate::texture::{faithful, TextureArray, TextureMode, TexturePipeline};

/// What the participatory scorer couples the image with.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// No query: only the propositional and perspectival scorers speak.
    None,
    /// An exemplar crop of what is sought.
    Exemplar(Exemplar),
    /// External embeddings: one row per patch and a query vector.
    Embeddings {
        /// Patch embeddings, `patches × dim`, row-major.
        patches: Vec<f64>,
        /// The query embedding, `dim` values.
        query: Vec<f64>,
    },
}

impl Query {
    /// Embedding query from `.npy` arrays: patch embeddings of shape
    /// `[grid², D]` or `[grid, grid, D]` (row-major patch order) and a query
    /// of shape `[D]` or `[1, D]`.
    pub fn from_embeddings(patches: NpyArray, query: NpyArray, grid: usize) -> Result<Self> {
        let n = grid * grid;
        let dim = match query.shape.as_slice() {
            [d] | [1, d] if *d > 0 => *d,
            other => {
                return Err(RelevanceError::Shape {
                    name: "query embedding".into(),
                    found: other.to_vec(),
                    expected: "[D] or [1, D] with D > 0".into(),
                })
            }
        };
        let ok = match patches.shape.as_slice() {
            [rows, d] => *rows == n && *d == dim,
            [h, w, d] => *h == grid && *w == grid && *d == dim,
            _ => false,
        };
        if !ok {
            return Err(RelevanceError::Shape {
                name: "patch embeddings".into(),
                found: patches.shape,
                expected: format!("[{n}, {dim}] or [{grid}, {grid}, {dim}] (one row per patch of the {grid}×{grid} grid, as wide as the query)"),
            });
        }
        Ok(Self::Embeddings {
            patches: patches.data,
            query: query.data,
        })
    }
}

/// Settings of the front end.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontEndSettings {
    /// Patches per side (ARR-COC: 32).
    pub grid: usize,
    /// Texture mode.
    pub mode: TextureMode,
    /// Precision of the propositional scorer.
    pub propositional: Precision,
    /// Precision of the perspectival scorer.
    pub perspectival: Precision,
    /// Precision of the participatory scorer (used when there is a query).
    pub participatory: Precision,
    /// Allocation settings.
    pub allocation: AllocationSettings,
}

impl Default for FrontEndSettings {
    /// Grid 32, the default texture, and set precisions 4 : 4 : 32 — the
    /// query, when there is one, is what the tokens are for; information and
    /// salience share out what it leaves open.
    fn default() -> Self {
        Self {
            grid: 32,
            mode: TextureMode::Default,
            propositional: Precision::Fixed(4.0),
            perspectival: Precision::Fixed(4.0),
            participatory: Precision::Fixed(32.0),
            allocation: AllocationSettings::default(),
        }
    }
}

/// Everything the front end computed for one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontEndResult {
    /// Patches per side.
    pub grid: usize,
    /// Texture mode.
    pub mode: TextureMode,
    /// Scorer names, in the order of `scores` and the precisions.
    pub scorers: Vec<String>,
    /// Per scorer, one score per patch.
    pub scores: Vec<Vec<f64>>,
    /// The allocation.
    pub allocation: Allocation,
    /// The texture array (not serialised).
    #[serde(skip)]
    pub texture: TextureArray,
}

/// The front end with its reusable buffers.
pub struct FrontEnd {
    settings: FrontEndSettings,
    texture: TexturePipeline,
}

impl FrontEnd {
    /// A front end with these settings.
    pub fn new(settings: FrontEndSettings) -> Result<Self> {
        Ok(Self {
            texture: TexturePipeline::new(settings.grid)?,
            settings,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &FrontEndSettings {
        &self.settings
    }

    /// The default texture pipeline (its working image is that of the last
    /// default-mode frame).
    pub fn texture_pipeline(&self) -> &TexturePipeline {
        &self.texture
    }

    /// The texture array of `image` in the configured mode.
    pub fn texture(&mut self, image: &RgbImage) -> Result<TextureArray> {
        match self.settings.mode {
            TextureMode::Default => self.texture.compute(image),
            TextureMode::Faithful => faithful(image, self.settings.grid),
        }
    }

    /// The scorers' evidence for `image` under `query`.
    pub fn scorers(
        &mut self,
        image: &RgbImage,
        query: &Query,
    ) -> Result<(TextureArray, Vec<Scorer>)> {
        let texture = self.texture(image)?;
        let s = &self.settings;
        let mut scorers = vec![
            Scorer {
                name: "propositional".into(),
                scores: propositional(&texture),
                precision: s.propositional,
            },
            Scorer {
                name: "perspectival".into(),
                scores: perspectival(&texture),
                precision: s.perspectival,
            },
        ];
        let participatory = match query {
            Query::None => None,
            Query::Exemplar(e) => Some(match s.mode {
                TextureMode::Default => {
                    let (working, side) = self.texture.working_image();
                    e.backprojection(working, side, s.grid)?
                }
                TextureMode::Faithful => e.similarity(&texture)?,
            }),
            Query::Embeddings { patches, query } => {
                Some(embedding_similarity(patches, texture.patches(), query)?)
            }
        };
        if let Some(scores) = participatory {
            scorers.push(Scorer {
                name: "participatory".into(),
                scores,
                precision: s.participatory,
            });
        }
        Ok((texture, scorers))
    }

    /// Score `image` and allocate `budget` tokens over its patches.
    pub fn run(
        &mut self,
        image: &RgbImage,
        query: &Query,
        budget: Budget,
    ) -> Result<FrontEndResult> {
        let (texture, scorers) = self.scorers(image, query)?;
        let allocation = allocate(&scorers, budget, &self.settings.allocation)?;
        Ok(FrontEndResult {
            grid: self.settings.grid,
            mode: self.settings.mode,
            scorers: scorers.iter().map(|s| s.name.clone()).collect(),
            scores: scorers.into_iter().map(|s| s.scores).collect(),
            allocation,
            texture,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_shapes_are_checked() {
        let arr = |shape: Vec<usize>| NpyArray {
            data: vec![1.0; shape.iter().product()],
            shape,
        };
        assert!(Query::from_embeddings(arr(vec![16, 5]), arr(vec![5]), 4).is_ok());
        assert!(Query::from_embeddings(arr(vec![4, 4, 5]), arr(vec![1, 5]), 4).is_ok());
        for (p, q) in [
            (vec![15, 5], vec![5]),
            (vec![16, 5], vec![4]),
            (vec![16, 5], vec![2, 5]),
            (vec![4, 5, 5], vec![5]),
            (vec![80], vec![5]),
        ] {
            let err = Query::from_embeddings(arr(p.clone()), arr(q), 4).unwrap_err();
            assert!(matches!(err, RelevanceError::Shape { .. }), "{p:?}: {err}");
        }
    }

    #[test]
    fn front_end_meets_the_budget_on_an_image() {
        let (w, h) = (90, 70);
        let px: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect();
        let img = RgbImage::new(w, h, px).unwrap();
        let mut fe = FrontEnd::new(FrontEndSettings {
            grid: 8,
            ..Default::default()
        })
        .unwrap();
        let r = fe.run(&img, &Query::None, Budget::Total(64 * 64)).unwrap();
        assert_eq!(r.allocation.total, 64 * 64);
        assert_eq!(r.scores.len(), 2);
    }
}
