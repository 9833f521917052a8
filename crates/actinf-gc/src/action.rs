//! Action: an agent that acts on a simulated world by descending free energy
//! (active inference in generalized coordinates; the "active DEM" scheme).
//!
//! # The world and the agent
//! The generative *process* (the world, [`LinearProcess`]) has true states
//! `x` moved by the agent's action `a` and produces sensations `s`:
//!
//! ```text
//! dx/dt = A_p x + B_p a,        s = C_p x
//! ```
//!
//! (here noise-free, `w = z = 0`). The agent's generative *model* is a
//! [`LinearModel`] `x′ = A x + B η + w`, `y = C x + D η + z` with a known
//! cause `η`, the set point: its prior dynamics encode the goal, e.g.
//! `x′ = −k (x − η)` (`A = −k I`, `B = k I`). The agent never sees `x`; it
//! infers its belief `μ̃` from the generalized sensations `s̃` by the D-step
//! ([`DStep`]), and it changes `s̃` by acting. Both descend the same free
//! energy `F(s̃, μ̃)` (Friston, Daunizeau, Kilner & Kiebel 2010, "Action and
//! behavior: a free-energy formulation", Biol Cybern 102:227–260, eqs. 8–10):
//!
//! ```text
//! dμ̃/dt = Dμ̃ − ∂F/∂μ̃                          (perception: the D-step)
//! da/dt  = −∂F/∂a = −κ (∂ε̃_y/∂a)ᵀ Π̃_z ε̃_y        (action)
//! ε̃_y    = s̃(a) − (I⊗C) μ̃_x − (I⊗D) η̃,    Π̃_z = R ⊗ Πz
//! ```
//!
//! with `κ` the action gain ([`ActiveSettings::action_gain`]; `κ = 1` is the
//! pure gradient flow, `κ = 0` disables action). Only the sensory errors
//! depend on action, so the action gradient needs only `Π̃_z`, the sensory
//! block of [`DStep::generalized_precision`]. Because the model's prior
//! pulls the belief towards `η`, the agent *predicts* sensations moving
//! towards the set point, and action fulfils that prediction: the state
//! reaches `η` although the process knows nothing of it.
//!
//! # Sensitivity of the generalized sensations to action
//! The agent is assumed to know how its action changes what it senses, as in
//! SPM's `spm_ADEM` (SPM12, `dE.da = dE.dv·((dgda + dgdx·Dfdx·dfda).*R)`).
//! With the action held constant over the expansion (`a′ = a″ = … = 0`,
//! action is not generalized), the generalized motion of the linear process
//! is `x⁽ᵏ⁾ = A_p x⁽ᵏ⁻¹⁾ + B_p a·[k = 1]`, so
//!
//! ```text
//! s̃ = [C_p x, C_p x′, C_p x″, …],   x′ = A_p x + B_p a,   x⁽ᵏ⁾ = A_p^(k−1) x′
//! ∂s⁽⁰⁾/∂a = 0,   ∂s⁽ᵏ⁾/∂a = C_p A_p^(k−1) B_p   (k = 1 … n−1)
//! ∂ε̃_y/∂a = ∂s̃/∂a                                ([`action_sensitivity`])
//! ```
//!
//! This is exact for the linear process under the held-action assumption;
//! it is the approximation SPM makes (action enters through the first-order
//! motion of the states, and higher orders through the process Jacobian
//! powers). Action thus changes the *motion* of the sensations, not their
//! value: an agent without generalized coordinates (`n = 1`) could not act.
//! The generalized sensations given to the D-step are these exact
//! derivatives of the noise-free process ([`generalized_response`]), as in
//! `spm_ADEM`, where the process is itself integrated in generalized
//! coordinates.
//!
//! # Integration
//! Each sample of interval `Δt` ([`DStepSettings::dt`]):
//! 1. the agent senses `s̃(x_t, a_t)`; `F_t` and `ε̃_y` are evaluated at the
//!    belief held before this sample ([`DStep::step`] then moves the belief);
//! 2. action takes a local-linearisation step of its flow (Ozaki 1992), with
//!    the error taken as linear in `a` (curvature `H_a = Gᵀ Π̃_z G`,
//!    `G = ∂s̃/∂a`, SPM's `dVdaa`):
//!    `a_{t+1} = a_t − φ₁(−κ H_a Δt) Δt · κ Gᵀ Π̃_z ε̃_y`,
//!    `φ₁(M) = Σ_k M^k/(k+1)!` (stable for any gain; equals the Euler step as
//!    `Δt → 0`);
//! 3. the world moves over the interval with the action `a_t` held (exact
//!    zero-order-hold discretisation: `x_{t+1} = e^{A_p Δt} x_t +
//!    φ₁(A_p Δt) Δt B_p a_t`).
//!
//! A non-finite or exploding world state, action or belief stops the run with
//! [`GcError::Diverged`]; nothing non-finite is returned.

