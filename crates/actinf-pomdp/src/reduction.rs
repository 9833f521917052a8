//! Bayesian model reduction for Dirichlet parameters.
//!
//! Why: after learning, an agent holds Dirichlet counts `q` that started from
//! a prior `p`. Whether a simpler prior `r` (some transitions ruled out, some
//! outcomes merged) would have explained the same data better can be scored
//! without refitting: for conjugate Dirichlet–categorical models the evidence
//! of the reduced model and its posterior follow in closed form from `q`, `p`
//! and `r` alone (Friston, Parr & Zeidman 2018, "Bayesian model reduction",
//! arXiv:1805.07092; Smith, Schwartenbeck, Parr & Friston 2020, "An active
//! inference approach to modeling structure learning", Front. Comput.
//! Neurosci. 14:41). This is SPM's `spm_MDP_log_evidence`; the fixtures
//! `bmr_test_a.json` and `bmr_test_b.json` pin it.
//!
//! With `ln B(α) = Σ_i ln Γ(α_i) − ln Γ(Σ_i α_i)` the multivariate log-beta,
//! for each column (axis 0 is the distribution's axis):
//!
//! ```text
//! s  = q + r − p                                   (reduced posterior)
//! ΔF = ln B(q) + ln B(r) − ln B(p) − ln B(s)
//!    = ln p(o | p) − ln p(o | r)
//! ```
//!
//! `ΔF` is the free energy of the reduced model minus that of the full model
//! (minus the log Bayes factor in favour of `r`): negative values favour the
//! reduced prior. As in SPM's `spm_betaln`, zero entries are dropped from each
//! column before taking `ln B` (an outcome a prior rules out carries no
//! evidence).

use actinf_core::maths::ln_gamma;
use actinf_core::Tensor;

use crate::error::PomdpError;
use crate::validate::check_entries;

/// The result of [`reduce_dirichlet`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedDirichlet {
    /// `ΔF` per column (the trailing axes flattened row-major): the reduced
    /// model's free energy minus the full model's; negative favours the
    /// reduced prior.
    pub delta_free_energy: Vec<f64>,
    /// The reduced posterior counts `s = q + r − p`.
    pub posterior: Tensor,
}

/// Bayesian model reduction of Dirichlet counts (SPM's `spm_MDP_log_evidence`).
///
/// `posterior` (q), `prior` (p) and `reduced_prior` (r) have axis 0 as the
/// distribution's axis; the remaining axes index columns. Each must either
/// have the full shape or be a single column (shape `[n]` or `[n, 1, …]`),
/// which is then used for every column, as MATLAB's implicit expansion does.
/// Returns `ΔF = ln B(q) + ln B(r) − ln B(p) − ln B(q + r − p)` per column
/// and the reduced posterior `q + r − p` (see the [module documentation](self)).
///
/// Errors: shapes that do not broadcast, negative or non-finite counts, a
/// negative reduced posterior (`r` removes more than `q` holds), or a column
/// of any of q, p, r, s that is all zeros (its `ln B` is undefined).
pub fn reduce_dirichlet(
    posterior: &Tensor,
    prior: &Tensor,
    reduced_prior: &Tensor,
) -> Result<ReducedDirichlet, PomdpError> {
    let named = [
        ("q (posterior)", posterior),
        ("p (prior)", prior),
        ("r (reduced prior)", reduced_prior),
    ];
    for (k, (name, t)) in named.iter().enumerate() {
        if t.ndim() == 0 {
            return Err(PomdpError::Shape {
                array: name,
                index: k,
                expected: vec![posterior.len()],
                got: vec![],
            });
        }
        check_entries(name, k, t)?;
    }
    let rows = posterior.shape()[0];
    let cols_of = |t: &Tensor| t.len() / t.shape()[0];
    let out_shape: Vec<usize> = named
        .iter()
        .map(|(_, t)| *t)
        .max_by_key(|t| cols_of(t))
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let cols = out_shape.iter().skip(1).product::<usize>();
    for (k, (name, t)) in named.iter().enumerate() {
        let single = cols_of(t) == 1;
        if t.shape()[0] != rows || !(single || t.shape() == out_shape.as_slice()) {
            let mut expected = out_shape.clone();
            expected[0] = rows;
            return Err(PomdpError::Shape {
                array: name,
                index: k,
                expected,
                got: t.shape().to_vec(),
            });
        }
    }

    // Element (i, c) of a full or single-column array.
    let at = |t: &Tensor, i: usize, c: usize| -> f64 {
        if cols_of(t) == 1 {
            t.data()[i]
        } else {
            t.data()[i * cols + c]
        }
    };
    let mut s = vec![0.0; rows * cols];
    for i in 0..rows {
        for c in 0..cols {
            let v = at(posterior, i, c) + at(reduced_prior, i, c) - at(prior, i, c);
            if v < 0.0 {
                let mut index = vec![0; out_shape.len()];
                actinf_core::tensor::unravel(&out_shape, i * cols + c, &mut index);
                return Err(PomdpError::Negative {
                    array: "s (reduced posterior q + r − p)",
                    index: 0,
                    at: index,
                    value: v,
                });
            }
            s[i * cols + c] = v;
        }
    }
    let reduced = Tensor::new(out_shape, s)?;

    let mut column = Vec::with_capacity(rows);
    let mut betaln = |name: &'static str, t: &Tensor, c: usize| -> Result<f64, PomdpError> {
        column.clear();
        column.extend((0..rows).map(|i| at(t, i, c)));
        ln_beta_nonzero(&column).ok_or_else(|| PomdpError::Setting {
            name: name.into(),
            reason: format!("column {c} is all zeros, so its log-beta is undefined"),
        })
    };
    let mut delta = Vec::with_capacity(cols);
    for c in 0..cols {
        let bq = betaln("q (posterior)", posterior, c)?;
        let br = betaln("r (reduced prior)", reduced_prior, c)?;
        let bp = betaln("p (prior)", prior, c)?;
        let bs = betaln("s (reduced posterior)", &reduced, c)?;
        delta.push(bq + br - bp - bs);
    }
    Ok(ReducedDirichlet {
        delta_free_energy: delta,
        posterior: reduced,
    })
}

