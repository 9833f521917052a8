//! The D-step: generalized filtering of the states of a [`LinearModel`].
//!
//! # Free energy
//! With generalized states `μ̃ = [x̃; ṽ]` (`ṽ` only when the causes are
//! inferred, [`Causes::Prior`]) and generalized data `ỹ` (and `ṽ` or the
//! prior expectation `η̃` of the causes), the generalized prediction errors
//! are (Friston, Trujillo-Barreto & Daunizeau 2008, "DEM: a variational
//! treatment of dynamic systems", eqs. 6–9)
//!
//! ```text
//! ε̃_y = ỹ − (I⊗C) x̃ − (I⊗D) ṽ
//! ε̃_v = ṽ − η̃                                (inferred causes only)
//! ε̃_x = D x̃ − (I⊗A) x̃ − (I⊗B) ṽ
//! Π̃   = blockdiag(R⊗Πz, R⊗Πv, R⊗Πw)
//! ```
//!
//! where `D` is the block shift (`D x̃ = [x′, x″, …, x⁽ⁿ⁻¹⁾, 0]`, so the top
//! order's motion is taken to be zero) and `R = V⁻¹` the temporal precision of
//! the smooth noise. The Laplace free energy of the generalized trajectory at
//! one sample (a bound on the surprise `−ln p(ỹ)`, to be minimised; SPM's `F`
//! is its negative) is
//!
//! ```text
//! F(t) = ½ ε̃ᵀ Π̃ ε̃ − ½ ln|Π̃| + ½ ln|H| + (n·ny/2) ln 2π,     H = ε̃_μᵀ Π̃ ε̃_μ
//! ```
//!
//! with `ε̃_μ = ∂ε̃/∂μ̃` and `H` the curvature, the conditional precision of
//! the generalized states (so their conditional covariance is `H⁻¹`); the
//! constant is `(ne − nu)/2 · ln 2π` with `ne`, `nu` the numbers of errors and
//! states, and equals SPM's `n·ny/2 · ln 2π` (spm_DEM.m, `Lu`). For a linear
//! model `F` at the conditional mode is exactly `−ln p(ỹ)`. `F(t)` is
//! evaluated, as in `spm_DEM`, at the expectation held at sample `t` before
//! that sample is assimilated; [`DStepTrace::free_energy`] lists it per sample.
//!
//! Two differences from `spm_DEM` (SPM12 r7771): its `spm_DEM_eval` leaves
//! the top-order state error `ε̃_x⁽ⁿ⁻¹⁾` at zero (the unknown `x⁽ⁿ⁾`) while
//! its Jacobian keeps that row's `−A x⁽ⁿ⁻¹⁾`; here `ε̃_x = D x̃ − …`
//! throughout, so the flow follows the exact gradient of `F`. And SPM embeds
//! the causes to their own order `d ≤ n`; here they have the same `n`
//! orders as the states.
//!
//! # Flow and its integration
//! The expectation follows `dμ̃/dt = Dμ̃ − ∂F/∂μ̃ = Dμ̃ − ε̃_μᵀ Π̃ ε̃`
//! (Friston et al. 2010, "Generalised filtering", eq. 8). As in `spm_DEM`'s
//! D-step, the generalized data move with the same shift during the sampling
//! interval, `dỹ/dt = D ỹ` (and `dη̃/dt = D η̃`, or `dṽ/dt = D ṽ` for known
//! inputs): `spm_DEM` augments the state with `[ỹ, ũ]`, gives them the flow
//! `D·[ỹ, ũ]` and the Jacobian blocks `∂ḟ/∂ỹ = −ε̃_μᵀ Π̃ ε̃_y`, integrates the
//! whole by `spm_dx`, and re-embeds the data at the next sample. This module
//! does the same by default ([`DataMotion::Shift`]); [`DataMotion::Hold`]
//! holds the data fixed over the interval instead. Either way the augmented
//! flow `ż = J z`, `z = [μ̃; ỹ; ṽ or η̃]`, is linear and homogeneous with a
//! constant Jacobian
//!
//! ```text
//! J = [ D − H    −ε̃_μᵀ Π̃ ε̃_w ]
//!     [ 0         D (or 0)    ]
//! ```
//!
//! so the local-linearisation step `Δz = (exp(J Δt) − I) J⁻¹ f(z)`
//! ([`crate::linearise::local_linearisation_step`]; Ozaki 1992) is exact and
//! equals `(exp(J Δt) − I) z = φ₁(JΔt)Δt · J z`, `φ₁(A) = Σ_k A^k/(k+1)!`.
//! Its `μ̃` rows are computed once, on construction, as the matrix form of
//! `local_linearisation_step` (the step of every `f = J e_k` at once):
//! `φ₁(JΔt)Δt` is the top-right block of `exp([[JΔt, IΔt], [0, 0]])`
//! ([`crate::linearise::expm`]; Van Loan 1978), which needs no `J⁻¹` (`J` is
//! singular: the data block is nilpotent) and does not cancel for small
//! `Δt`. Each sample then costs two matrix–vector products and no
//! allocation; the tests check a step against `local_linearisation_step`.
//!
//! # Divergence
//! After every step the states are checked: a non-finite state, or one whose
//! magnitude exceeds [`DStepSettings::divergence_limit`] × (1 + the largest
//! magnitude of the inputs so far), stops the integration with
//! [`GcError::Diverged`]; nothing non-finite is returned. The spectral
//! abscissa of the state block of `J` ([`DStep::spectral_abscissa`]) tells
//! whether the flow is stable at all.

