//! Criterion benchmarks of DEM ([`Dem::run`], SPM's `spm_DEM`) and
//! generalized filtering ([`GeneralizedFilter::run`], SPM's `spm_LAP`) on
//! the SPM12 reference runs of `tests/fixtures/spm12` — the same models,
//! data and settings whose results `tests/dem_spm.rs` and
//! `tests/lap_spm.rs` check against SPM:
//!
//! - `dem/Dstep_only`: `spm_DEM`'s convolution demo, one pure D-step pass
//!   over 32 samples;
//! - `dem/DEM_triple`: triple estimation (D, E and M steps), 16 iterations;
//! - `lap/LAP_demo`: `spm_LAP` learning four parameters online, 12 passes;
//! - `lap/LAP_triple`: `spm_LAP` learning two parameters and two
//!   log-precisions, 16 passes;
//! - `lap/LAP_no_learning`: `spm_LAP` on the `Dstep_only` data, one pass.
//!
//! Each includes building the scheme from the model (`Dem::new`,
//! `GeneralizedFilter::new`). `scripts/peer_spm_octave.py` times
//! SPM12 itself on the same runs under Octave (figures drawn by nothing);
//! measured on the development machine (2 shared cores): 0.65 s, 8.9 s,
//! 14.7 s, 21.5 s and 1.19 s.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::DMatrix;
use serde_json::Value;

use actinf_gc::dem::{Dem, DemSettings};
use actinf_gc::hierarchical::{FnLevel, HierarchicalModel, LevelFunctions};
use actinf_gc::lap::{GeneralizedFilter, LapSettings};
use common::*;

fn find(doc: &Value, pred: impl Fn(&Value) -> bool) -> Value {
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| pred(r))
        .unwrap()
        .clone()
}

fn inputs(run: &Value, level: FnLevel) -> (HierarchicalModel, DMatrix<f64>, DMatrix<f64>) {
    let functions: Arc<dyn LevelFunctions> = Arc::new(level);
    (
        model_of(run, functions),
        matrix(&run["Y"]),
        matrix(&run["U_prior_causes"]),
    )
}

fn dem_settings(run: &Value) -> DemSettings {
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

fn lap_settings(run: &Value) -> LapSettings {
    let e = &run["model"]["E"];
    LapSettings {
        state_orders: e["n"].as_u64().unwrap() as usize + 1,
        cause_orders: e["d"].as_u64().unwrap() as usize + 1,
        iterations: e["nN"].as_u64().unwrap() as usize,
        smoothness: Some(e["s"].as_f64().unwrap()),
        precision_gradients: true,
        regularisation: 0.0,
    }
}

fn bench_dem(c: &mut Criterion) {
    let doc = fixture("dem_convolution.json");
    let mut group = c.benchmark_group("dem");
    group.sample_size(20);
    for label in ["Dstep_only", "DEM_triple"] {
        let run = find(&doc, |r| r["label"] == label && r["seed"] == 1);
        let (model, y, eta) = inputs(&run, convolution_level());
        let settings = dem_settings(&run);
        group.bench_function(label, |b| {
            b.iter(|| {
                let dem = Dem::new(model.clone(), settings.clone()).unwrap();
                black_box(dem.run(black_box(&y), black_box(&eta)).unwrap())
            })
        });
    }
    group.finish();
}

fn bench_lap(c: &mut Criterion) {
    let doc = fixture("dem_convolution_LAP.json");
    let triple = fixture("dem_convolution_LAP_triple.json");
    let cases = [
        (
            "LAP_demo",
            find(&doc, |r| {
                r["scheme"] == "spm_LAP" && !r["label"].as_str().unwrap().contains("no learning")
            }),
            vector_parameter_level(),
        ),
        ("LAP_triple", triple["runs"][0].clone(), convolution_level()),
        (
            "LAP_no_learning",
            find(&doc, |r| {
                r["label"].as_str().unwrap().contains("no learning")
            }),
            convolution_level(),
        ),
    ];
    let mut group = c.benchmark_group("lap");
    group.sample_size(20);
    for (label, run, level) in cases {
        let (model, y, eta) = inputs(&run, level);
        let settings = lap_settings(&run);
        group.bench_function(label, |b| {
            b.iter(|| {
                let lap = GeneralizedFilter::new(model.clone(), settings.clone()).unwrap();
                black_box(lap.run(black_box(&y), black_box(&eta)).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dem, bench_lap);
criterion_main!(benches);
