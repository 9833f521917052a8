//! Nonlinear dynamic models and their D-step.
//!
//! A [`NonlinearModel`] is the single-level nonlinear case of the hierarchical
//! dynamic model (Friston 2008, "Hierarchical models in the brain", eq. 1):
//!
//! ```text
//! x′ = f(x, v) + w,        w ~ smooth noise with precision Πw
//! y  = g(x, v) + z,        z ~ smooth noise with precision Πz
//! ```
//!
//! with `f` and `g` given as Rust closures and the causes `v` known inputs
//! (embedded from a given time series, as [`crate::model::Causes::Known`]).
//! Their Jacobians are analytic when given
//! ([`NonlinearModel::with_flow_jacobian`],
//! [`NonlinearModel::with_observation_jacobian`]) and central finite
//! differences otherwise, with the step `h_i = ε^(1/3) · max(1, |u_i|)`
//! (`ε` = [`f64::EPSILON`], so `h ≈ 6.1e-6` per unit of the argument `u_i`):
//! it balances the `O(h²)` truncation error against the `O(ε/h)` rounding
//! error, leaving a relative error near `ε^(2/3) ≈ 4e-11` for a smooth
//! function.
//!
//! # Generalized errors, local linearisation of `f` and `g`
//! At each sample the model is linearised around the current expectation
//! `μ̃ = x̃ = [x, x′, …, x⁽ⁿ⁻¹⁾]` and the known `ṽ`, and the generalized
//! motion of `f` and `g` is that of the linearisation (as SPM12's
//! `spm_DEM_diff`; Friston, Trujillo-Barreto & Daunizeau 2008, "DEM: a
//! variational treatment of dynamic systems", eq. 5):
//!
//! ```text
//! f̃ = [f(x, v), J_fx x′ + J_fv v′, …, J_fx x⁽ⁿ⁻¹⁾ + J_fv v⁽ⁿ⁻¹⁾]
//! g̃ = [g(x, v), J_gx x′ + J_gv v′, …]
//! ε̃_y = ỹ − g̃,    ε̃_x = D x̃ − f̃,    Π̃ = blockdiag(R⊗Πz, R⊗Πw)
//! ```
//!
//! with `D` the block shift ([`crate::shift::derivative_operator`]) and `R`
//! the temporal precision ([`crate::precision::temporal_precision`]). As in
//! [`crate::dstep`], the top-order state error keeps its `−f̃⁽ⁿ⁻¹⁾` (SPM's
//! `spm_DEM_eval` zeroes it). The gradient and curvature of the Laplace free
//! energy are the Gauss–Newton ones (second derivatives of `f` and `g`
//! dropped, as SPM):
//!
//! ```text
//! ε̃_μ = ∂ε̃/∂x̃ = [−I⊗J_gx; D − I⊗J_fx],   ∂F/∂μ̃ = ε̃_μᵀ Π̃ ε̃,   H = ε̃_μᵀ Π̃ ε̃_μ
//! F(t) = ½ ε̃ᵀ Π̃ ε̃ − ½ ln|Π̃| + ½ ln|H| + (n·ny/2) ln 2π
//! ```
//!
//! `ln|H|` is taken from the eigenvalues of `H`, each floored at `1e-15` of
//! the largest (`H` can be very badly conditioned: SPM's Lorenz demo has
//! `Πw = e¹⁶` and `s = 1/8`).
//!
//! # Flow
//! The expectation follows `dμ̃/dt = Dμ̃ − ∂F/∂μ̃` (Friston et al. 2010,
//! "Generalised filtering", eq. 8). As `spm_DEM`'s D-step, and
//! [`crate::dstep::DataMotion::Shift`], the state is augmented with the data,
//! `z = [μ̃; ỹ; ṽ]`, which move as `dỹ/dt = Dỹ`, `dṽ/dt = Dṽ`; the augmented
//! flow and its Jacobian
//!
//! ```text
//! J = [[D − H, −ε̃_μᵀ Π̃ ∂ε̃/∂ỹ, −ε̃_μᵀ Π̃ ∂ε̃/∂ṽ], [0, D, 0], [0, 0, D]]
//! ```
//!
//! are re-evaluated at every sample and integrated over `Δt` by one
//! [`crate::linearise::local_linearisation_step`]; the data are re-embedded
//! ([`crate::embed::embed`], window centred on the sample as SPM's) at the
//! next sample. For a linear `f` and `g` this is exactly the D-step of
//! [`crate::dstep::DStep`] with [`crate::dstep::Window::Sample`] and
//! [`crate::dstep::DataMotion::Shift`] (a test checks it).
//!
//! # Divergence
//! A closure that returns a value of the wrong length is a
//! [`GcError::Dimension`]; one that returns NaN or an infinity, a step that
//! overflows, or a state whose magnitude exceeds
//! [`NonlinearSettings::divergence_limit`] × (1 + the largest input
//! magnitude so far) stops the integration with [`GcError::Diverged`].