use nalgebra::{DMatrix, DVector};

use crate::embed::{Embedder, Embedding};
use crate::error::GcError;
use crate::linearise::expm;
use crate::model::{check_finite, Causes, LinearModel};
use crate::model::{check_len, check_slice};
use crate::precision::temporal_precision;
use crate::shift::{derivative_operator, kron};

/// How the generalized data move during a sampling interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataMotion {
    /// `dỹ/dt = D ỹ`: the data follow their own Taylor expansion over the
    /// interval, as in `spm_DEM` (the default).
    #[default]
    Shift,
    /// `dỹ/dt = 0`: the data are held at their embedded value.
    Hold,
}

/// Where the centred embedding window of an interval `[t, t + Δt]` sits
/// (what [`DStep::run`] gives [`DStep::step`] as `ỹ(t)`; also for `ṽ`/`η̃`).
///
/// For an odd order `n` (and for [`Embedding::Causal`]) both choices are
/// `embed(y, n, t)`. For an even `n` the centred window of `embed` at `t`
/// (`spm_DEM_embed`'s) holds one sample more before `t` than after it; since
/// the flow then carries the expectation from `t` to `t + Δt` with these
/// data, the window symmetric about the interval, samples `t + 1 − n/2 …
/// t + n/2`, suits it better: in the Kalman-comparison test of this crate
/// the state error is 8% lower at `n = 6`, 24% at `n = 4` and 37% at
/// `n = 2` than with SPM's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// `ỹ(t) = embed(y, n, t)`: SPM's choice, centred on the sample.
    Sample,
    /// Centred on the interval: for even `n` (centred embedding),
    /// `ỹ(t) = exp(−DΔt) · embed(y, n, t + 1)`, the same interpolating
    /// polynomial of samples `t + 1 − n/2 … t + n/2` expanded at `t` (exact:
    /// the polynomial has degree `< n`); at the last sample, as
    /// [`Window::Sample`]. The default.
    #[default]
    Interval,
}

