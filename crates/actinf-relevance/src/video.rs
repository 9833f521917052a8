//! Planning token allocations over video frames by expected free energy.
//!
//! Per frame the planner scores the patches as the still-image front end
//! does, then chooses each patch's level by minimising an expected free
//! energy summed over a horizon of `H` frames with discount `γ`, under a
//! persistence forecast (the content of the next frames is predicted to be
//! the current content; a change just seen is predicted to fade by a factor
//! `ρ` per frame). For patch `i` at level `k`:
//!
//! ```text
//! G_i(k) = Σ_{h<H} γ^h [ risk_i(k) + ambiguity_i(k) − ρ^h · epistemic_i(k) ] + κ (g(k) − ḡ_i)²
//! risk_i(k)      = −ln c_i(k)                    divergence from the preferred allocation
//!                                                 c_i (the still-image posterior of this frame)
//! ambiguity_i(k) = α · d_i · (1 − g(k))           expected prediction error of the patch seen
//!                                                 with k tokens (d_i: its detail, gradient
//!                                                 magnitude and contrast, on [0,1])
//! epistemic_i(k) = η · Δ_i · g(k)                 information gained about content that changed
//!                                                 (Δ_i: mean absolute change of its appearance
//!                                                 channels since the previous frame)
//! ```
//!
//! and `ḡ_i = g(k_i^{prev})` the gain of the tokens the patch was given at
//! the previous frame, so allocations move smoothly (`κ`). For a point-mass plan, `−ln c_i(k)` is the KL
//! divergence from the preferred allocation, the risk term of expected free
//! energy. The frame's posterior is `q_i(k) ∝ exp(−G_i(k) − λ k)` with `λ`
//! solved so the expected total meets the budget, and the integer allocation
//! is rounded to the budget exactly as for a still image.

use serde::Serialize;

use crate::allocation::{
    allocate, budgeted_posterior, gains, round_to_budget, Allocation, Budget, LEVELS, NUM_LEVELS,
};
use crate::error::{RelevanceError, Result};
use crate::image::RgbImage;
use crate::pipeline::{FrontEnd, FrontEndSettings, Query};
use crate::texture::TextureArray;

/// Settings of the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannerSettings {
    /// Frames looked ahead, `H ≥ 1`.
    pub horizon: usize,
    /// Discount per frame, `γ` in (0, 1].
    pub gamma: f64,
    /// Fading of a seen change per frame, `ρ` in [0, 1].
    pub change_decay: f64,
    /// Weight of ambiguity, `α ≥ 0`.
    pub ambiguity: f64,
    /// Weight of the epistemic bonus, `η ≥ 0`.
    pub epistemic: f64,
    /// Weight of smoothness between frames, `κ ≥ 0`.
    pub smoothness: f64,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            horizon: 4,
            gamma: 0.8,
            change_decay: 0.5,
            ambiguity: 2.0,
            epistemic: 20.0,
            smoothness: 4.0,
        }
    }
}

impl PlannerSettings {
    fn validate(&self) -> Result<()> {
        let bad = |name: &str, value: f64, expected: &str| RelevanceError::Setting {
            name: name.into(),
            value: value.to_string(),
            expected: expected.into(),
        };
        if self.horizon == 0 {
            return Err(bad("horizon", 0.0, "at least 1 frame"));
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return Err(bad("gamma", self.gamma, "a discount in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.change_decay) {
            return Err(bad("change_decay", self.change_decay, "a value in [0, 1]"));
        }
        for (name, v) in [
            ("ambiguity", self.ambiguity),
            ("epistemic", self.epistemic),
            ("smoothness", self.smoothness),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(name, v, "a finite weight ≥ 0"));
            }
        }
        Ok(())
    }
}

/// The plan for one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FramePlan {
    /// Tokens per patch (total exactly the budget).
    pub tokens: Vec<u32>,
    /// `E_q[k]` per patch.
    pub expected_tokens: Vec<f64>,
    /// `λ` of the budget.
    pub lambda: f64,
    /// `E_q[Σ_i risk_i]` (undiscounted, one frame).
    pub risk: f64,
    /// `E_q[Σ_i ambiguity_i]`.
    pub ambiguity: f64,
    /// `E_q[Σ_i epistemic_i]` (the bonus, subtracted in `G`).
    pub epistemic: f64,
    /// `E_q[Σ_i G_i]`, horizon, discount and smoothness included.
    pub expected_free_energy: f64,
    /// Patches whose appearance changed by more than 0.02 on average.
    pub changed_patches: usize,
    /// Mean |tokens − previous frame's tokens| per patch (0 on the first frame).
    pub mean_token_change: f64,
    /// The still-image allocation that served as the preference.
    #[serde(skip)]
    pub preferred: Allocation,
}

