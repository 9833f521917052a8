//! Marginal message passing (MMP) over a window of time points.
//!
//! Why this scheme: an agent that plans needs beliefs about the recent past
//! and the near future *under each policy*, not only a filtered belief about
//! the present. Marginal message passing (Parr, Markovic, Kiebel & Friston
//! 2019, "Neuronal message passing using Mean-field, Bethe, and Marginal
//! approximations", Sci. Rep. 9:1889) gets them with purely local updates:
//! each marginal `q(s_f,τ)` listens to its likelihood, to a forward message
//! from `τ−1` and to a backward message from `τ+1`, and takes a gradient step
//! on its log. It is the scheme of SPM's `spm_MDP_VB_X` (the "marginal"
//! approximation, Parr et al. 2019, eq. 11–13), and it is what the SPM
//! fixtures `mmp_*.json` and `vbx_test_1a.json` pin.
//!
//! ## The update
//!
//! For window point τ and factor f, with `ln` the configured [`LogGuard`]:
//!
//! ```text
//! ln q̃        = ln E_{q(s_{\f,τ})}[ L_τ(s) ]                      (likelihood, observed τ only)
//! ln p_fwd    = ln( B_f[u_{τ−1}] q(s_f,τ−1) )                      (ln D_f or the window prior at τ = first)
//! ln p_bwd    = ln( B̃_f[u_τ] q(s_f,τ+1) ),  B̃ = colnorm(Bᵀ)        (only where a backward message is sent)
//! v           = (ln p_fwd + ln q̃ − ln q) + (ln p_bwd + ln q̃ − ln q)
//! ln q        ← ln q + τ_rate · (v − mean v),   q ← softmax(ln q)
//! ```
//!
//! `L_τ(s) = Π_g A_g[o_g,τ, s]` is the joint likelihood over all factors. The
//! updates run point by point from the start of the window and, at each point,
//! factor by factor; each update sees the factors already updated at that
//! point (a Gauss–Seidel sweep, as SPM does; a Jacobi sweep differs by about
//! 1e-3 on the fixtures).
//!
//! ## The free energy
//!
//! Before each update the point contributes `q·(v/2)` (at the first time point
//! of the whole trial and at the last point of the window) or
//! `q·(v/2 − (N_f−1)/N_f · ln q̃)` (elsewhere, which removes the likelihood
//! counted twice by the two messages and shared between factors). The sum over
//! the window is SPM's `F` for the policy: a *negative* free energy (an
//! evidence bound, larger is better), evaluated at the marginals entering each
//! iteration, so the value returned belongs to the beliefs before the last
//! update, exactly as SPM reports it.
//!
//! ## Per-policy use
//!
//! Call [`marginal_message_passing`] once per policy with that policy's
//! actions over the window and its own [`WindowBeliefs`]; the returned `F`
//! per policy enters the policy posterior (`q(π) = σ(γ·Q + F)` in SPM). The
//! closed loop of [`crate::spm::VbxLoop`] does exactly this.

use actinf_core::maths::softmax_in_place;
use actinf_core::tensor::{dot, dot_except, ContractBuffers};
use actinf_core::{LogGuard, Tensor};

use crate::control::TransitionsByControl;
use crate::error::PomdpError;
use crate::validate::{check_entries, check_probabilities, check_vector};

/// SPM's `spm_log` guard in the MDP routines: `ln(x + 1e-16)`.
pub const SPM_LOG_GUARD: LogGuard = LogGuard::Add(1e-16);

/// Transition arrays prepared for message passing, per factor and control:
/// `B_f[u]` for forward messages and `B̃_f[u] = colnorm(B_f[u]ᵀ)` for backward
/// messages (SPM's `b_t`).
///
/// `colnorm` divides each column by its sum; a column summing to zero becomes
/// uniform (SPM's `spm_norm` turns its NaNs into `1/n`). Build once per model
/// and reuse across time steps and policies.
#[derive(Debug, Clone)]
pub struct MmpTransitions {
    num_states: Vec<usize>,
    num_controls: Vec<usize>,
    forward: TransitionsByControl,
    /// `backward[f][u]`: `[n_f, n_f]` row-major, `B̃[s, s']`.
    backward: Vec<Vec<Vec<f64>>>,
}