/// Settings of the D-step integration.
#[derive(Debug, Clone)]
pub struct DStepSettings {
    /// Sampling interval `Δt` (same time unit as the dynamics and the
    /// smoothness). Default 1.
    pub dt: f64,
    /// How sampled data are embedded into generalized coordinates (used by
    /// [`DStep::run`]). Default [`Embedding::Centred`], SPM's.
    pub embedding: Embedding,
    /// How the data move during an interval. Default [`DataMotion::Shift`].
    pub data_motion: DataMotion,
    /// Which samples embed the data of an interval (used by [`DStep::run`]).
    /// Default [`Window::Interval`].
    pub window: Window,
    /// States larger in magnitude than this times (1 + the largest input
    /// magnitude so far) count as diverged. Default 1e8.
    pub divergence_limit: f64,
    /// Build the filter even when its flow is unstable (a Jacobian
    /// eigenvalue with a positive real part, [`DStep::spectral_abscissa`]);
    /// by default that is refused with [`GcError::Diverged`] at step 0, since
    /// the expectation would then grow exponentially whatever the data.
    pub allow_unstable: bool,
}

impl Default for DStepSettings {
    fn default() -> Self {
        Self {
            dt: 1.0,
            embedding: Embedding::Centred,
            data_motion: DataMotion::Shift,
            window: Window::Interval,
            divergence_limit: 1e8,
            allow_unstable: false,
        }
    }
}

/// The trajectory of a D-step pass over a time series ([`DStep::run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DStepTrace {
    /// Conditional expectation of the states `x` (order 0), `nx × T`; column
    /// `t` is the expectation held at sample `t` before that sample is
    /// assimilated (SPM's `qU.x` convention).
    pub x: DMatrix<f64>,
    /// Conditional expectation of the causes `v` (order 0), `nv × T`, same
    /// convention; for known causes, the given inputs.
    pub v: DMatrix<f64>,
    /// The generalized states `μ̃ = [x̃; ṽ]`, `nu × T`, same convention.
    pub generalized: DMatrix<f64>,
    /// `F(t)`, the Laplace free energy at each sample (module docs).
    pub free_energy: Vec<f64>,
    /// Conditional covariance of the states `x` (the order-0 block of `H⁻¹`),
    /// the same at every sample for a linear model.
    pub x_covariance: DMatrix<f64>,
    /// Conditional covariance of the causes `v` (order 0; zero for known
    /// causes).
    pub v_covariance: DMatrix<f64>,
}

impl DStepTrace {
    /// `Σₜ F(t)`, the free energy of the whole trajectory (SPM's `−F` of a
    /// pure D-step pass, `Lu`).
    pub fn total_free_energy(&self) -> f64 {
        self.free_energy.iter().sum()
    }
}

/// A D-step filter for a [`LinearModel`]: the constant operators of the
/// generalized flow, precomputed, and the current expectation `μ̃`.
#[derive(Debug, Clone)]
pub struct DStep {
    nx: usize,
    nv: usize,
    ny: usize,
    n: usize,
    nu: usize,
    infers_causes: bool,
    settings: DStepSettings,
    /// `μ̃` rows of `exp(J Δt) − I`, `nu × nz`.
    propagator: DMatrix<f64>,
    /// `J`, `nz × nz`.
    jacobian: DMatrix<f64>,
    /// `ε̃ = E z`, `ne × nz`.
    error_map: DMatrix<f64>,
    /// `Π̃`, `ne × ne`.
    precision: DMatrix<f64>,
    /// `H`, `nu × nu`.
    curvature: DMatrix<f64>,
    /// `H⁻¹`, `nu × nu`.
    covariance: DMatrix<f64>,
    /// `−½ ln|Π̃| + ½ ln|H| + (n·ny/2) ln 2π`.
    f_constant: f64,
    spectral_abscissa: f64,
    /// `z = [μ̃; ỹ; ṽ or η̃]`.
    z: DVector<f64>,
    delta: DVector<f64>,
    eps: DVector<f64>,
    weighted: DVector<f64>,
    input_scale: f64,
    steps: usize,
}

