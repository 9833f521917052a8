//! Embedding of sampled data in generalized coordinates of motion.
//!
//! Data arrive as samples `y(t₀), y(t₀ + dt), …`; inference in generalized
//! coordinates needs the generalized response `ỹ(t) = [y, y′, …, y^(n−1)](t)`.
//! Like SPM12's `spm_DEM_embed`, [`embed`] takes a window of `n` consecutive
//! samples at offsets `m_p dt` from `t` and inverts the Taylor expansion
//!
//! ```text
//! y(t + m_p dt) = Σ_j (m_p dt)^j / j! · y^(j)(t),   p = 0 … n−1,
//! i.e.  Y = T ỹ,  T_pj = (m_p dt)^j / j!,  ỹ = T⁻¹ Y = E Y,
//! ```
//!
//! which is exact for polynomials of degree `< n`: `E_jp = j!/dt^j ·
//! [x^j] ℓ_p(x)`, with `ℓ_p` the Lagrange basis polynomial of the integer
//! nodes `m_p` (Friston, Trujillo-Barreto & Daunizeau 2008, "DEM: a
//! variational treatment of dynamic systems", NeuroImage 41, section
//! "Generalised coordinates"; Friston et al. 2010, "Generalised filtering",
//! Math Probl Eng). The weights are computed exactly in integer
//! arithmetic and rounded once, instead of inverting the (Vandermonde,
//! ill-conditioned) matrix `T` numerically.

use nalgebra::{DMatrix, DVector};

use crate::precision::MAX_ORDER;
use crate::GcError;

/// Which samples around `t` the embedding reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// The smoother's window, `spm_DEM_embed`'s: `n` consecutive samples
    /// centred on `t`. For odd `n`: offsets `−(n−1)/2 … (n−1)/2`; for even
    /// `n`: `−n/2 … n/2 − 1` (one more sample before `t` than after). It
    /// reads `⌊(n−1)/2⌋` samples after `t` (see [`lookahead`]), so it is not
    /// causal; in exchange its error and its noise gain are the smallest: the
    /// white-noise variance gain of `y′` for `n = 7` is 1.17 (per unit noise
    /// variance, `dt = 1`).
    Centred,
    /// The filter's window: the `n` most recent samples, offsets
    /// `−(n−1) … 0`, using nothing after `t`. The Taylor expansion is still
    /// taken at `t` (the newest sample), so the estimate has no lag: it is
    /// exact for polynomials of degree `< n`, and its error for a smooth
    /// signal is `O(dt^(n−j))` for `y^(j)` with no delay term (zero group
    /// delay at low frequency). The price of extrapolating to the window's
    /// end is a larger error constant and noise gain: for `n = 7`, the
    /// white-noise variance gain of `y′` is 158 against 1.17 centred. A
    /// filter that prefers the centred estimate can call
    /// `embed(y, n, t − L, dt, Embedding::Centred)` with `L = lookahead(n,
    /// Embedding::Centred)` at time `t`, which is causal but lags by `L·dt`.
    Causal,
}

/// How many samples after `t` the window of [`embed`] reads (away from the
/// start of the record): `⌊(n−1)/2⌋` for [`Embedding::Centred`], 0 for
/// [`Embedding::Causal`]. A causal filter using the centred form must run
/// this many samples behind the data.
pub fn lookahead(n: usize, mode: Embedding) -> usize {
    match mode {
        Embedding::Centred => n.saturating_sub(1) / 2,
        Embedding::Causal => 0,
    }
}

