//! SPM (MATLAB DEM toolbox) conventions that the rest of the engine does not
//! share, kept in one place so a user who needs SPM's numbers to 1e-8 can
//! switch them on by name.
//!
//! - [`spm_wnorm`]: the Dirichlet novelty weights with SPM's `exp(−16)`
//!   added to every count.
//! - [`spm_mdp_g`]: the expected information gain about states computed over
//!   the joint state space (SPM's `spm_MDP_G`).
//! - [`VbxLoop`]: the closed loop of the cross-validation script
//!   `vb_x_matlab_test_1a.m`, a pseudo-code version of `spm_MDP_VB_X`:
//!   per-policy marginal message passing over a past window
//!   ([`crate::mmp`]), policy posterior, deterministic action, and the
//!   belief resets between steps.
//! - [`spm_vbx_wnorm`] and [`spm_kl_dir`]: the novelty weights local to
//!   `spm_MDP_VB_X.m` and SPM's approximate Dirichlet KL divergence, for
//!   Dirichlet learning as SPM does it.
//! - [`spm_policy_precision`] and [`PrecisionPrior`]: SPM's update of the
//!   policy precision γ = 1/β_q, which [`VbxLoop::with_precision`] switches on.
//!
//! Two epsilons coexist in SPM: `spm_log(x) = ln(x + 1e-16)` in the MDP
//! routines ([`crate::mmp::SPM_LOG_GUARD`]) and `ln(x + exp(−16))`
//! ([`SPM_EXP_M16`]) in `spm_MDP_G` and `spm_wnorm`.

use actinf_core::maths::{digamma, ln_gamma, softmax_in_place};
use actinf_core::tensor::{dot_except, outer, ContractBuffers};
use actinf_core::{LogGuard, Tensor};

use crate::error::PomdpError;
use crate::mmp::{
    marginal_message_passing, MmpInputs, MmpOptions, MmpTrace, MmpTransitions, MmpWorkspace,
    WindowBeliefs, WindowPrior,
};
use crate::validate::{check_entries, check_probabilities, check_vector};

/// `exp(−16)`, SPM's epsilon in `spm_MDP_G` and `spm_wnorm`.
pub const SPM_EXP_M16: f64 = 1.125_351_747_192_591_2e-7;

/// The guard `ln(x + exp(−16))` of `spm_MDP_G`.
pub const SPM_G_GUARD: LogGuard = LogGuard::Add(SPM_EXP_M16);

/// SPM's Dirichlet novelty weights (standalone SPM12 DEM `spm_wnorm`):
///
/// ```text
/// a' = a + exp(−16)
/// W[i, c] = 1 / Σ_i' a'[i', c]  −  1 / a'[i, c]
/// ```
///
/// with axis 0 the distribution's axis and `c` every other index. `W` is the
/// parameter information gain per count (Friston et al. 2017, "Active
/// inference, curiosity and insight", eq. 8; Da Costa et al. 2020, eq. 20).
///
/// Why not [`crate::control::novelty_weights`] with `NoveltyForm::Spm`: that
/// one (pymdp's convention) sums the raw counts and sets `W = 0` where `a = 0`. SPM adds `exp(−16)` to every
/// count *before* summing and keeps zero counts (where `W ≈ −8.9e6`). For
/// columns summing to about one the sums differ by `n·exp(−16) ≈ 1e-6`, above
/// the fixture tolerance. (`spm_MDP_VB_X.m` has a third, local variant with
/// `1e-16` and a factor `1/2`, which this is not.)
///
/// Errors on a zero-dimensional array or negative or non-finite counts.
pub fn spm_wnorm(a: &Tensor) -> Result<Tensor, PomdpError> {
    if a.ndim() == 0 {
        return Err(PomdpError::Shape {
            array: "a",
            index: 0,
            expected: vec![a.len()],
            got: vec![],
        });
    }
    check_entries("a", 0, a)?;
    let rows = a.shape()[0];
    let cols = a.len() / rows;
    let mut sums = vec![0.0; cols];
    for row in a.data().chunks_exact(cols) {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += x + SPM_EXP_M16;
        }
    }
    let data = a
        .data()
        .iter()
        .enumerate()
        .map(|(k, &x)| 1.0 / sums[k % cols] - 1.0 / (x + SPM_EXP_M16))
        .collect();
    Ok(Tensor::new(a.shape().to_vec(), data)?)
}

/// The novelty weights of `spm_MDP_VB_X.m` (SPM12 r7771), a local function
/// of that file that differs from [`spm_wnorm`]:
///
/// ```text
/// a' = a + 1e-16
/// W[i, c] = ( 1 / Σ_i' a'[i', c]  −  1 / a'[i, c] ) / 2
/// ```
///
/// with axis 0 the distribution's axis. `spm_MDP_VB_X` subtracts `W · x`
/// from a policy's `Q` (the expected information gain about the Dirichlet
/// parameters, Friston et al. 2017, "Active inference, curiosity and
/// insight", eq. 8; the factor 1/2 is SPM's), for `d` as it is and for `a`
/// masked to the entries where `a > 0`. Counts are not checked here (the
/// caller validates them); zero counts give about `−5e15`, as in SPM.
pub fn spm_vbx_wnorm(counts: &[f64], rows: usize) -> Vec<f64> {
    if rows == 0 {
        return Vec::new();
    }
    let cols = counts.len() / rows;
    let mut sums = vec![0.0; cols];
    for row in counts.chunks_exact(cols) {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += x + 1e-16;
        }
    }
    counts
        .iter()
        .enumerate()
        .map(|(k, &x)| (1.0 / sums[k % cols] - 1.0 / (x + 1e-16)) / 2.0)
        .collect()
}