impl DStep {
    /// Builds the filter: the generalized precision, the error map, the
    /// curvature and its inverse, the Jacobian of the augmented flow and its
    /// local-linearisation propagator over `Δt`. The expectation starts at
    /// zero ([`DStep::set_state`] changes it).
    ///
    /// # Errors
    /// [`GcError::Setting`] for a non-positive or non-finite `Δt` or
    /// divergence limit, errors of [`temporal_precision`] (an embedding order
    /// or smoothness it cannot represent accurately),
    /// [`GcError::NotPositiveDefinite`] when the curvature `H` is singular
    /// (states not identifiable from the data), and [`GcError::Diverged`]
    /// (step 0) when `exp(J Δt)` is not finite.
    pub fn new(model: &LinearModel, settings: DStepSettings) -> Result<Self, GcError> {
        if !(settings.dt.is_finite() && settings.dt > 0.0) {
            return Err(GcError::Setting {
                name: "dt (sampling interval)".into(),
                reason: format!("must be finite and positive, got {}", settings.dt),
            });
        }
        if !(settings.divergence_limit.is_finite() && settings.divergence_limit > 0.0) {
            return Err(GcError::Setting {
                name: "divergence_limit".into(),
                reason: format!(
                    "must be finite and positive, got {}",
                    settings.divergence_limit
                ),
            });
        }
        let (nx, nv, ny, n) = (model.nx(), model.nv(), model.ny(), model.order());
        let pi_v = match model.causes() {
            Causes::Known => None,
            Causes::Prior { precision } => Some(precision),
        };
        let infers_causes = pi_v.is_some();
        if nx == 0 && !infers_causes {
            return Err(GcError::Setting {
                name: "causes".into(),
                reason: "a model without hidden states needs hidden causes (a cause prior): \
                         there is nothing to infer"
                    .into(),
            });
        }
        let tp = temporal_precision(n, model.smoothness())?;
        let r = &tp.r;
        let eye_n = DMatrix::<f64>::identity(n, n);
        let dx = derivative_operator(n, nx);
        let dv = derivative_operator(n, nv);
        let dy = derivative_operator(n, ny);
        let ic = kron(&eye_n, model.c());
        let id = kron(&eye_n, model.d());
        let ia = kron(&eye_n, model.a());
        let ib = kron(&eye_n, model.b());

        // Block sizes: states u = [x̃; ṽ?], inputs w = [ỹ; ṽ or η̃],
        // errors e = [ε̃_y; ε̃_v?; ε̃_x].
        let (gx, gv, gy) = (n * nx, n * nv, n * ny);
        let nu = gx + if infers_causes { gv } else { 0 };
        let nw = gy + gv;
        let nz = nu + nw;
        let ne = gy + if infers_causes { gv } else { 0 } + gx;
        let (ey, ev, ex) = (0, gy, ne - gx);

        // ε̃ = E_u μ̃ + E_w w̃, stored as E = [E_u, E_w].
        let mut e = DMatrix::<f64>::zeros(ne, nz);
        e.view_mut((ey, 0), (gy, gx)).copy_from(&(-&ic));
        e.view_mut((ex, 0), (gx, gx)).copy_from(&(&dx - &ia));
        e.view_mut((ey, nu), (gy, gy)).fill_with_identity();
        if infers_causes {
            e.view_mut((ey, gx), (gy, gv)).copy_from(&(-&id));
            e.view_mut((ev, gx), (gv, gv)).fill_with_identity();
            e.view_mut((ev, nu + gy), (gv, gv))
                .copy_from(&(-DMatrix::<f64>::identity(gv, gv)));
            e.view_mut((ex, gx), (gx, gv)).copy_from(&(-&ib));
        } else {
            e.view_mut((ey, nu + gy), (gy, gv)).copy_from(&(-&id));
            e.view_mut((ex, nu + gy), (gx, gv)).copy_from(&(-&ib));
        }

        // Π̃ = blockdiag(R⊗Πz, R⊗Πv, R⊗Πw).
        let mut pi = DMatrix::<f64>::zeros(ne, ne);
        pi.view_mut((ey, ey), (gy, gy))
            .copy_from(&kron(r, model.pi_z()));
        pi.view_mut((ex, ex), (gx, gx))
            .copy_from(&kron(r, model.pi_w()));
        let mut ln_det_pi = ln_det_spd(r, "R (temporal precision)")? * (ny + nx) as f64
            + n as f64 * (ln_det_spd(model.pi_z(), "Πz")? + ln_det_spd(model.pi_w(), "Πw")?);
        if let Some(pv) = pi_v {
            pi.view_mut((ev, ev), (gv, gv)).copy_from(&kron(r, pv));
            ln_det_pi += ln_det_spd(r, "R (temporal precision)")? * nv as f64
                + n as f64 * ln_det_spd(pv, "Πv")?;
        }

        // Curvature H = E_uᵀ Π̃ E_u and the gradient's input block E_uᵀ Π̃ E_w.
        let eu = e.columns(0, nu);
        let ew = e.columns(nu, nw);
        let eu_pi = eu.transpose() * &pi;
        let mut h = &eu_pi * eu;
        h = (&h + h.transpose()) * 0.5;
        let chol = h.clone().cholesky().ok_or_else(|| {
            GcError::NotPositiveDefinite(
                "the conditional precision (curvature H) of the generalized states: \
                 the states are not identifiable from the data"
                    .into(),
            )
        })?;
        let ln_det_h = 2.0 * chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>();
        let covariance = chol.inverse();
        let f_constant =
            -0.5 * ln_det_pi + 0.5 * ln_det_h + 0.5 * gy as f64 * (2.0 * std::f64::consts::PI).ln();

        // Jacobian of the augmented flow ż = J z.
        let mut j = DMatrix::<f64>::zeros(nz, nz);
        {
            let mut juu = j.view_mut((0, 0), (nu, nu));
            juu -= &h;
            let mut jxx = j.view_mut((0, 0), (gx, gx));
            jxx += &dx;
            if infers_causes {
                let mut jvv = j.view_mut((gx, gx), (gv, gv));
                jvv += &dv;
            }
        }
        j.view_mut((0, nu), (nu, nw)).copy_from(&(-(&eu_pi * ew)));
        if settings.data_motion == DataMotion::Shift {
            j.view_mut((nu, nu), (gy, gy)).copy_from(&dy);
            j.view_mut((nu + gy, nu + gy), (gv, gv)).copy_from(&dv);
        }
        let spectral_abscissa = if nu == 0 {
            f64::NEG_INFINITY
        } else {
            j.view((0, 0), (nu, nu))
                .clone_owned()
                .complex_eigenvalues()
                .iter()
                .map(|l| l.re)
                .fold(f64::NEG_INFINITY, f64::max)
        };

        let scale = 1.0 + j.view((0, 0), (nu, nu)).amax();
        if !settings.allow_unstable && spectral_abscissa > 1e-9 * scale {
            return Err(GcError::Diverged {
                step: 0,
                reason: format!(
                    "the D-step flow is unstable: its Jacobian D − H has an eigenvalue with \
                     real part {spectral_abscissa:.3e} > 0, so the expectation would grow \
                     exponentially (raise the precisions, lower the embedding order, or set \
                     allow_unstable)"
                ),
            });
        }

        // μ̃ rows of (exp(JΔt) − I) = φ₁(JΔt)Δt·J: the local-linearisation step
        // (exp(JΔt) − I) J⁻¹ f of every f = J e_k at once. φ₁(JΔt)Δt is the
        // top-right block of exp([[JΔt, IΔt], [0, 0]]) (Van Loan 1978), the
        // matrix form of `local_linearisation_step`: no J⁻¹, and no
        // cancellation in exp(JΔt) − I for small Δt.
        let dt = settings.dt;
        let mut augmented = DMatrix::<f64>::zeros(2 * nz, 2 * nz);
        augmented
            .view_mut((0, 0), (nz, nz))
            .zip_apply(&j, |a, x| *a = x * dt);
        augmented.view_mut((0, nz), (nz, nz)).fill_diagonal(dt);
        let phi1 = expm(&augmented).map_err(|e| GcError::Diverged {
            step: 0,
            reason: format!(
                "the local-linearisation operator over dt = {dt} could not be formed ({e}; \
                 spectral abscissa of the flow {spectral_abscissa:.3e})"
            ),
        })?;
        let propagator = phi1.view((0, nz), (nu, nz)) * &j;
        if propagator.iter().any(|p| !p.is_finite()) {
            return Err(GcError::Diverged {
                step: 0,
                reason: format!(
                    "the local-linearisation operator exp(J·{}) is not finite \
                     (spectral abscissa of the flow {spectral_abscissa:.3e})",
                    settings.dt
                ),
            });
        }

        Ok(Self {
            nx,
            nv,
            ny,
            n,
            nu,
            infers_causes,
            settings,
            propagator,
            jacobian: j,
            error_map: e,
            precision: pi,
            curvature: h,
            covariance,
            f_constant,
            spectral_abscissa,
            z: DVector::zeros(nz),
            delta: DVector::zeros(nu),
            eps: DVector::zeros(ne),
            weighted: DVector::zeros(ne),
            input_scale: 0.0,
            steps: 0,
        })
    }

