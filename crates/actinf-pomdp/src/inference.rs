//! State inference: the posterior over hidden states given outcomes.
//!
//! All schemes minimise the variational free energy
//! `F = Σ_f E_q[ln q(s_f) − ln p(s_f)] − Σ_m E_q[ln p(o_m | s)]`
//! under a mean-field posterior `q(s) = Π_f q(s_f)` (Da Costa et al. 2020,
//! "Active inference on discrete state-spaces: a synthesis", eq. 4–6).

use actinf_core::maths::softmax_in_place;
use actinf_core::tensor::{dot, dot_except, ContractBuffers};
use actinf_core::LogGuard;

use crate::model::GenerativeModel;

/// A posterior over hidden states with its variational free energy.
#[derive(Debug, Clone, PartialEq)]
pub struct StateInference {
    /// `q(s_f)` per factor.
    pub qs: Vec<Vec<f64>>,
    /// Variational free energy `F` of that posterior (nats).
    pub free_energy: f64,
}

/// Reusable buffers for state inference (one agent owns one).
#[derive(Debug, Default, Clone)]
pub struct InferenceBuffers {
    contract: ContractBuffers,
    message: Vec<Vec<f64>>,
    next: Vec<f64>,
}

/// `ln A_m[o_m, …]` for every modality: the log-likelihood of each outcome over
/// its modality's dependency factors (row-major over those factors).
pub fn log_likelihoods(model: &GenerativeModel, obs: &[usize], guard: LogGuard) -> Vec<Vec<f64>> {
    model
        .a
        .iter()
        .zip(obs)
        .map(|(a, &o)| guard.ln_vec(a.axis0(o)))
        .collect()
}

/// Accumulate, for every factor, the expected log-likelihood message
/// `Σ_m E_{q(s_{\f})}[ln A_m[o_m, s]]` into `msg[f]` (which is zeroed first).
pub fn likelihood_messages(
    model: &GenerativeModel,
    log_lik: &[Vec<f64>],
    qs: &[Vec<f64>],
    msg: &mut [Vec<f64>],
    buf: &mut ContractBuffers,
) {
    for (f, v) in msg.iter_mut().enumerate() {
        v.clear();
        v.resize(model.num_states[f], 0.0);
    }
    let mut vecs: Vec<&[f64]> = Vec::with_capacity(model.num_factors());
    let mut shape: Vec<usize> = Vec::with_capacity(model.num_factors());
    for (m, ll) in log_lik.iter().enumerate() {
        let deps = &model.a_dependencies[m];
        vecs.clear();
        shape.clear();
        for &f in deps {
            vecs.push(&qs[f]);
            shape.push(model.num_states[f]);
        }
        for (k, &f) in deps.iter().enumerate() {
            let r = dot_except(ll, &shape, &vecs, Some(k), buf);
            for (a, b) in msg[f].iter_mut().zip(r) {
                *a += b;
            }
        }
    }
}

/// Expected log-likelihood `Σ_m E_q[ln A_m[o_m, s]]` under the full mean-field posterior.
pub fn expected_log_likelihood(
    model: &GenerativeModel,
    log_lik: &[Vec<f64>],
    qs: &[Vec<f64>],
    buf: &mut ContractBuffers,
) -> f64 {
    let mut total = 0.0;
    let mut vecs: Vec<&[f64]> = Vec::new();
    let mut shape: Vec<usize> = Vec::new();
    for (m, ll) in log_lik.iter().enumerate() {
        vecs.clear();
        shape.clear();
        for &f in &model.a_dependencies[m] {
            vecs.push(&qs[f]);
            shape.push(model.num_states[f]);
        }
        total += dot_except(ll, &shape, &vecs, None, buf)[0];
    }
    total
}

