//! `actinf gc run SPEC.json`, `actinf demo gc convolution` and
//! `actinf demo gc lorenz`: models in generalized coordinates, inverted by
//! the D-step.

use std::ops::Range;

use anyhow::{bail, Context, Result};
use nalgebra::{DMatrix, DVector};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::arrays::{de_number, de_opt_rows, de_rows, mark_non_finite};
use actinf_gc::dstep::{DStep, DStepSettings, DStepTrace};
use actinf_gc::model::LinearModel;
use actinf_gc::nonlinear::{NonlinearDStep, NonlinearSettings, NonlinearTrace};
use actinf_gc::simulate::{simulate_linear, Simulation};
use actinf_gc::systems::{lorenz_model, simulate_lorenz, LORENZ_TRUE_START, LORENZ_WRONG_START};

/// A linear model and its data, as written in a spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "A", deserialize_with = "de_rows")]
    a: Vec<Vec<f64>>,
    #[serde(rename = "B", default, deserialize_with = "de_opt_rows")]
    b: Option<Vec<Vec<f64>>>,
    #[serde(rename = "C", deserialize_with = "de_rows")]
    c: Vec<Vec<f64>>,
    #[serde(rename = "D", default, deserialize_with = "de_opt_rows")]
    d: Option<Vec<Vec<f64>>>,
    #[serde(rename = "Pi_z", deserialize_with = "de_rows")]
    pi_z: Vec<Vec<f64>>,
    #[serde(rename = "Pi_w", deserialize_with = "de_rows")]
    pi_w: Vec<Vec<f64>>,
    /// Prior precision of inferred causes; absent: the causes are known inputs.
    #[serde(rename = "Pi_v", default, deserialize_with = "de_opt_rows")]
    pi_v: Option<Vec<Vec<f64>>>,
    /// Smoothness of the noise.
    #[serde(default = "default_s", deserialize_with = "de_number")]
    s: f64,
    /// Embedding order (number of generalized coordinates).
    #[serde(default = "default_n")]
    n: usize,
    /// Sampling interval.
    #[serde(default = "default_dt", deserialize_with = "de_number")]
    dt: f64,
    /// Data, one row per channel.
    #[serde(deserialize_with = "de_rows")]
    y: Vec<Vec<f64>>,
    /// Causes (known inputs, or the prior means of inferred causes), one row per cause.
    #[serde(default, deserialize_with = "de_opt_rows")]
    v: Option<Vec<Vec<f64>>>,
}

fn default_s() -> f64 {
    actinf_gc::precision::DEFAULT_SMOOTHNESS
}

fn default_n() -> usize {
    actinf_gc::precision::DEFAULT_ORDER
}

fn default_dt() -> f64 {
    1.0
}

fn matrix(rows: &[Vec<f64>], name: &str, ncols_if_empty: usize) -> Result<DMatrix<f64>> {
    if rows.is_empty() {
        return Ok(DMatrix::zeros(0, ncols_if_empty));
    }
    let c = rows[0].len();
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != c) {
        bail!("{name}: row {i} has {} entries, row 0 has {c}", r.len());
    }
    for (i, r) in rows.iter().enumerate() {
        if let Some(j) = r.iter().position(|x| !x.is_finite()) {
            bail!("{name}[{i}][{j}] is {}: expected a finite number", r[j]);
        }
    }
    Ok(DMatrix::from_fn(rows.len(), c, |i, j| rows[i][j]))
}

impl Spec {
    /// Parse a spec file.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(&mark_non_finite(text)).context("the spec is not valid")
    }

    /// Build the model, run the D-step and return the trace.
    pub fn run(&self) -> Result<(LinearModel, DStepTrace)> {
        for (name, x) in [("s", self.s), ("dt", self.dt)] {
            if !x.is_finite() {
                bail!("{name} is {x}: expected a finite positive number");
            }
        }
        let a = matrix(&self.a, "A", 0)?;
        let nx = a.nrows();
        let b = match &self.b {
            Some(b) => matrix(b, "B", 0)?,
            None => DMatrix::zeros(nx, 0),
        };
        let nv = b.ncols();
        let c = matrix(&self.c, "C", nx)?;
        let d = match &self.d {
            Some(d) => matrix(d, "D", nv)?,
            None => DMatrix::zeros(c.nrows(), nv),
        };
        let mut model = LinearModel::new(
            a,
            b,
            c,
            d,
            matrix(&self.pi_z, "Pi_z", 0)?,
            matrix(&self.pi_w, "Pi_w", 0)?,
        )?
        .with_smoothness(self.s)?
        .with_order(self.n)?;
        if let Some(pv) = &self.pi_v {
            model = model.with_cause_prior(matrix(pv, "Pi_v", 0)?)?;
        }
        let y = matrix(&self.y, "y", 0)?;
        let v = match &self.v {
            Some(v) => matrix(v, "v", y.ncols())?,
            None => DMatrix::zeros(nv, y.ncols()),
        };
        let settings = DStepSettings {
            dt: self.dt,
            ..DStepSettings::default()
        };
        let trace = DStep::new(&model, settings)?.run(&y, &v)?;
        Ok((model, trace))
    }
}

fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| m.row(i).iter().copied().collect())
        .collect()
}

