//! SPM's DEM model descriptions, run by actinf's DEM.
//!
//! A DEM run as SPM12's fixtures give it (`../shared/fixtures/spm12/dem_*.json`,
//! see its README) holds SPM's model structure `M` (`model`: the `E`
//! settings and one entry per level with `f` and `g` as MATLAB expression
//! text, `pE`, `pC`, `V`, `W`, `Q`, `R`, `hE`, `hC`, `gE`, `gC`, `xP`, `sv`,
//! `sw`, `x0`, `v0`), the data `Y` and the prior expectation of the top
//! causes `U_prior_causes`. [`read_dem_run`] turns it into an
//! [`actinf_gc::hierarchical::HierarchicalModel`] whose levels evaluate the
//! compiled expressions ([`crate::expr`]); [`run_dem`] inverts it with
//! [`actinf_gc::dem::Dem`] (SPM's `spm_DEM`), and [`write_dem_results`]
//! writes the result fields into the run in SPM's layout (`qU`, `F`,
//! `free_action`, `qP`, `qH`).
//!
//! # Derivatives
//! SPM differentiates `f` and `g` by forward differences (`spm_diff`, step
//! `exp(−8)`); so does [`Derivatives::Spm`], the default, so that the
//! numbers agree with SPM's. [`Derivatives::Exact`] uses the expressions'
//! exact derivatives (forward-mode hyper-dual numbers) instead; for models
//! linear in the states the two agree to rounding, for nonlinear ones they
//! differ by the size of SPM's finite-difference error.

use std::sync::{Arc, Mutex};

use actinf_gc::dem::{Dem, DemResult, DemSettings};
use actinf_gc::hierarchical::{
    finite_difference_derivatives, finite_difference_first_derivatives, CauseLevel,
    HierarchicalModel, Level, LevelDerivatives, LevelFunctions, LogPrecisionPrior,
};
use actinf_gc::lap::{GeneralizedFilter, LapResult, LapSettings};
use actinf_gc::GcError;
use nalgebra::{DMatrix, DVector};
use serde_json::{json, Map, Value};

use crate::expr::{
    CompiledExpr, Derivatives as ExprDerivatives, ExprError, Order, Param, ParamLayout, Signature,
    Workspace,
};

/// What is wrong with a DEM run's description or its inversion.
#[derive(Debug, thiserror::Error)]
pub enum DemError {
    /// A field that is missing or malformed.
    #[error("field `{field}`: {reason}")]
    Field {
        /// The field, as a path into the run (`model.levels[0].pC`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An `f` or `g` outside the supported MATLAB subset.
    #[error("field `{field}`: expression `{text}`: {source}")]
    Expression {
        /// The field.
        field: String,
        /// The expression text.
        text: String,
        /// What the expression reader found (names the token and position).
        source: ExprError,
    },
    /// The model's dimensions do not fit, or the inversion failed.
    #[error("model: {0}")]
    Model(GcError),
}

impl DemError {
    /// The same error with `prefix` before its field path.
    fn at(self, prefix: &str) -> Self {
        match self {
            DemError::Field { field, reason } => DemError::Field {
                field: format!("{prefix}{field}"),
                reason,
            },
            DemError::Expression {
                field,
                text,
                source,
            } => DemError::Expression {
                field: format!("{prefix}{field}"),
                text,
                source,
            },
            other => other,
        }
    }
}

/// How a level's derivatives are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Derivatives {
    /// SPM's forward differences (`spm_diff`, step `exp(−8)`): SPM's numbers.
    #[default]
    Spm,
    /// Exact derivatives of the expressions.
    Exact,
}

/// A level whose `f` and `g` are compiled SPM expressions.
pub struct ExpressionLevel {
    f: CompiledExpr,
    g: CompiledExpr,
    derivatives: Derivatives,
    workspace: Mutex<Workspace>,
}

impl ExpressionLevel {
    /// Compiles `f` and `g` for `states` hidden states, `causes` causes and
    /// the parameter layout of `pE`, and checks their output sizes.
    pub fn new(
        f: &str,
        g: &str,
        states: usize,
        causes: usize,
        outputs: usize,
        layout: ParamLayout,
        derivatives: Derivatives,
    ) -> Result<Self, DemError> {
        let signature = Signature::columns(states, causes, layout);
        let compile = |name: &str, text: &str, len: usize| -> Result<CompiledExpr, DemError> {
            let e =
                CompiledExpr::compile(text, &signature).map_err(|source| DemError::Expression {
                    field: name.to_string(),
                    text: text.to_string(),
                    source,
                })?;
            if e.output_len() != len {
                return Err(DemError::Field {
                    field: name.to_string(),
                    reason: format!(
                        "`{text}` gives {} values, the level needs {len}",
                        e.output_len()
                    ),
                });
            }
            Ok(e)
        };
        Ok(Self {
            f: compile("f", f, states)?,
            g: compile("g", g, outputs)?,
            derivatives,
            workspace: Mutex::new(Workspace::new()),
        })
    }

