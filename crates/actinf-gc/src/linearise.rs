//! Local linearisation: the integration step of the D-step, and the matrix
//! exponential it rests on.
//!
//! Over a step `Δt`, the flow `dx/dt = f(x)` is replaced by its linearisation
//! at the current point, `f(x) + J (x′ − x)` with `J = ∂f/∂x`, whose exact
//! solution gives the update
//!
//! ```text
//! Δx = (exp(J Δt) − I) J⁻¹ f = φ₁(J Δt) f Δt,   φ₁(A) = Σ_k A^k/(k+1)!
//! ```
//!
//! (Ozaki 1992, "A bridge between nonlinear time series models and nonlinear
//! stochastic dynamical systems: a local linearization approach", Statistica
//! Sinica 2; Friston, Trujillo-Barreto & Daunizeau 2008, "DEM: a variational
//! treatment of dynamic systems", the D-step; SPM12's `spm_dx`). `J⁻¹` is never
//! formed: `Δx` is the top-right block of the exponential of the augmented
//! matrix (Van Loan 1978, "Computing integrals involving the matrix
//! exponential", IEEE TAC 23),
//!
//! ```text
//! exp([[J, f], [0, 0]] Δt) = [[exp(J Δt), Δx], [0, 1]],
//! ```
//!
//! so the step is defined, and exact, for singular `J` as well (`J = 0`
//! gives `Δx = f Δt`).

use nalgebra::{DMatrix, DVector};

use crate::GcError;

/// One local-linearisation step of the flow `dx/dt = f(x)` with Jacobian
/// `J = ∂f/∂x` at the current point (Ozaki 1992; Friston, Trujillo-Barreto &
/// Daunizeau 2008, the D-step):
///
/// ```text
/// Δx = (exp(J dt) − I) J⁻¹ f = top-right block of exp([[J, f], [0, 0]] dt).
/// ```
///
/// Exact for a linear flow `f(x) = J x + b`: `x + Δx` is then the solution at
/// `t + dt` (for any `J`, singular or not). The exponential is [`expm`]; `f`
/// is first scaled to unit max-norm (the block is linear in `f`), so its
/// size does not inflate the scaling of the exponential.
///
/// # Errors
/// [`GcError::Dimension`] when `J` is not square or `f` does not match it;
/// [`GcError::Setting`] when `dt` is not finite and positive;
/// [`GcError::Value`] when `J` or `f` holds a NaN or an infinity, or when the
/// step itself overflows (an unstable `J` with `‖J‖·dt` too large: `index` is
/// then that of the first non-finite entry of `Δx`).
pub fn local_linearisation_step(
    j: &DMatrix<f64>,
    f: &DVector<f64>,
    dt: f64,
) -> Result<DVector<f64>, GcError> {
    let m = j.nrows();
    if j.ncols() != m {
        return Err(GcError::Dimension {
            what: "Jacobian J".into(),
            expected: "a square matrix".into(),
            got: format!("{} × {}", j.nrows(), j.ncols()),
        });
    }
    if f.len() != m {
        return Err(GcError::Dimension {
            what: "flow f".into(),
            expected: format!("length {m} (the order of J)"),
            got: format!("length {}", f.len()),
        });
    }
    if !(dt.is_finite() && dt > 0.0) {
        return Err(GcError::Setting {
            name: "dt".into(),
            reason: format!("the time step must be finite and positive, got {dt}"),
        });
    }
    check_finite("Jacobian J (column-major)", j.as_slice())?;
    check_finite("flow f", f.as_slice())?;
    let scale = f.amax();
    if m == 0 || scale == 0.0 {
        return Ok(DVector::zeros(m));
    }
    // A = [[J dt, f/‖f‖∞], [0, 0]]: top-right block of exp(A) is φ₁(J dt) f/‖f‖∞.
    let mut a = DMatrix::zeros(m + 1, m + 1);
    a.view_mut((0, 0), (m, m))
        .zip_apply(j, |x, jv| *x = jv * dt);
    for i in 0..m {
        a[(i, m)] = f[i] / scale;
    }
    let e = expm(&a)?;
    let factor = scale * dt;
    let dx = DVector::from_fn(m, |i, _| e[(i, m)] * factor);
    if let Some((index, &value)) = dx.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(GcError::Value {
            what: "local-linearisation step Δx".into(),
            index,
            value,
            expected: "a finite step (exp(J·dt) overflowed: unstable J or too large dt)".into(),
        });
    }
    Ok(dx)
}

