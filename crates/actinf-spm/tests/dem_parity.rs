//! Every `spm_DEM` and `spm_LAP` run of SPM12's fixtures (`../shared/fixtures/spm12`),
//! read from its SPM description (f and g as MATLAB text), inverted and
//! compared with SPM's own results: states `qU.x`, causes `qU.v`, the free
//! energy trace `F`, the parameters `qP.P` and log-precisions `qH`, each as
//! `max|ours − SPM| / max|SPM|`. Skipped, with a message, when `../shared`
//! is absent.

use std::path::PathBuf;

use actinf_spm::dem::{
    read_dem_run, run_dem, run_lap, write_dem_results, write_lap_results, Derivatives,
};
use serde_json::Value;

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/spm12");
    dir.is_dir().then_some(dir)
}

fn flat(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        Value::Array(a) => a.iter().for_each(|e| flat(e, out)),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.into_iter().for_each(|k| flat(&m[k], out));
        }
        _ => {}
    }
}

fn gap(ours: &Value, spm: &Value) -> f64 {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flat(ours, &mut a);
    flat(spm, &mut b);
    assert_eq!(a.len(), b.len(), "field sizes differ");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    if scale == 0.0 {
        worst
    } else {
        worst / scale
    }
}

const RESULTS: [&str; 5] = ["qU", "F", "free_action", "qP", "qH"];

#[test]
fn spm_dem_runs_reproduce() {
    let Some(dir) = fixtures() else {
        println!("skipped: ../shared/fixtures/spm12 is absent");
        return;
    };
    let mut worst: f64 = 0.0;
    let mut runs = 0;
    for file in [
        "dem_convolution.json",
        "dem_convolution_LAP.json",
        "dem_lorenz.json",
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        for reference in doc["runs"].as_array().unwrap() {
            let mut stripped = reference.clone();
            for key in RESULTS {
                stripped.as_object_mut().unwrap().remove(key);
            }
            let run = read_dem_run(&stripped, Derivatives::Spm).unwrap();
            if reference["scheme"] == "spm_LAP" {
                let result = run_lap(&run).unwrap();
                write_lap_results(&mut stripped, &run, &result).unwrap();
            } else {
                let result = run_dem(&run).unwrap();
                write_dem_results(&mut stripped, &run, &result).unwrap();
            }
            let mut line = format!("{file} {} seed {}:", reference["label"], reference["seed"]);
            let lorenz = file == "dem_lorenz.json";
            for path in [
                &["qU", "x1"][..],
                &["qU", "v2"],
                &["F"],
                &["qP", "P"],
                &["qH", "h"],
                &["qH", "g"],
            ] {
                let pick = |d: &Value| path.iter().fold(d.clone(), |v, k| v[*k].clone());
                let g = gap(&pick(&stripped), &pick(reference));
                line += &format!(" {}={g:.1e}", path.join("."));
                // SPM's Lorenz run has cond(R) ≈ 2e13: its F is not comparable.
                if !(lorenz && path == ["F"]) {
                    worst = worst.max(g);
                }
            }
            println!("{line}");
            runs += 1;
        }
    }
    println!("{runs} runs, worst relative gap {worst:.2e}");
    assert!(runs >= 10);
    assert!(worst < 1e-6, "worst relative gap {worst:.2e}");
}

/// Models the shared fixtures do not have, run through SPM12 under Octave by
/// `scripts/spm_dem_octave_cases.m` (committed with its output): a
/// three-level hierarchy (hidden causes between two dynamic levels, a learned
/// coupling and output log-precision; and again with SPM's linear scheme and
/// the coupling alone; and with precision components at two levels, whose
/// priors SPM orders as every `hE` then every `gE`) and a nonlinear observer (`tanh`, a product, `n = 5`,
/// `d = 1`, `s = 1`, a learned stiffness and state log-precision) and a
/// static model (no hidden states: up to `nD = 8` D-step iterations per
/// sample, a learned loading and output log-precision).
#[test]
fn models_never_seen_reproduce_spm() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dem_octave_cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut worst: f64 = 0.0;
    for reference in doc["runs"].as_array().unwrap() {
        let mut stripped = reference.clone();
        for key in RESULTS {
            stripped.as_object_mut().unwrap().remove(key);
        }
        let run = read_dem_run(&stripped, Derivatives::Spm).unwrap();
        let result = run_dem(&run).unwrap();
        write_dem_results(&mut stripped, &run, &result).unwrap();
        let mut line = format!("{}:", reference["label"]);
        let fields: Vec<String> = reference["qU"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for name in &fields {
            let g = gap(
                &stripped["qU"][name.as_str()],
                &reference["qU"][name.as_str()],
            );
            line += &format!(" qU.{name}={g:.1e}");
            worst = worst.max(g);
        }
        let ours_p: Value = serde_json::json!(result.parameters.as_slice());
        for (name, ours, spm) in [
            ("F", &stripped["F"], &reference["F"]),
            ("qP.P", &ours_p, &reference["qP"]["P"]),
            ("qH.h", &stripped["qH"]["h"], &reference["qH"]["h"]),
            ("qH.g", &stripped["qH"]["g"], &reference["qH"]["g"]),
        ] {
            let g = gap(ours, spm);
            line += &format!(" {name}={g:.1e}");
            worst = worst.max(g);
        }
        println!("{line}");
    }
    println!("worst relative gap {worst:.2e}");
    assert!(worst < 1e-6, "worst relative gap {worst:.2e}");
}
