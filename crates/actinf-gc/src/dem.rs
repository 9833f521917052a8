//! Dynamic expectation maximisation (DEM) of a [`HierarchicalModel`]: the
//! D-step (states), the E-step (parameters) and the M-step (noise
//! log-precisions), following SPM12's `spm_DEM` (r7771).
//!
//! # The scheme (Friston, Trujillo-Barreto & Daunizeau 2008, "DEM: a
//! variational treatment of dynamic systems", NeuroImage 41)
//! Under the mean-field partition `q(u)q(θ)q(λ)` and the Laplace
//! approximation, each iteration is:
//!
//! * **D-step**: one pass over the data. At sample `t` the generalized errors
//!   `ε̃ = [ỹ; ṽ] − [g̃; η̃]` (causes) and `Dx̃ − f̃` (states), with the top
//!   order's state error set to zero, are evaluated at the expectation held
//!   before the sample is assimilated; then the expectation moves with
//!   `u̇ = Du + ∂V/∂u`, `V = −½ ε̃ᵀ Π̃ ε̃ − ½ W_θ` (`W_θ = tr(Σ_θ ε̃_θuᵀ Π̃ ε̃_θu)`,
//!   the parameters' uncertainty, paper eq. 23) for one sampling interval, by
//!   local linearisation of the flow of `[ũ; ỹ; η̃]` (the data move with
//!   their own Taylor expansion). Its conditional covariance is
//!   `Σ_u = (ε̃_uᵀ Π̃ ε̃_u)⁻¹`.
//! * **M-step**: the log-precisions `λ` of `Π̃ = Π₀ + Σ_j exp(λ_j) Q̃_j`
//!   take up to `nM` regularised Newton steps on
//!   `F(λ) = −½ tr(Π̃ ⟨ε̃ε̃ᵀ⟩) + ½ N ln|Π̃| − ½ (λ − η_λ)ᵀ P_λ (λ − η_λ)`, with
//!   `⟨ε̃ε̃ᵀ⟩ = Σₜ ε̃ε̃ᵀ + ε̃_u Σ_u ε̃_uᵀ + ε̃_θ Σ_θ ε̃_θᵀ`:
//!   `∂F/∂λ_j = −½ tr(P_j (⟨ε̃ε̃ᵀ⟩ − N Π̃⁻¹))`, `∂²F/∂λ_i∂λ_j =
//!   −½ N tr(P_i Π̃⁻¹ P_j Π̃⁻¹)` (`P_j = exp(λ_j) Q̃_j`, paper eqs. 27–28),
//!   each step clipped to ±2.
//! * **Free energy** `F = Σₜ[−½ ε̃ᵀΠ̃ε̃ + ½ ln|Π̃| − (n·ny/2) ln 2π + ½ ln|Σ_u|]
//!   − ½ θᵀP_θθ − ½ (λ−η_λ)ᵀP_λ(λ−η_λ) + ½ ln|Σ_θ P_θ| + ½ ln|Σ_λ P_λ|`
//!   (SPM's sign: a lower bound on the log evidence, to be **maximised**).
//! * **E-step**: if `F` rose (or on the first iteration), the parameters
//!   take one regularised Newton step on `F(θ) = Σₜ[−½ ε̃ᵀΠ̃ε̃ − ½ W_u] − ½
//!   θᵀP_θθ` (`W_u = tr(Σ_u ε̃_uθᵀ Π̃ ε̃_uθ)`, the states' uncertainty, paper
//!   eq. 25) and the step sizes grow; otherwise the parameters and
//!   log-precisions return to the last accepted point and the step sizes
//!   shrink ("accepted only when F rises").
//!
//! The regularised Newton step is SPM's `spm_dx` with a log-time `τ`: the
//! local-linearisation step `Δ = (exp(tJ) − I) J⁻¹ ∂F` over the time
//! `t = exp(τ − ln|J|/k)` (`k` unknowns) — a gradient step for short `t`, a
//! Newton step `−J⁻¹∂F` for long ones. `τ` starts at 4 for the M-step, and
//! for the E-step at 4 for a model flagged linear, 0 otherwise; it grows by
//! ½ (up to 4) after an accepted iteration and is set to `min(τ − 2, −2)`
//! after a rejected one. The iterations stop after `nE`, when the parameter
//! step and the total log-precision change are both small (`‖Δθ‖₁ <
//! e⁻⁴‖θ‖₁` and `‖Δλ‖₁ < e⁻⁴`), or when the E-step's `τ` falls below −8.
//! The parameters move only within the span of their prior covariance
//! (`θ = θ₀ + U q`, `U` the eigenvectors of `pC` with non-zero eigenvalues).
//!
//! # SPM's particulars, kept so the numbers agree
//! * States are embedded to `n` orders, causes to `d ≤ n`; the data are
//!   embedded with `spm_DEM_embed`'s centred window at unit spacing, and
//!   the top causes' prior `η̃` to `d` orders.
//! * The top-order state error is zero while the Jacobian keeps its row.
//! * `ln|·|` is SPM's `spm_logdet`: zero diagonal entries dropped; a
//!   diagonal matrix contributes `Σ ln dᵢ` over its entries in
//!   `(10⁻¹⁶, 10¹⁶)` only — so a negative definite diagonal curvature gives
//!   `ln|J| = 0` in the step time above.
//! * Error components whose fixed precision exceeds `exp(16)` are left out
//!   of `F`, and the matching states (by SPM's index arithmetic) out of
//!   `Σ_u`.
//! * Inverses add `max(eps(‖A‖∞)·size, exp(−32))` to the diagonal
//!   (`spm_inv`).
//! * With a model flagged linear, the Jacobians with respect to the states
//!   are taken once per D-step pass, at its first sample, and the parameter
//!   Jacobians follow the states linearly from there (`spm_DEM_eval`'s
//!   method 1).
//! * A static model (no hidden states) takes up to `nD` D-step iterations
//!   per sample with SPM's own step-size rule (`Dem::static_pass`); a
//!   dynamic model one (`nD = 1`, SPM's default; more is not supported).
//!
//! # Computation
//! The same quantities as `spm_DEM`, computed with the structure at hand:
//! * the local-linearisation step is taken on `u` alone, the data and prior
//!   causes entering as polynomial forcing
//!   ([`crate::linearise::forced_linearisation_step`]: an exponential of size
//!   `nu + n` rather than of the whole flow's `nu + n·ny + d·nc`);
//! * with frozen derivatives (a model flagged linear) everything that
//!   depends on the Jacobians only — `Σ_u`, `ln|Σ_u|`, the uncertainty
//!   curvatures, the flow's Jacobian and its φ-functions
//!   ([`crate::linearise::phi_functions`]) — is formed once per pass, and a
//!   sample's step is a few matrix–vector products;
//! * products with the generalized precision use its non-zero entries
//!   (orders couple only within a channel), and block-diagonal matrices are
//!   inverted block by block.
//!
//! These change the rounding, not the algorithm: `tests/dem_spm.rs` checks
//! SPM12's runs to 1e-10 (they agree to about 1e-12).

// Generalized orders are indexed by `k` across several parallel arrays.
#![allow(clippy::needless_range_loop)]

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::embed::{Embedder, Embedding};
use crate::error::GcError;
use crate::hierarchical::{HierarchicalModel, LevelDerivatives};
use crate::linearise::{expm, forced_linearisation_step, phi_functions};
use crate::precision::temporal_precision;
use crate::shift::kron;

/// SPM's tolerance for changes in norm, `exp(−4)`.
const TOL: f64 = 0.018_315_638_888_734_18;

/// How the derivatives of `f` and `g` are refreshed along a pass
/// (`spm_DEM_eval`'s `E.linear`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linearity {
    /// All derivatives at every sample (`E.linear = 0`).
    Full,
    /// All derivatives at the pass's first sample; the parameter Jacobians
    /// follow the states linearly from there (`E.linear = 1`).
    Linear,
    /// First derivatives at every sample, the mixed (parameter × state)
    /// derivatives frozen at the pass's first sample (`E.linear = 4`, the
    /// setting `spm_LAP` forces).
    FirstOrder,
}

/// Settings of [`Dem::run`] (SPM's `M(1).E`).
#[derive(Debug, Clone, PartialEq)]
pub struct DemSettings {
    /// Number of generalized orders of the states, `n` (SPM's `E.n + 1`).
    pub state_orders: usize,
    /// Number of generalized orders of the causes, `d ≤ n` (SPM's `E.d + 1`).
    pub cause_orders: usize,
    /// Most DEM iterations `nE` (SPM default 8).
    pub iterations: usize,
    /// Most M-step iterations per DEM iteration `nM` (SPM default 8).
    pub m_iterations: usize,
    /// The model is linear in the states: derivatives once per pass
    /// (SPM's `E.linear = 1`), and a bolder first E-step.
    pub linear: bool,
    /// D-step iterations per sample `nD` for a static model (no hidden
    /// states; SPM's default 8): the causes of each sample are refined until
    /// the step is small, at sampling times `t + i/nD`. Dynamic models take
    /// one D-step per sample (SPM's default `nD = 1`, the only value
    /// supported for them).
    pub static_iterations: usize,
}

impl Default for DemSettings {
    /// SPM's defaults for a model with `E.n = 6`, `E.d = 2`.
    fn default() -> Self {
        Self {
            state_orders: 7,
            cause_orders: 3,
            iterations: 8,
            m_iterations: 8,
            linear: false,
            static_iterations: 8,
        }
    }
}