/// The local-linearisation step over unit time of states `u` whose flow is
/// driven by inputs that move with their own Taylor expansion — the
/// D-step's flow of `[ũ; ỹ; η̃]`, whose Jacobian is block upper triangular
/// with nilpotent shifts `D` on the inputs' blocks:
///
/// ```text
/// d/dt [u; y] = [f_u; D y] + [[J, J_y], [0, D]] [u − u₀; y − y₀]
/// ```
///
/// The inputs follow `y(t) = exp(D t) y₀` exactly, so `u` sees the forcing
/// `Σ_k g_k t^k/k!` with `g_0 = f_u` and `g_k = J_y D^k y₀`, and its step is
///
/// ```text
/// Δu = Σ_k φ_{k+1}(J) g_k,   φ_k(J) = ∫₀¹ exp(J(1 − s)) s^{k−1}/(k−1)! ds,
/// ```
///
/// read from one exponential of size `m + p` (`m = dim u`, `p` forcing
/// terms) instead of one of the whole flow's size: the top-right column of
/// `exp([[J, G], [0, S]])` with `G = [g_0 … g_{p−1}]` and `S` the shift that
/// generates the monomials `t^k/k!` (Al-Mohy & Higham 2011, "Computing the
/// action of the matrix exponential", SIAM J Sci Comput 33, §2). Exactly the
/// `u` part of [`local_linearisation_step`] on the whole flow; the inputs'
/// own step is their Taylor shift and is not needed.
///
/// `forcing[k]` is `g_k`; trailing terms that are zero may be left out.
///
/// # Errors
/// As [`local_linearisation_step`]: [`GcError::Dimension`] for a non-square
/// `J` or forcing terms of the wrong length, [`GcError::Value`] for
/// non-finite input or an overflowing step.
pub fn forced_linearisation_step(
    j: &DMatrix<f64>,
    forcing: &[DVector<f64>],
) -> Result<DVector<f64>, GcError> {
    let m = j.nrows();
    if j.ncols() != m {
        return Err(GcError::Dimension {
            what: "Jacobian J".into(),
            expected: "a square matrix".into(),
            got: format!("{} × {}", j.nrows(), j.ncols()),
        });
    }
    if let Some(g) = forcing.iter().find(|g| g.len() != m) {
        return Err(GcError::Dimension {
            what: "forcing term".into(),
            expected: format!("length {m} (the order of J)"),
            got: format!("length {}", g.len()),
        });
    }
    check_finite("Jacobian J (column-major)", j.as_slice())?;
    for g in forcing {
        check_finite("forcing term", g.as_slice())?;
    }
    let p = forcing
        .iter()
        .rposition(|g| g.iter().any(|&v| v != 0.0))
        .map_or(0, |i| i + 1);
    let scale = forcing[..p].iter().fold(0.0f64, |a, g| a.max(g.amax()));
    if m == 0 || p == 0 || scale == 0.0 {
        return Ok(DVector::zeros(m));
    }
    let mut g = DMatrix::zeros(m, p);
    let mut shift = DMatrix::zeros(p, p);
    for (k, gk) in forcing[..p].iter().enumerate() {
        for i in 0..m {
            g[(i, k)] = gk[i] / scale;
        }
        if k > 0 {
            shift[(k, k - 1)] = 1.0;
        }
    }
    let top_right = expm_block_upper(j, &g, &shift)?;
    let du = DVector::from_fn(m, |i, _| top_right[(i, 0)] * scale);
    if let Some((index, &value)) = du.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(GcError::Value {
            what: "local-linearisation step Δu".into(),
            index,
            value,
            expected: "a finite step (exp(J) overflowed: unstable J)".into(),
        });
    }
    Ok(du)
}

