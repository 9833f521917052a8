//! Truncated Taylor arithmetic ("jets") for exact derivatives.
//!
//! A jet is a number `u₀ + Σᵢ aᵢ εᵢ + Σⱼ bⱼ δⱼ + Σᵢⱼ cᵢⱼ εᵢ δⱼ` over two groups
//! of infinitesimals with `εᵢ εₖ = 0` and `δⱼ δₗ = 0` but `εᵢ δⱼ ≠ 0`: the
//! tensor product of two first-order dual-number algebras (a "hyper-dual"
//! number with vector parts). Seeding group A with the states (`x`, `v`) and
//! group B with the parameters gives, in one forward pass, the value, the
//! Jacobians in `x`, `v` and `P`, and the mixed second derivatives
//! `∂²f/∂x∂P`, `∂²f/∂v∂P` — exactly, with no step size. With group B empty a
//! jet is an ordinary first-order dual number; with both empty it is an `f64`.
//!
//! Layout of one jet of width `1 + na + nb + na·nb`: `[u₀, a (na), b (nb),
//! c (na × nb, row i holds cᵢ·)]`. The kernels work on slices so a matrix of
//! jets is one contiguous buffer and evaluation never allocates.

/// Sizes of the two infinitesimal groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub na: usize,
    pub nb: usize,
    /// Width of one jet.
    pub w: usize,
}

/// Which parts of a jet may be nonzero: the A part, the B part, and (when
/// both) the cross part. Known per register before evaluation (a product of
/// a parameter and a state has all three; a state alone only A), so kernels
/// skip the parts that are zero — most of the cost of the cross part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Act {
    pub a: bool,
    pub b: bool,
}

impl Act {
    pub(crate) fn union(self, other: Act) -> Act {
        Act {
            a: self.a || other.a,
            b: self.b || other.b,
        }
    }

    #[inline]
    fn cross(self) -> bool {
        self.a && self.b
    }
}

impl Dims {
    pub(crate) fn new(na: usize, nb: usize) -> Self {
        Dims {
            na,
            nb,
            w: 1 + na + nb + na * nb,
        }
    }

    /// Plain numbers.
    pub(crate) fn value() -> Self {
        Dims::new(0, 0)
    }

    /// Start of the cross (second-order) part.
    #[inline]
    fn c0(&self) -> usize {
        1 + self.na + self.nb
    }

    /// The derivative components that may be nonzero under `act`: with the
    /// layout `[A, B, cross]` they are always one contiguous range.
    #[inline]
    pub(crate) fn active(&self, act: Act) -> std::ops::Range<usize> {
        match (act.a, act.b) {
            (true, true) => 1..self.w,
            (true, false) => 1..1 + self.na,
            (false, true) => 1 + self.na..self.c0(),
            (false, false) => 1..1,
        }
    }

    /// The first-order components that may be nonzero under `act`.
    #[inline]
    fn first_order(&self, act: Act) -> std::ops::Range<usize> {
        let r = self.active(act);
        r.start..r.end.min(self.c0())
    }
}

/// `out = a + b`; `act` covers both operands.
#[inline]
pub(crate) fn add(d: Dims, out: &mut [f64], a: &[f64], b: &[f64], act: Act) {
    out[0] = a[0] + b[0];
    for k in d.active(act) {
        out[k] = a[k] + b[k];
    }
}

/// `out += a`.
#[inline]
pub(crate) fn add_assign(d: Dims, out: &mut [f64], a: &[f64], act: Act) {
    out[0] += a[0];
    for k in d.active(act) {
        out[k] += a[k];
    }
}

/// `out = a - b`; `act` covers both operands.
#[inline]
pub(crate) fn sub(d: Dims, out: &mut [f64], a: &[f64], b: &[f64], act: Act) {
    out[0] = a[0] - b[0];
    for k in d.active(act) {
        out[k] = a[k] - b[k];
    }
}

/// `out = -a`.
#[inline]
pub(crate) fn neg(d: Dims, out: &mut [f64], a: &[f64], act: Act) {
    out[0] = -a[0];
    for k in d.active(act) {
        out[k] = -a[k];
    }
}

