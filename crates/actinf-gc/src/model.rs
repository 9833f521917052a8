//! Linear dynamic models in generalized coordinates of motion.
//!
//! A [`LinearModel`] is the single-level linear case of the hierarchical
//! dynamic model of Friston (2008, "Hierarchical models in the brain",
//! eq. 1):
//!
//! ```text
//! x′ = A x + B v + w,        w ~ smooth noise with precision Πw
//! y  = C x + D v + z,        z ~ smooth noise with precision Πz
//! ```
//!
//! with hidden states `x ∈ Rⁿˣ`, causes `v ∈ Rⁿᵛ` and data `y ∈ Rⁿʸ`. Both
//! noises are smooth with the same smoothness `s` (the standard deviation, in
//! time units, of their Gaussian autocorrelation, `ρ(h) = exp(−h²/(4s²))`),
//! so that in generalized coordinates of embedding order `n` their precisions
//! are `R ⊗ Πz` and `R ⊗ Πw`, with `R = V⁻¹` the temporal precision of
//! [`crate::precision::temporal_precision`].
//!
//! The causes are either known inputs ([`Causes::Known`]: `ṽ` is embedded from
//! a given time series, as in a deconvolution with a known input) or hidden,
//! with a Gaussian prior ([`Causes::Prior`]: `v = η + z_v` with `η` a given
//! prior-expectation time series and `z_v` smooth noise of precision `Πv`, as
//! the second level of SPM's convolution model, `spm_DEM_M('convolution
//! model')`), in which case they are inferred with the states.
//!
//! Every matrix is checked on construction: shapes that fit together, finite
//! entries, and symmetric positive-definite precisions.

use nalgebra::DMatrix;

use crate::error::GcError;
use crate::precision::{DEFAULT_ORDER, DEFAULT_SMOOTHNESS, MAX_ORDER};

/// How the causes `v` enter a [`LinearModel`].
#[derive(Debug, Clone, PartialEq)]
pub enum Causes {
    /// Known inputs: `ṽ` is embedded from the given time series and is not
    /// inferred.
    Known,
    /// Hidden causes with the Gaussian prior `v = η + z_v`, `z_v` smooth
    /// noise of precision `precision` (`Πv`, `nv × nv`, symmetric positive
    /// definite) and the same smoothness as the other noises; the given time
    /// series is the prior expectation `η`. The causes are inferred with the
    /// states.
    Prior {
        /// The prior precision `Πv` of the causes.
        precision: DMatrix<f64>,
    },
}

/// A linear dynamic model `x′ = A x + B v + w`, `y = C x + D v + z` with
/// smooth Gaussian noise (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    c: DMatrix<f64>,
    d: DMatrix<f64>,
    pi_z: DMatrix<f64>,
    pi_w: DMatrix<f64>,
    causes: Causes,
    s: f64,
    n: usize,
}

impl LinearModel {
    /// A model with known causes, SPM's default smoothness
    /// [`DEFAULT_SMOOTHNESS`] (1/2) and embedding order [`DEFAULT_ORDER`] (7
    /// orders, SPM's `E.n = 6`).
    ///
    /// Shapes: `A` is `nx × nx`, `B` is `nx × nv`, `C` is `ny × nx`, `D` is
    /// `ny × nv`, `Πz` (`pi_z`) is `ny × ny` and `Πw` (`pi_w`) is `nx × nx`;
    /// `nv` may be 0 (no causes) and `nx` may be 0 (a static model, which then
    /// needs hidden causes: [`LinearModel::with_cause_prior`]). `ny ≥ 1`.
    ///
    /// # Errors
    /// [`GcError::Dimension`] for shapes that do not fit,
    /// [`GcError::Value`] for a non-finite entry, and
    /// [`GcError::NotPositiveDefinite`] for a precision that is not symmetric
    /// positive definite.
    pub fn new(
        a: DMatrix<f64>,
        b: DMatrix<f64>,
        c: DMatrix<f64>,
        d: DMatrix<f64>,
        pi_z: DMatrix<f64>,
        pi_w: DMatrix<f64>,
    ) -> Result<Self, GcError> {
        let nx = a.nrows();
        let ny = c.nrows();
        let nv = b.ncols();
        check_shape("A (state dynamics)", &a, nx, nx)?;
        if ny == 0 {
            return Err(GcError::Dimension {
                what: "C (observation of states): rows".into(),
                expected: "at least one data channel".into(),
                got: "0".into(),
            });
        }
        check_shape("B (input to the states)", &b, nx, nv)?;
        check_shape("C (observation of states)", &c, ny, nx)?;
        check_shape("D (input to the data)", &d, ny, nv)?;
        check_shape("Πz (observation-noise precision)", &pi_z, ny, ny)?;
        check_shape("Πw (state-noise precision)", &pi_w, nx, nx)?;
        for (name, m) in [
            ("A (state dynamics)", &a),
            ("B (input to the states)", &b),
            ("C (observation of states)", &c),
            ("D (input to the data)", &d),
        ] {
            check_finite(name, m)?;
        }
        check_precision("Πz (observation-noise precision)", &pi_z)?;
        check_precision("Πw (state-noise precision)", &pi_w)?;
        Ok(Self {
            a,
            b,
            c,
            d,
            pi_z,
            pi_w,
            causes: Causes::Known,
            s: DEFAULT_SMOOTHNESS,
            n: DEFAULT_ORDER,
        })
    }

