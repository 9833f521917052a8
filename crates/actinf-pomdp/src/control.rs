//! Policies and their expected free energy.
//!
//! For a policy π of depth L the negative expected free energy accumulates,
//! over future steps τ = 1…L with predicted states `q(s_τ|π)` and outcomes
//! `q(o_τ|π) = A q(s_τ|π)`:
//!
//! `−G(π) = Σ_τ discount^(τ−1) [ E_q(o_τ|π)[C_τ]                       (utility)
//!        + H[q(o_τ|π)] − E_q(s_τ|π)[H[A(·|s)]]                          (state information gain)
//!        + novelty(pA) + novelty(pB) ]                                  (parameter information gain)`
//!
//! (Friston et al. 2017, "Active inference: a process theory"; Da Costa et al.
//! 2020, eq. 8). The policy posterior is `q(π) = softmax(γ·(−G) + ln E)`.

use actinf_core::maths::{digamma, softmax_in_place};
use actinf_core::tensor::{dot, dot_except, ContractBuffers};
use actinf_core::{budget, LogGuard, Tensor};

use crate::error::PomdpError;
use crate::model::GenerativeModel;

/// Enumerate policies: every combination of controls of the control factors
/// over `policy_len` steps (uncontrolled factors take control 0), in pymdp's
/// order (the last factor of the last step varies fastest). Each policy is
/// `policy_len × num_factors` actions, row-major.
pub fn construct_policies(
    num_controls: &[usize],
    control_factors: &[usize],
    policy_len: usize,
) -> Result<Vec<Vec<usize>>, PomdpError> {
    let nf = num_controls.len();
    let what = "settings.policy_len (the policy set)";
    let steps = budget::check(what, &[policy_len, nf], std::mem::size_of::<usize>())?;
    let counts: Vec<usize> = (0..steps)
        .map(|k| {
            let f = k % nf;
            if control_factors.contains(&f) {
                num_controls[f]
            } else {
                1
            }
        })
        .collect();
    // Each policy holds `steps` actions and a vector header.
    let per_policy = steps
        .checked_mul(std::mem::size_of::<usize>())
        .and_then(|b| b.checked_add(std::mem::size_of::<Vec<usize>>()))
        .ok_or_else(|| budget::BudgetError::Overflow {
            what: what.to_string(),
            factors: vec![policy_len as u64, nf as u64],
        })?;
    let total = budget::check(what, &counts, per_policy)?;
    let mut policies = Vec::with_capacity(total);
    let mut idx = vec![0usize; counts.len()];
    for _ in 0..total {
        policies.push(idx.clone());
        for k in (0..counts.len()).rev() {
            idx[k] += 1;
            if idx[k] < counts[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Ok(policies)
}

/// Transition arrays re-laid out per control: `by_control[f][u]` is `B[f][…, u]`
/// with shape `[num_states[f], num_states of B_dependencies[f]]`, contiguous.
#[derive(Debug, Clone)]
pub struct TransitionsByControl {
    /// `by_control[f][u]`.
    pub by_control: Vec<Vec<Tensor>>,
}

impl TransitionsByControl {
    /// Split every `B[f]` along its control axis.
    pub fn new(b: &[Tensor]) -> Self {
        let by_control = b
            .iter()
            .map(|t| {
                let nc = *t.shape().last().expect("B has a control axis");
                let shape = t.shape()[..t.ndim() - 1].to_vec();
                (0..nc)
                    .map(|u| {
                        let data = t.data().iter().skip(u).step_by(nc).copied().collect();
                        Tensor::new(shape.clone(), data).expect("shape from B")
                    })
                    .collect()
            })
            .collect();
        Self { by_control }
    }
}

/// Predicted states one step ahead: `q(s'_f) = Σ_s B_f[s', s_deps, u_f] Π_g q(s_g)`.
pub fn predict_states(
    model: &GenerativeModel,
    transitions: &TransitionsByControl,
    qs: &[Vec<f64>],
    action: &[usize],
    out: &mut [Vec<f64>],
    buf: &mut ContractBuffers,
) {
    let mut vecs: Vec<&[f64]> = Vec::with_capacity(4);
    let mut shape: Vec<usize> = Vec::with_capacity(4);
    for (f, o) in out.iter_mut().enumerate() {
        let bu = &transitions.by_control[f][action[f]];
        let deps = &model.b_dependencies[f];
        o.clear();
        if deps.len() == 1 {
            let q = &qs[deps[0]];
            o.extend(bu.data().chunks_exact(q.len()).map(|row| dot(row, q)));
        } else {
            vecs.clear();
            shape.clear();
            vecs.push(&[]);
            shape.push(model.num_states[f]);
            for &g in deps {
                vecs.push(&qs[g]);
                shape.push(model.num_states[g]);
            }
            o.extend_from_slice(dot_except(bu.data(), &shape, &vecs, Some(0), buf));
        }
    }
}

/// Predicted outcomes `q(o_m) = Σ_s A_m[o, s] Π_f q(s_f)` for one modality.
pub fn predict_outcomes(
    model: &GenerativeModel,
    m: usize,
    a: &Tensor,
    qs: &[Vec<f64>],
    out: &mut Vec<f64>,
    buf: &mut ContractBuffers,
) {
    let deps = &model.a_dependencies[m];
    let mut vecs: Vec<&[f64]> = Vec::with_capacity(deps.len() + 1);
    vecs.push(&[]);
    for &f in deps {
        vecs.push(&qs[f]);
    }
    out.clear();
    out.extend_from_slice(dot_except(a.data(), a.shape(), &vecs, Some(0), buf));
}

/// `E_q[x(s)]` for an array `x` over modality m's dependency factors.
fn expectation_over_deps(
    deps: &[usize],
    num_states: &[usize],
    x: &[f64],
    qs: &[Vec<f64>],
    buf: &mut ContractBuffers,
) -> f64 {
    let vecs: Vec<&[f64]> = deps.iter().map(|&f| qs[f].as_slice()).collect();
    let shape: Vec<usize> = deps.iter().map(|&f| num_states[f]).collect();
    dot_except(x, &shape, &vecs, None, buf)[0]
}

/// Quantities derived from the model once, reused for every policy.
#[derive(Debug, Clone)]
pub struct EfeCache {
    /// `H[A_m(·|s)] = −Σ_o A ln A` over the dependency states of modality m.
    pub ambiguity: Vec<Vec<f64>>,
    /// pA novelty weights `W = 1/Σ_o a − 1/a` (zero where a = 0), when pA is given.
    pub wa: Option<Vec<Tensor>>,
    /// pB novelty weights per factor and control, laid out like `B`'s split.
    pub wb: Option<TransitionsByControl>,
}

/// How the parameter information gain (novelty) of a Dirichlet array is weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoveltyForm {
    /// The exact expected information gain about the parameters (Da Costa et
    /// al. 2020, "Active inference on discrete state-spaces: a synthesis",
    /// eq. D.15): `W = −[ln a₀ − ln a + ψ(a + 1) − ψ(a₀ + 1)]`, `a₀ = Σ_o a`,
    /// with `a` clipped at machine epsilon (pymdp 1.0's default).
    #[default]
    Exact,
    /// SPM's heuristic `W = 1/a₀ − 1/a` (Da Costa et al. 2020, eq. D.17;
    /// pymdp's legacy `spm_wnorm`).
    Spm,
}

/// Novelty weights of a Dirichlet array (axis 0 the distribution's axis),
/// zero where `a = 0` so structural zeros carry no novelty. The expected
/// information gain of an outcome distribution `q(o)` under states `q(s)` is
/// `−q(o)·(W · q(s))`.
pub fn novelty_weights(a: &Tensor, form: NoveltyForm) -> Tensor {
    let eps = f64::EPSILON;
    let rows = a.shape()[0];
    let cols = a.len() / rows;
    let mut sums = vec![0.0; cols];
    for (k, &x) in a.data().iter().enumerate() {
        sums[k % cols] += match form {
            NoveltyForm::Exact => x.max(eps),
            NoveltyForm::Spm => x,
        };
    }
    let data = a
        .data()
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            if x <= 0.0 {
                return 0.0;
            }
            let a0 = sums[k % cols];
            match form {
                NoveltyForm::Exact => {
                    let (x, a0) = (x.max(eps), a0.max(eps));
                    -(a0.ln() - x.ln() + digamma(x + 1.0) - digamma(a0 + 1.0))
                }
                NoveltyForm::Spm => 1.0 / a0 - 1.0 / (x + eps),
            }
        })
        .collect();
    Tensor::new(a.shape().to_vec(), data).expect("same shape")
}

