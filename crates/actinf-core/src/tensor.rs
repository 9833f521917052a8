//! Dense row-major tensors and the contractions active inference needs.
//!
//! A likelihood array `A[m]` has shape `[num_obs, n_1, …, n_k]` over the
//! hidden-state factors it depends on. Inference keeps contracting such arrays
//! with factor marginals: to predict outcomes (keep axis 0), to pass a message
//! to one factor (keep that factor's axis), or to take an expectation (keep
//! nothing). [`dot_except`] does all three with matrix–vector passes from the
//! outside in, into caller-owned buffers, so repeated calls do not allocate.

use crate::error::CoreError;

/// A dense array: a row-major `Vec<f64>` plus its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    /// Build a tensor from its shape and row-major data.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Result<Self, CoreError> {
        if shape.contains(&0) {
            return Err(CoreError::EmptyAxis { shape });
        }
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(CoreError::ElementCount {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Self { shape, data })
    }

    /// A tensor of the given shape filled with `value`.
    pub fn filled(shape: &[usize], value: f64) -> Self {
        let n = shape.iter().product();
        Self {
            shape: shape.to_vec(),
            data: vec![value; n],
        }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::filled(shape, 0.0)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The row-major data.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Mutable row-major data (the shape cannot change).
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Consume the tensor, returning its data.
    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no element (never true for a constructed tensor).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row-major strides.
    pub fn strides(&self) -> Vec<usize> {
        strides(&self.shape)
    }

    /// The contiguous sub-array at index `i` of axis 0 (e.g. `A[o]`, the
    /// likelihood of one outcome over the states).
    pub fn axis0(&self, i: usize) -> &[f64] {
        let inner = self.data.len() / self.shape[0];
        &self.data[i * inner..(i + 1) * inner]
    }

    /// The element at a multi-index, or `None` if out of range.
    pub fn get(&self, index: &[usize]) -> Option<f64> {
        if index.len() != self.shape.len() || index.iter().zip(&self.shape).any(|(i, n)| i >= n) {
            return None;
        }
        Some(self.data[offset(&self.shape, index)])
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

/// Row-major offset of a multi-index (not range-checked).
pub fn offset(shape: &[usize], index: &[usize]) -> usize {
    let mut off = 0;
    for (i, n) in index.iter().zip(shape) {
        off = off * n + i;
    }
    off
}

/// Decompose a row-major offset into a multi-index, written into `index`.
pub fn unravel(shape: &[usize], mut off: usize, index: &mut [usize]) {
    for k in (0..shape.len()).rev() {
        index[k] = off % shape[k];
        off /= shape[k];
    }
}

/// Two reusable buffers for [`dot_except`].
#[derive(Debug, Default, Clone)]
pub struct ContractBuffers {
    a: Vec<f64>,
    b: Vec<f64>,
}

/// Contract a row-major array with one vector per axis, except the axis `keep`.
///
/// Computes `r[i] = Σ_{j≠keep} x[…, i, …] Π_j v_j[i_j]` (or the full scalar
/// expectation when `keep` is `None`, returned as a one-element slice). This is
/// SPM's `spm_dot` and pymdp's `factor_dot`. `vecs[keep]` is ignored. Axes after
/// `keep` are contracted first (matrix–vector), then axes before it
/// (vector–matrix); cost is one pass over the array.
pub fn dot_except<'b>(
    data: &[f64],
    shape: &[usize],
    vecs: &[&[f64]],
    keep: Option<usize>,
    buf: &'b mut ContractBuffers,
) -> &'b [f64] {
    debug_assert_eq!(vecs.len(), shape.len());
    let d = shape.len();
    let stop = keep.map_or(0, |k| k + 1);
    // Which buffer holds the current array: 0 = source data, 1 = a, 2 = b.
    let mut cur = 0u8;
    let mut len = data.len();
    for k in (stop..d).rev() {
        let n = shape[k];
        let v = vecs[k];
        let (src, dst): (&[f64], &mut Vec<f64>) = match cur {
            0 => (data, &mut buf.a),
            1 => (&buf.a, &mut buf.b),
            _ => (&buf.b, &mut buf.a),
        };
        dst.clear();
        dst.extend(src[..len].chunks_exact(n).map(|row| dot(row, v)));
        cur = if cur == 1 { 2 } else { 1 };
        len = dst.len();
    }
    if let Some(keep) = keep {
        for (k, v) in vecs.iter().enumerate().take(keep) {
            let n = shape[k];
            let inner = len / n;
            let (src, dst): (&[f64], &mut Vec<f64>) = match cur {
                0 => (data, &mut buf.a),
                1 => (&buf.a, &mut buf.b),
                _ => (&buf.b, &mut buf.a),
            };
            dst.clear();
            dst.resize(inner, 0.0);
            for (row, &w) in src[..len].chunks_exact(inner).zip(v.iter()) {
                if w != 0.0 {
                    for (o, &x) in dst.iter_mut().zip(row) {
                        *o += w * x;
                    }
                }
            }
            cur = if cur == 1 { 2 } else { 1 };
            len = inner;
        }
    }
    match cur {
        0 => {
            buf.a.clear();
            buf.a.extend_from_slice(&data[..len]);
            &buf.a
        }
        1 => &buf.a[..len],
        _ => &buf.b[..len],
    }
}