impl MmpTransitions {
    /// Validate and prepare `B`: one array per factor, each of shape
    /// `[n_f, n_f, num_controls_f]` (`B[next, previous, u]`, row-major),
    /// finite, non-negative, with columns `B[:, s, u]` summing to one.
    pub fn new(b: &[Tensor]) -> Result<Self, PomdpError> {
        if b.is_empty() {
            return Err(PomdpError::Missing { array: "B" });
        }
        let mut num_states = Vec::with_capacity(b.len());
        let mut num_controls = Vec::with_capacity(b.len());
        for (f, t) in b.iter().enumerate() {
            let shape = t.shape();
            if shape.len() != 3 || shape[0] != shape[1] {
                let n = shape.first().copied().unwrap_or(1);
                let nu = if shape.len() == 3 { shape[2] } else { 1 };
                return Err(PomdpError::Shape {
                    array: "B",
                    index: f,
                    expected: vec![n, n, nu],
                    got: shape.to_vec(),
                });
            }
            check_probabilities("B", f, t)?;
            num_states.push(shape[0]);
            num_controls.push(shape[2]);
        }
        let forward = TransitionsByControl::new(b);
        let backward = forward
            .by_control
            .iter()
            .zip(&num_states)
            .map(|(per_u, &n)| {
                per_u
                    .iter()
                    .map(|bu| transpose_normalise(bu.data(), n))
                    .collect()
            })
            .collect();
        Ok(Self {
            num_states,
            num_controls,
            forward,
            backward,
        })
    }

    /// Prepare transitions from Dirichlet counts `b` as `spm_MDP_VB_X` does
    /// when it learns them: forward messages through `colnorm(b)`, backward
    /// messages through `colnorm(bᵀ)` of the *counts* (SPM's
    /// `rB = spm_norm(b')`, which differs from `colnorm(colnorm(b)ᵀ)` whenever
    /// the columns of `b` have different totals). Same shapes as
    /// [`MmpTransitions::new`]; entries finite and non-negative, a column or
    /// row summing to zero becomes uniform.
    pub fn from_counts(b: &[Tensor]) -> Result<Self, PomdpError> {
        if b.is_empty() {
            return Err(PomdpError::Missing { array: "b" });
        }
        let mut normalised = Vec::with_capacity(b.len());
        for (f, t) in b.iter().enumerate() {
            let shape = t.shape();
            if shape.len() != 3 || shape[0] != shape[1] {
                let n = shape.first().copied().unwrap_or(1);
                let nu = if shape.len() == 3 { shape[2] } else { 1 };
                return Err(PomdpError::Shape {
                    array: "b",
                    index: f,
                    expected: vec![n, n, nu],
                    got: shape.to_vec(),
                });
            }
            check_entries("b", f, t)?;
            let rows = shape[0];
            let mut data = t.data().to_vec();
            let cols = data.len() / rows;
            for j in 0..cols {
                let sum: f64 = (0..rows).map(|i| data[i * cols + j]).sum();
                for i in 0..rows {
                    let x = &mut data[i * cols + j];
                    *x = if sum > 0.0 {
                        *x / sum
                    } else {
                        1.0 / rows as f64
                    };
                }
            }
            normalised.push(Tensor::new(shape.to_vec(), data)?);
        }
        let mut out = Self::new(&normalised)?;
        let counts = TransitionsByControl::new(b);
        out.backward = counts
            .by_control
            .iter()
            .zip(&out.num_states)
            .map(|(per_u, &n)| {
                per_u
                    .iter()
                    .map(|bu| transpose_normalise(bu.data(), n))
                    .collect()
            })
            .collect();
        Ok(out)
    }

    /// States per factor.
    pub fn num_states(&self) -> &[usize] {
        &self.num_states
    }

    /// Controls per factor.
    pub fn num_controls(&self) -> &[usize] {
        &self.num_controls
    }

    /// `B_f[u]` as a row-major `[n_f, n_f]` matrix (`B[next, previous]`).
    fn forward(&self, f: usize, u: usize) -> &[f64] {
        self.forward.by_control[f][u].data()
    }

    /// `B̃_f[u]` as a row-major `[n_f, n_f]` matrix.
    fn backward(&self, f: usize, u: usize) -> &[f64] {
        &self.backward[f][u]
    }
}

/// `colnorm(Bᵀ)` for a row-major `[n, n]` matrix: entry `[s, s']` is
/// `B[s', s] / Σ_σ B[s', σ]`, or `1/n` when that row of `B` sums to zero.
fn transpose_normalise(b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for (sp, row) in b.chunks_exact(n).enumerate() {
        let sum: f64 = row.iter().sum();
        for (s, &x) in row.iter().enumerate() {
            out[s * n + sp] = if sum > 0.0 { x / sum } else { 1.0 / n as f64 };
        }
    }
    out
}