use nalgebra::{DMatrix, DVector};

use crate::dstep::{DStep, DStepSettings};
use crate::error::GcError;
use crate::linearise::expm;
use crate::model::{check_finite, check_shape, LinearModel};
use crate::model::{check_len, check_slice};
use crate::shift::kron;

/// A linear generative process (the world) `dx/dt = A_p x + B_p a`,
/// `s = C_p x` (module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearProcess {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    c: DMatrix<f64>,
}

impl LinearProcess {
    /// A process with dynamics `A_p` (`nx × nx`), action input `B_p`
    /// (`nx × na`, `na ≥ 1`) and sensor `C_p` (`ns × nx`, `ns ≥ 1`).
    ///
    /// # Errors
    /// [`GcError::Dimension`] for shapes that do not fit (or no action or no
    /// sensor), [`GcError::Value`] for a non-finite entry.
    pub fn new(a: DMatrix<f64>, b: DMatrix<f64>, c: DMatrix<f64>) -> Result<Self, GcError> {
        let nx = a.nrows();
        check_shape("A_p (process dynamics)", &a, nx, nx)?;
        if nx == 0 || b.ncols() == 0 || c.nrows() == 0 {
            return Err(GcError::Dimension {
                what: "process (A_p, B_p, C_p)".into(),
                expected: "at least one state, one action and one sensor".into(),
                got: format!("nx = {nx}, na = {}, ns = {}", b.ncols(), c.nrows()),
            });
        }
        check_shape("B_p (action input)", &b, nx, b.ncols())?;
        check_shape("C_p (process sensor)", &c, c.nrows(), nx)?;
        check_finite("A_p (process dynamics)", &a)?;
        check_finite("B_p (action input)", &b)?;
        check_finite("C_p (process sensor)", &c)?;
        Ok(Self { a, b, c })
    }

    /// `A_p`.
    pub fn a(&self) -> &DMatrix<f64> {
        &self.a
    }
    /// `B_p`.
    pub fn b(&self) -> &DMatrix<f64> {
        &self.b
    }
    /// `C_p`.
    pub fn c(&self) -> &DMatrix<f64> {
        &self.c
    }
    /// The number of states.
    pub fn nx(&self) -> usize {
        self.a.nrows()
    }
    /// The number of actions.
    pub fn na(&self) -> usize {
        self.b.ncols()
    }
    /// The number of sensors.
    pub fn ns(&self) -> usize {
        self.c.nrows()
    }
}

/// `∂s̃/∂a`, `(n·ns) × na`: block `k` is `0` for `k = 0` and
/// `C_p A_p^(k−1) B_p` for `k ≥ 1` (module docs; SPM12 `spm_ADEM`'s
/// `dgdx·Dfdx·dfda`).
pub fn action_sensitivity(process: &LinearProcess, n: usize) -> DMatrix<f64> {
    let (ns, na) = (process.ns(), process.na());
    let mut g = DMatrix::zeros(n * ns, na);
    let mut ab = process.b.clone();
    for k in 1..n {
        g.view_mut((k * ns, 0), (ns, na))
            .copy_from(&(&process.c * &ab));
        ab = &process.a * ab;
    }
    g
}

