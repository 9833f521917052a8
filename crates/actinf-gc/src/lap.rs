//! Generalized filtering of a [`HierarchicalModel`]: states, parameters and
//! log-precisions updated together, online, as one generalized flow,
//! following SPM12's `spm_LAP` (r7771).
//!
//! # The scheme (Friston, Stephan, Li & Daunizeau 2010, "Generalised
//! filtering", Math Probl Eng 2010:621670)
//! Under the Laplace assumption, the conditional density of every unknown
//! is Gaussian around its mode, and the modes follow the gradient of the
//! Gibbs energy `L(t) = −ln p(ỹ, u, θ, λ)` at each sample. With the
//! generalized errors `ε̃ = [ỹ; ṽ] − [g̃; η̃]` and `Dx̃ − f̃` (as in
//! [`crate::dem`]) and their precision `Π̃(λ)`,
//!
//! ```text
//! L = ½ ε̃ᵀ Π̃ ε̃ − ½ ln|Π̃| + ½ uᵀP_u u + ½ θᵀP_θ θ + ½ (λ − η_λ)ᵀ P_λ (λ − η_λ)
//! ```
//!
//! (up to constants; `θ` the reduced parameters, prior mean zero). The
//! states move in generalized coordinates (paper eq. 6); the parameters and
//! log-precisions `b = [θ; λ]` are slow states whose **motion** `b′` is a
//! further unknown with its own prior precision `κ = N` (the number of
//! samples; paper eqs. 8–9, a damped second-order flow):
//!
//! ```text
//! u̇  = D u − ∂_u L − ∂_u H
//! ḃ  = b′
//! ḃ′ = −κ b′ − C_b (∂_b L + ∂_b H)
//! ```
//!
//! `H = ½ ln|Σ|` is the entropy term: `∂H/∂λ_j = ½ tr(Σ_aa ∂_λj Π_aa)` and
//! `∂H/∂θ_i = ½ tr(Σ_aa ∂_θi Π_aa)`, with `Π_aa = ∂²L/∂a²`, `a = [u; θ]`, and
//! `Σ_aa = Π_aa⁻¹` (the states' own entropy gradient is switched off, as in
//! SPM, "for stability"). `C_b = (B + e^τ diag B)⁻¹` preconditions the slow
//! flow with a running average `B` of the curvature `∂²L/∂b²` (initialised
//! at `∂²L/∂b² + 32 I`, then `B ← B(1 − 1/N) + ∂²L/∂b²/N`) and a
//! regularisation `τ` (SPM's `E.v`, 0 by default) that adapts between
//! passes. The whole flow `[ỹ; u; η̃; b; b′]` is integrated over one sampling
//! interval by local linearisation (`spm_dx`, the data and prior causes
//! moving with their own Taylor expansions), its Jacobian being
//!
//! ```text
//! [ D_y        0          0      0    0  ]
//! [ −L_uy   D − L_uu   −L_uc     0    0  ]
//! [ 0          0         D_c     0    0  ]
//! [ 0          0          0      0    I  ]
//! [ 0          0          0     −I   −κ  ]
//! ```
//!
//! # Precisions
//! As `spm_LAP_ph`/`spm_LAP_pg`: each error channel has a log-precision
//! `πᵢ = ln Vᵢᵢ + Σ_j λ_j (Q_j)ᵢᵢ` (the first term only when every diagonal
//! entry of the fixed precision `V` is non-zero, else 0), and
//! `Π̃ = R ⊗ diag(exp π)` — **only the diagonals of `V`, `W`, `Q_j`, `R_j`
//! are used**, and the fixed part multiplies rather than adds (unlike
//! [`crate::dem`]'s `V + Σ exp(λ_j) Q_j`). `R` is the temporal precision
//! of smoothness `s`: SPM's single `E.s` for every level
//! ([`LapSettings::smoothness`]), or each level's own `sv`/`sw`.
//!
//! # Iterations and free energy (SPM's definitions)
//! The data are passed over up to `nN` times; each pass starts from the
//! initial states but keeps the parameters, log-precisions, their motion
//! and the curvature average where the previous pass left them. After a
//! pass, the per-sample modes of `θ` and `λ` are combined by Bayesian
//! parameter averaging, `Q = Σₜ Σₜ⁻¹`, `E = Q⁻¹ Σₜ Σₜ⁻¹ bₜ`,
//! `C = (Q + (1 − N) P)⁻¹`, and the pass is scored by
//!
//! ```text
//! F = Σₜ[−½ ε̃ᵀΠ̃ε̃ − ½ uᵀP_u u − (n·ny/2) ln 2π + ½ ln|Π̃| + ½ ln|P_u Σ_u|]
//!     − ½ E_θᵀP_θE_θ − ½ E_λᵀP_λE_λ + ½ ln|P_θ C_θ| + ½ ln|P_λ C_λ|
//! ```
//!
//! — the free action of the states plus the free energy of the averaged
//! parameters. This is **not** `spm_DEM`'s `F`: there the states'
//! uncertainty enters as `½ ln|Σ_u|` and the parameters' curvature and the
//! parameters' uncertainty terms `W_θ` differ. The free action
//! ([`LapResult::free_action`]) is `Σₜ` of the bracket plus, per sample, the
//! parameters' and log-precisions' prior terms at their current modes,
//! `½ ln|P_θ| + ½ ln|P_λ| − ½ ln|∂²L/∂b²|`. Error channels with `π ≥ 8` at
//! the prior log-precisions (very precise, e.g. `V = e⁸`) are left out of
//! the first and fourth terms, and their states out of the fifth.
//!
//! After a pass whose `F` fell (from the fifth pass on), the parameters and
//! log-precisions go back to the last accepted pass's and `τ ← max(τ + 2,
//! 2)` (slower); otherwise `τ ← max(τ − 1, −8)`. The scheme stops when `τ`
//! exceeds 6, or at the fifth accepted pass whose `F` rose by less than 1
//! (or fell, in the first four passes, which are never rejected: a counter
//! that starts at −4), or after `nN` passes.
//!
//! # SPM's particulars, kept so the numbers agree
//! * **The states, the per-sample parameter traces and the averaged
//!   parameters and log-precisions returned are those of the pass before
//!   the one that met the convergence test** (`spm_LAP` breaks before
//!   saving the converged pass), while `F` and the free action include that
//!   last pass. When the passes run out without convergence, the last pass
//!   is returned.
//! * With the model evaluated as `E.linear = 4`: first derivatives of `f`
//!   and `g` at every sample, their parameter derivatives frozen at the
//!   pass's first sample.
//! * Prior precision of the generalized states: `P_u = R(n, s = 2) ⊗ xP` on
//!   the hidden states (SPM's `vP` on the causes is not part of a
//!   [`HierarchicalModel`] and is zero, SPM's default).
//! * Inverses are `spm_inv` ([`regularised_inverse`]'s regularisation,
//!   solved by LU with partial pivoting) and log-determinants `spm_logdet`
//!   ([`spm_log_determinant`]); `ln|Π̃|` over the channels in `F` is
//!   `Σ_a (n π_a + ln|R_a|)`, the log-determinant of the permuted block
//!   diagonal `R ⊗ diag(exp π)`.
//!
//! # Computation
//! `Π̃ = R ⊗ diag(w)` is never formed in the sample loop: it multiplies the
//! errors' derivatives channel by channel (each channel's `n` orders mixed
//! by its `w_a R_a`), and the precisions' derivatives `∂Π̃/∂λ_j =
//! R ⊗ diag(w ∘ ∂π/∂λ_j)` enter only through per-channel sums: with
//! `q_a = ε̃_aᵀ R_a ε̃_a`, `ε̃ᵀ ∂²Π̃/∂λ_i∂λ_j ε̃ = Σ_a (∂π_a/∂λ_i)(∂π_a/∂λ_j) w_a q_a`,
//! and the entropy gradient `½ tr(Σ Jᵀ ∂Π̃/∂λ_j J) = ½ Σ_a (∂π_a/∂λ_j) t_a`
//! with `t_a` the sum over channel `a`'s rows of `(Π̃ J Σ) ∘ J`. These are
//! the same sums as with the dense matrices, in another order (results
//! agree to rounding).
//! * Only one D-step per sample (`nD = 1`). SPM's state-dependent
//!   precisions (`ph`, `pg` functions and `method.x`, `method.v`) are not
//!   part of a [`HierarchicalModel`]; the precisions here depend on the
//!   log-precisions only, for which SPM's `method.x`/`method.v` change
//!   nothing.

