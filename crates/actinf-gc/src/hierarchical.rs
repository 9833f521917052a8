//! Hierarchical dynamic models: the model that DEM inverts.
//!
//! A hierarchical dynamic model stacks levels `i = 1 … L` (Friston 2008,
//! "Hierarchical models in the brain", PLoS Comput Biol 4, eq. 1):
//!
//! ```text
//! v⁽ⁱ⁻¹⁾ = gᵢ(x⁽ⁱ⁾, v⁽ⁱ⁾, θᵢ) + z⁽ⁱ⁾          v⁽⁰⁾ = y, the data
//! ẋ⁽ⁱ⁾  = fᵢ(x⁽ⁱ⁾, v⁽ⁱ⁾, θᵢ) + w⁽ⁱ⁾
//! v⁽ᴸ⁾  = η + z⁽ᴸ⁺¹⁾                          the prior on the top causes
//! ```
//!
//! Each level's output is the cause of the level below; the top level's
//! causes have a prior expectation `η(t)` (given as a record, like the data).
//! The noises `z`, `w` are smooth (smoothness `sv`, `sw` per level) with
//! precisions `Π = V + Σ_j exp(h_j) Q_j` (output errors) and `W + Σ_j
//! exp(g_j) R_j` (state noise): `V`, `W` are fixed components and `h`, `g`
//! log-precisions with Gaussian priors, learned by DEM's M-step. The
//! parameters `θᵢ` have a Gaussian prior `N(pE, pC)`; DEM's E-step learns
//! them in the subspace where `pC` is not zero.
//!
//! This is the layout of SPM12's model structure `M(i)` (`spm_DEM_M_set`):
//! levels `1 … L` are [`Level`]s, the last entry (`M(L+1)`, no `f` or `g`) is
//! the [`CauseLevel`].
//!
//! # Functions and their derivatives
//! A level's `f` and `g` are a [`LevelFunctions`]: any Rust code, e.g. a
//! [`FnLevel`] of two closures. DEM needs their Jacobians with respect to the
//! states, the causes and the parameters, and the parameters' derivatives of
//! the state Jacobians (for the E-step's mean-field terms). Where a model
//! does not give them analytically ([`LevelFunctions::derivatives`]), they
//! are taken by **forward differences with step `exp(−8)`** — SPM12's
//! `spm_diff`, so that a model inverted here and by `spm_DEM` sees the same
//! derivatives — and the second derivatives by forward differences of those.

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};

use crate::error::GcError;

/// Step of the forward differences (SPM12's `spm_diff`: `exp(−8)`).
pub const FINITE_DIFFERENCE_STEP: f64 = 3.354_626_279_025_118_4e-4;

/// The derivatives of one level's `f` (flow) and `g` (output) at a point,
/// with the parameters moved along the columns of a basis `U` (`θ = θ₀ + U q`,
/// derivatives with respect to `q`).
#[derive(Debug, Clone, PartialEq)]
pub struct LevelDerivatives {
    /// `∂f/∂x` (`n × n`).
    pub dfdx: DMatrix<f64>,
    /// `∂f/∂v` (`n × m`).
    pub dfdv: DMatrix<f64>,
    /// `∂f/∂q` (`n × k`).
    pub dfdp: DMatrix<f64>,
    /// `∂g/∂x` (`l × n`).
    pub dgdx: DMatrix<f64>,
    /// `∂g/∂v` (`l × m`).
    pub dgdv: DMatrix<f64>,
    /// `∂g/∂q` (`l × k`).
    pub dgdp: DMatrix<f64>,
    /// `∂²f/∂x∂q_j`, one `n × n` matrix per parameter direction `j`.
    pub dfdxp: Vec<DMatrix<f64>>,
    /// `∂²f/∂v∂q_j` (`n × m` each).
    pub dfdvp: Vec<DMatrix<f64>>,
    /// `∂²g/∂x∂q_j` (`l × n` each).
    pub dgdxp: Vec<DMatrix<f64>>,
    /// `∂²g/∂v∂q_j` (`l × m` each).
    pub dgdvp: Vec<DMatrix<f64>>,
}

