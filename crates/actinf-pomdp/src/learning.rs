//! Dirichlet learning of the likelihood, transitions and initial states.
//!
//! The posterior concentration after one observation is the prior's plus the
//! expected counts (Friston et al. 2016, "Active inference and learning"):
//!
//! `pA_m ← fr·pA_m + lr · o_m ⊗ q(s_deps)`,
//! `pB_f[…, u] ← fr·pB_f[…, u] + lr · q(s_f,t) ⊗ q(s_deps,t−1)` for the control `u` taken,
//! `pD_f ← fr·pD_f + lr · q(s_f,1)`.
//!
//! Entries whose prior count is zero are structural zeros: by default they
//! stay zero (`protect_zeros`). pymdp 1.0 does not protect them: its update
//! adds to every entry, and its Dirichlet mean floors counts at machine
//! epsilon; with `protect_zeros = false` both follow pymdp. With `fr = 1`
//! counts never fall.

use actinf_core::tensor::add_outer;
use actinf_core::Tensor;

/// Add `lr · e_o ⊗ q(s_deps)` to `pa` (after scaling by `fr`), keeping zeros
/// at zero when `protect_zeros`.
pub fn update_likelihood_counts(
    pa: &mut Tensor,
    obs: usize,
    qs_deps: &[&[f64]],
    lr: f64,
    fr: f64,
    protect_zeros: bool,
) {
    let zeros = zero_mask(pa, protect_zeros);
    if fr != 1.0 {
        pa.data_mut().iter_mut().for_each(|x| *x *= fr);
    }
    let inner = pa.len() / pa.shape()[0];
    let row = &mut pa.data_mut()[obs * inner..(obs + 1) * inner];
    add_outer(row, qs_deps, lr);
    restore_zeros(pa, &zeros);
}

/// Add `lr · q(s_f,t) ⊗ q(s_deps,t−1)` to the slice of `pb` for control `u`
/// (after scaling all of `pb` by `fr`), keeping zeros at zero when `protect_zeros`.
#[allow(clippy::too_many_arguments)]
pub fn update_transition_counts(
    pb: &mut Tensor,
    qs_next: &[f64],
    qs_prev_deps: &[&[f64]],
    u: usize,
    lr: f64,
    fr: f64,
    protect_zeros: bool,
) {
    let zeros = zero_mask(pb, protect_zeros);
    if fr != 1.0 {
        pb.data_mut().iter_mut().for_each(|x| *x *= fr);
    }
    let nc = *pb.shape().last().expect("B has a control axis");
    let mut vecs: Vec<&[f64]> = Vec::with_capacity(qs_prev_deps.len() + 1);
    vecs.push(qs_next);
    vecs.extend_from_slice(qs_prev_deps);
    let mut delta = vec![0.0; pb.len() / nc];
    add_outer(&mut delta, &vecs, lr);
    for (k, d) in delta.iter().enumerate() {
        pb.data_mut()[k * nc + u] += d;
    }
    restore_zeros(pb, &zeros);
}

/// `pD ← fr·pD + lr·q(s_1)`, keeping zeros at zero when `protect_zeros`.
pub fn update_initial_counts(
    pd: &mut [f64],
    qs_first: &[f64],
    lr: f64,
    fr: f64,
    protect_zeros: bool,
) {
    for (p, &q) in pd.iter_mut().zip(qs_first) {
        if *p != 0.0 || !protect_zeros {
            *p = fr * *p + lr * q;
        }
    }
}

fn zero_mask(t: &Tensor, protect_zeros: bool) -> Vec<bool> {
    if protect_zeros {
        t.data().iter().map(|&x| x == 0.0).collect()
    } else {
        Vec::new()
    }
}

fn restore_zeros(t: &mut Tensor, zeros: &[bool]) {
    for (x, &z) in t.data_mut().iter_mut().zip(zeros) {
        if z {
            *x = 0.0;
        }
    }
}

/// The expected value of a Dirichlet array: its columns normalised, after
/// flooring every count at `floor` (0 keeps structural zeros; pymdp floors at
/// machine epsilon).
pub fn dirichlet_mean(p: &Tensor, floor: f64) -> Tensor {
    let mut t = p.clone();
    if floor > 0.0 {
        t.data_mut().iter_mut().for_each(|x| *x = x.max(floor));
    }
    actinf_core::maths::normalise_columns(t.data_mut(), p.shape()[0]);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_grow_by_expected_counts_and_zeros_stay() {
        let mut pa = Tensor::new(vec![2, 2], vec![1.0, 0.0, 1.0, 1.0]).unwrap();
        update_likelihood_counts(&mut pa, 0, &[&[0.25, 0.75]], 2.0, 1.0, true);
        assert_eq!(pa.data(), &[1.5, 0.0, 1.0, 1.0]);
        let mut pb = Tensor::new(vec![2, 2, 2], vec![1.0; 8]).unwrap();
        update_transition_counts(&mut pb, &[1.0, 0.0], &[&[0.5, 0.5]], 1, 1.0, 1.0, true);
        // pB[s', s, u]: only u = 1, s' = 0 grows by 0.5 for each s.
        assert_eq!(pb.data(), &[1.0, 1.5, 1.0, 1.5, 1.0, 1.0, 1.0, 1.0]);
    }
}