/// The generalized sensations `s̃ = [C_p x, C_p x′, …]` (`n` orders) of the
/// noise-free process at state `x` under a held action `a`:
/// `x′ = A_p x + B_p a`, `x⁽ᵏ⁾ = A_p x⁽ᵏ⁻¹⁾` for `k ≥ 2`.
///
/// # Errors
/// [`GcError::Dimension`] for `x` or `a` of the wrong length.
pub fn generalized_response(
    process: &LinearProcess,
    x: &DVector<f64>,
    a: &DVector<f64>,
    n: usize,
) -> Result<DVector<f64>, GcError> {
    check_len("x (process state)", x.len(), process.nx())?;
    check_len("a (action)", a.len(), process.na())?;
    let ns = process.ns();
    let mut s = DVector::zeros(n * ns);
    let mut xk = x.clone();
    for k in 0..n {
        s.rows_mut(k * ns, ns).copy_from(&(&process.c * &xk));
        xk = if k == 0 {
            &process.a * &xk + &process.b * a
        } else {
            &process.a * &xk
        };
    }
    Ok(s)
}

/// Settings of [`run_active_agent`].
#[derive(Debug, Clone)]
pub struct ActiveSettings {
    /// The D-step settings; their `dt` is also the step of action and of
    /// the world.
    pub dstep: DStepSettings,
    /// Action gain `κ ≥ 0` (`da/dt = −κ ∂F/∂a`); 0 disables action.
    /// Default 1.
    pub action_gain: f64,
    /// Number of samples `T ≥ 1`. Default 256.
    pub steps: usize,
    /// World states or actions larger in magnitude than this count as
    /// diverged. Default 1e8.
    pub divergence_limit: f64,
}

impl Default for ActiveSettings {
    fn default() -> Self {
        Self {
            dstep: DStepSettings::default(),
            action_gain: 1.0,
            steps: 256,
            divergence_limit: 1e8,
        }
    }
}

/// The closed-loop trajectories of [`run_active_agent`]; column (entry) `t`
/// is sample `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveTrace {
    /// True process states `x_t`, `nx_p × T`.
    pub x: DMatrix<f64>,
    /// The agent's belief about its states (order 0 of `μ̃`) held at sample
    /// `t` before sensing it, `nx × T`.
    pub belief: DMatrix<f64>,
    /// The action `a_t` applied over `[t, t + Δt)`, `na × T`.
    pub action: DMatrix<f64>,
    /// `F_t`, the Laplace free energy at sample `t` ([`DStep::step`]).
    pub free_energy: Vec<f64>,
    /// The process state after the last interval, `x_T`.
    pub final_state: DVector<f64>,
}