use nalgebra::{DMatrix, DVector};

use crate::embed::{embed, Embedding};
use crate::error::GcError;
use crate::linearise::local_linearisation_step;
use crate::model::{check_finite, check_precision, check_shape};
use crate::precision::{temporal_precision, DEFAULT_ORDER, DEFAULT_SMOOTHNESS};
use crate::shift::{derivative_operator, kron};

/// A function of the states and causes, `(x, v) ↦ f(x, v)` or `g(x, v)`.
pub type ModelFn = Box<dyn Fn(&DVector<f64>, &DVector<f64>) -> DVector<f64> + Send + Sync>;

/// The Jacobians of a [`ModelFn`]: `(x, v) ↦ (∂·/∂x, ∂·/∂v)`.
pub type JacobianFn =
    Box<dyn Fn(&DVector<f64>, &DVector<f64>) -> (DMatrix<f64>, DMatrix<f64>) + Send + Sync>;

/// A nonlinear dynamic model `x′ = f(x, v) + w`, `y = g(x, v) + z` with
/// smooth Gaussian noise and known causes (see the
/// [module documentation](self)).
pub struct NonlinearModel {
    f: ModelFn,
    g: ModelFn,
    jf: Option<JacobianFn>,
    jg: Option<JacobianFn>,
    nx: usize,
    nv: usize,
    ny: usize,
    pi_z: DMatrix<f64>,
    pi_w: DMatrix<f64>,
    s: f64,
    n: usize,
}

impl std::fmt::Debug for NonlinearModel {
    fn fmt(&self, fmt: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fmt.debug_struct("NonlinearModel")
            .field("nx", &self.nx)
            .field("nv", &self.nv)
            .field("ny", &self.ny)
            .field("analytic_flow_jacobian", &self.jf.is_some())
            .field("analytic_observation_jacobian", &self.jg.is_some())
            .field("pi_z", &self.pi_z)
            .field("pi_w", &self.pi_w)
            .field("s", &self.s)
            .field("n", &self.n)
            .finish()
    }
}