    /// The current generalized expectation `μ̃ = [x̃; ṽ]` (order-major:
    /// `[x, x′, …, x⁽ⁿ⁻¹⁾, v, v′, …]`, `ṽ` only for inferred causes).
    pub fn state(&self) -> &[f64] {
        &self.z.as_slice()[..self.nu]
    }

    /// Sets the generalized expectation `μ̃` (length `nu`, see
    /// [`DStep::state`]) and restarts the step count and the input scale of
    /// the divergence test.
    ///
    /// # Errors
    /// [`GcError::Dimension`] for a wrong length, [`GcError::Value`] for a
    /// non-finite entry.
    pub fn set_state(&mut self, mu: &[f64]) -> Result<(), GcError> {
        check_len("μ̃ (generalized states)", mu.len(), self.nu)?;
        check_slice("μ̃ (generalized states)", mu)?;
        self.z.as_mut_slice()[..self.nu].copy_from_slice(mu);
        self.steps = 0;
        self.input_scale = 0.0;
        Ok(())
    }

    /// The number of generalized states `nu = n·nx (+ n·nv for inferred
    /// causes)`.
    pub fn state_len(&self) -> usize {
        self.nu
    }

    /// The settings in force.
    pub fn settings(&self) -> &DStepSettings {
        &self.settings
    }