    fn value(
        &self,
        e: &CompiledExpr,
        x: &[f64],
        v: &[f64],
        p: &[f64],
    ) -> Result<DVector<f64>, GcError> {
        let mut ws = self.workspace.lock().unwrap_or_else(|p| p.into_inner());
        e.value(x, v, p, &mut ws).map_err(expression_error)
    }
}

fn expression_error(e: ExprError) -> GcError {
    GcError::Setting {
        name: "SPM expression".into(),
        reason: e.to_string(),
    }
}

impl ExpressionLevel {
    /// The exact derivatives `order` asks for ([`Order::Jacobians`]: the
    /// mixed ones left empty; [`Order::MixedSecond`]: all).
    fn exact(
        &self,
        (x, v, p): (&[f64], &[f64], &[f64]),
        basis: &DMatrix<f64>,
        order: Order,
    ) -> Result<LevelDerivatives, GcError> {
        let mut ws = self.workspace.lock().unwrap_or_else(|p| p.into_inner());
        let mut df = ExprDerivatives::new();
        let mut dg = ExprDerivatives::new();
        self.f
            .evaluate(x, v, p, Some(basis), order, &mut ws, &mut df)
            .map_err(expression_error)?;
        self.g
            .evaluate(x, v, p, Some(basis), order, &mut ws, &mut dg)
            .map_err(expression_error)?;
        Ok(LevelDerivatives {
            dfdx: df.dx,
            dfdv: df.dv,
            dfdp: df.dp,
            dgdx: dg.dx,
            dgdv: dg.dv,
            dgdp: dg.dp,
            dfdxp: df.dxp,
            dfdvp: df.dvp,
            dgdxp: dg.dxp,
            dgdvp: dg.dvp,
        })
    }
}

impl LevelFunctions for ExpressionLevel {
    fn flow(&self, x: &[f64], v: &[f64], p: &[f64]) -> Result<DVector<f64>, GcError> {
        self.value(&self.f, x, v, p)
    }

    fn output(&self, x: &[f64], v: &[f64], p: &[f64]) -> Result<DVector<f64>, GcError> {
        self.value(&self.g, x, v, p)
    }

    fn derivatives(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        basis: &DMatrix<f64>,
    ) -> Result<LevelDerivatives, GcError> {
        match self.derivatives {
            Derivatives::Spm => finite_difference_derivatives(self, x, v, p, basis),
            Derivatives::Exact => self.exact((x, v, p), basis, Order::MixedSecond),
        }
    }

    fn first_derivatives(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        basis: &DMatrix<f64>,
    ) -> Result<LevelDerivatives, GcError> {
        match self.derivatives {
            Derivatives::Spm => finite_difference_first_derivatives(self, x, v, p, basis),
            Derivatives::Exact => self.exact((x, v, p), basis, Order::Jacobians),
        }
    }
}

/// A DEM run read from SPM's description.
pub struct DemRun {
    /// The routine that made the reference results (`spm_DEM` or `spm_LAP`).
    pub scheme: String,
    /// The model.
    pub model: HierarchicalModel,
    /// SPM's `E` settings, for `spm_DEM`.
    pub settings: DemSettings,
    /// SPM's `E` settings, for `spm_LAP`.
    pub lap_settings: LapSettings,
    /// Data `Y` (`ny × N`).
    pub y: DMatrix<f64>,
    /// Prior expectation of the top causes (`nc × N`).
    pub eta: DMatrix<f64>,
    /// Each level's parameter layout (for writing `qP.P` like `pE`).
    pub layouts: Vec<ParamLayout>,
}

fn field<'a>(obj: &'a Value, name: &str, at: &str) -> Result<&'a Value, DemError> {
    obj.get(name).ok_or_else(|| DemError::Field {
        field: format!("{at}{name}"),
        reason: "missing".into(),
    })
}

fn number(v: &Value, at: &str) -> Result<f64, DemError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad(at, "a number")),
        Value::Array(a) if a.len() == 1 => number(&a[0], at),
        _ => Err(bad(at, "a number")),
    }
}