impl NonlinearModel {
    /// A model with `nx ≥ 1` states, `nv ≥ 0` known causes and `ny ≥ 1` data
    /// channels; `f` maps `(x, v)` to `nx` values, `g` to `ny`; `Πz`
    /// (`ny × ny`) and `Πw` (`nx × nx`) are the noise precisions. Smoothness
    /// [`DEFAULT_SMOOTHNESS`] and order [`DEFAULT_ORDER`] until changed.
    ///
    /// # Errors
    /// [`GcError::Dimension`] for `nx = 0`, `ny = 0` or precisions of the
    /// wrong shape; [`GcError::Value`] / [`GcError::NotPositiveDefinite`] for
    /// a precision that is not finite, symmetric and positive definite.
    pub fn new(
        nx: usize,
        nv: usize,
        ny: usize,
        f: ModelFn,
        g: ModelFn,
        pi_z: DMatrix<f64>,
        pi_w: DMatrix<f64>,
    ) -> Result<Self, GcError> {
        if nx == 0 || ny == 0 {
            return Err(GcError::Dimension {
                what: "nonlinear model (nx, ny)".into(),
                expected: "at least one state and one data channel".into(),
                got: format!("nx = {nx}, ny = {ny}"),
            });
        }
        check_shape("Πz (observation-noise precision)", &pi_z, ny, ny)?;
        check_shape("Πw (state-noise precision)", &pi_w, nx, nx)?;
        check_precision("Πz (observation-noise precision)", &pi_z)?;
        check_precision("Πw (state-noise precision)", &pi_w)?;
        Ok(Self {
            f,
            g,
            jf: None,
            jg: None,
            nx,
            nv,
            ny,
            pi_z,
            pi_w,
            s: DEFAULT_SMOOTHNESS,
            n: DEFAULT_ORDER,
        })
    }

    /// Gives the analytic Jacobians of `f`: `(x, v) ↦ (∂f/∂x (nx × nx),
    /// ∂f/∂v (nx × nv))`.
    pub fn with_flow_jacobian(mut self, jf: JacobianFn) -> Self {
        self.jf = Some(jf);
        self
    }

    /// Gives the analytic Jacobians of `g`: `(x, v) ↦ (∂g/∂x (ny × nx),
    /// ∂g/∂v (ny × nv))`.
    pub fn with_observation_jacobian(mut self, jg: JacobianFn) -> Self {
        self.jg = Some(jg);
        self
    }

    /// Sets the smoothness `s > 0` of both noises (time units).
    ///
    /// # Errors
    /// [`GcError::Setting`] unless `s` is finite and positive.
    pub fn with_smoothness(mut self, s: f64) -> Result<Self, GcError> {
        self.s = crate::model::check_smoothness(s)?;
        Ok(self)
    }

    /// Sets the embedding order `n` (orders `x … x⁽ⁿ⁻¹⁾`; SPM's `E.n + 1`).
    ///
    /// # Errors
    /// [`GcError::Setting`] if `n = 0` or `n >` [`MAX_ORDER`](crate::precision::MAX_ORDER).
    pub fn with_order(mut self, n: usize) -> Result<Self, GcError> {
        self.n = crate::model::check_order(n)?;
        Ok(self)
    }

    /// Number of states `nx`.
    pub fn nx(&self) -> usize {
        self.nx
    }
    /// Number of (known) causes `nv`.
    pub fn nv(&self) -> usize {
        self.nv
    }
    /// Number of data channels `ny`.
    pub fn ny(&self) -> usize {
        self.ny
    }
    /// The embedding order `n`.
    pub fn order(&self) -> usize {
        self.n
    }
    /// The noise smoothness `s`.
    pub fn smoothness(&self) -> f64 {
        self.s
    }

    /// `f(x, v)`, checked (length `nx`, finite).
    ///
    /// # Errors
    /// [`GcError::Dimension`] for arguments or a result of the wrong length,
    /// [`GcError::Value`] for a non-finite result.
    pub fn flow(&self, x: &DVector<f64>, v: &DVector<f64>) -> Result<DVector<f64>, GcError> {
        self.check_args(x, v)?;
        checked_call("f(x, v)", &self.f, x, v, self.nx)
    }

    /// `g(x, v)`, checked (length `ny`, finite).
    ///
    /// # Errors
    /// As [`NonlinearModel::flow`].
    pub fn observe(&self, x: &DVector<f64>, v: &DVector<f64>) -> Result<DVector<f64>, GcError> {
        self.check_args(x, v)?;
        checked_call("g(x, v)", &self.g, x, v, self.ny)
    }