/// The φ-functions `φ_1(J) … φ_p(J)` of a square matrix,
/// `φ_k(J) = Σ_j J^j/(j + k)!` (`φ_0 = exp`), so that the step of
/// [`forced_linearisation_step`] is `Δu = Σ_k φ_{k+1}(J) g_k`: where `J`
/// stays the same over many steps (a model linear in its states), the
/// functions are formed once and each step is `p` matrix–vector products.
///
/// By scaling and squaring (Skaflestad & Wright 2009, "The scaling and
/// modified squaring method for matrix functions related to the
/// exponential", Appl Numer Math 59): a Taylor series at `A = J/2^s`,
/// `‖A‖₁ ≤ ½` (15 terms, truncation below 10⁻¹⁷), then `s` doublings
/// `φ_k(2A) = 2^{−k} [φ_0(A) φ_k(A) + Σ_{j=1…k} φ_j(A)/(k − j)!]`.
///
/// # Errors
/// [`GcError::Dimension`] for a non-square `J`; [`GcError::Value`] for a
/// non-finite entry of `J` or of a result (an overflowing exponential).
pub fn phi_functions(j: &DMatrix<f64>, p: usize) -> Result<Vec<DMatrix<f64>>, GcError> {
    let m = j.nrows();
    if j.ncols() != m {
        return Err(GcError::Dimension {
            what: "Jacobian J".into(),
            expected: "a square matrix".into(),
            got: format!("{} × {}", j.nrows(), j.ncols()),
        });
    }
    check_finite("Jacobian J (column-major)", j.as_slice())?;
    let norm = one_norm(j);
    let s = if norm > 0.5 {
        (norm / 0.5).log2().ceil() as i32
    } else {
        0
    };
    let a = j * 2f64.powi(-s);
    const TERMS: usize = 15;
    let mut powers = Vec::with_capacity(TERMS);
    powers.push(DMatrix::<f64>::identity(m, m));
    for t in 1..TERMS {
        let next = &powers[t - 1] * &a;
        powers.push(next);
    }
    // 1/n! for n < TERMS + p.
    let mut inv_fact = vec![1.0f64; TERMS + p + 1];
    for n in 1..inv_fact.len() {
        inv_fact[n] = inv_fact[n - 1] / n as f64;
    }
    let mut phi: Vec<DMatrix<f64>> = (0..=p)
        .map(|k| {
            let mut f = DMatrix::zeros(m, m);
            for (t, power) in powers.iter().enumerate().rev() {
                f += power * inv_fact[t + k];
            }
            f
        })
        .collect();
    for _ in 0..s {
        let mut next = Vec::with_capacity(p + 1);
        next.push(&phi[0] * &phi[0]);
        for k in 1..=p {
            let mut f = &phi[0] * &phi[k];
            for jj in 1..=k {
                f += &phi[jj] * inv_fact[k - jj];
            }
            next.push(f * 2f64.powi(-(k as i32)));
        }
        phi = next;
    }
    for f in &phi {
        if let Some((index, &value)) = f.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(GcError::Value {
                what: "φ-function of J (column-major)".into(),
                index,
                value,
                expected: "a finite result (exp(J) overflows)".into(),
            });
        }
    }
    phi.remove(0);
    Ok(phi)
}

/// A block upper triangular matrix `[[A, B], [0, C]]`.
#[derive(Clone)]
struct Upper {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    c: DMatrix<f64>,
}

impl Upper {
    fn identity(m: usize, p: usize) -> Self {
        Self {
            a: DMatrix::identity(m, m),
            b: DMatrix::zeros(m, p),
            c: DMatrix::identity(p, p),
        }
    }