    /// The conditional precision of `μ̃`, the curvature `H = ε̃_μᵀ Π̃ ε̃_μ`.
    pub fn conditional_precision(&self) -> &DMatrix<f64> {
        &self.curvature
    }

    /// The conditional covariance of `μ̃`, `H⁻¹` (constant for a linear model).
    pub fn conditional_covariance(&self) -> &DMatrix<f64> {
        &self.covariance
    }

    /// The generalized precision of the errors, `Π̃ = blockdiag(R⊗Πz, R⊗Πv,
    /// R⊗Πw)`.
    pub fn generalized_precision(&self) -> &DMatrix<f64> {
        &self.precision
    }

    /// The Jacobian `J` of the augmented flow `ż = J z`, `z = [μ̃; ỹ; ṽ or η̃]`.
    pub fn jacobian(&self) -> &DMatrix<f64> {
        &self.jacobian
    }

    /// The largest real part of the eigenvalues of the state block `D − H` of
    /// the Jacobian: the flow is stable where it is negative.
    pub fn spectral_abscissa(&self) -> f64 {
        self.spectral_abscissa
    }

    /// The Laplace free energy `F` (module docs) of the current expectation
    /// given generalized data `ỹ` (length `n·ny`) and generalized causes `ṽ`
    /// (known inputs) or prior expectation `η̃` (length `n·nv`), without moving
    /// the expectation.
    ///
    /// # Errors
    /// As [`DStep::step`], except divergence.
    pub fn free_energy(&mut self, y_tilde: &[f64], v_tilde: &[f64]) -> Result<f64, GcError> {
        self.load(y_tilde, v_tilde)?;
        Ok(self.current_free_energy())
    }