/// Marginals (or any per-state vectors) for every factor at every point of a
/// window: `x_f[:, τ]` for `τ = 0..num_points`.
///
/// Stored per factor, point-major (`num_points × n_f`), so one marginal is a
/// contiguous slice. [`MmpTrace`] reuses the layout for prediction errors.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowBeliefs {
    num_states: Vec<usize>,
    num_points: usize,
    x: Vec<Vec<f64>>,
}

impl WindowBeliefs {
    /// Uniform marginals `1/n_f` at every point (how SPM starts each time step).
    pub fn uniform(num_states: &[usize], num_points: usize) -> Result<Self, PomdpError> {
        if num_points == 0 {
            return Err(PomdpError::Setting {
                name: "num_points".into(),
                reason: "a window needs at least one time point".into(),
            });
        }
        if num_states.is_empty() {
            return Err(PomdpError::Missing {
                array: "num_states",
            });
        }
        if let Some(f) = num_states.iter().position(|&n| n == 0) {
            return Err(PomdpError::Setting {
                name: "num_states".into(),
                reason: format!("factor {f} has no states"),
            });
        }
        let x = num_states
            .iter()
            .map(|&n| vec![1.0 / n as f64; n * num_points])
            .collect();
        Ok(Self {
            num_states: num_states.to_vec(),
            num_points,
            x,
        })
    }

    /// The number of window points.
    pub fn num_points(&self) -> usize {
        self.num_points
    }

    /// States per factor.
    pub fn num_states(&self) -> &[usize] {
        &self.num_states
    }

    /// `x_f[:, point]`, or `None` when `f` or `point` is out of range.
    pub fn marginal(&self, f: usize, point: usize) -> Option<&[f64]> {
        let n = *self.num_states.get(f)?;
        if point >= self.num_points {
            return None;
        }
        Some(&self.x[f][point * n..(point + 1) * n])
    }

    /// All of factor `f`'s marginals, point-major (`num_points × n_f`).
    pub fn factor(&self, f: usize) -> Option<&[f64]> {
        self.x.get(f).map(Vec::as_slice)
    }

    /// Overwrite `x_f[:, point]` (e.g. to warm-start from earlier beliefs).
    /// The vector must have `n_f` finite, non-negative entries.
    pub fn set_marginal(&mut self, f: usize, point: usize, q: &[f64]) -> Result<(), PomdpError> {
        let n = *self.num_states.get(f).ok_or(PomdpError::Count {
            array: "WindowBeliefs",
            expected: self.num_states.len(),
            got: f + 1,
            what: "factors",
        })?;
        if point >= self.num_points {
            return Err(PomdpError::Count {
                array: "WindowBeliefs",
                expected: self.num_points,
                got: point + 1,
                what: "window points",
            });
        }
        check_vector("marginal", f, q, n)?;
        self.x[f][point * n..(point + 1) * n].copy_from_slice(q);
        Ok(())
    }

    #[inline]
    fn slot(&self, f: usize, point: usize) -> &[f64] {
        let n = self.num_states[f];
        &self.x[f][point * n..(point + 1) * n]
    }

    #[inline]
    fn slot_mut(&mut self, f: usize, point: usize) -> &mut [f64] {
        let n = self.num_states[f];
        &mut self.x[f][point * n..(point + 1) * n]
    }

    /// Copy `count` points of `src` starting at `src_start` into this window's
    /// points `dst_start..dst_start + count` (same factors). Used to cut a
    /// window out of a longer timeline and to put it back.
    pub(crate) fn copy_points(
        &mut self,
        dst_start: usize,
        src: &WindowBeliefs,
        src_start: usize,
        count: usize,
    ) {
        for (f, (d, s)) in self.x.iter_mut().zip(&src.x).enumerate() {
            let n = self.num_states[f];
            d[dst_start * n..(dst_start + count) * n]
                .copy_from_slice(&s[src_start * n..(src_start + count) * n]);
        }
    }

    /// Set every entry to `value`.
    fn fill(&mut self, value: f64) {
        for x in &mut self.x {
            x.fill(value);
        }
    }

    /// Copy another window of the same dimensions, without allocating.
    fn copy_from(&mut self, other: &WindowBeliefs) {
        for (d, s) in self.x.iter_mut().zip(&other.x) {
            d.copy_from_slice(s);
        }
    }

