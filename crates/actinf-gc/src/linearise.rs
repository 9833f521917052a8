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

use crate::small::{gemm, gemm_slices, Lu};
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
    let m = square_order("Jacobian J", j)?;
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
    let m = square_order("Jacobian J", j)?;
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
    let du = expm_block_upper(j, &g, &shift)? * scale;
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
    let m = square_order("Jacobian J", j)?;
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

/// A block upper triangular matrix `[[A, B], [0, C]]`, its top block row
/// `[A B]` held as one column-major `m × (m + p)` matrix (so that `A` is
/// its first `m²` entries and `B` the rest).
#[derive(Clone)]
struct Upper {
    m: usize,
    top: DMatrix<f64>,
    c: DMatrix<f64>,
}

impl Upper {
    fn zeros(m: usize, p: usize) -> Self {
        Self {
            m,
            top: DMatrix::zeros(m, m + p),
            c: DMatrix::zeros(p, p),
        }
    }

    /// `self = x y`, into the existing storage: `[A B] = A_x [A_y B_y] +
    /// [0, B_x C_y]`, `C = C_x C_y`.
    fn mul_into(&mut self, x: &Self, y: &Self) {
        let m = self.m;
        let p = self.c.nrows();
        let mm = m * m;
        gemm_slices(
            self.top.as_mut_slice(),
            1.0,
            &x.top.as_slice()[..mm],
            y.top.as_slice(),
            0.0,
            (m, m, m + p),
        );
        gemm_slices(
            &mut self.top.as_mut_slice()[mm..],
            1.0,
            &x.top.as_slice()[mm..],
            y.c.as_slice(),
            1.0,
            (m, p, p),
        );
        gemm(&mut self.c, 1.0, &x.c, &y.c, 0.0);
    }

    /// `self = k x`.
    fn set_scaled(&mut self, x: &Self, k: f64) {
        for (s, &v) in self.top.as_mut_slice().iter_mut().zip(x.top.as_slice()) {
            *s = v * k;
        }
        for (s, &v) in self.c.as_mut_slice().iter_mut().zip(x.c.as_slice()) {
            *s = v * k;
        }
    }

    /// `self += k x`.
    fn add_scaled(&mut self, x: &Self, k: f64) {
        for (s, &v) in self.top.as_mut_slice().iter_mut().zip(x.top.as_slice()) {
            *s += v * k;
        }
        for (s, &v) in self.c.as_mut_slice().iter_mut().zip(x.c.as_slice()) {
            *s += v * k;
        }
    }

    /// `self += k I`.
    fn add_identity(&mut self, k: f64) {
        for i in 0..self.m {
            self.top[(i, i)] += k;
        }
        for i in 0..self.c.nrows() {
            self.c[(i, i)] += k;
        }
    }

    fn one_norm(&self) -> f64 {
        let m = self.m;
        let left = self
            .top
            .columns(0, m)
            .column_iter()
            .map(|c| c.iter().map(|x| x.abs()).sum::<f64>())
            .fold(0.0, f64::max);
        let right = (0..self.c.ncols())
            .map(|k| {
                self.top.column(m + k).iter().map(|x| x.abs()).sum::<f64>()
                    + self.c.column(k).iter().map(|x| x.abs()).sum::<f64>()
            })
            .fold(0.0, f64::max);
        left.max(right)
    }
}

/// The first column of the top-right block of `exp([[J, G], [0, S]])`:
/// [`expm`]'s algorithm (same Padé degrees) on the blocks, whose products
/// keep the block upper triangular form — fewer operations than on the
/// whole matrix — with the same scaling. The work matrices are kept between
/// calls on a thread, and the last two squarings form only what the
/// returned column needs.
fn expm_block_upper(
    j: &DMatrix<f64>,
    g: &DMatrix<f64>,
    s: &DMatrix<f64>,
) -> Result<DVector<f64>, GcError> {
    let (m, p) = (j.nrows(), s.nrows());
    EXPM_WORK.with(|cell| {
        let mut cell = cell.borrow_mut();
        let work = match cell.as_mut() {
            Some(w) if w.x.m == m && w.x.c.nrows() == p => w,
            _ => cell.insert(ExpmWork::new(m, p)),
        };
        expm_block_upper_in(j, g, s, work)
    })
}