    fn mul(&self, o: &Self) -> Self {
        let mut b = &self.a * &o.b;
        b.gemm(1.0, &self.b, &o.c, 1.0);
        Self {
            a: &self.a * &o.a,
            b,
            c: &self.c * &o.c,
        }
    }

    fn scale(&self, x: f64) -> Self {
        Self {
            a: &self.a * x,
            b: &self.b * x,
            c: &self.c * x,
        }
    }

    fn add(mut self, o: &Self, x: f64) -> Self {
        self.a += &o.a * x;
        self.b += &o.b * x;
        self.c += &o.c * x;
        self
    }

    fn one_norm(&self) -> f64 {
        let left = one_norm(&self.a);
        let right = (0..self.b.ncols())
            .map(|k| {
                self.b.column(k).iter().map(|x| x.abs()).sum::<f64>()
                    + self.c.column(k).iter().map(|x| x.abs()).sum::<f64>()
            })
            .fold(0.0, f64::max);
        left.max(right)
    }
}

/// The top-right block of `exp([[J, G], [0, S]])`: [`expm`]'s algorithm
/// (same Padé degrees and scaling) on the blocks, whose products keep the
/// block upper triangular form — fewer operations than on the whole matrix.
fn expm_block_upper(
    j: &DMatrix<f64>,
    g: &DMatrix<f64>,
    s: &DMatrix<f64>,
) -> Result<DMatrix<f64>, GcError> {
    let (m, p) = (j.nrows(), s.nrows());
    let x = Upper {
        a: j.clone(),
        b: g.clone(),
        c: s.clone(),
    };
    let norm = x.one_norm();
    if !norm.is_finite() {
        return Err(GcError::Value {
            what: "1-norm of A in exp(A)".into(),
            index: 0,
            value: norm,
            expected: "a finite norm".into(),
        });
    }
    let (degree, squarings) = match THETA[..4].iter().find(|(_, theta)| norm <= *theta) {
        Some(&(d, _)) => (d, 0),
        None => {
            let ratio = norm / THETA[4].1;
            let s = if ratio > 1.0 {
                ratio.log2().ceil() as i32
            } else {
                0
            };
            (13, s)
        }
    };
    let x = if squarings > 0 {
        x.scale(2f64.powi(-squarings))
    } else {
        x
    };
    let b = pade_coefficients(degree);
    let ident = Upper::identity(m, p);
    let x2 = x.mul(&x);
    let (u, v) = if degree < 13 {
        let mut odd = ident.scale(b[1]);
        let mut even = ident.scale(b[0]);
        let mut power = ident.clone();
        for k in (2..=degree).step_by(2) {
            power = power.mul(&x2);
            even = even.add(&power, b[k]);
            odd = odd.add(&power, b[k + 1]);
        }
        (x.mul(&odd), even)
    } else {
        let x4 = x2.mul(&x2);
        let x6 = x4.mul(&x2);
        let inner_u = x6.scale(b[13]).add(&x4, b[11]).add(&x2, b[9]);
        let u = x.mul(
            &x6.mul(&inner_u)
                .add(&x6, b[7])
                .add(&x4, b[5])
                .add(&x2, b[3])
                .add(&ident, b[1]),
        );
        let inner_v = x6.scale(b[12]).add(&x4, b[10]).add(&x2, b[8]);
        let v = x6
            .mul(&inner_v)
            .add(&x6, b[6])
            .add(&x4, b[4])
            .add(&x2, b[2])
            .add(&ident, b[0]);
        (u, v)
    };
    // r = (V − U)⁻¹ (V + U), block by block.
    let num = v.clone().add(&u, 1.0);
    let den = v.add(&u, -1.0);
    let singular = || GcError::Value {
        what: "Padé denominator of exp(A)".into(),
        index: 0,
        value: norm,
        expected: "a non-singular denominator (‖A‖₁ given as value)".into(),
    };
    let lu_a = den.a.clone().lu();
    let lu_c = den.c.clone().lu();
    let rc = lu_c.solve(&num.c).ok_or_else(singular)?;
    let ra = lu_a.solve(&num.a).ok_or_else(singular)?;
    let mut rhs = num.b.clone();
    rhs.gemm(-1.0, &den.b, &rc, 1.0);
    let rb = lu_a.solve(&rhs).ok_or_else(singular)?;
    let mut r = Upper {
        a: ra,
        b: rb,
        c: rc,
    };
    for _ in 0..squarings {
        r = r.mul(&r);
    }
    if let Some((index, &value)) = r.b.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(GcError::Value {
            what: "exp(A) (column-major)".into(),
            index,
            value,
            expected: "a finite result (exp(A) overflows)".into(),
        });
    }
    Ok(r.b)
}

