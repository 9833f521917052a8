//! DEM (D-, E- and M-steps) against SPM12's own runs of `spm_DEM`:
//!
//! * on its linear convolution demo (`tests/fixtures/spm12/dem_convolution.json`,
//!   a copy of the shared SPM12 fixture): a pure D-step (`Dstep_only`),
//!   triple estimation with two free parameters and two learned
//!   log-precisions (`DEM_triple`, 16 iterations), and the same data with
//!   learning off (`DEM_triple_fixed`), each for two seeds;
//! * on the data of `DEM_demo_convolution_LAP.m` with four free parameters
//!   (`dem_convolution_LAP.json`, its `spm_DEM` run: 32 iterations allowed,
//!   12 done).
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

mod common;

use std::sync::Arc;

use actinf_gc::dem::{Dem, DemSettings};
use actinf_gc::hierarchical::{FnLevel, LevelFunctions};
use common::*;
use serde_json::Value;

fn settings_of(run: &Value) -> DemSettings {
    let e = &run["model"]["E"];
    DemSettings {
        state_orders: e["n"].as_u64().unwrap() as usize + 1,
        cause_orders: e["d"].as_u64().unwrap() as usize + 1,
        iterations: e["nE"].as_u64().unwrap() as usize,
        m_iterations: e["nM"].as_u64().unwrap() as usize,
        linear: e["linear"].as_u64().unwrap() == 1,
        static_iterations: 1,
    }
}

/// Runs DEM on a fixture run and returns the worst relative gap to SPM.
fn check(run: &Value, level: FnLevel) -> f64 {
    let label = format!("{} seed {}", run["label"].as_str().unwrap(), run["seed"]);
    let functions: Arc<dyn LevelFunctions> = Arc::new(level);
    let dem = Dem::new(model_of(run, functions), settings_of(run)).unwrap();
    let y = matrix(&run["Y"]);
    let eta = matrix(&run["U_prior_causes"]);
    let result = dem.run(&y, &eta).unwrap();

    let spm_x = matrix(&run["qU"]["x1"]);
    let spm_v = matrix(&run["qU"]["v2"]);
    let spm_f = numbers(&run["F"]);
    let mut worst: f64 = 0.0;
    let gaps = [
        (
            "iterations",
            (result.iterations as f64 - spm_f.len() as f64).abs(),
        ),
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
        (
            "qP.C",
            relative_gap(
                &row_major(&result.parameter_covariance),
                &row_major(&matrix(&run["qP"]["C"])),
            ),
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
    worst
}

#[test]
fn dem_reproduces_spm_on_every_convolution_run() {
    let doc = fixture("dem_convolution.json");
    let mut worst: f64 = 0.0;
    for run in doc["runs"].as_array().unwrap() {
        worst = worst.max(check(run, convolution_level()));
    }
    println!("worst relative gap {worst:.2e}");
    assert!(worst < 1e-10, "worst relative gap {worst:.2e}");
}

#[test]
fn dem_reproduces_spm_on_the_lap_demo_data() {
    let doc = fixture("dem_convolution_LAP.json");
    let run = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scheme"] == "spm_DEM")
        .unwrap();
    // f and g in the demo's vector-parameter form (the same functions).
    let worst = check(run, vector_parameter_level());
    println!("worst relative gap {worst:.2e}");
    assert!(worst < 1e-10, "worst relative gap {worst:.2e}");
}
