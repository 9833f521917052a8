//! Time one replay of SPM's T-maze trial (`DEM_demo_MDP_X.m`: 10 two-step
//! policies, two factors, T = 3, d learned) by `spm_MDP_VB_X`'s scheme.
//! SPM12 under GNU Octave 7.3 takes about 0.5 s per trial (the fixture's
//! `runtime_s`). Reads `../shared/fixtures/spm12/mdp_vbx.json`; skips with a
//! message when it is absent.

use std::hint::black_box;

use actinf_spm::mdp::{replay_trial, trial_from_json, MdpSpec};
use criterion::{criterion_group, criterion_main, Criterion};

fn tmaze(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/spm12/mdp_vbx.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("skipping the T-maze bench: {path} not found");
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let spec = MdpSpec::from_json(&doc["spec"]).expect("T-maze spec");
    let trial = trial_from_json(&doc["single_trial"], &spec.model).expect("T-maze trial");
    let mut group = c.benchmark_group("spm_mdp_vb_x");
    group.bench_function("tmaze_trial", |b| {
        b.iter(|| {
            replay_trial(
                black_box(&spec.model),
                black_box(&spec.learned),
                &trial,
                false,
            )
            .expect("replay")
        })
    });
    group.bench_function("tmaze_trial_with_traces", |b| {
        b.iter(|| {
            replay_trial(
                black_box(&spec.model),
                black_box(&spec.learned),
                &trial,
                true,
            )
            .expect("replay")
        })
    });
    group.finish();
}

criterion_group!(benches, tmaze);
criterion_main!(benches);