/// The generalized vector `ỹ(t) = [y, y′, …, y^(n−1)]` at sample `t` of the
/// record `y` (`dims × T`, one column per sample, spacing `dt`), laid out
/// order-major (`n·dims` entries: all of `y`, then all of `y′`, …):
///
/// ```text
/// ỹ(t) = E Y,   E = T⁻¹,   T_pj = (m_p dt)^j / j!,   Y_p = y(t + m_p dt)
/// ```
///
/// (inverse Taylor expansion, as SPM12's `spm_DEM_embed`; Friston,
/// Trujillo-Barreto & Daunizeau 2008), exact for polynomials of degree
/// `< n`. The window offsets `m_p` are those of `mode`; `t` is 0-based.
///
/// **Ends of the record**, as `spm_DEM_embed` does: window indices before
/// the first sample read the first sample, and indices after the last read
/// the last (the record is extended by holding its end values), while the
/// Taylor operator keeps the window's nominal offsets. Near the ends the
/// result is therefore the generalized motion of the held-extended record:
/// derivatives are damped toward zero there. Also as SPM (its `fix`), the
/// centred window starts at sample `(2t + 1 − n)/2` rounded toward zero, so
/// for even `n` and `t < n/2` the window sits one sample later than in the
/// interior (e.g. `n = 4, t = 0`: offsets `−1 … 2` instead of `−2 … 1`).
///
/// # Errors
/// [`GcError::Setting`] when `n = 0`, `n > MAX_ORDER`, `dt` is not finite and
/// positive (or so small that `dt^(n−1)` leaves the range of `f64`), or `t`
/// is not a sample of the record; [`GcError::Dimension`] when the record has
/// no samples; [`GcError::Value`] when a sample read is NaN or infinite
/// (`index` is the column-major flat index `sample · dims + channel`).
pub fn embed(
    y: &DMatrix<f64>,
    n: usize,
    t: usize,
    dt: f64,
    mode: Embedding,
) -> Result<DVector<f64>, GcError> {
    check_order_and_dt(n, dt)?;
    check_sample(y, t)?;
    // Only the one window that `t` uses: a single call needs no others.
    let embedder = Embedder::build(
        n,
        dt,
        mode,
        std::iter::once(window_start(n, t, mode) - t as i64),
    )?;
    embedder.embed(y, t)
}

/// The embedding of [`embed`] with its Taylor weights computed once, for
/// embedding every sample of a record (or many records) at the same order
/// `n`, sampling interval `dt` and window `mode`.
///
/// The weights depend only on the window's offsets from `t`, and those take
/// at most two values: the interior one, and for the centred window of an
/// even `n` the one SPM's rounding gives at the start of the record (see
/// [`embed`]). [`Embedder::new`] computes both; [`Embedder::embed_into`] then
/// costs one pass over the `n` samples read, writes into a caller's buffer and
/// allocates nothing. Its results are those of [`embed`] bit for bit.
#[derive(Debug, Clone)]
pub struct Embedder {
    n: usize,
    dt: f64,
    mode: Embedding,
    /// `(m_0, E)`: the first window offset `m_0 = start − t` and the weights
    /// `E = T⁻¹` (`n × n`) of the offsets `m_0 … m_0 + n − 1`.
    windows: Vec<(i64, DMatrix<f64>)>,
}

impl Embedder {
    /// The embedder of order `n`, sampling interval `dt` and window `mode`.
    ///
    /// # Errors
    /// [`GcError::Setting`] when `n = 0`, `n > MAX_ORDER`, or `dt` is not
    /// finite and positive (or so small that `dt^(n−1)` leaves the range of
    /// `f64`), as [`embed`].
    pub fn new(n: usize, dt: f64, mode: Embedding) -> Result<Self, GcError> {
        check_order_and_dt(n, dt)?;
        let interior = -(lookback(n, mode) as i64);
        let mut firsts = vec![interior];
        if mode == Embedding::Centred && n % 2 == 0 {
            // SPM's `fix` near the start of the record (t < n/2).
            firsts.push(interior + 1);
        }
        Self::build(n, dt, mode, firsts)
    }

    fn build(
        n: usize,
        dt: f64,
        mode: Embedding,
        firsts: impl IntoIterator<Item = i64>,
    ) -> Result<Self, GcError> {
        let windows = firsts
            .into_iter()
            .map(|m0| {
                let offsets: Vec<i64> = (0..n as i64).map(|p| m0 + p).collect();
                Ok((m0, taylor_weights(&offsets, dt)?))
            })
            .collect::<Result<Vec<_>, GcError>>()?;
        Ok(Embedder {
            n,
            dt,
            mode,
            windows,
        })
    }

    /// The embedding order `n`.
    pub fn order(&self) -> usize {
        self.n
    }

    /// The sampling interval `dt`.
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// The window.
    pub fn mode(&self) -> Embedding {
        self.mode
    }

    /// `ỹ(t)` as [`embed`]`(y, n, t, dt, mode)`, in a new vector.
    ///
    /// # Errors
    /// As [`Embedder::embed_into`].
    pub fn embed(&self, y: &DMatrix<f64>, t: usize) -> Result<DVector<f64>, GcError> {
        let mut out = DVector::zeros(self.n * y.nrows());
        self.embed_into(y, t, out.as_mut_slice())?;
        Ok(out)
    }

