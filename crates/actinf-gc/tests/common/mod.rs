//! Reading SPM12's DEM/LAP fixtures (`tests/fixtures/spm12/*.json`, copies
//! of the shared SPM12 reference runs) into a [`HierarchicalModel`], and
//! comparing results with them.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use actinf_gc::hierarchical::{
    CauseLevel, FnLevel, HierarchicalModel, Level, LevelFunctions, LogPrecisionPrior,
};
use nalgebra::{DMatrix, DVector};
use serde_json::Value;

/// A fixture file of `tests/fixtures/spm12`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spm12")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A matrix given as a list of rows (a list of numbers is a column, a
/// number a 1 × 1 matrix).
pub fn matrix(v: &Value) -> DMatrix<f64> {
    if let Some(x) = v.as_f64() {
        return DMatrix::from_element(1, 1, x);
    }
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r {
            Value::Array(r) => r.iter().map(|x| x.as_f64().unwrap()).collect(),
            x => vec![x.as_f64().unwrap()],
        })
        .collect();
    let ncols = rows.first().map_or(0, |r| r.len());
    DMatrix::from_fn(rows.len(), ncols, |i, j| rows[i][j])
}

/// A vector given as a list of numbers (or of one-element rows).
pub fn vector(v: &Value) -> DVector<f64> {
    let m = matrix(v);
    DVector::from_column_slice(m.transpose().as_slice())
}

/// A number or a list of numbers, as a list.
pub fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().map(|v| v.as_f64().unwrap()).collect(),
        v => vec![v.as_f64().unwrap()],
    }
}

fn components(v: &Value) -> Vec<DMatrix<f64>> {
    v.as_array().unwrap().iter().map(matrix).collect()
}

fn prior(mean: &Value, cov: &Value) -> LogPrecisionPrior {
    let mean = vector(mean);
    let k = mean.len();
    let covariance = if k == 0 {
        DMatrix::zeros(0, 0)
    } else {
        matrix(cov)
    };
    LogPrecisionPrior { mean, covariance }
}

/// The convolution model's f and g over `θ = [vec(P.f); vec(P.g); vec(P.h)]`
/// (`P.f*x + P.h*v`, `P.g*x`).
pub fn convolution_level() -> FnLevel {
    FnLevel::new(
        2,
        4,
        |x, v, p| {
            let pf = DMatrix::from_column_slice(2, 2, &p[0..4]);
            let ph = DVector::from_column_slice(&p[12..14]);
            pf * DVector::from_column_slice(x) + ph * v[0]
        },
        |x, _v, p| {
            let pg = DMatrix::from_column_slice(4, 2, &p[4..12]);
            pg * DVector::from_column_slice(x)
        },
    )
}

/// The same model in the vector-parameter form of
/// `DEM_demo_convolution_LAP.m`:
/// `f = [P(1)x(1)+P(3)x(2)+P(13)v; P(2)x(1)+P(4)x(2)+P(14)v]`,
/// `g = [P(5)x(1)+P(9)x(2); P(6)x(1)+P(10)x(2); P(7)x(1)+P(11)x(2); P(8)x(1)+P(12)x(2)]`.
pub fn vector_parameter_level() -> FnLevel {
    FnLevel::new(
        2,
        4,
        |x, v, p| {
            DVector::from_vec(vec![
                p[0] * x[0] + p[2] * x[1] + p[12] * v[0],
                p[1] * x[0] + p[3] * x[1] + p[13] * v[0],
            ])
        },
        |x, _v, p| {
            DVector::from_vec(vec![
                p[4] * x[0] + p[8] * x[1],
                p[5] * x[0] + p[9] * x[1],
                p[6] * x[0] + p[10] * x[1],
                p[7] * x[0] + p[11] * x[1],
            ])
        },
    )
}

/// The two-level model of a fixture run (one level with f and g, the prior
/// on the cause), with the given level functions.
pub fn model_of(run: &Value, functions: Arc<dyn LevelFunctions>) -> HierarchicalModel {
    let m = &run["model"];
    let l1 = &m["levels"][0];
    let l2 = &m["levels"][1];
    let level = Level {
        functions,
        outputs: l1["l"].as_u64().unwrap() as usize,
        states: l1["n"].as_u64().unwrap() as usize,
        causes: l1["m"].as_u64().unwrap() as usize,
        x0: vector(&l1["x0"]),
        v0: vector(&l2["v0"]),
        parameter_mean: vector(&l1["pE_vec"]),
        parameter_covariance: matrix(&l1["pC"]),
        output_precision: matrix(&l1["V"]),
        state_precision: matrix(&l1["W"]),
        output_components: components(&l1["Q"]),
        state_components: components(&l1["R"]),
        output_log_precision: prior(&l1["hE"], &l1["hC"]),
        state_log_precision: prior(&l1["gE"], &l1["gC"]),
        state_prior_precision: matrix(&l1["xP"]),
        output_smoothness: l1["sv"].as_f64().unwrap(),
        state_smoothness: l1["sw"].as_f64().unwrap(),
    };
    let top = CauseLevel {
        causes: l2["l"].as_u64().unwrap() as usize,
        precision: matrix(&l2["V"]),
        components: components(&l2["Q"]),
        log_precision: prior(&l2["hE"], &l2["hC"]),
        smoothness: l2["sv"].as_f64().unwrap(),
    };
    HierarchicalModel {
        levels: vec![level],
        top,
    }
}

/// `max|a − b| / max|b|`.
pub fn relative_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let gap = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    gap / scale.max(f64::MIN_POSITIVE)
}

/// A matrix's entries, row by row.
pub fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

/// `spm_vec(qP.P)` of the convolution model: a list of 14 one-element rows,
/// or the struct `{f, g, h}` (each column-major).
pub fn pvec(p: &Value) -> Vec<f64> {
    if p.is_array() {
        return vector(p).as_slice().to_vec();
    }
    let mut out = Vec::new();
    for name in ["f", "g", "h"] {
        let m = matrix(&p[name]);
        out.extend(m.as_slice().iter().copied());
    }
    out
}