// Generalized orders are indexed by `k` across several parallel arrays.
#![allow(clippy::needless_range_loop)]

use nalgebra::{DMatrix, DVector};

use crate::dem::{regularised_inverse, spm_log_determinant, Dem, DemSettings, Errors, Linearity};
use crate::embed::{Embedder, Embedding};
use crate::error::GcError;
use crate::hierarchical::HierarchicalModel;
use crate::linearise::expm;
use crate::precision::temporal_precision;
use crate::shift::kron;
use crate::small::{gemm, gemm_slices, sparse_mul, spm_inv, Lu};

/// Log-precisions at or above this (at the prior) leave the free energy
/// (`spm_LAP`'s `p.h < 8`).
const PRECISE: f64 = 8.0;

/// Settings of [`GeneralizedFilter::run`] (the fields of SPM's `M(1).E`
/// that `spm_LAP` reads).
#[derive(Debug, Clone, PartialEq)]
pub struct LapSettings {
    /// Number of generalized orders of the states, `n` (SPM's `E.n + 1`).
    pub state_orders: usize,
    /// Number of generalized orders of the causes, `d ≤ n` (SPM's `E.d + 1`).
    pub cause_orders: usize,
    /// Most passes over the data, `nN` (SPM default 8; one pass when nothing
    /// is learned).
    pub iterations: usize,
    /// One smoothness for the temporal precision of every level (SPM's
    /// `E.s`, which `spm_LAP` uses in place of the levels' `sv`, `sw`); `None`
    /// uses each level's `sv` (causal errors) and `sw` (state noise), and the
    /// top causes' smoothness.
    pub smoothness: Option<f64>,
    /// Whether the log-precisions enter the Gibbs energy's gradients (SPM's
    /// `method.h || method.g`: `spm_LAP_eval` takes the precisions'
    /// derivatives for both kinds when either flag is set). Off, the
    /// log-precisions move under their prior only.
    pub precision_gradients: bool,
    /// Initial log-regularisation `τ` of the slow flow's preconditioner
    /// `(B + e^τ diag B)⁻¹` (SPM's `E.v`, default 0).
    pub regularisation: f64,
}

impl Default for LapSettings {
    /// SPM's defaults for a model with `E.n = 6`, `E.d = 2`.
    fn default() -> Self {
        Self {
            state_orders: 7,
            cause_orders: 3,
            iterations: 8,
            smoothness: None,
            precision_gradients: true,
            regularisation: 0.0,
        }
    }
}

/// The free-energy terms of one pass (SPM's `FC`, a row of `CC`), summed
/// over samples where they are per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreeEnergyTerms {
    /// `−½ Σₜ ε̃ᵀΠ̃ε̃` (channels with `π < 8`).
    pub accuracy: f64,
    /// `−½ Σₜ uᵀP_u u`.
    pub state_prior: f64,
    /// `−(n·ny/2) ln 2π · N`.
    pub normalisation: f64,
    /// `½ Σₜ ln|Π̃|` (channels with `π < 8`).
    pub log_precision: f64,
    /// `½ Σₜ ln|P_u Σ_u|`.
    pub state_entropy: f64,
    /// `−½ E_θᵀP_θE_θ` of the averaged parameters.
    pub parameter_prior: f64,
    /// `−½ E_λᵀP_λE_λ` of the averaged log-precisions.
    pub log_precision_prior: f64,
    /// `½ ln|P_θ C_θ|`.
    pub parameter_entropy: f64,
    /// `½ ln|P_λ C_λ|`.
    pub log_precision_entropy: f64,
}

impl FreeEnergyTerms {
    /// The terms in SPM's order (`FC(1:9)`).
    pub fn to_array(&self) -> [f64; 9] {
        [
            self.accuracy,
            self.state_prior,
            self.normalisation,
            self.log_precision,
            self.state_entropy,
            self.parameter_prior,
            self.log_precision_prior,
            self.parameter_entropy,
            self.log_precision_entropy,
        ]
    }

    /// Their sum, the pass's `F`.
    pub fn total(&self) -> f64 {
        self.to_array().iter().sum()
    }
}

/// The result of [`GeneralizedFilter::run`]. Time runs along columns; the
/// states at sample `t` are those held **before** sample `t` is
/// assimilated (SPM's `qU`), from the returned pass (module docs: the pass
/// before the converged one).
#[derive(Debug, Clone, PartialEq)]
pub struct LapResult {
    /// Conditional expectation of the hidden states (`nx × N`), levels stacked.
    pub states: DMatrix<f64>,
    /// Conditional expectation of the causes (`nv × N`), levels stacked.
    pub causes: DMatrix<f64>,
    /// Predicted response `y − z` (`ny × N`).
    pub predicted_response: DMatrix<f64>,
    /// Output errors (`ne × N`: data, then each level's causes).
    pub output_errors: DMatrix<f64>,
    /// State noise estimates (`nx × N`).
    pub state_errors: DMatrix<f64>,
    /// Precision-weighted output errors `diag(Π̃) ε̃` (`ne × N`, SPM's `qU.Z`).
    pub weighted_output_errors: DMatrix<f64>,
    /// Precision-weighted state errors (`nx × N`, SPM's `qU.W`).
    pub weighted_state_errors: DMatrix<f64>,
    /// Conditional covariance of the states at each sample (`nx × nx`).
    pub state_covariances: Vec<DMatrix<f64>>,
    /// Conditional covariance of the causes at each sample (`nv × nv`).
    pub cause_covariances: Vec<DMatrix<f64>>,
    /// `F` after each pass (SPM's `F`; the last accepted value after a
    /// rejected pass).
    pub free_energy: Vec<f64>,
    /// The free action of each pass (SPM's `S`).
    pub free_action: Vec<f64>,
    /// The terms of `F`, per pass (SPM's `CC`).
    pub free_energy_terms: Vec<FreeEnergyTerms>,
    /// The instantaneous free energy of the states at each sample of the
    /// last pass (SPM's `FT`).
    pub instantaneous_free_energy: Vec<f64>,
    /// Averaged conditional expectation of the parameters, every level's `θ`
    /// concatenated (SPM's `qP.P`).
    pub parameters: DVector<f64>,
    /// Its conditional covariance (SPM's `qP.C`).
    pub parameter_covariance: DMatrix<f64>,
    /// The parameters' mode at each sample, before the sample is
    /// assimilated (`nθ × N`, full parameter vectors; SPM's `qP.p{t}` mapped
    /// back through the prior's basis).
    pub parameter_trace: DMatrix<f64>,
    /// Averaged conditional expectation of the output log-precisions `h`
    /// (every level's, then the top causes').
    pub output_log_precisions: DVector<f64>,
    /// Averaged conditional expectation of the state log-precisions `g`.
    pub state_log_precisions: DVector<f64>,
    /// Conditional covariance of `[h; g]`.
    pub log_precision_covariance: DMatrix<f64>,
    /// The log-precisions `[h; g]` at each sample (SPM's `qH.p{t}`).
    pub log_precision_trace: DMatrix<f64>,
    /// Passes done (SPM's `iN`).
    pub iterations: usize,
}

/// One pass's per-sample record (SPM's `Q(t)`).
#[derive(Debug, Clone)]
struct Pass {
    states: DMatrix<f64>,
    causes: DMatrix<f64>,
    predicted: DMatrix<f64>,
    z: DMatrix<f64>,
    w: DMatrix<f64>,
    zw: DMatrix<f64>,
    ww: DMatrix<f64>,
    state_cov: Vec<DMatrix<f64>>,
    cause_cov: Vec<DMatrix<f64>>,
    params: Vec<DVector<f64>>,
    param_cov: Vec<DMatrix<f64>>,
    hypers: Vec<DVector<f64>>,
    hyper_cov: Vec<DMatrix<f64>>,
}