impl EfeCache {
    /// Compute the ambiguity of every `A_m` and the novelty weights of `pA`/`pB`.
    pub fn new(model: &GenerativeModel, guard: LogGuard, novelty: NoveltyForm) -> Self {
        let ambiguity = model
            .a
            .iter()
            .map(|a| {
                let rows = a.shape()[0];
                let cols = a.len() / rows;
                let mut h = vec![0.0; cols];
                for row in a.data().chunks_exact(cols) {
                    for (hj, &p) in h.iter_mut().zip(row) {
                        *hj -= p * guard.ln(p);
                    }
                }
                h
            })
            .collect();
        let wa = model
            .pa
            .as_ref()
            .map(|pa| pa.iter().map(|t| novelty_weights(t, novelty)).collect());
        let wb = model.pb.as_ref().map(|pb| {
            let w: Vec<Tensor> = pb.iter().map(|t| novelty_weights(t, novelty)).collect();
            TransitionsByControl::new(&w)
        });
        Self { ambiguity, wa, wb }
    }
}

/// Which terms enter the expected free energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EfeTerms {
    /// Expected utility (pragmatic value).
    pub use_utility: bool,
    /// State information gain (epistemic value).
    pub use_states_info_gain: bool,
    /// Parameter information gain (novelty) for pA and pB.
    pub use_param_info_gain: bool,
    /// Discount on step τ: `discount^τ` (τ from 0).
    pub discount: f64,
}