/// A level's equations of motion `f(x, v, θ)` and output `g(x, v, θ)`.
pub trait LevelFunctions: Send + Sync {
    /// `f(x, v, θ)`: the flow of the level's hidden states (`n` entries; none
    /// for a level without hidden states).
    fn flow(&self, x: &[f64], v: &[f64], p: &[f64]) -> Result<DVector<f64>, GcError>;

    /// `g(x, v, θ)`: the level's output, the causes of the level below (`l`
    /// entries).
    fn output(&self, x: &[f64], v: &[f64], p: &[f64]) -> Result<DVector<f64>, GcError>;

    /// The derivatives at `(x, v, θ)` with the parameters moved along the
    /// columns of `basis` (`θ.len() × k`). The default takes forward
    /// differences (SPM12's `spm_diff`, step [`FINITE_DIFFERENCE_STEP`]);
    /// override it with analytic derivatives where they are known.
    fn derivatives(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        basis: &DMatrix<f64>,
    ) -> Result<LevelDerivatives, GcError> {
        finite_difference_derivatives(self, x, v, p, basis)
    }

    /// The first derivatives only (`∂f/∂x`, `∂f/∂v`, `∂f/∂q`, `∂g/∂x`,
    /// `∂g/∂v`, `∂g/∂q`), the mixed ones left empty: what generalized
    /// filtering refreshes at every sample (SPM's `E.linear = 4`). The
    /// default takes them from [`LevelFunctions::derivatives`], so analytic
    /// derivatives given there are used; [`FnLevel`] takes forward
    /// differences of the first order only.
    fn first_derivatives(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        basis: &DMatrix<f64>,
    ) -> Result<LevelDerivatives, GcError> {
        let mut d = self.derivatives(x, v, p, basis)?;
        d.dfdxp.clear();
        d.dfdvp.clear();
        d.dgdxp.clear();
        d.dgdvp.clear();
        Ok(d)
    }
}

/// The first derivatives of [`LevelDerivatives`] by forward differences
/// with step [`FINITE_DIFFERENCE_STEP`] (SPM12's `spm_diff`), the mixed ones
/// left empty.
pub fn finite_difference_first_derivatives<L: LevelFunctions + ?Sized>(
    level: &L,
    x: &[f64],
    v: &[f64],
    p: &[f64],
    basis: &DMatrix<f64>,
) -> Result<LevelDerivatives, GcError> {
    finite_differences(level, (x, v, p), basis, false)
}

/// The two Jacobians of one function by forward differences.
fn forward_jacobians<F>(
    fun: &F,
    x: &[f64],
    v: &[f64],
    p: &[f64],
    f0: &DVector<f64>,
) -> Result<(DMatrix<f64>, DMatrix<f64>), GcError>
where
    F: Fn(&[f64], &[f64], &[f64]) -> Result<DVector<f64>, GcError>,
{
    let h = FINITE_DIFFERENCE_STEP;
    let mut dx = DMatrix::zeros(f0.len(), x.len());
    let mut xi = x.to_vec();
    for i in 0..x.len() {
        xi[i] = x[i] + h;
        let fi = fun(&xi, v, p)?;
        dx.set_column(i, &((fi - f0) / h));
        xi[i] = x[i];
    }
    let mut dv = DMatrix::zeros(f0.len(), v.len());
    let mut vi = v.to_vec();
    for i in 0..v.len() {
        vi[i] = v[i] + h;
        let fi = fun(x, &vi, p)?;
        dv.set_column(i, &((fi - f0) / h));
        vi[i] = v[i];
    }
    Ok((dx, dv))
}

