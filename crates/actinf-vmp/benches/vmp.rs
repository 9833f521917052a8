//! Criterion benchmarks of the VMP engine, on the models that
//! `scripts/peer_bayespy.py` times in BayesPy 0.6.6.
//!
//! - `lgssm/sweep/{1000,10000}`: one VMP sweep of a 2-D linear-Gaussian
//!   state-space model with N time steps: update the chain `X` (Kalman
//!   filter + RTS smoother), update the noise precision `tau`, then the
//!   ELBO. The model is the `lgssm` fixture's (BayesPy's
//!   `GaussianMarkovChain(0, 1e-3·I, A, [1, 1], n=N)` observed through a
//!   known 3×2 `C` by `GaussianARD(SumMultiply(C, X), tau)`,
//!   `tau ~ Gamma(1e-5, 1e-5)`), here `GaussianChain` → `LinearGaussian(C, I)`
//!   scaled by a `Gamma` node. The data are simulated from the same model
//!   with a fixed pseudo-random sequence (the cost does not depend on them).
//! - `gmm/fit`: the whole Gaussian-mixture fit of the committed BayesPy
//!   fixture `tests/fixtures/bayespy/gmm.json` (N = 200, D = 2, K = 10) from
//!   its recorded initial assignments to convergence (61 sweeps, each with
//!   its ELBO), exactly the replay of `tests/bayespy_replay.rs`; building
//!   the graph is outside the timed part, as in the peer script.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

use actinf_vmp::nodes::{
    Categorical, Dirichlet, Gamma, Gaussian, GaussianChain, LinearGaussian, Mixture, Wishart,
};
use actinf_vmp::{Graph, NodeSpec, Parent};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{fixture, flat, node, plates};

const LGSSM_A: [f64; 4] = [0.95, -0.25, 0.25, 0.95];
const LGSSM_C: [f64; 6] = [1.0, 0.0, 0.0, 1.0, 0.7, -0.7];

/// A fixed stream of standard normal draws (splitmix64 + Box–Muller).
struct Normals(u64);