/// The result of [`Dem::run`]. Time runs along columns; the states at sample
/// `t` are those held **before** sample `t` is assimilated (SPM's `qU`).
#[derive(Debug, Clone, PartialEq)]
pub struct DemResult {
    /// Conditional expectation of the hidden states (`nx × N`), levels stacked.
    pub states: DMatrix<f64>,
    /// Conditional expectation of the causes (`nv × N`), levels stacked.
    pub causes: DMatrix<f64>,
    /// Predicted response `g` (`ny × N`).
    pub predicted_response: DMatrix<f64>,
    /// Output errors (`ne × N`: data, then each level's causes).
    pub output_errors: DMatrix<f64>,
    /// State noise estimates (`nx × N`).
    pub state_errors: DMatrix<f64>,
    /// Conditional covariance of the states at each sample (`nx × nx`).
    pub state_covariances: Vec<DMatrix<f64>>,
    /// Conditional covariance of the causes at each sample (`nv × nv`).
    pub cause_covariances: Vec<DMatrix<f64>>,
    /// The free energy after each DEM iteration (the best so far; SPM's `F`).
    pub free_energy: Vec<f64>,
    /// The free action after each iteration (SPM's `S`).
    pub free_action: Vec<f64>,
    /// Conditional expectation of the parameters, every level's `θ`
    /// concatenated.
    pub parameters: DVector<f64>,
    /// Conditional covariance of the parameters.
    pub parameter_covariance: DMatrix<f64>,
    /// Conditional expectation of the output log-precisions `h` (every
    /// level's, then the top causes').
    pub output_log_precisions: DVector<f64>,
    /// Conditional expectation of the state log-precisions `g`.
    pub state_log_precisions: DVector<f64>,
    /// Conditional covariance of `[h; g]`.
    pub log_precision_covariance: DMatrix<f64>,
    /// DEM iterations done.
    pub iterations: usize,
}

/// The derivatives of the stacked model at one expansion point.
#[derive(Debug, Clone)]
pub(crate) struct Stacked {
    dgdx: DMatrix<f64>,
    dgdv: DMatrix<f64>,
    dfdx: DMatrix<f64>,
    dfdv: DMatrix<f64>,
    dgdp: DMatrix<f64>,
    dfdp: DMatrix<f64>,
    dgdxp: Vec<DMatrix<f64>>,
    dgdvp: Vec<DMatrix<f64>>,
    dfdxp: Vec<DMatrix<f64>>,
    dfdvp: Vec<DMatrix<f64>>,
    x: DVector<f64>,
    v: DVector<f64>,
}

/// Generalized errors and their derivatives at one sample.
#[derive(Clone)]
pub(crate) struct Errors {
    /// `ε̃` (`n·ne + n·nx`: causal errors by order, then state errors).
    pub(crate) e: DVector<f64>,
    /// `∂ε̃/∂u`, `u = [x̃; ṽ]`.
    pub(crate) du: DMatrix<f64>,
    /// `∂ε̃/∂ỹ`.
    pub(crate) dy: DMatrix<f64>,
    /// `∂ε̃/∂η̃`.
    pub(crate) dc: DMatrix<f64>,
    /// `∂ε̃/∂q` (reduced parameters).
    pub(crate) dp: DMatrix<f64>,
    /// `∂²ε̃/∂u∂q_j`, one per reduced parameter.
    pub(crate) dup: Vec<DMatrix<f64>>,
}

/// DEM for a [`HierarchicalModel`] (module docs).
#[derive(Debug, Clone)]
pub struct Dem {
    pub(crate) model: HierarchicalModel,
    settings: DemSettings,
    /// Offsets of each level's states, causes, outputs and reduced parameters.
    pub(crate) x_at: Vec<usize>,
    pub(crate) v_at: Vec<usize>,
    pub(crate) e_at: Vec<usize>,
    pub(crate) p_at: Vec<usize>,
    /// Per level: basis `U` of the free parameters.
    pub(crate) bases: Vec<DMatrix<f64>>,
    /// Prior precision of the reduced parameters.
    pub(crate) parameter_prior_precision: DMatrix<f64>,
    /// Fixed part of the generalized precision and its components.
    fixed_precision: DMatrix<f64>,
    components: Vec<DMatrix<f64>>,
    sparse_components: Vec<SparseRows>,
    pub(crate) hyper_mean: DVector<f64>,
    hyper_precision: DMatrix<f64>,
    pub(crate) hyper_covariance: DMatrix<f64>,
    /// Prior precision of the generalized states `Pu`.
    state_prior: DMatrix<f64>,
    /// Which errors enter `F` (`je`) and which states `Σ_u` (`ju`).
    error_in_f: Vec<bool>,
    state_in_covariance: Vec<bool>,
}

impl Dem {
    /// Prepares DEM for `model`: validates it, builds the generalized
    /// precision components and the parameters' subspace.
    ///
    /// # Errors
    /// As [`HierarchicalModel::validate`]; [`GcError::Setting`] for orders
    /// out of range (`d > n`, `n = 0`) or a model without hidden states.
    pub fn new(model: HierarchicalModel, settings: DemSettings) -> Result<Self, GcError> {
        model.validate()?;
        let (n, d) = (settings.state_orders, settings.cause_orders);
        if n == 0 || d == 0 || d > n {
            return Err(GcError::Setting {
                name: "state_orders/cause_orders".into(),
                reason: format!("need 1 ≤ d ≤ n, got n = {n}, d = {d}"),
            });
        }
        if settings.iterations == 0 || settings.m_iterations == 0 {
            return Err(GcError::Setting {
                name: "iterations/m_iterations".into(),
                reason: "need at least one iteration of each".into(),
            });
        }
        let levels = &model.levels;
        let (nx, nv, ny, ne) = (model.nx(), model.nv(), model.ny(), model.ne());
        let mut x_at = vec![0];
        let mut v_at = vec![0];
        let mut e_at = vec![0];
        let mut p_at = vec![0];
        let mut bases = Vec::new();
        let mut prior_blocks = Vec::new();
        for level in levels {
            x_at.push(x_at.last().unwrap() + level.states);
            v_at.push(v_at.last().unwrap() + level.causes);
            e_at.push(e_at.last().unwrap() + level.outputs);
            let basis = covariance_basis(&level.parameter_covariance);
            let reduced = basis.transpose() * &level.parameter_covariance * &basis;
            p_at.push(p_at.last().unwrap() + basis.ncols());
            prior_blocks.push(reduced);
            bases.push(basis);
        }
        let np = *p_at.last().unwrap();
        let mut prior_cov = DMatrix::zeros(np, np);
        for (i, block) in prior_blocks.iter().enumerate() {
            prior_cov
                .view_mut((p_at[i], p_at[i]), (block.nrows(), block.ncols()))
                .copy_from(block);
        }
        let parameter_prior_precision = regularised_inverse(&prior_cov);

        // Generalized precisions: causal errors (n·ne), then state noise (n·nx).
        let size = n * ne + n * nx;
        let mut fixed = DMatrix::zeros(size, size);
        let mut components = Vec::new();
        let mut hyper_means = (Vec::new(), Vec::new());
        let mut hyper_covs = (Vec::new(), Vec::new());
        let place_v = |fixed: &mut DMatrix<f64>, r: &DMatrix<f64>, at: usize, m: &DMatrix<f64>| {
            let mut block = DMatrix::zeros(ne, ne);
            block.view_mut((at, at), m.shape()).copy_from(m);
            let k = kron(r, &block);
            let mut view = fixed.view_mut((0, 0), (n * ne, n * ne));
            view += k;
        };
        let place_w = |fixed: &mut DMatrix<f64>, r: &DMatrix<f64>, at: usize, m: &DMatrix<f64>| {
            let mut block = DMatrix::zeros(nx, nx);
            block.view_mut((at, at), m.shape()).copy_from(m);
            let k = kron(r, &block);
            let mut view = fixed.view_mut((n * ne, n * ne), (n * nx, n * nx));
            view += k;
        };
        for (i, level) in levels.iter().enumerate() {
            let rv = temporal_precision(n, level.output_smoothness)?.r;
            let rw = temporal_precision(n, level.state_smoothness)?.r;
            for q in &level.output_components {
                let mut c = DMatrix::zeros(size, size);
                place_v(&mut c, &rv, e_at[i], q);
                components.push(c);
            }
            place_v(&mut fixed, &rv, e_at[i], &level.output_precision);
            for r in &level.state_components {
                let mut c = DMatrix::zeros(size, size);
                place_w(&mut c, &rw, x_at[i], r);
                components.push(c);
            }
            place_w(&mut fixed, &rw, x_at[i], &level.state_precision);
            hyper_means.0.push(level.output_log_precision.mean.clone());
            hyper_covs
                .0
                .push(level.output_log_precision.covariance.clone());
            hyper_means.1.push(level.state_log_precision.mean.clone());
            hyper_covs
                .1
                .push(level.state_log_precision.covariance.clone());
        }
        let top = &model.top;
        let rv = temporal_precision(n, top.smoothness)?.r;
        let top_at = ne - top.causes;
        for q in &top.components {
            let mut c = DMatrix::zeros(size, size);
            place_v(&mut c, &rv, top_at, q);
            components.push(c);
        }
        place_v(&mut fixed, &rv, top_at, &top.precision);
        hyper_means.0.push(top.log_precision.mean.clone());
        hyper_covs.0.push(top.log_precision.covariance.clone());
        // SPM orders the hyperpriors as every level's hE, then every gE.
        let means: Vec<f64> = hyper_means
            .0
            .iter()
            .chain(hyper_means.1.iter())
            .flat_map(|m| m.iter().copied())
            .collect();
        let hyper_mean = DVector::from_vec(means);
        let nh = hyper_mean.len();
        let mut hyper_covariance = DMatrix::zeros(nh, nh);
        let mut at = 0;
        for c in hyper_covs.0.iter().chain(hyper_covs.1.iter()) {
            hyper_covariance.view_mut((at, at), c.shape()).copy_from(c);
            at += c.nrows();
        }
        let hyper_precision = pseudo_inverse(&hyper_covariance);

        // Prior on the generalized states: kron(R(n, exp(−8)), xP), plus nu·eps.
        let nu = n * nx + d * nv;
        let mut state_prior = DMatrix::identity(nu, nu) * (nu as f64 * f64::EPSILON);
        if levels
            .iter()
            .any(|l| l.state_prior_precision.iter().any(|&v| v != 0.0))
        {
            let r0 = temporal_precision(n, (-8f64).exp())?.r;
            let mut xp = DMatrix::zeros(nx, nx);
            for (i, level) in levels.iter().enumerate() {
                xp.view_mut((x_at[i], x_at[i]), level.state_prior_precision.shape())
                    .copy_from(&level.state_prior_precision);
            }
            let mut view = state_prior.view_mut((0, 0), (n * nx, n * nx));
            view += kron(&r0, &xp);
        }

        // je: error components entering F; ju: SPM's index arithmetic.
        let error_in_f: Vec<bool> = (0..size).map(|i| fixed[(i, i)] < 16f64.exp()).collect();
        let mut state_in_covariance: Vec<bool> = (0..nx * n)
            .map(|i| error_in_f[i + ny * n + nv * n])
            .collect();
        state_in_covariance.extend((0..nv * d).map(|i| error_in_f[i + ny * n]));

        Ok(Self {
            x_at,
            v_at,
            e_at,
            p_at,
            bases,
            parameter_prior_precision,
            fixed_precision: fixed,
            sparse_components: components.iter().map(SparseRows::new).collect(),
            components,
            hyper_mean,
            hyper_precision,
            hyper_covariance,
            state_prior,
            error_in_f,
            state_in_covariance,
            model,
            settings,
        })
    }