/// All derivatives of [`LevelDerivatives`] by forward differences with step
/// [`FINITE_DIFFERENCE_STEP`] (SPM12's `spm_diff`): first derivatives
/// `(f(· + h eᵢ) − f)/h`, and the parameters' derivatives of the state
/// Jacobians as forward differences of those Jacobians.
pub fn finite_difference_derivatives<L: LevelFunctions + ?Sized>(
    level: &L,
    x: &[f64],
    v: &[f64],
    p: &[f64],
    basis: &DMatrix<f64>,
) -> Result<LevelDerivatives, GcError> {
    finite_differences(level, (x, v, p), basis, true)
}

/// Forward differences of the first derivatives, and of the mixed ones when
/// `mixed`.
fn finite_differences<L: LevelFunctions + ?Sized>(
    level: &L,
    (x, v, p): (&[f64], &[f64], &[f64]),
    basis: &DMatrix<f64>,
    mixed: bool,
) -> Result<LevelDerivatives, GcError> {
    let h = FINITE_DIFFERENCE_STEP;
    let flow = |x: &[f64], v: &[f64], p: &[f64]| level.flow(x, v, p);
    let output = |x: &[f64], v: &[f64], p: &[f64]| level.output(x, v, p);
    let f0 = level.flow(x, v, p)?;
    let g0 = level.output(x, v, p)?;
    let (dfdx, dfdv) = forward_jacobians(&flow, x, v, p, &f0)?;
    let (dgdx, dgdv) = forward_jacobians(&output, x, v, p, &g0)?;
    let k = basis.ncols();
    let mut dfdp = DMatrix::zeros(f0.len(), k);
    let mut dgdp = DMatrix::zeros(g0.len(), k);
    let capacity = if mixed { k } else { 0 };
    let (mut dfdxp, mut dfdvp, mut dgdxp, mut dgdvp) = (
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
    );
    let mut pj = p.to_vec();
    for j in 0..k {
        for (q, (a, b)) in pj.iter_mut().zip(p.iter().zip(basis.column(j).iter())) {
            *q = a + b * h;
        }
        let fj = level.flow(x, v, &pj)?;
        let gj = level.output(x, v, &pj)?;
        dfdp.set_column(j, &((&fj - &f0) / h));
        dgdp.set_column(j, &((&gj - &g0) / h));
        if mixed {
            let (fx, fv) = forward_jacobians(&flow, x, v, &pj, &fj)?;
            let (gx, gv) = forward_jacobians(&output, x, v, &pj, &gj)?;
            dfdxp.push((fx - &dfdx) / h);
            dfdvp.push((fv - &dfdv) / h);
            dgdxp.push((gx - &dgdx) / h);
            dgdvp.push((gv - &dgdv) / h);
        }
    }
    Ok(LevelDerivatives {
        dfdx,
        dfdv,
        dfdp,
        dgdx,
        dgdv,
        dgdp,
        dfdxp,
        dfdvp,
        dgdxp,
        dgdvp,
    })
}

/// The signature of a level's `f` or `g` as a closure.
pub type LevelFn = dyn Fn(&[f64], &[f64], &[f64]) -> DVector<f64> + Send + Sync;

/// A [`LevelFunctions`] made of two closures, `f(x, v, θ)` and `g(x, v, θ)`,
/// differentiated by forward differences.
pub struct FnLevel {
    flow: Box<LevelFn>,
    output: Box<LevelFn>,
    states: usize,
    outputs: usize,
}

impl FnLevel {
    /// A level with `states` hidden states and `outputs` outputs. The closures
    /// must return vectors of those lengths (checked at every call).
    pub fn new(
        states: usize,
        outputs: usize,
        flow: impl Fn(&[f64], &[f64], &[f64]) -> DVector<f64> + Send + Sync + 'static,
        output: impl Fn(&[f64], &[f64], &[f64]) -> DVector<f64> + Send + Sync + 'static,
    ) -> Self {
        Self {
            flow: Box::new(flow),
            output: Box::new(output),
            states,
            outputs,
        }
    }
}