/// The work matrices of [`expm_block_upper`], kept between calls on a
/// thread (the sample loop calls it with the same sizes every step).
struct ExpmWork {
    x: Upper,
    x2: Upper,
    x4: Upper,
    x6: Upper,
    t1: Upper,
    t2: Upper,
    u: Upper,
    v: Upper,
    lu_a: Lu,
    lu_c: Lu,
}

impl ExpmWork {
    fn new(m: usize, p: usize) -> Self {
        let z = || Upper::zeros(m, p);
        Self {
            x: z(),
            x2: z(),
            x4: z(),
            x6: z(),
            t1: z(),
            t2: z(),
            u: z(),
            v: z(),
            lu_a: Lu::default(),
            lu_c: Lu::default(),
        }
    }
}

thread_local! {
    static EXPM_WORK: std::cell::RefCell<Option<ExpmWork>> = const { std::cell::RefCell::new(None) };
}

/// [`expm_block_upper`] in the given work matrices (every one is
/// overwritten before it is read).
fn expm_block_upper_in(
    j: &DMatrix<f64>,
    g: &DMatrix<f64>,
    s: &DMatrix<f64>,
    work: &mut ExpmWork,
) -> Result<DVector<f64>, GcError> {
    let (m, p) = (j.nrows(), s.nrows());
    let ExpmWork {
        x,
        x2,
        x4,
        x6,
        t1,
        t2,
        u,
        v,
        lu_a,
        lu_c,
    } = work;
    x.top.columns_mut(0, m).copy_from(j);
    x.top.columns_mut(m, p).copy_from(g);
    x.c.copy_from(s);
    let norm = x.one_norm();
    let (degree, squarings) = pade_degree_and_squarings(norm)?;
    if squarings > 0 {
        let k = 2f64.powi(-squarings);
        x.top.apply(|v| *v *= k);
        x.c.apply(|v| *v *= k);
    }
    let b = pade_coefficients(degree);
    x2.mul_into(x, x);
    if degree < 13 {
        // odd in t1, even in v, the powers of x² in u.
        for w in [&mut *t1, &mut *v] {
            w.top.fill(0.0);
            w.c.fill(0.0);
        }
        t1.add_identity(b[1]);
        v.add_identity(b[0]);
        for k in (2..=degree).step_by(2) {
            if k == 2 {
                u.clone_from(x2);
            } else {
                t2.mul_into(u, x2);
                std::mem::swap(u, t2);
            }
            v.add_scaled(u, b[k]);
            t1.add_scaled(u, b[k + 1]);
        }
        u.mul_into(x, t1);
    } else {
        x4.mul_into(x2, x2);
        x6.mul_into(x4, x2);
        t1.set_scaled(x6, b[13]);
        t1.add_scaled(x4, b[11]);
        t1.add_scaled(x2, b[9]);
        t2.mul_into(x6, t1);
        t2.add_scaled(x6, b[7]);
        t2.add_scaled(x4, b[5]);
        t2.add_scaled(x2, b[3]);
        t2.add_identity(b[1]);
        u.mul_into(x, t2);
        t1.set_scaled(x6, b[12]);
        t1.add_scaled(x4, b[10]);
        t1.add_scaled(x2, b[8]);
        v.mul_into(x6, t1);
        v.add_scaled(x6, b[6]);
        v.add_scaled(x4, b[4]);
        v.add_scaled(x2, b[2]);
        v.add_identity(b[0]);
    }
    // r = (V − U)⁻¹ (V + U), block by block: num in t1, den in t2.
    t1.clone_from(v);
    t1.add_scaled(u, 1.0);
    t2.clone_from(v);
    t2.add_scaled(u, -1.0);
    let singular = || GcError::Value {
        what: "Padé denominator of exp(A)".into(),
        index: 0,
        value: norm,
        expected: "a non-singular denominator (‖A‖₁ given as value)".into(),
    };
    let mm = m * m;
    lu_a.factor(&t2.top.as_slice()[..mm], m);
    lu_c.factor(t2.c.as_slice(), p);
    if lu_a.is_singular() || lu_c.is_singular() {
        return Err(singular());
    }
    // r (in t1): C = den_C⁻¹ num_C, then [A B] = den_A⁻¹ [num_A, num_B − den_B C].
    lu_c.solve_in_place(t1.c.as_mut_slice());
    gemm_slices(
        &mut t1.top.as_mut_slice()[mm..],
        -1.0,
        &t2.top.as_slice()[mm..],
        t1.c.as_slice(),
        1.0,
        (m, p, p),
    );
    lu_a.solve_in_place(t1.top.as_mut_slice());
    let (mut r, mut next) = (t1, t2);
    for _ in 2..squarings {
        next.mul_into(r, r);
        std::mem::swap(&mut r, &mut next);
    }
    // The first column of B after the squarings: the last gives
    // A B[:, 0] + B C[:, 0], and its A (the square of the one before) is
    // needed only on that vector, so the one before forms only B and C.
    let column = match squarings {
        0 => r.top.column(m).into_owned(),
        1 => {
            let mut col = r.top.columns(0, m) * r.top.column(m);
            col.gemv(1.0, &r.top.columns(m, p), &r.c.column(0), 1.0);
            col
        }
        _ => {
            // next = r² but for its A block.
            gemm_slices(
                &mut next.top.as_mut_slice()[mm..],
                1.0,
                &r.top.as_slice()[..mm],
                &r.top.as_slice()[mm..],
                0.0,
                (m, m, p),
            );
            gemm_slices(
                &mut next.top.as_mut_slice()[mm..],
                1.0,
                &r.top.as_slice()[mm..],
                r.c.as_slice(),
                1.0,
                (m, p, p),
            );
            gemm(&mut next.c, 1.0, &r.c, &r.c, 0.0);
            let a = r.top.columns(0, m);
            let ab = a * (a * next.top.column(m));
            let mut col = ab;
            col.gemv(1.0, &next.top.columns(m, p), &next.c.column(0), 1.0);
            col
        }
    };
    if let Some((index, &value)) = column.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(GcError::Value {
            what: "exp(A) (column-major)".into(),
            index,
            value,
            expected: "a finite result (exp(A) overflows)".into(),
        });
    }
    Ok(column)
}

