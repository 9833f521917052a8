//! State inference over a window of past time steps: variational and
//! marginal message passing, as pymdp 1.0 runs them.
//!
//! Filtering (`fpi`) keeps only a belief about the present. Smoothing over a
//! window of the last `H` steps lets later outcomes revise beliefs about
//! earlier states, which is what learning the transitions needs. Both schemes
//! here keep one marginal per slot and factor, start them uniform, and update
//! all of them in parallel for `num_iter` iterations:
//!
//! `ln q(s_τ,f) ← ln Ā(τ,f) + fwd(τ,f) + bwd(τ,f)`, then softmax,
//!
//! where `ln Ā(τ,f)` is the expected log-likelihood of slot τ's outcomes (as
//! in `fpi`) and the messages come from the neighbouring slots through `B`
//! under the actions taken between them.
//!
//! - **VMP** (Winn & Bishop 2005; Parr et al. 2019, "Neuronal message passing
//!   using Mean-field, Bethe, and Marginal approximations", eq. 8):
//!   `fwd = E_q(s_τ−1)[ln B(s_τ | s_τ−1)]`, `bwd = E_q(s_τ+1) q(s_τ,deps∖f)[ln B(s_τ+1 | s_τ)]`.
//! - **MMP** (Parr et al. 2019, eq. 11–13): `fwd = ½ ln(B q(s_τ−1))`,
//!   `bwd = ½ ln(B̃ᵀ q(s_τ+1))` with `B̃` normalised over the current state, and
//!   the last slot's forward message at full weight.
//!
//! The first slot's forward message is the prior over that slot. The free
//! energy reported is the mean-field sequence free energy
//! `F = Σ_τ [−H(q_τ) − E[ln p(s_τ | s_τ−1)] − E[ln p(o_τ | s_τ)]]`.

use actinf_core::maths::softmax_in_place;
use actinf_core::tensor::{dot, dot_except, ContractBuffers};
use actinf_core::LogGuard;

use crate::control::TransitionsByControl;
use crate::inference::{expected_log_likelihood, likelihood_messages, log_likelihoods};
use crate::model::GenerativeModel;

/// Which message-passing scheme runs over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceScheme {
    /// Variational message passing (log-transition messages).
    Vmp,
    /// Marginal message passing (log of propagated marginals, halved).
    Mmp,
}

/// Beliefs over a window: `qs[τ][f]`, oldest slot first, and their free energy.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceInference {
    /// Marginals per slot and factor.
    pub qs: Vec<Vec<Vec<f64>>>,
    /// Sequence variational free energy.
    pub free_energy: f64,
}

/// Everything a window inference needs.
#[derive(Debug, Clone, Copy)]
pub struct SequenceInputs<'a> {
    /// The model (its `A` and `B`).
    pub model: &'a GenerativeModel,
    /// `B` split by control.
    pub transitions: &'a TransitionsByControl,
    /// Outcomes per slot.
    pub observations: &'a [Vec<usize>],
    /// Actions between slots (`observations.len() − 1` of them).
    pub actions: &'a [Vec<usize>],
    /// Prior over the first slot, per factor.
    pub prior: &'a [Vec<f64>],
}

/// `Σ_{s_deps} X[s', s_deps] Π_{d≠skip} q_d(s_d)` keeping the axis of
/// dependency `keep` (index into the dependency list, after the leading
/// next-state axis) or the next-state axis when `keep` is `None`.
fn contract_transition(
    x: &[f64],
    model: &GenerativeModel,
    f: usize,
    qs: &[Vec<f64>],
    lead: Option<&[f64]>,
    keep: Option<usize>,
    buf: &mut ContractBuffers,
) -> Vec<f64> {
    let deps = &model.b_dependencies[f];
    let mut shape = Vec::with_capacity(deps.len() + 1);
    let mut vecs: Vec<&[f64]> = Vec::with_capacity(deps.len() + 1);
    shape.push(model.num_states[f]);
    vecs.push(lead.unwrap_or(&[]));
    for &g in deps {
        shape.push(model.num_states[g]);
        vecs.push(&qs[g]);
    }
    let keep_axis = match keep {
        Some(k) => k + 1,
        None => 0,
    };
    dot_except(x, &shape, &vecs, Some(keep_axis), buf).to_vec()
}

