//! One trial of `spm_MDP_VB_X` (SPM12 r7771), replayed with recorded
//! outcomes and actions.
//!
//! The scheme (Friston, FitzGerald, Rigoli, Schwartenbeck & Pezzulo 2017,
//! "Active inference: a process theory", Neural Computation 29(1):1–49,
//! the belief updates of Figure 7 / Table 2, as SPM12's `spm_MDP_VB_X.m`
//! implements them), at each time step t = 1…T:
//!
//! 1. The outcome's likelihood `L_t(s) = Π_g A_g[o_g,t, s]` joins the past ones.
//! 2. Sequential policies only, t > 1: the Occam window keeps the policies with
//!    `ln q(π)_{t−1} − max ln q(π)_{t−1} > −zeta`.
//! 3. Every policy's beliefs are flattened, `x ← σ(ln x / erp)` (SPM's `erp`
//!    reset).
//! 4. For each kept policy, marginal message passing over the whole horizon
//!    (`actinf_pomdp::mmp`: `Ni` Gauss–Seidel sweeps, step `1/tau`, SPM's
//!    skip rule), with forward messages from `ln D` and backward messages
//!    from every later point (sequential policies) or from observed points
//!    only (one-step policies). Its `F` is the policy's negative free energy.
//! 5. `Q(π)`: the expected free energy (negative), `−Σ_f wD_f·x_f,1` (novelty
//!    of `d`, when learned) plus, over τ = t…S, the information gain about
//!    states (`spm_MDP_G`), the expected utility `A x · ln σ(C_τ)` and, when
//!    `a` is learned, its novelty `−wA·(A x ⊗ x)` (Friston et al. 2017, eq. 8;
//!    "Active inference, curiosity and insight").
//! 6. Policy posterior and precision, `Ni` iterations: `q(π) = σ(ln E + γQ + F)`,
//!    `p(π) = σ(ln E + γQ)`, and γ = 1/β_q updated by
//!    `actinf_pomdp::spm::spm_policy_precision_with_log_prior` (or fixed at
//!    1/β, SPM's `OPTIONS.gamma` and one-step policies).
//! 7. Bayesian model averages `X_f(:, τ) = Σ_π q(π) x_f,π(:, τ)`, `H_t`, and,
//!    before the last step, the action probabilities
//!    `P(u) = σ(alpha · ln Σ_π q(π)[π_t = u])`; the recorded action is taken.
//!    With one-step policies every policy's move at t becomes that action,
//!    the next move is appended and beliefs reset to uniform.
//!
//! After the last step, the Dirichlet counts grow: `a += eta · o_t ⊗ X_t`
//! (where `a > 0`), `b(:,:,u) += eta · q(π) x_t x_{t−1}ᵀ` (where `b > 0`),
//! `d += X(:, 1)` (where `d > 0`; no learning rate, as SPM has it), and the
//! parameter free energies are `−spm_KL_dir(posterior, prior)`.

use actinf_core::maths::softmax_in_place;
use actinf_core::tensor::{dot, dot_except, ContractBuffers};
use actinf_core::Tensor;
use actinf_pomdp::mmp::{
    marginal_message_passing, BackwardMessages, MmpInputs, MmpOptions, MmpTrace, MmpTransitions,
    MmpWorkspace, SkipRule, WindowBeliefs, WindowPrior, SPM_LOG_GUARD,
};
use actinf_pomdp::spm::{
    spm_kl_dir, spm_mdp_g, spm_policy_precision_with_log_prior, spm_vbx_wnorm, PrecisionPrior,
};

use super::error::MdpError;
use super::model::{Concentrations, MdpModel, Policies};

/// SPM's `spm_log` in `spm_MDP_VB_X`: `ln(x + 1e-16)`.
fn spm_log(x: f64) -> f64 {
    SPM_LOG_GUARD.ln(x)
}

