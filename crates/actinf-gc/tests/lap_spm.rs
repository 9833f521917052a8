//! Generalized filtering against SPM12's own runs of `spm_LAP`
//! (`tests/fixtures/spm12/dem_convolution_LAP.json`, a copy of the shared
//! SPM12 fixture):
//!
//! * `spm_LAP` with learning on the data of `DEM_demo_convolution_LAP.m`:
//!   four free parameters of the convolution model, learned online with
//!   the states (`E.nN = 32`; SPM stopped after 12 passes);
//! * `spm_LAP` on the `Dstep_only` data of the convolution demo, nothing
//!   learned (one pass).
//!
//! Everything the filter uses is read from the run's `model`, `Y` and
//! `U_prior_causes`; SPM's results are only compared with, each quantity
//! to 1e-6 of its largest magnitude.

mod common;

use std::sync::Arc;

use actinf_gc::hierarchical::{FnLevel, LevelFunctions};
use actinf_gc::lap::{GeneralizedFilter, LapResult, LapSettings};
use common::*;
use nalgebra::DMatrix;
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn settings_of(run: &Value) -> LapSettings {
    let e = &run["model"]["E"];
    let method = &e["method"];
    let flag = |name: &str| method[name].as_u64().unwrap_or(1) != 0;
    LapSettings {
        state_orders: e["n"].as_u64().unwrap() as usize + 1,
        cause_orders: e["d"].as_u64().unwrap() as usize + 1,
        iterations: e["nN"].as_u64().unwrap() as usize,
        smoothness: Some(e["s"].as_f64().unwrap()),
        precision_gradients: flag("h") || flag("g"),
        regularisation: e["v"].as_f64().unwrap_or(0.0),
    }
}

fn run_label(run: &Value) -> String {
    format!("{} seed {}", run["label"].as_str().unwrap(), run["seed"])
}

fn lap_run(label_part: &str) -> Value {
    let doc = fixture("dem_convolution_LAP.json");
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scheme"] == "spm_LAP" && r["label"].as_str().unwrap().contains(label_part))
        .unwrap()
        .clone()
}

fn filter(run: &Value, level: FnLevel) -> LapResult {
    let functions: Arc<dyn LevelFunctions> = Arc::new(level);
    let model = model_of(run, functions);
    let lap = GeneralizedFilter::new(model, settings_of(run)).unwrap();
    lap.run(&matrix(&run["Y"]), &matrix(&run["U_prior_causes"]))
        .unwrap()
}

/// Compares the fields both runs have; returns the worst gap.
fn compare_common(run: &Value, r: &LapResult) -> (f64, String) {
    let q = &run["qU"];
    let spm_f = numbers(&run["F"]);
    let spm_s = numbers(&run["free_action"]);
    let s_cov: Vec<f64> = q["S_cov_x"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| row_major(&matrix(m)))
        .collect();
    let c_cov: Vec<f64> = q["C_cov_v"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| row_major(&matrix(m)))
        .collect();
    let ours_s_cov: Vec<f64> = r.state_covariances.iter().flat_map(row_major).collect();
    let ours_c_cov: Vec<f64> = r.cause_covariances.iter().flat_map(row_major).collect();
    let fc = numbers(&run["FC_final_components"]);
    let our_fc = r.free_energy_terms.last().unwrap().to_array();
    let z = stack(&[&r.output_errors]);
    let spm_z = stack(&[&matrix(&q["z1"]), &matrix(&q["z2"])]);
    let gaps = [
        ("passes", (r.iterations as f64 - spm_f.len() as f64).abs()),
        (
            "qU.x",
            relative_gap(&row_major(&r.states), &row_major(&matrix(&q["x1"]))),
        ),
        (
            "qU.v",
            relative_gap(&row_major(&r.causes), &row_major(&matrix(&q["v2"]))),
        ),
        (
            "qU.v1",
            relative_gap(
                &row_major(&r.predicted_response),
                &row_major(&matrix(&q["v1_predicted_response"])),
            ),
        ),
        ("qU.z", relative_gap(&row_major(&z), &row_major(&spm_z))),
        (
            "qU.w",
            relative_gap(&row_major(&r.state_errors), &row_major(&matrix(&q["w1"]))),
        ),
        ("qU.S", relative_gap(&ours_s_cov, &s_cov)),
        ("qU.C", relative_gap(&ours_c_cov, &c_cov)),
        ("F", relative_gap(&r.free_energy, &spm_f)),
        ("S", relative_gap(&r.free_action, &spm_s)),
        ("FC", relative_gap(&our_fc, &fc)),
        (
            "FT",
            relative_gap(
                &r.instantaneous_free_energy,
                &numbers(&run["FT_instantaneous_F"]),
            ),
        ),
        (
            "qP.P",
            relative_gap(r.parameters.as_slice(), &pvec(&run["qP"]["P"])),
        ),
        (
            "qP.C",
            relative_gap(
                &row_major(&r.parameter_covariance),
                &row_major(&matrix(&run["qP"]["C"])),
            ),
        ),
    ];
    let mut worst: f64 = 0.0;
    let mut line = format!("{}: passes {} ", run_label(run), r.iterations);
    for (name, gap) in gaps {
        line += &format!("{name} {gap:.2e}  ");
        worst = worst.max(gap);
    }
    (worst, line)
}