/// Dot product of two equal-length slices.
///
/// Eight independent partial sums let the compiler vectorise and keep the
/// floating-point pipeline full; the summation order therefore differs from a
/// left-to-right loop by rounding only (relative 1e-16).
#[inline]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let xc = x.chunks_exact(8);
    let yc = y.chunks_exact(8);
    let (xr, yr) = (xc.remainder(), yc.remainder());
    let mut acc = [0.0f64; 8];
    for (a, b) in xc.zip(yc) {
        for k in 0..8 {
            acc[k] += a[k] * b[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (a, b) in xr.iter().zip(yr) {
        s += a * b;
    }
    s
}

/// Outer product of vectors (SPM's `spm_cross`), row-major, first vector outermost.
pub fn outer(vecs: &[&[f64]]) -> Vec<f64> {
    let mut out = vec![1.0];
    for v in vecs {
        let mut next = Vec::with_capacity(out.len() * v.len());
        for &x in &out {
            next.extend(v.iter().map(|&y| x * y));
        }
        out = next;
    }
    out
}

/// Add `scale · v_0 ⊗ v_1 ⊗ …` into `target` (row-major, first vector outermost).
pub fn add_outer(target: &mut [f64], vecs: &[&[f64]], scale: f64) {
    fn rec(target: &mut [f64], vecs: &[&[f64]], w: f64) {
        match vecs.split_first() {
            None => target[0] += w,
            Some((v, rest)) => {
                let inner = target.len() / v.len();
                for (chunk, &x) in target.chunks_exact_mut(inner).zip(v.iter()) {
                    if x != 0.0 {
                        rec(chunk, rest, w * x);
                    }
                }
            }
        }
    }
    rec(target, vecs, scale);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[f64], shape: &[usize], vecs: &[&[f64]], keep: Option<usize>) -> Vec<f64> {
        let n_out = keep.map_or(1, |k| shape[k]);
        let mut out = vec![0.0; n_out];
        let mut idx = vec![0; shape.len()];
        for (off, &x) in data.iter().enumerate() {
            unravel(shape, off, &mut idx);
            let mut w = x;
            for (k, &i) in idx.iter().enumerate() {
                if Some(k) != keep {
                    w *= vecs[k][i];
                }
            }
            out[keep.map_or(0, |k| idx[k])] += w;
        }
        out
    }

    #[test]
    fn dot_except_matches_naive_on_every_axis() {
        let shape = [3, 2, 4, 2];
        let data: Vec<f64> = (0..48).map(|i| (i as f64 * 0.37).sin()).collect();
        let v: Vec<Vec<f64>> = shape
            .iter()
            .map(|&n| (0..n).map(|i| 0.3 + i as f64 * 0.2).collect())
            .collect();
        let vr: Vec<&[f64]> = v.iter().map(|x| x.as_slice()).collect();
        let mut buf = ContractBuffers::default();
        for keep in [None, Some(0), Some(1), Some(2), Some(3)] {
            let got = dot_except(&data, &shape, &vr, keep, &mut buf).to_vec();
            let want = naive(&data, &shape, &vr, keep);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "keep {keep:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn outer_and_add_outer_agree() {
        let a = [0.2, 0.8];
        let b = [0.1, 0.3, 0.6];
        let o = outer(&[&a, &b]);
        let mut t = vec![0.0; 6];
        add_outer(&mut t, &[&a, &b], 2.0);
        for (x, y) in o.iter().zip(&t) {
            assert!((2.0 * x - y).abs() < 1e-15);
        }
        assert!((o[4] - 0.8 * 0.3).abs() < 1e-15);
    }

    #[test]
    fn constructor_rejects_bad_shapes() {
        assert!(matches!(
            Tensor::new(vec![2, 3], vec![0.0; 5]),
            Err(CoreError::ElementCount { .. })
        ));
        assert!(matches!(
            Tensor::new(vec![2, 0], vec![]),
            Err(CoreError::EmptyAxis { .. })
        ));
    }
}