    /// Apply `op` to every marginal (each `x_f[:, τ]` slice, with its factor
    /// `f`), e.g. SPM's flattening `x ← σ(ln x / erp)` between time steps.
    pub fn for_each_marginal(&mut self, mut op: impl FnMut(usize, &mut [f64])) {
        for (f, x) in self.x.iter_mut().enumerate() {
            for q in x.chunks_exact_mut(self.num_states[f]) {
                op(f, q);
            }
        }
    }
}

/// The prior over the first point of the window (the forward message into it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowPrior<'a> {
    /// The window starts at the first time point of the trial: `ln D_f`
    /// (SPM's `j == 1`). This point then also counts as an end point in `F`.
    Initial(&'a [Vec<f64>]),
    /// A prior for the first window point, used as it is: the cross-validation
    /// VB_X script's policy-separated `d_policy_sep` (the posterior about the
    /// point before the window, *not* pushed through `B`).
    Given(&'a [Vec<f64>]),
    /// A belief about the point just before the window, pushed through that
    /// step's transition: `p_f = B_f[actions[f]] · previous_f`. `run_mmp.m`
    /// does this with the uniform beliefs it holds outside the window.
    Propagated {
        /// `q(s_f)` at the point before the window, per factor.
        previous: &'a [Vec<f64>],
        /// The action per factor for the transition into the window.
        actions: &'a [usize],
    },
}

/// Which window points receive a backward message from their successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackwardMessages {
    /// Only points whose successor is observed (SPM's `j < R` with `R = t`,
    /// used when policies are single next actions, `MDP.U`; `run_mmp.m` and
    /// the VB_X script).
    FromObserved,
    /// Every point but the last (SPM's `R = S`, sequential policies `MDP.V`).
    FromAll,
}

/// SPM's convergence shortcut: skip an iteration's updates when the free
/// energy changed by at most `threshold` over the previous iteration, unless
/// more than `always_after` iterations have run.
///
/// Exactly: with `dF = 1` before the second iteration's end and
/// `dF = F_i − F_{i−1}` (signed) after iteration i ≥ 2, iteration k updates
/// when `k == 1`, `k > always_after` or `dF > threshold`. A skipped iteration
/// leaves the marginals unchanged, records zero prediction errors and repeats
/// the previous `F`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipRule {
    /// Smallest free-energy change that keeps updating (SPM: `exp(−8)`).
    pub threshold: f64,
    /// Iterations after this one always update (SPM: 4).
    pub always_after: usize,
}

impl SkipRule {
    /// SPM's values: `exp(−8)` and 4 (`if dF > exp(-8) || iter > 4`).
    pub const SPM: SkipRule = SkipRule {
        threshold: 3.354_626_279_025_118_5e-4,
        always_after: 4,
    };
}

/// Settings of [`marginal_message_passing`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmpOptions {
    /// Sweeps over the window.
    pub num_iter: usize,
    /// Step size on the log-marginal (SPM: 1/4).
    pub tau: f64,
    /// The convergence shortcut, or `None` to always run `num_iter` sweeps.
    pub skip: Option<SkipRule>,
    /// Guard for every log but the backward message's (SPM: `ln(x + 1e-16)`).
    pub guard: LogGuard,
    /// Guard for the backward message (`run_mmp.m` uses a plain `ln`, the
    /// VB_X script `ln(x + 1e-16)`; on the fixtures they differ below 1e-15).
    pub backward_guard: LogGuard,
    /// Which points receive backward messages.
    pub backward: BackwardMessages,
}

impl MmpOptions {
    /// SPM's scheme with `num_iter` sweeps: step 1/4, the [`SkipRule::SPM`]
    /// shortcut, `ln(x + 1e-16)` everywhere, backward messages from observed
    /// points only.
    pub fn spm(num_iter: usize) -> Self {
        Self {
            num_iter,
            tau: 0.25,
            skip: Some(SkipRule::SPM),
            guard: SPM_LOG_GUARD,
            backward_guard: SPM_LOG_GUARD,
            backward: BackwardMessages::FromObserved,
        }
    }
}

/// The data of one window under one policy.
///
/// Window points are numbered `0..num_points` from the window's start;
/// `num_points = actions.len() + 1`. The first `likelihoods.len()` points are
/// observed (past and present), the rest are future points.
#[derive(Debug, Clone, Copy)]
pub struct MmpInputs<'a> {
    /// Prepared transitions.
    pub transitions: &'a MmpTransitions,
    /// Joint likelihood `L_τ(s) = Π_g A_g[o_g,τ, s]` of each observed point,
    /// row-major over `[n_1, …, n_F]`.
    pub likelihoods: &'a [Vec<f64>],
    /// `actions[τ][f]`: the action of factor f for the transition τ → τ+1.
    pub actions: &'a [Vec<usize>],
    /// The prior over the first window point.
    pub prior: WindowPrior<'a>,
}