impl Normals {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The LGSSM of `scripts/peer_bayespy.py` with N time steps, data simulated
/// from it (`x_0 ~ N(0, I)`, `x_t = A x_{t−1} + N(0, I)`, `y_t = C x_t +
/// 0.5 N(0, I)`).
fn lgssm(n: usize) -> Graph {
    let (d, m) = (2, 3);
    let mut rng = Normals(1);
    let mut x = [rng.next(), rng.next()];
    let mut y = Vec::with_capacity(n * m);
    for t in 0..n {
        if t > 0 {
            let e = [rng.next(), rng.next()];
            x = [
                LGSSM_A[0] * x[0] + LGSSM_A[1] * x[1] + e[0],
                LGSSM_A[2] * x[0] + LGSSM_A[3] * x[1] + e[1],
            ];
        }
        for i in 0..m {
            y.push(LGSSM_C[i * d] * x[0] + LGSSM_C[i * d + 1] * x[1] + 0.5 * rng.next());
        }
    }
    let eye2 = [1.0, 0.0, 0.0, 1.0];
    let eye3 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    Graph::new(vec![
        NodeSpec::new(
            "X",
            GaussianChain::new(&LGSSM_A, &eye2, &[0.0, 0.0], &[1e-3, 0.0, 0.0, 1e-3]).unwrap(),
            vec![],
        )
        .plates(&[n]),
        NodeSpec::new("tau", Gamma::new(1e-5), vec![Parent::value([1e-5])]),
        NodeSpec::new(
            "Y",
            LinearGaussian::new(m, d, &LGSSM_C, &eye3)
                .unwrap()
                .with_precision_scale(),
            vec![Parent::node("X"), Parent::node("tau")],
        )
        .plates(&[n])
        .observe(y),
    ])
    .unwrap()
}

fn sweep(g: &mut Graph) -> f64 {
    g.update("X").unwrap();
    g.update("tau").unwrap();
    g.elbo()
}

fn bench_lgssm(c: &mut Criterion) {
    let mut group = c.benchmark_group("lgssm");
    for n in [1000, 10_000] {
        let mut g = lgssm(n);
        // The first sweep, as the peer script's warm-up.
        sweep(&mut g);
        group.bench_with_input(BenchmarkId::new("sweep", n), &n, |b, _| {
            b.iter(|| sweep(&mut g))
        });
    }
    group.finish();
}

/// Everything the GMM fit needs, read once from the fixture.
struct GmmFixture {
    k: usize,
    d: usize,
    alpha: Vec<f64>,
    z_plates: Vec<usize>,
    mu: (Vec<f64>, Vec<f64>, Vec<usize>),
    lambda: (f64, Vec<f64>, Vec<usize>),
    y: (Vec<f64>, Vec<usize>),
    z0: Vec<f64>,
    order: Vec<String>,
    max_iter: usize,
    tol: f64,
    iterations: usize,
}

impl GmmFixture {
    fn load() -> Self {
        let fx = fixture("gmm");
        let (alpha, z, mu, lambda, y) = (
            node(&fx, "alpha"),
            node(&fx, "z"),
            node(&fx, "mu"),
            node(&fx, "Lambda"),
            node(&fx, "Y"),
        );
        let rule = &fx["tolerance_rule"];
        Self {
            k: flat(&alpha["parents"][0]).len(),
            d: y["shape"][0].as_u64().unwrap() as usize,
            alpha: flat(&alpha["parents"][0]),
            z_plates: plates(z),
            mu: (flat(&mu["parents"][0]), flat(&mu["parents"][1]), plates(mu)),
            lambda: (
                lambda["parents"][0].as_f64().unwrap(),
                flat(&lambda["parents"][1]),
                plates(lambda),
            ),
            y: (flat(&y["observed"]), plates(y)),
            z0: flat(&fx["initial_posteriors"]["z"]["value"]),
            order: fx["update_order"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .filter(|n| n != "Y")
                .collect(),
            max_iter: rule["max_iter"].as_u64().unwrap() as usize,
            tol: rule["tol"].as_f64().unwrap(),
            iterations: fx["expected"]["elbo"].as_array().unwrap().len(),
        }
    }

    /// The graph in the fixture's recorded initial state.
    fn graph(&self) -> Graph {
        let (k, d) = (self.k, self.d);
        let mut g = Graph::new(vec![
            NodeSpec::new("alpha", Dirichlet::new(self.alpha.clone()).unwrap(), vec![]),
            NodeSpec::new(
                "z",
                Categorical::new(k).unwrap(),
                vec![Parent::node("alpha")],
            )
            .plates(&self.z_plates),
            NodeSpec::new(
                "mu",
                Gaussian::new(d).unwrap(),
                vec![
                    Parent::value(self.mu.0.clone()),
                    Parent::value(self.mu.1.clone()),
                ],
            )
            .plates(&self.mu.2),
            NodeSpec::new(
                "Lambda",
                Wishart::new(d, self.lambda.0).unwrap(),
                vec![Parent::value(self.lambda.1.clone())],
            )
            .plates(&self.lambda.2),
            NodeSpec::new(
                "Y",
                Mixture::new(k, Gaussian::new(d).unwrap()).unwrap(),
                vec![
                    Parent::node("z"),
                    Parent::node("mu"),
                    Parent::node("Lambda"),
                ],
            )
            .plates(&self.y.1)
            .observe(self.y.0.clone()),
        ])
        .unwrap();
        g.initialize_from_value("z", &self.z0).unwrap();
        g
    }

    /// Run to convergence; the number of sweeps.
    fn fit(&self, g: &mut Graph) -> usize {
        let order: Vec<&str> = self.order.iter().map(String::as_str).collect();
        g.run(&order, self.max_iter, self.tol).unwrap().iterations
    }
}

fn bench_gmm(c: &mut Criterion) {
    let fx = GmmFixture::load();
    // The replay, once, before timing it.
    let sweeps = fx.fit(&mut fx.graph());
    assert_eq!(
        sweeps, fx.iterations,
        "the GMM replay must take BayesPy's sweeps"
    );
    let mut group = c.benchmark_group("gmm");
    group.bench_function("fit", |b| {
        b.iter_batched(|| fx.graph(), |mut g| fx.fit(&mut g), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, bench_lgssm, bench_gmm);
criterion_main!(benches);