/// Variational free energy of a mean-field posterior at one time step:
/// `F = Σ_f q_f·(ln q_f − ln p_f) − Σ_m E_q[ln A_m[o_m, s]]`.
pub fn free_energy(
    model: &GenerativeModel,
    log_lik: &[Vec<f64>],
    qs: &[Vec<f64>],
    log_prior: &[Vec<f64>],
    guard: LogGuard,
    buf: &mut ContractBuffers,
) -> f64 {
    let complexity: f64 = qs
        .iter()
        .zip(log_prior)
        .map(|(q, lp)| {
            q.iter()
                .zip(lp)
                .map(|(&x, &l)| x * (guard.ln(x) - l))
                .sum::<f64>()
        })
        .sum();
    complexity - expected_log_likelihood(model, log_lik, qs, buf)
}

/// Iterations stop early once no entry of the posterior moves by more than
/// this (the fixed point is then reached to rounding; further iterations
/// change nothing a reference could detect).
pub const FPI_FIXED_POINT_TOLERANCE: f64 = 1e-15;

/// Fixed-point iteration of the mean-field posterior at one time step.
///
/// Starting from uniform `q` (as pymdp does), every iteration sets, for all factors at
/// once, `ln q_f ← ln p_f + Σ_m E_{q(s_{\f})}[ln A_m[o_m, s]]` and normalises
/// (pymdp's `run_factorized_fpi`; Parr & Friston 2018), for at most
/// `num_iter` iterations or until the fixed point is reached
/// ([`FPI_FIXED_POINT_TOLERANCE`]). With one factor the first iteration is
/// already exact Bayes.
pub fn fpi(
    model: &GenerativeModel,
    obs: &[usize],
    prior: &[Vec<f64>],
    num_iter: usize,
    guard: LogGuard,
    buf: &mut InferenceBuffers,
) -> StateInference {
    let log_lik = log_likelihoods(model, obs, guard);
    let log_prior: Vec<Vec<f64>> = prior.iter().map(|p| guard.ln_vec(p)).collect();
    let mut qs: Vec<Vec<f64>> = model
        .num_states
        .iter()
        .map(|&n| vec![1.0 / n as f64; n])
        .collect();
    let single_factor = model.num_factors() == 1;
    let iters = if single_factor { 1 } else { num_iter };
    buf.message.resize(model.num_factors(), Vec::new());
    for _ in 0..iters {
        likelihood_messages(model, &log_lik, &qs, &mut buf.message, &mut buf.contract);
        let mut change: f64 = 0.0;
        for (f, q) in qs.iter_mut().enumerate() {
            let next = &mut buf.next;
            next.clear();
            next.extend(
                buf.message[f]
                    .iter()
                    .zip(&log_prior[f])
                    .map(|(&m, &lp)| m + lp),
            );
            softmax_in_place(next);
            for (x, &y) in q.iter_mut().zip(next.iter()) {
                change = change.max((*x - y).abs());
                *x = y;
            }
        }
        if change <= FPI_FIXED_POINT_TOLERANCE {
            break;
        }
    }
    let free_energy = free_energy(model, &log_lik, &qs, &log_prior, guard, &mut buf.contract);
    StateInference { qs, free_energy }
}

/// Exact Bayesian inference for a single-factor model at one step:
/// `q(s) = p(s) Π_m A_m[o_m, s] / p(o)`, whose free energy is exactly the
/// surprise `F = −ln p(o) = −ln Σ_s p(s) Π_m A_m[o_m, s]`. Over a sequence,
/// with the empirical prior `p(s_t) = B q(s_{t−1})`, this is the forward
/// (filtering) pass of [`forward_backward`].
pub fn exact_posterior(model: &GenerativeModel, obs: &[usize], prior: &[f64]) -> StateInference {
    let mut q = prior.to_vec();
    for (a, &o) in model.a.iter().zip(obs) {
        for (x, &l) in q.iter_mut().zip(a.axis0(o)) {
            *x *= l;
        }
    }
    let evidence: f64 = q.iter().sum();
    for x in q.iter_mut() {
        *x /= evidence;
    }
    StateInference {
        qs: vec![q],
        free_energy: -evidence.ln(),
    }
}