/// What [`marginal_message_passing`] returns besides the marginals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmpOutcome {
    /// SPM's (negative) free energy of the window at the last iteration.
    pub free_energy: f64,
    /// Iterations whose updates the [`SkipRule`] skipped.
    pub skipped_iterations: usize,
}

/// Per-iteration record of a run, SPM's `xn` and `vn`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MmpTrace {
    /// The marginals after each iteration (`xn`).
    pub marginals: Vec<WindowBeliefs>,
    /// The centred prediction errors `v − mean(v)` of each iteration (`vn`),
    /// in the same layout; zero where an update was skipped.
    pub errors: Vec<WindowBeliefs>,
    /// `F` of each iteration.
    pub free_energy: Vec<f64>,
}

impl MmpTrace {
    fn prepare(&mut self, num_iter: usize, like: &WindowBeliefs) {
        let fits = |v: &Vec<WindowBeliefs>| {
            v.len() == num_iter
                && v.iter()
                    .all(|w| w.num_points == like.num_points && w.num_states == like.num_states)
        };
        if !fits(&self.marginals) {
            self.marginals = vec![like.clone(); num_iter];
        }
        if !fits(&self.errors) {
            self.errors = vec![like.clone(); num_iter];
        }
        for e in &mut self.errors {
            e.fill(0.0);
        }
        self.free_energy.clear();
        self.free_energy.resize(num_iter, 0.0);
    }
}

/// Scratch space for [`marginal_message_passing`]; one per thread, reused
/// across calls so that the sweeps do not allocate.
#[derive(Debug, Default, Clone)]
pub struct MmpWorkspace {
    contract: ContractBuffers,
    log_prior: Vec<Vec<f64>>,
    ql: Vec<f64>,
    qx: Vec<f64>,
    px: Vec<f64>,
    v: Vec<f64>,
    sx: Vec<f64>,
}

impl MmpWorkspace {
    fn prepare(&mut self, num_states: &[usize]) {
        let n_max = num_states.iter().copied().max().unwrap_or(0);
        for b in [
            &mut self.ql,
            &mut self.qx,
            &mut self.px,
            &mut self.v,
            &mut self.sx,
        ] {
            b.clear();
            b.resize(n_max, 0.0);
        }
        self.log_prior.resize(num_states.len(), Vec::new());
        for (lp, &n) in self.log_prior.iter_mut().zip(num_states) {
            lp.clear();
            lp.resize(n, 0.0);
        }
    }
}