    /// Number of free (reduced) parameters.
    pub fn free_parameters(&self) -> usize {
        *self.p_at.last().unwrap()
    }

    /// Number of log-precisions.
    pub fn log_precisions(&self) -> usize {
        self.components.len()
    }

    /// Each level's parameters at the reduced deviation `q`.
    pub(crate) fn level_parameters(&self, q: &DVector<f64>) -> Vec<DVector<f64>> {
        self.model
            .levels
            .iter()
            .enumerate()
            .map(|(i, level)| {
                let qi = q.rows(self.p_at[i], self.p_at[i + 1] - self.p_at[i]);
                &level.parameter_mean + &self.bases[i] * qi
            })
            .collect()
    }

    /// The stacked derivatives of every level at `(x, v)` and parameters `params`.
    fn derivatives(
        &self,
        x: &DVector<f64>,
        v: &DVector<f64>,
        params: &[DVector<f64>],
        mixed: bool,
    ) -> Result<Stacked, GcError> {
        let m = &self.model;
        let (nx, nv, ne, np) = (m.nx(), m.nv(), m.ne(), self.free_parameters());
        let nm = if mixed { np } else { 0 };
        let mut s = Stacked {
            dgdx: DMatrix::zeros(ne, nx),
            dgdv: DMatrix::zeros(ne, nv),
            dfdx: DMatrix::zeros(nx, nx),
            dfdv: DMatrix::zeros(nx, nv),
            dgdp: DMatrix::zeros(ne, np),
            dfdp: DMatrix::zeros(nx, np),
            dgdxp: vec![DMatrix::zeros(ne, nx); nm],
            dgdvp: vec![DMatrix::zeros(ne, nv); nm],
            dfdxp: vec![DMatrix::zeros(nx, nx); nm],
            dfdvp: vec![DMatrix::zeros(nx, nv); nm],
            x: x.clone(),
            v: v.clone(),
        };
        for (i, level) in m.levels.iter().enumerate() {
            let xi = x.rows(self.x_at[i], level.states);
            let vi = v.rows(self.v_at[i], level.causes);
            let d: LevelDerivatives = if mixed {
                level.functions.derivatives(
                    xi.as_slice(),
                    vi.as_slice(),
                    params[i].as_slice(),
                    &self.bases[i],
                )?
            } else {
                level.functions.first_derivatives(
                    xi.as_slice(),
                    vi.as_slice(),
                    params[i].as_slice(),
                    &self.bases[i],
                )?
            };
            let (xa, va, ea, pa) = (self.x_at[i], self.v_at[i], self.e_at[i], self.p_at[i]);
            let (l, n_i, m_i) = (level.outputs, level.states, level.causes);
            let k = self.bases[i].ncols();
            check_shape("∂g/∂x", &d.dgdx, l, n_i)?;
            check_shape("∂g/∂v", &d.dgdv, l, m_i)?;
            check_shape("∂f/∂x", &d.dfdx, n_i, n_i)?;
            check_shape("∂f/∂v", &d.dfdv, n_i, m_i)?;
            check_shape("∂g/∂θ", &d.dgdp, l, k)?;
            check_shape("∂f/∂θ", &d.dfdp, n_i, k)?;
            s.dgdx.view_mut((ea, xa), (l, n_i)).copy_from(&d.dgdx);
            s.dgdv.view_mut((ea, va), (l, m_i)).copy_from(&d.dgdv);
            // The level's causes are the outputs of the level above: −I.
            for j in 0..m_i {
                s.dgdv[(self.e_at[i + 1] + j, va + j)] = -1.0;
            }
            s.dfdx.view_mut((xa, xa), (n_i, n_i)).copy_from(&d.dfdx);
            s.dfdv.view_mut((xa, va), (n_i, m_i)).copy_from(&d.dfdv);
            s.dgdp.view_mut((ea, pa), (l, k)).copy_from(&d.dgdp);
            s.dfdp.view_mut((xa, pa), (n_i, k)).copy_from(&d.dfdp);
            for j in 0..if mixed { k } else { 0 } {
                for (name, mat, rows, cols) in [
                    ("∂²g/∂x∂θ", &d.dgdxp, l, n_i),
                    ("∂²g/∂v∂θ", &d.dgdvp, l, m_i),
                    ("∂²f/∂x∂θ", &d.dfdxp, n_i, n_i),
                    ("∂²f/∂v∂θ", &d.dfdvp, n_i, m_i),
                ] {
                    let got = mat.get(j).ok_or_else(|| GcError::Dimension {
                        what: format!("level {} {name}", i + 1),
                        expected: format!("{k} matrices"),
                        got: format!("{}", mat.len()),
                    })?;
                    check_shape(name, got, rows, cols)?;
                }
                s.dgdxp[pa + j]
                    .view_mut((ea, xa), (l, n_i))
                    .copy_from(&d.dgdxp[j]);
                s.dgdvp[pa + j]
                    .view_mut((ea, va), (l, m_i))
                    .copy_from(&d.dgdvp[j]);
                s.dfdxp[pa + j]
                    .view_mut((xa, xa), (n_i, n_i))
                    .copy_from(&d.dfdxp[j]);
                s.dfdvp[pa + j]
                    .view_mut((xa, va), (n_i, m_i))
                    .copy_from(&d.dfdvp[j]);
            }
        }
        Ok(s)
    }