fn checked(what: &str, value: DVector<f64>, len: usize) -> Result<DVector<f64>, GcError> {
    if value.len() != len {
        return Err(GcError::Dimension {
            what: what.into(),
            expected: format!("{len} entries"),
            got: format!("{}", value.len()),
        });
    }
    if let Some((index, &v)) = value.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(GcError::Value {
            what: what.into(),
            index,
            value: v,
            expected: "a finite number".into(),
        });
    }
    Ok(value)
}

impl LevelFunctions for FnLevel {
    fn flow(&self, x: &[f64], v: &[f64], p: &[f64]) -> Result<DVector<f64>, GcError> {
        checked("flow f(x, v, θ)", (self.flow)(x, v, p), self.states)
    }

    fn output(&self, x: &[f64], v: &[f64], p: &[f64]) -> Result<DVector<f64>, GcError> {
        checked("output g(x, v, θ)", (self.output)(x, v, p), self.outputs)
    }

    fn first_derivatives(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        basis: &DMatrix<f64>,
    ) -> Result<LevelDerivatives, GcError> {
        finite_difference_first_derivatives(self, x, v, p, basis)
    }
}

/// The Gaussian prior of a set of log-precisions (`hE`, `hC` or `gE`, `gC`
/// in SPM): one entry per precision component.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPrecisionPrior {
    /// Prior expectations (one per component).
    pub mean: DVector<f64>,
    /// Prior covariance (square, of the same size).
    pub covariance: DMatrix<f64>,
}

impl LogPrecisionPrior {
    /// No components.
    pub fn none() -> Self {
        Self {
            mean: DVector::zeros(0),
            covariance: DMatrix::zeros(0, 0),
        }
    }
}

/// One level `i` of a hierarchical dynamic model (module docs): `n` hidden
/// states, `m` causes from the level above, `l` outputs.
#[derive(Clone)]
pub struct Level {
    /// `f` and `g`.
    pub functions: Arc<dyn LevelFunctions>,
    /// Number of outputs `l`.
    pub outputs: usize,
    /// Number of hidden states `n`.
    pub states: usize,
    /// Number of causes `m` (the outputs of the level above).
    pub causes: usize,
    /// Initial expectation of the hidden states (`n`).
    pub x0: DVector<f64>,
    /// Initial expectation of the causes (`m`; SPM's `v` of the level above).
    pub v0: DVector<f64>,
    /// Prior expectation of the parameters `pE` (any length).
    pub parameter_mean: DVector<f64>,
    /// Prior covariance of the parameters `pC` (square; zero rows fix a parameter).
    pub parameter_covariance: DMatrix<f64>,
    /// Fixed precision component of the output errors `V` (`l × l`).
    pub output_precision: DMatrix<f64>,
    /// Fixed precision component of the state noise `W` (`n × n`).
    pub state_precision: DMatrix<f64>,
    /// Precision components of the output errors `Q_j`, scaled by `exp(h_j)`.
    pub output_components: Vec<DMatrix<f64>>,
    /// Precision components of the state noise `R_j`, scaled by `exp(g_j)`.
    pub state_components: Vec<DMatrix<f64>>,
    /// Prior of the `h_j`.
    pub output_log_precision: LogPrecisionPrior,
    /// Prior of the `g_j`.
    pub state_log_precision: LogPrecisionPrior,
    /// Precision of a prior on the hidden states around zero (`xP`, `n × n`).
    pub state_prior_precision: DMatrix<f64>,
    /// Smoothness of the output errors `sv`.
    pub output_smoothness: f64,
    /// Smoothness of the state noise `sw`.
    pub state_smoothness: f64,
}

impl std::fmt::Debug for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Level")
            .field("outputs", &self.outputs)
            .field("states", &self.states)
            .field("causes", &self.causes)
            .finish_non_exhaustive()
    }
}