    /// `(∂f/∂x, ∂f/∂v)` at `(x, v)`: analytic when given, else central
    /// differences (module docs).
    ///
    /// # Errors
    /// As [`NonlinearModel::flow`], and [`GcError::Dimension`] /
    /// [`GcError::Value`] for analytic Jacobians of the wrong shape or not
    /// finite.
    pub fn flow_jacobians(
        &self,
        x: &DVector<f64>,
        v: &DVector<f64>,
    ) -> Result<(DMatrix<f64>, DMatrix<f64>), GcError> {
        self.check_args(x, v)?;
        jacobians("f", &self.f, self.jf.as_ref(), x, v, self.nx)
    }

    /// `(∂g/∂x, ∂g/∂v)` at `(x, v)`: analytic when given, else central
    /// differences (module docs).
    ///
    /// # Errors
    /// As [`NonlinearModel::flow_jacobians`].
    pub fn observation_jacobians(
        &self,
        x: &DVector<f64>,
        v: &DVector<f64>,
    ) -> Result<(DMatrix<f64>, DMatrix<f64>), GcError> {
        self.check_args(x, v)?;
        jacobians("g", &self.g, self.jg.as_ref(), x, v, self.ny)
    }

    fn check_args(&self, x: &DVector<f64>, v: &DVector<f64>) -> Result<(), GcError> {
        check_len("x (states)", x.len(), self.nx)?;
        check_len("v (causes)", v.len(), self.nv)
    }
}

fn checked_call(
    what: &str,
    func: &ModelFn,
    x: &DVector<f64>,
    v: &DVector<f64>,
    len: usize,
) -> Result<DVector<f64>, GcError> {
    let out = func(x, v);
    check_len(what, out.len(), len)?;
    check_finite(what, &DMatrix::from_column_slice(len, 1, out.as_slice()))?;
    Ok(out)
}

/// Central-difference step for an argument of size `u`: `ε^(1/3)·max(1, |u|)`.
fn fd_step(u: f64) -> f64 {
    f64::EPSILON.cbrt() * u.abs().max(1.0)
}

fn jacobians(
    name: &str,
    func: &ModelFn,
    analytic: Option<&JacobianFn>,
    x: &DVector<f64>,
    v: &DVector<f64>,
    rows: usize,
) -> Result<(DMatrix<f64>, DMatrix<f64>), GcError> {
    if let Some(j) = analytic {
        let (jx, jv) = j(x, v);
        let wx = format!("∂{name}/∂x");
        let wv = format!("∂{name}/∂v");
        check_shape(&wx, &jx, rows, x.len())?;
        check_shape(&wv, &jv, rows, v.len())?;
        check_finite(&wx, &jx)?;
        check_finite(&wv, &jv)?;
        return Ok((jx, jv));
    }
    let what = format!("{name}(x, v) in a finite difference");
    let mut jx = DMatrix::zeros(rows, x.len());
    let mut xp = x.clone();
    for i in 0..x.len() {
        let h = fd_step(x[i]);
        xp[i] = x[i] + h;
        let up = checked_call(&what, func, &xp, v, rows)?;
        xp[i] = x[i] - h;
        let down = checked_call(&what, func, &xp, v, rows)?;
        xp[i] = x[i];
        jx.set_column(i, &((up - down) / (2.0 * h)));
    }
    let mut jv = DMatrix::zeros(rows, v.len());
    let mut vp = v.clone();
    for i in 0..v.len() {
        let h = fd_step(v[i]);
        vp[i] = v[i] + h;
        let up = checked_call(&what, func, x, &vp, rows)?;
        vp[i] = v[i] - h;
        let down = checked_call(&what, func, x, &vp, rows)?;
        vp[i] = v[i];
        jv.set_column(i, &((up - down) / (2.0 * h)));
    }
    Ok((jx, jv))
}