    /// `spm_DEM_eval`: the generalized errors and their derivatives at the
    /// expectation `(x̃, ṽ)` with data `ỹ` and prior causes `η̃`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate(
        &self,
        qx: &[DVector<f64>],
        qv: &[DVector<f64>],
        qy: &[DVector<f64>],
        qc: &[DVector<f64>],
        params: &[DVector<f64>],
        mode: Linearity,
        frozen: &mut Option<Stacked>,
        jacobians: bool,
    ) -> Result<Errors, GcError> {
        let m = &self.model;
        let (n, d) = (self.settings.state_orders, self.settings.cause_orders);
        let (nx, nv, ny, nc, ne) = (m.nx(), m.nv(), m.ny(), m.nc(), m.ne());
        let np = self.free_parameters();
        // Values of f and g.
        let mut f = DVector::zeros(nx);
        let mut g = DVector::zeros(ne - nc);
        for (i, level) in m.levels.iter().enumerate() {
            let xi = qx[0].rows(self.x_at[i], level.states);
            let vi = qv[0].rows(self.v_at[i], level.causes);
            let fi = level
                .functions
                .flow(xi.as_slice(), vi.as_slice(), params[i].as_slice())?;
            let gi = level
                .functions
                .output(xi.as_slice(), vi.as_slice(), params[i].as_slice())?;
            f.rows_mut(self.x_at[i], level.states).copy_from(&fi);
            g.rows_mut(self.e_at[i], level.outputs).copy_from(&gi);
        }
        // Derivatives: fresh; frozen at the pass's first point (linear); or
        // first derivatives fresh with the mixed ones frozen (first order).
        let current;
        let (s, mixed): (&Stacked, &Stacked) = match mode {
            Linearity::Full => {
                current = self.derivatives(&qx[0], &qv[0], params, true)?;
                (&current, &current)
            }
            Linearity::Linear => {
                if frozen.is_none() {
                    *frozen = Some(self.derivatives(&qx[0], &qv[0], params, true)?);
                }
                let fz = frozen.as_ref().expect("set above");
                (fz, fz)
            }
            Linearity::FirstOrder => {
                if frozen.is_none() {
                    *frozen = Some(self.derivatives(&qx[0], &qv[0], params, true)?);
                    let fz = frozen.as_ref().expect("set above");
                    (fz, fz)
                } else {
                    current = self.derivatives(&qx[0], &qv[0], params, false)?;
                    (&current, frozen.as_ref().expect("checked above"))
                }
            }
        };
        let (mut dgdp, mut dfdp) = (s.dgdp.clone(), s.dfdp.clone());
        if mode == Linearity::Linear {
            let dx = &qx[0] - &s.x;
            let dv = &qv[0] - &s.v;
            for p in 0..np {
                let cg = &s.dgdxp[p] * &dx + &s.dgdvp[p] * &dv;
                let cf = &s.dfdxp[p] * &dx + &s.dfdvp[p] * &dv;
                let mut col = dgdp.column_mut(p);
                col += cg;
                let mut col = dfdp.column_mut(p);
                col += cf;
            }
        }

        let size = n * ne + n * nx;
        let nu = n * nx + d * nv;
        let mut e = DVector::zeros(size);
        // Causal errors, order 0: [y; v] − [g; η].
        e.rows_mut(0, ny).copy_from(&qy[0]);
        e.rows_mut(ny, nv).copy_from(&qv[0]);
        {
            let mut top = e.rows_mut(0, ne - nc);
            top -= &g;
        }
        {
            let mut top = e.rows_mut(ne - nc, nc);
            top -= &qc[0];
        }
        for k in 1..n {
            let mut ek = DVector::zeros(ne);
            ek.rows_mut(0, ny).copy_from(&qy[k]);
            if k < d {
                let mut top = ek.rows_mut(ne - nc, nc);
                top -= &qc[k];
            }
            ek -= &s.dgdx * &qx[k];
            if k < d {
                ek -= &s.dgdv * &qv[k];
            }
            e.rows_mut(k * ne, ne).copy_from(&ek);
        }
        // State errors: x′ − f, then Dx̃ − f̃; the top order stays zero.
        if n > 1 {
            e.rows_mut(n * ne, nx).copy_from(&(&qx[1] - &f));
        }
        for k in 1..n.saturating_sub(1) {
            let mut ek = &qx[k + 1] - &s.dfdx * &qx[k];
            if k < d {
                ek -= &s.dfdv * &qv[k];
            }
            e.rows_mut(n * ne + k * nx, nx).copy_from(&ek);
        }

        // dE/dθ: order 0 from ∂g/∂θ, ∂f/∂θ; higher orders from the mixed
        // derivatives times the states' motion.
        let mut dp = DMatrix::zeros(size, np);
        dp.view_mut((0, 0), (ne, np)).copy_from(&(-&dgdp));
        dp.view_mut((n * ne, 0), (nx, np)).copy_from(&(-&dfdp));
        // The products go into vectors reused across orders and parameters
        // (`gemv` with β = 0 is what `A * x` computes).
        let (mut cg, mut cf) = (DVector::zeros(ne), DVector::zeros(nx));
        let (mut tg, mut tf) = (DVector::zeros(ne), DVector::zeros(nx));
        for k in 1..n {
            for p in 0..np {
                cg.gemv(1.0, &mixed.dgdxp[p], &qx[k], 0.0);
                cf.gemv(1.0, &mixed.dfdxp[p], &qx[k], 0.0);
                if k < d {
                    tg.gemv(1.0, &mixed.dgdvp[p], &qv[k], 0.0);
                    tf.gemv(1.0, &mixed.dfdvp[p], &qv[k], 0.0);
                    cg += &tg;
                    cf += &tf;
                }
                for (o, &v) in dp.view_mut((k * ne, p), (ne, 1)).iter_mut().zip(cg.iter()) {
                    *o = -v;
                }
                for (o, &v) in dp
                    .view_mut((n * ne + k * nx, p), (nx, 1))
                    .iter_mut()
                    .zip(cf.iter())
                {
                    *o = -v;
                }
            }
        }
        if !jacobians {
            // The caller holds the Jacobians that do not move (frozen).
            return Ok(Errors {
                e,
                du: DMatrix::zeros(0, 0),
                dy: DMatrix::zeros(0, 0),
                dc: DMatrix::zeros(0, 0),
                dp,
                dup: Vec::new(),
            });
        }
        // dE/du = −[[I⊗g_x, I⊗g_v], [I⊗f_x − D, I⊗f_v]].
        let mut du = DMatrix::zeros(size, nu);
        for k in 0..n {
            du.view_mut((k * ne, k * nx), (ne, nx))
                .copy_from(&(-&s.dgdx));
            du.view_mut((n * ne + k * nx, k * nx), (nx, nx))
                .copy_from(&(-&s.dfdx));
            if k + 1 < n {
                for j in 0..nx {
                    du[(n * ne + k * nx + j, (k + 1) * nx + j)] = 1.0;
                }
            }
            if k < d {
                du.view_mut((k * ne, n * nx + k * nv), (ne, nv))
                    .copy_from(&(-&s.dgdv));
                du.view_mut((n * ne + k * nx, n * nx + k * nv), (nx, nv))
                    .copy_from(&(-&s.dfdv));
            }
        }
        let mut dy = DMatrix::zeros(size, n * ny);
        for k in 0..n {
            for j in 0..ny {
                dy[(k * ne + j, k * ny + j)] = 1.0;
            }
        }
        let mut dc = DMatrix::zeros(size, d * nc);
        for k in 0..d {
            for j in 0..nc {
                dc[(k * ne + ne - nc + j, k * nc + j)] = -1.0;
            }
        }
        let mut dup = Vec::with_capacity(np);
        for p in 0..np {
            let mut m = DMatrix::zeros(size, nu);
            for k in 0..n {
                m.view_mut((k * ne, k * nx), (ne, nx))
                    .copy_from(&(-&mixed.dgdxp[p]));
                m.view_mut((n * ne + k * nx, k * nx), (nx, nx))
                    .copy_from(&(-&mixed.dfdxp[p]));
                if k < d {
                    m.view_mut((k * ne, n * nx + k * nv), (ne, nv))
                        .copy_from(&(-&mixed.dgdvp[p]));
                    m.view_mut((n * ne + k * nx, n * nx + k * nv), (nx, nv))
                        .copy_from(&(-&mixed.dfdvp[p]));
                }
            }
            dup.push(m);
        }
        Ok(Errors {
            e,
            du,
            dy,
            dc,
            dp,
            dup,
        })
    }

    /// Runs DEM on data `y` (`ny × N`) with prior expectations of the top
    /// causes `eta` (`nc × N`).
    ///
    /// # Errors
    /// [`GcError::Dimension`] for records of the wrong shape;
    /// [`GcError::Value`] for non-finite data; [`GcError::Diverged`] when
    /// the states become non-finite; errors of the model's functions.
    pub fn run(&self, y: &DMatrix<f64>, eta: &DMatrix<f64>) -> Result<DemResult, GcError> {
        let m = &self.model;
        let (n, d) = (self.settings.state_orders, self.settings.cause_orders);
        let (nx, nv, ny, nc, ne) = (m.nx(), m.nv(), m.ny(), m.nc(), m.ne());
        let samples = y.ncols();
        if y.nrows() != ny || samples == 0 {
            return Err(GcError::Dimension {
                what: "data y".into(),
                expected: format!("{ny} rows and at least one sample"),
                got: format!("{} × {}", y.nrows(), y.ncols()),
            });
        }
        if eta.nrows() != nc || eta.ncols() != samples {
            return Err(GcError::Dimension {
                what: "prior causes η".into(),
                expected: format!("{nc} × {samples}"),
                got: format!("{} × {}", eta.nrows(), eta.ncols()),
            });
        }
        let np = self.free_parameters();
        let nh = self.log_precisions();
        let nu = n * nx + d * nv;
        let size = n * ne + n * nx;
        let mut e_steps = self.settings.iterations;
        let mut m_steps = self.settings.m_iterations;
        if nh == 0 {
            m_steps = 1;
        }
        if np == 0 && nh == 0 {
            e_steps = 1;
        }
        let y_embedder = Embedder::new(n, 1.0, Embedding::Centred)?;
        let c_embedder = Embedder::new(d, 1.0, Embedding::Centred)?;

        let mut x0 = DVector::zeros(nx);
        let mut v0 = DVector::zeros(nv);
        for (i, level) in m.levels.iter().enumerate() {
            x0.rows_mut(self.x_at[i], level.states).copy_from(&level.x0);
            v0.rows_mut(self.v_at[i], level.causes).copy_from(&level.v0);
        }

        let mut te: f64 = if self.settings.linear { 4.0 } else { 0.0 };
        let mut tm: f64 = 4.0;
        let mut qp_e = DVector::zeros(np);
        let mut qp_c = DMatrix::zeros(np, np);
        let mut h = self.hyper_mean.clone();
        let mut h_c = self.hyper_covariance.clone();
        let mut h_e = DVector::zeros(nh);
        let mut best = (
            qp_e.clone(),
            qp_c.clone(),
            h.clone(),
            h_c.clone(),
            h_e.clone(),
        );
        let mut best_f = f64::NEG_INFINITY;
        let (mut free_energy, mut free_action) = (Vec::new(), Vec::new());
        let mut result_states = None;
        let mut iterations = 0;
        let mut dp_last = DVector::zeros(np);
        // A static model's D-step log-time and last pass's causes (SPM's
        // `td` and `qU`), carried across samples and passes.
        let mut static_step = 2.0;
        let mut static_causes: Vec<Vec<DVector<f64>>> = Vec::new();

        for ie in 0..e_steps {
            iterations = ie + 1;
            let mut df_dp = DVector::zeros(np);
            let mut df_dpp = DMatrix::zeros(np, np);
            let mut qp_ic = DMatrix::zeros(np, np);
            let mut log_det_qu = 0.0;
            let mut ee = DMatrix::zeros(size, size);
            let mut ece = DMatrix::zeros(size, size);
            let mut i_s = self.precision(&h);
            let is_sparse = SparseRows::new(&i_s);
            let mut constants: Option<PassConstants> = None;
            let params = self.level_parameters(&qp_e);
            let mut frozen = None;

            let mut qx = vec![DVector::zeros(nx); n];
            let mut qv = vec![DVector::zeros(nv); d];
            qx[0].copy_from(&x0);
            qv[0].copy_from(&v0);
            let mut qy = vec![DVector::zeros(ny); n];
            let mut qc = vec![DVector::zeros(nc); n];
            let mut y_buf = vec![0.0; n * ny];
            let mut c_buf = vec![0.0; d * nc];
            let mut pass = PassRecord::new(nx, nv, ny, ne, samples);

            if nx == 0 {
                let mut sums = PassSums {
                    df_dp: &mut df_dp,
                    df_dpp: &mut df_dpp,
                    qp_ic: &mut qp_ic,
                    log_det_qu: &mut log_det_qu,
                    ee: &mut ee,
                    ece: &mut ece,
                };
                self.static_pass(
                    (y, eta),
                    &params,
                    (&is_sparse, &qp_c),
                    &mut static_step,
                    &mut static_causes,
                    &mut sums,
                    &mut pass,
                )?;
            }
            for t in (0..samples).filter(|_| nx > 0) {
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
                let mode = if self.settings.linear {
                    Linearity::Linear
                } else {
                    Linearity::Full
                };
                // With frozen derivatives, the Jacobians are those of the
                // pass's first sample, kept in `constants`.
                let jacobians = !(self.settings.linear && constants.is_some());
                let err =
                    self.evaluate(&qx, &qv, &qy, &qc, &params, mode, &mut frozen, jacobians)?;
                // What depends on the Jacobians only: fixed over the pass for
                // a model flagged linear, whose derivatives are frozen.
                let fresh;
                let c: &PassConstants = if self.settings.linear {
                    if constants.is_none() {
                        constants = Some(self.pass_constants(&err, &is_sparse, &qp_c, true)?);
                    }
                    constants.as_ref().expect("set above")
                } else {
                    fresh = self.pass_constants(&err, &is_sparse, &qp_c, false)?;
                    &fresh
                };
                log_det_qu += c.log_det_qu;
                let ece_p = &err.dp * &qp_c * err.dp.transpose();
                pass.record(t, &qx[0], &qv[0], &qy[0], &err, &c.qu_c, n, nx);

                // dW_θ/du_i = Σ_pq Σ_θ[p,q] (ε̃_uqᵀ Π̃ ε̃_θ[:, p])_i.
                let mut dw_du = DVector::zeros(nu);
                let is_dp = is_sparse.mul(&err.dp);
                for p in 0..np {
                    for q in 0..np {
                        let cpq = qp_c[(p, q)];
                        if cpq != 0.0 {
                            dw_du += c.dup[q].tr_mul(&is_dp.column(p)) * cpq;
                        }
                    }
                }

                // D-step: the flow of [u; ỹ; η̃].
                let mut u = DVector::zeros(nu);
                for k in 0..n {
                    u.rows_mut(k * nx, nx).copy_from(&qx[k]);
                }
                for k in 0..d {
                    u.rows_mut(n * nx + k * nv, nv).copy_from(&qv[k]);
                }
                let dv_du = -c.is_du.tr_mul(&err.e) - &dw_du / 2.0 - &self.state_prior * &u;
                let forcing = self.dstep_forcing(dv_du, &c.juy, &c.juc, &u, &qy, &qc);
                let step = match &c.phis {
                    Some(phis) => {
                        let mut step = DVector::zeros(nu);
                        for (phi, g) in phis.iter().zip(&forcing) {
                            step.gemv(1.0, phi, g, 1.0);
                        }
                        step
                    }
                    None => forced_linearisation_step(&c.jacobian, &forcing)?,
                };
                if let Some(i) = step.iter().position(|s| !s.is_finite()) {
                    return Err(GcError::Diverged {
                        step: t,
                        reason: format!("state update {i} is not finite"),
                    });
                }
                for k in 0..n {
                    qx[k] += step.rows(k * nx, nx);
                }
                for k in 0..d {
                    qv[k] += step.rows(n * nx + k * nv, nv);
                }

                // E-step accumulators (with the errors before the update).
                if np > 0 {
                    df_dp -= &c.dw_dp / 2.0 + is_dp.tr_mul(&err.e);
                    let info = err.dp.tr_mul(&is_dp);
                    df_dpp -= &c.dw_dpp / 2.0 + &info;
                    qp_ic += info;
                }
                ee += &err.e * err.e.transpose();
                ece += &c.ece_u + ece_p;
            }
            result_states = Some(pass);

            // M-step.
            let mut mh = DVector::zeros(nh);
            for _ in 0..m_steps {
                i_s = self.precision(&h);
                let s = regularised_inverse(&i_s);
                let ds = &ece + &ee - &s * samples as f64;
                // P_j = exp(λ_j) Q̃_j, sparse.
                let mut df_dh = DVector::from_fn(nh, |i, _| {
                    -h[i].exp() * self.sparse_components[i].trace_mul(&ds) / 2.0
                });
                let ps: Vec<DMatrix<f64>> = (0..nh)
                    .map(|i| self.sparse_components[i].mul(&s) * h[i].exp())
                    .collect();
                let mut df_dhh = DMatrix::from_fn(nh, nh, |i, j| {
                    -trace_product(&ps[i], &ps[j]) * samples as f64 / 2.0
                });
                h_e = &h - &self.hyper_mean;
                df_dh -= &self.hyper_precision * &h_e;
                df_dhh -= &self.hyper_precision;
                if nh == 0 {
                    h_c = DMatrix::zeros(0, 0);
                    break;
                }
                let mut dh = regularised_step(&df_dhh, &df_dh, tm)?;
                dh.apply(|v| *v = v.clamp(-2.0, 2.0));
                h += &dh;
                mh += &dh;
                h_c = -regularised_inverse(&df_dhh);
                if df_dh.dot(&dh) < TOL || dh.lp_norm(1) < TOL {
                    break;
                }
            }

            // Conditional precision of the parameters, and F.
            qp_ic += &self.parameter_prior_precision;
            qp_c = regularised_inverse(&qp_ic);
            let je = &self.error_in_f;
            let mut tr = 0.0;
            let kept: Vec<usize> = (0..size).filter(|&i| je[i]).collect();
            for &i in &kept {
                for &j in &kept {
                    tr += i_s[(i, j)] * ee[(j, i)];
                }
            }
            let is_kept = DMatrix::from_fn(kept.len(), kept.len(), |i, j| i_s[(kept[i], kept[j])]);
            let nyf = samples as f64;
            // ln|Σ_u| is summed over every D-step iteration (SPM's iqu.c/2nD).
            let d_steps = if nx == 0 {
                self.settings.static_iterations.max(1) as f64
            } else {
                1.0
            };
            let lu = -tr / 2.0 - (n * ny) as f64 * (2.0 * std::f64::consts::PI).ln() * nyf / 2.0
                + spm_log_determinant(&is_kept) * nyf / 2.0
                + log_det_qu / (2.0 * d_steps);
            let quad_p = qp_e.dot(&(&self.parameter_prior_precision * &qp_e));
            let quad_h = h_e.dot(&(&self.hyper_precision * &h_e));
            let cp_pp = &qp_c * &self.parameter_prior_precision;
            let ch_ph = &h_c * &self.hyper_precision;
            let lp = -quad_p / 2.0 - quad_h / 2.0
                + spm_log_determinant(&cp_pp) / 2.0
                + spm_log_determinant(&ch_ph) / 2.0;
            let la = -quad_p * nyf / 2.0 - quad_h * nyf / 2.0
                + spm_log_determinant(&(&cp_pp * nyf)) * nyf / 2.0
                + spm_log_determinant(&(&ch_ph * nyf)) * nyf / 2.0;
            let li = lu + lp;
            let ai = lu + la;

            if li > best_f || ie < 1 {
                best_f = li;
                te = (te + 0.5).min(4.0);
                tm = (tm + 0.5).min(4.0);
                best = (
                    qp_e.clone(),
                    qp_c.clone(),
                    h.clone(),
                    h_c.clone(),
                    h_e.clone(),
                );
                // E-step.
                df_dp -= &self.parameter_prior_precision * &qp_e;
                df_dpp -= &self.parameter_prior_precision;
                dp_last = if np > 0 {
                    regularised_step(&df_dpp, &df_dp, te)?
                } else {
                    DVector::zeros(0)
                };
                qp_e += &dp_last;
            } else {
                m_steps = 1;
                (qp_e, qp_c, h, h_c, h_e) = best.clone();
                te = (te - 2.0).min(-2.0);
                tm = (tm - 2.0).min(-2.0);
            }
            free_energy.push(best_f);
            free_action.push(ai);

            if dp_last.lp_norm(1) < TOL * qp_e.lp_norm(1) && mh.lp_norm(1) < TOL {
                break;
            }
            if te < -8.0 {
                break;
            }
        }

        let pass = result_states.expect("at least one iteration");
        // Parameters in the original space.
        let mut parameters = Vec::new();
        let total: usize = m.levels.iter().map(|l| l.parameter_mean.len()).sum();
        let mut up = DMatrix::zeros(total, np);
        let mut at = 0;
        for (i, p) in self.level_parameters(&qp_e).iter().enumerate() {
            parameters.extend(p.iter().copied());
            let b = &self.bases[i];
            up.view_mut((at, self.p_at[i]), b.shape()).copy_from(b);
            at += b.nrows();
        }
        let parameter_covariance = &up * &qp_c * up.transpose();
        let n_out: usize = m
            .levels
            .iter()
            .map(|l| l.output_components.len())
            .sum::<usize>()
            + m.top.components.len();
        Ok(DemResult {
            states: pass.states,
            causes: pass.causes,
            predicted_response: pass.predicted,
            output_errors: pass.z,
            state_errors: pass.w,
            state_covariances: pass.state_cov,
            cause_covariances: pass.cause_cov,
            free_energy,
            free_action,
            parameters: DVector::from_vec(parameters),
            parameter_covariance,
            output_log_precisions: h.rows(0, n_out).into_owned(),
            state_log_precisions: h.rows(n_out, nh - n_out).into_owned(),
            log_precision_covariance: h_c,
            iterations,
        })
    }

    /// The D-step's update of `u = [x̃; ṽ]` over one sampling interval:
    /// local linearisation of the flow of `[u; ỹ; η̃]`, `u̇ = Du + ∂V/∂u`,
    /// `ỹ̇ = Dỹ`, `η̃̇ = Dη̃`, given the gradient `∂V/∂u` and the curvatures
    /// `∂²V/∂u²`, `∂²V/∂u∂ỹ`, `∂²V/∂u∂η̃`. The data and prior causes move
    /// with their own Taylor expansion, so only `u`'s step is computed
    /// ([`forced_linearisation_step`], the same step as on the whole flow).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dstep_update(
        &self,
        juu: DMatrix<f64>,
        grad: DVector<f64>,
        juy: &DMatrix<f64>,
        juc: &DMatrix<f64>,
        u: &DVector<f64>,
        qy: &[DVector<f64>],
        qc: &[DVector<f64>],
    ) -> Result<DVector<f64>, GcError> {
        let forcing = self.dstep_forcing(grad, juy, juc, u, qy, qc);
        forced_linearisation_step(&self.shifted_jacobian(juu), &forcing)
    }

    /// `∂²V/∂u² + D`: the Jacobian of `u`'s flow.
    fn shifted_jacobian(&self, mut juu: DMatrix<f64>) -> DMatrix<f64> {
        let m = &self.model;
        let (n, d) = (self.settings.state_orders, self.settings.cause_orders);
        let (nx, nv) = (m.nx(), m.nv());
        for (offset, orders, dims) in [(0, n, nx), (n * nx, d, nv)] {
            for k in 0..orders.saturating_sub(1) {
                for j in 0..dims {
                    let r = offset + k * dims + j;
                    juu[(r, r + dims)] += 1.0;
                }
            }
        }
        juu
    }

    /// The forcing of `u`'s flow: `g_0 = Du + ∂V/∂u`, and the inputs'
    /// motion `g_k = J_y D^k ỹ + J_c D^k η̃` (`k = 1 … n − 1`).
    fn dstep_forcing(
        &self,
        mut grad: DVector<f64>,
        juy: &DMatrix<f64>,
        juc: &DMatrix<f64>,
        u: &DVector<f64>,
        qy: &[DVector<f64>],
        qc: &[DVector<f64>],
    ) -> Vec<DVector<f64>> {
        let m = &self.model;
        let (n, d) = (self.settings.state_orders, self.settings.cause_orders);
        let (nx, nv, ny, nc) = (m.nx(), m.nv(), m.ny(), m.nc());
        for (offset, orders, dims) in [(0, n, nx), (n * nx, d, nv)] {
            for k in 0..orders.saturating_sub(1) {
                for j in 0..dims {
                    let r = offset + k * dims + j;
                    grad[r] += u[r + dims];
                }
            }
        }
        let mut forcing = Vec::with_capacity(n);
        forcing.push(grad);
        let mut shifted_y = DVector::zeros(n * ny);
        let mut shifted_c = DVector::zeros(d * nc);
        for k in 1..n {
            shifted_y.fill(0.0);
            for o in 0..n - k {
                shifted_y.rows_mut(o * ny, ny).copy_from(&qy[o + k]);
            }
            let mut g = juy * &shifted_y;
            if k < d {
                shifted_c.fill(0.0);
                for o in 0..d - k {
                    shifted_c.rows_mut(o * nc, nc).copy_from(&qc[o + k]);
                }
                g += juc * &shifted_c;
            }
            forcing.push(g);
        }
        forcing
    }

    /// What a D-step sample needs that depends on the Jacobians (and the
    /// pass's precisions and parameter covariance) only: the states'
    /// conditional precision and covariance, the parameters' uncertainty
    /// curvature `d²W_θ/du²`, the states' uncertainty terms `dW_u/dθ`,
    /// `d²W_u/dθ²`, and the flow's Jacobian — with its φ-functions when
    /// `phis` (a pass with frozen derivatives).
    ///
    /// `W_θ = tr(Σ_θ ε̃_θuᵀ Π̃ ε̃_θu)` and `W_u = tr(Σ_u ε̃_uθᵀ Π̃ ε̃_uθ)`
    /// share `G_pq = ε̃_upᵀ Π̃ ε̃_uq`: `d²W_θ/du² = Σ_pq Σ_θ[p,q] G_qp`,
    /// `dW_u/dθ_p = tr(Σ_u ε̃_upᵀ Π̃ ε̃_u)`, `d²W_u/dθ_pθ_q = tr(Σ_u G_pq)`.
    fn pass_constants(
        &self,
        err: &Errors,
        is_sparse: &SparseRows,
        qp_c: &DMatrix<f64>,
        phis: bool,
    ) -> Result<PassConstants, GcError> {
        let np = self.free_parameters();
        let nu = err.du.ncols();
        let is_du = is_sparse.mul(&err.du);
        let qu_p = at_b(&err.du, &is_du) + &self.state_prior;
        let mut qu_c = regularised_inverse(&qu_p);
        for (i, &keep) in self.state_in_covariance.iter().enumerate() {
            if !keep {
                qu_c.row_mut(i).fill(0.0);
                qu_c.column_mut(i).fill(0.0);
            }
        }
        let log_det_qu = spm_log_determinant(&qu_c);
        let ece_u = &err.du * &qu_c * err.du.transpose();
        let mut dw_duu = DMatrix::zeros(nu, nu);
        let mut dw_dp = DVector::zeros(np);
        let mut dw_dpp = DMatrix::zeros(np, np);
        if np > 0 {
            let is_dup: Vec<DMatrix<f64>> = err.dup.iter().map(|m| is_sparse.mul(m)).collect();
            let mut gpq: Vec<DMatrix<f64>> = Vec::with_capacity(np * np);
            for p in 0..np {
                for q in 0..np {
                    gpq.push(at_b(&err.dup[p], &is_dup[q]));
                }
            }
            for p in 0..np {
                dw_dp[p] = trace_product(&qu_c, &at_b(&err.dup[p], &is_du));
                for q in 0..np {
                    dw_dpp[(p, q)] = trace_product(&qu_c, &gpq[p * np + q]);
                    let c = qp_c[(p, q)];
                    if c != 0.0 {
                        dw_duu += &gpq[q * np + p] * c;
                    }
                }
            }
        }
        let jacobian = self.shifted_jacobian(-&qu_p - &dw_duu / 2.0);
        let phis = if phis {
            Some(phi_functions(&jacobian, self.settings.state_orders)?)
        } else {
            None
        };
        Ok(PassConstants {
            dup: err.dup.clone(),
            juy: -SparseRows::new(&err.dy).left_tr_mul(&is_du),
            juc: -SparseRows::new(&err.dc).left_tr_mul(&is_du),
            is_du,
            qu_c,
            log_det_qu,
            ece_u,
            dw_dp,
            dw_dpp,
            jacobian,
            phis,
        })
    }

    /// One D-step pass of a static model (no hidden states), as `spm_DEM`
    /// runs it: each sample's causes start from where the previous pass left
    /// them (or, in the first pass, from the previous sample's), and take up
    /// to `nD` regularised steps `Δu = (exp(tJ) − I)J⁻¹ f` with the log-time
    /// `τ` (`t = exp(τ − ln|J|/k)`, SPM's `td`) that grows by 1 (up to 4)
    /// while the sample's objective `L = −½ ε̃ᵀΠ̃ε̃ − ½ tr(Π̃ ε̃_θ Σ_θ ε̃_θᵀ)`
    /// rises and returns to the last better point, with `τ = min(τ − 2, −4)`,
    /// when it falls; a sample stops when the step is small (`∂F/∂u·Δu <
    /// e⁻⁴` or `‖Δu‖₁ < e⁻⁴`). The errors, their derivatives and `Σ_u` of the
    /// last (or restored) point feed the E- and M-step sums; `ln|Σ_u|` is
    /// summed at every iteration (and divided by `2nD` in `F`, as SPM does).
    #[allow(clippy::too_many_arguments)]
    fn static_pass(
        &self,
        (y, eta): (&DMatrix<f64>, &DMatrix<f64>),
        params: &[DVector<f64>],
        (is_sparse, qp_c): (&SparseRows, &DMatrix<f64>),
        td: &mut f64,
        previous: &mut Vec<Vec<DVector<f64>>>,
        sums: &mut PassSums,
        pass: &mut PassRecord,
    ) -> Result<(), GcError> {
        let m = &self.model;
        let (n, d) = (self.settings.state_orders, self.settings.cause_orders);
        let (nv, ny, nc) = (m.nv(), m.ny(), m.nc());
        let np = self.free_parameters();
        let nu = d * nv;
        let total = nu + n * ny + d * nc;
        let nd = self.settings.static_iterations.max(1);
        let samples = y.ncols();
        let mode = if self.settings.linear {
            Linearity::Linear
        } else {
            Linearity::Full
        };
        let mut frozen = None;
        let qx: Vec<DVector<f64>> = vec![DVector::zeros(0); n];
        let mut qv = vec![DVector::zeros(nv); d];
        for (i, level) in m.levels.iter().enumerate() {
            qv[0]
                .rows_mut(self.v_at[i], level.causes)
                .copy_from(&level.v0);
        }
        let mut finals = Vec::with_capacity(samples);
        for t in 0..samples {
            if let Some(p) = previous.get(t) {
                qv.clone_from(p);
            }
            let mut best_l = -(64f64.exp());
            let mut kept: Option<StaticPoint> = None;
            let mut last = None;
            for i_d in 0..nd {
                let ts = (t + 1) as f64 + i_d as f64 / nd as f64;
                let qy = spm_embed(y, n, ts);
                let mut qc = spm_embed(eta, d, ts);
                qc.resize(n, DVector::zeros(nc));
                let mut err = self.evaluate(&qx, &qv, &qy, &qc, params, mode, &mut frozen, true)?;
                let mut c = self.pass_constants(&err, is_sparse, qp_c, false)?;
                *sums.log_det_qu += c.log_det_qu;
                let ece_u = c.ece_u.clone();
                let mut ece_p = &err.dp * qp_c * err.dp.transpose();
                let l = -err.e.dot(&is_sparse.mul_vector(&err.e)) / 2.0
                    - is_sparse.trace_mul(&ece_p) / 2.0;
                if l > best_l {
                    *td = (*td + 1.0).min(4.0);
                    best_l = l;
                    kept = Some((qv.clone(), err.clone(), c.clone(), ece_p.clone()));
                } else if let Some((v, e, k, p)) = kept.clone() {
                    qv = v;
                    err = e;
                    c = k;
                    ece_p = p;
                    *td = (*td - 2.0).min(-4.0);
                }
                if i_d == 0 {
                    pass.record(t, &DVector::zeros(0), &qv[0], &qy[0], &err, &c.qu_c, n, 0);
                }
                // The parameters' uncertainty: dW_θ/du.
                let mut dw_du = DVector::zeros(nu);
                let is_dp = is_sparse.mul(&err.dp);
                for p in 0..np {
                    for q in 0..np {
                        let cpq = qp_c[(p, q)];
                        if cpq != 0.0 {
                            dw_du += c.dup[q].tr_mul(&is_dp.column(p)) * cpq;
                        }
                    }
                }
                let mut u = DVector::zeros(nu);
                for k in 0..d {
                    u.rows_mut(k * nv, nv).copy_from(&qv[k]);
                }
                let dv_du = -c.is_du.tr_mul(&err.e) - &dw_du / 2.0 - &self.state_prior * &u;
                // The whole flow of [u; ỹ; η̃] and its Jacobian (SPM's spm_dx
                // with a log-time).
                let mut flow = DVector::zeros(total);
                let mut jac = DMatrix::zeros(total, total);
                flow.rows_mut(0, nu).copy_from(&dv_du);
                jac.view_mut((0, 0), (nu, nu)).copy_from(&c.jacobian);
                jac.view_mut((0, nu), (nu, n * ny)).copy_from(&c.juy);
                jac.view_mut((0, nu + n * ny), (nu, d * nc))
                    .copy_from(&c.juc.columns(0, d * nc));
                let mut state = DVector::zeros(total);
                state.rows_mut(0, nu).copy_from(&u);
                for k in 0..n {
                    state.rows_mut(nu + k * ny, ny).copy_from(&qy[k]);
                }
                for k in 0..d {
                    state.rows_mut(nu + n * ny + k * nc, nc).copy_from(&qc[k]);
                }
                for k in 0..d.saturating_sub(1) {
                    for j in 0..nv {
                        flow[k * nv + j] += state[(k + 1) * nv + j];
                    }
                }
                for (offset, orders, dims) in [(nu, n, ny), (nu + n * ny, d, nc)] {
                    for k in 0..orders.saturating_sub(1) {
                        for j in 0..dims {
                            let r = offset + k * dims + j;
                            flow[r] += state[r + dims];
                            jac[(r, r + dims)] += 1.0;
                        }
                    }
                }
                let step = regularised_step(&jac, &flow, *td)?;
                if let Some(i) = step.iter().position(|s| !s.is_finite()) {
                    return Err(GcError::Diverged {
                        step: t,
                        reason: format!("update {i} of the causes is not finite"),
                    });
                }
                for k in 0..d {
                    qv[k] += step.rows(k * nv, nv);
                }
                pass.causes.set_column(t, &qv[0]);
                pass.cause_cov[t] = c.qu_c.view((0, 0), (nv, nv)).into_owned();
                let gradient = dv_du.dot(&step.rows(0, nu));
                last = Some((err, c, ece_u, ece_p, is_dp));
                if gradient < TOL || step.lp_norm(1) < TOL {
                    break;
                }
            }
            let (err, c, ece_u, ece_p, is_dp) = last.expect("at least one D-step iteration");
            if np > 0 {
                *sums.df_dp -= &c.dw_dp / 2.0 + is_dp.tr_mul(&err.e);
                let info = err.dp.tr_mul(&is_dp);
                *sums.df_dpp -= &c.dw_dpp / 2.0 + &info;
                *sums.qp_ic += info;
            }
            *sums.ee += &err.e * err.e.transpose();
            *sums.ece += ece_u + ece_p;
            finals.push(qv.clone());
        }
        *previous = finals;
        Ok(())
    }

    /// `Π̃ = Π₀ + Σ_j exp(λ_j) Q̃_j`.
    fn precision(&self, h: &DVector<f64>) -> DMatrix<f64> {
        let mut p = self.fixed_precision.clone();
        for (q, &hj) in self.components.iter().zip(h.iter()) {
            p += q * hj.exp();
        }
        p
    }
}