/// The top of the hierarchy: the prior on the highest causes,
/// `v⁽ᴸ⁾ = η + z`, with `η(t)` given as a record.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseLevel {
    /// Number of top causes (`l` of SPM's last level).
    pub causes: usize,
    /// Fixed precision of the prior on the top causes `V`.
    pub precision: DMatrix<f64>,
    /// Precision components `Q_j`, scaled by `exp(h_j)`.
    pub components: Vec<DMatrix<f64>>,
    /// Prior of the `h_j`.
    pub log_precision: LogPrecisionPrior,
    /// Smoothness of the top causes' noise.
    pub smoothness: f64,
}

/// A hierarchical dynamic model: levels from the data up, and the prior on
/// the top causes.
#[derive(Debug, Clone)]
pub struct HierarchicalModel {
    /// Levels `1 … L`, data first.
    pub levels: Vec<Level>,
    /// The prior on the top causes.
    pub top: CauseLevel,
}

fn check_square(what: String, m: &DMatrix<f64>, size: usize) -> Result<(), GcError> {
    if m.nrows() != size || m.ncols() != size {
        return Err(GcError::Dimension {
            what,
            expected: format!("{size} × {size}"),
            got: format!("{} × {}", m.nrows(), m.ncols()),
        });
    }
    if let Some((index, &value)) = m.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(GcError::Value {
            what: format!("{what} (column-major)"),
            index,
            value,
            expected: "a finite number".into(),
        });
    }
    Ok(())
}

fn check_prior(what: String, prior: &LogPrecisionPrior, count: usize) -> Result<(), GcError> {
    if prior.mean.len() != count {
        return Err(GcError::Dimension {
            what: format!("{what} prior expectation"),
            expected: format!("{count} entries (one per precision component)"),
            got: format!("{}", prior.mean.len()),
        });
    }
    check_square(format!("{what} prior covariance"), &prior.covariance, count)
}

fn check_smoothness(what: String, s: f64) -> Result<(), GcError> {
    if !(s.is_finite() && s > 0.0) {
        return Err(GcError::Setting {
            name: what,
            reason: format!("smoothness must be finite and positive, got {s}"),
        });
    }
    Ok(())
}

impl HierarchicalModel {
    /// Checks that the levels fit together: each level's causes are the
    /// outputs of the level above (the top causes for the last level), and
    /// every vector and matrix has its level's size.
    ///
    /// # Errors
    /// [`GcError::Dimension`] naming the level (1-based) and the array;
    /// [`GcError::Value`] for a non-finite entry; [`GcError::Setting`] for a
    /// non-positive smoothness.
    pub fn validate(&self) -> Result<(), GcError> {
        if self.levels.is_empty() {
            return Err(GcError::Dimension {
                what: "hierarchical model".into(),
                expected: "at least one level with f and g".into(),
                got: "none".into(),
            });
        }
        for (i, level) in self.levels.iter().enumerate() {
            let name = |a: &str| format!("level {} {a}", i + 1);
            let above = self
                .levels
                .get(i + 1)
                .map_or(self.top.causes, |l| l.outputs);
            if level.causes != above {
                return Err(GcError::Dimension {
                    what: name("causes m"),
                    expected: format!("{above} (the outputs of the level above)"),
                    got: format!("{}", level.causes),
                });
            }
            if level.v0.len() != level.causes {
                return Err(GcError::Dimension {
                    what: name("v0"),
                    expected: format!("{} entries", level.causes),
                    got: format!("{}", level.v0.len()),
                });
            }
            if level.x0.len() != level.states {
                return Err(GcError::Dimension {
                    what: name("x0"),
                    expected: format!("{} entries", level.states),
                    got: format!("{}", level.x0.len()),
                });
            }
            let np = level.parameter_mean.len();
            check_square(name("pC"), &level.parameter_covariance, np)?;
            check_square(name("V"), &level.output_precision, level.outputs)?;
            check_square(name("W"), &level.state_precision, level.states)?;
            check_square(name("xP"), &level.state_prior_precision, level.states)?;
            for (j, q) in level.output_components.iter().enumerate() {
                check_square(name(&format!("Q[{}]", j + 1)), q, level.outputs)?;
            }
            for (j, r) in level.state_components.iter().enumerate() {
                check_square(name(&format!("R[{}]", j + 1)), r, level.states)?;
            }
            check_prior(
                name("hE/hC"),
                &level.output_log_precision,
                level.output_components.len(),
            )?;
            check_prior(
                name("gE/gC"),
                &level.state_log_precision,
                level.state_components.len(),
            )?;
            check_smoothness(name("sv"), level.output_smoothness)?;
            check_smoothness(name("sw"), level.state_smoothness)?;
        }
        let top = &self.top;
        check_square("top causes V".into(), &top.precision, top.causes)?;
        for (j, q) in top.components.iter().enumerate() {
            check_square(format!("top causes Q[{}]", j + 1), q, top.causes)?;
        }
        check_prior(
            "top causes hE/hC".into(),
            &top.log_precision,
            top.components.len(),
        )?;
        check_smoothness("top causes sv".into(), top.smoothness)
    }