fn stack(ms: &[&DMatrix<f64>]) -> DMatrix<f64> {
    let rows: usize = ms.iter().map(|m| m.nrows()).sum();
    let cols = ms[0].ncols();
    let mut out = DMatrix::zeros(rows, cols);
    let mut at = 0;
    for m in ms {
        out.view_mut((at, 0), m.shape()).copy_from(m);
        at += m.nrows();
    }
    out
}

#[test]
fn lap_learns_parameters_online_as_spm() {
    let run = lap_run("DEM_demo_convolution_LAP data");
    let r = filter(&run, vector_parameter_level());
    let (mut worst, mut line) = compare_common(&run, &r);
    // SPM's per-sample parameter modes (reduced: the free parameters 2, 4,
    // 5 and 9, in that order), and the passes' free-energy terms.
    let free: Vec<usize> = numbers(&run["free_param_index_1based"])
        .iter()
        .map(|&i| i as usize - 1)
        .collect();
    let spm_trace: Vec<f64> = run["qP_p_per_t"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let ours_trace: Vec<f64> = (0..r.parameter_trace.ncols())
        .flat_map(|t| free.iter().map(move |&i| (i, t)))
        .map(|(i, t)| r.parameter_trace[(i, t)])
        .collect();
    let cc: Vec<f64> = run["CC_components_per_iteration"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let ours_cc: Vec<f64> = r
        .free_energy_terms
        .iter()
        .flat_map(|t| t.to_array())
        .collect();
    let q = &run["qU"];
    let extra = [
        ("qP.p(t)", relative_gap(&ours_trace, &spm_trace)),
        ("CC", relative_gap(&ours_cc, &cc)),
        (
            "qU.W",
            relative_gap(
                &row_major(&r.weighted_state_errors),
                &row_major(&matrix(&q["W1_precision_weighted_state_error"])),
            ),
        ),
        (
            "qU.Z",
            relative_gap(
                &row_major(&r.weighted_output_errors.rows(0, 4).into_owned()),
                &row_major(&matrix(&q["Z1_precision_weighted_obs_error"])),
            ),
        ),
    ];
    for (name, gap) in extra {
        line += &format!("{name} {gap:.2e}  ");
        worst = worst.max(gap);
    }
    println!("{line}");
    println!(
        "learned free parameters {:?} (SPM {:?})",
        free.iter().map(|&i| r.parameters[i]).collect::<Vec<_>>(),
        numbers(&run["qP_free"])
    );
    assert!(worst < TOLERANCE, "worst relative gap {worst:.2e}");
}

#[test]
fn lap_without_learning_reproduces_spm() {
    let run = lap_run("no learning");
    let r = filter(&run, common::convolution_level());
    let (worst, line) = compare_common(&run, &r);
    println!("{line}");
    assert!(worst < TOLERANCE, "worst relative gap {worst:.2e}");
}

/// `spm_LAP` on the `DEM_triple` data and model of `dem_convolution.json`
/// (seed 1): two free parameters and the log-precisions of the output
/// errors (`h`) and of the state noise (`g`) learned online. Made with
/// `tests/fixtures/spm12/octave/lap_triple.m` (SPM12 r7771 under Octave
/// 7.3, with the `fcnchk` stand-in beside it); SPM stopped after 16
/// passes, so the states and averaged estimates are those of pass 15.
#[test]
fn lap_learns_parameters_and_log_precisions_as_spm() {
    let run = fixture("dem_convolution_LAP_triple.json")["runs"][0].clone();
    let r = filter(&run, common::convolution_level());
    let (mut worst, mut line) = compare_common(&run, &r);
    let spm_p: Vec<f64> = run["qP_p_per_t"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let ours_p: Vec<f64> = (0..r.parameter_trace.ncols())
        .flat_map(|t| [1, 4].map(|i| r.parameter_trace[(i, t)]))
        .collect();
    let spm_h: Vec<f64> = run["qH_p_per_t"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let ours_h = row_major(&r.log_precision_trace.transpose());
    let qh = [
        run["qH"]["h"][0][0].as_f64().unwrap(),
        run["qH"]["g"][0][0].as_f64().unwrap(),
    ];
    let ours_qh = [r.output_log_precisions[0], r.state_log_precisions[0]];
    let cc: Vec<f64> = run["CC_components_per_iteration"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let ours_cc: Vec<f64> = r
        .free_energy_terms
        .iter()
        .flat_map(|t| t.to_array())
        .collect();
    let extra = [
        ("qP.p(t)", relative_gap(&ours_p, &spm_p)),
        ("qH.p(t)", relative_gap(&ours_h, &spm_h)),
        ("qH.h,g", relative_gap(&ours_qh, &qh)),
        (
            "qH.C",
            relative_gap(
                &row_major(&r.log_precision_covariance),
                &row_major(&matrix(&run["qH"]["C"])),
            ),
        ),
        ("CC", relative_gap(&ours_cc, &cc)),
    ];
    for (name, gap) in extra {
        line += &format!("{name} {gap:.2e}  ");
        worst = worst.max(gap);
    }
    println!("{line}");
    println!("log-precisions h, g: {ours_qh:?} (SPM {qh:?})");
    assert!(worst < TOLERANCE, "worst relative gap {worst:.2e}");
}

/// `spm_LAP` on a nonlinear two-level hierarchy built for this test
/// (`tests/fixtures/spm12/lap_hierarchy.json`, made with
/// `octave/lap_hierarchy.m`): hidden states at both levels, `tanh`, `sin`,
/// `exp` and a square in `f` and `g`, two free parameters at level 1, a
/// learned output log-precision at level 1 and a learned state
/// log-precision at level 2. SPM rejected passes 13 and 15 (F fell) and ran
/// out of passes at 16, so the last pass is returned.
#[test]
fn lap_reproduces_spm_on_a_nonlinear_hierarchy() {
    use actinf_gc::hierarchical::{CauseLevel, HierarchicalModel, Level, LogPrecisionPrior};
    use nalgebra::DVector;

    let run = fixture("lap_hierarchy.json")["runs"][0].clone();
    let lv = &run["model"]["levels"];
    let prior = |mean: &Value, cov: &Value| {
        let mean = vector(mean);
        let covariance = if mean.is_empty() {
            DMatrix::zeros(0, 0)
        } else {
            matrix(cov)
        };
        LogPrecisionPrior { mean, covariance }
    };
    let comps =
        |v: &Value| -> Vec<DMatrix<f64>> { v.as_array().unwrap().iter().map(matrix).collect() };
    let level = |i: usize, functions: FnLevel, causes: usize| {
        let l = &lv[i];
        let np = l["pE_vec"].as_array().unwrap().len();
        Level {
            functions: Arc::new(functions),
            outputs: l["l"].as_u64().unwrap() as usize,
            states: l["n"].as_u64().unwrap() as usize,
            causes,
            x0: vector(&l["x0"]),
            v0: vector(&lv[i + 1]["v0"]),
            parameter_mean: vector(&l["pE_vec"]),
            parameter_covariance: if np == 0 {
                DMatrix::zeros(0, 0)
            } else {
                matrix(&l["pC"])
            },
            output_precision: matrix(&l["V"]),
            state_precision: matrix(&l["W"]),
            output_components: comps(&l["Q"]),
            state_components: comps(&l["R"]),
            output_log_precision: prior(&l["hE"], &l["hC"]),
            state_log_precision: prior(&l["gE"], &l["gC"]),
            state_prior_precision: matrix(&l["xP"]),
            output_smoothness: l["sv"].as_f64().unwrap(),
            state_smoothness: l["sw"].as_f64().unwrap(),
        }
    };
    // f and g as lap_hierarchy.m gives them to SPM.
    let first = FnLevel::new(
        2,
        3,
        |x, v, p| {
            DVector::from_vec(vec![
                p[0] * x[0] + x[1].tanh() + v[0],
                p[1] * x[1] - x[0] / 4.0,
            ])
        },
        |x, _v, _p| {
            DVector::from_vec(vec![
                x[0] + x[1] * x[1] / 4.0,
                (x[1] / 4.0).exp(),
                x[0] - x[1],
            ])
        },
    );
    let second = FnLevel::new(
        1,
        1,
        |x, v, _p| DVector::from_vec(vec![-x[0] / 2.0 + v[0]]),
        |x, v, _p| DVector::from_vec(vec![x[0].sin() + v[0] / 4.0]),
    );
    let model = HierarchicalModel {
        levels: vec![level(0, first, 1), level(1, second, 1)],
        top: CauseLevel {
            causes: 1,
            precision: matrix(&lv[2]["V"]),
            components: Vec::new(),
            log_precision: LogPrecisionPrior::none(),
            smoothness: lv[2]["sv"].as_f64().unwrap(),
        },
    };
    let lap = GeneralizedFilter::new(model, settings_of(&run)).unwrap();
    let r = lap
        .run(&matrix(&run["Y"]), &matrix(&run["U_prior_causes"]))
        .unwrap();

    let q = &run["qU"];
    let spm_states = stack(&[&matrix(&q["x1"]), &matrix(&q["x2"])]);
    let spm_causes = stack(&[&matrix(&q["v2"]), &matrix(&q["v3"])]);
    let spm_p: Vec<f64> = run["qP_p_per_t"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    // Both parameters are free with equal prior variances: the reduced
    // coordinates are the deviations from the prior mean, in order.
    let ours_p: Vec<f64> = (0..r.parameter_trace.ncols())
        .flat_map(|t| [0, 1].map(|i| r.parameter_trace[(i, t)] - [-0.5, -0.25][i]))
        .collect();
    let spm_h: Vec<f64> = run["qH_p_per_t"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let ours_h = row_major(&r.log_precision_trace.transpose());
    let ours_hg = [r.output_log_precisions[0], r.state_log_precisions[0]];
    let gaps = [
        ("passes", (r.iterations as f64 - 16.0).abs()),
        (
            "qU.x",
            relative_gap(&row_major(&r.states), &row_major(&spm_states)),
        ),
        (
            "qU.v",
            relative_gap(&row_major(&r.causes), &row_major(&spm_causes)),
        ),
        ("F", relative_gap(&r.free_energy, &numbers(&run["F"]))),
        (
            "S",
            relative_gap(&r.free_action, &numbers(&run["free_action"])),
        ),
        (
            "qP.P",
            relative_gap(r.parameters.as_slice(), &numbers(&run["qP"]["P"])),
        ),
        (
            "qP.C",
            relative_gap(
                &row_major(&r.parameter_covariance),
                &row_major(&matrix(&run["qP"]["C"])),
            ),
        ),
        ("qH", relative_gap(&ours_hg, &numbers(&run["qH"]["hg"]))),
        (
            "qH.C",
            relative_gap(
                &row_major(&r.log_precision_covariance),
                &row_major(&matrix(&run["qH"]["C"])),
            ),
        ),
        ("qP.p(t)", relative_gap(&ours_p, &spm_p)),
        ("qH.p(t)", relative_gap(&ours_h, &spm_h)),
    ];
    let mut worst: f64 = 0.0;
    let mut line = format!("{}: ", run_label(&run));
    for (name, gap) in gaps {
        line += &format!("{name} {gap:.2e}  ");
        worst = worst.max(gap);
    }
    println!("{line}");
    assert!(worst < TOLERANCE, "worst relative gap {worst:.2e}");
}