/// The recorded inputs of one trial, 0-based.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialInputs {
    /// `outcomes[g][t]`: the outcome of modality g at time t (T per modality).
    pub outcomes: Vec<Vec<usize>>,
    /// `actions[f][t]`: the control of factor f for the transition t → t+1
    /// (T − 1 per factor).
    pub actions: Vec<Vec<usize>>,
}

/// The per-iteration traces of a trial (SPM's `xn`, `vn`), as Bayesian
/// model averages over policies.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronalTraces {
    /// `xn[f]`: row-major `[Ni, Ns_f, T, T]`, the marginal of state s at
    /// point τ after iteration i of time step t (SPM's `xn{f}(i, s, τ, t)`);
    /// zero for points beyond the horizon of that step.
    pub xn: Vec<Vec<f64>>,
    /// `vn[f]`: the centred prediction errors, same layout (SPM's `vn`).
    pub vn: Vec<Vec<f64>>,
}

/// Everything `spm_MDP_VB_X` reports for a trial.
///
/// Matrices are `Vec` of rows. Policies are those of the model (eliminated
/// ones report zeros in `R`, `F` and `G`, as SPM does).
#[derive(Debug, Clone, PartialEq)]
pub struct TrialResult {
    /// `X[f]`: row-major `[Ns_f, T]`, the Bayesian model average of the state
    /// beliefs after the last update (SPM's `MDP.X`).
    pub x: Vec<Vec<f64>>,
    /// `Q[f]`: row-major `[Ns_f, T, Np]`, each policy's state beliefs after
    /// the last update (SPM's `MDP.Q`).
    pub policy_states: Vec<Vec<f64>>,
    /// `P[t]` for t = 1…T−1: the action probabilities over the joint controls,
    /// linear index column-major (first factor fastest, as MATLAB's `P(:)`).
    pub action_probabilities: Vec<Vec<f64>>,
    /// Controls per factor (the shape of each `P[t]`).
    pub num_controls: Vec<usize>,
    /// `R[k][t]`: the policy posterior at each time (SPM's `MDP.R`; with
    /// one-step policies the last time step is dropped, as SPM does).
    pub policy_posterior: Vec<Vec<f64>>,
    /// `F[k][t]`: negative free energy of each policy (SPM's `MDP.F`).
    pub free_energy: Vec<Vec<f64>>,
    /// `G[k][t]`: negative expected free energy `Q` (SPM's `MDP.G`).
    pub expected_free_energy: Vec<Vec<f64>>,
    /// `H[t]`: total negative free energy `q·F − KL[q(π) ‖ p(π)]` (SPM's `MDP.H`).
    pub total_free_energy: Vec<f64>,
    /// `w[t]`: expected policy precision after each time step (SPM's `MDP.w`).
    pub precision: Vec<f64>,
    /// `C_used[g]`: row-major `[No_g, k]`, the log-preferences `ln σ(C(:, τ))`.
    pub log_preferences: Vec<Vec<f64>>,
    /// Columns of each `C_used[g]`.
    pub log_preference_columns: Vec<usize>,
    /// `un[k][n]`: policy posterior after each precision iteration (SPM's `un`).
    pub un: Vec<Vec<f64>>,
    /// `wn[n]`: precision after each iteration (SPM's `wn`).
    pub wn: Vec<f64>,
    /// `dn[n] = 8·∇wn + wn/8`: simulated dopamine responses (SPM's `dn`).
    pub dn: Vec<f64>,
    /// The iteration traces, when asked for.
    pub traces: Option<NeuronalTraces>,
    /// The concentration parameters after this trial's learning.
    pub learned: Concentrations,
    /// `Fa[g] = −spm_KL_dir(a_post, a_prior)`, when `a` is learned.
    pub fa: Option<Vec<f64>>,
    /// `Fb[f]`, when `b` is learned.
    pub fb: Option<Vec<f64>>,
    /// `Fd[f]`, when `d` is learned.
    pub fd: Option<Vec<f64>>,
}