/// `ln B(z) = Σ ln Γ(z_i) − ln Γ(Σ z_i)` over the non-zero entries of `z`
/// (SPM's `spm_betaln` of a vector); `None` when every entry is zero.
fn ln_beta_nonzero(z: &[f64]) -> Option<f64> {
    let mut any = false;
    let mut sum_ln = 0.0;
    let mut total = 0.0;
    for &x in z.iter().filter(|&&x| x != 0.0) {
        any = true;
        sum_ln += ln_gamma(x);
        total += x;
    }
    any.then(|| sum_ln - ln_gamma(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_is_accurate_enough_for_the_fixtures() {
        // Integers: ln Γ(n) = ln (n−1)!, exact factorials up to 21!.
        let mut fact = 1.0f64;
        for n in 2..=22u32 {
            let want = fact.ln();
            let got = ln_gamma(f64::from(n));
            assert!((got - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1.0));
            fact *= f64::from(n);
        }
        // ln Γ(1/2) = ln √π.
        let half = 0.5 * std::f64::consts::PI.ln();
        assert!((ln_gamma(0.5) - half).abs() < 1e-15);
        // The recurrence ln Γ(x + 1) = ln Γ(x) + ln x over the fixtures' range.
        for k in 0..400 {
            let x = 0.05 + k as f64 * 0.1;
            let lhs = ln_gamma(x + 1.0);
            let rhs = ln_gamma(x) + x.ln();
            assert!((lhs - rhs).abs() <= 1e-13 * lhs.abs().max(1.0), "x = {x}");
        }
    }

    #[test]
    fn two_cell_reduction_matches_the_closed_form() {
        // q = [1, 32], p = [1, 1], r = [1, 8]: ln p(o|p) = ln(1/32),
        // ln p(o|r) = ln(1/39) − ln(1/8), so ΔF = ln(1/32) − ln(8/39).
        let q = Tensor::new(vec![2], vec![1.0, 32.0]).unwrap();
        let p = Tensor::new(vec![2], vec![1.0, 1.0]).unwrap();
        let r = Tensor::new(vec![2], vec![1.0, 8.0]).unwrap();
        let out = reduce_dirichlet(&q, &p, &r).unwrap();
        let want = (1.0f64 / 32.0).ln() - (8.0f64 / 39.0).ln();
        assert!((out.delta_free_energy[0] - want).abs() < 1e-12);
        assert_eq!(out.posterior.data(), &[1.0, 39.0]);
    }

    #[test]
    fn single_columns_broadcast_and_zero_entries_are_dropped() {
        let q = Tensor::new(vec![3, 1], vec![2.0, 3.0, 1.0]).unwrap();
        let p = Tensor::new(vec![3], vec![1.0, 1.0, 1.0]).unwrap();
        let r = Tensor::new(vec![3, 2], vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0]).unwrap();
        let out = reduce_dirichlet(&q, &p, &r).unwrap();
        assert_eq!(out.posterior.shape(), &[3, 2]);
        assert_eq!(out.posterior.data(), &[2.0, 2.0, 3.0, 3.0, 1.0, 0.0]);
        // Column 0: r = p, no change.
        assert!(out.delta_free_energy[0].abs() < 1e-14);
        assert!(out.delta_free_energy[1].is_finite());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let q = Tensor::new(vec![2], vec![1.0, 2.0]).unwrap();
        let p = Tensor::new(vec![2], vec![1.0, 3.0]).unwrap();
        let r = Tensor::new(vec![2], vec![1.0, 0.0]).unwrap();
        assert!(matches!(
            reduce_dirichlet(&q, &p, &r),
            Err(PomdpError::Negative { .. })
        ));
        let r3 = Tensor::new(vec![3], vec![1.0, 1.0, 1.0]).unwrap();
        assert!(matches!(
            reduce_dirichlet(&q, &p, &r3),
            Err(PomdpError::Shape { .. })
        ));
        let nan = Tensor::new(vec![2], vec![f64::NAN, 1.0]).unwrap();
        assert!(matches!(
            reduce_dirichlet(&q, &nan, &q),
            Err(PomdpError::NonFinite { .. })
        ));
    }
}