/// The JSON report of a D-step pass.
pub fn report(trace: &DStepTrace) -> Value {
    let sd = |c: &DMatrix<f64>| -> Vec<f64> {
        (0..c.nrows()).map(|i| c[(i, i)].max(0.0).sqrt()).collect()
    };
    json!({
        "x": rows(&trace.x),
        "v": rows(&trace.v),
        "x_sd": sd(&trace.x_covariance),
        "v_sd": sd(&trace.v_covariance),
        "free_energy": trace.free_energy,
        "total_free_energy": trace.total_free_energy(),
    })
}

/// SPM's linear convolution model (`DEM_demo_convolution`): two hidden
/// states, one known cause (a Gaussian bump), four data channels.
pub fn convolution_model(order: usize, s: f64) -> Result<LinearModel> {
    let a = DMatrix::from_row_slice(2, 2, &[-0.25, 1.0, -0.5, -0.25]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.0]);
    let c = DMatrix::from_row_slice(
        4,
        2,
        &[
            0.125,
            0.16332037060954707,
            0.125,
            0.06764951251827464,
            0.125,
            -0.06764951251827463,
            0.125,
            -0.16332037060954707,
        ],
    );
    Ok(LinearModel::new(
        a,
        b,
        c,
        DMatrix::zeros(4, 1),
        DMatrix::identity(4, 4) * 64.0,
        DMatrix::identity(2, 2) * 4.0,
    )?
    .with_smoothness(s)?
    .with_order(order)?)
}

/// Simulate the convolution model and invert it: the demo's data and result.
pub fn convolution_demo(
    order: usize,
    seed: u64,
    samples: usize,
) -> Result<(Simulation, DStepTrace)> {
    let model = convolution_model(order, 1.0)?;
    let bump = |t: f64| DVector::from_element(1, (-(t - 12.0).powi(2) / 4.0).exp());
    let sim = simulate_linear(&model, &bump, samples, 1.0, 40, seed)?;
    let trace = DStep::new(&model, DStepSettings::default())?.run(&sim.y, &sim.v)?;
    Ok((sim, trace))
}

/// SPM's Lorenz attractor (`DEM_demo_Lorenz`,
/// [`actinf_gc::systems`]) tracked from a wrong initial state: `samples`
/// samples simulated from the true start `[0.9, 0.8, 30]` with observation
/// noise of sd 1 (the model's `Πz = 1`) drawn with `seed`, inverted by the
/// nonlinear D-step at embedding order `order` from `[1, 1, 16]`.
pub fn lorenz_demo(
    order: usize,
    seed: u64,
    samples: usize,
) -> Result<(Simulation, NonlinearTrace)> {
    let model = lorenz_model()?.with_order(order)?;
    let sim = simulate_lorenz(LORENZ_TRUE_START, samples, 1.0, seed)?;
    let mut d = NonlinearDStep::new(&model, NonlinearSettings::default())?;
    let mut mu = vec![0.0; 3 * order];
    mu[..3].copy_from_slice(&LORENZ_WRONG_START);
    d.set_state(&mu)?;
    let trace = d.run(&sim.y, &sim.v)?;
    Ok((sim, trace))
}

/// A spec file (for `actinf gc run`) holding the convolution model and a
/// simulated data set.
pub fn convolution_spec(order: usize, sim: &Simulation, seed: u64) -> Result<Value> {
    let m = convolution_model(order, 1.0)?;
    Ok(json!({
        "description": format!("SPM's linear convolution model (DEM_demo_convolution) with smooth noise (s = 1, Πz = 64 I, Πw = 4 I), a known Gaussian input bump, {} samples simulated with seed {seed} by `actinf demo gc convolution`.", sim.y.ncols()),
        "A": rows(m.a()), "B": rows(m.b()), "C": rows(m.c()), "D": rows(m.d()),
        "Pi_z": rows(m.pi_z()), "Pi_w": rows(m.pi_w()),
        "s": m.smoothness(), "n": m.order(), "dt": 1.0,
        "y": rows(&sim.y), "v": rows(&sim.v),
    }))
}

/// The reaching demo: a damped point mass that starts at `start` and an
/// agent whose model pulls it to `set_point`, acting by descending free
/// energy for `steps` steps of 0.1 s.
pub fn active_demo(
    start: f64,
    set_point: f64,
    steps: usize,
) -> Result<actinf_gc::action::ActiveTrace> {
    let settings = actinf_gc::action::ActiveSettings {
        dstep: DStepSettings {
            dt: 0.1,
            ..DStepSettings::default()
        },
        steps,
        ..actinf_gc::action::ActiveSettings::default()
    };
    Ok(actinf_gc::action::run_active_agent(
        &actinf_gc::systems::point_mass(),
        &actinf_gc::systems::set_point_model(0.5, 1.0)?,
        &[start, 0.0],
        &[set_point],
        &settings,
    )?)
}

/// Root-mean-square error of the state estimate against the truth.
pub fn state_rmse(sim: &Simulation, trace: &DStepTrace) -> f64 {
    rmse(&sim.x, &trace.x, 0..sim.x.ncols())
}

/// Root-mean-square error of `estimate` against `truth` over all rows of the
/// columns `columns` (NaN for an empty range).
pub fn rmse(truth: &DMatrix<f64>, estimate: &DMatrix<f64>, columns: Range<usize>) -> f64 {
    let count = (columns.len() * truth.nrows()) as f64;
    let sse: f64 = columns
        .map(|t| (truth.column(t) - estimate.column(t)).norm_squared())
        .sum();
    (sse / count).sqrt()
}