/// SPM's approximate KL divergence between Dirichlet distributions,
/// `spm_KL_dir(q, p)` (SPM12 r7771), summed over columns (axis 0 is the
/// distribution's axis, `rows` its length):
///
/// ```text
/// KL ≈ Σ_c [ ln B(p_c) − ln B(q_c) − Σ_i (p_ic − q_ic) (ψ(q_ic + 1/32) − ψ(Σ_i' (q_i'c + 1/32))) ]
/// ```
///
/// where `ln B(z) = Σ_i ln Γ(z_i) − ln Γ(Σ_i z_i)` over the *non-zero* entries
/// of `z` only (SPM's `spm_betaln`). The exact divergence has `ψ(q_ic) −
/// ψ(Σ q_c)`; SPM's `+ 1/32` makes this an approximation, which is why
/// `spm_MDP_VB_X`'s parameter free energy `−KL` can come out slightly
/// positive. [`actinf_core::maths::kl_dirichlet`] is the exact form.
///
/// Errors when `q` and `p` differ in length, `rows` does not divide it, or
/// an entry is negative or not finite.
pub fn spm_kl_dir(q: &[f64], p: &[f64], rows: usize) -> Result<f64, PomdpError> {
    if q.len() != p.len() || rows == 0 || q.len() % rows != 0 {
        return Err(PomdpError::Shape {
            array: "Dirichlet counts",
            index: 0,
            expected: vec![rows, p.len() / rows.max(1)],
            got: vec![q.len()],
        });
    }
    for (array, v) in [("q", q), ("p", p)] {
        if let Some(k) = v.iter().position(|x| !x.is_finite() || *x < 0.0) {
            return Err(PomdpError::Negative {
                array,
                index: 0,
                at: vec![k],
                value: v[k],
            });
        }
    }
    let cols = q.len() / rows;
    let betaln = |z: &[f64], c: usize| -> f64 {
        let mut sum = 0.0;
        let mut total = 0.0;
        for i in 0..rows {
            let x = z[i * cols + c];
            if x != 0.0 {
                sum += ln_gamma(x);
                total += x;
            }
        }
        sum - ln_gamma(total)
    };
    let mut kl = 0.0;
    for c in 0..cols {
        let q0: f64 = (0..rows).map(|i| q[i * cols + c] + 1.0 / 32.0).sum();
        let psi0 = digamma(q0);
        let cross: f64 = (0..rows)
            .map(|i| {
                let (qi, pi) = (q[i * cols + c], p[i * cols + c]);
                (pi - qi) * (digamma(qi + 1.0 / 32.0) - psi0)
            })
            .sum();
        kl += betaln(p, c) - betaln(q, c) - cross;
    }
    Ok(kl)
}

/// Expected information gain about hidden states (epistemic value) over the
/// joint state space, SPM's `spm_MDP_G`:
///
/// ```text
/// q(s)  = Π_f q_f(s_f)                                 (the joint, mean field)
/// p(o|s) = ⊗_g A_g[:, s]                                (joint outcome over modalities)
/// q(o)  = Σ_s q(s) p(o|s)
/// G     = Σ_s q(s) Σ_o p(o|s) ln p(o|s)  −  Σ_o q(o) ln q(o)
///       = H[q(o)] − E_q(s)[H[p(o|s)]]
/// ```
///
/// with `ln(x + exp(−16))` and states whose joint probability is at most
/// `exp(−16)` left out (Friston et al. 2015, "Active inference and epistemic
/// value", eq. 3; Parr & Friston 2019). Every `A_g` must have shape
/// `[num_obs_g, n_1, …, n_F]` with `n_f = qs[f].len()` (SPM's convention: each
/// modality over all factors). The joint is visited in row-major order, where
/// SPM visits it column-major; for more than one factor the sum differs in the
/// last bits only.
pub fn spm_mdp_g(a: &[Tensor], qs: &[&[f64]]) -> Result<f64, PomdpError> {
    if a.is_empty() {
        return Err(PomdpError::Missing { array: "A" });
    }
    if qs.is_empty() {
        return Err(PomdpError::Missing { array: "qs" });
    }
    let ns: Vec<usize> = qs.iter().map(|q| q.len()).collect();
    for (g, t) in a.iter().enumerate() {
        check_joint_likelihood_shape(g, t, &ns)?;
    }
    for (f, q) in qs.iter().enumerate() {
        check_vector("qs", f, q, ns[f])?;
    }
    let joint = outer(qs);
    let num_joint = joint.len();
    let num_outcomes: usize = a.iter().map(|t| t.shape()[0]).product();
    let mut po = Vec::with_capacity(num_outcomes);
    let mut next = Vec::with_capacity(num_outcomes);
    let mut qo = vec![0.0; num_outcomes];
    let mut g = 0.0;
    for (i, &q) in joint.iter().enumerate() {
        if q <= SPM_EXP_M16 {
            continue;
        }
        po.clear();
        po.push(1.0);
        for t in a {
            next.clear();
            for &x in &po {
                next.extend(t.data().iter().skip(i).step_by(num_joint).map(|&y| x * y));
            }
            std::mem::swap(&mut po, &mut next);
        }
        let mut plogp = 0.0;
        for (o, &p) in qo.iter_mut().zip(&po) {
            *o += q * p;
            plogp += p * SPM_G_GUARD.ln(p);
        }
        g += q * plogp;
    }
    g -= qo.iter().map(|&p| p * SPM_G_GUARD.ln(p)).sum::<f64>();
    Ok(g)
}

/// How the policy free energy enters the policy posterior
/// `q(π) = σ(γ·Q ± F)`.
///
/// The `F` of [`crate::mmp`] is SPM's negative free energy (larger is
/// better), so `spm_MDP_VB_X` adds it. The cross-validation script
/// `vb_x_matlab_test_1a.m` subtracts it ("as pymdp does"); its fixture needs
/// [`EvidenceSign::Minus`] (its actions do not depend on the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceSign {
    /// `σ(γ·Q + F)`, `spm_MDP_VB_X`.
    Plus,
    /// `σ(γ·Q − F)`, the cross-validation script.
    Minus,
}

/// The Gamma prior over the policy precision γ, switched on in a [`VbxLoop`]
/// with [`VbxLoop::with_precision`].
///
/// SPM's prior is `p(γ) = Γ(1, β)`: shape 1, rate `β`, so the prior mean of γ
/// is `1/β` (`MDP.beta`, default 1). The posterior is `Γ(1, β_q)` with
/// expected precision `γ = 1/β_q`; [`spm_policy_precision`] says how `β_q`
/// is updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionPrior {
    /// Rate `β` of the Gamma prior (SPM's `MDP.beta`, default 1); finite and
    /// positive.
    pub beta: f64,
    /// Updates of `β_q` per time step (SPM's `Ni` = 16, the same count as its
    /// state iterations; there is no stopping rule).
    pub num_iter: usize,
}

