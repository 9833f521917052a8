//! DEM (D-, E- and M-steps) against SPM12's own runs of `spm_DEM` on its
//! linear convolution demo (`tests/fixtures/spm12/dem_convolution.json`, a
//! copy of the shared SPM12 fixture): a pure D-step (`Dstep_only`), triple
//! estimation with two free parameters and two learned log-precisions
//! (`DEM_triple`, 16 iterations), and the same data with learning off
//! (`DEM_triple_fixed`), each for two seeds.
//!
//! The model (`spm_DEM_M('convolution model')`) is
//!
//! ```text
//! y = P.g x + z,   ẋ = P.f x + P.h v + w,   v = η + z₂
//! ```
//!
//! with `θ = spm_vec(P) = [vec(P.f); vec(P.g); vec(P.h)]` (column-major), 4
//! outputs, 2 states, 1 cause, `E.n = 6` (7 orders), `E.d = 2` (3 orders),
//! `s = 1/2`. Everything the inversion uses is read from the fixture's
//! `model`, `Y` and `U_prior_causes`; SPM's results (`qU`, `F`, `qP`, `qH`)
//! are only compared with.

use std::path::Path;
use std::sync::Arc;

use actinf_gc::dem::{Dem, DemSettings};
use actinf_gc::hierarchical::{CauseLevel, FnLevel, HierarchicalModel, Level, LogPrecisionPrior};
use nalgebra::{DMatrix, DVector};
use serde_json::Value;

fn fixture() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spm12/dem_convolution.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn matrix(v: &Value) -> DMatrix<f64> {
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

fn vector(v: &Value) -> DVector<f64> {
    DVector::from_iterator(
        v.as_array().unwrap().len(),
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()),
    )
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

/// The convolution model's f and g over `θ = [vec(P.f); vec(P.g); vec(P.h)]`.
fn convolution_level() -> FnLevel {
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

fn model_of(run: &Value) -> (HierarchicalModel, DemSettings) {
    let m = &run["model"];
    let e = &m["E"];
    let l1 = &m["levels"][0];
    let l2 = &m["levels"][1];
    let level = Level {
        functions: Arc::new(convolution_level()),
        outputs: 4,
        states: 2,
        causes: 1,
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
        causes: 1,
        precision: matrix(&l2["V"]),
        components: components(&l2["Q"]),
        log_precision: prior(&l2["hE"], &l2["hC"]),
        smoothness: l2["sv"].as_f64().unwrap(),
    };
    let settings = DemSettings {
        state_orders: e["n"].as_u64().unwrap() as usize + 1,
        cause_orders: e["d"].as_u64().unwrap() as usize + 1,
        iterations: e["nE"].as_u64().unwrap() as usize,
        m_iterations: e["nM"].as_u64().unwrap() as usize,
        linear: e["linear"].as_u64().unwrap() == 1,
    };
    (
        HierarchicalModel {
            levels: vec![level],
            top,
        },
        settings,
    )
}

/// `max|a − b| / max|b|`.
fn relative_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let gap = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    gap / scale.max(f64::MIN_POSITIVE)
}

fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

#[test]
fn dem_reproduces_spm_on_every_convolution_run() {
    let doc = fixture();
    let mut worst: f64 = 0.0;
    for run in doc["runs"].as_array().unwrap() {
        let label = format!("{} seed {}", run["label"].as_str().unwrap(), run["seed"]);
        let (model, settings) = model_of(run);
        let dem = Dem::new(model, settings).unwrap();
        let y = matrix(&run["Y"]);
        let eta = matrix(&run["U_prior_causes"]);
        let result = dem.run(&y, &eta).unwrap();

        let spm_x = matrix(&run["qU"]["x1"]);
        let spm_v = matrix(&run["qU"]["v2"]);
        let spm_f: Vec<f64> = match &run["F"] {
            Value::Array(a) => a.iter().map(|v| v.as_f64().unwrap()).collect(),
            v => vec![v.as_f64().unwrap()],
        };
        let gaps = [
            (
                "qU.x",
                relative_gap(&row_major(&result.states), &row_major(&spm_x)),
            ),
            (
                "qU.v",
                relative_gap(&row_major(&result.causes), &row_major(&spm_v)),
            ),
            ("F", relative_gap(&result.free_energy, &spm_f)),
            (
                "qP.P",
                relative_gap(result.parameters.as_slice(), &pvec(&run["qP"]["P"])),
            ),
        ];
        let mut line = format!("{label}: iterations {} ", result.iterations);
        for (name, gap) in gaps {
            line += &format!("{name} {gap:.2e}  ");
            worst = worst.max(gap);
        }
        let h = run["qH"]["h"][0].as_array().unwrap();
        if !h.is_empty() {
            let spm_h = [
                h[0].as_f64().unwrap(),
                run["qH"]["g"][0][0].as_f64().unwrap(),
            ];
            let ours = [
                result.output_log_precisions[0],
                result.state_log_precisions[0],
            ];
            let gap = relative_gap(&ours, &spm_h);
            line += &format!(
                "qH {gap:.2e} ({:.6} {:.6} vs {:.6} {:.6})",
                ours[0], ours[1], spm_h[0], spm_h[1]
            );
            worst = worst.max(gap);
        }
        println!("{line}");
    }
    println!("worst relative gap {worst:.2e}");
    assert!(worst < 1e-6, "worst relative gap {worst:.2e}");
}

/// `spm_vec(qP.P)` of the convolution model: f, g, h, each column-major.
fn pvec(p: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    for name in ["f", "g", "h"] {
        let m = matrix(&p[name]);
        out.extend(m.as_slice().iter().copied());
    }
    out
}