fn count(v: &Value, at: &str) -> Result<usize, DemError> {
    let x = number(v, at)?;
    if x < 0.0 || x.fract() != 0.0 || x > 1e9 {
        return Err(bad(at, "a non-negative integer"));
    }
    Ok(x as usize)
}

fn bad(at: &str, expected: &str) -> DemError {
    DemError::Field {
        field: at.to_string(),
        reason: format!("expected {expected}"),
    }
}

/// A JSON matrix: a list of rows, a flat list (a column), a number (1×1) or
/// `[]` (0×0).
pub fn json_matrix(v: &Value, at: &str) -> Result<DMatrix<f64>, DemError> {
    match v {
        Value::Number(_) => Ok(DMatrix::from_element(1, 1, number(v, at)?)),
        Value::Array(rows) if rows.is_empty() => Ok(DMatrix::zeros(0, 0)),
        Value::Array(rows) if rows.iter().all(|r| r.is_array()) => {
            let parsed: Vec<Vec<f64>> = rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .enumerate()
                        .map(|(j, x)| {
                            x.as_f64()
                                .ok_or_else(|| bad(&format!("{at}[{i}][{j}]"), "a number"))
                        })
                        .collect()
                })
                .collect::<Result<_, _>>()?;
            let cols = parsed[0].len();
            if let Some(i) = parsed.iter().position(|r| r.len() != cols) {
                return Err(DemError::Field {
                    field: format!("{at}[{i}]"),
                    reason: format!("row has {} entries, row 0 has {cols}", parsed[i].len()),
                });
            }
            Ok(DMatrix::from_fn(parsed.len(), cols, |i, j| parsed[i][j]))
        }
        Value::Array(items) => {
            let col: Vec<f64> = items
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_f64()
                        .ok_or_else(|| bad(&format!("{at}[{i}]"), "a number"))
                })
                .collect::<Result<_, _>>()?;
            Ok(DMatrix::from_column_slice(col.len(), 1, &col))
        }
        _ => Err(bad(at, "a matrix (list of rows)")),
    }
}

fn json_vector(v: &Value, at: &str) -> Result<DVector<f64>, DemError> {
    let m = json_matrix(v, at)?;
    Ok(DVector::from_column_slice(m.as_slice()))
}

fn square(v: &Value, at: &str, size: usize) -> Result<DMatrix<f64>, DemError> {
    let m = json_matrix(v, at)?;
    if size == 0 && m.is_empty() {
        return Ok(DMatrix::zeros(0, 0));
    }
    if m.shape() == (1, 1) && size > 1 {
        return Ok(DMatrix::identity(size, size) * m[(0, 0)]);
    }
    if m.shape() != (size, size) {
        return Err(DemError::Field {
            field: at.to_string(),
            reason: format!(
                "expected {size} × {size}, got {} × {}",
                m.nrows(),
                m.ncols()
            ),
        });
    }
    Ok(m)
}

/// A precision or covariance: [`square`], and symmetric positive
/// semi-definite (zero allowed: a fixed component may be absent).
fn precision(v: &Value, at: &str, size: usize) -> Result<DMatrix<f64>, DemError> {
    let m = square(v, at, size)?;
    let scale = m.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    if let Some((i, j)) = (0..m.nrows())
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .find(|&(i, j)| (m[(i, j)] - m[(j, i)]).abs() > 1e-10 * scale)
    {
        return Err(DemError::Field {
            field: at.to_string(),
            reason: format!("not symmetric: entry ({i}, {j}) differs from ({j}, {i})"),
        });
    }
    if m.nrows() > 0 {
        let eig = nalgebra::SymmetricEigen::new(m.clone());
        let low = eig.eigenvalues.min();
        if low < -1e-10 * scale {
            return Err(DemError::Field {
                field: at.to_string(),
                reason: format!(
                    "not positive semi-definite (smallest eigenvalue {low:e}): a precision or covariance"
                ),
            });
        }
    }
    Ok(m)
}

/// SPM's `Q`/`R`: a list of precision components, or one component given
/// as a matrix (a list of rows of numbers) or a number.
fn components(v: Option<&Value>, at: &str, size: usize) -> Result<Vec<DMatrix<f64>>, DemError> {
    let is_row = |r: &Value| r.as_array().is_some_and(|r| r.iter().all(Value::is_number));
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Number(_)) => Ok(vec![precision(v.unwrap(), at, size)?]),
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(is_row) => {
            Ok(vec![precision(v.unwrap(), at, size)?])
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, q)| precision(q, &format!("{at}[{j}]"), size))
            .collect(),
        Some(_) => Err(bad(at, "a list of matrices")),
    }
}