/// Exact filtering and smoothing for a single-factor model (an HMM):
/// the forward–backward algorithm over a sequence of outcomes.
///
/// Forward: `α_1 ∝ D ⊙ A[o_1]`, `α_t ∝ A[o_t] ⊙ B_{u_{t−1}} α_{t−1}`; the
/// normalisers `c_t` give `ln p(o_{1:T}) = Σ_t ln c_t`. Backward:
/// `β_T = 1`, `β_t = B_{u_t}ᵀ (A[o_{t+1}] ⊙ β_{t+1}) / c_{t+1}`; marginals
/// `q(s_t) = α_t ⊙ β_t` (Rabiner 1989). When q is exact, `F = −ln p(o_{1:T})`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardBackward {
    /// Smoothed marginals `q(s_t | o_{1:T})`, one per time step.
    pub smoothed: Vec<Vec<f64>>,
    /// Filtered marginals `q(s_t | o_{1:t})`.
    pub filtered: Vec<Vec<f64>>,
    /// `ln p(o_{1:T})`.
    pub log_evidence: f64,
}

/// Run [`ForwardBackward`] on a single-factor model from the prior `prior`
/// over the first state, outcomes `obs[t][m]` and actions `actions[t]` taken
/// between step t and t+1 (`actions.len() + 1 == obs.len()`).
pub fn forward_backward(
    model: &GenerativeModel,
    prior: &[f64],
    obs: &[Vec<usize>],
    actions: &[usize],
) -> ForwardBackward {
    let n = model.num_states[0];
    let likelihood = |o: &[usize]| -> Vec<f64> {
        let mut l = vec![1.0; n];
        for (a, &om) in model.a.iter().zip(o) {
            for (x, &y) in l.iter_mut().zip(a.axis0(om)) {
                *x *= y;
            }
        }
        l
    };
    let transition = |u: usize| -> Vec<f64> {
        // B[s', s] for control u, row-major [n, n].
        let b = model.b[0].data();
        let nc = model.num_controls[0];
        (0..n * n).map(|k| b[k * nc + u]).collect()
    };
    let t_len = obs.len();
    let mut filtered: Vec<Vec<f64>> = Vec::with_capacity(t_len);
    let mut scale = Vec::with_capacity(t_len);
    let mut log_evidence = 0.0;
    let mut pred = prior.to_vec();
    for t in 0..t_len {
        if t > 0 {
            let bu = transition(actions[t - 1]);
            let prev = &filtered[t - 1];
            pred = bu.chunks_exact(n).map(|row| dot(row, prev)).collect();
        }
        let l = likelihood(&obs[t]);
        let mut alpha: Vec<f64> = pred.iter().zip(&l).map(|(p, x)| p * x).collect();
        let c: f64 = alpha.iter().sum();
        for a in alpha.iter_mut() {
            *a /= c;
        }
        log_evidence += c.ln();
        scale.push(c);
        filtered.push(alpha);
    }
    let mut smoothed = filtered.clone();
    let mut beta = vec![1.0; n];
    for t in (0..t_len.saturating_sub(1)).rev() {
        let bu = transition(actions[t]);
        let l = elementwise_product(&likelihood(&obs[t + 1]), &beta);
        let mut nb = vec![0.0; n];
        for (sp, row) in bu.chunks_exact(n).enumerate() {
            for (s, &b) in row.iter().enumerate() {
                nb[s] += b * l[sp];
            }
        }
        for x in nb.iter_mut() {
            *x /= scale[t + 1];
        }
        beta = nb;
        let mut q: Vec<f64> = filtered[t].iter().zip(&beta).map(|(a, b)| a * b).collect();
        let s: f64 = q.iter().sum();
        for x in q.iter_mut() {
            *x /= s;
        }
        smoothed[t] = q;
    }
    ForwardBackward {
        smoothed,
        filtered,
        log_evidence,
    }
}

fn elementwise_product(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x * y).collect()
}
