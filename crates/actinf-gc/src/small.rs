//! Small dense kernels for the per-sample algebra of generalized filtering:
//! LU factorisation with partial pivoting, solves and inverses on
//! column-major storage, without allocating in the hot loop.
//!
//! The algorithms are the textbook ones, in the order nalgebra's `LU` uses
//! them (Golub & Van Loan 2013, "Matrix Computations", 4th ed., algorithms
//! 3.4.1 (Gaussian elimination with partial pivoting, right-looking, the
//! pivot the first entry of largest modulus), 3.1.3–3.1.4 (column-oriented
//! forward and back substitution)), so results agree with nalgebra's
//! `lu().solve()` and `try_inverse()` to rounding; the gain is in avoiding
//! its per-column dispatch and allocations for matrices of order ~20.
//!
//! [`gemm`] is a register-blocked matrix product (eight rows by four
//! columns of the result accumulated in registers, the classical
//! micro-kernel of Goto & van de Geijn 2008, "Anatomy of high-performance
//! matrix multiplication", ACM TOMS 34(3), without packing: the operands of
//! order ~20 fit in cache). On x86-64 CPUs with AVX2 and FMA the same loop
//! is compiled for them and chosen at run time, as in `actinf-pomdp`'s
//! rollout kernel; results then differ from the baseline build by rounding
//! only.

use nalgebra::DMatrix;

use crate::dem::regularised_inverse;

/// An LU factorisation `P A = L U` of a square matrix held in place
/// (`L` unit lower triangular below the diagonal, `U` on and above it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Lu {
    n: usize,
    lu: Vec<f64>,
    /// Row swapped with row `i` at step `i`.
    pivots: Vec<usize>,
    singular: bool,
    /// The right-hand sides, transposed, while they are solved.
    scratch: Vec<f64>,
}

impl Lu {
    /// Factorises the `n × n` column-major `a` into `self`, reusing its storage.
    pub(crate) fn factor(&mut self, a: &[f64], n: usize) {
        debug_assert_eq!(a.len(), n * n);
        self.n = n;
        self.lu.clear();
        self.lu.extend_from_slice(a);
        self.pivots.clear();
        self.singular = false;
        #[cfg(target_arch = "x86_64")]
        {
            if fma_available() {
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                unsafe { factor_avx2(self) };
                return;
            }
        }
        factor_kernel::<false>(self);
    }

    /// Whether a pivot was exactly zero (the matrix is singular).
    pub(crate) fn is_singular(&self) -> bool {
        self.singular
    }