/// Settings of the nonlinear D-step.
#[derive(Debug, Clone)]
pub struct NonlinearSettings {
    /// Sampling interval `Δt`. Default 1.
    pub dt: f64,
    /// How the data are embedded ([`NonlinearDStep::run`]). Default
    /// [`Embedding::Centred`], SPM's.
    pub embedding: Embedding,
    /// States larger in magnitude than this times (1 + the largest input
    /// magnitude so far) count as diverged. Default 1e8.
    pub divergence_limit: f64,
}

impl Default for NonlinearSettings {
    fn default() -> Self {
        Self {
            dt: 1.0,
            embedding: Embedding::Centred,
            divergence_limit: 1e8,
        }
    }
}

/// The trajectory of a nonlinear D-step pass ([`NonlinearDStep::run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NonlinearTrace {
    /// Conditional expectation of `x` (order 0), `nx × T`; column `t` is held
    /// at sample `t` before that sample is assimilated (SPM's `qU.x`).
    pub x: DMatrix<f64>,
    /// The generalized expectation `x̃`, `n·nx × T`, same convention.
    pub generalized: DMatrix<f64>,
    /// `F(t)`, the Laplace free energy at each sample (module docs).
    pub free_energy: Vec<f64>,
}

/// The D-step of a [`NonlinearModel`]: its generalized precision, shift
/// operators and current expectation `x̃`.
#[derive(Debug)]
pub struct NonlinearDStep<'m> {
    model: &'m NonlinearModel,
    settings: NonlinearSettings,
    /// `Π̃ = blockdiag(R⊗Πz, R⊗Πw)`.
    precision: DMatrix<f64>,
    dx: DMatrix<f64>,
    dy: DMatrix<f64>,
    dv: DMatrix<f64>,
    /// `−½ ln|Π̃| + (n·ny/2) ln 2π`.
    f_constant: f64,
    mu: DVector<f64>,
    input_scale: f64,
    steps: usize,
}

impl<'m> NonlinearDStep<'m> {
    /// Builds the D-step; the expectation starts at zero
    /// ([`NonlinearDStep::set_state`] changes it).
    ///
    /// # Errors
    /// [`GcError::Setting`] for a bad `Δt` or divergence limit, and the
    /// errors of [`temporal_precision`].
    pub fn new(model: &'m NonlinearModel, settings: NonlinearSettings) -> Result<Self, GcError> {
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
        let (nx, nv, ny, n) = (model.nx, model.nv, model.ny, model.n);
        let tp = temporal_precision(n, model.s)?;
        let (gx, gy) = (n * nx, n * ny);
        let mut precision = DMatrix::zeros(gy + gx, gy + gx);
        precision
            .view_mut((0, 0), (gy, gy))
            .copy_from(&kron(&tp.r, &model.pi_z));
        precision
            .view_mut((gy, gy), (gx, gx))
            .copy_from(&kron(&tp.r, &model.pi_w));
        let ln_det_pi = ln_det_spd(&tp.r, "R (temporal precision)")? * (nx + ny) as f64
            + n as f64 * (ln_det_spd(&model.pi_z, "Πz")? + ln_det_spd(&model.pi_w, "Πw")?);
        Ok(Self {
            model,
            settings,
            precision,
            dx: derivative_operator(n, nx),
            dy: derivative_operator(n, ny),
            dv: derivative_operator(n, nv),
            f_constant: -0.5 * ln_det_pi + 0.5 * gy as f64 * (2.0 * std::f64::consts::PI).ln(),
            mu: DVector::zeros(gx),
            input_scale: 0.0,
            steps: 0,
        })
    }

    /// The generalized expectation `x̃ = [x, x′, …]` (order-major).
    pub fn state(&self) -> &[f64] {
        self.mu.as_slice()
    }

