//! Temporal (generalized) precision of smooth noise.
//!
//! Noise in a continuous model is smooth: white noise convolved with a
//! Gaussian kernel of standard deviation `s` (in the model's units of time),
//! so that its autocorrelation is `ρ(τ) = exp(−τ²/(4s²))`. The covariance of
//! the noise's generalized coordinates `z̃ = [z, z′, z″, …]` (n orders) is
//!
//! ```text
//! V_ij = Cov(z⁽ⁱ⁾, z⁽ʲ⁾) = (−1)^i ρ^(i+j)(0),   i, j = 0 … n−1,
//! ρ^(2k)(0) = (−1)^k (2k−1)!! / (2s²)^k,       ρ^(2k+1)(0) = 0,
//! ```
//!
//! and its precision is `R = V⁻¹`; a level with noise precision `Π` has the
//! generalized precision `Π̃ = R ⊗ Π` (Friston, Trujillo-Barreto & Daunizeau
//! 2008, "DEM: a variational treatment of dynamic systems", NeuroImage 41,
//! section on generalized coordinates and its appendix; Friston 2008,
//! "Hierarchical models in the brain", PLoS Comput Biol 4(11); SPM12's
//! `spm_DEM_R`).
//!
//! ## Why R is not computed by inverting V
//!
//! V is badly conditioned (cond₂ V ≈ 1.9e6 at n = 7, s = 0.5; 6e11 at n = 8,
//! s = 0.25; 4e19 at n = 20, s = 1), so a floating-point inverse, as
//! `spm_DEM_R` takes, may lose up to `log10(cond V)` digits. (Most of that
//! conditioning is the diagonal scaling `S` below, which elimination with
//! partial pivoting largely ignores: SPM's `inv(V)` agrees with the exact R to
//! 3.4e-14 per entry for n ≤ 8, s ≥ 1/4.) Here V factors exactly as `V = S W S` with
//! `S = diag((2s²)^(−i/2))` and `W` the integer matrix
//! `W_ij = (−1)^i (−1)^((i+j)/2) (i+j−1)!!` (zero where `i+j` is odd). `W` is,
//! up to the signs `diag(i^k)`, the Hankel matrix of the moments of a standard
//! normal, whose inverse is known in closed form through the probabilists'
//! Hermite polynomials `He_k(x) = Σ_l C_kl x^l`:
//!
//! ```text
//! (W⁻¹)_ij = (−1)^i (−1)^((i+j)/2) Σ_{k = max(i,j)}^{n−1} C_ki C_kj / k!,
//! R_ij     = (W⁻¹)_ij (2s²)^((i+j)/2).
//! ```
//!
//! The sum is evaluated in exact integer arithmetic (`i128`, over the common
//! denominator `(n−1)!`), the identity `W · ((n−1)! W⁻¹) = (n−1)! I` is checked
//! exactly, and each entry is rounded to `f64` once, then multiplied by an
//! integer power of `2s²`: every entry of `R` (and of `V`) is within a few
//! units in the last place of the exact value, whatever the conditioning.
//! Orders up to [`MAX_ORDER`] fit the exact arithmetic; larger `n` is refused.

use nalgebra::DMatrix;

use crate::GcError;

/// The default number of generalized orders `n` (the state and its first six
/// derivatives): SPM's default embedding order `M(1).E.n = 6` derivatives,
/// which `spm_DEM` turns into `n = E.n + 1 = 7` orders (`spm_DEM_M_set`).
pub const DEFAULT_ORDER: usize = 7;

/// The default smoothness `s` of the noise, in units of the sampling
/// interval: SPM's default `M(1).E.s = 1/2` (`spm_DEM_M_set`).
pub const DEFAULT_SMOOTHNESS: f64 = 0.5;

/// The largest number of generalized orders `n` accepted: up to this order,
/// the exact integer arithmetic behind [`temporal_precision`] (and the exact
/// Taylor weights of [`crate::embed::embed`]) fits in `i128` with room to
/// spare. Higher orders would be of no practical use anyway: the
/// `(n−1)`-th derivative of smooth noise has variance `(2n−3)!!/(2s²)^(n−1)`.
pub const MAX_ORDER: usize = 20;