impl PrecisionPrior {
    /// SPM's defaults: `β = 1`, 16 updates per time step.
    pub const SPM: PrecisionPrior = PrecisionPrior {
        beta: 1.0,
        num_iter: 16,
    };

    /// Rate `beta` with SPM's 16 updates per time step.
    pub fn new(beta: f64) -> Self {
        Self { beta, ..Self::SPM }
    }

    fn validate(&self) -> Result<(), PomdpError> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(setting("precision.beta", "must be finite and positive"));
        }
        if self.num_iter == 0 {
            return Err(setting("precision.num_iter", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for PrecisionPrior {
    fn default() -> Self {
        Self::SPM
    }
}

/// What [`spm_policy_precision`] computed at one time step.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPrecision {
    /// The policy posterior `σ(γ·Q + F)` of the last iteration, computed with
    /// the precision *before* the last update (SPM's `u(:, t)`, recorded as
    /// `MDP.R`).
    pub q_pi: Vec<f64>,
    /// The policy prior `σ(γ·Q)` of the last iteration (SPM's `pu`).
    pub prior: Vec<f64>,
    /// The expected precision after the last update, `1/β_q` (SPM's
    /// `w(t)`, recorded as `MDP.w`).
    pub gamma: f64,
    /// The posterior rate `β_q` after the last update; SPM carries it over to
    /// the next time step.
    pub rate: f64,
    /// γ after each update (SPM's `wn`, rows `(t−1)·Ni + 1 … t·Ni`).
    pub gamma_updates: Vec<f64>,
    /// The policy posterior of each iteration, before that iteration's
    /// precision update (SPM's `un`).
    pub q_pi_updates: Vec<Vec<f64>>,
}

/// SPM's variational update of the policy precision γ = 1/β_q at one time
/// step (`spm_MDP_VB_X.m`, "variational updates - policies and precision";
/// Friston, FitzGerald, Rigoli, Schwartenbeck & Pezzulo 2017, "Active
/// inference: a process theory", Neural Computation 29(1):1–49, the belief
/// updates for precision; Da Costa et al. 2020, "Active inference on discrete
/// state-spaces: a synthesis", J. Math. Psychol. 99:102447).
///
/// With `Q` the *negative* expected free energy per policy (SPM's `Q`,
/// larger is better; the paper's `G = −Q`) and `F` the term added for the
/// evidence (SPM's negative free energy, so the paper's `−F`), starting from
/// `β_q = rate` and `γ = 1/β_q`, each of `prior.num_iter` iterations does
///
/// ```text
/// q(π)  = σ(γ·Q + F)                 posterior over policies   (SPM's qu)
/// p(π)  = σ(γ·Q)                     prior over policies       (SPM's pu)
/// ε     = (q(π) − p(π)) · Q          (SPM's eg)
/// ∂F/∂γ = β_q − β + ε                (SPM's dFdg)
/// β_q  ← β_q − ∂F/∂γ / 2
/// γ     = 1/β_q
/// ```
///
/// a half step towards the fixed point `β_q = β − (q(π) − p(π))·Q`, which is
/// the paper's `β_q = β + (π − π₀)·G`. So γ is driven above the prior mean
/// `1/β` when the evidence moves the policy posterior towards policies of
/// larger `Q` than the prior expects (`ε > 0`), below it when the evidence
/// moves it towards policies of smaller `Q` (`ε < 0`, even if the posterior
/// is sharper than the prior), and relaxes towards `1/β` when it changes
/// nothing (`q(π) = p(π)`, e.g. a single policy).
///
/// Details as SPM has them: the posterior of the last iteration is computed
/// *before* the last update, so [`PolicyPrecision::q_pi`] belongs to the
/// precision of the next-to-last update while [`PolicyPrecision::gamma`] is
/// the last one; the rate is not reset between time steps (SPM starts each
/// step from `w(t) = w(t−1) = 1/β_q`), so pass the previous step's
/// [`PolicyPrecision::rate`] and `β` at the first step. SPM's log prior over
/// policies `ln E` is left out (it cancels for SPM's default uniform `E`),
/// and so is its Occam window: pass `Q` and `F` of the policies still in play.
/// SPM puts no bound on `β_q` (it could in principle cross zero when
/// `ε > β`); this routine follows it and errors only if γ stops being finite.
///
/// Errors on empty or unequal `q` and `f`, non-finite entries, a rate that is
/// not finite and positive, or an invalid prior.
pub fn spm_policy_precision(
    q: &[f64],
    f: &[f64],
    rate: f64,
    prior: PrecisionPrior,
) -> Result<PolicyPrecision, PomdpError> {
    spm_policy_precision_with_log_prior(q, f, None, rate, prior)
}

/// [`spm_policy_precision`] with SPM's log prior over policies `ln E` (SPM's
/// `qE = spm_log(E)`, one entry per policy in `q`) added inside both
/// softmaxes, as `spm_MDP_VB_X.m` does:
///
/// ```text
/// q(π) = σ(ln E + γ·Q + F),   p(π) = σ(ln E + γ·Q)
/// ```
///
/// `None` is the same as a uniform `E` (the term cancels in the softmax and
/// is left out, bit for bit [`spm_policy_precision`]).
///
/// Errors as [`spm_policy_precision`], and on a `log_prior` of another length
/// than `q` or with NaN or `+∞` entries (`−∞` excludes a policy).
pub fn spm_policy_precision_with_log_prior(
    q: &[f64],
    f: &[f64],
    log_prior: Option<&[f64]>,
    rate: f64,
    prior: PrecisionPrior,
) -> Result<PolicyPrecision, PomdpError> {
    prior.validate()?;
    if let Some(lp) = log_prior {
        if lp.len() != q.len() {
            return Err(PomdpError::Count {
                array: "ln E",
                expected: q.len(),
                got: lp.len(),
                what: "one per policy",
            });
        }
        if let Some(k) = lp.iter().position(|x| x.is_nan() || *x == f64::INFINITY) {
            return Err(PomdpError::NonFinite {
                array: "ln E",
                index: 0,
                at: vec![k],
                value: lp[k],
            });
        }
    }
    if q.is_empty() {
        return Err(PomdpError::Missing { array: "Q" });
    }
    if f.len() != q.len() {
        return Err(PomdpError::Count {
            array: "F",
            expected: q.len(),
            got: f.len(),
            what: "one per policy",
        });
    }
    for (array, v) in [("Q", q), ("F", f)] {
        if let Some(k) = v.iter().position(|x| !x.is_finite()) {
            return Err(PomdpError::NonFinite {
                array,
                index: 0,
                at: vec![k],
                value: v[k],
            });
        }
    }
    if !(rate.is_finite() && rate > 0.0) {
        return Err(setting("precision rate", "must be finite and positive"));
    }
    let beta = prior.beta;
    let mut qb = rate;
    let mut gamma = 1.0 / qb;
    let mut qu = vec![0.0; q.len()];
    let mut pu = vec![0.0; q.len()];
    let mut gamma_updates = Vec::with_capacity(prior.num_iter);
    let mut q_pi_updates = Vec::with_capacity(prior.num_iter);
    for _ in 0..prior.num_iter {
        for (k, ((u, p), (&qk, &fk))) in qu
            .iter_mut()
            .zip(pu.iter_mut())
            .zip(q.iter().zip(f))
            .enumerate()
        {
            *p = match log_prior {
                Some(lp) => lp[k] + gamma * qk,
                None => gamma * qk,
            };
            *u = *p + fk;
        }
        softmax_in_place(&mut qu);
        softmax_in_place(&mut pu);
        let eg: f64 = qu
            .iter()
            .zip(&pu)
            .zip(q)
            .map(|((u, p), qk)| (u - p) * qk)
            .sum();
        let dfdg = qb - beta + eg;
        qb -= dfdg / 2.0;
        gamma = 1.0 / qb;
        if !gamma.is_finite() {
            return Err(PomdpError::NonFinite {
                array: "policy precision",
                index: 0,
                at: vec![gamma_updates.len()],
                value: gamma,
            });
        }
        gamma_updates.push(gamma);
        q_pi_updates.push(qu.clone());
    }
    Ok(PolicyPrecision {
        q_pi: qu,
        prior: pu,
        gamma,
        rate: qb,
        gamma_updates,
        q_pi_updates,
    })
}

/// The model and settings of a [`VbxLoop`].
///
/// Arrays are row-major with SPM's axis order: `a[g]` is
/// `[num_obs_g, n_1, …, n_F]`, `b[f]` is `[n_f, n_f, num_controls_f]`
/// (`B[next, previous, u]`), `c[g]` holds *raw* preferences, either
/// `[num_obs_g]` or `[rows, num_obs_g]` with one row per time step
/// (`rows ≥ num_steps`); the loop uses `ln σ(c)` per time step as SPM does.
/// `d[f]` is the prior over the first state. Each policy is the next action
/// per factor (SPM's `U`: `policies[k][f]`).
#[derive(Debug, Clone)]
pub struct VbxConfig {
    /// Likelihoods `A`.
    pub a: Vec<Tensor>,
    /// Transitions `B`.
    pub b: Vec<Tensor>,
    /// Raw preferences `C`.
    pub c: Vec<Tensor>,
    /// Initial-state priors `D`.
    pub d: Vec<Vec<f64>>,
    /// Allowed next actions, one row of per-factor actions per policy.
    pub policies: Vec<Vec<usize>>,
    /// Number of time steps `T`.
    pub num_steps: usize,
    /// Past window `W`: the window holds the current point, the `W − 1`
    /// points before it and the future points.
    pub window: usize,
    /// Message-passing settings (iterations, step size, guards, skip rule).
    pub mmp: MmpOptions,
    /// Policy precision γ (SPM's `w`), fixed over the run. Ignored once
    /// [`VbxLoop::with_precision`] switches on the precision update, which
    /// starts from SPM's `γ = 1/β`.
    pub gamma: f64,
    /// Sign of `F` in the policy posterior.
    pub evidence: EvidenceSign,
    /// Whether each step records the per-iteration traces (`xn`, `vn`).
    pub record_traces: bool,
}

/// What one step of a [`VbxLoop`] computed.
#[derive(Debug, Clone, PartialEq)]
pub struct VbxStep {
    /// The time step (0-based).
    pub t: usize,
    /// Absolute time (0-based) of the first point of the inference window.
    pub window_start: usize,
    /// `F` per policy (negative free energy of the window).
    pub free_energy: Vec<f64>,
    /// `Q` per policy: state information gain plus expected utility, summed
    /// over the present and future window points (larger is better).
    pub q: Vec<f64>,
    /// The policy posterior (SPM's `u(:, t)`, `MDP.R`).
    pub q_pi: Vec<f64>,
    /// The policy prior `σ(γ·Q)` that goes with [`VbxStep::q_pi`] (SPM's
    /// `pu`).
    pub policy_prior: Vec<f64>,
    /// The policy precision after this step: the fixed [`VbxConfig::gamma`],
    /// or with [`VbxLoop::with_precision`] the expected precision after the
    /// step's last update (SPM's `w(t)`, `MDP.w`).
    pub gamma: f64,
    /// With [`VbxLoop::with_precision`], γ after each update of this step
    /// (SPM's `wn`); otherwise empty.
    pub gamma_updates: Vec<f64>,
    /// The action per factor, chosen as the mode of the action posterior
    /// (none at the last step).
    pub action: Option<Vec<usize>>,
    /// Per policy, the iteration traces over the window (empty unless
    /// [`VbxConfig::record_traces`]).
    pub traces: Vec<MmpTrace>,
}

/// The closed loop of SPM's `spm_MDP_VB_X` in the form the cross-validation
/// script `vb_x_matlab_test_1a.m` writes it (Friston et al. 2017, "Active
/// inference: a process theory"; Parr et al. 2019 for the message passing).
///
/// At each step t, given the outcome:
///
/// 1. `L_t(s) = Π_g A_g[o_g,t, s]`; beliefs are flattened, `x ← σ(ln x / 4)`.
/// 2. For each policy k: [`marginal_message_passing`] over the window
///    `max(0, t−W+1) … S−1` (`S` = time points planned so far: `t + 2`
///    before the last step, `T` at it) with the actions taken so far and
///    policy k's next action, from policy k's beliefs; the window's first
///    point gets `ln D` at t = 0 and otherwise the *policy-separated prior*
///    `d_sep[k]` as it is (the script's choice: not pushed through `B`).
///    This gives `F[k]`.
/// 3. `Q[k] = Σ_{τ=t}^{S−1} [ G(x_τ) + Σ_g (A_g x_τ) · ln σ(C_g,τ) ]` with
///    [`spm_mdp_g`] for `G`.
/// 4. `q(π) = σ(γ·Q ± F)` ([`EvidenceSign`]), with γ fixed
///    ([`VbxConfig::gamma`]) or, after [`VbxLoop::with_precision`], updated
///    as SPM does ([`spm_policy_precision`], `±F` as the evidence term, the
///    rate `β_q` carried from step to step; skipped with a single policy, as
///    SPM skips its whole policy stage then).
/// 5. Before the last step: the action is the first mode of
///    `P(u) = Σ_k q(π_k) [U_k = u]` (column-major over factors, as MATLAB's
///    `find(P(:) == max(P(:)), 1)`); it becomes every policy's action at t;
///    the next step's policies are appended (unless it is the last); once
///    `t ≥ W − 1`, `d_sep[k] ← x_k(t−W+1)`; all beliefs reset to uniform.
///
/// Outcomes come one step at a time ([`VbxLoop::step`]), so the loop can be
/// closed with a generative process; [`VbxLoop::run`] takes them all at once.
#[derive(Debug, Clone)]
pub struct VbxLoop {
    a: Vec<Tensor>,
    transitions: MmpTransitions,
    log_c: Vec<Vec<Vec<f64>>>,
    d: Vec<Vec<f64>>,
    policies: Vec<Vec<usize>>,
    num_steps: usize,
    window: usize,
    mmp: MmpOptions,
    gamma: f64,
    evidence: EvidenceSign,
    record_traces: bool,
    /// The precision update, when switched on.
    precision: Option<PrecisionPrior>,
    /// Posterior rate `β_q` of the precision (SPM's `qb`).
    rate: f64,
    num_states: Vec<usize>,
    num_obs: Vec<usize>,
    /// `plan[k][r][f]`: policy k's action for the transition r → r+1.
    plan: Vec<Vec<Vec<usize>>>,
    /// Per-policy beliefs over the whole timeline.
    x: Vec<WindowBeliefs>,
    /// Per-policy prior for the window's first point.
    dsep: Vec<Vec<Vec<f64>>>,
    likelihoods: Vec<Vec<f64>>,
    t: usize,
    workspace: MmpWorkspace,
    contract: ContractBuffers,
}

/// The whole run of [`VbxLoop::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct VbxRun {
    /// One record per time step.
    pub steps: Vec<VbxStep>,
    /// The actions taken, `actions[t][f]` for t = 0..T−1.
    pub actions: Vec<Vec<usize>>,
    /// Per policy, the final beliefs over the timeline (`num_steps` points).
    pub beliefs: Vec<WindowBeliefs>,
}

impl VbxLoop {
    /// Validate the configuration and set up the loop at t = 0.
    pub fn new(config: VbxConfig) -> Result<Self, PomdpError> {
        let VbxConfig {
            a,
            b,
            c,
            d,
            policies,
            num_steps,
            window,
            mmp,
            gamma,
            evidence,
            record_traces,
        } = config;
        let transitions = MmpTransitions::new(&b)?;
        let num_states = transitions.num_states().to_vec();
        let nf = num_states.len();
        if num_steps == 0 {
            return Err(setting("num_steps", "must be at least 1"));
        }
        if window == 0 {
            return Err(setting("window", "must be at least 1"));
        }
        if !gamma.is_finite() {
            return Err(setting("gamma", "must be finite"));
        }
        if mmp.num_iter == 0 {
            return Err(setting("num_iter", "must be at least 1"));
        }
        if !(mmp.tau.is_finite() && mmp.tau > 0.0) {
            return Err(setting("tau", "must be finite and positive"));
        }
        if a.is_empty() {
            return Err(PomdpError::Missing { array: "A" });
        }
        let mut num_obs = Vec::with_capacity(a.len());
        for (g, t) in a.iter().enumerate() {
            check_joint_likelihood_shape(g, t, &num_states)?;
            check_probabilities("A", g, t)?;
            num_obs.push(t.shape()[0]);
        }
        if c.len() != a.len() {
            return Err(PomdpError::Count {
                array: "C",
                expected: a.len(),
                got: c.len(),
                what: "one per modality",
            });
        }
        let mut log_c = Vec::with_capacity(c.len());
        for (g, t) in c.iter().enumerate() {
            let no = num_obs[g];
            let ok = match t.shape() {
                [n] => *n == no,
                [rows, n] => *n == no && (*rows == 1 || *rows >= num_steps),
                _ => false,
            };
            if !ok {
                return Err(PomdpError::Shape {
                    array: "C",
                    index: g,
                    expected: vec![num_steps, no],
                    got: t.shape().to_vec(),
                });
            }
            if let Some(k) = t.data().iter().position(|x| !x.is_finite()) {
                return Err(PomdpError::NonFinite {
                    array: "C",
                    index: g,
                    at: vec![k / no, k % no],
                    value: t.data()[k],
                });
            }
            log_c.push(
                t.data()
                    .chunks_exact(no)
                    .map(|row| {
                        let mut p = row.to_vec();
                        softmax_in_place(&mut p);
                        mmp.guard.ln_vec(&p)
                    })
                    .collect(),
            );
        }
        if d.len() != nf {
            return Err(PomdpError::Count {
                array: "D",
                expected: nf,
                got: d.len(),
                what: "one per factor",
            });
        }
        for (f, v) in d.iter().enumerate() {
            let t = Tensor::new(vec![v.len()], v.clone()).map_err(|_| PomdpError::Shape {
                array: "D",
                index: f,
                expected: vec![num_states[f]],
                got: vec![v.len()],
            })?;
            check_vector("D", f, v, num_states[f])?;
            check_probabilities("D", f, &t)?;
        }
        if policies.is_empty() {
            return Err(PomdpError::Missing { array: "policies" });
        }
        for row in &policies {
            if row.len() != nf {
                return Err(PomdpError::ActionLength {
                    expected: nf,
                    got: row.len(),
                });
            }
            for (f, &u) in row.iter().enumerate() {
                let nu = transitions.num_controls()[f];
                if u >= nu {
                    return Err(PomdpError::ActionOutOfRange {
                        factor: f,
                        value: u,
                        num_controls: nu,
                    });
                }
            }
        }
        let np = policies.len();
        let mut x0 = WindowBeliefs::uniform(&num_states, num_steps)?;
        for (f, v) in d.iter().enumerate() {
            x0.set_marginal(f, 0, v)?;
        }
        let plan = policies.iter().map(|p| vec![p.clone()]).collect();
        let dsep = vec![
            num_states
                .iter()
                .map(|&n| vec![1.0 / n as f64; n])
                .collect::<Vec<_>>();
            np
        ];
        Ok(Self {
            a,
            transitions,
            log_c,
            d,
            policies,
            num_steps,
            window,
            mmp,
            gamma,
            evidence,
            record_traces,
            precision: None,
            rate: 1.0 / gamma,
            num_states,
            num_obs,
            plan,
            x: vec![x0; np],
            dsep,
            likelihoods: Vec::with_capacity(num_steps),
            t: 0,
            workspace: MmpWorkspace::default(),
            contract: ContractBuffers::default(),
        })
    }

    /// Switch SPM's policy-precision update on (`Some`) or off (`None`, γ
    /// fixed at [`VbxConfig::gamma`], the default).
    ///
    /// With a prior, the loop starts from `β_q = β`, `γ = 1/β` (SPM's
    /// `qb = beta`, `w = 1/qb`) and runs [`spm_policy_precision`] at every
    /// step after the state updates and `Q`, carrying `β_q` over between
    /// steps. Note that `spm_MDP_VB_X` itself only does this for sequential
    /// policies (`MDP.V`): with one-step policies (`MDP.U`, the form this loop
    /// plans with) it sets `OPTIONS.gamma = 1` and keeps `γ = 1/β` fixed.
    /// Here the policies share their past, so their `F` differ only through
    /// the future point and the policy-separated window prior: with
    /// deterministic transitions and backward messages from observed points
    /// only, `F` is the same for every policy, `q(π) = p(π)` and γ stays at
    /// `1/β`; it moves with noisy transitions and
    /// [`crate::mmp::BackwardMessages::FromAll`].
    ///
    /// Errors once a step has run, or on an invalid prior.
    pub fn with_precision(mut self, precision: Option<PrecisionPrior>) -> Result<Self, PomdpError> {
        if self.t > 0 {
            return Err(PomdpError::Order(
                "the precision prior must be set before the first step",
            ));
        }
        match precision {
            Some(prior) => {
                prior.validate()?;
                self.rate = prior.beta;
                self.gamma = 1.0 / prior.beta;
            }
            None => {
                if self.precision.is_some() {
                    return Err(PomdpError::Order(
                        "the precision update cannot be switched off again; rebuild the loop",
                    ));
                }
            }
        }
        self.precision = precision;
        Ok(self)
    }

    /// The current policy precision γ (fixed, or the latest update).
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The next time step to run (0-based); equals `num_steps` when done.
    pub fn time(&self) -> usize {
        self.t
    }

    /// Policy k's current beliefs over the timeline (`num_steps` points).
    pub fn beliefs(&self, k: usize) -> Option<&WindowBeliefs> {
        self.x.get(k)
    }

    /// Take the outcome of the current step (one index per modality) and run
    /// inference, planning and action selection for it.
    pub fn step(&mut self, obs: &[usize]) -> Result<VbxStep, PomdpError> {
        if self.t >= self.num_steps {
            return Err(PomdpError::Order("all time steps of the loop have run"));
        }
        if obs.len() != self.a.len() {
            return Err(PomdpError::ObservationLength {
                expected: self.a.len(),
                got: obs.len(),
            });
        }
        for (g, (&o, &no)) in obs.iter().zip(&self.num_obs).enumerate() {
            if o >= no {
                return Err(PomdpError::ObservationOutOfRange {
                    modality: g,
                    value: o,
                    num_obs: no,
                });
            }
        }
        let t = self.t;
        let mut lik = vec![1.0; self.num_states.iter().product()];
        for (a, &o) in self.a.iter().zip(obs) {
            for (l, &p) in lik.iter_mut().zip(a.axis0(o)) {
                *l *= p;
            }
        }
        self.likelihoods.push(lik);

        // Flatten beliefs: x ← σ(ln x / 4) (the identity on uniform beliefs).
        let guard = self.mmp.guard;
        for x in &mut self.x {
            x.for_each_marginal(|_, q| {
                for v in q.iter_mut() {
                    *v = guard.ln(*v) / 4.0;
                }
                softmax_in_place(q);
            });
        }

        let np = self.policies.len();
        let num_points_total = self.plan[0].len() + 1;
        let start = (t + 1).saturating_sub(self.window);
        let n_points = num_points_total - start;
        let mut free_energy = vec![0.0; np];
        let mut traces = Vec::new();
        for (k, fk) in free_energy.iter_mut().enumerate() {
            let mut window = WindowBeliefs::uniform(&self.num_states, n_points)?;
            window.copy_points(0, &self.x[k], start, n_points);
            let prior = if start == 0 {
                WindowPrior::Initial(&self.d)
            } else {
                WindowPrior::Given(&self.dsep[k])
            };
            let inputs = MmpInputs {
                transitions: &self.transitions,
                likelihoods: &self.likelihoods[start..=t],
                actions: &self.plan[k][start..num_points_total - 1],
                prior,
            };
            let mut trace = MmpTrace::default();
            let outcome = marginal_message_passing(
                &inputs,
                &self.mmp,
                &mut window,
                &mut self.workspace,
                self.record_traces.then_some(&mut trace),
            )?;
            *fk = outcome.free_energy;
            self.x[k].copy_points(start, &window, 0, n_points);
            if self.record_traces {
                traces.push(trace);
            }
        }

        // Expected free energy over the present and future points.
        let mut q = vec![0.0; np];
        let nf = self.num_states.len();
        let mut vecs: Vec<&[f64]> = Vec::with_capacity(nf + 1);
        for (k, qk) in q.iter_mut().enumerate() {
            for tau in t..num_points_total {
                vecs.clear();
                vecs.push(&[]);
                for f in 0..nf {
                    vecs.push(self.x[k].marginal(f, tau).unwrap_or(&[]));
                }
                *qk += spm_mdp_g(&self.a, &vecs[1..])?;
                for (g, a) in self.a.iter().enumerate() {
                    let qo = dot_except(a.data(), a.shape(), &vecs, Some(0), &mut self.contract);
                    let rows = &self.log_c[g];
                    let lc = &rows[tau.min(rows.len() - 1)];
                    *qk += qo.iter().zip(lc).map(|(o, c)| o * c).sum::<f64>();
                }
            }
        }
        let sign = match self.evidence {
            EvidenceSign::Plus => 1.0,
            EvidenceSign::Minus => -1.0,
        };
        let evidence: Vec<f64> = free_energy.iter().map(|&fk| sign * fk).collect();
        let (q_pi, policy_prior, gamma_updates) = match self.precision {
            Some(prior) if np > 1 => {
                let out = spm_policy_precision(&q, &evidence, self.rate, prior)?;
                self.rate = out.rate;
                self.gamma = out.gamma;
                (out.q_pi, out.prior, out.gamma_updates)
            }
            _ => {
                let mut prior: Vec<f64> = q.iter().map(|&qk| self.gamma * qk).collect();
                let mut q_pi: Vec<f64> = prior.iter().zip(&evidence).map(|(p, e)| p + e).collect();
                softmax_in_place(&mut q_pi);
                softmax_in_place(&mut prior);
                (q_pi, prior, Vec::new())
            }
        };

        let action = if t + 1 < self.num_steps {
            let action = self.select_action(t, &q_pi);
            for (plan, policy) in self.plan.iter_mut().zip(&self.policies) {
                plan[t].clone_from(&action);
                if t + 2 < self.num_steps {
                    plan.push(policy.clone());
                }
            }
            if t + 1 >= self.window {
                let point = t + 1 - self.window;
                for (dsep, x) in self.dsep.iter_mut().zip(&self.x) {
                    for (f, d) in dsep.iter_mut().enumerate() {
                        if let Some(m) = x.marginal(f, point) {
                            d.copy_from_slice(m);
                        }
                    }
                }
            }
            let ns = &self.num_states;
            for x in &mut self.x {
                x.for_each_marginal(|f, q| q.fill(1.0 / ns[f] as f64));
            }
            Some(action)
        } else {
            None
        };
        self.t += 1;
        Ok(VbxStep {
            t,
            window_start: start,
            free_energy,
            q,
            q_pi,
            policy_prior,
            gamma: self.gamma,
            gamma_updates,
            action,
            traces,
        })
    }

    /// The first mode of the action posterior at step t, scanning the joint
    /// action space column-major (first factor fastest), as MATLAB does.
    fn select_action(&self, t: usize, q_pi: &[f64]) -> Vec<usize> {
        let nu = self.transitions.num_controls();
        let size: usize = nu.iter().product();
        let mut pu = vec![0.0; size];
        for (plan, &p) in self.plan.iter().zip(q_pi) {
            let mut lin = 0;
            let mut stride = 1;
            for (&u, &n) in plan[t].iter().zip(nu) {
                lin += u * stride;
                stride *= n;
            }
            pu[lin] += p;
        }
        let mut best = 0;
        for (i, &p) in pu.iter().enumerate() {
            if p > pu[best] {
                best = i;
            }
        }
        let mut action = Vec::with_capacity(nu.len());
        for &n in nu {
            action.push(best % n);
            best /= n;
        }
        action
    }

    /// Run every step with the given outcomes (`observations[t][g]`, one row
    /// per time step, exactly `num_steps` rows).
    pub fn run(config: VbxConfig, observations: &[Vec<usize>]) -> Result<VbxRun, PomdpError> {
        Self::new(config)?.run_all(observations)
    }

    /// Run every remaining step with the given outcomes (one row per
    /// remaining time step), e.g. after [`VbxLoop::with_precision`]. The
    /// record holds the steps run here.
    pub fn run_all(mut self, observations: &[Vec<usize>]) -> Result<VbxRun, PomdpError> {
        let remaining = self.num_steps - self.t;
        if observations.len() != remaining {
            return Err(PomdpError::Count {
                array: "observations",
                expected: remaining,
                got: observations.len(),
                what: "one row per remaining time step",
            });
        }
        let mut steps = Vec::with_capacity(remaining);
        let mut actions = Vec::with_capacity(remaining);
        for o in observations {
            let step = self.step(o)?;
            if let Some(a) = &step.action {
                actions.push(a.clone());
            }
            steps.push(step);
        }
        Ok(VbxRun {
            steps,
            actions,
            beliefs: self.x,
        })
    }
}

/// `A[g]` must be `[num_obs, num_states…]` over every factor (SPM's layout).
fn check_joint_likelihood_shape(g: usize, t: &Tensor, ns: &[usize]) -> Result<(), PomdpError> {
    if t.ndim() != ns.len() + 1 || t.shape()[1..] != ns[..] {
        let mut expected = vec![t.shape().first().copied().unwrap_or(1)];
        expected.extend_from_slice(ns);
        return Err(PomdpError::Shape {
            array: "A",
            index: g,
            expected,
            got: t.shape().to_vec(),
        });
    }
    Ok(())
}

fn setting(name: &str, reason: &str) -> PomdpError {
    PomdpError::Setting {
        name: name.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_m16_constant_is_exact() {
        assert_eq!(SPM_EXP_M16, (-16f64).exp());
        assert_eq!(crate::mmp::SkipRule::SPM.threshold, (-8f64).exp());
    }

    #[test]
    fn wnorm_differs_from_the_masked_variant_as_documented() {
        let a = Tensor::new(vec![2, 2], vec![0.5, 0.0, 0.5, 1.0]).unwrap();
        let w = spm_wnorm(&a).unwrap();
        // Zero count kept: about −1/exp(−16).
        assert!(w.data()[1] < -8.0e6);
        let masked = crate::control::novelty_weights(&a, crate::control::NoveltyForm::Spm);
        assert_eq!(masked.data()[1], 0.0);
        assert!((w.data()[0] - masked.data()[0]).abs() > 1e-7);
    }

    #[test]
    fn vbx_wnorm_has_the_half_and_the_tiny_epsilon() {
        let w = spm_vbx_wnorm(&[1.0, 3.0, 1.0, 1.0], 2);
        // Columns (1, 1) and (3, 1): (1/2 − 1/1)/2 and (1/4 − 1/3)/2.
        assert!((w[0] - (-0.25)).abs() < 1e-15);
        assert!((w[1] - (1.0 / 4.0 - 1.0 / 3.0) / 2.0).abs() < 1e-15);
        assert!((w[3] - (1.0 / 4.0 - 1.0) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn kl_dir_is_zero_for_equal_counts_and_close_to_the_exact_form() {
        let p = [2.0, 1.0, 5.0, 3.0, 1.0, 2.0];
        assert_eq!(spm_kl_dir(&p, &p, 2).unwrap(), 0.0);
        let q = [4.0, 1.0, 9.0, 3.0, 2.0, 2.0];
        let approx = spm_kl_dir(&q, &p, 2).unwrap();
        let exact = actinf_core::maths::kl_dirichlet(&q, &p, 2);
        assert!(exact > 0.0);
        // The 1/32 shift moves the result by O(1/32) per count added.
        assert!((approx - exact).abs() < 0.2 * exact, "{approx} vs {exact}");
        assert_ne!(approx, exact);
        // Zero counts drop out of ln B (SPM's spm_betaln).
        let with_zero = spm_kl_dir(&[3.0, 0.0], &[2.0, 0.0], 2).unwrap();
        assert!(with_zero.is_finite());
        assert!(spm_kl_dir(&q, &p[..4], 2).is_err());
        assert!(spm_kl_dir(&[-1.0, 1.0], &[1.0, 1.0], 2).is_err());
    }

    #[test]
    fn precision_with_a_uniform_log_prior_equals_none() {
        let q = [-3.0, -1.0, -2.5];
        let f = [-0.5, -0.7, -0.2];
        let lp = [(1.0f64 / 3.0).ln(); 3];
        let a = spm_policy_precision(&q, &f, 1.0, PrecisionPrior::SPM).unwrap();
        let b = spm_policy_precision_with_log_prior(&q, &f, Some(&lp), 1.0, PrecisionPrior::SPM)
            .unwrap();
        for (x, y) in a.q_pi.iter().zip(&b.q_pi) {
            assert!((x - y).abs() < 1e-14);
        }
        assert!((a.gamma - b.gamma).abs() < 1e-14);
        let skewed = [0.0, -2.0, 0.0];
        let c =
            spm_policy_precision_with_log_prior(&q, &f, Some(&skewed), 1.0, PrecisionPrior::SPM)
                .unwrap();
        assert!(c.q_pi[1] < a.q_pi[1]);
        assert!(spm_policy_precision_with_log_prior(
            &q,
            &f,
            Some(&lp[..2]),
            1.0,
            PrecisionPrior::SPM
        )
        .is_err());
    }

    #[test]
    fn information_gain_is_zero_for_a_flat_likelihood_and_positive_otherwise() {
        let flat = Tensor::new(vec![2, 2], vec![0.5; 4]).unwrap();
        let q = [0.3, 0.7];
        assert!(spm_mdp_g(&[flat], &[&q]).unwrap().abs() < 1e-6);
        let sharp = Tensor::new(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let h = -(0.3f64 * 0.3f64.ln() + 0.7 * 0.7f64.ln());
        assert!((spm_mdp_g(&[sharp], &[&q]).unwrap() - h).abs() < 1e-5);
    }

    #[test]
    fn loop_rejects_bad_configuration_and_runs_a_small_model() {
        let a = Tensor::new(vec![2, 2], vec![0.9, 0.1, 0.1, 0.9]).unwrap();
        let b = Tensor::new(vec![2, 2, 2], vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
        let c = Tensor::new(vec![2], vec![0.0, 2.0]).unwrap();
        let config = VbxConfig {
            a: vec![a],
            b: vec![b],
            c: vec![c],
            d: vec![vec![0.5, 0.5]],
            policies: vec![vec![0], vec![1]],
            num_steps: 4,
            window: 2,
            mmp: MmpOptions::spm(8),
            gamma: 4.0,
            evidence: EvidenceSign::Plus,
            record_traces: true,
        };
        let mut bad = config.clone();
        bad.policies = vec![vec![2]];
        assert!(matches!(
            VbxLoop::new(bad),
            Err(PomdpError::ActionOutOfRange { .. })
        ));
        let mut bad = config.clone();
        bad.d = vec![vec![0.5, 0.6]];
        assert!(matches!(
            VbxLoop::new(bad),
            Err(PomdpError::NotNormalised { .. })
        ));
        let run = VbxLoop::run(config.clone(), &[vec![0], vec![1], vec![1], vec![0]]).unwrap();
        assert_eq!(run.actions.len(), 3);
        for s in &run.steps {
            assert!((s.q_pi.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert_eq!(s.traces.len(), 2);
        }
        let mut lp = VbxLoop::new(config).unwrap();
        assert!(matches!(
            lp.step(&[2]),
            Err(PomdpError::ObservationOutOfRange { .. })
        ));
    }
}