    /// Sets `x̃` (length `n·nx`) and restarts the step count and the input
    /// scale of the divergence test.
    ///
    /// # Errors
    /// [`GcError::Dimension`] for a wrong length, [`GcError::Value`] for a
    /// non-finite entry.
    pub fn set_state(&mut self, mu: &[f64]) -> Result<(), GcError> {
        check_len("x̃ (generalized states)", mu.len(), self.mu.len())?;
        check_finite(
            "x̃ (generalized states)",
            &DMatrix::from_column_slice(mu.len(), 1, mu),
        )?;
        self.mu.copy_from_slice(mu);
        self.steps = 0;
        self.input_scale = 0.0;
        Ok(())
    }

    /// One sampling interval given generalized data `ỹ` (length `n·ny`) and
    /// generalized causes `ṽ` (length `n·nv`): returns `F` at the current
    /// expectation, then moves it by one local-linearisation step of
    /// `dμ̃/dt = Dμ̃ − ∂F/∂μ̃` (module docs).
    ///
    /// # Errors
    /// [`GcError::Dimension`] / [`GcError::Value`] for bad inputs or
    /// closures returning the wrong length; [`GcError::Diverged`] when a
    /// closure returns a non-finite value, the step overflows, or the state
    /// explodes (the expectation is then left as it was).
    pub fn step(&mut self, y_tilde: &[f64], v_tilde: &[f64]) -> Result<f64, GcError> {
        let m = self.model;
        let (nx, nv, ny, n) = (m.nx, m.nv, m.ny, m.n);
        let (gx, gv, gy) = (n * nx, n * nv, n * ny);
        check_len("ỹ (generalized data)", y_tilde.len(), gy)?;
        check_len("ṽ (generalized causes)", v_tilde.len(), gv)?;
        let y_t = DVector::from_column_slice(y_tilde);
        let v_t = DVector::from_column_slice(v_tilde);
        check_finite(
            "ỹ (generalized data)",
            &DMatrix::from_column_slice(gy, 1, y_tilde),
        )?;
        check_finite(
            "ṽ (generalized causes)",
            &DMatrix::from_column_slice(gv, 1, v_tilde),
        )?;
        self.input_scale = self.input_scale.max(y_t.amax()).max(v_t.amax());
        let step = self.steps;
        let diverged = |e: GcError| match e {
            GcError::Value { .. } => GcError::Diverged {
                step,
                reason: e.to_string(),
            },
            other => other,
        };

        let x0 = DVector::from_column_slice(&self.mu.as_slice()[..nx]);
        let v0 = DVector::from_column_slice(&v_tilde[..nv]);
        let f0 = m.flow(&x0, &v0).map_err(diverged)?;
        let g0 = m.observe(&x0, &v0).map_err(diverged)?;
        let (jfx, jfv) = m.flow_jacobians(&x0, &v0).map_err(diverged)?;
        let (jgx, jgv) = m.observation_jacobians(&x0, &v0).map_err(diverged)?;

        // Generalized predictions: order 0 from f and g, higher orders from
        // their linearisation (spm_DEM_diff).
        let eye_n = DMatrix::<f64>::identity(n, n);
        let (ifx, ifv, igx, igv) = (
            kron(&eye_n, &jfx),
            kron(&eye_n, &jfv),
            kron(&eye_n, &jgx),
            kron(&eye_n, &jgv),
        );
        let mut f_t = &ifx * &self.mu + &ifv * &v_t;
        let mut g_t = &igx * &self.mu + &igv * &v_t;
        f_t.rows_mut(0, nx).copy_from(&f0);
        g_t.rows_mut(0, ny).copy_from(&g0);

        // ε̃ = [ε̃_y; ε̃_x] and its derivatives.
        let ne = gy + gx;
        let mut eps = DVector::zeros(ne);
        eps.rows_mut(0, gy).copy_from(&(&y_t - &g_t));
        eps.rows_mut(gy, gx)
            .copy_from(&(&self.dx * &self.mu - &f_t));
        let mut e_u = DMatrix::zeros(ne, gx);
        e_u.view_mut((0, 0), (gy, gx)).copy_from(&(-&igx));
        e_u.view_mut((gy, 0), (gx, gx))
            .copy_from(&(&self.dx - &ifx));
        let mut e_v = DMatrix::zeros(ne, gv);
        e_v.view_mut((0, 0), (gy, gv)).copy_from(&(-&igv));
        e_v.view_mut((gy, 0), (gx, gv)).copy_from(&(-&ifv));

        let weighted = &self.precision * &eps;
        let eu_pi = e_u.transpose() * &self.precision;
        let mut h = &eu_pi * &e_u;
        h = (&h + h.transpose()) * 0.5;
        let free_energy = 0.5 * eps.dot(&weighted) + 0.5 * ln_det_floored(&h) + self.f_constant;

        // Augmented flow z = [x̃; ỹ; ṽ] and its Jacobian.
        let nz = gx + gy + gv;
        let mut fz = DVector::zeros(nz);
        fz.rows_mut(0, gx)
            .copy_from(&(&self.dx * &self.mu - e_u.transpose() * &weighted));
        fz.rows_mut(gx, gy).copy_from(&(&self.dy * &y_t));
        fz.rows_mut(gx + gy, gv).copy_from(&(&self.dv * &v_t));
        let mut jz = DMatrix::zeros(nz, nz);
        jz.view_mut((0, 0), (gx, gx)).copy_from(&(&self.dx - &h));
        // ∂ε̃/∂ỹ = [I; 0]: the block is −(ε̃_μᵀ Π̃) restricted to the ε̃_y rows.
        jz.view_mut((0, gx), (gx, gy))
            .copy_from(&(-eu_pi.columns(0, gy)));
        jz.view_mut((0, gx + gy), (gx, gv))
            .copy_from(&(-(&eu_pi * &e_v)));
        jz.view_mut((gx, gx), (gy, gy)).copy_from(&self.dy);
        jz.view_mut((gx + gy, gx + gy), (gv, gv))
            .copy_from(&self.dv);

        let dz = local_linearisation_step(&jz, &fz, self.settings.dt).map_err(diverged)?;
        let next = &self.mu + dz.rows(0, gx);
        let limit = self.settings.divergence_limit * (1.0 + self.input_scale);
        if let Some((i, &value)) = next
            .iter()
            .enumerate()
            .find(|(_, x)| !x.is_finite() || x.abs() > limit)
        {
            return Err(GcError::Diverged {
                step,
                reason: format!(
                    "generalized state {i} became {value:e} (limit {limit:e}): the \
                     expectation explodes"
                ),
            });
        }
        if !free_energy.is_finite() {
            return Err(GcError::Diverged {
                step,
                reason: format!("the free energy is {free_energy}"),
            });
        }
        self.mu = next;
        self.steps += 1;
        Ok(free_energy)
    }