/// The temporal covariance `V` of `n` generalized orders of smooth noise and
/// its precision `R = V⁻¹` (Friston, Trujillo-Barreto & Daunizeau 2008):
///
/// `V_ij = (−1)^i ρ^(i+j)(0)`, `ρ^(2k)(0) = (−1)^k (2k−1)!!/(2s²)^k`, odd
/// orders zero, `i, j = 0 … n−1`.
///
/// Built by [`temporal_precision`]; `R` is exact to a few ulps per entry (see
/// the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct TemporalPrecision {
    /// Number of generalized orders (the state and its `n − 1` derivatives).
    pub n: usize,
    /// Smoothness: standard deviation of the Gaussian kernel that makes the
    /// noise smooth, in the model's units of time.
    pub s: f64,
    /// Covariance of the generalized noise, `n × n`.
    pub v: DMatrix<f64>,
    /// Precision of the generalized noise, `R = V⁻¹`, `n × n`.
    pub r: DMatrix<f64>,
}

impl TemporalPrecision {
    /// The generalized precision of a level whose noise has precision `Π`
    /// (`d × d`): `Π̃ = R ⊗ Π` (`nd × nd`, order-major like the generalized
    /// states; Friston 2008, "Hierarchical models in the brain").
    ///
    /// # Errors
    /// [`GcError::Dimension`] when `Π` is not square, [`GcError::Value`] when
    /// it holds a NaN or an infinity.
    pub fn generalized(&self, pi: &DMatrix<f64>) -> Result<DMatrix<f64>, GcError> {
        if pi.nrows() != pi.ncols() {
            return Err(GcError::Dimension {
                what: "noise precision Π".into(),
                expected: "a square matrix".into(),
                got: format!("{} × {}", pi.nrows(), pi.ncols()),
            });
        }
        if let Some((index, &value)) = pi.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(GcError::Value {
                what: "noise precision Π (column-major)".into(),
                index,
                value,
                expected: "a finite number".into(),
            });
        }
        Ok(crate::shift::kron(&self.r, pi))
    }
}

/// The temporal covariance `V` and precision `R = V⁻¹` of `n` generalized
/// orders of noise with smoothness `s` (Friston, Trujillo-Barreto & Daunizeau
/// 2008, "DEM: a variational treatment of dynamic systems"; SPM12's
/// `spm_DEM_R(n, s)` with its default Gaussian form):
///
/// ```text
/// V_ij = (−1)^i ρ^(i+j)(0),  ρ^(2k)(0) = (−1)^k (2k−1)!!/(2s²)^k,  odd orders 0,
/// R    = V⁻¹ = S⁻¹ W⁻¹ S⁻¹,  S = diag((2s²)^(−i/2)),  W integer, inverted exactly.
/// ```
///
/// For example `n = 3, s = 1/2` gives `R = [[1.5, 0, 0.25], [0, 0.5, 0],
/// [0.25, 0, 0.125]]`. `n = 1` gives `V = R = [1]` (no temporal correlation).
/// The defaults are [`DEFAULT_ORDER`] and [`DEFAULT_SMOOTHNESS`].
///
/// # Errors
/// [`GcError::Setting`] when `n = 0` or `n > MAX_ORDER`, when `s` is not
/// finite and positive, or when `s` is so small or so large that a power
/// `(2s²)^k`, `k < n`, leaves the normal range of `f64`. (SPM replaces
/// `s = 0` by `exp(−8)`; here it is an error.)
pub fn temporal_precision(n: usize, s: f64) -> Result<TemporalPrecision, GcError> {
    if n == 0 {
        return Err(GcError::Setting {
            name: "n".into(),
            reason: "the number of generalized orders must be at least 1".into(),
        });
    }
    if n > MAX_ORDER {
        return Err(GcError::Setting {
            name: "n".into(),
            reason: format!(
                "{n} generalized orders exceed MAX_ORDER = {MAX_ORDER}, the largest for which \
                 the precision is computed in exact arithmetic"
            ),
        });
    }
    if !(s.is_finite() && s > 0.0) {
        return Err(GcError::Setting {
            name: "s".into(),
            reason: format!("the smoothness must be finite and positive, got {s}"),
        });
    }
    let c = 2.0 * s * s;
    // Powers (2s²)^k and (2s²)^−k, k = 0 … n−1, must stay normal numbers.
    let mut pow = Vec::with_capacity(n);
    let mut inv_pow = Vec::with_capacity(n);
    for k in 0..n {
        let e = k as i32;
        let (p, q) = (c.powi(e), c.powi(-e));
        if !(p.is_normal() && q.is_normal()) {
            return Err(GcError::Setting {
                name: "s".into(),
                reason: format!(
                    "smoothness {s} gives (2s²)^±{k} outside the range of f64 for n = {n}"
                ),
            });
        }
        pow.push(p);
        inv_pow.push(q);
    }
    let exact = ExactInverse::new(n).ok_or_else(|| GcError::Setting {
        name: "n".into(),
        reason: format!("{n} generalized orders overflow the exact (i128) arithmetic"),
    })?;
    let denom = exact.denominator as f64;
    let mut v = DMatrix::zeros(n, n);
    let mut r = DMatrix::zeros(n, n);
    for i in 0..n {
        for j in 0..n {
            if (i + j) % 2 == 1 {
                continue;
            }
            let k = (i + j) / 2;
            v[(i, j)] = exact.w[i * n + j] as f64 * inv_pow[k];
            r[(i, j)] = (exact.numerator[i * n + j] as f64 / denom) * pow[k];
        }
    }
    if let Some((index, &value)) = r
        .iter()
        .chain(v.iter())
        .enumerate()
        .find(|(_, x)| !x.is_finite())
    {
        return Err(GcError::Setting {
            name: "s".into(),
            reason: format!(
                "smoothness {s} gives a non-finite entry {value} (index {index} of [R, V])"
            ),
        });
    }
    Ok(TemporalPrecision { n, s, v, r })
}