/// Generalized filtering (`spm_LAP`) for a [`HierarchicalModel`] (module docs).
#[derive(Debug, Clone)]
pub struct GeneralizedFilter {
    /// The model's layout and generalized errors (`spm_DEM_eval`).
    dem: Dem,
    settings: LapSettings,
    /// Temporal precision of each error channel (`ne` causal, then `nx`
    /// state channels), as an index into `temporal`.
    channel_r: Vec<usize>,
    /// Where each channel's orders sit in the generalized errors:
    /// `(offset, stride, c)`, rows `offset + k·stride + c`.
    channel_at: Vec<(usize, usize, usize)>,
    temporal: Vec<DMatrix<f64>>,
    /// Fixed log-precisions `ln diag V` / `ln diag W` (or 0), per channel.
    fixed_log_precision: DVector<f64>,
    /// `∂π/∂λ`: channels × log-precisions (`diag Q_j`, `diag R_j`).
    dpi: DMatrix<f64>,
    /// Number of output log-precisions `h` (the rest are `g`).
    nh: usize,
    hyper_precision: DMatrix<f64>,
    /// Prior precision of the generalized states `P_u`.
    state_prior: DMatrix<f64>,
    /// Errors in `F` (`je`) and states in its entropy term (`ju`).
    error_in_f: Vec<bool>,
    state_in_f: Vec<bool>,
}