/// Higham (2005), table 2.3: θ_m for m = 3, 5, 7, 9, 13.
const THETA: [(usize, f64); 5] = [
    (3, 1.495_585_217_958_292e-2),
    (5, 2.539_398_330_063_23e-1),
    (7, 9.504_178_996_162_932e-1),
    (9, 2.097_847_961_257_068e0),
    (13, 5.371_920_351_148_152e0),
];

/// The Padé degree and the number of squarings for a matrix of 1-norm
/// `norm` (Higham 2005, "The scaling and squaring method for the matrix
/// exponential revisited", Table 2.3: the smallest degree whose θ bounds
/// the norm, else degree 13 after `⌈log₂(norm/θ₁₃)⌉` halvings).
fn pade_degree_and_squarings(norm: f64) -> Result<(usize, i32), GcError> {
    if !norm.is_finite() {
        return Err(GcError::Value {
            what: "1-norm of A in exp(A)".into(),
            index: 0,
            value: norm,
            expected: "a finite norm".into(),
        });
    }
    Ok(match THETA[..4].iter().find(|(_, theta)| norm <= *theta) {
        Some(&(degree, _)) => (degree, 0),
        None => {
            let ratio = norm / THETA[4].1;
            let s = if ratio > 1.0 {
                ratio.log2().ceil() as i32
            } else {
                0
            };
            (13, s)
        }
    })
}

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
    let n = square_order("matrix A of exp(A)", a)?;
    check_finite("matrix A of exp(A) (column-major)", a.as_slice())?;
    if n == 0 {
        return Ok(DMatrix::zeros(0, 0));
    }
    let norm = one_norm(a);
    let (m, squarings) = pade_degree_and_squarings(norm)?;
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

/// The order of a square matrix, or [`GcError::Dimension`] naming `what`.
fn square_order(what: &str, a: &DMatrix<f64>) -> Result<usize, GcError> {
    if a.ncols() != a.nrows() {
        return Err(GcError::Dimension {
            what: what.into(),
            expected: "a square matrix".into(),
            got: format!("{} × {}", a.nrows(), a.ncols()),
        });
    }
    Ok(a.nrows())
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