/// The part of a D-step sample fixed by the Jacobians ([`Dem::pass_constants`]).
#[derive(Clone)]
struct PassConstants {
    dup: Vec<DMatrix<f64>>,
    is_du: DMatrix<f64>,
    qu_c: DMatrix<f64>,
    log_det_qu: f64,
    ece_u: DMatrix<f64>,
    dw_dp: DVector<f64>,
    dw_dpp: DMatrix<f64>,
    jacobian: DMatrix<f64>,
    juy: DMatrix<f64>,
    juc: DMatrix<f64>,
    phis: Option<Vec<DMatrix<f64>>>,
}

/// A static model's expansion point (SPM's `B` in its D-step): the causes,
/// the errors there, what their Jacobians fix, and `ε̃_θ Σ_θ ε̃_θᵀ`.
type StaticPoint = (Vec<DVector<f64>>, Errors, PassConstants, DMatrix<f64>);

/// The E- and M-step sums a D-step pass accumulates.
struct PassSums<'a> {
    df_dp: &'a mut DVector<f64>,
    df_dpp: &'a mut DMatrix<f64>,
    qp_ic: &'a mut DMatrix<f64>,
    log_det_qu: &'a mut f64,
    ee: &'a mut DMatrix<f64>,
    ece: &'a mut DMatrix<f64>,
}