/// `out = a` (the parts `act` says may be nonzero).
#[inline]
pub(crate) fn copy(d: Dims, out: &mut [f64], a: &[f64], act: Act) {
    out[0] = a[0];
    let r = d.active(act);
    out[r.clone()].copy_from_slice(&a[r]);
}

/// `out += a · b`, reading only the parts `aa`, `ab` say may be nonzero.
#[inline]
pub(crate) fn mul_acc(d: Dims, out: &mut [f64], a: &[f64], aa: Act, b: &[f64], ba: Act) {
    let (a0, b0) = (a[0], b[0]);
    out[0] += a0 * b0;
    if d.w == 1 {
        return;
    }
    for k in d.first_order(aa) {
        out[k] += a[k] * b0;
    }
    for k in d.first_order(ba) {
        out[k] += a0 * b[k];
    }
    if !aa.union(ba).cross() {
        return;
    }
    let (na, nb, c0) = (d.na, d.nb, d.c0());
    let w = d.w;
    if aa.cross() {
        for k in c0..w {
            out[k] += a[k] * b0;
        }
    }
    if ba.cross() {
        for k in c0..w {
            out[k] += a0 * b[k];
        }
    }
    // the cross part of (A-part of one) · (B-part of the other)
    let mut outer = |left: &[f64], right: &[f64]| {
        let right_b = &right[1 + na..c0];
        for i in 0..na {
            let li = left[1 + i];
            if li == 0.0 {
                continue;
            }
            let row = &mut out[c0 + i * nb..c0 + (i + 1) * nb];
            for (o, r) in row.iter_mut().zip(right_b) {
                *o += li * r;
            }
        }
    };
    if aa.a && ba.b {
        outer(a, b);
    }
    if ba.a && aa.b {
        outer(b, a);
    }
}

/// `out = a · b`.
#[inline]
pub(crate) fn mul(d: Dims, out: &mut [f64], a: &[f64], aa: Act, b: &[f64], ba: Act) {
    out[0] = 0.0;
    let r = d.active(aa.union(ba));
    out[r].fill(0.0);
    mul_acc(d, out, a, aa, b, ba);
}

/// `out = φ(a)` for a scalar function with value `f0`, first derivative `f1`
/// and second derivative `f2` at `a₀`.
#[inline]
pub(crate) fn chain(d: Dims, out: &mut [f64], a: &[f64], act: Act, f0: f64, f1: f64, f2: f64) {
    out[0] = f0;
    for k in d.active(act) {
        out[k] = f1 * a[k];
    }
    if !act.cross() || f2 == 0.0 {
        return;
    }
    let (na, nb, c0) = (d.na, d.nb, d.c0());
    for i in 0..na {
        let ai = f2 * a[1 + i];
        let row = c0 + i * nb;
        for j in 0..nb {
            out[row + j] += ai * a[1 + na + j];
        }
    }
}

/// `out = a / b`, using `scratch` (one jet) for `1/b`.
#[inline]
pub(crate) fn div(
    d: Dims,
    out: &mut [f64],
    a: &[f64],
    aa: Act,
    b: &[f64],
    ba: Act,
    scratch: &mut [f64],
) {
    if d.w > 1 {
        let r = 1.0 / b[0];
        scratch.fill(0.0);
        chain(d, scratch, b, ba, r, -r * r, 2.0 * r * r * r);
        mul(d, out, a, aa, scratch, ba);
    }
    // the value as plain division gives it, so every order agrees bit for bit
    out[0] = a[0] / b[0];
}

/// Elementwise functions of one argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fun {
    Exp,
    Log,
    Tanh,
    Sqrt,
    Abs,
    Sin,
    Cos,
    /// `u^c` for a constant exponent `c`.
    PowConst(f64),
}