    /// A pass over the record `y` (`ny × T`) with known causes `v`
    /// (`nv × T`; `0 × T` or `0 × 0` when `nv = 0`): at each sample, embeds
    /// `ỹ(t)` and `ṽ(t)` ([`embed`], [`NonlinearSettings::embedding`]) and
    /// calls [`NonlinearDStep::step`].
    ///
    /// # Errors
    /// [`GcError::Dimension`] for records of the wrong shape, the errors of
    /// [`embed`] and of [`NonlinearDStep::step`].
    pub fn run(&mut self, y: &DMatrix<f64>, v: &DMatrix<f64>) -> Result<NonlinearTrace, GcError> {
        let m = self.model;
        let (nx, nv, ny, n) = (m.nx, m.nv, m.ny, m.n);
        let big_t = y.ncols();
        check_len("y (data) rows", y.nrows(), ny)?;
        if nv > 0 {
            check_shape("v (causes)", v, nv, big_t)?;
        }
        let (dt, mode) = (self.settings.dt, self.settings.embedding);
        let mut generalized = DMatrix::zeros(n * nx, big_t);
        let mut free_energy = Vec::with_capacity(big_t);
        for t in 0..big_t {
            generalized.set_column(t, &self.mu);
            let y_t = embed(y, n, t, dt, mode)?;
            let v_t = if nv > 0 {
                embed(v, n, t, dt, mode)?
            } else {
                DVector::zeros(0)
            };
            free_energy.push(self.step(y_t.as_slice(), v_t.as_slice())?);
        }
        Ok(NonlinearTrace {
            x: generalized.rows(0, nx).clone_owned(),
            generalized,
            free_energy,
        })
    }
}