    /// Number of hidden states over all levels.
    pub fn nx(&self) -> usize {
        self.levels.iter().map(|l| l.states).sum()
    }

    /// Number of causes over all levels (the inputs of every level).
    pub fn nv(&self) -> usize {
        self.levels.iter().map(|l| l.causes).sum()
    }

    /// Number of data channels (the outputs of the first level).
    pub fn ny(&self) -> usize {
        self.levels[0].outputs
    }

    /// Number of top causes (the prior's channels).
    pub fn nc(&self) -> usize {
        self.top.causes
    }

    /// Number of output errors: `ny + nv`.
    pub fn ne(&self) -> usize {
        self.ny() + self.nv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quadratic() -> FnLevel {
        // f = [p0·x0·x1 + p1·v0], g = [x0² + p1·v0, x1·v0]
        FnLevel::new(
            1,
            2,
            |x, v, p| DVector::from_vec(vec![p[0] * x[0] * x[1] + p[1] * v[0]]),
            |x, v, p| DVector::from_vec(vec![x[0] * x[0] + p[1] * v[0], x[1] * v[0]]),
        )
    }

    #[test]
    fn finite_differences_match_analytic_derivatives() {
        let level = quadratic();
        let (x, v, p) = ([0.3, -0.7], [1.2], [0.5, 2.0]);
        let basis = DMatrix::identity(2, 2);
        let d = level.derivatives(&x, &v, &p, &basis).unwrap();
        let tol = 1e-3;
        assert!((d.dfdx[(0, 0)] - p[0] * x[1]).abs() < tol);
        assert!((d.dfdx[(0, 1)] - p[0] * x[0]).abs() < tol);
        assert!((d.dfdv[(0, 0)] - p[1]).abs() < tol);
        assert!((d.dgdx[(0, 0)] - 2.0 * x[0]).abs() < tol);
        assert!((d.dgdv[(1, 0)] - x[1]).abs() < tol);
        assert!((d.dfdp[(0, 0)] - x[0] * x[1]).abs() < tol);
        assert!((d.dgdp[(0, 1)] - v[0]).abs() < tol);
        // ∂²f/∂x0∂p0 = x1, ∂²f/∂v∂p1 = 1
        assert!((d.dfdxp[0][(0, 0)] - x[1]).abs() < tol);
        assert!((d.dfdvp[1][(0, 0)] - 1.0).abs() < tol);
        assert!(d.dgdxp[0].iter().all(|e| e.abs() < tol));
    }

    #[test]
    fn wrong_output_length_is_an_error() {
        let level = FnLevel::new(
            1,
            2,
            |_, _, _| DVector::zeros(1),
            |_, _, _| DVector::zeros(3),
        );
        let err = level.output(&[0.0], &[], &[]).unwrap_err();
        assert!(matches!(err, GcError::Dimension { .. }), "{err}");
    }
}