    /// Solves `A X = B` in place for the column-major `B` (`n` rows, any
    /// number of columns). Meaningless when [`Lu::is_singular`].
    pub(crate) fn solve_in_place(&mut self, b: &mut [f64]) {
        if self.n == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if fma_available() {
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                unsafe { solve_avx2(self, b) };
                return;
            }
        }
        solve_kernel::<false>(self, b);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn factor_avx2(f: &mut Lu) {
    factor_kernel::<true>(f);
}

/// Right-looking elimination with partial pivoting, in place.
#[inline(always)]
fn factor_kernel<const FUSED: bool>(f: &mut Lu) {
    let n = f.n;
    let lu = &mut f.lu;
    for i in 0..n {
        // Pivot: the first entry of largest modulus in column i, rows i….
        let col = &lu[i * n..(i + 1) * n];
        let mut piv = i;
        let mut best = col[i].abs();
        for (r, v) in col.iter().enumerate().skip(i + 1) {
            if v.abs() > best {
                best = v.abs();
                piv = r;
            }
        }
        f.pivots.push(piv);
        let diag = lu[i * n + piv];
        if diag == 0.0 {
            f.singular = true;
            continue;
        }
        if piv != i {
            for c in 0..n {
                lu.swap(c * n + i, c * n + piv);
            }
        }
        let inv = 1.0 / diag;
        let (left, right) = lu.split_at_mut((i + 1) * n);
        let pivot_col = &mut left[i * n..];
        for v in &mut pivot_col[i + 1..n] {
            *v *= inv;
        }
        let pivot_col = &pivot_col[i + 1..n];
        for c in right.chunks_exact_mut(n) {
            let g = c[i];
            if g != 0.0 {
                for (x, l) in c[i + 1..].iter_mut().zip(pivot_col) {
                    *x = multiply_add::<FUSED>(-g, *l, *x);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_avx2(lu: &mut Lu, b: &mut [f64]) {
    solve_kernel::<true>(lu, b);
}

/// Forward then back substitution for all columns of `b` at once: `b` is
/// transposed so that each elimination step is one long `axpy` across the
/// right-hand sides (row-oriented substitution, Golub & Van Loan 3.1.1).
#[inline(always)]
fn solve_kernel<const FUSED: bool>(f: &mut Lu, b: &mut [f64]) {
    let n = f.n;
    let k = b.len() / n;
    let lu = &f.lu;
    // xt: row i of X is xt[i*k .. (i+1)*k].
    let xt = &mut f.scratch;
    xt.clear();
    xt.resize(n * k, 0.0);
    for (c, col) in b.chunks_exact(n).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            xt[i * k + c] = v;
        }
    }
    for (i, &p) in f.pivots.iter().enumerate() {
        if p != i {
            for c in 0..k {
                xt.swap(i * k + c, p * k + c);
            }
        }
    }
    // L Y = P B (unit diagonal).
    for i in 0..n {
        let (done, rest) = xt.split_at_mut((i + 1) * k);
        let xi = &done[i * k..];
        for (j, row) in rest.chunks_exact_mut(k).enumerate() {
            let l = lu[i * n + i + 1 + j];
            if l != 0.0 {
                for (v, &x) in row.iter_mut().zip(xi) {
                    *v = multiply_add::<FUSED>(-l, x, *v);
                }
            }
        }
    }
    // U X = Y.
    for i in (0..n).rev() {
        let d = lu[i * n + i];
        let (before, rest) = xt.split_at_mut(i * k);
        let xi = &mut rest[..k];
        for v in xi.iter_mut() {
            *v /= d;
        }
        for (j, row) in before.chunks_exact_mut(k).enumerate() {
            let u = lu[i * n + j];
            if u != 0.0 {
                for (v, &x) in row.iter_mut().zip(xi.iter()) {
                    *v = multiply_add::<FUSED>(-u, x, *v);
                }
            }
        }
    }
    for (c, col) in b.chunks_exact_mut(n).enumerate() {
        for (i, v) in col.iter_mut().enumerate() {
            *v = xt[i * k + c];
        }
    }
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

/// `C ← α A B + β C` for column-major matrices (`C` not read when
/// `β = 0`).
pub(crate) fn gemm(
    c: &mut DMatrix<f64>,
    alpha: f64,
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
    beta: f64,
) {
    let (m, k) = a.shape();
    let n = b.ncols();
    assert_eq!(b.nrows(), k, "gemm: inner dimensions");
    assert_eq!(c.shape(), (m, n), "gemm: output shape");
    gemm_slices(
        c.as_mut_slice(),
        alpha,
        a.as_slice(),
        b.as_slice(),
        beta,
        (m, k, n),
    );
}

/// [`gemm`] on column-major slices: `c` is `m × n`, `a` `m × k`, `b`
/// `k × n`, each exactly that long.
pub(crate) fn gemm_slices(
    c: &mut [f64],
    alpha: f64,
    a: &[f64],
    b: &[f64],
    beta: f64,
    (m, k, n): (usize, usize, usize),
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "gemm: shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if fma_available() {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { gemm_avx2(c, alpha, a, b, beta, m, k, n) };
            return;
        }
    }
    gemm_kernel::<false>(c, alpha, a, b, beta, m, k, n);
}

/// `C ← A B` for a `B` with many zero entries: each non-zero `B[r, c]`
/// adds `B[r, c]` times column `r` of `A` to column `c` of `C`, in order of
/// `r` — the sums of [`gemm`]'s blocks that accumulate in order, less the
/// exact zeros.
pub(crate) fn sparse_mul(c: &mut DMatrix<f64>, a: &DMatrix<f64>, b: &DMatrix<f64>) {
    let (m, k) = a.shape();
    assert_eq!(b.nrows(), k, "sparse_mul: inner dimensions");
    assert_eq!(c.shape(), (m, b.ncols()), "sparse_mul: output shape");
    if m == 0 || k == 0 {
        c.fill(0.0);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if fma_available() {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { sparse_mul_avx2(c.as_mut_slice(), a.as_slice(), b.as_slice(), m, k) };
            return;
        }
    }
    sparse_mul_kernel::<false>(c.as_mut_slice(), a.as_slice(), b.as_slice(), m, k);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sparse_mul_avx2(c: &mut [f64], a: &[f64], b: &[f64], m: usize, k: usize) {
    sparse_mul_kernel::<true>(c, a, b, m, k);
}

#[inline(always)]
fn sparse_mul_kernel<const FUSED: bool>(c: &mut [f64], a: &[f64], b: &[f64], m: usize, k: usize) {
    const CHUNK: usize = 8;
    for (column, o) in b.chunks_exact(k).zip(c.chunks_exact_mut(m)) {
        o.fill(0.0);
        for (start, chunk) in (0..).step_by(CHUNK).zip(column.chunks(CHUNK)) {
            // A branch-free test of the whole chunk first: many are zero.
            if chunk.iter().fold(false, |any, &v| any | (v != 0.0)) {
                for (r, &v) in (start..).zip(chunk) {
                    if v != 0.0 {
                        for (x, &ar) in o.iter_mut().zip(&a[r * m..(r + 1) * m]) {
                            *x = multiply_add::<FUSED>(ar, v, *x);
                        }
                    }
                }
            }
        }
    }
}

/// Whether the AVX2+FMA kernel can run on this CPU (detected once).
#[cfg(target_arch = "x86_64")]
fn fma_available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_avx2(
    c: &mut [f64],
    alpha: f64,
    a: &[f64],
    b: &[f64],
    beta: f64,
    m: usize,
    k: usize,
    n: usize,
) {
    gemm_kernel::<true>(c, alpha, a, b, beta, m, k, n);
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_kernel<const FUSED: bool>(
    c: &mut [f64],
    alpha: f64,
    a: &[f64],
    b: &[f64],
    beta: f64,
    m: usize,
    k: usize,
    n: usize,
) {
    let mut j0 = 0;
    while j0 < n {
        let w = if n - j0 >= 4 { 4 } else { 1 };
        let mut i0 = 0;
        while i0 < m {
            let left = m - i0;
            let r = if left >= 8 {
                8
            } else if left >= 4 {
                4
            } else {
                1
            };
            match (r, w) {
                (8, 4) => block::<FUSED, 8, 4>(c, alpha, a, b, beta, m, k, i0, j0),
                (4, 4) => block::<FUSED, 4, 4>(c, alpha, a, b, beta, m, k, i0, j0),
                (1, 4) => block::<FUSED, 1, 4>(c, alpha, a, b, beta, m, k, i0, j0),
                (8, _) => block::<FUSED, 8, 1>(c, alpha, a, b, beta, m, k, i0, j0),
                (4, _) => block::<FUSED, 4, 1>(c, alpha, a, b, beta, m, k, i0, j0),
                _ => block::<FUSED, 1, 1>(c, alpha, a, b, beta, m, k, i0, j0),
            }
            i0 += r;
        }
        j0 += w;
    }
}

/// Rows `i0 … i0 + R` by columns `j0 … j0 + W` of [`gemm`], accumulated
/// in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const FUSED: bool, const R: usize, const W: usize>(
    c: &mut [f64],
    alpha: f64,
    a: &[f64],
    b: &[f64],
    beta: f64,
    m: usize,
    k: usize,
    i0: usize,
    j0: usize,
) {
    let mut acc = [[0.0f64; R]; W];
    let step = |acc: &mut [[f64; R]; W], p: usize| {
        let col: &[f64; R] = a[p * m + i0..p * m + i0 + R].try_into().expect("R rows");
        for (w, acc_w) in acc.iter_mut().enumerate() {
            let bv = b[(j0 + w) * k + p];
            for (x, &av) in acc_w.iter_mut().zip(col) {
                *x = multiply_add::<FUSED>(av, bv, *x);
            }
        }
    };
    if R * W <= 8 {
        // Few accumulators: a second set for odd `p` halves the chain of
        // dependent multiply-adds.
        let mut odd = [[0.0f64; R]; W];
        let mut p = 0;
        while p + 1 < k {
            step(&mut acc, p);
            step(&mut odd, p + 1);
            p += 2;
        }
        if p < k {
            step(&mut acc, p);
        }
        for (acc_w, odd_w) in acc.iter_mut().zip(&odd) {
            for (x, y) in acc_w.iter_mut().zip(odd_w) {
                *x += y;
            }
        }
    } else {
        for p in 0..k {
            step(&mut acc, p);
        }
    }
    for (w, acc_w) in acc.iter().enumerate() {
        let out = &mut c[(j0 + w) * m + i0..(j0 + w) * m + i0 + R];
        if beta == 0.0 {
            for (o, &x) in out.iter_mut().zip(acc_w) {
                *o = alpha * x;
            }
        } else {
            for (o, &x) in out.iter_mut().zip(acc_w) {
                *o = beta * *o + alpha * x;
            }
        }
    }
}

/// SPM's `spm_inv` as [`regularised_inverse`] (`(A + δI)⁻¹`,
/// `δ = max(eps(‖A‖∞)·n, exp(−32))`), by [`Lu`]; a singular shifted matrix
/// falls back to [`regularised_inverse`] (its pseudo-inverse). A matrix that
/// is block diagonal up to a permutation gets the same inverse as
/// [`regularised_inverse`]'s block-by-block one up to rounding: elimination
/// never fills the zero blocks.
pub(crate) fn spm_inv(a: &DMatrix<f64>, lu: &mut Lu) -> DMatrix<f64> {
    let n = a.nrows();
    if n == 0 {
        return DMatrix::zeros(0, 0);
    }
    let mut norm = 0.0f64;
    for i in 0..n {
        let mut s = 0.0;
        for j in 0..n {
            s += a[(i, j)].abs();
        }
        norm = norm.max(s);
    }
    let delta = (ulp(norm) * n as f64).max((-32f64).exp());
    let mut shifted = a.clone();
    for i in 0..n {
        shifted[(i, i)] += delta;
    }
    lu.factor(shifted.as_slice(), n);
    if lu.is_singular() {
        return regularised_inverse(a);
    }
    let mut inv = DMatrix::identity(n, n);
    lu.solve_in_place(inv.as_mut_slice());
    inv
}

/// MATLAB's `eps(x)`: the spacing of doubles at `|x|` (as `dem`'s).
fn ulp(x: f64) -> f64 {
    let x = x.abs();
    if x == 0.0 || !x.is_finite() {
        return f64::MIN_POSITIVE;
    }
    let e = x.log2().floor();
    2f64.powf(e - 52.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lu_matches_nalgebra() {
        let n = 9;
        let a = DMatrix::from_fn(n, n, |i, j| {
            ((i * 7 + j * 3) % 11) as f64 - 5.0 + if i == j { 0.5 } else { 0.0 }
        });
        let b = DMatrix::from_fn(n, 3, |i, j| (i as f64 * 0.7 + j as f64).sin());
        let mut lu = Lu::default();
        lu.factor(a.as_slice(), n);
        assert!(!lu.is_singular());
        let mut x = b.clone();
        lu.solve_in_place(x.as_mut_slice());
        let reference = a.clone().lu().solve(&b).unwrap();
        assert!((&x - &reference).amax() <= 1e-12 * reference.amax());
        let inv = spm_inv(&a, &mut lu);
        let reference = regularised_inverse(&a);
        assert!((&inv - &reference).amax() <= 1e-12 * reference.amax());
        // Zero: the regularisation alone.
        let z = DMatrix::zeros(3, 3);
        assert_eq!(spm_inv(&z, &mut lu), regularised_inverse(&z));
    }

    #[test]
    fn gemm_matches_nalgebra() {
        for (m, k, n) in [(17, 17, 17), (17, 7, 7), (7, 7, 7), (3, 5, 2), (21, 49, 9)] {
            let a = DMatrix::from_fn(m, k, |i, j| ((i * 5 + j * 3) % 7) as f64 - 2.5);
            let b = DMatrix::from_fn(k, n, |i, j| (i as f64 * 0.3 - j as f64).cos());
            let c0 = DMatrix::from_fn(m, n, |i, j| (i + j) as f64);
            let mut c = c0.clone();
            gemm(&mut c, 2.0, &a, &b, 0.5);
            let reference = &a * &b * 2.0 + &c0 * 0.5;
            assert!((&c - &reference).amax() <= 1e-12 * reference.amax());
            let mut c = DMatrix::from_element(m, n, f64::NAN);
            gemm(&mut c, 1.0, &a, &b, 0.0);
            assert!((&c - &a * &b).amax() <= 1e-12 * reference.amax());
        }
    }
}