/// Higham (2005), table 2.3: θ_m for m = 3, 5, 7, 9, 13.
const THETA: [(usize, f64); 5] = [
    (3, 1.495_585_217_958_292e-2),
    (5, 2.539_398_330_063_23e-1),
    (7, 9.504_178_996_162_932e-1),
    (9, 2.097_847_961_257_068e0),
    (13, 5.371_920_351_148_152e0),
];

/// The matrix exponential `exp(A) = Σ_k A^k/k!` of a square matrix, by
/// scaling and squaring with a diagonal Padé approximant (Higham 2005, "The
/// scaling and squaring method for the matrix exponential revisited", SIAM J
/// Matrix Anal Appl 26(4), algorithm 2.3):
///
/// ```text
/// exp(A) = r_m(A/2^s)^(2^s),   r_m = q_m⁻¹ p_m,   m ∈ {3, 5, 7, 9, 13},
/// ```
///
/// with the smallest degree `m` whose bound `θ_m` covers `‖A‖₁` (then
/// `s = 0`), else `m = 13` and `s = ⌈log₂(‖A‖₁/θ₁₃)⌉`; the backward error is
/// then below the unit roundoff.
///
/// # Errors
/// [`GcError::Dimension`] when `A` is not square; [`GcError::Value`] when it
/// holds a NaN or an infinity, when `‖A‖₁` overflows, when the Padé
/// denominator is singular (impossible for finite input in exact
/// arithmetic), or when `exp(A)` overflows.
pub fn expm(a: &DMatrix<f64>) -> Result<DMatrix<f64>, GcError> {
    let n = a.nrows();
    if a.ncols() != n {
        return Err(GcError::Dimension {
            what: "matrix A of exp(A)".into(),
            expected: "a square matrix".into(),
            got: format!("{} × {}", a.nrows(), a.ncols()),
        });
    }
    check_finite("matrix A of exp(A) (column-major)", a.as_slice())?;
    if n == 0 {
        return Ok(DMatrix::zeros(0, 0));
    }
    let norm = one_norm(a);
    if !norm.is_finite() {
        return Err(GcError::Value {
            what: "1-norm of A in exp(A)".into(),
            index: 0,
            value: norm,
            expected: "a finite norm".into(),
        });
    }
    let (m, squarings) = match THETA[..4].iter().find(|(_, theta)| norm <= *theta) {
        Some(&(m, _)) => (m, 0),
        None => {
            let ratio = norm / THETA[4].1;
            let s = if ratio > 1.0 {
                ratio.log2().ceil() as i32
            } else {
                0
            };
            (13, s)
        }
    };
    let scaled;
    let a = if squarings > 0 {
        scaled = a * 2f64.powi(-squarings);
        &scaled
    } else {
        a
    };
    let b = pade_coefficients(m);
    let ident = DMatrix::<f64>::identity(n, n);
    let a2 = a * a;
    let (u, v) = if m < 13 {
        // U = A Σ_{k odd} b_k A^(k−1),  V = Σ_{k even} b_k A^k.
        let mut odd = &ident * b[1];
        let mut even = &ident * b[0];
        let mut power = ident.clone();
        for k in (2..=m).step_by(2) {
            power = &power * &a2;
            even += &power * b[k];
            odd += &power * b[k + 1];
        }
        (a * odd, even)
    } else {
        let a4 = &a2 * &a2;
        let a6 = &a4 * &a2;
        let inner_u = &a6 * b[13] + &a4 * b[11] + &a2 * b[9];
        let u = a * (&a6 * inner_u + &a6 * b[7] + &a4 * b[5] + &a2 * b[3] + &ident * b[1]);
        let inner_v = &a6 * b[12] + &a4 * b[10] + &a2 * b[8];
        let v = &a6 * inner_v + &a6 * b[6] + &a4 * b[4] + &a2 * b[2] + &ident * b[0];
        (u, v)
    };
    let p = &v + &u;
    let q = &v - &u;
    let mut r = q.lu().solve(&p).ok_or_else(|| GcError::Value {
        what: "Padé denominator of exp(A)".into(),
        index: 0,
        value: norm,
        expected: "a non-singular denominator (‖A‖₁ given as value)".into(),
    })?;
    for _ in 0..squarings {
        r = &r * &r;
    }
    if let Some((index, &value)) = r.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(GcError::Value {
            what: "exp(A) (column-major)".into(),
            index,
            value,
            expected: "a finite result (exp(A) overflows)".into(),
        });
    }
    Ok(r)
}