    /// Writes `ỹ(t)` (as [`embed`]`(y, n, t, dt, mode)`, bit for bit) into
    /// `out`, which must hold `n · dims` entries (`dims = y.nrows()`).
    /// Allocation-free. On error `out` is left unchanged.
    ///
    /// # Errors
    /// [`GcError::Setting`] when `t` is not a sample of the record;
    /// [`GcError::Dimension`] when the record has no samples or `out` has the
    /// wrong length; [`GcError::Value`] when a sample read is NaN or infinite
    /// (`index` is the column-major flat index `sample · dims + channel`).
    pub fn embed_into(&self, y: &DMatrix<f64>, t: usize, out: &mut [f64]) -> Result<(), GcError> {
        check_sample(y, t)?;
        let (n, dims, samples) = (self.n, y.nrows(), y.ncols());
        if out.len() != n * dims {
            return Err(GcError::Dimension {
                what: "output buffer of the embedding".into(),
                expected: format!("length {} (n · dims)", n * dims),
                got: format!("length {}", out.len()),
            });
        }
        let start = window_start(n, t, self.mode);
        let m0 = start - t as i64;
        let weights = &self
            .windows
            .iter()
            .find(|(first, _)| *first == m0)
            .expect("the embedder holds every window of its mode")
            .1;
        let last = samples as i64 - 1;
        let column = |p: usize| (start + p as i64).clamp(0, last) as usize;
        for p in 0..n {
            let k = column(p);
            if let Some((c, &value)) = y.column(k).iter().enumerate().find(|(_, v)| !v.is_finite())
            {
                return Err(GcError::Value {
                    what: "data y (column-major)".into(),
                    index: k * dims + c,
                    value,
                    expected: "a finite number".into(),
                });
            }
        }
        out.fill(0.0);
        let data = y.as_slice();
        for j in 0..n {
            let row = &mut out[j * dims..(j + 1) * dims];
            for p in 0..n {
                let w = weights[(j, p)];
                if w == 0.0 {
                    continue;
                }
                let k = column(p);
                for (o, &v) in row.iter_mut().zip(&data[k * dims..(k + 1) * dims]) {
                    *o += w * v;
                }
            }
        }
        Ok(())
    }
}

/// How many samples before `t` the window reads away from the start of the
/// record: `−m_0` for the interior window.
fn lookback(n: usize, mode: Embedding) -> usize {
    match mode {
        Embedding::Centred => n / 2,
        Embedding::Causal => n - 1,
    }
}

fn check_order_and_dt(n: usize, dt: f64) -> Result<(), GcError> {
    if n == 0 || n > MAX_ORDER {
        return Err(GcError::Setting {
            name: "n".into(),
            reason: format!("the embedding order must be in 1 ..= {MAX_ORDER}, got {n}"),
        });
    }
    if !(dt.is_finite() && dt > 0.0) {
        return Err(GcError::Setting {
            name: "dt".into(),
            reason: format!("the sampling interval must be finite and positive, got {dt}"),
        });
    }
    Ok(())
}

fn check_sample(y: &DMatrix<f64>, t: usize) -> Result<(), GcError> {
    let (dims, samples) = y.shape();
    if samples == 0 {
        return Err(GcError::Dimension {
            what: "data y (dims × samples)".into(),
            expected: "at least one sample".into(),
            got: format!("{dims} × 0"),
        });
    }
    if t >= samples {
        return Err(GcError::Setting {
            name: "t".into(),
            reason: format!("sample {t} is outside the record of {samples} samples"),
        });
    }
    Ok(())
}

/// The first (0-based, possibly negative) sample index of the window.
fn window_start(n: usize, t: usize, mode: Embedding) -> i64 {
    let (n, t) = (n as i64, t as i64);
    match mode {
        // spm_DEM_embed: k = (1:n) + fix(t₁ − (n+1)/2) with t₁ = t + 1 (1-based);
        // Rust's integer division truncates toward zero, like MATLAB's fix.
        Embedding::Centred => (2 * (t + 1) - n - 1) / 2,
        Embedding::Causal => t - (n - 1),
    }
}