/// Empty a list of slices and hand its allocation back under a new borrow,
/// so the factor list for [`dot_except`] is rebuilt at every point without
/// allocating. (The `filter_map` that yields nothing is the point: collecting
/// it reuses the emptied vector's buffer under the new lifetime.)
#[allow(clippy::unnecessary_filter_map)]
fn reuse_slices<'b>(mut v: Vec<&[f64]>) -> Vec<&'b [f64]> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Marginal message passing over one window under one policy.
///
/// Runs `options.num_iter` Gauss–Seidel sweeps of the update in the
/// [module documentation](self) over the window, in place on `beliefs`
/// (which hold, on return, the marginals at every window point; start them
/// with [`WindowBeliefs::uniform`] as SPM does, or warm). Returns SPM's free
/// energy `F` of the last sweep (Parr et al. 2019; SPM's `spm_MDP_VB_X`).
/// When `trace` is given it receives every iteration's marginals and centred
/// prediction errors (SPM's `xn`, `vn`).
///
/// Errors when the inputs do not fit together: `beliefs` of other factors
/// than the transitions, a likelihood of the wrong length or with negative or
/// non-finite entries, more observed points than window points, an action
/// row of the wrong length or out of range, a prior of the wrong shape, or
/// `num_iter == 0` / a non-finite or non-positive `tau`.
pub fn marginal_message_passing(
    inputs: &MmpInputs<'_>,
    options: &MmpOptions,
    beliefs: &mut WindowBeliefs,
    workspace: &mut MmpWorkspace,
    trace: Option<&mut MmpTrace>,
) -> Result<MmpOutcome, PomdpError> {
    validate(inputs, options, beliefs)?;
    let tr = inputs.transitions;
    let ns = &tr.num_states;
    let nf = ns.len();
    let n_points = beliefs.num_points;
    let num_observed = inputs.likelihoods.len();
    let guard = options.guard;
    let bguard = options.backward_guard;
    let ws = workspace;
    ws.prepare(ns);

    // The forward message into the first window point, fixed over the sweeps.
    let starts_trial = matches!(inputs.prior, WindowPrior::Initial(_));
    for f in 0..nf {
        let n = ns[f];
        match inputs.prior {
            WindowPrior::Initial(p) | WindowPrior::Given(p) => {
                guard.ln_into(&p[f], &mut ws.log_prior[f]);
            }
            WindowPrior::Propagated { previous, actions } => {
                let bu = tr.forward(f, actions[f]);
                for (lp, row) in ws.log_prior[f].iter_mut().zip(bu.chunks_exact(n)) {
                    *lp = guard.ln(dot(row, &previous[f]));
                }
            }
        }
    }

    let mut trace = trace;
    if let Some(t) = trace.as_deref_mut() {
        t.prepare(options.num_iter, beliefs);
    }

    let shared = (nf - 1) as f64;
    let nf_f = nf as f64;
    let mut slices: Vec<&[f64]> = Vec::with_capacity(nf);
    let mut d_f = 1.0;
    let mut previous_f = 0.0;
    let mut free_energy = 0.0;
    let mut skipped = 0;
    for iter in 0..options.num_iter {
        let update = match options.skip {
            None => true,
            Some(rule) => iter == 0 || iter + 1 > rule.always_after || d_f > rule.threshold,
        };
        let mut f_iter = 0.0;
        if update {
            for i in 0..n_points {
                let observed = i < num_observed;
                let backward = match options.backward {
                    BackwardMessages::FromObserved => i + 1 < num_observed,
                    BackwardMessages::FromAll => i + 1 < n_points,
                };
                let end_point = (i == 0 && starts_trial) || i + 1 == n_points;
                for f in 0..nf {
                    let n = ns[f];
                    // Likelihood message from the current marginals at this point.
                    if observed {
                        let mut sl = reuse_slices(slices);
                        for g in 0..nf {
                            sl.push(beliefs.slot(g, i));
                        }
                        let r =
                            dot_except(&inputs.likelihoods[i], ns, &sl, Some(f), &mut ws.contract);
                        guard.ln_into(r, &mut ws.ql[..n]);
                        slices = reuse_slices(sl);
                    } else {
                        ws.ql[..n].fill(0.0);
                    }
                    let sx = beliefs.slot(f, i);
                    guard.ln_into(sx, &mut ws.qx[..n]);
                    // Forward message.
                    if i == 0 {
                        ws.px[..n].copy_from_slice(&ws.log_prior[f]);
                    } else {
                        let bu = tr.forward(f, inputs.actions[i - 1][f]);
                        let prev = beliefs.slot(f, i - 1);
                        for (p, row) in ws.px[..n].iter_mut().zip(bu.chunks_exact(n)) {
                            *p = guard.ln(dot(row, prev));
                        }
                    }
                    for s in 0..n {
                        ws.v[s] = ws.px[s] + ws.ql[s] - ws.qx[s];
                    }
                    // Backward message.
                    if backward {
                        let bt = tr.backward(f, inputs.actions[i][f]);
                        let next = beliefs.slot(f, i + 1);
                        for (s, row) in bt.chunks_exact(n).enumerate() {
                            ws.v[s] = ws.v[s] + bguard.ln(dot(row, next)) + ws.ql[s] - ws.qx[s];
                        }
                    }
                    // Free energy at the marginal entering the update.
                    f_iter += if end_point {
                        (0..n).map(|s| sx[s] * (0.5 * ws.v[s])).sum::<f64>()
                    } else {
                        (0..n)
                            .map(|s| sx[s] * (0.5 * ws.v[s] - shared * ws.ql[s] / nf_f))
                            .sum::<f64>()
                    };
                    // Centred gradient step on the log-marginal.
                    let mean = ws.v[..n].iter().sum::<f64>() / n as f64;
                    for s in 0..n {
                        ws.v[s] -= mean;
                        ws.sx[s] = ws.qx[s] + ws.v[s] * options.tau;
                    }
                    softmax_in_place(&mut ws.sx[..n]);
                    beliefs.slot_mut(f, i).copy_from_slice(&ws.sx[..n]);
                    if let Some(t) = trace.as_deref_mut() {
                        t.errors[iter].slot_mut(f, i).copy_from_slice(&ws.v[..n]);
                    }
                }
            }
        } else {
            skipped += 1;
            f_iter = previous_f;
        }
        if let Some(t) = trace.as_deref_mut() {
            t.marginals[iter].copy_from(beliefs);
            t.free_energy[iter] = f_iter;
        }
        if iter > 0 {
            d_f = f_iter - previous_f;
        }
        previous_f = f_iter;
        free_energy = f_iter;
    }
    Ok(MmpOutcome {
        free_energy,
        skipped_iterations: skipped,
    })
}