/// A planner over a stream of frames, carrying the previous frame's
/// appearance and allocation.
pub struct VideoPlanner {
    front: FrontEnd,
    settings: PlannerSettings,
    budget: u64,
    /// The previous frame's texture and its integer allocation.
    previous: Option<(TextureArray, Vec<u32>)>,
    lambda: f64,
}

impl VideoPlanner {
    /// A planner spending `budget` tokens per frame.
    pub fn new(front: FrontEndSettings, settings: PlannerSettings, budget: u64) -> Result<Self> {
        settings.validate()?;
        crate::allocation::check_budget(budget, front.grid * front.grid)?;
        Ok(Self {
            front: FrontEnd::new(front)?,
            settings,
            budget,
            previous: None,
            lambda: 0.0,
        })
    }

    /// Plan the allocation of the next frame.
    pub fn step(&mut self, frame: &RgbImage, query: &Query) -> Result<FramePlan> {
        let (texture, scorers) = self.front.scorers(frame, query)?;
        let preferred = allocate(
            &scorers,
            Budget::Total(self.budget),
            &self.front.settings().allocation,
        )?;
        let n = texture.patches();
        let g = gains();
        let s = &self.settings;
        let channels = texture.appearance_channels();
        // Detail: gradient magnitude and contrast (absolute in the default
        // array; the faithful array's are per-image normalised).
        let detail: Vec<f64> = (0..n)
            .map(|i| {
                let m = texture.edge_magnitude()[i] as f64;
                let c = match texture.mode() {
                    crate::texture::TextureMode::Default => texture.channel(12)[i] as f64,
                    crate::texture::TextureMode::Faithful => m,
                };
                0.5 * (m + c)
            })
            .collect();
        let change: Vec<f64> = match &self.previous {
            Some((prev, _)) if prev.patches() == n && prev.mode() == texture.mode() => (0..n)
                .map(|i| {
                    channels
                        .iter()
                        .map(|&c| (texture.channel(c)[i] - prev.channel(c)[i]).abs() as f64)
                        .sum::<f64>()
                        / channels.len() as f64
                })
                .collect(),
            _ => vec![0.0; n],
        };
        let previous_gain: Option<Vec<f64>> = self
            .previous
            .as_ref()
            .map(|p| p.1.iter().map(|&t| crate::allocation::gain(t)).collect());
        let horizon_weight: f64 = (0..s.horizon).map(|h| s.gamma.powi(h as i32)).sum();
        let epistemic_weight: f64 = (0..s.horizon)
            .map(|h| (s.gamma * s.change_decay).powi(h as i32))
            .sum();
        let mut terms = vec![[[0.0; NUM_LEVELS]; 3]; n];
        let logits: Vec<[f64; NUM_LEVELS]> = (0..n)
            .map(|i| {
                let mut l = [0.0; NUM_LEVELS];
                for k in 0..NUM_LEVELS {
                    let risk = -preferred.posterior[i][k].max(1e-300).ln();
                    let ambiguity = s.ambiguity * detail[i] * (1.0 - g[k]);
                    let epistemic = s.epistemic * change[i] * g[k];
                    let smooth = previous_gain
                        .as_ref()
                        .map_or(0.0, |pg| s.smoothness * (g[k] - pg[i]).powi(2));
                    terms[i][0][k] = risk;
                    terms[i][1][k] = ambiguity;
                    terms[i][2][k] = epistemic;
                    l[k] = -(horizon_weight * (risk + ambiguity) - epistemic_weight * epistemic
                        + smooth);
                }
                l
            })
            .collect();
        let (q, lambda) = budgeted_posterior(logits.clone(), self.budget, self.lambda)?;
        self.lambda = lambda;
        let expected_tokens: Vec<f64> = q
            .iter()
            .map(|qi| (0..NUM_LEVELS).map(|k| qi[k] * LEVELS[k] as f64).sum())
            .collect();
        let tokens = round_to_budget(&q, &expected_tokens, self.budget)?;
        let expect = |t: usize| -> f64 {
            (0..n)
                .map(|i| {
                    (0..NUM_LEVELS)
                        .map(|k| q[i][k] * terms[i][t][k])
                        .sum::<f64>()
                })
                .sum()
        };
        let efe: f64 = (0..n)
            .map(|i| {
                (0..NUM_LEVELS)
                    .map(|k| -q[i][k] * logits[i][k])
                    .sum::<f64>()
            })
            .sum();
        let mean_token_change = match &self.previous {
            Some((_, prev_tokens)) => {
                tokens
                    .iter()
                    .zip(prev_tokens)
                    .map(|(&a, &b)| (a as f64 - b as f64).abs())
                    .sum::<f64>()
                    / n as f64
            }
            None => 0.0,
        };
        let plan = FramePlan {
            expected_tokens,
            lambda,
            risk: expect(0),
            ambiguity: expect(1),
            epistemic: expect(2),
            expected_free_energy: efe,
            changed_patches: change.iter().filter(|&&c| c > 0.02).count(),
            mean_token_change,
            tokens: tokens.clone(),
            preferred,
        };
        self.previous = Some((texture, tokens));
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{synthetic_scene, SplitMix64};

    /// Frames of one scene with fresh pixel noise each, and a bright square
    /// that appears at frame 3.
    fn frames() -> Vec<RgbImage> {
        let base = synthetic_scene(2, 256, 2, 4).unwrap().image;
        let mut rng = SplitMix64::new(9);
        (0..5)
            .map(|t| {
                let mut px = base.pixels().to_vec();
                for v in px.iter_mut() {
                    *v = (*v as i32 + (rng.next_u64() % 25) as i32 - 12).clamp(0, 255) as u8;
                }
                if t >= 3 {
                    for y in 20..60 {
                        for x in 180..220 {
                            px[3 * (y * 256 + x)..3 * (y * 256 + x) + 3]
                                .copy_from_slice(&[250, 250, 250]);
                        }
                    }
                }
                RgbImage::new(256, 256, px).unwrap()
            })
            .collect()
    }

    fn run(settings: PlannerSettings) -> Vec<FramePlan> {
        let front = FrontEndSettings {
            grid: 16,
            ..Default::default()
        };
        let mut p = VideoPlanner::new(front, settings, 64 * 256 / 4).unwrap();
        frames()
            .iter()
            .map(|f| p.step(f, &Query::None).unwrap())
            .collect()
    }

    #[test]
    fn every_frame_meets_the_budget() {
        for plan in run(PlannerSettings::default()) {
            assert_eq!(
                plan.tokens.iter().map(|&t| t as u64).sum::<u64>(),
                64 * 256 / 4
            );
            assert!(plan.expected_free_energy.is_finite());
        }
    }

    #[test]
    fn smoothness_damps_changes_between_frames() {
        let rough = run(PlannerSettings {
            smoothness: 0.0,
            ..Default::default()
        });
        let smooth = run(PlannerSettings {
            smoothness: 50.0,
            ..Default::default()
        });
        let mean = |p: &[FramePlan]| p[1..].iter().map(|f| f.mean_token_change).sum::<f64>();
        println!(
            "Σ mean |Δk|: smooth {}, rough {}",
            mean(&smooth),
            mean(&rough)
        );
        assert!(
            mean(&smooth) < mean(&rough),
            "{} vs {}",
            mean(&smooth),
            mean(&rough)
        );
    }

    #[test]
    fn a_change_draws_tokens() {
        let plans = run(PlannerSettings::default());
        let still = run(PlannerSettings {
            epistemic: 0.0,
            ..Default::default()
        });
        // Patches of the new square (grid 16: rows 1–3, cols 11–13).
        let square: Vec<usize> = (1..4)
            .flat_map(|r| (11..14).map(move |c| r * 16 + c))
            .collect();
        let on = |p: &FramePlan| square.iter().map(|&i| p.expected_tokens[i]).sum::<f64>();
        assert!(plans[3].changed_patches > 0);
        assert!(
            on(&plans[3]) > on(&still[3]),
            "{} vs {}",
            on(&plans[3]),
            on(&still[3])
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let front = FrontEndSettings::default();
        for s in [
            PlannerSettings {
                horizon: 0,
                ..Default::default()
            },
            PlannerSettings {
                gamma: 0.0,
                ..Default::default()
            },
            PlannerSettings {
                smoothness: -1.0,
                ..Default::default()
            },
        ] {
            assert!(VideoPlanner::new(front.clone(), s, 4096).is_err());
        }
        assert!(VideoPlanner::new(front, PlannerSettings::default(), 4098).is_err());
    }
}
