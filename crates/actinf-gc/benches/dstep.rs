//! Criterion benchmarks of the D-step on SPM's linear convolution model
//! (2 states, 1 known cause, 4 data channels; s = 1, Πz = 64·I, Πw = 4·I,
//! as in `tests/kalman_comparison.rs`), for embedding orders n = 2…8:
//!
//! - `dstep/run/n`: a pass over 256 samples, [`DStep::run`]: embedding of
//!   the data and of the cause at every sample, the D-step, and the trace;
//!   reported per sample (throughput in elements = samples).
//! - `dstep/step/n`: one [`DStep::step`] (free energy, then the
//!   local-linearisation update) on already-embedded data.
//! - `dstep/new/n`: building the filter (generalized precision, curvature and
//!   its inverse, Jacobian, and the propagator by local linearisation).
//!
//! The cost does not depend on the data's values; they are a fixed
//! deterministic sequence.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nalgebra::DMatrix;

use actinf_gc::dstep::{DStep, DStepSettings};
use actinf_gc::model::LinearModel;

const SAMPLES: usize = 256;

fn model(n: usize) -> LinearModel {
    LinearModel::new(
        DMatrix::from_row_slice(2, 2, &[-0.25, 1.0, -0.5, -0.25]),
        DMatrix::from_row_slice(2, 1, &[1.0, 0.0]),
        DMatrix::from_row_slice(
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
        ),
        DMatrix::zeros(4, 1),
        DMatrix::identity(4, 4) * 64.0,
        DMatrix::identity(2, 2) * 4.0,
    )
    .and_then(|m| m.with_smoothness(1.0))
    .and_then(|m| m.with_order(n))
    .expect("the convolution model is valid")
}

fn data() -> (DMatrix<f64>, DMatrix<f64>) {
    let y = DMatrix::from_fn(4, SAMPLES, |i, t| {
        0.3 * ((t as f64) * 0.21 + i as f64).sin() + 0.05 * ((t * 7 + i * 3) % 11) as f64
    });
    let v = DMatrix::from_fn(1, SAMPLES, |_, t| {
        (-((t % 64) as f64 - 12.0).powi(2) / 4.0).exp()
    });
    (y, v)
}

fn bench_dstep(c: &mut Criterion) {
    let (y, v) = data();
    let mut group = c.benchmark_group("dstep/run");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    for n in 2..=8 {
        let mut ds = DStep::new(&model(n), DStepSettings::default()).expect("stable");
        let zero = vec![0.0; ds.state_len()];
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                ds.set_state(&zero).expect("valid state");
                black_box(ds.run(black_box(&y), black_box(&v)).expect("runs"))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("dstep/step");
    for n in 2..=8 {
        let mut ds = DStep::new(&model(n), DStepSettings::default()).expect("stable");
        let y_tilde: Vec<f64> = (0..4 * n).map(|i| 0.1 * (i as f64).sin()).collect();
        let v_tilde: Vec<f64> = (0..n).map(|i| 0.1 * (i as f64).cos()).collect();
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                black_box(
                    ds.step(black_box(&y_tilde), black_box(&v_tilde))
                        .expect("steps"),
                )
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("dstep/new");
    group.sample_size(20);
    for n in 2..=8 {
        let m = model(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                black_box(DStep::new(black_box(&m), DStepSettings::default()).expect("stable"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dstep);
criterion_main!(benches);
