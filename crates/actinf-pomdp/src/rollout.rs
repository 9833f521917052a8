//! Memoised policy rollouts: the expected free energy of every policy without
//! recomputing what policies share.
//!
//! Evaluating `G(π)` naively costs one full contraction of every `A_m` with
//! the predicted joint state per policy and future step. But policies share
//! a great deal: the predicted marginal of factor f at step τ depends only on
//! the actions, up to τ, of the factors f's transitions depend on, and a
//! modality's predicted outcome depends only on the marginals of its own
//! dependency factors. A [`RolloutPlan`], built once per policy set, finds the
//! distinct marginals and the distinct dependency tuples; a step then contracts
//! `A_m` one factor at a time, sharing each partial contraction among all the
//! tuples with the same suffix. With 5×5 controls and `policy_len` 2, the
//! 625 policies need 25 distinct marginals per factor and the first (largest)
//! contraction is done 25 times instead of 625.
//!
//! The numbers are those of [`crate::control::evaluate_policies`] (the
//! readable reference, against which this is tested); only the order of
//! floating-point additions may differ.

use std::collections::HashMap;

use actinf_core::tensor::dot;
use actinf_core::LogGuard;

use crate::control::{EfeCache, EfeTerms, PolicyEvaluation, TransitionsByControl};
use crate::model::GenerativeModel;

/// A distinct predicted marginal of one factor at one future step.
#[derive(Debug, Clone)]
struct MarginalNode {
    /// Control of this factor applied at this step.
    control: usize,
    /// Ids, at the previous step, of the marginals of `B_dependencies[f]`
    /// (at step 0 they index the current posterior, i.e. are unused).
    parents: Vec<usize>,
}

/// A distinct partial contraction of one modality at one step.
#[derive(Debug, Clone, Copy)]
struct TupleNode {
    /// The node at the previous level (`usize::MAX` at level 0, which starts from the array).
    parent: usize,
    /// Id of the marginal contracted at this level.
    marginal: usize,
}

/// Partial contractions of one modality at one step, level by level.
#[derive(Debug, Clone)]
struct ModalityLevels {
    /// `levels[ℓ]` contracts dependency `deps[k−1−ℓ]`.
    levels: Vec<Vec<TupleNode>>,
    /// Size of one partial array after each level (without the lead axis).
    inner: Vec<usize>,
    /// `groups[ℓ]`: the nodes of level ℓ grouped by parent, so that each
    /// parent's partial array is read once for all its children.
    groups: Vec<Vec<(usize, Vec<usize>)>>,
}

/// The structure of a policy set's rollouts and the buffers to evaluate it.
#[derive(Debug, Clone)]
pub struct RolloutPlan {
    policy_len: usize,
    num_policies: usize,
    num_factors: usize,
    num_modalities: usize,
    /// `[τ][f]` → distinct marginal nodes.
    marginals: Vec<Vec<Vec<MarginalNode>>>,
    /// `[(τ·nf + f)·P + p]` → marginal id of policy p.
    policy_marginal: Vec<usize>,
    /// `[τ][m]`.
    modality: Vec<Vec<ModalityLevels>>,
    /// `[(τ·nm + m)·P + p]` → final tuple id of policy p.
    policy_tuple: Vec<usize>,
    // Buffers.
    marginal_values: Vec<Vec<Vec<f64>>>,
    qo_levels: Vec<Vec<f64>>,
    aux_levels: Vec<Vec<f64>>,
    scratch: [Vec<f64>; 2],
    gemm: GemmBuffers,
    tuple_utility: Vec<f64>,
    tuple_info: Vec<f64>,
    tuple_novelty: Vec<f64>,
    marginal_novelty: Vec<f64>,
    qo: Vec<f64>,
}

fn intern(map: &mut HashMap<Vec<usize>, usize>, key: Vec<usize>) -> (usize, bool) {
    let n = map.len();
    match map.get(&key) {
        Some(&id) => (id, false),
        None => {
            map.insert(key, n);
            (n, true)
        }
    }
}