/// Coefficients `b_0 … b_m` of the `[m/m]` Padé approximant of `exp`,
/// `p_m(x) = Σ b_k x^k`, `q_m(x) = p_m(−x)`, normalised to `b_0 = 1`:
/// `b_k = b_{k−1} (m − k + 1) / (k (2m − k + 1))`.
fn pade_coefficients(m: usize) -> Vec<f64> {
    let mut b = vec![1.0; m + 1];
    for k in 1..=m {
        b[k] = b[k - 1] * (m - k + 1) as f64 / (k * (2 * m - k + 1)) as f64;
    }
    b
}

fn one_norm(a: &DMatrix<f64>) -> f64 {
    a.column_iter()
        .map(|c| c.iter().map(|x| x.abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

fn check_finite(what: &str, values: &[f64]) -> Result<(), GcError> {
    match values.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        Some((index, &value)) => Err(GcError::Value {
            what: what.into(),
            index,
            value,
            expected: "a finite number".into(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_functions_give_the_forced_step() {
        // A mildly non-normal J, and a stiff one (norm ~ 3e3, as with SPM's
        // precise noise e⁸).
        let mild =
            DMatrix::from_row_slice(3, 3, &[-2.0, 1.0, 0.3, 0.0, -0.5, 1.0, 0.2, -1.0, -3.0]);
        let stiff = DMatrix::from_row_slice(
            3,
            3,
            &[-2980.0, 40.0, 0.0, 35.0, -1500.0, 1.0, 0.0, 1.0, -0.25],
        );
        for j in [mild, stiff] {
            let forcing: Vec<DVector<f64>> = (0..4)
                .map(|k| DVector::from_fn(3, |i, _| ((i + 2 * k) as f64 * 0.7).cos()))
                .collect();
            let reference = forced_linearisation_step(&j, &forcing).unwrap();
            let phi = phi_functions(&j, 4).unwrap();
            let mut du = DVector::zeros(3);
            for (k, g) in forcing.iter().enumerate() {
                du += &phi[k] * g;
            }
            let gap = (&du - &reference).amax() / reference.amax();
            assert!(gap < 1e-12, "gap {gap:e}: {du} vs {reference}");
        }
        // φ₁(0) = I, φ₂(0) = I/2.
        let phi = phi_functions(&DMatrix::zeros(2, 2), 2).unwrap();
        assert_eq!(phi[0], DMatrix::identity(2, 2));
        assert_eq!(phi[1], DMatrix::identity(2, 2) * 0.5);
    }

    #[test]
    fn forced_step_is_the_state_part_of_the_whole_flow_step() {
        // u: 3 states driven by y (2 channels × 3 orders) through J_y.
        let (m, dims, orders) = (3, 2, 3);
        let j = DMatrix::from_row_slice(3, 3, &[-2.0, 1.0, 0.3, 0.0, -0.5, 1.0, 0.2, -1.0, -3.0]);
        let jy = DMatrix::from_fn(m, dims * orders, |i, k| {
            ((i * 7 + k * 3) % 5) as f64 * 0.3 - 0.6
        });
        let fu = DVector::from_vec(vec![0.4, -1.1, 0.7]);
        let y = DVector::from_fn(dims * orders, |i, _| (i as f64 * 0.9).sin());
        // The whole flow [u; y] with the shift D on y.
        let total = m + dims * orders;
        let mut jac = DMatrix::zeros(total, total);
        jac.view_mut((0, 0), (m, m)).copy_from(&j);
        jac.view_mut((0, m), (m, dims * orders)).copy_from(&jy);
        let mut flow = DVector::zeros(total);
        flow.rows_mut(0, m).copy_from(&fu);
        for k in 0..orders - 1 {
            for c in 0..dims {
                jac[(m + k * dims + c, m + (k + 1) * dims + c)] = 1.0;
                flow[m + k * dims + c] = y[(k + 1) * dims + c];
            }
        }
        let whole = local_linearisation_step(&jac, &flow, 1.0).unwrap();
        // g_k = J_y D^k y.
        let mut forcing = vec![fu.clone()];
        for k in 1..orders {
            let mut shifted = DVector::zeros(dims * orders);
            for o in 0..orders - k {
                for c in 0..dims {
                    shifted[o * dims + c] = y[(o + k) * dims + c];
                }
            }
            forcing.push(&jy * shifted);
        }
        let du = forced_linearisation_step(&j, &forcing).unwrap();
        for i in 0..m {
            assert!(
                (du[i] - whole[i]).abs() < 1e-13,
                "{i}: {} vs {}",
                du[i],
                whole[i]
            );
        }
        // Zero forcing: no step; wrong length: an error.
        let zero = forced_linearisation_step(&j, &[DVector::zeros(3)]).unwrap();
        assert_eq!(zero, DVector::zeros(3));
        assert!(forced_linearisation_step(&j, &[DVector::zeros(2)]).is_err());
    }

    #[test]
    fn pade_coefficients_match_higham() {
        // Higham (2005), the [13/13] coefficients, divided by b_0.
        let b0 = 64_764_752_532_480_000.0;
        let higham = [
            64_764_752_532_480_000.0,
            32_382_376_266_240_000.0,
            7_771_770_303_897_600.0,
            1_187_353_796_428_800.0,
            129_060_195_264_000.0,
            10_559_470_521_600.0,
            670_442_572_800.0,
            33_522_128_640.0,
            1_323_241_920.0,
            40_840_800.0,
            960_960.0,
            16_380.0,
            182.0,
            1.0,
        ];
        for (k, (&b, &h)) in pade_coefficients(13).iter().zip(&higham).enumerate() {
            assert!((b - h / b0).abs() <= 1e-15 * b, "b_{k}");
        }
    }

    #[test]
    fn scalar_exponentials() {
        for x in [
            -800.0, -30.0, -1.0, -1e-9, 0.0, 1e-12, 0.3, 2.0, 40.0, 700.0,
        ] {
            let e = expm(&DMatrix::from_element(1, 1, x)).unwrap()[(0, 0)];
            let rel = (e - x.exp()).abs() / x.exp().max(f64::MIN_POSITIVE);
            assert!(rel < 1e-13 * (1.0 + x.abs()), "x = {x}: {e} vs {}", x.exp());
        }
    }
}
