//! Agent settings, under pymdp's names.
//!
//! Deserialised with unknown names refused, so a typo in a scenario file is an
//! error instead of a silently ignored option.

use serde::Deserialize;

use crate::error::PomdpError;

/// The longest window `inference_horizon: null` keeps (pymdp's rollout uses
/// `min(num_timesteps + 1, 32)`).
pub const DEFAULT_WINDOW_CAP: usize = 32;

/// Which state-inference scheme an agent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InferenceAlgo {
    /// Fixed-point iteration of the mean-field posterior at the current step.
    #[default]
    Fpi,
    /// Variational message passing over a past window (Parr et al. 2019).
    Vmp,
    /// Marginal message passing over a past window (SPM's `spm_MDP_VB_X`).
    Mmp,
    /// Exact forward–backward smoothing (single-factor models).
    Exact,
}

/// Deterministic or stochastic action selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ActionSelection {
    /// The most probable action (first index on ties).
    #[default]
    Deterministic,
    /// A sample from `softmax(alpha · ln p(u))`.
    Stochastic,
}

/// Whether actions are chosen from per-factor marginals or whole policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SamplingMode {
    /// Per control factor, from the marginal of the first action over policies.
    #[default]
    Marginal,
    /// A whole policy, whose first action is taken.
    Full,
}

/// Which reference's numerical conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    /// pymdp 1.0: `ln(max(x, ε))` with ε the float64 machine epsilon.
    #[default]
    Pymdp,
    /// SPM: `ln(x + exp(−16))`.
    Spm,
}

/// Settings of an [`crate::Agent`], named as pymdp names them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// State-inference scheme.
    pub inference_algo: InferenceAlgo,
    /// Iterations of the state-inference scheme.
    pub num_iter: usize,
    /// Past window (in steps, including the present) for `mmp` and `vmp`;
    /// `None` (JSON `null`) keeps the whole history up to
    /// [`DEFAULT_WINDOW_CAP`] steps, as pymdp's rollout does.
    pub inference_horizon: Option<usize>,
    /// Policy depth.
    pub policy_len: usize,
    /// Policy precision γ.
    pub gamma: f64,
    /// Action precision α.
    pub alpha: f64,
    /// Deterministic or stochastic action selection.
    pub action_selection: ActionSelection,
    /// Marginal or full-policy action selection.
    pub sampling_mode: SamplingMode,
    /// Include expected utility in the expected free energy.
    pub use_utility: bool,
    /// Include state information gain.
    pub use_states_info_gain: bool,
    /// Include parameter information gain (pA and pB novelty).
    pub use_param_info_gain: bool,
    /// Form of the parameter information gain: `exact` (pymdp 1.0) or `spm`.
    pub param_info_gain: crate::control::NoveltyForm,
    /// pymdp's inductive planning term; only `false` is supported (accepted
    /// so pymdp settings files load, refused when `true`).
    pub use_inductive: bool,
    /// Temporal discount applied to the EFE of step τ of a policy: `discount^τ`.
    pub discount: f64,
    /// Learning rate of `pA`.
    #[serde(rename = "lr_pA")]
    pub lr_pa: f64,
    /// Learning rate of `pB`.
    #[serde(rename = "lr_pB")]
    pub lr_pb: f64,
    /// Learning rate of `pD`.
    #[serde(rename = "lr_pD")]
    pub lr_pd: f64,
    /// Forgetting rate of `pA` (1 = no forgetting).
    #[serde(rename = "fr_pA")]
    pub fr_pa: f64,
    /// Forgetting rate of `pB`.
    #[serde(rename = "fr_pB")]
    pub fr_pb: f64,
    /// Forgetting rate of `pD`.
    #[serde(rename = "fr_pD")]
    pub fr_pd: f64,
    /// Learn `A` (when `pA` is given).
    #[serde(rename = "learn_A")]
    pub learn_a: bool,
    /// Learn `B` (when `pB` is given).
    #[serde(rename = "learn_B")]
    pub learn_b: bool,
    /// Learn `D` (when `pD` is given).
    #[serde(rename = "learn_D")]
    pub learn_d: bool,
    /// Keep zero Dirichlet counts at zero when learning (structural zeros).
    /// pymdp 1.0 does not: `false` reproduces it (see [`crate::learning`]).
    pub protect_structural_zeros: bool,
    /// Modalities whose `pA` learns (default: all).
    pub modalities_to_learn: Option<Vec<usize>>,
    /// Factors whose `pB` learns (default: all).
    pub factors_to_learn: Option<Vec<usize>>,
    /// Numerical conventions (log guard) of pymdp or SPM.
    pub convention: Convention,
    /// Seed of the agent's random number generator.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            inference_algo: InferenceAlgo::Fpi,
            num_iter: 16,
            inference_horizon: None,
            policy_len: 1,
            gamma: 16.0,
            alpha: 16.0,
            action_selection: ActionSelection::Deterministic,
            sampling_mode: SamplingMode::Marginal,
            use_utility: true,
            use_states_info_gain: true,
            use_param_info_gain: false,
            param_info_gain: crate::control::NoveltyForm::Exact,
            use_inductive: false,
            discount: 1.0,
            lr_pa: 1.0,
            lr_pb: 1.0,
            lr_pd: 1.0,
            fr_pa: 1.0,
            fr_pb: 1.0,
            fr_pd: 1.0,
            learn_a: true,
            learn_b: true,
            learn_d: true,
            protect_structural_zeros: true,
            modalities_to_learn: None,
            factors_to_learn: None,
            convention: Convention::Pymdp,
            seed: 0,
        }
    }
}

impl Settings {
    /// Check value ranges (names are checked by deserialisation).
    pub fn validate(&self) -> Result<(), PomdpError> {
        let bad = |name: &str, reason: String| {
            Err(PomdpError::Setting {
                name: name.into(),
                reason,
            })
        };
        if self.use_inductive {
            return bad(
                "use_inductive",
                "inductive planning is not supported; set it to false".into(),
            );
        }
        if self.num_iter == 0 {
            return bad("num_iter", "must be at least 1".into());
        }
        if self.policy_len == 0 {
            return bad("policy_len", "must be at least 1".into());
        }
        if self.inference_horizon == Some(0) {
            return bad("inference_horizon", "must be at least 1".into());
        }
        for (name, v) in [("gamma", self.gamma), ("alpha", self.alpha)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, format!("must be finite and positive, got {v}"));
            }
        }
        for (name, v) in [
            ("discount", self.discount),
            ("lr_pA", self.lr_pa),
            ("lr_pB", self.lr_pb),
            ("lr_pD", self.lr_pd),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, format!("must be finite and non-negative, got {v}"));
            }
        }
        for (name, v) in [
            ("fr_pA", self.fr_pa),
            ("fr_pB", self.fr_pb),
            ("fr_pD", self.fr_pd),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(
                    name,
                    format!("must lie in [0, 1] (1 = no forgetting), got {v}"),
                );
            }
        }
        Ok(())
    }

    /// The log guard of the chosen convention.
    pub fn log_guard(&self) -> actinf_core::LogGuard {
        match self.convention {
            Convention::Pymdp => actinf_core::LogGuard::Clip(f64::EPSILON),
            Convention::Spm => actinf_core::LogGuard::Add((-16f64).exp()),
        }
    }
}