fn check_len(what: &str, got: usize, expected: usize) -> Result<(), GcError> {
    if got != expected {
        return Err(GcError::Dimension {
            what: what.into(),
            expected: format!("length {expected}"),
            got: format!("length {got}"),
        });
    }
    Ok(())
}

fn ln_det_spd(m: &DMatrix<f64>, what: &str) -> Result<f64, GcError> {
    let chol = m
        .clone()
        .cholesky()
        .ok_or_else(|| GcError::NotPositiveDefinite(what.into()))?;
    Ok(2.0 * chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>())
}

/// `ln|H|` of a symmetric positive semi-definite matrix from its eigenvalues,
/// each floored at `1e-15` of the largest.
fn ln_det_floored(h: &DMatrix<f64>) -> f64 {
    if h.nrows() == 0 {
        return 0.0;
    }
    let eig = h.clone().symmetric_eigenvalues();
    let top = eig.amax().max(f64::MIN_POSITIVE);
    eig.iter().map(|l| l.max(1e-15 * top).ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_differences_match_analytic_jacobians() {
        let f: ModelFn = Box::new(|x, v| {
            DVector::from_vec(vec![
                x[0].sin() * x[1] + v[0] * v[0],
                x[1].exp() - x[0] * v[0],
            ])
        });
        let g: ModelFn = Box::new(|x, _| DVector::from_vec(vec![x[0] * x[1]]));
        let m = NonlinearModel::new(
            2,
            1,
            1,
            f,
            g,
            DMatrix::identity(1, 1),
            DMatrix::identity(2, 2),
        )
        .unwrap();
        let x = DVector::from_vec(vec![0.7, -1.3]);
        let v = DVector::from_vec(vec![2.5]);
        let (jx, jv) = m.flow_jacobians(&x, &v).unwrap();
        let ax = DMatrix::from_row_slice(2, 2, &[x[0].cos() * x[1], x[0].sin(), -v[0], x[1].exp()]);
        let av = DMatrix::from_row_slice(2, 1, &[2.0 * v[0], -x[0]]);
        assert!((jx - ax).amax() < 1e-9);
        assert!((jv - av).amax() < 1e-9);
        let (gx, gv) = m.observation_jacobians(&x, &v).unwrap();
        assert!((gx - DMatrix::from_row_slice(1, 2, &[x[1], x[0]])).amax() < 1e-9);
        assert_eq!(gv.shape(), (1, 1));
    }

    #[test]
    fn non_finite_closures_are_divergence_not_nan() {
        let f: ModelFn = Box::new(|x, _| x.map(|u| if u > 2.0 { f64::NAN } else { u }));
        let g: ModelFn = Box::new(|x, _| DVector::from_element(1, x[0]));
        let m = NonlinearModel::new(
            1,
            0,
            1,
            f,
            g,
            DMatrix::identity(1, 1),
            DMatrix::identity(1, 1),
        )
        .unwrap();
        let mut d = NonlinearDStep::new(&m, NonlinearSettings::default()).unwrap();
        let mut mu = vec![0.0; m.order()];
        mu[0] = 3.0;
        d.set_state(&mu).unwrap();
        let e = d.step(&vec![0.0; m.order()], &[]).unwrap_err();
        assert!(matches!(e, GcError::Diverged { step: 0, .. }), "{e}");
        assert_eq!(d.state()[0], 3.0);
        let e = d.step(&[0.0], &[]).unwrap_err();
        assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    }
}