impl Fun {
    /// Value, first and second derivative at `u`.
    #[inline]
    pub(crate) fn eval(self, u: f64) -> (f64, f64, f64) {
        match self {
            Fun::Exp => {
                let e = u.exp();
                (e, e, e)
            }
            Fun::Log => (u.ln(), 1.0 / u, -1.0 / (u * u)),
            Fun::Tanh => {
                let t = u.tanh();
                let s = 1.0 - t * t;
                (t, s, -2.0 * t * s)
            }
            Fun::Sqrt => {
                let s = u.sqrt();
                (s, 0.5 / s, -0.25 / (s * u))
            }
            Fun::Abs => (
                u.abs(),
                if u > 0.0 {
                    1.0
                } else if u < 0.0 {
                    -1.0
                } else {
                    0.0
                },
                0.0,
            ),
            Fun::Sin => {
                let (s, c) = u.sin_cos();
                (s, c, -s)
            }
            Fun::Cos => {
                let (s, c) = u.sin_cos();
                (c, -s, -c)
            }
            Fun::PowConst(c) => pow_const(u, c),
        }
    }
}

/// `u^c` and its first two derivatives, exact at `u = 0` for the integer
/// exponents where they are finite.
fn pow_const(u: f64, c: f64) -> (f64, f64, f64) {
    let power = |e: f64| {
        if e == e.trunc() && e.abs() <= i32::MAX as f64 {
            u.powi(e as i32)
        } else {
            u.powf(e)
        }
    };
    let f0 = power(c);
    let f1 = if c == 0.0 { 0.0 } else { c * power(c - 1.0) };
    let f2 = if c == 0.0 || c == 1.0 {
        0.0
    } else {
        c * (c - 1.0) * power(c - 2.0)
    };
    (f0, f1, f2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(s, t) = (s·t) / (1 + s) with s seeded in group A and t in group B:
    /// check value, ∂s, ∂t and ∂s∂t against the closed forms.
    #[test]
    fn hyper_dual_product_and_quotient_give_mixed_derivatives() {
        let d = Dims::new(1, 1);
        let (s0, t0) = (0.7, -1.3);
        let s = [s0, 1.0, 0.0, 0.0];
        let t = [t0, 0.0, 1.0, 0.0];
        let one = [1.0, 0.0, 0.0, 0.0];
        let (sa, ta, all) = (
            Act { a: true, b: false },
            Act { a: false, b: true },
            Act { a: true, b: true },
        );
        let mut st = [0.0; 4];
        mul(d, &mut st, &s, sa, &t, ta);
        let mut den = [0.0; 4];
        add(d, &mut den, &one, &s, sa);
        let mut out = [0.0; 4];
        let mut scratch = [0.0; 4];
        div(d, &mut out, &st, all, &den, sa, &mut scratch);
        let f = s0 * t0 / (1.0 + s0);
        let fs = t0 / (1.0 + s0).powi(2);
        let ft = s0 / (1.0 + s0);
        let fst = 1.0 / (1.0 + s0).powi(2);
        for (got, want) in out.iter().zip([f, fs, ft, fst]) {
            assert!((got - want).abs() < 1e-15, "{out:?}");
        }
    }

    #[test]
    fn chain_rule_second_order_cross_term() {
        // exp(s·t): ∂s∂t = exp(st)(1 + st)
        let d = Dims::new(1, 1);
        let (s0, t0) = (0.4, 0.9);
        let mut st = [0.0; 4];
        let (sa, ta, all) = (
            Act { a: true, b: false },
            Act { a: false, b: true },
            Act { a: true, b: true },
        );
        mul(
            d,
            &mut st,
            &[s0, 1.0, 0.0, 0.0],
            sa,
            &[t0, 0.0, 1.0, 0.0],
            ta,
        );
        let (f0, f1, f2) = Fun::Exp.eval(st[0]);
        let mut out = [0.0; 4];
        chain(d, &mut out, &st, all, f0, f1, f2);
        let e = (s0 * t0).exp();
        assert!((out[3] - e * (1.0 + s0 * t0)).abs() < 1e-15);
        assert!((out[1] - e * t0).abs() < 1e-15);
    }

    #[test]
    fn integer_powers_at_zero_are_finite() {
        assert_eq!(pow_const(0.0, 2.0), (0.0, 0.0, 2.0));
        assert_eq!(pow_const(0.0, 1.0), (0.0, 1.0, 0.0));
        assert_eq!(pow_const(3.0, 0.0), (1.0, 0.0, 0.0));
    }
}