/// The expected free energy of every policy, term by term (each as a value:
/// larger is better; `neg_efe` is their sum).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyEvaluation {
    /// Expected utility per policy.
    pub utility: Vec<f64>,
    /// State information gain per policy.
    pub state_info_gain: Vec<f64>,
    /// pA information gain per policy.
    pub param_info_gain_pa: Vec<f64>,
    /// pB information gain per policy.
    pub param_info_gain_pb: Vec<f64>,
    /// `−G` per policy.
    pub neg_efe: Vec<f64>,
}

/// Scratch space for [`evaluate_policies`].
#[derive(Debug, Default, Clone)]
pub struct EfeBuffers {
    contract: ContractBuffers,
    states: Vec<Vec<Vec<f64>>>,
    qo: Vec<f64>,
    novelty_o: Vec<f64>,
    novelty_s: Vec<Vec<f64>>,
}

/// Evaluate the negative expected free energy of every policy from the
/// current posterior `qs`, term by term.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_policies(
    model: &GenerativeModel,
    transitions: &TransitionsByControl,
    cache: &EfeCache,
    qs: &[Vec<f64>],
    policies: &[Vec<usize>],
    policy_len: usize,
    terms: EfeTerms,
    guard: LogGuard,
    buf: &mut EfeBuffers,
) -> PolicyEvaluation {
    let np = policies.len();
    let nf = model.num_factors();
    let mut out = PolicyEvaluation {
        utility: vec![0.0; np],
        state_info_gain: vec![0.0; np],
        param_info_gain_pa: vec![0.0; np],
        param_info_gain_pb: vec![0.0; np],
        neg_efe: vec![0.0; np],
    };
    buf.states.resize(policy_len + 1, Vec::new());
    for s in buf.states.iter_mut() {
        s.resize(nf, Vec::new());
    }
    for (p, policy) in policies.iter().enumerate() {
        buf.states[0].clone_from_slice(qs);
        let mut weight = 1.0;
        for t in 0..policy_len {
            let action = &policy[t * nf..(t + 1) * nf];
            let (prev, next) = buf.states.split_at_mut(t + 1);
            let prev = &prev[t];
            let next = &mut next[0];
            predict_states(model, transitions, prev, action, next, &mut buf.contract);
            let mut util = 0.0;
            let mut info = 0.0;
            let mut nov_a = 0.0;
            for m in 0..model.num_modalities() {
                predict_outcomes(model, m, &model.a[m], next, &mut buf.qo, &mut buf.contract);
                if terms.use_utility {
                    util += dot(&buf.qo, model.log_preferences(m, t));
                }
                if terms.use_states_info_gain {
                    let h_qo = -buf.qo.iter().map(|&x| x * guard.ln(x)).sum::<f64>();
                    let h_a = expectation_over_deps(
                        &model.a_dependencies[m],
                        &model.num_states,
                        &cache.ambiguity[m],
                        next,
                        &mut buf.contract,
                    );
                    info += h_qo - h_a;
                }
                if terms.use_param_info_gain {
                    if let Some(wa) = &cache.wa {
                        // −E_q(o,s)[W_A]: the expected novelty of pA.
                        predict_outcomes(
                            model,
                            m,
                            &wa[m],
                            next,
                            &mut buf.novelty_o,
                            &mut buf.contract,
                        );
                        nov_a -= dot(&buf.qo, &buf.novelty_o);
                    }
                }
            }
            let mut nov_b = 0.0;
            if terms.use_param_info_gain {
                if let Some(wb) = &cache.wb {
                    buf.novelty_s.resize(nf, Vec::new());
                    predict_states(
                        model,
                        wb,
                        prev,
                        action,
                        &mut buf.novelty_s,
                        &mut buf.contract,
                    );
                    for (s_next, w) in next.iter().zip(&buf.novelty_s) {
                        nov_b -= dot(s_next, w);
                    }
                }
            }
            out.utility[p] += weight * util;
            out.state_info_gain[p] += weight * info;
            out.param_info_gain_pa[p] += weight * nov_a;
            out.param_info_gain_pb[p] += weight * nov_b;
            weight *= terms.discount;
        }
        out.neg_efe[p] = out.utility[p]
            + out.state_info_gain[p]
            + out.param_info_gain_pa[p]
            + out.param_info_gain_pb[p];
    }
    out
}

/// Policy posterior `q(π) = softmax(γ·(−G(π)) + ln E(π))` (Friston et al.
/// 2017, "Active inference: a process theory", eq. 7). SPM's per-policy
/// scheme, which also adds each policy's free energy, is
/// [`crate::spm::VbxLoop`]. Written into `q`, whose allocation is reused.
pub fn policy_posterior(neg_efe: &[f64], gamma: f64, log_e: &[f64], q: &mut Vec<f64>) {
    q.clear();
    q.extend(neg_efe.iter().zip(log_e).map(|(&g, &e)| gamma * g + e));
    softmax_in_place(q);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_enumerate_in_pymdp_order() {
        let p = construct_policies(&[2, 3], &[0, 1], 1).unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], vec![0, 0]);
        assert_eq!(p[1], vec![0, 1]);
        assert_eq!(p[3], vec![1, 0]);
        let p = construct_policies(&[2, 3], &[1], 2).unwrap();
        assert_eq!(p.len(), 9);
        assert_eq!(p[1], vec![0, 0, 0, 1]);
        assert!(p.iter().all(|x| x[0] == 0 && x[2] == 0));
    }
}