fn log_prior(
    mean: Option<&Value>,
    cov: Option<&Value>,
    at: &str,
    k: usize,
) -> Result<LogPrecisionPrior, DemError> {
    let mean = match mean {
        Some(v) => json_vector(v, &format!("{at}E"))?,
        None => DVector::zeros(0),
    };
    if mean.len() != k {
        return Err(DemError::Field {
            field: format!("{at}E"),
            reason: format!("{} entries for {k} precision components", mean.len()),
        });
    }
    let covariance = match cov {
        Some(v) if k > 0 => precision(v, &format!("{at}C"), k)?,
        _ => DMatrix::zeros(k, k),
    };
    Ok(LogPrecisionPrior { mean, covariance })
}

/// `pE` as a [`Param`]: an object is a structure (fields in document order),
/// anything else a matrix.
pub fn json_param(v: &Value, at: &str) -> Result<Param, DemError> {
    match v {
        Value::Object(fields) => {
            let parsed = fields
                .iter()
                .map(|(name, f)| Ok((name.clone(), json_param(f, &format!("{at}.{name}"))?)))
                .collect::<Result<Vec<_>, DemError>>()?;
            Param::structure(parsed).map_err(|source| DemError::Expression {
                field: at.to_string(),
                text: String::new(),
                source,
            })
        }
        _ => {
            let m = json_matrix(v, at)?;
            Param::matrix(m.nrows(), m.ncols(), m.as_slice().to_vec()).map_err(|source| {
                DemError::Expression {
                    field: at.to_string(),
                    text: String::new(),
                    source,
                }
            })
        }
    }
}