/// Run VMP or MMP over a window; `log_b[f][u]` must be `guard.ln` of
/// `transitions.by_control[f][u]` (computed once per model by the caller).
pub fn infer_sequence(
    inputs: SequenceInputs<'_>,
    log_b: &[Vec<Vec<f64>>],
    scheme: SequenceScheme,
    num_iter: usize,
    guard: LogGuard,
) -> SequenceInference {
    let SequenceInputs {
        model,
        transitions,
        observations,
        actions,
        prior,
    } = inputs;
    let nf = model.num_factors();
    let len = observations.len();
    let mut buf = ContractBuffers::default();
    let log_lik: Vec<Vec<Vec<f64>>> = observations
        .iter()
        .map(|o| log_likelihoods(model, o, guard))
        .collect();
    let log_prior: Vec<Vec<f64>> = prior.iter().map(|p| guard.ln_vec(p)).collect();
    let mut qs: Vec<Vec<Vec<f64>>> = (0..len)
        .map(|_| {
            model
                .num_states
                .iter()
                .map(|&n| vec![1.0 / n as f64; n])
                .collect()
        })
        .collect();
    let mut msg = vec![Vec::new(); nf];
    let mut next: Vec<Vec<Vec<f64>>> = qs.clone();
    for _ in 0..num_iter {
        for t in 0..len {
            likelihood_messages(model, &log_lik[t], &qs[t], &mut msg, &mut buf);
            for f in 0..nf {
                let n = model.num_states[f];
                let mut lq = msg[f].clone();
                // Forward message.
                let half = scheme == SequenceScheme::Mmp && t + 1 < len;
                let w_fwd = if half { 0.5 } else { 1.0 };
                let fwd: Vec<f64> = if t == 0 {
                    log_prior[f].clone()
                } else {
                    let u = actions[t - 1][f];
                    match scheme {
                        SequenceScheme::Vmp => contract_transition(
                            &log_b[f][u],
                            model,
                            f,
                            &qs[t - 1],
                            None,
                            None,
                            &mut buf,
                        ),
                        SequenceScheme::Mmp => {
                            let p = contract_transition(
                                transitions.by_control[f][u].data(),
                                model,
                                f,
                                &qs[t - 1],
                                None,
                                None,
                                &mut buf,
                            );
                            guard.ln_vec(&p)
                        }
                    }
                };
                for (x, v) in lq.iter_mut().zip(&fwd) {
                    *x += w_fwd * v;
                }
                // Backward messages from every factor whose transition depends on f.
                if t + 1 < len {
                    for i in 0..nf {
                        let Some(k) = model.b_dependencies[i].iter().position(|&g| g == f) else {
                            continue;
                        };
                        let u = actions[t][i];
                        match scheme {
                            SequenceScheme::Vmp => {
                                let m = contract_transition(
                                    &log_b[i][u],
                                    model,
                                    i,
                                    &qs[t],
                                    Some(&qs[t + 1][i]),
                                    Some(k),
                                    &mut buf,
                                );
                                for (x, v) in lq.iter_mut().zip(&m) {
                                    *x += v;
                                }
                            }
                            SequenceScheme::Mmp => {
                                // M_i(s', s_f): B_i contracted over i's other deps with q[t].
                                let ni = model.num_states[i];
                                let mut m = vec![0.0; ni * n];
                                let mut e = vec![0.0; ni];
                                for (sp, row) in m.chunks_exact_mut(n).enumerate() {
                                    e.iter_mut().for_each(|x| *x = 0.0);
                                    e[sp] = 1.0;
                                    let r = contract_transition(
                                        transitions.by_control[i][u].data(),
                                        model,
                                        i,
                                        &qs[t],
                                        Some(&e),
                                        Some(k),
                                        &mut buf,
                                    );
                                    let s: f64 = r.iter().sum::<f64>().max(f64::EPSILON);
                                    for (x, v) in row.iter_mut().zip(&r) {
                                        *x = v / s;
                                    }
                                }
                                let q_next = &qs[t + 1][i];
                                for (sf, x) in lq.iter_mut().enumerate() {
                                    let v: f64 =
                                        (0..ni).map(|sp| q_next[sp] * m[sp * n + sf]).sum();
                                    *x += 0.5 * guard.ln(v);
                                }
                            }
                        }
                    }
                }
                softmax_in_place(&mut lq);
                next[t][f] = lq;
            }
        }
        std::mem::swap(&mut qs, &mut next);
    }
    // Sequence free energy.
    let mut free_energy = 0.0;
    for t in 0..len {
        for q in &qs[t] {
            free_energy += q.iter().map(|&x| x * guard.ln(x)).sum::<f64>();
        }
        if t == 0 {
            for (q, lp) in qs[0].iter().zip(&log_prior) {
                free_energy -= dot(q, lp);
            }
        } else {
            for f in 0..nf {
                let u = actions[t - 1][f];
                let e =
                    contract_transition(&log_b[f][u], model, f, &qs[t - 1], None, None, &mut buf);
                free_energy -= dot(&qs[t][f], &e);
            }
        }
        free_energy -= expected_log_likelihood(model, &log_lik[t], &qs[t], &mut buf);
    }
    SequenceInference { qs, free_energy }
}

/// `guard.ln` of every transition slice, laid out like [`TransitionsByControl`].
pub fn log_transitions(transitions: &TransitionsByControl, guard: LogGuard) -> Vec<Vec<Vec<f64>>> {
    transitions
        .by_control
        .iter()
        .map(|per_u| per_u.iter().map(|t| guard.ln_vec(t.data())).collect())
        .collect()
}