/// `spm_DEM_embed(Y, n, ts)` at a (1-based, possibly fractional) sampling
/// time `ts`: the `n` samples around `ts` (the record held at its ends) and
/// the inverse of their Taylor matrix `T_ij = (i − x)^j / j!` at the offset
/// `x` of `ts` in the window, as SPM computes it.
fn spm_embed(y: &DMatrix<f64>, n: usize, ts: f64) -> Vec<DVector<f64>> {
    let (q, samples) = y.shape();
    if q == 0 || n == 0 || samples == 0 {
        return vec![DVector::zeros(q); n];
    }
    let first = (ts - (n as f64 + 1.0) / 2.0).trunc() as i64;
    let k: Vec<i64> = (1..=n as i64).map(|i| i + first).collect();
    let x = ts - k[0] as f64 + 1.0;
    let clamp = |i: i64| (i.clamp(1, samples as i64) - 1) as usize;
    let mut taylor = DMatrix::zeros(n, n);
    for i in 0..n {
        let mut factorial = 1.0;
        for j in 0..n {
            if j > 0 {
                factorial *= j as f64;
            }
            taylor[(i, j)] = ((i as f64 + 1.0) - x).powi(j as i32) / factorial;
        }
    }
    let inverse = taylor
        .clone()
        .try_inverse()
        .unwrap_or_else(|| pseudo_inverse(&taylor));
    (0..n)
        .map(|i| {
            let mut out = DVector::zeros(q);
            for (p, &kp) in k.iter().enumerate() {
                out.axpy(inverse[(i, p)], &y.column(clamp(kp)), 1.0);
            }
            out
        })
        .collect()
}