    /// Makes the causes hidden, with the Gaussian prior `v = η + z_v`, `z_v`
    /// of precision `Πv` (`nv × nv`): see [`Causes::Prior`].
    ///
    /// # Errors
    /// [`GcError::Dimension`] if `Πv` is not `nv × nv` or `nv = 0`;
    /// [`GcError::NotPositiveDefinite`] / [`GcError::Value`] for a precision
    /// that is not symmetric positive definite or not finite.
    pub fn with_cause_prior(mut self, pi_v: DMatrix<f64>) -> Result<Self, GcError> {
        if self.nv() == 0 {
            return Err(GcError::Dimension {
                what: "Πv (cause prior precision)".into(),
                expected: "a model with at least one cause (B and D with columns)".into(),
                got: "nv = 0".into(),
            });
        }
        check_shape("Πv (cause prior precision)", &pi_v, self.nv(), self.nv())?;
        check_precision("Πv (cause prior precision)", &pi_v)?;
        self.causes = Causes::Prior { precision: pi_v };
        Ok(self)
    }

    /// Sets the smoothness `s > 0` of all noises (time units).
    ///
    /// # Errors
    /// [`GcError::Setting`] unless `s` is finite and positive.
    pub fn with_smoothness(mut self, s: f64) -> Result<Self, GcError> {
        self.s = check_smoothness(s)?;
        Ok(self)
    }

    /// Sets the embedding order `n` (the number of generalized orders
    /// `x, x′, …, x⁽ⁿ⁻¹⁾`; SPM's `E.n + 1`), `1 ≤ n ≤` [`MAX_ORDER`].
    ///
    /// # Errors
    /// [`GcError::Setting`] if `n = 0` or `n > MAX_ORDER`.
    pub fn with_order(mut self, n: usize) -> Result<Self, GcError> {
        self.n = check_order(n)?;
        Ok(self)
    }

    /// The state dynamics `A` (`nx × nx`).
    pub fn a(&self) -> &DMatrix<f64> {
        &self.a
    }
    /// The input to the states `B` (`nx × nv`).
    pub fn b(&self) -> &DMatrix<f64> {
        &self.b
    }
    /// The observation of the states `C` (`ny × nx`).
    pub fn c(&self) -> &DMatrix<f64> {
        &self.c
    }
    /// The direct input to the data `D` (`ny × nv`).
    pub fn d(&self) -> &DMatrix<f64> {
        &self.d
    }
    /// The observation-noise precision `Πz` (`ny × ny`).
    pub fn pi_z(&self) -> &DMatrix<f64> {
        &self.pi_z
    }
    /// The state-noise precision `Πw` (`nx × nx`).
    pub fn pi_w(&self) -> &DMatrix<f64> {
        &self.pi_w
    }
    /// How the causes enter the model.
    pub fn causes(&self) -> &Causes {
        &self.causes
    }
    /// The noise smoothness `s`.
    pub fn smoothness(&self) -> f64 {
        self.s
    }
    /// The embedding order `n`.
    pub fn order(&self) -> usize {
        self.n
    }
    /// The number of hidden states `nx`.
    pub fn nx(&self) -> usize {
        self.a.nrows()
    }
    /// The number of causes `nv`.
    pub fn nv(&self) -> usize {
        self.b.ncols()
    }
    /// The number of data channels `ny`.
    pub fn ny(&self) -> usize {
        self.c.nrows()
    }
    /// Whether the causes are inferred (a [`Causes::Prior`]).
    pub fn infers_causes(&self) -> bool {
        matches!(self.causes, Causes::Prior { .. })
    }
}

pub(crate) fn check_shape(
    what: &str,
    m: &DMatrix<f64>,
    rows: usize,
    cols: usize,
) -> Result<(), GcError> {
    if m.nrows() != rows || m.ncols() != cols {
        return Err(GcError::Dimension {
            what: what.into(),
            expected: format!("{rows} × {cols}"),
            got: format!("{} × {}", m.nrows(), m.ncols()),
        });
    }
    Ok(())
}

/// Rejects NaN and infinite entries; the index is row-major.
pub(crate) fn check_finite(what: &str, m: &DMatrix<f64>) -> Result<(), GcError> {
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            let x = m[(i, j)];
            if !x.is_finite() {
                return Err(GcError::Value {
                    what: what.into(),
                    index: i * m.ncols() + j,
                    value: x,
                    expected: "a finite number".into(),
                });
            }
        }
    }
    Ok(())
}