/// Reads one DEM run (module docs): the model, the settings, the data.
///
/// # Errors
/// [`DemError::Field`] naming a missing or malformed field;
/// [`DemError::Expression`] for an `f` or `g` outside the supported subset
/// (with the token and its position); [`DemError::Model`] for dimensions
/// that do not fit together.
pub fn read_dem_run(run: &Value, derivatives: Derivatives) -> Result<DemRun, DemError> {
    let scheme = field(run, "scheme", "")?
        .as_str()
        .ok_or_else(|| bad("scheme", "a string"))?
        .to_string();
    let model = field(run, "model", "")?;
    let e = field(model, "E", "model.")?;
    let levels_json = field(model, "levels", "model.")?
        .as_array()
        .ok_or_else(|| bad("model.levels", "a list"))?;
    if levels_json.len() < 2 {
        return Err(bad(
            "model.levels",
            "at least two levels (the last holds the prior causes)",
        ));
    }
    // SPM's defaults (spm_DEM_M_set) depend on whether there are hidden states.
    let mut nx = 0;
    for (i, l) in levels_json[..levels_json.len() - 1].iter().enumerate() {
        nx += count(
            field(l, "n", &format!("model.levels[{i}]."))?,
            &format!("model.levels[{i}].n"),
        )?;
    }
    let dynamic = nx > 0;
    let setting = |name: &str, default: usize| -> Result<usize, DemError> {
        e.get(name)
            .map(|v| count(v, &format!("model.E.{name}")))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let nd = setting("nD", if dynamic { 1 } else { 8 })?;
    if dynamic && nd != 1 {
        return Err(DemError::Field {
            field: "model.E.nD".into(),
            reason: format!("a dynamic model takes one D-step per sample here (nD = 1), got {nd}"),
        });
    }
    let linear = setting("linear", 0)?;
    let (n_default, d_default) = if dynamic { (6, 2) } else { (0, 0) };
    let n_orders = setting("n", n_default)? + 1;
    let settings = DemSettings {
        state_orders: n_orders,
        cause_orders: (setting("d", d_default)? + 1).min(n_orders),
        iterations: setting("nE", 8)?,
        m_iterations: setting("nM", 8)?,
        linear: linear == 1,
        static_iterations: nd.max(1),
    };
    // SPM's smoothness: E.s (default 1/2, or 0 for a static model), and
    // spm_DEM_R's rule that s = 0 means exp(−8).
    let smoothness = |v: Option<&Value>, at: &str| -> Result<f64, DemError> {
        let s = match v {
            Some(v) => number(v, at)?,
            None => match e.get("s") {
                Some(v) => number(v, "model.E.s")?,
                None if dynamic => 0.5,
                None => 0.0,
            },
        };
        if s < 0.0 || !s.is_finite() {
            return Err(DemError::Field {
                field: at.to_string(),
                reason: format!("a smoothness must be finite and ≥ 0, got {s}"),
            });
        }
        Ok(if s == 0.0 { (-8f64).exp() } else { s })
    };
    let method = e.get("method");
    // SPM's defaults: method.h = method.g = 1, method.x = method.v = 0.
    let flag = |name: &str, default: bool| -> Result<bool, DemError> {
        match method.and_then(|m| m.get(name)) {
            None => Ok(default),
            Some(v) => Ok(number(v, &format!("model.E.method.{name}"))? != 0.0),
        }
    };
    for name in ["x", "v"] {
        if flag(name, false)? {
            return Err(DemError::Field {
                field: format!("model.E.method.{name}"),
                reason: "precisions that depend on the states or causes are not supported".into(),
            });
        }
    }
    let lap_settings = LapSettings {
        state_orders: settings.state_orders,
        cause_orders: settings.cause_orders,
        iterations: e
            .get("nN")
            .map(|v| count(v, "model.E.nN"))
            .transpose()?
            .unwrap_or(8),
        smoothness: Some(smoothness(None, "model.E.s")?),
        precision_gradients: flag("h", true)? || flag("g", true)?,
        regularisation: e
            .get("v")
            .map(|v| number(v, "model.E.v"))
            .transpose()?
            .unwrap_or(0.0),
    };
    let mut levels = Vec::new();
    let mut layouts = Vec::new();
    let last = levels_json.len() - 1;
    for (i, l) in levels_json[..last].iter().enumerate() {
        let at = format!("model.levels[{i}].");
        let name = |f: &str| format!("{at}{f}");
        let outputs = count(field(l, "l", &at)?, &name("l"))?;
        let states = count(field(l, "n", &at)?, &name("n"))?;
        let causes = count(field(l, "m", &at)?, &name("m"))?;
        let pe = json_param(field(l, "pE", &at)?, &name("pE"))?;
        let layout = pe.layout();
        let np = layout.len();
        let functions = ExpressionLevel::new(
            field(l, "f", &at)?
                .as_str()
                .ok_or_else(|| bad(&name("f"), "a string"))?,
            field(l, "g", &at)?
                .as_str()
                .ok_or_else(|| bad(&name("g"), "a string"))?,
            states,
            causes,
            outputs,
            layout.clone(),
            derivatives,
        )
        .map_err(|e| e.at(&at))?;
        let pc = match l.get("pC") {
            None => DMatrix::zeros(np, np),
            Some(v) => {
                let m = json_matrix(v, &name("pC"))?;
                if (m.ncols() == 1 || m.nrows() == 1) && m.len() == np && np > 1 {
                    if let Some(i) = m.iter().position(|&x| x < 0.0) {
                        return Err(DemError::Field {
                            field: format!("{}[{i}]", name("pC")),
                            reason: "a negative prior variance".into(),
                        });
                    }
                    DMatrix::from_diagonal(&DVector::from_column_slice(m.as_slice()))
                } else {
                    precision(v, &name("pC"), np)?
                }
            }
        };
        let q = components(l.get("Q"), &name("Q"), outputs)?;
        let r = components(l.get("R"), &name("R"), states)?;
        let above = &levels_json[i + 1];
        let v0 = match above.get("v0") {
            Some(v) => json_vector(v, &format!("model.levels[{}].v0", i + 1))?,
            None => DVector::zeros(causes),
        };
        let x0 = match l.get("x0") {
            Some(v) => json_vector(v, &name("x0"))?,
            None => DVector::zeros(states),
        };
        let xp = match l.get("xP") {
            Some(v) => {
                let m = json_matrix(v, &name("xP"))?;
                if m.is_empty() {
                    DMatrix::zeros(states, states)
                } else {
                    precision(v, &name("xP"), states)?
                }
            }
            None => DMatrix::zeros(states, states),
        };
        let s = |key: &str| smoothness(l.get(key), &name(key));
        levels.push(Level {
            functions: Arc::new(functions),
            outputs,
            states,
            causes,
            x0,
            v0,
            parameter_mean: DVector::from_vec(pe.spm_vec()),
            parameter_covariance: pc,
            output_precision: precision(field(l, "V", &at)?, &name("V"), outputs)?,
            state_precision: precision(
                l.get("W").unwrap_or(&Value::Array(vec![])),
                &name("W"),
                states,
            )?,
            output_log_precision: log_prior(l.get("hE"), l.get("hC"), &name("h"), q.len())?,
            state_log_precision: log_prior(l.get("gE"), l.get("gC"), &name("g"), r.len())?,
            output_components: q,
            state_components: r,
            state_prior_precision: xp,
            output_smoothness: s("sv")?,
            state_smoothness: s("sw")?,
        });
        layouts.push(layout);
    }
    let top_json = &levels_json[last];
    let at = format!("model.levels[{last}].");
    let nc = count(field(top_json, "l", &at)?, &format!("{at}l"))?;
    let q = components(top_json.get("Q"), &format!("{at}Q"), nc)?;
    let top = CauseLevel {
        causes: nc,
        precision: precision(field(top_json, "V", &at)?, &format!("{at}V"), nc)?,
        log_precision: log_prior(
            top_json.get("hE"),
            top_json.get("hC"),
            &format!("{at}h"),
            q.len(),
        )?,
        components: q,
        smoothness: smoothness(top_json.get("sv"), &format!("{at}sv"))?,
    };
    let model = HierarchicalModel { levels, top };
    model.validate().map_err(DemError::Model)?;
    let y = json_matrix(field(run, "Y", "")?, "Y")?;
    let eta = match run.get("U_prior_causes") {
        Some(v) => json_matrix(v, "U_prior_causes")?,
        None => DMatrix::zeros(nc, y.ncols()),
    };
    let eta = if eta.is_empty() {
        DMatrix::zeros(nc, y.ncols())
    } else {
        eta
    };
    Ok(DemRun {
        scheme,
        model,
        settings,
        lap_settings,
        y,
        eta,
        layouts,
    })
}

/// Runs `spm_DEM`'s scheme on a read run.
///
/// # Errors
/// [`DemError::Model`] for what [`Dem`] refuses or a failed integration.
pub fn run_dem(run: &DemRun) -> Result<DemResult, DemError> {
    let dem = Dem::new(run.model.clone(), run.settings.clone()).map_err(DemError::Model)?;
    dem.run(&run.y, &run.eta).map_err(DemError::Model)
}

/// Runs `spm_LAP`'s scheme (generalized filtering) on a read run.
///
/// # Errors
/// [`DemError::Model`] for what [`GeneralizedFilter`] refuses or a failed
/// integration.
pub fn run_lap(run: &DemRun) -> Result<LapResult, DemError> {
    let filter = GeneralizedFilter::new(run.model.clone(), run.lap_settings.clone())
        .map_err(DemError::Model)?;
    filter.run(&run.y, &run.eta).map_err(DemError::Model)
}

fn rows(m: &DMatrix<f64>) -> Value {
    Value::Array(
        (0..m.nrows())
            .map(|i| Value::Array(m.row(i).iter().map(|&x| json!(x)).collect()))
            .collect(),
    )
}

fn param_json(p: &Param) -> Value {
    match p {
        Param::Matrix {
            rows: r,
            cols,
            data,
        } => {
            let m = DMatrix::from_column_slice(*r, *cols, data);
            rows(&m)
        }
        Param::Struct(fields) => {
            let mut map = Map::new();
            for (name, f) in fields {
                map.insert(name.clone(), param_json(f));
            }
            Value::Object(map)
        }
    }
}

/// Writes the result fields of `result` into `doc` (one run) in SPM's
/// layout: `qU` (`x1`, `v2`, … per level, `v1_predicted_response`, `z1`,
/// `z2`, …, `w1`, …, `S_cov_x`, `S_diag`, `C_cov_v`, `C_diag`), `F`,
/// `free_action`, `qP` (`P` shaped like `pE`, `C`) and `qH` (`h`, `g` per
/// level, `C`).
pub fn write_dem_results(
    doc: &mut Value,
    run: &DemRun,
    result: &DemResult,
) -> Result<(), DemError> {
    write_results(doc, run, &ResultFields::from(result))
}

/// Writes the result fields of a generalized-filtering run ([`run_lap`])
/// into `doc`, as [`write_dem_results`] does.
pub fn write_lap_results(
    doc: &mut Value,
    run: &DemRun,
    result: &LapResult,
) -> Result<(), DemError> {
    write_results(doc, run, &ResultFields::from(result))
}

/// The fields of [`DemResult`] and [`LapResult`] that SPM's layout holds.
struct ResultFields<'a> {
    states: &'a DMatrix<f64>,
    causes: &'a DMatrix<f64>,
    predicted_response: &'a DMatrix<f64>,
    output_errors: &'a DMatrix<f64>,
    state_errors: &'a DMatrix<f64>,
    state_covariances: &'a [DMatrix<f64>],
    cause_covariances: &'a [DMatrix<f64>],
    free_energy: &'a [f64],
    free_action: &'a [f64],
    parameters: &'a DVector<f64>,
    parameter_covariance: &'a DMatrix<f64>,
    output_log_precisions: &'a DVector<f64>,
    state_log_precisions: &'a DVector<f64>,
    log_precision_covariance: &'a DMatrix<f64>,
}