/// SPM's `spm_norm` on a row-major array whose axis 0 is the distribution:
/// columns divided by their sums, a zero column made uniform.
fn spm_norm(data: &[f64], rows: usize) -> Vec<f64> {
    let mut out = data.to_vec();
    let cols = out.len() / rows;
    for j in 0..cols {
        let sum: f64 = (0..rows).map(|i| out[i * cols + j]).sum();
        for i in 0..rows {
            let x = &mut out[i * cols + j];
            *x = if sum > 0.0 {
                *x / sum
            } else {
                1.0 / rows as f64
            };
        }
    }
    out
}

/// MATLAB's `gradient` of a vector: one-sided differences at the ends,
/// central differences inside.
fn gradient(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    (0..n)
        .map(|i| {
            if n < 2 {
                0.0
            } else if i == 0 {
                v[1] - v[0]
            } else if i == n - 1 {
                v[n - 1] - v[n - 2]
            } else {
                (v[i + 1] - v[i - 1]) / 2.0
            }
        })
        .collect()
}

/// Replay one trial of `spm_MDP_VB_X` with the recorded outcomes and actions
/// (see the [module documentation](self) for the scheme), starting from the
/// concentration parameters `learned` (the model's own for a first trial,
/// the previous trial's posterior in a sequence).
///
/// `record_traces` switches on the per-iteration traces (`xn`, `vn`).
///
/// Errors when the model does not validate ([`MdpModel::validate`]), or the
/// trial's outcomes or actions have the wrong number of rows or entries or an
/// index out of range.
pub fn replay_trial(
    model: &MdpModel,
    learned: &Concentrations,
    trial: &TrialInputs,
    record_traces: bool,
) -> Result<TrialResult, MdpError> {
    model.validate(learned)?;
    let big_t = model.num_steps;
    let ns = model.num_states();
    let nu = model.num_controls();
    let no = model.num_outcomes();
    let nf = ns.len();
    let ng = no.len();
    let np = model.policies.len();
    let set = model.settings;
    check_trial(trial, &no, &nu, big_t)?;

    // Parameters of the generative model (SPM's A, sB/rB, D, E, C).
    let a_used: Vec<Tensor> = match &learned.a {
        Some(a) => a,
        None => &model.a,
    }
    .iter()
    .map(normalised)
    .collect::<Result<_, _>>()?;
    let transitions = match &learned.b {
        Some(b) => MmpTransitions::from_counts(b),
        None => MmpTransitions::from_counts(&model.b),
    }
    .map_err(MdpError::engine("B"))?;
    let d_used: Vec<Vec<f64>> = (0..nf)
        .map(|f| match &learned.d {
            Some(d) => spm_norm(&d[f], ns[f]),
            None => spm_norm(&model.d[f], ns[f]),
        })
        .collect();
    let w_d: Option<Vec<Vec<f64>>> = learned.d.as_ref().map(|d| {
        d.iter()
            .zip(&ns)
            .map(|(x, &n)| spm_vbx_wnorm(x, n))
            .collect()
    });
    let w_a: Option<Vec<Vec<f64>>> = learned.a.as_ref().map(|a| {
        a.iter()
            .map(|t| {
                let w = spm_vbx_wnorm(t.data(), t.shape()[0]);
                w.iter()
                    .zip(t.data())
                    .map(|(&w, &x)| if x > 0.0 { w } else { 0.0 })
                    .collect()
            })
            .collect()
    });
    let e_used = match &model.e {
        Some(e) => spm_norm(e, np),
        None => vec![1.0 / np as f64; np],
    };
    let log_e: Vec<f64> = e_used.iter().map(|&x| spm_log(x)).collect();
    let mut log_preference_columns = Vec::with_capacity(ng);
    let log_c: Vec<Vec<f64>> = model
        .c
        .iter()
        .map(|c| {
            let (rows, cols) = (c.shape()[0], c.shape()[1]);
            let out_cols = if cols == 1 { big_t } else { cols };
            log_preference_columns.push(out_cols);
            let mut out = vec![0.0; rows * out_cols];
            let mut col = vec![0.0; rows];
            for j in 0..out_cols {
                let src = if cols == 1 { 0 } else { j };
                for (i, v) in col.iter_mut().enumerate() {
                    *v = c.data()[i * cols + src];
                }
                // spm_softmax returns ones for a single row.
                if rows < 2 {
                    col.fill(1.0);
                } else {
                    softmax_in_place(&mut col);
                }
                for (i, &v) in col.iter().enumerate() {
                    out[i * out_cols + j] = spm_log(v);
                }
            }
            out
        })
        .collect();

    // Policies as a growing table `steps[τ][k][f]` (SPM's V).
    let one_step = matches!(model.policies, Policies::OneStep(_));
    let mut steps: Vec<Vec<Vec<usize>>> = match &model.policies {
        Policies::Sequential(v) => v.clone(),
        Policies::OneStep(u) => {
            if big_t > 1 {
                vec![u.clone()]
            } else {
                Vec::new()
            }
        }
    };
    let fixed_precision = set.fixed_precision || one_step;
    let options = MmpOptions {
        num_iter: set.num_iter,
        tau: 1.0 / set.tau,
        skip: Some(SkipRule::SPM),
        guard: SPM_LOG_GUARD,
        backward_guard: SPM_LOG_GUARD,
        backward: if one_step {
            BackwardMessages::FromObserved
        } else {
            BackwardMessages::FromAll
        },
    };
    let precision_prior = PrecisionPrior {
        beta: set.beta,
        num_iter: set.num_iter,
    };

    // Per-policy beliefs: D at the first point, uniform elsewhere.
    let fresh = |points: usize, with_d: bool| -> Result<WindowBeliefs, MdpError> {
        let mut w = WindowBeliefs::uniform(&ns, points).map_err(MdpError::engine("beliefs"))?;
        if with_d {
            for (f, d) in d_used.iter().enumerate() {
                w.set_marginal(f, 0, d).map_err(MdpError::engine("D"))?;
            }
        }
        Ok(w)
    };
    let mut x: Vec<WindowBeliefs> = (0..np)
        .map(|_| fresh(steps.len() + 1, true))
        .collect::<Result<_, _>>()?;

    let ni = set.num_iter;
    let mut u_post: Vec<Vec<f64>> = vec![vec![if np == 1 { 1.0 } else { 0.0 }; big_t]; np];
    let mut plausible: Vec<usize> = (0..np).collect();
    let mut rate = set.beta;
    let mut precision = Vec::with_capacity(big_t);
    let mut un = vec![Vec::new(); np];
    let mut wn = Vec::with_capacity(big_t * ni);
    let mut free_energy = vec![vec![0.0; big_t]; np];
    let mut expected_fe = vec![vec![0.0; big_t]; np];
    let mut total_fe = vec![0.0; big_t];
    let mut x_bma: Vec<Vec<f64>> = ns.iter().map(|&n| vec![0.0; n * big_t]).collect();
    let mut action_probabilities = Vec::with_capacity(big_t.saturating_sub(1));
    let mut traces = record_traces.then(|| NeuronalTraces {
        xn: ns
            .iter()
            .map(|&n| vec![0.0; ni * n * big_t * big_t])
            .collect(),
        vn: ns
            .iter()
            .map(|&n| vec![0.0; ni * n * big_t * big_t])
            .collect(),
    });
    let mut likelihoods: Vec<Vec<f64>> = Vec::with_capacity(big_t);
    let mut workspace = MmpWorkspace::default();
    let mut contract = ContractBuffers::default();
    let mut step_traces: Vec<MmpTrace> = vec![MmpTrace::default(); np];
    let num_joint: usize = ns.iter().product();

    for t in 0..big_t {
        // 1. Likelihood of the outcome.
        let mut lik = vec![1.0; num_joint];
        for (a, o) in a_used.iter().zip(&trial.outcomes) {
            for (l, &p) in lik.iter_mut().zip(a.axis0(o[t])) {
                *l *= p;
            }
        }
        likelihoods.push(lik);

        // 2. Occam's window (sequential policies).
        if !one_step && t > 0 {
            let logs: Vec<f64> = plausible.iter().map(|&k| u_post[k][t - 1].ln()).collect();
            let best = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            plausible = plausible
                .iter()
                .zip(&logs)
                .filter(|(_, &l)| l - best > -set.zeta)
                .map(|(&k, _)| k)
                .collect();
        }

        // 3. Flatten every policy's beliefs.
        for xk in &mut x {
            xk.for_each_marginal(|_, q| {
                for v in q.iter_mut() {
                    *v = spm_log(*v) / set.erp;
                }
                softmax_in_place(q);
            });
        }

        // 4. Marginal message passing per kept policy.
        let horizon = steps.len() + 1;
        let mut f_t = vec![0.0; np];
        let mut actions_k: Vec<Vec<usize>> = Vec::with_capacity(horizon);
        for &k in &plausible {
            actions_k.clear();
            actions_k.extend(steps.iter().map(|row| row[k].clone()));
            let inputs = MmpInputs {
                transitions: &transitions,
                likelihoods: &likelihoods,
                actions: &actions_k,
                prior: WindowPrior::Initial(&d_used),
            };
            let outcome = marginal_message_passing(
                &inputs,
                &options,
                &mut x[k],
                &mut workspace,
                record_traces.then_some(&mut step_traces[k]),
            )
            .map_err(MdpError::engine(format!(
                "message passing at t = {}, policy {}",
                t + 1,
                k + 1
            )))?;
            f_t[k] = outcome.free_energy;
        }

        // 5.–6. Expected free energy, policy posterior and precision.
        let mut q_t = vec![0.0; np];
        let (qu, pu) = if np > 1 {
            let mut vecs: Vec<&[f64]> = Vec::with_capacity(nf + 1);
            for &k in &plausible {
                let xk = &x[k];
                if let Some(wd) = &w_d {
                    for (f, w) in wd.iter().enumerate() {
                        q_t[k] -= dot(w, marginal(xk, f, 0));
                    }
                }
                for tau in t..horizon {
                    vecs.clear();
                    vecs.push(&[]);
                    for f in 0..nf {
                        vecs.push(marginal(xk, f, tau));
                    }
                    q_t[k] +=
                        spm_mdp_g(&a_used, &vecs[1..]).map_err(MdpError::engine("spm_MDP_G"))?;
                    for (g, a) in a_used.iter().enumerate() {
                        let qo =
                            dot_except(a.data(), a.shape(), &vecs, Some(0), &mut contract).to_vec();
                        let cols = log_preference_columns[g];
                        let utility: f64 = qo
                            .iter()
                            .enumerate()
                            .map(|(o, &p)| p * log_c[g][o * cols + tau])
                            .sum();
                        q_t[k] += utility;
                        if let Some(wa) = &w_a {
                            let mut with_qo: Vec<&[f64]> = Vec::with_capacity(nf + 1);
                            with_qo.push(&qo);
                            with_qo.extend_from_slice(&vecs[1..]);
                            let novelty =
                                dot_except(&wa[g], a.shape(), &with_qo, None, &mut contract)[0];
                            q_t[k] -= novelty;
                        }
                    }
                }
            }
            let q_p: Vec<f64> = plausible.iter().map(|&k| q_t[k]).collect();
            let f_p: Vec<f64> = plausible.iter().map(|&k| f_t[k]).collect();
            let e_p: Vec<f64> = plausible.iter().map(|&k| log_e[k]).collect();
            let (qu, pu, updates, gamma) = if fixed_precision {
                let gamma = 1.0 / set.beta;
                let mut pu: Vec<f64> = e_p.iter().zip(&q_p).map(|(e, q)| e + gamma * q).collect();
                let mut qu: Vec<f64> = pu.iter().zip(&f_p).map(|(p, f)| p + f).collect();
                softmax_in_place(&mut qu);
                softmax_in_place(&mut pu);
                wn.extend(std::iter::repeat_n(gamma, ni));
                (qu.clone(), pu, vec![qu; ni], gamma)
            } else {
                let out = spm_policy_precision_with_log_prior(
                    &q_p,
                    &f_p,
                    Some(&e_p),
                    rate,
                    precision_prior,
                )
                .map_err(MdpError::engine(format!(
                    "policy precision at t = {}",
                    t + 1
                )))?;
                rate = out.rate;
                wn.extend_from_slice(&out.gamma_updates);
                (out.q_pi, out.prior, out.q_pi_updates, out.gamma)
            };
            for (k, row) in un.iter_mut().enumerate() {
                let pos = plausible.iter().position(|&j| j == k);
                row.extend(updates.iter().map(|q| pos.map_or(0.0, |p| q[p])));
            }
            for (p, &k) in plausible.iter().enumerate() {
                u_post[k][t] = qu[p];
            }
            precision.push(gamma);
            (qu, pu)
        } else {
            (vec![1.0], vec![1.0])
        };

        // 7. Bayesian model averages, free energies, action.
        for (f, xf) in x_bma.iter_mut().enumerate() {
            for tau in 0..horizon {
                for s in 0..ns[f] {
                    xf[s * big_t + tau] = (0..np)
                        .map(|k| marginal(&x[k], f, tau)[s] * u_post[k][t])
                        .sum();
                }
            }
        }
        if let Some(tr) = traces.as_mut() {
            for &k in &plausible {
                let w = u_post[k][t];
                let st = &step_traces[k];
                for (f, &n) in ns.iter().enumerate() {
                    for i in 0..ni {
                        for tau in 0..horizon {
                            let xs = marginal(&st.marginals[i], f, tau);
                            let vs = marginal(&st.errors[i], f, tau);
                            for s in 0..n {
                                let at = ((i * n + s) * big_t + tau) * big_t + t;
                                tr.xn[f][at] += xs[s] * w;
                                tr.vn[f][at] += vs[s] * w;
                            }
                        }
                    }
                }
            }
        }
        for k in 0..np {
            free_energy[k][t] = f_t[k];
            expected_fe[k][t] = q_t[k];
        }
        let accuracy: f64 = plausible.iter().zip(&qu).map(|(&k, &q)| q * f_t[k]).sum();
        let complexity: f64 = qu
            .iter()
            .zip(&pu)
            .map(|(&q, &p)| q * (spm_log(q) - spm_log(p)))
            .sum();
        total_fe[t] = accuracy - complexity;

        if t + 1 < big_t {
            let size: usize = nu.iter().product();
            let mut pu_joint = vec![0.0; size];
            for k in 0..np {
                let mut lin = 0;
                let mut stride = 1;
                for (&u, &n) in steps[t][k].iter().zip(&nu) {
                    lin += u * stride;
                    stride *= n;
                }
                pu_joint[lin] += u_post[k][t];
            }
            for p in pu_joint.iter_mut() {
                *p = set.alpha * p.ln();
            }
            softmax_in_place(&mut pu_joint);
            action_probabilities.push(pu_joint);

            if let Policies::OneStep(moves) = &model.policies {
                for row in steps[t].iter_mut() {
                    for (f, u) in row.iter_mut().enumerate() {
                        *u = trial.actions[f][t];
                    }
                }
                if t + 2 < big_t {
                    if steps.len() > t + 1 {
                        steps[t + 1] = moves.clone();
                    } else {
                        steps.push(moves.clone());
                    }
                }
                for xk in x.iter_mut() {
                    *xk = fresh(steps.len() + 1, false)?;
                }
            }
        }
    }

    // Learning: accumulate concentration parameters.
    let mut posterior = learned.clone();
    if let Some(a) = posterior.a.as_mut() {
        for (g, ag) in a.iter_mut().enumerate() {
            let cols = num_joint;
            let data = ag.data_mut();
            let mut idx = vec![0usize; nf];
            for t in 0..big_t {
                let o = trial.outcomes[g][t];
                for j in 0..cols {
                    unravel(&ns, j, &mut idx);
                    let entry = &mut data[o * cols + j];
                    if *entry > 0.0 {
                        let mut da = 1.0;
                        for f in 0..nf {
                            da *= x_bma[f][idx[f] * big_t + t];
                        }
                        *entry += da * set.eta;
                    }
                }
            }
        }
    }
    if let Some(b) = posterior.b.as_mut() {
        for t in 1..big_t {
            for (f, bf) in b.iter_mut().enumerate() {
                let n = ns[f];
                let nuf = nu[f];
                let data = bf.data_mut();
                for (k, xk) in x.iter().enumerate() {
                    let v = steps[t - 1][k][f];
                    let now = marginal(xk, f, t);
                    let before = marginal(xk, f, t - 1);
                    for i in 0..n {
                        let scaled = u_post[k][t] * now[i];
                        for j in 0..n {
                            let entry = &mut data[(i * n + j) * nuf + v];
                            if *entry > 0.0 {
                                *entry += scaled * before[j] * set.eta;
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(d) = posterior.d.as_mut() {
        for (f, df) in d.iter_mut().enumerate() {
            for (s, c) in df.iter_mut().enumerate() {
                if *c > 0.0 {
                    *c += x_bma[f][s * big_t];
                }
            }
        }
    }
    let kl = |post: &[f64], prior: &[f64], rows: usize, what: &str| {
        spm_kl_dir(post, prior, rows)
            .map(|k| -k)
            .map_err(MdpError::engine(what.to_string()))
    };
    let fa = match (&posterior.a, &learned.a) {
        (Some(post), Some(prior)) => Some(
            post.iter()
                .zip(prior)
                .map(|(q, p)| kl(q.data(), p.data(), q.shape()[0], "Fa"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    let fb = match (&posterior.b, &learned.b) {
        (Some(post), Some(prior)) => Some(
            post.iter()
                .zip(prior)
                .map(|(q, p)| kl(q.data(), p.data(), q.shape()[0], "Fb"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    let fd = match (&posterior.d, &learned.d) {
        (Some(post), Some(prior)) => Some(
            post.iter()
                .zip(prior)
                .map(|(q, p)| kl(q, p, q.len(), "Fd"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };

    let dn = if np > 1 {
        gradient(&wn)
            .iter()
            .zip(&wn)
            .map(|(g, w)| 8.0 * g + w / 8.0)
            .collect()
    } else {
        wn.clear();
        Vec::new()
    };
    if np == 1 {
        precision = vec![1.0 / set.beta];
        un = vec![vec![0.0]];
    }
    if one_step {
        for row in u_post.iter_mut() {
            row.pop();
        }
        if np > 1 {
            for row in un.iter_mut() {
                row.truncate(row.len().saturating_sub(ni));
            }
        }
    }
    let policy_states = (0..nf)
        .map(|f| {
            let n = ns[f];
            let mut out = vec![0.0; n * big_t * np];
            for (k, xk) in x.iter().enumerate() {
                for tau in 0..big_t {
                    let m = marginal(xk, f, tau);
                    for s in 0..n {
                        out[(s * big_t + tau) * np + k] = m[s];
                    }
                }
            }
            out
        })
        .collect();

    Ok(TrialResult {
        x: x_bma,
        policy_states,
        action_probabilities,
        num_controls: nu,
        policy_posterior: u_post,
        free_energy,
        expected_free_energy: expected_fe,
        total_free_energy: total_fe,
        precision,
        log_preferences: log_c,
        log_preference_columns,
        un,
        wn,
        dn,
        traces,
        learned: posterior,
        fa,
        fb,
        fd,
    })
}

/// `x_f[:, τ]` of a window known to hold it.
fn marginal(x: &WindowBeliefs, f: usize, tau: usize) -> &[f64] {
    x.marginal(f, tau).unwrap_or(&[])
}

/// Row-major multi-index of a linear offset.
fn unravel(shape: &[usize], mut off: usize, index: &mut [usize]) {
    for k in (0..shape.len()).rev() {
        index[k] = off % shape[k];
        off /= shape[k];
    }
}

fn normalised(t: &Tensor) -> Result<Tensor, MdpError> {
    Tensor::new(t.shape().to_vec(), spm_norm(t.data(), t.shape()[0])).map_err(|e| {
        MdpError::Engine {
            context: "A".into(),
            source: e.into(),
        }
    })
}

fn check_trial(
    trial: &TrialInputs,
    no: &[usize],
    nu: &[usize],
    big_t: usize,
) -> Result<(), MdpError> {
    if trial.outcomes.len() != no.len() {
        return Err(MdpError::Shape {
            field: "o_outcomes".into(),
            expected: format!("one row per modality ({})", no.len()),
            got: vec![trial.outcomes.len()],
        });
    }
    for (g, row) in trial.outcomes.iter().enumerate() {
        if row.len() != big_t {
            return Err(MdpError::Shape {
                field: format!("o_outcomes[{g}]"),
                expected: format!("T = {big_t} outcomes"),
                got: vec![row.len()],
            });
        }
        if let Some(t) = row.iter().position(|&o| o >= no[g]) {
            return Err(MdpError::IndexOutOfRange {
                field: format!("o_outcomes[{g}][{t}]"),
                value: (row[t] + 1) as f64,
                max: no[g],
            });
        }
    }
    if trial.actions.len() != nu.len() {
        return Err(MdpError::Shape {
            field: "u_actions".into(),
            expected: format!("one row per factor ({})", nu.len()),
            got: vec![trial.actions.len()],
        });
    }
    for (f, row) in trial.actions.iter().enumerate() {
        if row.len() != big_t.saturating_sub(1) {
            return Err(MdpError::Shape {
                field: format!("u_actions[{f}]"),
                expected: format!("T − 1 = {} actions", big_t.saturating_sub(1)),
                got: vec![row.len()],
            });
        }
        if let Some(t) = row.iter().position(|&u| u >= nu[f]) {
            return Err(MdpError::IndexOutOfRange {
                field: format!("u_actions[{f}][{t}]"),
                value: (row[t] + 1) as f64,
                max: nu[f],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_is_matlabs() {
        assert_eq!(gradient(&[1.0, 4.0, 9.0, 16.0]), vec![3.0, 4.0, 6.0, 7.0]);
        assert_eq!(gradient(&[2.0]), vec![0.0]);
        assert!(gradient(&[]).is_empty());
    }

    #[test]
    fn spm_norm_divides_columns_and_makes_zero_columns_uniform() {
        // 2 × 3 row-major: columns (1, 3), (0, 0), (2, 2).
        let n = spm_norm(&[1.0, 0.0, 2.0, 3.0, 0.0, 2.0], 2);
        assert_eq!(n, vec![0.25, 0.5, 0.5, 0.75, 0.5, 0.5]);
    }

    #[test]
    fn unravel_is_row_major() {
        let mut idx = [0; 3];
        unravel(&[2, 3, 4], 23, &mut idx);
        assert_eq!(idx, [1, 2, 3]);
        unravel(&[2, 3, 4], 5, &mut idx);
        assert_eq!(idx, [0, 1, 1]);
    }
}
