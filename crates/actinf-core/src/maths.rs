//! Log-stable operations on probability vectors and Dirichlet counts.
//!
//! Every reference package guards the logarithm of a probability against
//! zero, and each does it differently: SPM adds `exp(-16)` inside the log,
//! pymdp clips at `1e-16`. The numbers only agree to 1e-8 when the guard does,
//! so the guard is an explicit value ([`LogGuard`]) rather than a hidden
//! constant.

use special::Gamma;

/// How `ln` is protected against zero probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LogGuard {
    /// `ln(max(x, eps))`: pymdp's `log_stable` convention.
    Clip(f64),
    /// `ln(x + eps)`: SPM's `spm_log`/`log(x + exp(-16))` convention.
    Add(f64),
    /// A plain `ln(x)`; zero gives `-inf`.
    Plain,
}

impl Default for LogGuard {
    fn default() -> Self {
        LogGuard::Clip(1e-16)
    }
}

impl LogGuard {
    /// The guarded natural logarithm.
    #[inline]
    pub fn ln(self, x: f64) -> f64 {
        match self {
            LogGuard::Clip(eps) => x.max(eps).ln(),
            LogGuard::Add(eps) => (x + eps).ln(),
            LogGuard::Plain => x.ln(),
        }
    }

    /// Write the guarded log of `x` into `out`.
    #[inline]
    pub fn ln_into(self, x: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = self.ln(v);
        }
    }

    /// The guarded log of a slice, as a new vector.
    pub fn ln_vec(self, x: &[f64]) -> Vec<f64> {
        x.iter().map(|&v| self.ln(v)).collect()
    }
}

/// In-place softmax: `x ← exp(x − max x) / Σ exp(x − max x)`.
#[inline]
pub fn softmax_in_place(x: &mut [f64]) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in x.iter_mut() {
        *v /= s;
    }
}

/// Softmax of a slice, as a new vector.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let mut y = x.to_vec();
    softmax_in_place(&mut y);
    y
}

/// `ln Σ exp(x)`, computed stably.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + x.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
}

/// Shannon entropy `H[p] = −Σ p ln p` with the given guard on `ln p`.
pub fn entropy(p: &[f64], guard: LogGuard) -> f64 {
    -p.iter().map(|&x| x * guard.ln(x)).sum::<f64>()
}

/// `KL[p ‖ q] = Σ p (ln p − ln q)` with the given guard.
pub fn kl_categorical(p: &[f64], q: &[f64], guard: LogGuard) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&a, &b)| a * (guard.ln(a) - guard.ln(b)))
        .sum()
}

/// Normalise each column of a row-major array whose axis 0 is the outcome
/// axis: `x[:, j] ← x[:, j] / Σ_i x[i, j]`. Columns summing to zero are left
/// as zeros.
pub fn normalise_columns(data: &mut [f64], rows: usize) {
    let cols = data.len() / rows;
    for j in 0..cols {
        let s: f64 = (0..rows).map(|i| data[i * cols + j]).sum();
        if s > 0.0 {
            for i in 0..rows {
                data[i * cols + j] /= s;
            }
        }
    }
}

/// Sum over axis 0 of a row-major array with `rows` rows (column sums).
pub fn column_sums(data: &[f64], rows: usize) -> Vec<f64> {
    let cols = data.len() / rows;
    let mut s = vec![0.0; cols];
    for row in data.chunks_exact(cols) {
        for (a, &b) in s.iter_mut().zip(row) {
            *a += b;
        }
    }
    s
}

/// Digamma ψ(x).
#[inline]
pub fn digamma(x: f64) -> f64 {
    x.digamma()
}

/// ln Γ(x) for x > 0.
#[inline]
pub fn ln_gamma(x: f64) -> f64 {
    Gamma::ln_gamma(x).0
}

/// Multivariate log-beta `ln B(α) = Σ ln Γ(α_i) − ln Γ(Σ α_i)`.
pub fn ln_beta(alpha: &[f64]) -> f64 {
    alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>() - ln_gamma(alpha.iter().sum())
}

/// Expected log of a Dirichlet-distributed column-stochastic array:
/// `E[ln A_ij] = ψ(a_ij) − ψ(Σ_i a_ij)` (axis 0 is the distribution's axis).
pub fn dirichlet_expected_log(a: &[f64], rows: usize) -> Vec<f64> {
    let sums = column_sums(a, rows);
    let cols = sums.len();
    a.iter()
        .enumerate()
        .map(|(k, &x)| digamma(x) - digamma(sums[k % cols]))
        .collect()
}

/// KL divergence between Dirichlet distributions `KL[Dir(q) ‖ Dir(p)]`,
/// summed over columns (axis 0 is the distribution's axis).
///
/// `Σ_j [ln B(p_j) − ln B(q_j) + Σ_i (q_ij − p_ij)(ψ(q_ij) − ψ(Σ_i q_ij))]`.
pub fn kl_dirichlet(q: &[f64], p: &[f64], rows: usize) -> f64 {
    let cols = q.len() / rows;
    let mut total = 0.0;
    let mut qc = vec![0.0; rows];
    let mut pc = vec![0.0; rows];
    for j in 0..cols {
        for i in 0..rows {
            qc[i] = q[i * cols + j];
            pc[i] = p[i * cols + j];
        }
        let q0: f64 = qc.iter().sum();
        let dq0 = digamma(q0);
        total += ln_beta(&pc) - ln_beta(&qc)
            + qc.iter()
                .zip(&pc)
                .map(|(&a, &b)| (a - b) * (digamma(a) - dq0))
                .sum::<f64>();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_is_shift_invariant() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        let q = softmax(&[101.0, 102.0, 103.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for (a, b) in p.iter().zip(&q) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn digamma_and_ln_gamma_known_values() {
        // ψ(1) = −γ (Euler–Mascheroni), ln Γ(5) = ln 24.
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn kl_dirichlet_is_zero_for_equal_and_positive_otherwise() {
        let p = [1.0, 2.0, 3.0, 4.0];
        assert!(kl_dirichlet(&p, &p, 2).abs() < 1e-12);
        assert!(kl_dirichlet(&[2.0, 2.0, 3.0, 9.0], &p, 2) > 0.0);
    }

    #[test]
    fn guards_differ_as_documented() {
        assert_eq!(LogGuard::Clip(1e-16).ln(0.0), (1e-16f64).ln());
        assert_eq!(LogGuard::Add(1e-16).ln(0.0), (1e-16f64).ln());
        assert!(LogGuard::Plain.ln(0.0).is_infinite());
    }
}