/// `E = T⁻¹` for the integer offsets `m_p`: `E_jp = j!/dt^j · [x^j] ℓ_p(x)`,
/// `ℓ_p(x) = Π_{q≠p} (x − m_q)/(m_p − m_q)`, in exact integer arithmetic
/// rounded once to `f64`.
fn taylor_weights(offsets: &[i64], dt: f64) -> Result<DMatrix<f64>, GcError> {
    let n = offsets.len();
    let overflow = || GcError::Setting {
        name: "n".into(),
        reason: format!("embedding order {n} overflows the exact (i128) Taylor weights"),
    };
    let mut inv_dt_pow = Vec::with_capacity(n);
    for j in 0..n {
        let q = dt.powi(-(j as i32));
        if !(q.is_finite() && q > 0.0) {
            return Err(GcError::Setting {
                name: "dt".into(),
                reason: format!("dt = {dt} gives dt^−{j} outside the range of f64"),
            });
        }
        inv_dt_pow.push(q);
    }
    let mut fact = vec![1i128; n];
    for j in 1..n {
        fact[j] = fact[j - 1].checked_mul(j as i128).ok_or_else(overflow)?;
    }
    let mut e = DMatrix::zeros(n, n);
    for (p, &mp) in offsets.iter().enumerate() {
        let mut poly = vec![0i128; n];
        poly[0] = 1;
        let mut den = 1i128;
        let mut degree = 0;
        for (q, &mq) in offsets.iter().enumerate() {
            if q == p {
                continue;
            }
            // poly ← poly · (x − m_q)
            degree += 1;
            for l in (0..=degree).rev() {
                let shifted = if l > 0 { poly[l - 1] } else { 0 };
                let scaled = poly[l].checked_mul(mq as i128).ok_or_else(overflow)?;
                poly[l] = shifted.checked_sub(scaled).ok_or_else(overflow)?;
            }
            den = den.checked_mul((mp - mq) as i128).ok_or_else(overflow)?;
        }
        for j in 0..n {
            let num = poly[j].checked_mul(fact[j]).ok_or_else(overflow)?;
            e[(j, p)] = (num as f64 / den as f64) * inv_dt_pow[j];
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_spm() {
        // Interior: odd n centred, even n one more before.
        assert_eq!(window_start(3, 10, Embedding::Centred), 9);
        assert_eq!(window_start(4, 10, Embedding::Centred), 8);
        // Start of the record, even n: SPM's fix rounds toward zero.
        assert_eq!(window_start(4, 0, Embedding::Centred), -1);
        assert_eq!(window_start(7, 0, Embedding::Causal), -6);
    }

    #[test]
    fn embedder_holds_every_window() {
        for n in 1..=MAX_ORDER {
            for mode in [Embedding::Centred, Embedding::Causal] {
                let e = Embedder::new(n, 0.5, mode).unwrap();
                for t in 0..3 * n {
                    let m0 = window_start(n, t, mode) - t as i64;
                    assert!(e.windows.iter().any(|(first, _)| *first == m0), "{n} {t}");
                }
            }
        }
    }

    #[test]
    fn embedder_matches_embed_bit_for_bit() {
        let y = DMatrix::from_fn(3, 17, |c, t| ((t * 5 + c * 3) as f64 * 0.37).sin() - 0.1);
        for n in 1..=9 {
            for mode in [Embedding::Centred, Embedding::Causal] {
                let e = Embedder::new(n, 0.1, mode).unwrap();
                let mut out = vec![f64::NAN; 3 * n];
                for t in 0..17 {
                    e.embed_into(&y, t, &mut out).unwrap();
                    let expect = embed(&y, n, t, 0.1, mode).unwrap();
                    for (a, b) in out.iter().zip(expect.iter()) {
                        assert_eq!(a.to_bits(), b.to_bits(), "n = {n}, t = {t}");
                    }
                }
                assert!(matches!(
                    e.embed_into(&y, 17, &mut out),
                    Err(GcError::Setting { .. })
                ));
                assert!(matches!(
                    e.embed_into(&y, 0, &mut out[1..]),
                    Err(GcError::Dimension { .. })
                ));
            }
        }
    }

    #[test]
    fn weights_of_three_point_stencils() {
        let e = taylor_weights(&[-1, 0, 1], 0.5).unwrap();
        let expect = [0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 4.0, -8.0, 4.0];
        for (j, row) in expect.chunks(3).enumerate() {
            for (p, &w) in row.iter().enumerate() {
                assert_eq!(e[(j, p)], w, "({j}, {p})");
            }
        }
    }
}