    /// One sampling interval: records `F` at the current expectation given
    /// `ỹ` and `ṽ`/`η̃` (as [`DStep::free_energy`]), then integrates
    /// `dμ̃/dt = Dμ̃ − ∂F/∂μ̃` (with the data moving as
    /// [`DStepSettings::data_motion`]) over `Δt` by local linearisation.
    /// Returns that `F`. Allocation-free.
    ///
    /// # Errors
    /// [`GcError::Dimension`] for inputs of the wrong length,
    /// [`GcError::Value`] for non-finite inputs, [`GcError::Diverged`] if the
    /// states become non-finite or explode (the expectation is then left
    /// as it was before this step).
    pub fn step(&mut self, y_tilde: &[f64], v_tilde: &[f64]) -> Result<f64, GcError> {
        self.load(y_tilde, v_tilde)?;
        let f = self.current_free_energy();
        self.delta.gemv(1.0, &self.propagator, &self.z, 0.0);
        let limit = self.settings.divergence_limit * (1.0 + self.input_scale);
        let mut worst = 0.0f64;
        for (mu, d) in self.z.iter().zip(self.delta.iter()) {
            let next = (mu + d).abs();
            if !next.is_finite() {
                worst = f64::INFINITY;
                break;
            }
            worst = worst.max(next);
        }
        let reason = if worst.is_infinite() {
            Some("a state became non-finite".to_string())
        } else if !f.is_finite() {
            Some("the free energy overflowed (prediction errors too large)".to_string())
        } else if worst > limit {
            Some(format!(
                "state magnitude {worst:.3e} exceeds the limit {limit:.3e}"
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(GcError::Diverged {
                step: self.steps,
                reason: format!(
                    "{reason} (spectral abscissa of the flow {:.3e})",
                    self.spectral_abscissa
                ),
            });
        }
        let mut head = self.z.rows_mut(0, self.nu);
        head += &self.delta;
        self.steps += 1;
        Ok(f)
    }

    /// A D-step pass over sampled data: embeds `y` (`ny × T`) and `v`
    /// (`nv × T`: the known inputs, or the prior expectation `η` of inferred
    /// causes; may be `0 × T` or `0 × 0` when `nv = 0`) at every sample with
    /// [`embed`](crate::embed::embed) (order `n`, [`DStepSettings::embedding`], `Δt`), then steps
    /// through the samples from the current expectation, recording the
    /// expectation held at each sample before assimilating it.
    ///
    /// # Errors
    /// [`GcError::Dimension`] for mismatched shapes, [`GcError::Value`] for
    /// non-finite data, errors of [`embed`](crate::embed::embed), and [`GcError::Diverged`].
    pub fn run(&mut self, y: &DMatrix<f64>, v: &DMatrix<f64>) -> Result<DStepTrace, GcError> {
        let big_t = y.ncols();
        if y.nrows() != self.ny {
            return Err(GcError::Dimension {
                what: "y (data): rows".into(),
                expected: format!("{} (ny)", self.ny),
                got: y.nrows().to_string(),
            });
        }
        if v.nrows() != self.nv || (self.nv > 0 && v.ncols() != big_t) {
            return Err(GcError::Dimension {
                what: "v (causes or their prior expectation)".into(),
                expected: format!("{} × {big_t} (nv × T)", self.nv),
                got: format!("{} × {}", v.nrows(), v.ncols()),
            });
        }
        check_finite("y (data)", y)?;
        check_finite("v (causes or their prior expectation)", v)?;
        let (n, dt, mode) = (self.n, self.settings.dt, self.settings.embedding);
        let interval =
            self.settings.window == Window::Interval && mode == Embedding::Centred && n % 2 == 0;
        let back_y = taylor_shift(n, self.ny, -dt);
        let back_v = taylor_shift(n, self.nv, -dt);
        // The Taylor weights once for the whole record; `embed` per sample.
        let embedder = Embedder::new(n, dt, mode)?;
        let mut y_tilde = DMatrix::<f64>::zeros(n * self.ny, big_t);
        let mut v_tilde = DMatrix::<f64>::zeros(n * self.nv, big_t);
        let mut y_next = DVector::<f64>::zeros(n * self.ny);
        let mut v_next = DVector::<f64>::zeros(n * self.nv);
        for t in 0..big_t {
            if interval && t + 1 < big_t {
                embedder.embed_into(y, t + 1, y_next.as_mut_slice())?;
                back_y.mul_to(&y_next, &mut y_tilde.column_mut(t));
                if self.nv > 0 {
                    embedder.embed_into(v, t + 1, v_next.as_mut_slice())?;
                    back_v.mul_to(&v_next, &mut v_tilde.column_mut(t));
                }
            } else {
                let mut column = y_tilde.column_mut(t);
                embedder.embed_into(y, t, column.as_mut_slice())?;
                if self.nv > 0 {
                    let mut column = v_tilde.column_mut(t);
                    embedder.embed_into(v, t, column.as_mut_slice())?;
                }
            }
        }
        let mut generalized = DMatrix::<f64>::zeros(self.nu, big_t);
        let mut free_energy = Vec::with_capacity(big_t);
        for t in 0..big_t {
            generalized.column_mut(t).copy_from_slice(self.state());
            free_energy
                .push(self.step(y_tilde.column(t).as_slice(), v_tilde.column(t).as_slice())?);
        }
        let x = generalized.rows(0, self.nx).clone_owned();
        let gx = n * self.nx;
        let (v_est, v_covariance) = if self.infers_causes {
            (
                generalized.rows(gx, self.nv).clone_owned(),
                self.covariance
                    .view((gx, gx), (self.nv, self.nv))
                    .clone_owned(),
            )
        } else {
            (
                if self.nv > 0 {
                    v.clone()
                } else {
                    DMatrix::zeros(0, big_t)
                },
                DMatrix::zeros(self.nv, self.nv),
            )
        };
        Ok(DStepTrace {
            x,
            v: v_est,
            generalized,
            free_energy,
            x_covariance: self
                .covariance
                .view((0, 0), (self.nx, self.nx))
                .clone_owned(),
            v_covariance,
        })
    }

    fn load(&mut self, y_tilde: &[f64], v_tilde: &[f64]) -> Result<(), GcError> {
        let (gy, gv) = (self.n * self.ny, self.n * self.nv);
        check_len("ỹ (generalized data)", y_tilde.len(), gy)?;
        check_len("ṽ (generalized causes or prior)", v_tilde.len(), gv)?;
        check_slice("ỹ (generalized data)", y_tilde)?;
        check_slice("ṽ (generalized causes or prior)", v_tilde)?;
        let nu = self.nu;
        let z = self.z.as_mut_slice();
        z[nu..nu + gy].copy_from_slice(y_tilde);
        z[nu + gy..].copy_from_slice(v_tilde);
        let scale = z[nu..].iter().fold(0.0f64, |m, x| m.max(x.abs()));
        self.input_scale = self.input_scale.max(scale);
        Ok(())
    }

    fn current_free_energy(&mut self) -> f64 {
        self.eps.gemv(1.0, &self.error_map, &self.z, 0.0);
        self.weighted.gemv(1.0, &self.precision, &self.eps, 0.0);
        0.5 * self.eps.dot(&self.weighted) + self.f_constant
    }
}

/// `exp(D τ)` on generalized vectors of `n` orders of `dims` channels: the
/// Taylor shift `[exp(Dτ) x̃]_j = Σ_{k ≥ j} τ^(k−j)/(k−j)! · x̃_k` (exact,
/// `D` being nilpotent).
fn taylor_shift(n: usize, dims: usize, tau: f64) -> DMatrix<f64> {
    let mut m = DMatrix::zeros(n * dims, n * dims);
    for j in 0..n {
        let mut c = 1.0;
        for k in j..n {
            if k > j {
                c *= tau / (k - j) as f64;
            }
            for d in 0..dims {
                m[(j * dims + d, k * dims + d)] = c;
            }
        }
    }
    m
}

/// `ln|M|` of a symmetric positive-definite matrix by Cholesky.
fn ln_det_spd(m: &DMatrix<f64>, what: &str) -> Result<f64, GcError> {
    let chol = m
        .clone()
        .cholesky()
        .ok_or_else(|| GcError::NotPositiveDefinite(what.into()))?;
    Ok(2.0 * chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>())
}