/// What a D-step pass leaves behind, per sample.
#[derive(Debug, Clone)]
struct PassRecord {
    states: DMatrix<f64>,
    causes: DMatrix<f64>,
    predicted: DMatrix<f64>,
    z: DMatrix<f64>,
    w: DMatrix<f64>,
    state_cov: Vec<DMatrix<f64>>,
    cause_cov: Vec<DMatrix<f64>>,
}

impl PassRecord {
    fn new(nx: usize, nv: usize, ny: usize, ne: usize, samples: usize) -> Self {
        Self {
            states: DMatrix::zeros(nx, samples),
            causes: DMatrix::zeros(nv, samples),
            predicted: DMatrix::zeros(ny, samples),
            z: DMatrix::zeros(ne, samples),
            w: DMatrix::zeros(nx, samples),
            state_cov: Vec::with_capacity(samples),
            cause_cov: Vec::with_capacity(samples),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        t: usize,
        x: &DVector<f64>,
        v: &DVector<f64>,
        y: &DVector<f64>,
        err: &Errors,
        qu_c: &DMatrix<f64>,
        n: usize,
        nx: usize,
    ) {
        let (ne, ny, nv) = (self.z.nrows(), self.predicted.nrows(), self.causes.nrows());
        self.states.set_column(t, x);
        self.causes.set_column(t, v);
        self.z.set_column(t, &err.e.rows(0, ne));
        self.w.set_column(t, &err.e.rows(n * ne, nx));
        self.predicted.set_column(t, &(y - err.e.rows(0, ny)));
        self.state_cov
            .push(qu_c.view((0, 0), (nx, nx)).into_owned());
        self.cause_cov
            .push(qu_c.view((nx * n, nx * n), (nv, nv)).into_owned());
    }
}

fn check_shape(what: &str, m: &DMatrix<f64>, rows: usize, cols: usize) -> Result<(), GcError> {
    if m.shape() != (rows, cols) {
        return Err(GcError::Dimension {
            what: format!("derivative {what}"),
            expected: format!("{rows} × {cols}"),
            got: format!("{} × {}", m.nrows(), m.ncols()),
        });
    }
    Ok(())
}

/// A matrix stored by its non-zero entries, row by row: the generalized
/// precision, whose orders couple only within an error channel (a few
/// percent of its entries are non-zero).
#[derive(Debug, Clone)]
pub(crate) struct SparseRows {
    rows: Vec<Vec<(usize, f64)>>,
    ncols: usize,
}

impl SparseRows {
    /// The non-zero entries of `a`.
    pub(crate) fn new(a: &DMatrix<f64>) -> Self {
        let rows = (0..a.nrows())
            .map(|i| {
                (0..a.ncols())
                    .filter(|&j| a[(i, j)] != 0.0)
                    .map(|j| (j, a[(i, j)]))
                    .collect()
            })
            .collect();
        Self {
            rows,
            ncols: a.ncols(),
        }
    }

    /// `Bᵀ A` (`B` dense with as many rows as `A`).
    pub(crate) fn left_tr_mul(&self, b: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = DMatrix::zeros(b.ncols(), self.ncols);
        for (r, row) in self.rows.iter().enumerate() {
            for &(c, v) in row {
                for i in 0..b.ncols() {
                    out[(i, c)] += v * b[(r, i)];
                }
            }
        }
        out
    }

    /// `A v`.
    pub(crate) fn mul_vector(&self, v: &DVector<f64>) -> DVector<f64> {
        DVector::from_iterator(
            self.rows.len(),
            self.rows
                .iter()
                .map(|row| row.iter().map(|&(j, a)| a * v[j]).sum()),
        )
    }

    /// `tr(A B)`.
    pub(crate) fn trace_mul(&self, b: &DMatrix<f64>) -> f64 {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, row)| row.iter().map(|&(j, a)| a * b[(j, i)]).sum::<f64>())
            .sum()
    }

    /// `A B`.
    pub(crate) fn mul(&self, b: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = DMatrix::zeros(self.rows.len(), b.ncols());
        for c in 0..b.ncols() {
            let col = b.column(c);
            for (i, row) in self.rows.iter().enumerate() {
                out[(i, c)] = row.iter().map(|&(j, v)| v * col[j]).sum();
            }
        }
        out
    }
}

/// `Aᵀ B` by a matrix product (faster than nalgebra's `tr_mul` beyond a
/// few rows).
pub(crate) fn at_b(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    a.transpose() * b
}