fn validate(
    inputs: &MmpInputs<'_>,
    options: &MmpOptions,
    beliefs: &WindowBeliefs,
) -> Result<(), PomdpError> {
    if options.num_iter == 0 {
        return Err(PomdpError::Setting {
            name: "num_iter".into(),
            reason: "must be at least 1".into(),
        });
    }
    if !(options.tau.is_finite() && options.tau > 0.0) {
        return Err(PomdpError::Setting {
            name: "tau".into(),
            reason: format!("must be finite and positive, got {}", options.tau),
        });
    }
    if let Some(rule) = options.skip {
        if rule.threshold.is_nan() {
            return Err(PomdpError::Setting {
                name: "skip.threshold".into(),
                reason: "is NaN".into(),
            });
        }
    }
    let tr = inputs.transitions;
    let ns = &tr.num_states;
    let nf = ns.len();
    if beliefs.num_states != *ns {
        return Err(PomdpError::Shape {
            array: "beliefs (states per factor)",
            index: 0,
            expected: ns.clone(),
            got: beliefs.num_states.clone(),
        });
    }
    let n_points = beliefs.num_points;
    if inputs.actions.len() + 1 != n_points {
        return Err(PomdpError::Count {
            array: "actions",
            expected: n_points - 1,
            got: inputs.actions.len(),
            what: "one row per transition inside the window",
        });
    }
    for row in inputs.actions {
        check_actions(row, &tr.num_controls)?;
    }
    if inputs.likelihoods.len() > n_points {
        return Err(PomdpError::Count {
            array: "likelihoods",
            expected: n_points,
            got: inputs.likelihoods.len(),
            what: "at most one per window point",
        });
    }
    let joint: usize = ns.iter().product();
    for (i, l) in inputs.likelihoods.iter().enumerate() {
        check_vector("likelihoods", i, l, joint)?;
    }
    let (vecs, what) = match inputs.prior {
        WindowPrior::Initial(p) => (p, "D"),
        WindowPrior::Given(p) => (p, "window prior"),
        WindowPrior::Propagated { previous, actions } => {
            check_actions(actions, &tr.num_controls)?;
            (previous, "previous belief")
        }
    };
    if vecs.len() != nf {
        return Err(PomdpError::Count {
            array: "window prior",
            expected: nf,
            got: vecs.len(),
            what: "one vector per factor",
        });
    }
    for (f, p) in vecs.iter().enumerate() {
        check_vector(what, f, p, ns[f])?;
    }
    Ok(())
}