/// `W` and the exact integer numerators of `W⁻¹ = numerator / denominator`
/// (row-major, `n × n`), with `denominator = (n−1)!`.
pub(crate) struct ExactInverse {
    pub(crate) w: Vec<i128>,
    pub(crate) numerator: Vec<i128>,
    pub(crate) denominator: i128,
}

impl ExactInverse {
    /// `None` when `n = 0` or the integers overflow `i128`.
    pub(crate) fn new(n: usize) -> Option<Self> {
        if n == 0 {
            return None;
        }
        // Factorials 0! … (n−1)! and double factorials (2k−1)!!, k = 0 … n−1.
        let mut fact = vec![1i128; n];
        let mut dfact = vec![1i128; n];
        for k in 1..n {
            fact[k] = fact[k - 1].checked_mul(k as i128)?;
            dfact[k] = dfact[k - 1].checked_mul(2 * k as i128 - 1)?;
        }
        let denominator = fact[n - 1];
        // Probabilists' Hermite coefficients: He_{k+1} = x He_k − k He_{k−1}.
        let mut he = vec![0i128; n * n];
        he[0] = 1;
        if n > 1 {
            he[n + 1] = 1;
        }
        for k in 1..n.saturating_sub(1) {
            for l in 0..n {
                let shifted = if l > 0 { he[k * n + l - 1] } else { 0 };
                let lower = (k as i128).checked_mul(he[(k - 1) * n + l])?;
                he[(k + 1) * n + l] = shifted.checked_sub(lower)?;
            }
        }
        let sign = |i: usize, j: usize| -> i128 {
            let odd = i % 2 + ((i + j) / 2) % 2;
            if odd % 2 == 0 {
                1
            } else {
                -1
            }
        };
        let mut w = vec![0i128; n * n];
        let mut numerator = vec![0i128; n * n];
        for i in 0..n {
            for j in 0..n {
                if (i + j) % 2 == 1 {
                    continue;
                }
                w[i * n + j] = sign(i, j) * dfact[(i + j) / 2];
                let mut acc = 0i128;
                for k in i.max(j)..n {
                    let term = he[k * n + i]
                        .checked_mul(he[k * n + j])?
                        .checked_mul(denominator / fact[k])?;
                    acc = acc.checked_add(term)?;
                }
                numerator[i * n + j] = sign(i, j) * acc;
            }
        }
        // Exact check: W · numerator = denominator · I.
        for i in 0..n {
            for j in 0..n {
                let mut acc = 0i128;
                for k in 0..n {
                    acc = acc.checked_add(w[i * n + k].checked_mul(numerator[k * n + j])?)?;
                }
                if acc != if i == j { denominator } else { 0 } {
                    return None;
                }
            }
        }
        Some(Self {
            w,
            numerator,
            denominator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_inverse_holds_up_to_max_order() {
        for n in 1..=MAX_ORDER {
            assert!(ExactInverse::new(n).is_some(), "n = {n}");
        }
    }

    #[test]
    fn limits_of_the_exact_arithmetic() {
        // Where i128 gives out: the limit leaves a margin.
        let first_overflow = (1..64).find(|&n| ExactInverse::new(n).is_none());
        assert!(first_overflow.is_some_and(|n| n > MAX_ORDER));
    }

    #[test]
    fn n_one_and_two() {
        let p = temporal_precision(1, 0.7).unwrap();
        assert_eq!(p.r, DMatrix::from_element(1, 1, 1.0));
        let p = temporal_precision(2, 1.0).unwrap();
        assert_eq!(p.v, DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 0.5]));
        assert_eq!(p.r, DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 2.0]));
    }
}
