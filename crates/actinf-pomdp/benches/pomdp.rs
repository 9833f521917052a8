//! Criterion benchmarks of the discrete engine, on models that
//! `scripts/peer_pymdp.py` rebuilds identically to time pymdp.
//!
//! - `tmaze_step/policy_len_{1,2}`: one T-maze step (infer_states +
//!   infer_policies + sample_action), single-threaded.
//! - `random_625/step`: 30×30 states, modalities 30/30/10, 5×5 controls,
//!   policy_len 2 (625 policies).
//! - `tmaze_agents/1024`: 1024 independent T-maze agents, one step each,
//!   spread over the cores with rayon (throughput = agent-steps).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;

use actinf_core::Tensor;
use actinf_pomdp::env::TMaze;
use actinf_pomdp::{Agent, GenerativeModel, ModelArrays, Settings};

/// Deterministic pseudo-random entries in (0.01, 1.01): a multiplicative hash
/// of the flat index, identical in `scripts/peer_pymdp.py`.
fn hashed(n: usize, seed: u64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| {
            let h = (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 40_503)) % 4_294_967_296;
            0.01 + h as f64 / 4_294_967_296.0
        })
        .collect()
}

fn column_normalised(shape: &[usize], seed: u64) -> Tensor {
    let mut data = hashed(shape.iter().product(), seed);
    actinf_core::maths::normalise_columns(&mut data, shape[0]);
    Tensor::new(shape.to_vec(), data).unwrap()
}

fn random_625() -> GenerativeModel {
    let ns = [30, 30];
    let no = [30, 30, 10];
    let a = no
        .iter()
        .enumerate()
        .map(|(m, &o)| column_normalised(&[o, ns[0], ns[1]], 1 + m as u64))
        .collect();
    let b = (0..2)
        .map(|f| column_normalised(&[ns[f], ns[f], 5], 10 + f as u64))
        .collect();
    let c = no
        .iter()
        .enumerate()
        .map(|(m, &o)| Tensor::new(vec![o], hashed(o, 20 + m as u64)).unwrap())
        .collect();
    GenerativeModel::new(ModelArrays {
        a: Some(a),
        b: Some(b),
        c: Some(c),
        ..Default::default()
    })
    .unwrap()
}

const TMAZE_OBS: [[usize; 3]; 4] = [[0, 0, 0], [3, 0, 1], [2, 1, 0], [2, 1, 1]];

fn tmaze_agent(policy_len: usize) -> Agent {
    let model = GenerativeModel::new(TMaze::model(0.98, 3.0)).unwrap();
    let settings = Settings {
        policy_len,
        ..Settings::default()
    };
    Agent::new(model, settings).unwrap()
}

fn one_step(agent: &mut Agent, obs: &[usize]) -> usize {
    agent.infer_states(obs).unwrap();
    agent.infer_policies().unwrap();
    agent.sample_action().unwrap()[0]
}

fn bench_tmaze(c: &mut Criterion) {
    let mut group = c.benchmark_group("tmaze_step");
    for policy_len in [1, 2] {
        let mut agent = tmaze_agent(policy_len);
        let mut t = 0;
        group.bench_function(format!("policy_len_{policy_len}"), |b| {
            b.iter(|| {
                t = (t + 1) % 4;
                one_step(&mut agent, &TMAZE_OBS[t])
            })
        });
    }
    group.finish();
}

fn bench_random(c: &mut Criterion) {
    let model = random_625();
    let settings = Settings {
        policy_len: 2,
        ..Settings::default()
    };
    let mut agent = Agent::new(model, settings).unwrap();
    let obs = [[3, 7, 1], [12, 0, 9], [29, 15, 4]];
    let mut t = 0;
    let mut group = c.benchmark_group("random_625");
    group.sample_size(20);
    group.bench_function("step", |b| {
        b.iter(|| {
            t = (t + 1) % 3;
            one_step(&mut agent, &obs[t])
        })
    });
    group.finish();
}

fn bench_many_agents(c: &mut Criterion) {
    let n = 1024;
    let mut group = c.benchmark_group("tmaze_agents");
    group.throughput(Throughput::Elements(n as u64));
    let mut agents: Vec<Agent> = (0..n).map(|_| tmaze_agent(1)).collect();
    let mut t = 0;
    group.bench_function("1024", |b| {
        b.iter(|| {
            t = (t + 1) % 4;
            agents
                .par_iter_mut()
                .map(|a| one_step(a, &TMAZE_OBS[t]))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_tmaze, bench_random, bench_many_agents);
criterion_main!(benches);