/// A precision must be finite, symmetric (to a relative 1e-10) and positive
/// definite (a Cholesky factorisation exists).
pub(crate) fn check_precision(what: &str, m: &DMatrix<f64>) -> Result<(), GcError> {
    check_finite(what, m)?;
    let scale = m.amax().max(f64::MIN_POSITIVE);
    for i in 0..m.nrows() {
        for j in 0..i {
            if (m[(i, j)] - m[(j, i)]).abs() > 1e-10 * scale {
                return Err(GcError::NotPositiveDefinite(format!(
                    "{what} (not symmetric: entries ({i}, {j}) and ({j}, {i}) differ)"
                )));
            }
        }
    }
    if m.nrows() > 0 && m.clone().cholesky().is_none() {
        return Err(GcError::NotPositiveDefinite(what.into()));
    }
    Ok(())
}

/// A smoothness `s` that is finite and positive.
pub(crate) fn check_smoothness(s: f64) -> Result<f64, GcError> {
    if !(s.is_finite() && s > 0.0) {
        return Err(GcError::Setting {
            name: "s (smoothness)".into(),
            reason: format!("must be finite and positive, got {s}"),
        });
    }
    Ok(s)
}

/// An embedding order `1 ≤ n ≤ MAX_ORDER`.
pub(crate) fn check_order(n: usize) -> Result<usize, GcError> {
    if n == 0 || n > MAX_ORDER {
        return Err(GcError::Setting {
            name: "n (embedding order)".into(),
            reason: format!("must be in 1 ..= {MAX_ORDER}, got {n}"),
        });
    }
    Ok(n)
}

/// A length that must match.
pub(crate) fn check_len(what: &str, got: usize, expected: usize) -> Result<(), GcError> {
    if got != expected {
        return Err(GcError::Dimension {
            what: what.into(),
            expected: format!("length {expected}"),
            got: format!("length {got}"),
        });
    }
    Ok(())
}

/// Every entry finite.
pub(crate) fn check_slice(what: &str, x: &[f64]) -> Result<(), GcError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(GcError::Value {
            what: what.into(),
            index,
            value: x[index],
            expected: "a finite number".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv() -> LinearModel {
        LinearModel::new(
            DMatrix::from_row_slice(2, 2, &[-0.25, 1.0, -0.5, -0.25]),
            DMatrix::from_row_slice(2, 1, &[1.0, 0.0]),
            DMatrix::from_element(4, 2, 0.1),
            DMatrix::zeros(4, 1),
            DMatrix::identity(4, 4),
            DMatrix::identity(2, 2),
        )
        .unwrap()
    }

    #[test]
    fn builds_and_reports_dimensions() {
        let m = conv();
        assert_eq!((m.nx(), m.nv(), m.ny()), (2, 1, 4));
        assert_eq!(m.order(), DEFAULT_ORDER);
        assert!(!m.infers_causes());
        let m = m.with_cause_prior(DMatrix::identity(1, 1)).unwrap();
        assert!(m.infers_causes());
    }

    #[test]
    fn rejects_bad_shapes_values_and_precisions() {
        let a = DMatrix::from_row_slice(2, 2, &[-0.25, 1.0, -0.5, -0.25]);
        let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.0]);
        let c = DMatrix::from_element(4, 2, 0.1);
        let d = DMatrix::zeros(4, 1);
        let e = LinearModel::new(
            a.clone(),
            b.clone(),
            DMatrix::from_element(4, 3, 0.1),
            d.clone(),
            DMatrix::identity(4, 4),
            DMatrix::identity(2, 2),
        )
        .unwrap_err();
        assert!(matches!(e, GcError::Dimension { .. }), "{e}");
        let mut bad = DMatrix::identity(4, 4);
        bad[(2, 2)] = -1.0;
        let e = LinearModel::new(
            a.clone(),
            b.clone(),
            c.clone(),
            d.clone(),
            bad,
            DMatrix::identity(2, 2),
        )
        .unwrap_err();
        assert_eq!(
            e,
            GcError::NotPositiveDefinite("Πz (observation-noise precision)".into())
        );
        let mut nan = a.clone();
        nan[(1, 0)] = f64::NAN;
        let e = LinearModel::new(
            nan,
            b,
            c,
            d,
            DMatrix::identity(4, 4),
            DMatrix::identity(2, 2),
        )
        .unwrap_err();
        assert!(matches!(e, GcError::Value { index: 2, .. }), "{e}");
        assert!(conv().with_smoothness(0.0).is_err());
        assert!(conv().with_order(0).is_err());
        assert!(conv().with_cause_prior(DMatrix::identity(2, 2)).is_err());
    }
}