macro_rules! result_fields {
    ($t:ty) => {
        impl<'a> From<&'a $t> for ResultFields<'a> {
            fn from(r: &'a $t) -> Self {
                ResultFields {
                    states: &r.states,
                    causes: &r.causes,
                    predicted_response: &r.predicted_response,
                    output_errors: &r.output_errors,
                    state_errors: &r.state_errors,
                    state_covariances: &r.state_covariances,
                    cause_covariances: &r.cause_covariances,
                    free_energy: &r.free_energy,
                    free_action: &r.free_action,
                    parameters: &r.parameters,
                    parameter_covariance: &r.parameter_covariance,
                    output_log_precisions: &r.output_log_precisions,
                    state_log_precisions: &r.state_log_precisions,
                    log_precision_covariance: &r.log_precision_covariance,
                }
            }
        }
    };
}
result_fields!(DemResult);
result_fields!(LapResult);

fn write_results(doc: &mut Value, run: &DemRun, result: &ResultFields) -> Result<(), DemError> {
    let model = &run.model;
    let mut qu = Map::new();
    let mut put = |name: String, m: &DMatrix<f64>, at: usize, len: usize| {
        qu.insert(name, rows(&m.rows(at, len).into_owned()));
    };
    let (mut x_at, mut v_at, mut e_at) = (0, 0, 0);
    for (i, level) in model.levels.iter().enumerate() {
        if level.states > 0 {
            put(format!("x{}", i + 1), result.states, x_at, level.states);
            put(
                format!("w{}", i + 1),
                result.state_errors,
                x_at,
                level.states,
            );
        }
        if level.causes > 0 {
            put(format!("v{}", i + 2), result.causes, v_at, level.causes);
        }
        put(
            format!("z{}", i + 1),
            result.output_errors,
            e_at,
            level.outputs,
        );
        x_at += level.states;
        v_at += level.causes;
        e_at += level.outputs;
    }
    let top = format!("z{}", model.levels.len() + 1);
    put(top, result.output_errors, e_at, model.top.causes);
    qu.insert(
        "v1_predicted_response".into(),
        rows(result.predicted_response),
    );
    qu.insert(
        "S_cov_x".into(),
        Value::Array(result.state_covariances.iter().map(rows).collect()),
    );
    let s_diag = DMatrix::from_fn(model.nx(), result.states.ncols(), |i, t| {
        result.state_covariances[t][(i, i)]
    });
    qu.insert("S_diag".into(), rows(&s_diag));
    qu.insert(
        "C_cov_v".into(),
        Value::Array(result.cause_covariances.iter().map(rows).collect()),
    );
    let c_diag = DMatrix::from_fn(model.nv(), result.causes.ncols(), |i, t| {
        result.cause_covariances[t][(i, i)]
    });
    qu.insert("C_diag".into(), rows(&c_diag));
    doc["qU"] = Value::Object(qu);
    doc["F"] = json!(result.free_energy);
    doc["free_action"] = json!(result.free_action);

    let mut p_at = 0;
    let mut fields = Map::new();
    let mut levels_p = Vec::new();
    for layout in &run.layouts {
        let k = layout.len();
        let p = layout
            .unvec(&result.parameters.as_slice()[p_at..p_at + k])
            .map_err(|source| DemError::Expression {
                field: "qP.P".into(),
                text: String::new(),
                source,
            })?;
        levels_p.push(param_json(&p));
        p_at += k;
    }
    // SPM's qP.P is spm_unvec(…, M.pE): a list over levels unless one level.
    fields.insert(
        "P".into(),
        if levels_p.len() == 1 {
            levels_p.pop().unwrap()
        } else {
            Value::Array(levels_p)
        },
    );
    fields.insert("C".into(), rows(result.parameter_covariance));
    doc["qP"] = Value::Object(fields);

    let (mut h_at, mut g_at) = (0, 0);
    let mut h = Vec::new();
    let mut g = Vec::new();
    for level in &model.levels {
        let k = level.output_components.len();
        h.push(json!(
            result.output_log_precisions.as_slice()[h_at..h_at + k]
        ));
        h_at += k;
        let k = level.state_components.len();
        g.push(json!(
            result.state_log_precisions.as_slice()[g_at..g_at + k]
        ));
        g_at += k;
    }
    let k = model.top.components.len();
    h.push(json!(
        result.output_log_precisions.as_slice()[h_at..h_at + k]
    ));
    g.push(json!(Vec::<f64>::new()));
    let c = if result.log_precision_covariance.is_empty() {
        json!([])
    } else {
        rows(result.log_precision_covariance)
    };
    doc["qH"] = json!({ "h": h, "g": g, "C": c });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-state, one-output model: ẋ = P.a·x + v, y = x.
    fn small_run() -> Value {
        json!({
            "scheme": "spm_DEM",
            "model": {
                "E": {"n": 4, "d": 2, "nE": 4, "nM": 4, "nD": 1, "linear": 1, "s": 0.5},
                "levels": [
                    {"l": 1, "n": 1, "m": 1, "f": "P.a*x + v", "g": "x",
                     "x0": [0], "v0": [0], "pE": {"a": -0.5}, "pC": [[0]],
                     "V": [[16]], "W": [[16]], "Q": [], "R": [], "xP": [[0]],
                     "sv": 0.5, "sw": 0.5},
                    {"l": 1, "n": 0, "m": 0, "v0": [0], "V": [[1]], "Q": []}
                ]
            },
            "Y": [[0.0, 0.1, 0.3, 0.4, 0.3, 0.1, 0.0, -0.1]],
            "U_prior_causes": [[0.0, 0.2, 0.3, 0.2, 0.0, 0.0, 0.0, 0.0]]
        })
    }

    #[test]
    fn a_small_run_inverts_and_writes_spm_fields() {
        let mut doc = small_run();
        let run = read_dem_run(&doc, Derivatives::Spm).unwrap();
        let result = run_dem(&run).unwrap();
        write_dem_results(&mut doc, &run, &result).unwrap();
        assert_eq!(doc["qU"]["x1"][0].as_array().unwrap().len(), 8);
        assert_eq!(doc["qU"]["v2"][0].as_array().unwrap().len(), 8);
        assert_eq!(doc["qP"]["P"]["a"][0][0].as_f64(), Some(-0.5));
        assert!(doc["F"][0].as_f64().unwrap().is_finite());
        // Exact and SPM's finite-difference derivatives agree on a linear model.
        let exact = run_dem(&read_dem_run(&small_run(), Derivatives::Exact).unwrap()).unwrap();
        let gap = (&exact.states - &result.states).abs().max();
        assert!(gap < 1e-9, "{gap}");
    }

    #[test]
    fn a_malformed_expression_names_the_token_and_position() {
        let mut doc = small_run();
        doc["model"]["levels"][0]["f"] = json!("P.a*x +* v");
        let err = read_dem_run(&doc, Derivatives::Spm).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("model.levels[0].f"), "{text}");
        assert!(text.contains("position 7"), "{text}");
    }

    #[test]
    fn a_precision_that_is_not_positive_semidefinite_is_refused() {
        let mut doc = small_run();
        doc["model"]["levels"][0]["W"] = json!([[-4]]);
        let err = read_dem_run(&doc, Derivatives::Spm)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("model.levels[0].W") && err.contains("positive semi-definite"),
            "{err}"
        );
        let mut doc = small_run();
        doc["model"]["levels"][1]["V"] = json!([[-1]]);
        let err = read_dem_run(&doc, Derivatives::Spm)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("model.levels[1].V"), "{err}");
    }

    #[test]
    fn one_precision_component_may_be_given_as_a_matrix() {
        let mut doc = small_run();
        doc["model"]["levels"][0]["Q"] = json!([[1]]);
        doc["model"]["levels"][0]["hE"] = json!(0);
        doc["model"]["levels"][0]["hC"] = json!(1);
        let run = read_dem_run(&doc, Derivatives::Spm).unwrap();
        assert_eq!(run.model.levels[0].output_components.len(), 1);
        doc["model"]["levels"][0]["Q"] = json!([[[1]]]);
        let run = read_dem_run(&doc, Derivatives::Spm).unwrap();
        assert_eq!(run.model.levels[0].output_components.len(), 1);
    }

    #[test]
    fn wrong_sizes_and_missing_fields_are_named() {
        let mut doc = small_run();
        doc["model"]["levels"][0]["V"] = json!([[1, 0], [0, 1]]);
        let err = read_dem_run(&doc, Derivatives::Spm)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("model.levels[0].V") && err.contains("1 × 1"),
            "{err}"
        );
        let mut doc = small_run();
        doc.as_object_mut().unwrap().remove("Y");
        let err = read_dem_run(&doc, Derivatives::Spm)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`Y`") && err.contains("missing"), "{err}");
        let mut doc = small_run();
        doc["model"]["levels"][0]["g"] = json!("[x; x]");
        let err = read_dem_run(&doc, Derivatives::Spm)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("gives 2 values"), "{err}");
    }
}