/// Runs an active-inference agent in closed loop with a process (module
/// docs): the agent's `model` (known causes: the set point `η`, length
/// `nv`, held constant, `η̃ = [η, 0, …]`) is inverted online by a [`DStep`]
/// from the generalized sensations of `process`, started at `x0`, while its
/// action descends the free energy. The belief starts at `μ̃ = 0` and the
/// action at 0.
///
/// # Errors
/// [`GcError::Dimension`] when the model's data channels differ from the
/// process's sensors or `x0`/`eta` have the wrong length;
/// [`GcError::Value`] for non-finite `x0`/`eta`; [`GcError::Setting`] for a
/// model with hidden causes, a negative or non-finite gain, `steps = 0`, or a
/// bad divergence limit; errors of [`DStep::new`]; [`GcError::Diverged`]
/// when the world, the action or the belief blows up.
pub fn run_active_agent(
    process: &LinearProcess,
    model: &LinearModel,
    x0: &[f64],
    eta: &[f64],
    settings: &ActiveSettings,
) -> Result<ActiveTrace, GcError> {
    if model.ny() != process.ns() {
        return Err(GcError::Dimension {
            what: "model data channels vs process sensors".into(),
            expected: format!("{} (the process's sensors)", process.ns()),
            got: model.ny().to_string(),
        });
    }
    check_len("x0 (initial process state)", x0.len(), process.nx())?;
    check_len(
        "η (set point, the model's known causes)",
        eta.len(),
        model.nv(),
    )?;
    check_slice("x0 (initial process state)", x0)?;
    check_slice("η (set point, the model's known causes)", eta)?;
    if model.infers_causes() {
        return Err(GcError::Setting {
            name: "model causes".into(),
            reason: "the set point must be a known cause (Causes::Known)".into(),
        });
    }
    let kappa = settings.action_gain;
    if !(kappa.is_finite() && kappa >= 0.0) {
        return Err(GcError::Setting {
            name: "action_gain".into(),
            reason: format!("must be finite and non-negative, got {kappa}"),
        });
    }
    if settings.steps == 0 {
        return Err(GcError::Setting {
            name: "steps".into(),
            reason: "must be at least 1".into(),
        });
    }
    let limit = settings.divergence_limit;
    if !(limit.is_finite() && limit > 0.0) {
        return Err(GcError::Setting {
            name: "divergence_limit".into(),
            reason: format!("must be finite and positive, got {limit}"),
        });
    }

    let mut agent = DStep::new(model, settings.dstep.clone())?;
    let dt = settings.dstep.dt;
    let (n, ny, nx, nv) = (model.order(), model.ny(), model.nx(), model.nv());
    let (npx, na) = (process.nx(), process.na());
    let gy = n * ny;

    // Constant operators: ε̃_y = s̃ − C̃ μ̃_x − D̃ η̃, Π̃_z, G = ∂s̃/∂a.
    let eye_n = DMatrix::<f64>::identity(n, n);
    let c_tilde = kron(&eye_n, model.c());
    let d_tilde = kron(&eye_n, model.d());
    let pi_z = agent
        .generalized_precision()
        .view((0, 0), (gy, gy))
        .clone_owned();
    let g = action_sensitivity(process, n);
    let gt_pi = g.transpose() * &pi_z;
    let h_a = &gt_pi * &g;
    // Action step operator φ₁(−κ H_a Δt) Δt (top-right block of
    // exp([[−κ H_a Δt, I Δt], [0, 0]]), Van Loan 1978).
    let mut aug = DMatrix::<f64>::zeros(2 * na, 2 * na);
    aug.view_mut((0, 0), (na, na))
        .copy_from(&(&h_a * (-kappa * dt)));
    aug.view_mut((0, na), (na, na)).fill_diagonal(dt);
    let action_step = expm(&aug)?.view((0, na), (na, na)).clone_owned() * kappa;
    // World over one interval with the action held (zero-order hold).
    let mut aug = DMatrix::<f64>::zeros(npx + na, npx + na);
    aug.view_mut((0, 0), (npx, npx))
        .copy_from(&(process.a() * dt));
    aug.view_mut((0, npx), (npx, na))
        .copy_from(&(process.b() * dt));
    let world = expm(&aug)?;
    let phi = world.view((0, 0), (npx, npx)).clone_owned();
    let gamma = world.view((0, npx), (npx, na)).clone_owned();

    let mut eta_tilde = DVector::<f64>::zeros(n * nv);
    eta_tilde.rows_mut(0, nv).copy_from_slice(eta);
    let d_eta = &d_tilde * &eta_tilde;

    let big_t = settings.steps;
    let mut trace = ActiveTrace {
        x: DMatrix::zeros(npx, big_t),
        belief: DMatrix::zeros(nx, big_t),
        action: DMatrix::zeros(na, big_t),
        free_energy: Vec::with_capacity(big_t),
        final_state: DVector::zeros(npx),
    };
    let mut x = DVector::from_column_slice(x0);
    let mut a = DVector::<f64>::zeros(na);
    for t in 0..big_t {
        trace.x.column_mut(t).copy_from(&x);
        trace.action.column_mut(t).copy_from(&a);
        trace
            .belief
            .column_mut(t)
            .copy_from_slice(&agent.state()[..nx]);
        let s = generalized_response(process, &x, &a, n)?;
        let mu_x = DVector::from_column_slice(&agent.state()[..n * nx]);
        let eps_y = &s - &c_tilde * mu_x - &d_eta;
        let f = agent
            .step(s.as_slice(), eta_tilde.as_slice())
            .map_err(|e| match e {
                GcError::Diverged { reason, .. } => GcError::Diverged {
                    step: t,
                    reason: format!("the belief: {reason}"),
                },
                other => other,
            })?;
        trace.free_energy.push(f);
        let a_held = a.clone();
        a -= &action_step * (&gt_pi * eps_y);
        x = &phi * &x + &gamma * a_held;
        let worst = x.iter().chain(a.iter()).fold(0.0f64, |m, v| m.max(v.abs()));
        if !(worst.is_finite() && worst <= limit) {
            return Err(GcError::Diverged {
                step: t,
                reason: format!(
                    "the world state or the action reached magnitude {worst:.3e} \
                     (limit {limit:.3e})"
                ),
            });
        }
    }
    trace.final_state = x;
    Ok(trace)
}