fn check_actions(row: &[usize], num_controls: &[usize]) -> Result<(), PomdpError> {
    if row.len() != num_controls.len() {
        return Err(PomdpError::ActionLength {
            expected: num_controls.len(),
            got: row.len(),
        });
    }
    for (f, (&u, &nu)) in row.iter().zip(num_controls).enumerate() {
        if u >= nu {
            return Err(PomdpError::ActionOutOfRange {
                factor: f,
                value: u,
                num_controls: nu,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_state_model() -> MmpTransitions {
        // B[next, prev, u]: u = 0 stays, u = 1 switches.
        let b = Tensor::new(vec![2, 2, 2], vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
        MmpTransitions::new(&[b]).unwrap()
    }

    #[test]
    fn backward_matrix_is_the_normalised_transpose() {
        let b = Tensor::new(vec![2, 2, 1], vec![0.9, 0.2, 0.1, 0.8]).unwrap();
        let t = MmpTransitions::new(&[b]).unwrap();
        // Row s' of B: [0.9, 0.2] → column s' of B̃ = [0.9, 0.2] / 1.1.
        let bt = t.backward(0, 0);
        assert!((bt[0] - 0.9 / 1.1).abs() < 1e-15);
        assert!((bt[2] - 0.2 / 1.1).abs() < 1e-15);
        assert!((bt[1] - 0.1 / 0.9).abs() < 1e-15);
    }

    #[test]
    fn marginals_stay_normalised_and_follow_the_evidence() {
        let tr = two_state_model();
        let lik = vec![vec![0.9, 0.1], vec![0.9, 0.1]];
        let actions = vec![vec![0], vec![0]];
        let d = vec![vec![0.5, 0.5]];
        let inputs = MmpInputs {
            transitions: &tr,
            likelihoods: &lik,
            actions: &actions,
            prior: WindowPrior::Initial(&d),
        };
        let mut beliefs = WindowBeliefs::uniform(&[2], 3).unwrap();
        let mut ws = MmpWorkspace::default();
        let mut trace = MmpTrace::default();
        let out = marginal_message_passing(
            &inputs,
            &MmpOptions::spm(16),
            &mut beliefs,
            &mut ws,
            Some(&mut trace),
        )
        .unwrap();
        assert!(out.free_energy.is_finite());
        for j in 0..3 {
            let q = beliefs.marginal(0, j).unwrap();
            assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(q[0] > 0.5, "point {j}: {q:?}");
        }
        assert_eq!(trace.marginals.len(), 16);
        assert_eq!(trace.marginals[15], beliefs);
    }

    #[test]
    fn transitions_from_counts_normalise_the_transpose_of_the_counts() {
        // One factor, two states, one control: counts with unequal column totals.
        let counts = Tensor::new(vec![2, 2, 1], vec![3.0, 1.0, 1.0, 1.0]).unwrap();
        let tr = MmpTransitions::from_counts(std::slice::from_ref(&counts)).unwrap();
        // Forward: columns of b divided by their sums (4 and 2).
        assert_eq!(tr.forward(0, 0), &[0.75, 0.5, 0.25, 0.5]);
        // Backward: colnorm(bᵀ) of the counts, rows of b divided by 4 and 2 ...
        assert_eq!(tr.backward(0, 0), &[0.75, 0.5, 0.25, 0.5]);
        // ... not colnorm(colnorm(b)ᵀ) (rows 1.25 and 0.75).
        let plain =
            MmpTransitions::new(&[Tensor::new(vec![2, 2, 1], tr.forward(0, 0).to_vec()).unwrap()])
                .unwrap();
        assert!((plain.backward(0, 0)[0] - 0.6).abs() < 1e-15);
        let negative = Tensor::new(vec![2, 2, 1], vec![1.0, -1.0, 1.0, 1.0]).unwrap();
        assert!(MmpTransitions::from_counts(&[negative]).is_err());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let tr = two_state_model();
        let lik = vec![vec![0.9, 0.1, 0.3]];
        let actions = vec![vec![0]];
        let d = vec![vec![0.5, 0.5]];
        let mut beliefs = WindowBeliefs::uniform(&[2], 2).unwrap();
        let mut ws = MmpWorkspace::default();
        let opts = MmpOptions::spm(4);
        let inputs = MmpInputs {
            transitions: &tr,
            likelihoods: &lik,
            actions: &actions,
            prior: WindowPrior::Initial(&d),
        };
        assert!(matches!(
            marginal_message_passing(&inputs, &opts, &mut beliefs, &mut ws, None),
            Err(PomdpError::Shape { .. })
        ));
        let lik = vec![vec![0.9, 0.1]];
        let bad_actions = vec![vec![2]];
        let inputs = MmpInputs {
            actions: &bad_actions,
            likelihoods: &lik,
            ..inputs
        };
        assert!(matches!(
            marginal_message_passing(&inputs, &opts, &mut beliefs, &mut ws, None),
            Err(PomdpError::ActionOutOfRange { .. })
        ));
        let inputs = MmpInputs {
            actions: &[],
            ..inputs
        };
        assert!(matches!(
            marginal_message_passing(&inputs, &opts, &mut beliefs, &mut ws, None),
            Err(PomdpError::Count { .. })
        ));
        let b = Tensor::new(vec![2, 3, 1], vec![0.5; 6]).unwrap();
        assert!(matches!(
            MmpTransitions::new(&[b]),
            Err(PomdpError::Shape { .. })
        ));
    }

    #[test]
    fn skip_rule_skips_once_converged() {
        let tr = two_state_model();
        let lik = vec![vec![0.5, 0.5]];
        let d = vec![vec![0.5, 0.5]];
        let inputs = MmpInputs {
            transitions: &tr,
            likelihoods: &lik,
            actions: &[],
            prior: WindowPrior::Initial(&d),
        };
        // Uniform everything: nothing moves, dF = 0 after iteration 2, so
        // iterations 3 and 4 are skipped and 5, 6 run.
        let mut beliefs = WindowBeliefs::uniform(&[2], 1).unwrap();
        let out = marginal_message_passing(
            &inputs,
            &MmpOptions::spm(6),
            &mut beliefs,
            &mut MmpWorkspace::default(),
            None,
        )
        .unwrap();
        assert_eq!(out.skipped_iterations, 2);
    }
}