/// `tr(A B)` without forming the product.
pub(crate) fn trace_product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let mut t = 0.0;
    for i in 0..a.nrows() {
        for k in 0..a.ncols() {
            t += a[(i, k)] * b[(k, i)];
        }
    }
    t
}

/// SPM's `spm_inv`: `(A + δI)⁻¹` with `δ = max(eps(‖A‖∞)·max(m, n), exp(−32))`.
pub fn regularised_inverse(a: &DMatrix<f64>) -> DMatrix<f64> {
    let n = a.nrows();
    if n == 0 {
        return DMatrix::zeros(0, 0);
    }
    let norm = a
        .row_iter()
        .map(|r| r.iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let delta = (ulp(norm) * n as f64).max((-32f64).exp());
    let shifted = a + DMatrix::identity(n, n) * delta;
    // A matrix that is block diagonal up to a permutation (a generalized
    // precision: orders couple within a channel) is inverted block by block.
    let blocks = diagonal_blocks(&shifted);
    if blocks.len() > 1 {
        let mut inverse = DMatrix::zeros(n, n);
        for block in &blocks {
            let k = block.len();
            let sub = DMatrix::from_fn(k, k, |i, j| shifted[(block[i], block[j])]);
            let inv = sub
                .clone()
                .try_inverse()
                .unwrap_or_else(|| pseudo_inverse(&sub));
            for (i, &bi) in block.iter().enumerate() {
                for (j, &bj) in block.iter().enumerate() {
                    inverse[(bi, bj)] = inv[(i, j)];
                }
            }
        }
        return inverse;
    }
    shifted
        .clone()
        .try_inverse()
        .unwrap_or_else(|| pseudo_inverse(&shifted))
}

/// The index sets of the diagonal blocks of `a` up to a permutation: the
/// connected components of its pattern of non-zero entries.
fn diagonal_blocks(a: &DMatrix<f64>) -> Vec<Vec<usize>> {
    let n = a.nrows();
    let mut label: Vec<usize> = (0..n).collect();
    fn root(label: &mut [usize], mut i: usize) -> usize {
        while label[i] != i {
            label[i] = label[label[i]];
            i = label[i];
        }
        i
    }
    for j in 0..n {
        for i in 0..n {
            if i != j && a[(i, j)] != 0.0 {
                let (ri, rj) = (root(&mut label, i), root(&mut label, j));
                if ri != rj {
                    label[ri.max(rj)] = ri.min(rj);
                }
            }
        }
    }
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    let mut index_of = vec![usize::MAX; n];
    for i in 0..n {
        let r = root(&mut label, i);
        if index_of[r] == usize::MAX {
            index_of[r] = blocks.len();
            blocks.push(Vec::new());
        }
        blocks[index_of[r]].push(i);
    }
    blocks
}

/// MATLAB's `eps(x)`: the spacing of doubles at `|x|`.
fn ulp(x: f64) -> f64 {
    let x = x.abs();
    if x == 0.0 || !x.is_finite() {
        return f64::MIN_POSITIVE;
    }
    let e = x.log2().floor();
    2f64.powf(e - 52.0)
}

/// The Moore–Penrose pseudo-inverse (by SVD, tolerance `max(m,n)·eps·σ_max`).
pub fn pseudo_inverse(a: &DMatrix<f64>) -> DMatrix<f64> {
    if a.is_empty() {
        return a.transpose();
    }
    let svd = a.clone().svd(true, true);
    let smax = svd.singular_values.max();
    let tol = a.nrows().max(a.ncols()) as f64 * f64::EPSILON * smax;
    svd.pseudo_inverse(tol)
        .unwrap_or_else(|_| a.transpose() * 0.0)
}

/// SPM's `spm_logdet`: `ln|C|` with zero diagonal entries dropped; a
/// diagonal matrix gives `Σ ln cᵢ` over its entries in `(10⁻¹⁶, 10¹⁶)`
/// (negative entries are skipped); otherwise the Cholesky factor when `C` is
/// symmetric (`max|C − Cᵀ| ≤ 10⁻¹⁶`) positive definite, else `Σ ln σᵢ` over
/// its singular values in that range. A matrix symmetric up to rounding
/// (`max|C − Cᵀ| ≤ 10⁻¹² max|C|`, e.g. an inverse by LU) has for singular
/// values the moduli of the eigenvalues of its symmetric part (to that
/// rounding): those are taken, a symmetric eigenproblem being cheaper than
/// an SVD.
pub fn spm_log_determinant(c: &DMatrix<f64>) -> f64 {
    let keep: Vec<usize> = (0..c.nrows()).filter(|&i| c[(i, i)] != 0.0).collect();
    let k = keep.len();
    let c = DMatrix::from_fn(k, k, |i, j| c[(keep[i], keep[j])]);
    const LOW: f64 = 1e-16;
    let in_range = |s: f64| s > LOW && s < 1.0 / LOW;
    let off_diagonal = (0..k).any(|i| (0..k).any(|j| i != j && c[(i, j)] != 0.0));
    if !off_diagonal {
        return c
            .diagonal()
            .iter()
            .filter(|&&s| in_range(s))
            .map(|s| s.ln())
            .sum();
    }
    let asym = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| (c[(i, j)] - c[(j, i)]).abs())
        .fold(0.0, f64::max);
    if asym <= LOW {
        if let Some(chol) = c.clone().cholesky() {
            return 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        }
    }
    if asym <= 1e-12 * c.amax() {
        let symmetric = (&c + c.transpose()) / 2.0;
        return symmetric
            .symmetric_eigenvalues()
            .iter()
            .map(|v| v.abs())
            .filter(|&s| in_range(s))
            .map(|s| s.ln())
            .sum();
    }
    c.singular_values()
        .iter()
        .filter(|&&s| in_range(s))
        .map(|s| s.ln())
        .sum()
}

/// SPM's `spm_dx(J, f, {τ})`: the local-linearisation step over the time
/// `t = exp(τ − ln|J|/k)` (`k = len(f)`, `ln|·|` as [`spm_log_determinant`]):
/// `Δ = (exp(tJ) − I) J⁻¹ f`, or the Newton step `−J⁺ f` when
/// `t > exp(16)`.
pub fn regularised_step(
    jacobian: &DMatrix<f64>,
    f: &DVector<f64>,
    log_time: f64,
) -> Result<DVector<f64>, GcError> {
    let k = f.len();
    if k == 0 {
        return Ok(DVector::zeros(0));
    }
    let t = (log_time - spm_log_determinant(jacobian) / k as f64).exp();
    if t > 16f64.exp() {
        return Ok(-(pseudo_inverse(jacobian) * f));
    }
    // First column of exp([[0, 0], [t f, t J]]), without its first entry.
    let mut aug = DMatrix::zeros(k + 1, k + 1);
    aug.view_mut((1, 0), (k, 1)).copy_from(&(f * t));
    aug.view_mut((1, 1), (k, k)).copy_from(&(jacobian * t));
    let e = expm(&aug)?;
    Ok(e.view((1, 0), (k, 1)).column(0).into_owned())
}

/// An orthonormal basis of the span of a covariance `pC` (SPM's
/// `spm_svd(pC, 0)`): for a diagonal `pC`, the unit vectors of its non-zero
/// entries, by decreasing variance; otherwise the eigenvectors with
/// eigenvalues above `64·eps` of their mean.
pub fn covariance_basis(pc: &DMatrix<f64>) -> DMatrix<f64> {
    let n = pc.nrows();
    let off_diagonal = (0..n).any(|i| (0..n).any(|j| i != j && pc[(i, j)] != 0.0));
    if !off_diagonal {
        let mut idx: Vec<usize> = (0..n).filter(|&i| pc[(i, i)] != 0.0).collect();
        idx.sort_by(|&a, &b| {
            pc[(b, b)]
                .abs()
                .total_cmp(&pc[(a, a)].abs())
                .then(a.cmp(&b))
        });
        let mut u = DMatrix::zeros(n, idx.len());
        for (j, &i) in idx.iter().enumerate() {
            u[(i, j)] = 1.0;
        }
        return u;
    }
    let eig = SymmetricEigen::new(pc.clone());
    let total: f64 = eig.eigenvalues.iter().map(|v| v.abs()).sum();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let kept: Vec<usize> = order
        .into_iter()
        .filter(|&i| eig.eigenvalues[i] * n as f64 / total > 64.0 * f64::EPSILON)
        .collect();
    let mut u = DMatrix::zeros(n, kept.len());
    for (j, &i) in kept.iter().enumerate() {
        u.set_column(j, &eig.eigenvectors.column(i));
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_diagonal_matrices_are_inverted_block_by_block() {
        // Two blocks interleaved: {0, 2, 3} and {1, 4}.
        let mut a = DMatrix::zeros(5, 5);
        for &(i, j, v) in &[
            (0, 0, 4.0),
            (2, 2, 3.0),
            (3, 3, 5.0),
            (0, 2, 1.0),
            (2, 0, 1.0),
            (2, 3, -0.5),
            (3, 2, -0.5),
            (1, 1, 2.0),
            (4, 4, 6.0),
            (1, 4, 0.25),
            (4, 1, 0.25),
        ] {
            a[(i, j)] = v;
        }
        assert_eq!(diagonal_blocks(&a), vec![vec![0, 2, 3], vec![1, 4]]);
        let inv = regularised_inverse(&a);
        let dense = a.clone().try_inverse().unwrap();
        assert!((&inv - &dense).amax() < 1e-14);
        assert_eq!(inv[(0, 1)], 0.0);
        // The sparse products agree with the dense ones.
        let sparse = SparseRows::new(&a);
        let b = DMatrix::from_fn(5, 3, |i, j| (i * 3 + j) as f64 - 4.0);
        assert!((sparse.mul(&b) - &a * &b).amax() < 1e-14);
        let v = DVector::from_fn(5, |i, _| i as f64 * 0.5);
        assert!((sparse.mul_vector(&v) - &a * &v).amax() < 1e-14);
        let c = DMatrix::from_fn(5, 5, |i, j| (i as f64 - j as f64).sin());
        assert!((sparse.trace_mul(&c) - (&a * &c).trace()).abs() < 1e-14);
    }
}
