//! Exactness of the Markov-chain nodes: with known parameters the chain's
//! factor is the exact posterior, so one VMP update makes the ELBO equal to
//! the log-likelihood. Checked against textbook references written here
//! independently of the nodes: the HMM forward algorithm (log domain) and
//! the Kalman filter in covariance form (prediction-error decomposition),
//! at N = 100, 1 000 and 10 000; and the smoothed marginals against
//! enumeration (HMM) and dense Gaussian conditioning (LGSSM) on short
//! sequences.

use std::f64::consts::PI;
use std::time::Instant;

use actinf_vmp::family::Family;
use actinf_vmp::nodes::{
    CategoricalChain, CategoricalEmission, Dirichlet, GaussianChain, LinearGaussian,
};
use actinf_vmp::{Graph, NodeSpec, Parent};

/// A 64-bit LCG (Knuth's MMIX constants) for deterministic data.
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    fn categorical(&mut self, p: &[f64]) -> usize {
        let u = self.uniform();
        let mut acc = 0.0;
        for (k, &pk) in p.iter().enumerate() {
            acc += pk;
            if u < acc {
                return k;
            }
        }
        p.len() - 1
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

// ---------------------------------------------------------------- HMM ----

const K: usize = 3;
const J: usize = 4;
const PI0: [f64; K] = [0.5, 0.3, 0.2];
const TRANS: [[f64; K]; K] = [[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]];
const EMIT: [[f64; J]; K] = [
    [0.6, 0.2, 0.1, 0.1],
    [0.1, 0.5, 0.3, 0.1],
    [0.05, 0.05, 0.3, 0.6],
];

fn hmm_data(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Lcg(seed);
    let mut z = rng.categorical(&PI0);
    let mut y = Vec::with_capacity(n);
    for t in 0..n {
        if t > 0 {
            z = rng.categorical(&TRANS[z]);
        }
        y.push(rng.categorical(&EMIT[z]));
    }
    y
}

fn flat<const C: usize>(rows: &[[f64; C]]) -> Vec<f64> {
    rows.iter().flatten().copied().collect()
}

fn hmm_graph(y: &[usize], mask: Option<Vec<bool>>) -> Graph {
    let n = y.len();
    let obs = NodeSpec::new(
        "y",
        CategoricalEmission::new(&flat(&EMIT), K, J).unwrap(),
        vec![Parent::node("z")],
    )
    .plates(&[n])
    .observe(y.iter().map(|&v| v as f64).collect());
    let obs = match mask {
        Some(m) => obs.mask(m),
        None => obs,
    };
    Graph::new(vec![
        NodeSpec::new(
            "z",
            CategoricalChain::new(K),
            vec![
                Parent::value(PI0),
                Parent::Constant {
                    values: flat(&TRANS),
                    plates: vec![K],
                },
            ],
        )
        .plates(&[n]),
        obs,
    ])
    .unwrap()
}

fn log_sum_exp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// The forward algorithm in the log domain (Rabiner 1989, eqs. 19–21);
/// `None` observations are missing (no emission term).
fn forward_log_likelihood(y: &[Option<usize>]) -> f64 {
    let emit = |k: usize, t: usize| y[t].map_or(0.0, |j| EMIT[k][j].ln());
    let mut la: Vec<f64> = (0..K).map(|k| PI0[k].ln() + emit(k, 0)).collect();
    for t in 1..y.len() {
        la = (0..K)
            .map(|k| {
                let terms: Vec<f64> = (0..K).map(|j| la[j] + TRANS[j][k].ln()).collect();
                log_sum_exp(&terms) + emit(k, t)
            })
            .collect();
    }
    log_sum_exp(&la)
}

#[test]
fn hmm_elbo_is_the_forward_log_likelihood() {
    for (n, seed) in [(100, 1), (1_000, 2), (10_000, 3)] {
        let y = hmm_data(n, seed);
        let mut g = hmm_graph(&y, None);
        g.update("z").unwrap();
        let elbo = g.elbo();
        let reference = forward_log_likelihood(&y.iter().map(|&v| Some(v)).collect::<Vec<_>>());
        let gap = rel(elbo, reference);
        println!("HMM N = {n}: ELBO {elbo:.12} forward {reference:.12} relative gap {gap:.2e}");
        assert!(gap <= 1e-9, "N = {n}: {elbo} vs {reference}");
        // The exact posterior is a fixed point: more sweeps change nothing.
        let run = g.run(&["z"], 3, 0.0).unwrap();
        assert!(run.elbo.iter().all(|&l| rel(l, reference) <= 1e-9));
    }
}

#[test]
fn hmm_smoothed_marginals_match_enumeration() {
    let n = 7;
    let y = hmm_data(n, 11);
    let mut g = hmm_graph(&y, None);
    g.update("z").unwrap();
    // Enumerate all Kⁿ paths with their joint probability p(z, y).
    let mut gamma = vec![0.0; n * K];
    let mut xi = vec![0.0; n * K * K];
    let mut evidence = 0.0;
    for code in 0..K.pow(n as u32) {
        let z: Vec<usize> = (0..n).map(|t| code / K.pow(t as u32) % K).collect();
        let mut p = PI0[z[0]];
        for t in 0..n {
            if t > 0 {
                p *= TRANS[z[t - 1]][z[t]];
            }
            p *= EMIT[z[t]][y[t]];
        }
        evidence += p;
        for t in 0..n {
            gamma[t * K + z[t]] += p;
            if t > 0 {
                xi[(t * K + z[t - 1]) * K + z[t]] += p;
            }
        }
    }
    let u = g.moments("z").unwrap();
    let mut worst: f64 = 0.0;
    for (a, b) in u[0].iter().zip(&gamma) {
        worst = worst.max((a - b / evidence).abs());
    }
    for (a, b) in u[1].iter().zip(&xi) {
        worst = worst.max((a - b / evidence).abs());
    }
    println!("HMM N = {n}: smoothed marginals vs enumeration, max abs gap {worst:.2e}");
    assert!(worst < 1e-14);
    assert!(rel(g.elbo(), evidence.ln()) < 1e-13);
}

#[test]
fn hmm_missing_observations_are_skipped() {
    let n = 500;
    let y = hmm_data(n, 5);
    let mask: Vec<bool> = (0..n)
        .map(|t| t % 7 != 3 && !(200..260).contains(&t))
        .collect();
    let mut g = hmm_graph(&y, Some(mask.clone()));
    g.update("z").unwrap();
    let partial: Vec<Option<usize>> = y
        .iter()
        .zip(&mask)
        .map(|(&v, &keep)| keep.then_some(v))
        .collect();
    let reference = forward_log_likelihood(&partial);
    assert!(
        rel(g.elbo(), reference) <= 1e-12,
        "{} vs {reference}",
        g.elbo()
    );
}

#[test]
fn hmm_expected_counts_reach_dirichlet_parents() {
    let n = 300;
    let y = hmm_data(n, 7);
    let mut g = Graph::new(vec![
        NodeSpec::new("pi", Dirichlet::new([1.0; K]).unwrap(), vec![]),
        NodeSpec::new("A", Dirichlet::new([1.0; K]).unwrap(), vec![]).plates(&[K]),
        NodeSpec::new(
            "z",
            CategoricalChain::new(K),
            vec![Parent::node("pi"), Parent::node("A")],
        )
        .plates(&[n]),
        NodeSpec::new(
            "y",
            CategoricalEmission::new(&flat(&EMIT), K, J).unwrap(),
            vec![Parent::node("z")],
        )
        .plates(&[n])
        .observe(y.iter().map(|&v| v as f64).collect()),
    ])
    .unwrap();
    let run = g.run(&["z", "pi", "A"], 50, 0.0).unwrap();
    assert!(run.decreases.is_empty(), "{:?}", run.decreases);
    for w in run.elbo.windows(2) {
        assert!(w[1] >= w[0] - 1e-12 * w[0].abs(), "{:?}", run.elbo);
    }
    // The sweep order z, π, A leaves q(π) and q(A) updated from the current
    // q(z): Dirichlet prior + expected counts.
    let u = g.moments("z").unwrap().clone();
    let pi = g.natural("pi").unwrap()[0].clone();
    for k in 0..K {
        assert!((pi[k] - (1.0 + u[0][k])).abs() < 1e-12);
    }
    let a = g.natural("A").unwrap()[0].clone();
    let mut total = 0.0;
    for j in 0..K {
        for k in 0..K {
            let counts: f64 = (1..n).map(|t| u[1][(t * K + j) * K + k]).sum();
            assert!((a[j * K + k] - (1.0 + counts)).abs() < 1e-9 * counts.max(1.0));
            total += counts;
        }
    }
    assert!((total - (n - 1) as f64).abs() < 1e-9);
}

// -------------------------------------------------------------- LGSSM ----

type M2 = [[f64; 2]; 2];

fn mm(a: &M2, b: &M2) -> M2 {
    let mut c = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    c
}

fn tr(a: &M2) -> M2 {
    [[a[0][0], a[1][0]], [a[0][1], a[1][1]]]
}

fn add(a: &M2, b: &M2) -> M2 {
    [
        [a[0][0] + b[0][0], a[0][1] + b[0][1]],
        [a[1][0] + b[1][0], a[1][1] + b[1][1]],
    ]
}

fn mv(a: &M2, x: &[f64; 2]) -> [f64; 2] {
    [
        a[0][0] * x[0] + a[0][1] * x[1],
        a[1][0] * x[0] + a[1][1] * x[1],
    ]
}

fn det(a: &M2) -> f64 {
    a[0][0] * a[1][1] - a[0][1] * a[1][0]
}

fn inv(a: &M2) -> M2 {
    let d = det(a);
    [[a[1][1] / d, -a[0][1] / d], [-a[1][0] / d, a[0][0] / d]]
}

fn flat2(a: &M2) -> Vec<f64> {
    vec![a[0][0], a[0][1], a[1][0], a[1][1]]
}

/// The state-space model, in covariance form for the references.
struct Lgssm {
    a: M2,
    q_cov: M2,
    mu0: [f64; 2],
    p0: M2,
    c: M2,
    r_cov: M2,
}

fn lgssm() -> Lgssm {
    let (rho, th) = (0.995, 0.15f64);
    Lgssm {
        a: [
            [rho * th.cos(), -rho * th.sin()],
            [rho * th.sin(), rho * th.cos()],
        ],
        q_cov: [[0.10, 0.02], [0.02, 0.05]],
        mu0: [1.0, -0.5],
        p0: [[0.5, 0.1], [0.1, 0.8]],
        c: [[1.0, 0.5], [-0.3, 1.0]],
        r_cov: [[0.20, 0.05], [0.05, 0.30]],
    }
}

/// Draws `L z` with `L Lᵀ = S` (2×2 Cholesky).
fn draw(rng: &mut Lcg, s: &M2) -> [f64; 2] {
    let l00 = s[0][0].sqrt();
    let l10 = s[1][0] / l00;
    let l11 = (s[1][1] - l10 * l10).sqrt();
    let (z0, z1) = (rng.normal(), rng.normal());
    [l00 * z0, l10 * z0 + l11 * z1]
}

fn lgssm_data(m: &Lgssm, n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = Lcg(seed);
    let e = draw(&mut rng, &m.p0);
    let mut x = [m.mu0[0] + e[0], m.mu0[1] + e[1]];
    let mut y = Vec::with_capacity(n);
    for t in 0..n {
        if t > 0 {
            let ax = mv(&m.a, &x);
            let e = draw(&mut rng, &m.q_cov);
            x = [ax[0] + e[0], ax[1] + e[1]];
        }
        let cx = mv(&m.c, &x);
        let e = draw(&mut rng, &m.r_cov);
        y.push([cx[0] + e[0], cx[1] + e[1]]);
    }
    y
}

fn lgssm_graph(m: &Lgssm, y: &[[f64; 2]]) -> Graph {
    let n = y.len();
    Graph::new(vec![
        NodeSpec::new(
            "x",
            GaussianChain::new(
                &flat2(&m.a),
                &flat2(&inv(&m.q_cov)),
                &m.mu0,
                &flat2(&inv(&m.p0)),
            )
            .unwrap(),
            vec![],
        )
        .plates(&[n]),
        NodeSpec::new(
            "y",
            LinearGaussian::new(2, 2, &flat2(&m.c), &flat2(&inv(&m.r_cov))).unwrap(),
            vec![Parent::node("x")],
        )
        .plates(&[n])
        .observe(y.iter().flatten().copied().collect()),
    ])
    .unwrap()
}

/// The Kalman filter's log-likelihood by the prediction-error decomposition
/// (Harvey 1989; Bishop 2006 eqs. 13.84–13.91), covariance form.
fn kalman_log_likelihood(m: &Lgssm, y: &[[f64; 2]]) -> f64 {
    let (mut mean, mut p) = (m.mu0, m.p0);
    let mut ll = 0.0;
    for (t, yt) in y.iter().enumerate() {
        if t > 0 {
            mean = mv(&m.a, &mean);
            p = add(&mm(&mm(&m.a, &p), &tr(&m.a)), &m.q_cov);
        }
        let s = add(&mm(&mm(&m.c, &p), &tr(&m.c)), &m.r_cov);
        let pred = mv(&m.c, &mean);
        let v = [yt[0] - pred[0], yt[1] - pred[1]];
        let si = inv(&s);
        let siv = mv(&si, &v);
        ll -= 0.5 * (2.0 * (2.0 * PI).ln() + det(&s).ln() + v[0] * siv[0] + v[1] * siv[1]);
        let gain = mm(&mm(&p, &tr(&m.c)), &si);
        let kv = mv(&gain, &v);
        mean = [mean[0] + kv[0], mean[1] + kv[1]];
        // Joseph form: P = (I − KC) P (I − KC)ᵀ + K R Kᵀ.
        let kc = mm(&gain, &m.c);
        let ikc = [[1.0 - kc[0][0], -kc[0][1]], [-kc[1][0], 1.0 - kc[1][1]]];
        p = add(
            &mm(&mm(&ikc, &p), &tr(&ikc)),
            &mm(&mm(&gain, &m.r_cov), &tr(&gain)),
        );
    }
    ll
}

#[test]
fn lgssm_elbo_is_the_kalman_log_likelihood() {
    let m = lgssm();
    for (n, seed) in [(100, 21), (1_000, 22), (10_000, 23)] {
        let y = lgssm_data(&m, n, seed);
        let mut g = lgssm_graph(&m, &y);
        g.update("x").unwrap();
        let elbo = g.elbo();
        let reference = kalman_log_likelihood(&m, &y);
        let gap = rel(elbo, reference);
        println!("LGSSM N = {n}: ELBO {elbo:.12} Kalman {reference:.12} relative gap {gap:.2e}");
        assert!(gap <= 1e-9, "N = {n}: {elbo} vs {reference}");
        let run = g.run(&["x"], 3, 0.0).unwrap();
        assert!(run.elbo.iter().all(|&l| rel(l, reference) <= 1e-9));
    }
}

/// Inverse and ln|det| of a dense n×n matrix by Gauss–Jordan elimination
/// with partial pivoting.
fn dense_inverse(a: &[f64], n: usize) -> (Vec<f64>, f64) {
    let mut m = a.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    let mut logdet = 0.0;
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| m[i * n + col].abs().total_cmp(&m[j * n + col].abs()))
            .unwrap();
        if piv != col {
            for k in 0..n {
                m.swap(piv * n + k, col * n + k);
                inv.swap(piv * n + k, col * n + k);
            }
        }
        let d = m[col * n + col];
        logdet += d.abs().ln();
        for k in 0..n {
            m[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for r in 0..n {
            if r != col {
                let f = m[r * n + col];
                if f != 0.0 {
                    for k in 0..n {
                        m[r * n + k] -= f * m[col * n + k];
                        inv[r * n + k] -= f * inv[col * n + k];
                    }
                }
            }
        }
    }
    (inv, logdet)
}

#[test]
fn lgssm_smoothed_moments_match_dense_conditioning() {
    let m = lgssm();
    let n = 6;
    let y = lgssm_data(&m, n, 31);
    let mut g = lgssm_graph(&m, &y);
    g.update("x").unwrap();
    // Joint prior of x = (x_0 … x_{N−1}): means A^t μ0, covariances
    // Cov(x_t, x_s) = A^{t−s} Σ_s for t ≥ s.
    let dn = 2 * n;
    let mut mu = vec![0.0; dn];
    let mut marg = vec![m.p0; n];
    let mut mean = m.mu0;
    for t in 0..n {
        if t > 0 {
            mean = mv(&m.a, &mean);
            marg[t] = add(&mm(&mm(&m.a, &marg[t - 1]), &tr(&m.a)), &m.q_cov);
        }
        mu[2 * t] = mean[0];
        mu[2 * t + 1] = mean[1];
    }
    let mut sigma = vec![0.0; dn * dn];
    for s in 0..n {
        let mut block = marg[s];
        for t in s..n {
            if t > s {
                block = mm(&m.a, &block);
            }
            for i in 0..2 {
                for j in 0..2 {
                    sigma[(2 * t + i) * dn + 2 * s + j] = block[i][j];
                    sigma[(2 * s + j) * dn + 2 * t + i] = block[i][j];
                }
            }
        }
    }
    // y = H x + e with H = blockdiag(C): S = H Σ Hᵀ + blockdiag(R⁻¹).
    let mut h = vec![0.0; dn * dn];
    for t in 0..n {
        for i in 0..2 {
            for j in 0..2 {
                h[(2 * t + i) * dn + 2 * t + j] = m.c[i][j];
            }
        }
    }
    let matmul = |a: &[f64], b: &[f64]| {
        let mut c = vec![0.0; dn * dn];
        for i in 0..dn {
            for k in 0..dn {
                for j in 0..dn {
                    c[i * dn + j] += a[i * dn + k] * b[k * dn + j];
                }
            }
        }
        c
    };
    let transpose = |a: &[f64]| {
        let mut c = vec![0.0; dn * dn];
        for i in 0..dn {
            for j in 0..dn {
                c[j * dn + i] = a[i * dn + j];
            }
        }
        c
    };
    let sht = matmul(&sigma, &transpose(&h));
    let mut s = matmul(&h, &sht);
    for t in 0..n {
        for i in 0..2 {
            for j in 0..2 {
                s[(2 * t + i) * dn + 2 * t + j] += m.r_cov[i][j];
            }
        }
    }
    let (s_inv, logdet_s) = dense_inverse(&s, dn);
    let resid: Vec<f64> = (0..dn)
        .map(|i| y[i / 2][i % 2] - (0..dn).map(|k| h[i * dn + k] * mu[k]).sum::<f64>())
        .collect();
    let w: Vec<f64> = (0..dn)
        .map(|i| (0..dn).map(|k| s_inv[i * dn + k] * resid[k]).sum())
        .collect();
    let post_mu: Vec<f64> = (0..dn)
        .map(|i| mu[i] + (0..dn).map(|k| sht[i * dn + k] * w[k]).sum::<f64>())
        .collect();
    let gain = matmul(&sht, &s_inv);
    let reduce = matmul(&gain, &transpose(&sht));
    let post_cov: Vec<f64> = sigma.iter().zip(&reduce).map(|(a, b)| a - b).collect();
    let evidence = -0.5
        * (dn as f64 * (2.0 * PI).ln()
            + logdet_s
            + resid.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>());

    let u = g.moments("x").unwrap();
    let mut worst: f64 = 0.0;
    for t in 0..n {
        for i in 0..2 {
            worst = worst.max((u[0][2 * t + i] - post_mu[2 * t + i]).abs());
            for j in 0..2 {
                let second = post_cov[(2 * t + i) * dn + 2 * t + j]
                    + post_mu[2 * t + i] * post_mu[2 * t + j];
                worst = worst.max((u[1][4 * t + 2 * i + j] - second).abs());
                if t > 0 {
                    let cross = post_cov[(2 * t + i) * dn + 2 * (t - 1) + j]
                        + post_mu[2 * t + i] * post_mu[2 * (t - 1) + j];
                    worst = worst.max((u[2][4 * t + 2 * i + j] - cross).abs());
                }
            }
        }
    }
    println!("LGSSM N = {n}: smoothed moments vs dense conditioning, max abs gap {worst:.2e}");
    assert!(worst < 1e-12, "{worst}");
    assert!(rel(g.elbo(), evidence) < 1e-12);
    assert!(rel(kalman_log_likelihood(&m, &y), evidence) < 1e-12);
}

/// Not a benchmark (no assertion on speed): prints how long one smoothing
/// takes, run with `cargo test --release -p actinf-vmp --test exactness
/// timing -- --nocapture`.
#[test]
fn timing_of_one_chain_update() {
    let m = lgssm();
    for n in [1_000, 10_000] {
        let y = lgssm_data(&m, n, 41);
        let mut g = lgssm_graph(&m, &y);
        let reps = 20;
        let start = Instant::now();
        for _ in 0..reps {
            g.update("x").unwrap();
        }
        let update = start.elapsed().as_secs_f64() / reps as f64;
        let phi = g.natural("x").unwrap().clone();
        let chain = GaussianChain::new(
            &flat2(&m.a),
            &flat2(&inv(&m.q_cov)),
            &m.mu0,
            &flat2(&inv(&m.p0)),
        )
        .unwrap();
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(chain.moments(&phi, n).unwrap());
        }
        let smooth = start.elapsed().as_secs_f64() / reps as f64;
        println!(
            "LGSSM D = 2, N = {n}: Kalman + RTS smoothing {:.3} ms; graph update (messages + smoothing) {:.3} ms",
            smooth * 1e3,
            update * 1e3
        );
    }
    let n = 10_000;
    let y = hmm_data(n, 43);
    let mut g = hmm_graph(&y, None);
    let reps = 20;
    let start = Instant::now();
    for _ in 0..reps {
        g.update("z").unwrap();
    }
    let update = start.elapsed().as_secs_f64() / reps as f64;
    println!(
        "HMM K = 3, N = {n}: graph update (forward-backward) {:.3} ms",
        update * 1e3
    );
}
