//! Time `spm_DEM`'s scheme on SPM's own runs, from SPM's description (f and
//! g compiled from MATLAB text, derivatives by SPM's finite differences):
//! the convolution demo's pure D-step (N = 32) and triple estimation (D, E,
//! M steps; 16 iterations), the learning-off run, and the Lorenz attractor.
//! SPM12 under GNU Octave 7.3 takes 0.6 s and 11 s for the first two (issue
//! figures; `scripts/peer_spm_octave.py` measures them here). Reads
//! `../shared/fixtures/spm12`; skips with a message when it is absent.

use std::hint::black_box;

use actinf_spm::dem::{read_dem_run, run_dem, Derivatives};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::Value;

fn run_of(file: &str, label: &str) -> Option<Value> {
    let path = format!(
        "{}/../../../shared/fixtures/spm12/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping the DEM benches: {path} not found");
        return None;
    };
    let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
    doc["runs"]
        .as_array()?
        .iter()
        .find(|r| r["label"] == label && r["seed"] == 1)
        .cloned()
}

fn dem(c: &mut Criterion) {
    let mut group = c.benchmark_group("spm_dem");
    group.sample_size(10);
    for (name, file, label) in [
        ("dstep_convolution", "dem_convolution.json", "Dstep_only"),
        ("triple_estimation", "dem_convolution.json", "DEM_triple"),
        ("triple_fixed", "dem_convolution.json", "DEM_triple_fixed"),
        ("lorenz", "dem_lorenz.json", "Lorenz DEM (DEM_demo_Lorenz)"),
    ] {
        let Some(run) = run_of(file, label) else {
            return;
        };
        let read = read_dem_run(&run, Derivatives::Spm).expect("fixture run");
        group.bench_function(name, |b| b.iter(|| run_dem(black_box(&read)).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, dem);
criterion_main!(benches);