impl GeneralizedFilter {
    /// Prepares generalized filtering of `model`: validates it and builds
    /// the precisions and the parameters' subspace.
    ///
    /// # Errors
    /// As [`HierarchicalModel::validate`]; [`GcError::Setting`] for orders
    /// out of range (`d > n`, `n = 0`), no passes, a non-positive
    /// smoothness or a non-finite regularisation, or a model without hidden
    /// states.
    pub fn new(model: HierarchicalModel, settings: LapSettings) -> Result<Self, GcError> {
        if settings.iterations == 0 {
            return Err(GcError::Setting {
                name: "iterations".into(),
                reason: "need at least one pass".into(),
            });
        }
        if !settings.regularisation.is_finite() {
            return Err(GcError::Setting {
                name: "regularisation".into(),
                reason: format!("must be finite, got {}", settings.regularisation),
            });
        }
        if model.nx() == 0 {
            return Err(GcError::Setting {
                name: "model".into(),
                reason: "generalized filtering here needs a dynamic model (some hidden states)"
                    .into(),
            });
        }
        let (n, d) = (settings.state_orders, settings.cause_orders);
        let dem = Dem::new(
            model,
            DemSettings {
                state_orders: n,
                cause_orders: d,
                iterations: 1,
                m_iterations: 1,
                linear: false,
                static_iterations: 1,
            },
        )?;
        let m = &dem.model;
        let (nx, nv, ne) = (m.nx(), m.nv(), m.ne());

        // Temporal precisions, per channel.
        let mut temporal: Vec<DMatrix<f64>> = Vec::new();
        let mut smooth: Vec<f64> = Vec::new();
        let mut index_of = |s: f64| -> Result<usize, GcError> {
            let s = settings.smoothness.unwrap_or(s);
            if let Some(i) = smooth.iter().position(|&t| t == s) {
                return Ok(i);
            }
            temporal.push(temporal_precision(n, s)?.r);
            smooth.push(s);
            Ok(temporal.len() - 1)
        };
        let mut channel_r = vec![0; ne + nx];
        let mut fixed_log_precision = DVector::zeros(ne + nx);
        let n_out: usize = m
            .levels
            .iter()
            .map(|l| l.output_components.len())
            .sum::<usize>()
            + m.top.components.len();
        let n_state: usize = m.levels.iter().map(|l| l.state_components.len()).sum();
        let mut dpi = DMatrix::zeros(ne + nx, n_out + n_state);
        let log_diag = |v: &DMatrix<f64>| -> DVector<f64> {
            let diag = v.diagonal();
            if diag.iter().all(|&x| x != 0.0) {
                diag.map(f64::ln)
            } else {
                DVector::zeros(diag.len())
            }
        };
        let (mut jh, mut jg) = (0, n_out);
        for (i, level) in m.levels.iter().enumerate() {
            let (ea, xa) = (dem.e_at[i], dem.x_at[i]);
            let rv = index_of(level.output_smoothness)?;
            let rw = index_of(level.state_smoothness)?;
            for c in 0..level.outputs {
                channel_r[ea + c] = rv;
            }
            for c in 0..level.states {
                channel_r[ne + xa + c] = rw;
            }
            fixed_log_precision
                .rows_mut(ea, level.outputs)
                .copy_from(&log_diag(&level.output_precision));
            fixed_log_precision
                .rows_mut(ne + xa, level.states)
                .copy_from(&log_diag(&level.state_precision));
            for q in &level.output_components {
                for c in 0..level.outputs {
                    dpi[(ea + c, jh)] = q[(c, c)];
                }
                jh += 1;
            }
            for r in &level.state_components {
                for c in 0..level.states {
                    dpi[(ne + xa + c, jg)] = r[(c, c)];
                }
                jg += 1;
            }
        }
        let top = &m.top;
        let ta = ne - top.causes;
        let rt = index_of(top.smoothness)?;
        for c in 0..top.causes {
            channel_r[ta + c] = rt;
        }
        fixed_log_precision
            .rows_mut(ta, top.causes)
            .copy_from(&log_diag(&top.precision));
        for q in &top.components {
            for c in 0..top.causes {
                dpi[(ta + c, jh)] = q[(c, c)];
            }
            jh += 1;
        }
        // Columns of `dpi`: every level's h, the top's h, then every g —
        // SPM's order `spm_vec({M.hE M.gE})`, as `Dem`'s hyperpriors.
        let hyper_precision = regularised_inverse(&dem.hyper_covariance);

        // Prior precision of the generalized states: R(n, 2) ⊗ xP.
        let nu = n * nx + d * nv;
        let mut state_prior = DMatrix::zeros(nu, nu);
        if m.levels
            .iter()
            .any(|l| l.state_prior_precision.iter().any(|&v| v != 0.0))
        {
            let r2 = temporal_precision(n, 2.0)?.r;
            let mut xp = DMatrix::zeros(nx, nx);
            for (i, level) in m.levels.iter().enumerate() {
                xp.view_mut(
                    (dem.x_at[i], dem.x_at[i]),
                    level.state_prior_precision.shape(),
                )
                .copy_from(&level.state_prior_precision);
            }
            state_prior
                .view_mut((0, 0), (n * nx, n * nx))
                .copy_from(&kron(&r2, &xp));
        }

        // je, ju at the prior log-precisions.
        let pi0 = &fixed_log_precision + &dpi * &dem.hyper_mean;
        let keep: Vec<bool> = pi0.iter().map(|&p| p < PRECISE).collect();
        let mut error_in_f = Vec::with_capacity(n * (ne + nx));
        for _ in 0..n {
            error_in_f.extend_from_slice(&keep[..ne]);
        }
        for _ in 0..n {
            error_in_f.extend_from_slice(&keep[ne..]);
        }
        let mut state_in_f = Vec::with_capacity(nu);
        for k in 0..n {
            for b in 0..nx {
                state_in_f.push(k == 0 || keep[ne + b]);
            }
        }
        for _ in 0..d {
            state_in_f.extend_from_slice(&keep[m.ny()..m.ny() + nv]);
        }

        let channel_at = (0..ne + nx)
            .map(|a| {
                if a < ne {
                    (0, ne, a)
                } else {
                    (n * ne, nx, a - ne)
                }
            })
            .collect();
        Ok(Self {
            dem,
            settings,
            channel_r,
            channel_at,
            temporal,
            fixed_log_precision,
            dpi,
            nh: n_out,
            hyper_precision,
            state_prior,
            error_in_f,
            state_in_f,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &LapSettings {
        &self.settings
    }

    /// Number of free (reduced) parameters.
    pub fn free_parameters(&self) -> usize {
        self.dem.free_parameters()
    }

    /// Number of log-precisions (`h` then `g`).
    pub fn log_precisions(&self) -> usize {
        self.dpi.ncols()
    }

    /// `R ⊗ diag(w)` over the generalized errors: `w` has one weight per
    /// channel (`ne` causal, then `nx` state channels), each channel's
    /// orders coupled by its temporal precision.
    #[cfg(test)]
    fn kron_diag(&self, w: &DVector<f64>) -> DMatrix<f64> {
        let m = &self.dem.model;
        let (ne, nx) = (m.ne(), m.nx());
        let n = self.settings.state_orders;
        let size = n * (ne + nx);
        let mut out = DMatrix::zeros(size, size);
        for a in 0..ne + nx {
            if w[a] == 0.0 {
                continue;
            }
            let r = &self.temporal[self.channel_r[a]];
            let (offset, stride, c) = if a < ne {
                (0, ne, a)
            } else {
                (n * ne, nx, a - ne)
            };
            for k in 0..n {
                for l in 0..n {
                    out[(offset + k * stride + c, offset + l * stride + c)] = r[(k, l)] * w[a];
                }
            }
        }
        out
    }

    /// The rows of channel `a` (`ne` causal, then `nx` state channels) in
    /// the generalized errors: `offset + k·stride + c`, `k` the order.
    fn channel_rows(&self, a: usize) -> (usize, usize, usize) {
        self.channel_at[a]
    }

    /// `(R ⊗ diag w) X` without forming the Kronecker product: `X` has
    /// `n (ne + nx)` rows (column-major `x`, `out` of the same shape), and
    /// each channel's orders are mixed by its temporal precision.
    fn kron_diag_apply(&self, w: &[f64], x: &[f64], out: &mut [f64]) {
        let n = self.settings.state_orders;
        let channels = w.len();
        let size = n * channels;
        let ne = self.dem.model.ne();
        // Each group (causal errors, state errors) of a column is a
        // contiguous `dims × n` block, orders along its columns; with one
        // temporal precision for the group, `out = diag(w) X Rᵀ` block-wise.
        for (xc, oc) in x.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
            for (first, dims) in [(0, ne), (ne, channels - ne)] {
                if dims == 0 {
                    continue;
                }
                let ri = self.channel_r[first];
                if self.channel_r[first..first + dims].iter().any(|&r| r != ri) {
                    self.kron_diag_apply_by_channel(w, xc, oc, first, dims);
                    continue;
                }
                let r = &self.temporal[ri];
                let offset = self.channel_at[first].0;
                let block = &xc[offset..offset + n * dims];
                let ob = &mut oc[offset..offset + n * dims];
                let ws = &w[first..first + dims];
                for (k, o) in ob.chunks_exact_mut(dims).enumerate() {
                    o.fill(0.0);
                    for (l, xl) in block.chunks_exact(dims).enumerate() {
                        let rkl = r[(k, l)];
                        if rkl != 0.0 {
                            for (oc, &xv) in o.iter_mut().zip(xl) {
                                *oc += rkl * xv;
                            }
                        }
                    }
                    for (oc, &wc) in o.iter_mut().zip(ws) {
                        *oc *= wc;
                    }
                }
            }
        }
    }

    /// [`Self::kron_diag_apply`] on one column, channel by channel, for the
    /// channels `first … first + dims` (a group whose channels do not share
    /// one temporal precision).
    fn kron_diag_apply_by_channel(
        &self,
        w: &[f64],
        xc: &[f64],
        oc: &mut [f64],
        first: usize,
        dims: usize,
    ) {
        let n = self.settings.state_orders;
        for a in first..first + dims {
            let (offset, stride, c) = self.channel_rows(a);
            let r = &self.temporal[self.channel_r[a]];
            for k in 0..n {
                let mut sum = 0.0;
                for l in 0..n {
                    sum += r[(k, l)] * xc[offset + l * stride + c];
                }
                oc[offset + k * stride + c] = sum * w[a];
            }
        }
    }

    /// Per channel, the sum of `v` over the channel's rows (`v` of length
    /// `n (ne + nx)`).
    fn channel_sums(&self, v: &[f64]) -> Vec<f64> {
        let n = self.settings.state_orders;
        self.channel_at
            .iter()
            .map(|&(offset, stride, c)| (0..n).map(|k| v[offset + k * stride + c]).sum())
            .collect()
    }

    /// `(R ⊗ diag w) X` for a matrix: on `Xᵀ`, each entry of each channel's
    /// `w_a R_a` scales one row of `X` (contiguous in `Xᵀ`) into another.
    #[cfg(test)]
    fn kron_diag_mul(&self, w: &[f64], x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut xt = DMatrix::zeros(x.ncols(), x.nrows());
        let mut ot = DMatrix::zeros(x.ncols(), x.nrows());
        self.kron_diag_mul_t_into(w, x, &mut xt, &mut ot);
        ot.transpose()
    }

    /// `((R ⊗ diag w) X)ᵀ` into `ot` (`cols × rows`), with `xt` a work
    /// matrix of the same shape that receives `Xᵀ`.
    fn kron_diag_mul_t_into(
        &self,
        w: &[f64],
        x: &DMatrix<f64>,
        xt: &mut DMatrix<f64>,
        ot: &mut DMatrix<f64>,
    ) {
        let n = self.settings.state_orders;
        let cols = x.ncols();
        x.transpose_to(xt);
        ot.fill(0.0);
        let (src, dst) = (xt.as_slice(), ot.as_mut_slice());
        for (a, &wa) in w.iter().enumerate() {
            if wa == 0.0 {
                continue;
            }
            let (offset, stride, c) = self.channel_rows(a);
            let r = &self.temporal[self.channel_r[a]];
            for k in 0..n {
                let to = (offset + k * stride + c) * cols;
                let out = &mut dst[to..to + cols];
                for l in 0..n {
                    let rkl = r[(k, l)] * wa;
                    if rkl != 0.0 {
                        let from = (offset + l * stride + c) * cols;
                        for (o, &v) in out.iter_mut().zip(&src[from..from + cols]) {
                            *o += rkl * v;
                        }
                    }
                }
            }
        }
    }

    /// `(R ⊗ diag w) x` for a vector ([`Self::kron_diag_apply`]).
    fn kron_diag_mul_vector(&self, w: &[f64], x: &DVector<f64>) -> DVector<f64> {
        let mut out = DVector::zeros(x.len());
        self.kron_diag_apply(w, x.as_slice(), out.as_mut_slice());
        out
    }

    /// Runs generalized filtering on data `y` (`ny × N`) with prior
    /// expectations of the top causes `eta` (`nc × N`).
    ///
    /// # Errors
    /// [`GcError::Dimension`] for records of the wrong shape;
    /// [`GcError::Value`] for non-finite data; [`GcError::Diverged`] when
    /// the flow becomes non-finite; errors of the model's functions.
    pub fn run(&self, y: &DMatrix<f64>, eta: &DMatrix<f64>) -> Result<LapResult, GcError> {
        let m = &self.dem.model;
        let (n, d) = (self.settings.state_orders, self.settings.cause_orders);
        let (nx, nv, ny, nc, ne) = (m.nx(), m.nv(), m.ny(), m.nc(), m.ne());
        let ns = y.ncols();
        if y.nrows() != ny || ns == 0 {
            return Err(GcError::Dimension {
                what: "data y".into(),
                expected: format!("{ny} rows and at least one sample"),
                got: format!("{} × {}", y.nrows(), y.ncols()),
            });
        }
        if eta.nrows() != nc || eta.ncols() != ns {
            return Err(GcError::Dimension {
                what: "prior causes η".into(),
                expected: format!("{nc} × {ns}"),
                got: format!("{} × {}", eta.nrows(), eta.ncols()),
            });
        }
        if let Some((index, &value)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(GcError::Value {
                what: "data y (column-major)".into(),
                index,
                value,
                expected: "a finite number".into(),
            });
        }
        if let Some((index, &value)) = eta.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(GcError::Value {
                what: "prior causes η (column-major)".into(),
                index,
                value,
                expected: "a finite number".into(),
            });
        }
        let np = self.free_parameters();
        let nb = self.log_precisions();
        let nh = self.nh;
        let nq = np + nb;
        let nu = n * nx + d * nv;
        let size = n * (ne + nx);
        let passes = if np == 0 && nb == 0 {
            1
        } else {
            self.settings.iterations
        };
        let y_embedder = Embedder::new(n, 1.0, Embedding::Centred)?;
        let c_embedder = Embedder::new(d, 1.0, Embedding::Centred)?;
        let pp = &self.dem.parameter_prior_precision;
        let ph = &self.hyper_precision;
        let prior_h = &self.dem.hyper_mean;
        let log_det_pp = spm_log_determinant(pp);
        let log_det_ph = spm_log_determinant(ph);

        let mut x0 = DVector::zeros(nx);
        let mut v0 = DVector::zeros(nv);
        for (i, level) in m.levels.iter().enumerate() {
            x0.rows_mut(self.dem.x_at[i], level.states)
                .copy_from(&level.x0);
            v0.rows_mut(self.dem.v_at[i], level.causes)
                .copy_from(&level.v0);
        }
        // ∂ ln|Π̃| / ∂λ = n Σ_channels ∂π/∂λ (`dDdh`).
        let dlogdet_dh =
            DVector::from_iterator(nb, (0..nb).map(|j| n as f64 * self.dpi.column(j).sum()));

        let mut qp = DVector::zeros(np);
        let mut qh = prior_h.clone();
        let mut dbdt = DVector::zeros(nq);
        let mut curvature: Option<DMatrix<f64>> = None;
        let mut tau = self.settings.regularisation;
        let mut convergence: i32 = -4;
        let mut previous_f = f64::NEG_INFINITY;
        let mut accepted = (qp.clone(), qh.clone());
        let mut free_energy = Vec::new();
        let mut free_action = Vec::new();
        let mut terms = Vec::new();
        let mut instantaneous = Vec::new();
        let mut saved: Option<Pass> = None;
        let mut iterations = 0;

        // φ₁ of the slow flow's 2 × 2 Jacobian [[0, 1], [−1, −κ]] (κ = N),
        // shared by every parameter and log-precision.
        let channel_in_f: Vec<bool> = (0..ne + nx)
            .map(|a| {
                if a < ne {
                    self.error_in_f[a]
                } else {
                    self.error_in_f[n * ne + a - ne]
                }
            })
            .collect();
        let log_det_r: Vec<f64> = self.temporal.iter().map(spm_log_determinant).collect();
        let coupled_in_f = (0..ne + nx).any(|a| {
            let r = &self.temporal[self.channel_r[a]];
            channel_in_f[a] && (0..n).any(|k| (0..n).any(|l| k != l && r[(k, l)] != 0.0))
        });
        let mut lu = Lu::default();
        let has_state_prior = self.state_prior.iter().any(|&v| v != 0.0);
        let ju: Vec<usize> = (0..nu).filter(|&i| self.state_in_f[i]).collect();
        let kb = ns as f64;
        let phi = {
            let mut a = DMatrix::zeros(4, 4);
            a[(0, 1)] = 1.0;
            a[(1, 0)] = -1.0;
            a[(1, 1)] = -kb;
            a[(0, 2)] = 1.0;
            a[(1, 3)] = 1.0;
            expm(&a)?.view((0, 2), (2, 2)).into_owned()
        };

        // Work matrices reused by every sample: J = [ε̃_u, ε̃_θ], Jᵀ, (Π̃J)ᵀ,
        // Π̃J, the curvature of the states and parameters, and products.
        let na = nu + np;
        let mut jac = DMatrix::zeros(size, na);
        let mut jac_t = DMatrix::zeros(na, size);
        let mut is_jac_t = DMatrix::zeros(na, size);
        let mut is_jac = DMatrix::zeros(size, na);
        let mut dl_daa = DMatrix::zeros(na, na);
        let mut rows = DMatrix::zeros(size, na);
        let mut w_up = DMatrix::zeros(size, nu);

        for pass_index in 0..passes {
            iterations = pass_index + 1;
            let mut frozen = None;
            let mut qx = vec![DVector::zeros(nx); n];
            let mut qv = vec![DVector::zeros(nv); d];
            qx[0].copy_from(&x0);
            qv[0].copy_from(&v0);
            let mut qy = vec![DVector::zeros(ny); n];
            let mut qc = vec![DVector::zeros(nc); n];
            let mut y_buf = vec![0.0; n * ny];
            let mut c_buf = vec![0.0; d * nc];
            let mut pass = Pass {
                states: DMatrix::zeros(nx, ns),
                causes: DMatrix::zeros(nv, ns),
                predicted: DMatrix::zeros(ny, ns),
                z: DMatrix::zeros(ne, ns),
                w: DMatrix::zeros(nx, ns),
                zw: DMatrix::zeros(ne, ns),
                ww: DMatrix::zeros(nx, ns),
                state_cov: Vec::with_capacity(ns),
                cause_cov: Vec::with_capacity(ns),
                params: Vec::with_capacity(ns),
                param_cov: Vec::with_capacity(ns),
                hypers: Vec::with_capacity(ns),
                hyper_cov: Vec::with_capacity(ns),
            };
            let mut fc = [0.0; 5];
            let mut action = 0.0;
            let mut ft = Vec::with_capacity(ns);

            for t in 0..ns {
                y_embedder.embed_into(y, t, &mut y_buf)?;
                for k in 0..n {
                    qy[k].copy_from_slice(&y_buf[k * ny..(k + 1) * ny]);
                }
                if nc > 0 {
                    c_embedder.embed_into(eta, t, &mut c_buf)?;
                }
                for k in 0..d {
                    qc[k].copy_from_slice(&c_buf[k * nc..(k + 1) * nc]);
                }
                let params = self.dem.level_parameters(&qp);
                let err: Errors = self.dem.evaluate(
                    &qx,
                    &qv,
                    &qy,
                    &qc,
                    &params,
                    Linearity::FirstOrder,
                    &mut frozen,
                    true,
                )?;
                let e = &err.e;

                // Precisions and their derivatives.
                let pi = &self.fixed_log_precision + &self.dpi * &qh;
                let w = pi.map(f64::exp);
                // ln|Π̃| over the channels in F: Σ_a (n ln w_a + ln|R_a|) when
                // `spm_logdet` takes its Cholesky branch (some R couples
                // orders); else its diagonal branch, entries in range only.
                let log_det_is: f64 = if coupled_in_f {
                    (0..ne + nx)
                        .filter(|&a| channel_in_f[a])
                        .map(|a| n as f64 * pi[a] + log_det_r[self.channel_r[a]])
                        .sum()
                } else {
                    (0..ne + nx)
                        .filter(|&a| channel_in_f[a])
                        .flat_map(|a| {
                            let (r, wa) = (&self.temporal[self.channel_r[a]], w[a]);
                            (0..n).map(move |k| r[(k, k)] * wa)
                        })
                        .filter(|&v| v > 1e-16 && v < 1e16)
                        .map(f64::ln)
                        .sum()
                };
                // Per channel, e_aᵀ R_a e_a: ∂(ε̃ᵀΠ̃ε̃)/∂λ and the accuracy.
                let ones = vec![1.0; ne + nx];
                let re = self.kron_diag_mul_vector(&ones, e);
                let q_e = self.channel_sums(e.component_mul(&re).as_slice());
                let mut de_dh = DMatrix::zeros(nb, size);
                let mut ds_dhh = DMatrix::zeros(nb, nb);
                let mut dd_dh = DVector::zeros(nb);
                if self.settings.precision_gradients {
                    dd_dh.copy_from(&dlogdet_dh);
                    for a in 0..ne + nx {
                        let (offset, stride, c) = self.channel_rows(a);
                        for j in 0..nb {
                            let wj = self.dpi[(a, j)] * w[a];
                            if wj != 0.0 {
                                for k in 0..n {
                                    let i = offset + k * stride + c;
                                    de_dh[(j, i)] = re[i] * wj;
                                }
                            }
                        }
                    }
                    for i in 0..nb {
                        for j in i..nb {
                            if (i < nh) != (j < nh) {
                                continue;
                            }
                            let v: f64 = (0..ne + nx)
                                .map(|a| self.dpi[(a, i)] * self.dpi[(a, j)] * w[a] * q_e[a])
                                .sum();
                            ds_dhh[(i, j)] = v;
                            ds_dhh[(j, i)] = v;
                        }
                    }
                }

                // Π̃ ε̃_u, Π̃ ε̃_θ: the transposes of ∂ε̃ᵀΠ̃/∂u, ∂ε̃ᵀΠ̃/∂θ.
                jac.view_mut((0, 0), (size, nu)).copy_from(&err.du);
                jac.view_mut((0, nu), (size, np)).copy_from(&err.dp);
                self.kron_diag_mul_t_into(w.as_slice(), &jac, &mut jac_t, &mut is_jac_t);
                is_jac_t.transpose_to(&mut is_jac);
                let is_du = is_jac.columns(0, nu);
                let is_dp = is_jac.columns(nu, np);
                let mut u = DVector::zeros(nu);
                for k in 0..n {
                    u.rows_mut(k * nx, nx).copy_from(&qx[k]);
                }
                for k in 0..d {
                    u.rows_mut(n * nx + k * nv, nv).copy_from(&qv[k]);
                }
                let eh = &qh - prior_h;

                // Gradients and curvatures of the Gibbs energy.
                let mut dl_du = is_du.tr_mul(e);
                if has_state_prior {
                    dl_du += &self.state_prior * &u;
                }
                let dl_dh = &de_dh * e / 2.0 - &dd_dh / 2.0 + ph * &eh;
                let dl_dp = is_dp.tr_mul(e) + pp * &qp;
                // [ε̃_u, ε̃_θ]ᵀ Π̃ [ε̃_u, ε̃_θ] in one product; the lower-left
                // block is the transpose of the upper-right one.
                sparse_mul(&mut dl_daa, &is_jac_t, &jac);
                for i in 0..nu {
                    for j in 0..np {
                        dl_daa[(nu + j, i)] = dl_daa[(i, nu + j)];
                    }
                }
                if has_state_prior {
                    let mut block = dl_daa.view_mut((0, 0), (nu, nu));
                    block += &self.state_prior;
                }
                {
                    let mut block = dl_daa.view_mut((nu, nu), (np, np));
                    block += pp;
                }
                let dl_duu = dl_daa.view((0, 0), (nu, nu));
                let dl_dpp = dl_daa.view((nu, nu), (np, np));
                let dl_dhh = &ds_dhh / 2.0 + ph;
                let dl_duy = sparse_tr_mul_t(&is_jac_t, nu, &err.dy);
                let dl_duc = sparse_tr_mul_t(&is_jac_t, nu, &err.dc);
                let dl_dhp = &de_dh * &err.dp;
                let mut dl_dbb = DMatrix::zeros(nq, nq);
                dl_dbb.view_mut((0, 0), (np, np)).copy_from(&dl_dpp);
                dl_dbb
                    .view_mut((0, np), (np, nb))
                    .copy_from(&dl_dhp.transpose());
                dl_dbb.view_mut((np, 0), (nb, np)).copy_from(&dl_dhp);
                dl_dbb.view_mut((np, np), (nb, nb)).copy_from(&dl_dhh);
                let c_up = spm_inv(&dl_daa, &mut lu);
                let c_hh = spm_inv(&dl_dhh, &mut lu);

                // Entropy gradients ½ tr(∂Π_aa/∂b · Σ_aa), as Frobenius
                // products: with J = [ε̃_u, ε̃_θ], ∂Π_aa/∂λ_j = Jᵀ ∂Π̃/∂λ_j J
                // gives ½ ⟨J, ∂Π̃/∂λ_j J Σ⟩; ∂Π_aa/∂θ_i = [[A + Aᵀ, Lᵀ], [L, 0]]
                // (A = ε̃_uθiᵀ Π̃ ε̃_u, L = ε̃_θᵀ Π̃ ε̃_uθi) gives
                // ½ ⟨ε̃_uθi, Π̃ε̃_u (Σ_uu + Σ_uuᵀ) + Π̃ε̃_θ (Σ_θu + Σ_uθᵀ)⟩.
                let mut dh_db = DVector::zeros(nq);
                if nb > 0 && self.settings.precision_gradients {
                    // w_a ⟨J_a, R_a J_a Σ⟩ = Σ over channel a's rows of
                    // (Π̃J Σ) ∘ J.
                    gemm(&mut rows, 1.0, &is_jac, &c_up, 0.0);
                    rows.component_mul_assign(&jac);
                    let t = self.channel_sums(rows.column_sum().as_slice());
                    for j in 0..nb {
                        dh_db[np + j] =
                            (0..ne + nx).map(|a| self.dpi[(a, j)] * t[a]).sum::<f64>() / 2.0;
                    }
                }
                if np > 0 {
                    let c_uu = c_up.view((0, 0), (nu, nu));
                    let k = c_up.view((nu, 0), (np, nu)) + c_up.view((0, nu), (nu, np)).transpose();
                    let s_uu = c_uu + c_uu.transpose();
                    let (a_u, a_p) = is_jac.as_slice().split_at(size * nu);
                    let w_s = w_up.as_mut_slice();
                    gemm_slices(w_s, 1.0, a_u, s_uu.as_slice(), 0.0, (size, nu, nu));
                    gemm_slices(w_s, 1.0, a_p, k.as_slice(), 1.0, (size, np, nu));
                    for i in 0..np {
                        dh_db[i] = err.dup[i].dot(&w_up) / 2.0;
                    }
                }
                let mut dl_db = DVector::zeros(nq);
                dl_db.rows_mut(0, np).copy_from(&dl_dp);
                dl_db.rows_mut(np, nb).copy_from(&dl_dh);

                // Record the sample (before it is assimilated).
                pass.states.set_column(t, &qx[0]);
                pass.causes.set_column(t, &qv[0]);
                pass.z.set_column(t, &e.rows(0, ne));
                pass.w.set_column(t, &e.rows(n * ne, nx));
                for a in 0..ne {
                    let r0 = self.temporal[self.channel_r[a]][(0, 0)];
                    pass.zw[(a, t)] = r0 * w[a] * e[a];
                }
                for b in 0..nx {
                    let r = n * ne + b;
                    let r0 = self.temporal[self.channel_r[ne + b]][(0, 0)];
                    pass.ww[(b, t)] = r0 * w[ne + b] * e[r];
                }
                pass.predicted.set_column(t, &(&qy[0] - e.rows(0, ny)));
                pass.state_cov
                    .push(c_up.view((0, 0), (nx, nx)).into_owned());
                pass.cause_cov
                    .push(c_up.view((n * nx, n * nx), (nv, nv)).into_owned());
                pass.params.push(qp.clone());
                pass.param_cov
                    .push(c_up.view((nu, nu), (np, np)).into_owned());
                pass.hypers.push(qh.clone());
                pass.hyper_cov.push(c_hh.clone());

                // Free-energy terms of the sample.
                let accuracy: f64 = (0..ne + nx)
                    .filter(|&a| channel_in_f[a])
                    .map(|a| w[a] * q_e[a])
                    .sum();
                // The states' prior terms (zero without a prior on the states).
                let (prior_u, entropy_u) = if !has_state_prior {
                    (0.0, 0.0)
                } else {
                    let pu_ju = DMatrix::from_fn(ju.len(), ju.len(), |i, j| {
                        self.state_prior[(ju[i], ju[j])]
                    });
                    let cu_ju = DMatrix::from_fn(ju.len(), ju.len(), |i, j| c_up[(ju[i], ju[j])]);
                    let u_ju = DVector::from_fn(ju.len(), |i, _| u[ju[i]]);
                    (
                        -u_ju.dot(&(&pu_ju * &u_ju)) / 2.0,
                        spm_log_determinant(&(&pu_ju * &cu_ju)) / 2.0,
                    )
                };
                let sample = [
                    -accuracy / 2.0,
                    prior_u,
                    -((n * ny) as f64) * (2.0 * std::f64::consts::PI).ln() / 2.0,
                    log_det_is / 2.0,
                    entropy_u,
                ];
                let sum: f64 = sample.iter().sum();
                ft.push(sum);
                for (acc, s) in fc.iter_mut().zip(sample) {
                    *acc += s;
                }
                action += sum - qp.dot(&(pp * &qp)) / 2.0 - eh.dot(&(ph * &eh)) / 2.0
                    + log_det_pp / 2.0
                    + log_det_ph / 2.0
                    - spm_log_determinant(&dl_dbb) / 2.0;

                // Precondition the slow flow with the running curvature.
                let b = match curvature.take() {
                    Some(b) => b * (1.0 - 1.0 / ns as f64) + &dl_dbb / ns as f64,
                    None => &dl_dbb + DMatrix::identity(nq, nq) * 32.0,
                };
                let cb = spm_inv(
                    &(&b + DMatrix::from_diagonal(&b.diagonal()) * tau.exp()),
                    &mut lu,
                );
                curvature = Some(b);
                let dl_db = &cb * dl_db;
                let dh_db = &cb * dh_db;

                // The flow of [ỹ; u; η̃] (the states' step) and of [b; b′]:
                // the two parts of the Jacobian are uncoupled.
                let du =
                    self.dem
                        .dstep_update(-dl_duu, -dl_du, &(-dl_duy), &(-dl_duc), &u, &qy, &qc)?;
                // b′′ = −κ b′ − g, coordinate by coordinate: the step of
                // [b; b′] is φ₁(A) [b′; −κ b′ − g], A = [[0, 1], [−1, −κ]].
                let g = dl_db + dh_db;
                let mut db = DVector::zeros(nq);
                let mut ddb = DVector::zeros(nq);
                for i in 0..nq {
                    let (p, q) = (dbdt[i], -kb * dbdt[i] - g[i]);
                    db[i] = phi[(0, 0)] * p + phi[(0, 1)] * q;
                    ddb[i] = phi[(1, 0)] * p + phi[(1, 1)] * q;
                }
                if let Some(i) = du
                    .iter()
                    .chain(db.iter())
                    .chain(ddb.iter())
                    .position(|s| !s.is_finite())
                {
                    return Err(GcError::Diverged {
                        step: t,
                        reason: format!("update {i} of the generalized flow is not finite"),
                    });
                }
                for k in 0..n {
                    qx[k] += du.rows(k * nx, nx);
                }
                for k in 0..d {
                    qv[k] += du.rows(n * nx + k * nv, nv);
                }
                qp += db.rows(0, np);
                qh += db.rows(np, nb);
                dbdt += ddb;
            }

            // Bayesian averaging of the parameters and log-precisions.
            let (ep, cp) = average(&pass.params, &pass.param_cov, pp)?;
            let (eh_avg, ch) = average(&pass.hypers, &pass.hyper_cov, ph)?;
            let eh = eh_avg - prior_h;
            let pass_terms = FreeEnergyTerms {
                accuracy: fc[0],
                state_prior: fc[1],
                normalisation: fc[2],
                log_precision: fc[3],
                state_entropy: fc[4],
                parameter_prior: -ep.dot(&(pp * &ep)) / 2.0,
                log_precision_prior: -eh.dot(&(ph * &eh)) / 2.0,
                parameter_entropy: spm_log_determinant(&(pp * &cp)) / 2.0,
                log_precision_entropy: spm_log_determinant(&(ph * &ch)) / 2.0,
            };
            let fe = pass_terms.total();
            terms.push(pass_terms);
            free_action.push(action);
            instantaneous = ft;

            if fe < previous_f && pass_index >= 4 {
                // F fell: back to the last accepted point, and slow down.
                free_energy.push(previous_f);
                (qp, qh) = accepted.clone();
                tau = (tau + 2.0).max(2.0);
                if tau > 6.0 {
                    convergence = 1;
                }
            } else {
                if fe - previous_f < 1.0 {
                    convergence += 1;
                }
                free_energy.push(fe);
                previous_f = fe;
                accepted = (qp.clone(), qh.clone());
                tau = (tau - 1.0).max(-8.0);
            }
            if convergence > 0 {
                break;
            }
            saved = Some(pass);
        }

        let Some(pass) = saved else {
            return Err(GcError::Diverged {
                step: 0,
                reason: "generalized filtering stopped before completing a pass".into(),
            });
        };
        // The averaged parameters in the original space.
        let (ep, cp) = average(&pass.params, &pass.param_cov, pp)?;
        let (eh, ch) = average(&pass.hypers, &pass.hyper_cov, ph)?;
        let total: usize = m.levels.iter().map(|l| l.parameter_mean.len()).sum();
        let mut up = DMatrix::zeros(total, np);
        let mut mean = DVector::zeros(total);
        let mut at = 0;
        for (i, level) in m.levels.iter().enumerate() {
            let b = &self.dem.bases[i];
            up.view_mut((at, self.dem.p_at[i]), b.shape()).copy_from(b);
            mean.rows_mut(at, b.nrows())
                .copy_from(&level.parameter_mean);
            at += b.nrows();
        }
        let parameters = &mean + &up * &ep;
        let parameter_covariance = &up * &cp * up.transpose();
        let mut parameter_trace = DMatrix::zeros(total, ns);
        let mut log_precision_trace = DMatrix::zeros(nb, ns);
        for t in 0..ns {
            parameter_trace.set_column(t, &(&mean + &up * &pass.params[t]));
            log_precision_trace.set_column(t, &pass.hypers[t]);
        }
        Ok(LapResult {
            states: pass.states,
            causes: pass.causes,
            predicted_response: pass.predicted,
            output_errors: pass.z,
            state_errors: pass.w,
            weighted_output_errors: pass.zw,
            weighted_state_errors: pass.ww,
            state_covariances: pass.state_cov,
            cause_covariances: pass.cause_cov,
            free_energy,
            free_action,
            free_energy_terms: terms,
            instantaneous_free_energy: instantaneous,
            parameters,
            parameter_covariance,
            parameter_trace,
            output_log_precisions: eh.rows(0, nh).into_owned(),
            state_log_precisions: eh.rows(nh, nb - nh).into_owned(),
            log_precision_covariance: ch,
            log_precision_trace,
            iterations,
        })
    }
}

/// `Aᵀ B` for a dense `A`, given as the first `rows` rows of `at = Aᵀ`,
/// and a `B` with few non-zero entries (the errors' derivatives with respect
/// to the data and prior causes): only `B`'s non-zero entries are visited.
fn sparse_tr_mul_t(at: &DMatrix<f64>, rows: usize, b: &DMatrix<f64>) -> DMatrix<f64> {
    let cols = b.ncols();
    let n = b.nrows();
    let ld = at.nrows();
    let mut out = DMatrix::zeros(rows, cols);
    let (av, bv, ov) = (at.as_slice(), b.as_slice(), out.as_mut_slice());
    const CHUNK: usize = 8;
    for (c, column) in bv.chunks_exact(n.max(1)).enumerate() {
        let o = &mut ov[c * rows..(c + 1) * rows];
        for (start, chunk) in (0..).step_by(CHUNK).zip(column.chunks(CHUNK)) {
            // A branch-free test of the whole chunk first: most are zero.
            if chunk.iter().fold(false, |any, &v| any | (v != 0.0)) {
                for (r, &v) in (start..).zip(chunk) {
                    if v != 0.0 {
                        for (oi, &ai) in o.iter_mut().zip(&av[r * ld..r * ld + rows]) {
                            *oi += ai * v;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Bayesian averaging of per-sample modes `bₜ` with covariances `Σₜ`:
/// `Q = Σₜ Σₜ⁻¹`, `E = Q⁻¹ Σₜ Σₜ⁻¹ bₜ`, `C = (Q + (1 − N) P)⁻¹` (`P` the
/// prior precision), with SPM's `spm_inv` throughout.
fn average(
    modes: &[DVector<f64>],
    covariances: &[DMatrix<f64>],
    prior_precision: &DMatrix<f64>,
) -> Result<(DVector<f64>, DMatrix<f64>), GcError> {
    let k = prior_precision.nrows();
    let mut q = DMatrix::zeros(k, k);
    let mut e = DVector::zeros(k);
    let mut lu = Lu::default();
    for (b, c) in modes.iter().zip(covariances) {
        let p = spm_inv(c, &mut lu);
        e += &p * b;
        q += p;
    }
    let mean = spm_inv(&q, &mut lu) * e;
    let samples = modes.len() as f64;
    let cov = spm_inv(&(&q + prior_precision * (1.0 - samples)), &mut lu);
    if let Some(i) = mean.iter().position(|v| !v.is_finite()) {
        return Err(GcError::Diverged {
            step: modes.len(),
            reason: format!("averaged mode {i} is not finite"),
        });
    }
    Ok((mean, cov))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::hierarchical::{CauseLevel, FnLevel, Level, LogPrecisionPrior};

    /// `ẋ = θ₀ x + v`, `y = [x; θ₁ x]`, with `θ₁` free when `learn`, and
    /// one learned log-precision per kind when `hyper`.
    fn model(learn: bool, hyper: bool) -> HierarchicalModel {
        let level = FnLevel::new(
            1,
            2,
            |x, v, p| DVector::from_vec(vec![p[0] * x[0] + v[0]]),
            |x, _v, p| DVector::from_vec(vec![x[0], p[1] * x[0]]),
        );
        let (q, hprior) = if hyper {
            (
                vec![DMatrix::identity(2, 2)],
                LogPrecisionPrior {
                    mean: DVector::from_element(1, 2.0),
                    covariance: DMatrix::identity(1, 1),
                },
            )
        } else {
            (Vec::new(), LogPrecisionPrior::none())
        };
        let (r, gprior) = if hyper {
            (
                vec![DMatrix::identity(1, 1)],
                LogPrecisionPrior {
                    mean: DVector::from_element(1, 1.0),
                    covariance: DMatrix::identity(1, 1),
                },
            )
        } else {
            (Vec::new(), LogPrecisionPrior::none())
        };
        let mut pc = DMatrix::zeros(2, 2);
        if learn {
            pc[(1, 1)] = 1.0;
        }
        HierarchicalModel {
            levels: vec![Level {
                functions: Arc::new(level),
                outputs: 2,
                states: 1,
                causes: 1,
                x0: DVector::zeros(1),
                v0: DVector::zeros(1),
                parameter_mean: DVector::from_vec(vec![-0.5, 1.5]),
                parameter_covariance: pc,
                output_precision: DMatrix::identity(2, 2) * 4f64.exp(),
                state_precision: DMatrix::identity(1, 1) * 2f64.exp(),
                output_components: q,
                state_components: r,
                output_log_precision: hprior,
                state_log_precision: gprior,
                state_prior_precision: DMatrix::zeros(1, 1),
                output_smoothness: 0.5,
                state_smoothness: 0.5,
            }],
            top: CauseLevel {
                causes: 1,
                precision: DMatrix::identity(1, 1),
                components: Vec::new(),
                log_precision: LogPrecisionPrior::none(),
                smoothness: 0.5,
            },
        }
    }

    fn data(samples: usize) -> (DMatrix<f64>, DMatrix<f64>) {
        let y = DMatrix::from_fn(2, samples, |i, t| {
            let x = (t as f64 * 0.3).sin();
            if i == 0 {
                x
            } else {
                2.0 * x + 0.01 * (t as f64 * 1.7).cos()
            }
        });
        let eta = DMatrix::from_fn(1, samples, |_, t| (t as f64 * 0.3).cos() * 0.3);
        (y, eta)
    }

    fn settings() -> LapSettings {
        LapSettings {
            state_orders: 4,
            cause_orders: 2,
            iterations: 8,
            ..LapSettings::default()
        }
    }

    #[test]
    fn without_learning_the_states_are_dem_s_d_step() {
        // Nothing to learn: one pass, whose states are those of spm_DEM's
        // D-step (same errors, same precisions V and W, same integration).
        let (y, eta) = data(24);
        let lap = GeneralizedFilter::new(model(false, false), settings()).unwrap();
        let r = lap.run(&y, &eta).unwrap();
        assert_eq!(r.iterations, 1);
        assert_eq!(r.free_energy.len(), 1);
        let dem = Dem::new(
            model(false, false),
            DemSettings {
                state_orders: 4,
                cause_orders: 2,
                ..DemSettings::default()
            },
        )
        .unwrap();
        let d = dem.run(&y, &eta).unwrap();
        let gap = (&r.states - &d.states).amax() / d.states.amax();
        assert!(gap < 1e-10, "states differ from DEM's D-step by {gap:e}");
        let gap = (&r.causes - &d.causes).amax() / d.causes.amax();
        assert!(gap < 1e-10, "causes differ from DEM's D-step by {gap:e}");
        // F is the sum of its terms.
        let terms = r.free_energy_terms[0];
        assert!((terms.total() - r.free_energy[0]).abs() < 1e-9);
        assert_eq!(r.instantaneous_free_energy.len(), 24);
    }

    #[test]
    fn learning_moves_parameters_and_log_precisions_online() {
        let (y, eta) = data(32);
        let lap = GeneralizedFilter::new(model(true, true), settings()).unwrap();
        assert_eq!(lap.free_parameters(), 1);
        assert_eq!(lap.log_precisions(), 2);
        let r = lap.run(&y, &eta).unwrap();
        // The data's second channel is 2x: θ₁ moves from 1.5 towards 2.
        assert!(r.parameters[1] > 1.6, "θ₁ = {}", r.parameters[1]);
        assert_eq!(
            r.parameters[0], -0.5,
            "a fixed parameter stays at its prior"
        );
        // The traces move within a pass and hold one column per sample.
        assert_eq!(r.parameter_trace.shape(), (2, 32));
        assert_eq!(r.log_precision_trace.shape(), (2, 32));
        let first = r.log_precision_trace.column(0);
        let last = r.log_precision_trace.column(31);
        assert!((first - last).amax() > 0.0);
        assert_eq!(r.output_log_precisions.len(), 1);
        assert_eq!(r.state_log_precisions.len(), 1);
        assert_eq!(r.log_precision_covariance.shape(), (2, 2));
        assert!(r.free_energy.iter().all(|f| f.is_finite()));
        assert_eq!(r.free_energy.len(), r.iterations);
        assert_eq!(r.free_action.len(), r.iterations);
    }

    #[test]
    fn the_precision_is_r_kron_diag() {
        let lap = GeneralizedFilter::new(model(false, false), settings()).unwrap();
        // ne = 3 (2 outputs, 1 cause), nx = 1: channel weights w.
        let w = DVector::from_vec(vec![2.0, 3.0, 5.0, 7.0]);
        let p = lap.kron_diag(&w);
        let r = temporal_precision(4, 0.5).unwrap().r;
        let causal = kron(&r, &DMatrix::from_diagonal(&w.rows(0, 3).into_owned()));
        let states = &r * 7.0;
        assert_eq!(p.view((0, 0), (12, 12)).into_owned(), causal);
        assert_eq!(p.view((12, 12), (4, 4)).into_owned(), states);
        assert!(p.view((0, 12), (12, 4)).iter().all(|&v| v == 0.0));
        // Applied without forming it.
        let x = DMatrix::from_fn(16, 3, |i, j| ((i * 3 + j) as f64 * 0.37).sin());
        let gap = (lap.kron_diag_mul(w.as_slice(), &x) - &p * &x).amax();
        assert!(gap < 1e-12, "{gap:e}");
    }

    #[test]
    fn log_det_of_the_precision_is_spm_logdet_s() {
        // ½ ln|Π̃| over the channels in F, per sample: the closed form (orders
        // coupled, n = 4) and spm_logdet's diagonal branch (n = 2, R diagonal).
        for orders in [4, 2] {
            let s = LapSettings {
                state_orders: orders,
                cause_orders: 2,
                ..settings()
            };
            let lap = GeneralizedFilter::new(model(false, false), s).unwrap();
            let (y, eta) = data(6);
            let r = lap.run(&y, &eta).unwrap();
            let w = lap.fixed_log_precision.map(f64::exp);
            let full = lap.kron_diag(&w);
            let je: Vec<usize> = (0..full.nrows()).filter(|&i| lap.error_in_f[i]).collect();
            let sub = DMatrix::from_fn(je.len(), je.len(), |i, j| full[(je[i], je[j])]);
            let expected = 6.0 * spm_log_determinant(&sub) / 2.0;
            let got = r.free_energy_terms[0].log_precision;
            assert!(
                (got - expected).abs() <= 1e-10 * expected.abs().max(1.0),
                "n = {orders}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn bad_settings_and_records_are_errors() {
        let bad = |s: LapSettings| GeneralizedFilter::new(model(false, false), s).unwrap_err();
        assert!(matches!(
            bad(LapSettings {
                iterations: 0,
                ..settings()
            }),
            GcError::Setting { .. }
        ));
        assert!(matches!(
            bad(LapSettings {
                cause_orders: 5,
                ..settings()
            }),
            GcError::Setting { .. }
        ));
        assert!(matches!(
            bad(LapSettings {
                smoothness: Some(-1.0),
                ..settings()
            }),
            GcError::Setting { .. }
        ));
        assert!(matches!(
            bad(LapSettings {
                regularisation: f64::NAN,
                ..settings()
            }),
            GcError::Setting { .. }
        ));
        let lap = GeneralizedFilter::new(model(false, false), settings()).unwrap();
        let (y, eta) = data(8);
        let err = lap.run(&y.rows(0, 1).into_owned(), &eta).unwrap_err();
        assert!(matches!(err, GcError::Dimension { .. }), "{err}");
        let err = lap.run(&y, &eta.columns(0, 4).into_owned()).unwrap_err();
        assert!(matches!(err, GcError::Dimension { .. }), "{err}");
        let mut nan = y.clone();
        nan[(1, 3)] = f64::NAN;
        let err = lap.run(&nan, &eta).unwrap_err();
        assert!(matches!(err, GcError::Value { .. }), "{err}");
    }
}