impl RolloutPlan {
    /// Analyse a policy set (each policy `policy_len × num_factors` actions).
    pub fn new(model: &GenerativeModel, policies: &[Vec<usize>], policy_len: usize) -> Self {
        let nf = model.num_factors();
        let nm = model.num_modalities();
        let np = policies.len();
        // closure[f]: factors whose actions can influence factor f's marginal.
        let mut closure: Vec<Vec<bool>> = (0..nf)
            .map(|f| {
                (0..nf)
                    .map(|g| g == f || model.b_dependencies[f].contains(&g))
                    .collect()
            })
            .collect();
        loop {
            let mut changed = false;
            for f in 0..nf {
                for g in 0..nf {
                    if closure[f][g] {
                        let reach = closure[g].clone();
                        for (cf, rg) in closure[f].iter_mut().zip(reach) {
                            if rg && !*cf {
                                *cf = true;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut marginals = vec![vec![Vec::new(); nf]; policy_len];
        let mut policy_marginal = vec![0; policy_len * nf * np];
        for t in 0..policy_len {
            for f in 0..nf {
                let mut map = HashMap::new();
                for (p, policy) in policies.iter().enumerate() {
                    let key: Vec<usize> = (0..=t)
                        .flat_map(|s| (0..nf).filter(|&g| closure[f][g]).map(move |g| (s, g)))
                        .map(|(s, g)| policy[s * nf + g])
                        .collect();
                    let (id, new) = intern(&mut map, key);
                    policy_marginal[(t * nf + f) * np + p] = id;
                    if new {
                        let parents = if t == 0 {
                            Vec::new()
                        } else {
                            model.b_dependencies[f]
                                .iter()
                                .map(|&g| policy_marginal[((t - 1) * nf + g) * np + p])
                                .collect()
                        };
                        marginals[t][f].push(MarginalNode {
                            control: policy[t * nf + f],
                            parents,
                        });
                    }
                }
            }
        }
        let mut modality = Vec::with_capacity(policy_len);
        let mut policy_tuple = vec![0; policy_len * nm * np];
        for t in 0..policy_len {
            let mut per_m = Vec::with_capacity(nm);
            for m in 0..nm {
                let deps = &model.a_dependencies[m];
                let k = deps.len();
                let mut levels: Vec<Vec<TupleNode>> = vec![Vec::new(); k];
                let mut inner = Vec::with_capacity(k);
                let mut size: usize = deps.iter().map(|&f| model.num_states[f]).product();
                for l in 0..k {
                    size /= model.num_states[deps[k - 1 - l]];
                    inner.push(size);
                }
                let mut maps: Vec<HashMap<Vec<usize>, usize>> = vec![HashMap::new(); k];
                for p in 0..np {
                    let mut key = Vec::with_capacity(k);
                    let mut parent = usize::MAX;
                    for l in 0..k {
                        let f = deps[k - 1 - l];
                        let mid = policy_marginal[(t * nf + f) * np + p];
                        key.push(mid);
                        let (id, new) = intern(&mut maps[l], key.clone());
                        if new {
                            levels[l].push(TupleNode {
                                parent,
                                marginal: mid,
                            });
                        }
                        parent = id;
                    }
                    policy_tuple[(t * nm + m) * np + p] = parent;
                }
                let groups = levels
                    .iter()
                    .map(|nodes| {
                        let mut by_parent: Vec<(usize, Vec<usize>)> = Vec::new();
                        let mut index: HashMap<usize, usize> = HashMap::new();
                        for (i, node) in nodes.iter().enumerate() {
                            let g = *index.entry(node.parent).or_insert_with(|| {
                                by_parent.push((node.parent, Vec::new()));
                                by_parent.len() - 1
                            });
                            by_parent[g].1.push(i);
                        }
                        by_parent
                    })
                    .collect();
                per_m.push(ModalityLevels {
                    levels,
                    inner,
                    groups,
                });
            }
            modality.push(per_m);
        }
        let marginal_values = marginals
            .iter()
            .map(|per_f| {
                per_f
                    .iter()
                    .enumerate()
                    .map(|(f, nodes)| vec![0.0; nodes.len() * model.num_states[f]])
                    .collect()
            })
            .collect();
        let max_levels = model
            .a_dependencies
            .iter()
            .map(|d| d.len())
            .max()
            .unwrap_or(0);
        let max_obs = model.num_obs.iter().copied().max().unwrap_or(1);
        Self {
            policy_len,
            num_policies: np,
            num_factors: nf,
            num_modalities: nm,
            marginals,
            policy_marginal,
            modality,
            policy_tuple,
            marginal_values,
            qo_levels: vec![Vec::new(); max_levels],
            aux_levels: vec![Vec::new(); max_levels],
            scratch: [Vec::new(), Vec::new()],
            gemm: GemmBuffers::default(),
            tuple_utility: Vec::new(),
            tuple_info: Vec::new(),
            tuple_novelty: Vec::new(),
            marginal_novelty: Vec::new(),
            qo: Vec::with_capacity(max_obs),
        }
    }

    /// Number of policies the plan was built for.
    pub fn num_policies(&self) -> usize {
        self.num_policies
    }

    /// Evaluate every policy's negative expected free energy, term by term,
    /// from the current posterior `qs`, into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &mut self,
        model: &GenerativeModel,
        transitions: &TransitionsByControl,
        cache: &EfeCache,
        qs: &[Vec<f64>],
        terms: EfeTerms,
        guard: LogGuard,
        out: &mut PolicyEvaluation,
    ) {
        let np = self.num_policies;
        let nf = self.num_factors;
        let nm = self.num_modalities;
        for v in [
            &mut out.utility,
            &mut out.state_info_gain,
            &mut out.param_info_gain_pa,
            &mut out.param_info_gain_pb,
            &mut out.neg_efe,
        ] {
            v.clear();
            v.resize(np, 0.0);
        }
        let novelty_b = terms.use_param_info_gain && cache.wb.is_some();
        let novelty_a = terms.use_param_info_gain && cache.wa.is_some();
        let mut weight = 1.0;
        for t in 0..self.policy_len {
            // 1. Predicted marginals, and the pB novelty of each.
            for f in 0..nf {
                let n = model.num_states[f];
                let deps = &model.b_dependencies[f];
                let (done, rest) = self.marginal_values.split_at_mut(t);
                let values = &mut rest[0][f];
                self.marginal_novelty.clear();
                for (id, node) in self.marginals[t][f].iter().enumerate() {
                    let parent = |k: usize, g: usize| -> &[f64] {
                        if t == 0 {
                            qs[g].as_slice()
                        } else {
                            let ng = model.num_states[g];
                            let pid = node.parents[k];
                            &done[t - 1][g][pid * ng..(pid + 1) * ng]
                        }
                    };
                    // Up to four dependencies without allocating.
                    let mut few: [&[f64]; 4] = [&[]; 4];
                    let many: Vec<&[f64]>;
                    let parents: &[&[f64]] = if deps.len() <= few.len() {
                        for (k, &g) in deps.iter().enumerate() {
                            few[k] = parent(k, g);
                        }
                        &few[..deps.len()]
                    } else {
                        many = deps
                            .iter()
                            .enumerate()
                            .map(|(k, &g)| parent(k, g))
                            .collect();
                        &many
                    };
                    let out_f = &mut values[id * n..(id + 1) * n];
                    contract_trailing(
                        transitions.by_control[f][node.control].data(),
                        parents,
                        &mut self.scratch,
                        out_f,
                    );
                    if let (true, Some(wb)) = (novelty_b, &cache.wb) {
                        self.qo.clear();
                        self.qo.resize(n, 0.0);
                        contract_trailing(
                            wb.by_control[f][node.control].data(),
                            parents,
                            &mut self.scratch,
                            &mut self.qo,
                        );
                        self.marginal_novelty.push(-dot(out_f, &self.qo));
                    }
                }
                if novelty_b {
                    for p in 0..np {
                        let id = self.policy_marginal[(t * nf + f) * np + p];
                        out.param_info_gain_pb[p] += weight * self.marginal_novelty[id];
                    }
                }
            }
            // 2. Predicted outcomes and their terms, per distinct dependency tuple.
            for m in 0..nm {
                let deps = &model.a_dependencies[m];
                let no = model.num_obs[m];
                let plan = &self.modality[t][m];
                let last = plan.levels.len() - 1;
                let n_final = plan.levels[last].len();
                let marg = |l: usize, id: usize| -> &[f64] {
                    let f = deps[deps.len() - 1 - l];
                    let n = model.num_states[f];
                    &self.marginal_values[t][f][id * n..(id + 1) * n]
                };
                for v in [
                    &mut self.tuple_utility,
                    &mut self.tuple_info,
                    &mut self.tuple_novelty,
                ] {
                    v.clear();
                    v.resize(n_final, 0.0);
                }
                run_levels(
                    model.a[m].data(),
                    no,
                    plan,
                    &marg,
                    &mut self.qo_levels,
                    &mut self.gemm,
                );
                let c = model.log_preferences(m, t);
                for (i, qo) in self.qo_levels[last].chunks_exact(no).enumerate() {
                    if terms.use_utility {
                        self.tuple_utility[i] = dot(qo, c);
                    }
                    if terms.use_states_info_gain {
                        self.tuple_info[i] = -qo.iter().map(|&x| x * guard.ln(x)).sum::<f64>();
                    }
                }
                if terms.use_states_info_gain {
                    run_levels(
                        &cache.ambiguity[m],
                        1,
                        plan,
                        &marg,
                        &mut self.aux_levels,
                        &mut self.gemm,
                    );
                    for (i, h) in self.aux_levels[last].iter().enumerate() {
                        self.tuple_info[i] -= h;
                    }
                }
                if let (true, Some(wa)) = (novelty_a, &cache.wa) {
                    run_levels(
                        wa[m].data(),
                        no,
                        plan,
                        &marg,
                        &mut self.aux_levels,
                        &mut self.gemm,
                    );
                    for (i, (qo, w)) in self.qo_levels[last]
                        .chunks_exact(no)
                        .zip(self.aux_levels[last].chunks_exact(no))
                        .enumerate()
                    {
                        self.tuple_novelty[i] = -dot(qo, w);
                    }
                }
                let ids = &self.policy_tuple[(t * nm + m) * np..(t * nm + m + 1) * np];
                for (p, &id) in ids.iter().enumerate() {
                    out.utility[p] += weight * self.tuple_utility[id];
                    out.state_info_gain[p] += weight * self.tuple_info[id];
                    out.param_info_gain_pa[p] += weight * self.tuple_novelty[id];
                }
            }
            weight *= terms.discount;
        }
        for p in 0..np {
            out.neg_efe[p] = out.utility[p]
                + out.state_info_gain[p]
                + out.param_info_gain_pa[p]
                + out.param_info_gain_pb[p];
        }
    }
}

/// Contract the trailing axes of `data` (shape `[lead, n_1, …, n_k]`) with
/// `vecs` (`n_1 … n_k`, in axis order) into `out` (`lead` values).
fn contract_trailing(data: &[f64], vecs: &[&[f64]], scratch: &mut [Vec<f64>; 2], out: &mut [f64]) {
    if let [v] = vecs {
        for (o, row) in out.iter_mut().zip(data.chunks_exact(v.len())) {
            *o = dot(row, v);
        }
        return;
    }
    let [a, b] = scratch;
    a.clear();
    a.extend_from_slice(data);
    for v in vecs[1..].iter().rev() {
        b.clear();
        b.extend(a.chunks_exact(v.len()).map(|row| dot(row, v)));
        std::mem::swap(a, b);
    }
    for (o, row) in out.iter_mut().zip(a.chunks_exact(vecs[0].len())) {
        *o = dot(row, vecs[0]);
    }
}

/// `out[r·kc + c] = Σ_j src[r·n + j] · vt[j·kc + c]`: a small matrix
/// product with the short dimension `kc` (a multiple of 4) innermost. Four
/// rows by eight columns are accumulated in registers at a time. On x86-64
/// CPUs with AVX2 and FMA the same loop is compiled for them and chosen at
/// run time (results then differ from the baseline build by rounding only).
fn matrix_product(src: &[f64], n: usize, vt: &[f64], kc: usize, out: &mut [f64], use_fma: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if use_fma {
            // SAFETY: `use_fma` is true only when the CPU has AVX2 and FMA.
            unsafe { matrix_product_avx2(src, n, vt, kc, out) };
            return;
        }
    }
    let _ = use_fma;
    matrix_product_kernel::<false>(src, n, vt, kc, out);
}

/// Whether the AVX2+FMA kernel can run on this CPU.
fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matrix_product_avx2(src: &[f64], n: usize, vt: &[f64], kc: usize, out: &mut [f64]) {
    matrix_product_kernel::<true>(src, n, vt, kc, out);
}

/// `acc + a·b`, fused when `FUSED` (only where the CPU has FMA).
#[inline(always)]
fn multiply_add<const FUSED: bool>(a: f64, b: f64, acc: f64) -> f64 {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

#[inline(always)]
fn matrix_product_kernel<const FUSED: bool>(
    src: &[f64],
    n: usize,
    vt: &[f64],
    kc: usize,
    out: &mut [f64],
) {
    let rows = src.len() / n;
    let mut r0 = 0;
    while r0 < rows {
        let nr = if rows - r0 >= 4 { 4 } else { 1 };
        let mut c0 = 0;
        while c0 < kc {
            if c0 + 8 <= kc {
                if nr == 4 {
                    block::<FUSED, 4, 8>(src, n, vt, kc, r0, c0, out);
                } else {
                    block::<FUSED, 1, 8>(src, n, vt, kc, r0, c0, out);
                }
                c0 += 8;
            } else {
                if nr == 4 {
                    block::<FUSED, 4, 4>(src, n, vt, kc, r0, c0, out);
                } else {
                    block::<FUSED, 1, 4>(src, n, vt, kc, r0, c0, out);
                }
                c0 += 4;
            }
        }
        r0 += nr;
    }
}

/// One `R × W` block of [`matrix_product`], accumulated in registers.
#[inline(always)]
fn block<const FUSED: bool, const R: usize, const W: usize>(
    src: &[f64],
    n: usize,
    vt: &[f64],
    kc: usize,
    r0: usize,
    c0: usize,
    out: &mut [f64],
) {
    let mut acc = [[0.0f64; W]; R];
    let rows: [&[f64]; R] = std::array::from_fn(|r| &src[(r0 + r) * n..(r0 + r + 1) * n]);
    for j in 0..n {
        let v: &[f64; W] = vt[j * kc + c0..j * kc + c0 + W]
            .try_into()
            .expect("block width");
        for r in 0..R {
            let a = rows[r][j];
            for w in 0..W {
                acc[r][w] = multiply_add::<FUSED>(a, v[w], acc[r][w]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let o = (r0 + r) * kc + c0;
        out[o..o + W].copy_from_slice(acc_r);
    }
}

/// Scratch space of [`run_levels`].
#[derive(Debug, Clone, Default)]
struct GemmBuffers {
    /// Children's marginals, transposed: `[n][children]`.
    vt: Vec<f64>,
    /// Products `[rows][children]` before scattering.
    out: Vec<f64>,
}

/// Contract an array `[lead, n_{d_0}, …, n_{d_{k−1}}]` level by level with
/// the marginals of each tuple node; `levels[k−1]` ends holding `lead` values
/// per final node.
///
/// The children of one parent contract the same partial array with different
/// marginals: a small matrix product `src[rows × n] · V[n × children]`, done
/// with the children innermost so each row of `src` is read once.
fn run_levels<'m>(
    array: &[f64],
    lead: usize,
    plan: &ModalityLevels,
    marg: &dyn Fn(usize, usize) -> &'m [f64],
    levels: &mut Vec<Vec<f64>>,
    gemm: &mut GemmBuffers,
) {
    let k = plan.levels.len();
    if levels.len() < k {
        levels.resize(k, Vec::new());
    }
    for l in 0..k {
        let (before, after) = levels.split_at_mut(l);
        let dst = &mut after[0];
        let in_size = if l == 0 {
            array.len()
        } else {
            lead * plan.inner[l - 1]
        };
        let out_size = lead * plan.inner[l];
        let n = in_size / out_size;
        dst.clear();
        dst.resize(plan.levels[l].len() * out_size, 0.0);
        for (parent, children) in &plan.groups[l] {
            let src = if l == 0 {
                array
            } else {
                &before[l - 1][parent * in_size..(parent + 1) * in_size]
            };
            if let [only] = children[..] {
                let v = marg(l, plan.levels[l][only].marginal);
                for (d, row) in dst[only * out_size..(only + 1) * out_size]
                    .iter_mut()
                    .zip(src.chunks_exact(n))
                {
                    *d = dot(row, v);
                }
                continue;
            }
            // Children padded to a multiple of 4 with zero columns.
            let kc = children.len().div_ceil(4) * 4;
            gemm.vt.clear();
            gemm.vt.resize(n * kc, 0.0);
            for (c, &node) in children.iter().enumerate() {
                let v = marg(l, plan.levels[l][node].marginal);
                for (j, &x) in v.iter().enumerate() {
                    gemm.vt[j * kc + c] = x;
                }
            }
            gemm.out.clear();
            gemm.out.resize(out_size * kc, 0.0);
            matrix_product(src, n, &gemm.vt, kc, &mut gemm.out, fma_available());
            for (c, &node) in children.iter().enumerate() {
                for (r, d) in dst[node * out_size..(node + 1) * out_size]
                    .iter_mut()
                    .enumerate()
                {
                    *d = gemm.out[r * kc + c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{construct_policies, evaluate_policies, EfeBuffers};
    use crate::model::ModelArrays;
    use actinf_core::Tensor;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            0.05 + (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn stochastic(&mut self, shape: &[usize]) -> Tensor {
            let mut d: Vec<f64> = (0..shape.iter().product()).map(|_| self.next()).collect();
            actinf_core::maths::normalise_columns(&mut d, shape[0]);
            Tensor::new(shape.to_vec(), d).unwrap()
        }
    }

    #[test]
    fn plan_matches_the_reference_evaluation() {
        let mut rng = Lcg(7);
        let ns = [3, 2, 4];
        let nc = [2, 1, 3];
        let no = [4, 3];
        let a_deps = vec![vec![0, 2], vec![1]];
        let b_deps = vec![vec![0], vec![0, 1], vec![2]];
        let a: Vec<Tensor> = (0..2)
            .map(|m| {
                let mut shape = vec![no[m]];
                shape.extend(a_deps[m].iter().map(|&f| ns[f]));
                rng.stochastic(&shape)
            })
            .collect();
        let b: Vec<Tensor> = (0..3)
            .map(|f| {
                let mut shape = vec![ns[f]];
                shape.extend(b_deps[f].iter().map(|&g| ns[g]));
                shape.push(nc[f]);
                rng.stochastic(&shape)
            })
            .collect();
        let scale = |t: &Tensor, k: f64| {
            Tensor::new(
                t.shape().to_vec(),
                t.data().iter().map(|x| x * k + 0.1).collect(),
            )
            .unwrap()
        };
        let pa = a.iter().map(|t| scale(t, 5.0)).collect();
        let pb = b.iter().map(|t| scale(t, 3.0)).collect();
        let c = (0..2)
            .map(|m| Tensor::new(vec![no[m]], (0..no[m]).map(|_| rng.next()).collect()).unwrap())
            .collect();
        let model = GenerativeModel::new(ModelArrays {
            a: Some(a),
            b: Some(b),
            c: Some(c),
            pa: Some(pa),
            pb: Some(pb),
            a_dependencies: Some(a_deps),
            b_dependencies: Some(b_deps),
            ..Default::default()
        })
        .unwrap();
        let qs: Vec<Vec<f64>> = ns
            .iter()
            .map(|&n| {
                let v: Vec<f64> = (0..n).map(|_| rng.next()).collect();
                let s: f64 = v.iter().sum();
                v.iter().map(|x| x / s).collect()
            })
            .collect();
        let guard = LogGuard::Clip(f64::EPSILON);
        let transitions = TransitionsByControl::new(&model.b);
        let cache = EfeCache::new(&model, guard, crate::control::NoveltyForm::Exact);
        for policy_len in 1..=3 {
            let policies =
                construct_policies(&model.num_controls, &model.control_factors, policy_len)
                    .unwrap();
            let terms = EfeTerms {
                use_utility: true,
                use_states_info_gain: true,
                use_param_info_gain: true,
                discount: 0.9,
            };
            let want = evaluate_policies(
                &model,
                &transitions,
                &cache,
                &qs,
                &policies,
                policy_len,
                terms,
                guard,
                &mut EfeBuffers::default(),
            );
            let mut plan = RolloutPlan::new(&model, &policies, policy_len);
            let mut got = PolicyEvaluation::default();
            plan.evaluate(&model, &transitions, &cache, &qs, terms, guard, &mut got);
            for (name, g, w) in [
                ("utility", &got.utility, &want.utility),
                ("info", &got.state_info_gain, &want.state_info_gain),
                ("pA", &got.param_info_gain_pa, &want.param_info_gain_pa),
                ("pB", &got.param_info_gain_pb, &want.param_info_gain_pb),
                ("G", &got.neg_efe, &want.neg_efe),
            ] {
                for (x, y) in g.iter().zip(w) {
                    assert!((x - y).abs() < 1e-12, "{name} L={policy_len}: {x} vs {y}");
                }
            }
            assert!(want.param_info_gain_pb.iter().any(|&x| x != 0.0));
        }
    }
}
