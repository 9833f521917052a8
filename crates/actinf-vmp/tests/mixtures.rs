//! The nodes of mixture models (Gaussian, Wishart, Dirichlet, Categorical,
//! Beta, Bernoulli, Mixture): exactness where q is exact (ELBO = log
//! evidence in closed form), a 2-D Gaussian mixture and a Bernoulli mixture
//! run to convergence with the ELBO never decreasing, and bad inputs refused
//! with typed errors. Each test states its tolerance.

// Index loops read closest to the closed forms.
#![allow(clippy::needless_range_loop)]

use std::f64::consts::PI;

use actinf_core::maths::{digamma, ln_gamma};
use actinf_vmp::nodes::{
    bernoulli, beta, Categorical, Dirichlet, Gamma, Gaussian, GaussianArd, Mixture, Wishart,
};
use actinf_vmp::{Graph, NodeSpec, Parent, VmpError};
use proptest::prelude::*;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn plated(values: Vec<f64>, plates: &[usize]) -> Parent {
    Parent::Constant {
        values,
        plates: plates.to_vec(),
    }
}

fn ln_beta(a: &[f64]) -> f64 {
    a.iter().map(|&x| ln_gamma(x)).sum::<f64>() - ln_gamma(a.iter().sum())
}

/// xorshift64* with Box–Muller: a fixed, dependency-free data generator.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Dense lower Cholesky factor (the test's own, independent of the crate's).
fn chol(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            l[i * n + j] = if i == j {
                assert!(s > 0.0);
                s.sqrt()
            } else {
                s / l[j * n + j]
            };
        }
    }
    l
}

/// `ln N(y | m, C)` for a dense covariance, by Cholesky.
fn ln_normal(y: &[f64], m: &[f64], c: &[f64]) -> f64 {
    let n = y.len();
    let l = chol(c, n);
    // Solve L z = y − m.
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (y[i] - m[i] - (0..i).map(|k| l[i * n + k] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    let logdet: f64 = 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>();
    -0.5 * (n as f64 * (2.0 * PI).ln() + logdet + z.iter().map(|v| v * v).sum::<f64>())
}

fn inv2(m: &[f64]) -> Vec<f64> {
    let det = m[0] * m[3] - m[1] * m[2];
    vec![m[3] / det, -m[1] / det, -m[2] / det, m[0] / det]
}

fn det2(m: &[f64]) -> f64 {
    m[0] * m[3] - m[1] * m[2]
}

fn ln_multigamma(a: f64, d: usize) -> f64 {
    let df = d as f64;
    df * (df - 1.0) / 4.0 * PI.ln() + (0..d).map(|j| ln_gamma(a - 0.5 * j as f64)).sum::<f64>()
}

// ---------------------------------------------------------------------------
// (1) exactness: ELBO = log evidence where q is exact
// ---------------------------------------------------------------------------

/// Tolerance 1e-12 relative: the ELBO of the exact posterior is the
/// Dirichlet–multinomial evidence `ln B(α + counts) − ln B(α)`.
#[test]
fn dirichlet_categorical_elbo_is_the_evidence() {
    let alpha = vec![0.5, 1.3, 2.0, 0.7];
    let x = vec![0.0, 2.0, 2.0, 1.0, 3.0, 2.0, 0.0, 2.0, 1.0, 2.0];
    let mut g = Graph::new(vec![
        NodeSpec::new("p", Dirichlet::new(alpha.clone()).unwrap(), vec![]),
        NodeSpec::new("x", Categorical::new(4).unwrap(), vec![Parent::node("p")])
            .plates(&[x.len()])
            .observe(x.clone()),
    ])
    .unwrap();
    let run = g.run(&["p"], 5, 1e-14).unwrap();
    let mut post = alpha.clone();
    for &c in &x {
        post[c as usize] += 1.0;
    }
    let evidence = ln_beta(&post) - ln_beta(&alpha);
    let l = *run.elbo.last().unwrap();
    println!(
        "Dirichlet–Categorical: ELBO {l}, evidence {evidence}, gap {:.1e}",
        rel(l, evidence)
    );
    assert!(rel(l, evidence) < 1e-12, "{l} vs {evidence}");
    // The posterior is Dir(α + counts).
    let s: f64 = post.iter().sum();
    for (k, &a) in post.iter().enumerate() {
        let want = digamma(a) - digamma(s);
        assert!((g.moments("p").unwrap()[0][k] - want).abs() < 1e-12);
    }
}

/// Tolerance 1e-12 relative: Beta–Bernoulli evidence
/// `ln B(a + #1, b + #0) − ln B(a, b)`; the Beta's moments run in outcome
/// order `[⟨ln(1 − p)⟩, ⟨ln p⟩]`.
#[test]
fn beta_bernoulli_elbo_is_the_evidence() {
    let (a, b) = (2.0, 3.5);
    let x = vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let ones: f64 = x.iter().sum();
    let zeros = x.len() as f64 - ones;
    let mut g = Graph::new(vec![
        NodeSpec::new("p", beta(a, b).unwrap(), vec![]),
        NodeSpec::new("x", bernoulli(), vec![Parent::node("p")])
            .plates(&[x.len()])
            .observe(x.clone()),
    ])
    .unwrap();
    let run = g.run(&["p"], 5, 1e-14).unwrap();
    let evidence = ln_beta(&[a + ones, b + zeros]) - ln_beta(&[a, b]);
    let l = *run.elbo.last().unwrap();
    println!(
        "Beta–Bernoulli: ELBO {l}, evidence {evidence}, gap {:.1e}",
        rel(l, evidence)
    );
    assert!(rel(l, evidence) < 1e-12, "{l} vs {evidence}");
    let u = &g.moments("p").unwrap()[0];
    let s = digamma(a + b + x.len() as f64);
    assert!((u[1] - (digamma(a + ones) - s)).abs() < 1e-12, "⟨ln p⟩");
    assert!(
        (u[0] - (digamma(b + zeros) - s)).abs() < 1e-12,
        "⟨ln(1 − p)⟩"
    );
}

/// Tolerance 1e-10 relative: a 2-D Gaussian with known precision Λ and a
/// Gaussian prior N(m0, Λ0⁻¹) on its mean; the evidence is the joint normal
/// of all N·D values, `N(y | 1⊗m0, I⊗Λ⁻¹ + 11ᵀ⊗Λ0⁻¹)`, by dense Cholesky.
#[test]
fn gaussian_known_precision_elbo_is_the_evidence() {
    let y = vec![
        0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 0.0, 3.1, 1.1, 0.6, -0.8, 1.4, 2.2, 2.0,
    ];
    let n = y.len() / 2;
    let m0 = vec![0.5, -0.3];
    let lam0 = vec![0.4, 0.1, 0.1, 0.2];
    let lam = vec![1.5, -0.6, -0.6, 0.9];
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "mu",
            Gaussian::new(2).unwrap(),
            vec![Parent::value(m0.clone()), Parent::value(lam0.clone())],
        ),
        NodeSpec::new(
            "y",
            Gaussian::new(2).unwrap(),
            vec![Parent::node("mu"), Parent::value(lam.clone())],
        )
        .plates(&[n])
        .observe(y.clone()),
    ])
    .unwrap();
    let run = g.run(&["mu"], 5, 1e-14).unwrap();
    let (s, s0) = (inv2(&lam), inv2(&lam0));
    let nd = 2 * n;
    let mut cov = vec![0.0; nd * nd];
    for i in 0..n {
        for j in 0..n {
            for a in 0..2 {
                for b in 0..2 {
                    let mut v = s0[a * 2 + b];
                    if i == j {
                        v += s[a * 2 + b];
                    }
                    cov[(2 * i + a) * nd + 2 * j + b] = v;
                }
            }
        }
    }
    let mean: Vec<f64> = (0..nd).map(|k| m0[k % 2]).collect();
    let evidence = ln_normal(&y, &mean, &cov);
    let l = *run.elbo.last().unwrap();
    println!(
        "Gaussian(2) known precision: ELBO {l}, evidence {evidence}, gap {:.1e}",
        rel(l, evidence)
    );
    assert!(rel(l, evidence) < 1e-10, "{l} vs {evidence}");
}

/// Tolerance 1e-10 relative: a Wishart(n, V) precision with a known mean;
/// the evidence is `π^{−ND/2} Γ_D((n+N)/2)/Γ_D(n/2) |V|^{n/2} / |V + S|^{(n+N)/2}`
/// with `S = Σ (x − μ)(x − μ)ᵀ` (V the inverse scale, `⟨Λ⟩ = nV⁻¹`).
#[test]
fn wishart_known_mean_elbo_is_the_evidence() {
    let y = vec![
        0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 0.0, 3.1, 1.1, 0.6, -0.8, 1.4, 2.2, 2.0,
    ];
    let n_obs = y.len() / 2;
    let mu = vec![0.7, 0.4];
    let (dof, v) = (3.5, vec![2.0, 0.3, 0.3, 1.0]);
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "lambda",
            Wishart::new(2, dof).unwrap(),
            vec![Parent::value(v.clone())],
        ),
        NodeSpec::new(
            "y",
            Gaussian::new(2).unwrap(),
            vec![Parent::value(mu.clone()), Parent::node("lambda")],
        )
        .plates(&[n_obs])
        .observe(y.clone()),
    ])
    .unwrap();
    let run = g.run(&["lambda"], 5, 1e-14).unwrap();
    let mut vs = v.clone();
    for i in 0..n_obs {
        let r = [y[2 * i] - mu[0], y[2 * i + 1] - mu[1]];
        for a in 0..2 {
            for b in 0..2 {
                vs[a * 2 + b] += r[a] * r[b];
            }
        }
    }
    let nn = n_obs as f64;
    let evidence = -nn * PI.ln() + ln_multigamma((dof + nn) / 2.0, 2) - ln_multigamma(dof / 2.0, 2)
        + dof / 2.0 * det2(&v).ln()
        - (dof + nn) / 2.0 * det2(&vs).ln();
    let l = *run.elbo.last().unwrap();
    println!(
        "Wishart known mean: ELBO {l}, evidence {evidence}, gap {:.1e}",
        rel(l, evidence)
    );
    assert!(rel(l, evidence) < 1e-10, "{l} vs {evidence}");
    // ⟨Λ⟩ = (n + N)(V + S)⁻¹.
    let want = inv2(&vs);
    for k in 0..4 {
        let got = g.moments("lambda").unwrap()[0][k];
        assert!((got - (dof + nn) * want[k]).abs() < 1e-12);
    }
}

/// Tolerance 1e-12 relative: with known components, q(z) is the exact
/// posterior of each assignment and the ELBO is
/// `Σ_i ln Σ_k π_k N(x_i | μ_k, τ_k⁻¹)` (a GaussianArd mixture).
#[test]
fn mixture_with_known_components_gives_the_evidence() {
    let pi = vec![0.2, 0.5, 0.3];
    let mu = vec![-1.0, 0.5, 2.0];
    let tau = vec![1.0, 4.0, 0.5];
    let x = vec![-1.3, 0.2, 0.6, 2.9, 1.4, -0.1];
    let n = x.len();
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "z",
            Categorical::new(3).unwrap(),
            vec![Parent::value(pi.clone())],
        )
        .plates(&[n]),
        NodeSpec::new(
            "x",
            Mixture::new(3, GaussianArd).unwrap(),
            vec![
                Parent::node("z"),
                plated(mu.clone(), &[3]),
                plated(tau.clone(), &[3]),
            ],
        )
        .plates(&[n])
        .observe(x.clone()),
    ])
    .unwrap();
    let run = g.run(&["z"], 5, 1e-14).unwrap();
    let mut evidence = 0.0;
    for (i, &xi) in x.iter().enumerate() {
        let joint: Vec<f64> = (0..3)
            .map(|k| {
                pi[k].ln() + 0.5 * (tau[k] / (2.0 * PI)).ln() - 0.5 * tau[k] * (xi - mu[k]).powi(2)
            })
            .collect();
        let m = joint.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + joint.iter().map(|j| (j - m).exp()).sum::<f64>().ln();
        evidence += lse;
        for k in 0..3 {
            let got = g.moments("z").unwrap()[0][i * 3 + k];
            assert!((got - (joint[k] - lse).exp()).abs() < 1e-13);
        }
    }
    let l = *run.elbo.last().unwrap();
    println!(
        "known-component mixture: ELBO {l}, evidence {evidence}, gap {:.1e}",
        rel(l, evidence)
    );
    assert!(rel(l, evidence) < 1e-12, "{l} vs {evidence}");
}

/// Tolerance 1e-10 relative: with the assignments observed, the component
/// means' posteriors are exact and the evidence factorises over the
/// clusters: `Σ_i ln π_{z_i} + Σ_k ln N(y_k | 1⊗m0, I⊗Λ_k⁻¹ + 11ᵀ⊗Λ0⁻¹)`.
#[test]
fn mixture_with_observed_assignments_gives_the_evidence() {
    let pi = vec![0.3, 0.7];
    let z = vec![0.0, 1.0, 1.0, 0.0, 1.0];
    let y = vec![0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 0.0, 3.1, 1.1, 0.6];
    let m0 = vec![0.0, 0.5];
    let lam0 = vec![0.5, 0.0, 0.0, 0.5];
    let lam = vec![1.0, 0.2, 0.2, 0.8, 2.0, -0.5, -0.5, 1.5];
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "z",
            Categorical::new(2).unwrap(),
            vec![Parent::value(pi.clone())],
        )
        .plates(&[5])
        .observe(z.clone()),
        NodeSpec::new(
            "mu",
            Gaussian::new(2).unwrap(),
            vec![Parent::value(m0.clone()), Parent::value(lam0.clone())],
        )
        .plates(&[2]),
        NodeSpec::new(
            "y",
            Mixture::new(2, Gaussian::new(2).unwrap()).unwrap(),
            vec![
                Parent::node("z"),
                Parent::node("mu"),
                plated(lam.clone(), &[2]),
            ],
        )
        .plates(&[5])
        .observe(y.clone()),
    ])
    .unwrap();
    let run = g.run(&["mu"], 5, 1e-14).unwrap();
    let s0 = inv2(&lam0);
    let mut evidence: f64 = z.iter().map(|&c| pi[c as usize].ln()).sum();
    for k in 0..2 {
        let s = inv2(&lam[4 * k..4 * k + 4]);
        let members: Vec<usize> = (0..5).filter(|&i| z[i] as usize == k).collect();
        let nd = 2 * members.len();
        let mut cov = vec![0.0; nd * nd];
        let mut yk = Vec::new();
        for (p, &i) in members.iter().enumerate() {
            yk.extend_from_slice(&y[2 * i..2 * i + 2]);
            for q in 0..members.len() {
                for a in 0..2 {
                    for b in 0..2 {
                        let mut v = s0[a * 2 + b];
                        if p == q {
                            v += s[a * 2 + b];
                        }
                        cov[(2 * p + a) * nd + 2 * q + b] = v;
                    }
                }
            }
        }
        let mean: Vec<f64> = (0..nd).map(|j| m0[j % 2]).collect();
        evidence += ln_normal(&yk, &mean, &cov);
    }
    let l = *run.elbo.last().unwrap();
    println!(
        "observed-assignment mixture: ELBO {l}, evidence {evidence}, gap {:.1e}",
        rel(l, evidence)
    );
    assert!(rel(l, evidence) < 1e-10, "{l} vs {evidence}");
}

// ---------------------------------------------------------------------------
// (2) a 2-D Gaussian mixture, (3) a Bernoulli mixture
// ---------------------------------------------------------------------------

const CENTRES: [[f64; 2]; 3] = [[-4.0, 0.0], [4.0, 1.0], [0.0, 5.0]];

fn gmm_data() -> Vec<f64> {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut y = Vec::with_capacity(120);
    for i in 0..60 {
        let c = CENTRES[i % 3];
        y.push(c[0] + 0.8 * rng.normal());
        y.push(c[1] + 0.8 * rng.normal());
    }
    y
}

/// 2-D GMM, K = 3, N = 60 (20 points round each centre, sd 0.8, a fixed
/// xorshift seed), assignments started from draws of the same generator.
/// Tolerances: no ELBO decrease beyond 1e-9 relative per sweep; posterior
/// means within 0.5 of the generating centres (the standard error is
/// 0.8/√20 ≈ 0.18 per coordinate); ≥ 95% of the points assigned to their
/// own cluster.
#[test]
fn gmm_converges_to_the_generating_centres() {
    let y = gmm_data();
    let n = 60;
    let mut g = Graph::new(vec![
        NodeSpec::new("alpha", Dirichlet::new(vec![1.0; 3]).unwrap(), vec![]),
        NodeSpec::new(
            "z",
            Categorical::new(3).unwrap(),
            vec![Parent::node("alpha")],
        )
        .plates(&[n]),
        NodeSpec::new(
            "mu",
            Gaussian::new(2).unwrap(),
            vec![
                Parent::value([0.0, 0.0]),
                Parent::value([1e-2, 0.0, 0.0, 1e-2]),
            ],
        )
        .plates(&[3]),
        NodeSpec::new(
            "Lambda",
            Wishart::new(2, 2.0).unwrap(),
            vec![Parent::value([1.0, 0.0, 0.0, 1.0])],
        )
        .plates(&[3]),
        NodeSpec::new(
            "y",
            Mixture::new(3, Gaussian::new(2).unwrap()).unwrap(),
            vec![
                Parent::node("z"),
                Parent::node("mu"),
                Parent::node("Lambda"),
            ],
        )
        .plates(&[n])
        .observe(y.clone()),
    ])
    .unwrap();
    let mut rng = Rng(42);
    let z0: Vec<f64> = (0..n).map(|_| (rng.uniform() * 3.0).floor()).collect();
    g.initialize_from_value("z", &z0).unwrap();
    let run = g.run(&["mu", "Lambda", "z", "alpha"], 500, 1e-12).unwrap();
    assert!(run.converged, "{:?}", run.elbo);
    assert!(run.decreases.is_empty(), "{:?}", run.decreases);
    for w in run.elbo.windows(2) {
        assert!(w[1] >= w[0] - 1e-9 * w[0].abs(), "{:?}", run.elbo);
    }
    let m = &g.moments("mu").unwrap()[0];
    let mut worst: f64 = 0.0;
    let mut matched = [0usize; 3];
    for (c, centre) in CENTRES.iter().enumerate() {
        let (k, d) = (0..3)
            .map(|k| {
                (
                    k,
                    ((m[2 * k] - centre[0]).powi(2) + (m[2 * k + 1] - centre[1]).powi(2)).sqrt(),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        matched[c] = k;
        worst = worst.max(d);
    }
    let mut distinct = matched.to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "two centres share a component: {m:?}");
    println!(
        "GMM: {} sweeps, final ELBO {}, worst centre distance {worst:.3}",
        run.iterations,
        run.elbo.last().unwrap()
    );
    assert!(worst < 0.5, "{m:?}");
    let q = &g.moments("z").unwrap()[0];
    let right = (0..n).filter(|&i| q[i * 3 + matched[i % 3]] > 0.5).count();
    assert!(right as f64 >= 0.95 * n as f64, "{right}/{n}");
}

const PATTERNS: [[f64; 10]; 3] = [
    [0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9],
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9],
    [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1],
];

/// Bernoulli mixture, K = 3, D = 10 (BayesPy's example patterns), N = 90
/// (30 per pattern, a fixed xorshift seed), Beta(1, 1) priors, the
/// probabilities started from uniform(0.3, 0.7) draws. Tolerances: no ELBO
/// decrease beyond 1e-9 relative; every posterior mean `⟨p⟩` within 0.2 of
/// the generating one (the standard error is ≤ 0.055); ≥ 95% of the vectors
/// assigned to their own pattern.
#[test]
fn bernoulli_mixture_recovers_the_patterns() {
    let (n, d, k) = (90, 10, 3);
    let mut rng = Rng(0xB1_7A_2E);
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        for j in 0..d {
            x.push(if rng.uniform() < PATTERNS[i % 3][j] {
                1.0
            } else {
                0.0
            });
        }
    }
    let mut g = Graph::new(vec![
        NodeSpec::new("R", Dirichlet::new(vec![1.0; k]).unwrap(), vec![]),
        NodeSpec::new("Z", Categorical::new(k).unwrap(), vec![Parent::node("R")]).plates(&[n, 1]),
        NodeSpec::new("P", beta(1.0, 1.0).unwrap(), vec![]).plates(&[d, k]),
        NodeSpec::new(
            "X",
            Mixture::new(k, bernoulli()).unwrap(),
            vec![Parent::node("Z"), Parent::node("P")],
        )
        .plates(&[n, d])
        .observe(x),
    ])
    .unwrap();
    // P's values are (P(x = 0), P(x = 1)) pairs.
    let mut p0 = Vec::with_capacity(d * k * 2);
    for _ in 0..d * k {
        let p = 0.3 + 0.4 * rng.uniform();
        p0.extend_from_slice(&[1.0 - p, p]);
    }
    g.initialize_from_value("P", &p0).unwrap();
    let run = g.run(&["Z", "R", "P"], 500, 1e-12).unwrap();
    assert!(run.converged, "{:?}", run.elbo);
    assert!(run.decreases.is_empty(), "{:?}", run.decreases);
    for w in run.elbo.windows(2) {
        assert!(w[1] >= w[0] - 1e-9 * w[0].abs(), "{:?}", run.elbo);
    }
    // ⟨p⟩ = a/(a + b) from the posterior's natural parameters [b, a].
    let phi = &g.natural("P").unwrap()[0];
    let mean = |j: usize, c: usize| {
        let e = (j * k + c) * 2;
        phi[e + 1] / (phi[e] + phi[e + 1])
    };
    let mut worst: f64 = 0.0;
    let mut matched = [0usize; 3];
    for (pat, probs) in PATTERNS.iter().enumerate() {
        let (c, dist) = (0..k)
            .map(|c| {
                let dist = (0..d)
                    .map(|j| (mean(j, c) - probs[j]).abs())
                    .fold(0.0, f64::max);
                (c, dist)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        matched[pat] = c;
        worst = worst.max(dist);
    }
    let mut distinct = matched.to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "two patterns share a component");
    println!(
        "Bernoulli mixture: {} sweeps, final ELBO {}, worst |⟨p⟩ − p| {worst:.3}",
        run.iterations,
        run.elbo.last().unwrap()
    );
    assert!(worst < 0.2);
    let q = &g.moments("Z").unwrap()[0];
    let right = (0..n).filter(|&i| q[i * k + matched[i % 3]] > 0.5).count();
    assert!(right as f64 >= 0.95 * n as f64, "{right}/{n}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// A mixture of GaussianArd components with Gamma precisions: the ELBO
    /// never decreases (tolerance 1e-9 relative per sweep).
    #[test]
    fn gaussian_ard_mixture_elbo_never_decreases(
        y in prop::collection::vec(-5.0f64..5.0, 4..30),
        z0 in prop::collection::vec(0usize..2, 30),
    ) {
        let n = y.len();
        let mut g = Graph::new(vec![
            NodeSpec::new("w", Dirichlet::new(vec![1.0, 1.0]).unwrap(), vec![]),
            NodeSpec::new("z", Categorical::new(2).unwrap(), vec![Parent::node("w")]).plates(&[n]),
            NodeSpec::new("mu", GaussianArd, vec![Parent::value([0.0]), Parent::value([0.01])])
                .plates(&[2]),
            NodeSpec::new("tau", Gamma::new(1.0), vec![Parent::value([1.0])]).plates(&[2]),
            NodeSpec::new(
                "y",
                Mixture::new(2, GaussianArd).unwrap(),
                vec![Parent::node("z"), Parent::node("mu"), Parent::node("tau")],
            )
            .plates(&[n])
            .observe(y.clone()),
        ]).unwrap();
        let z0: Vec<f64> = z0[..n].iter().map(|&c| c as f64).collect();
        g.initialize_from_value("z", &z0).unwrap();
        let run = g.run(&["mu", "tau", "z", "w"], 40, 0.0).unwrap();
        for w in run.elbo.windows(2) {
            prop_assert!(w[1] >= w[0] - 1e-9 * w[0].abs(), "{:?}", run.elbo);
        }
    }
}

// ---------------------------------------------------------------------------
// (4) bad inputs
// ---------------------------------------------------------------------------

#[test]
fn bad_constants_are_refused() {
    assert!(matches!(
        Wishart::new(3, 1.5),
        Err(VmpError::Setting { .. })
    ));
    assert!(matches!(
        Wishart::new(2, f64::NAN),
        Err(VmpError::Setting { .. })
    ));
    assert!(matches!(
        Wishart::new(0, 3.0),
        Err(VmpError::Setting { .. })
    ));
    assert!(matches!(
        Dirichlet::new(vec![1.0, 0.0]),
        Err(VmpError::Setting { .. })
    ));
    assert!(matches!(
        Dirichlet::new(Vec::<f64>::new()),
        Err(VmpError::Setting { .. })
    ));
    assert!(matches!(beta(-1.0, 1.0), Err(VmpError::Setting { .. })));
    assert!(matches!(Gaussian::new(0), Err(VmpError::Setting { .. })));
    assert!(matches!(Categorical::new(0), Err(VmpError::Setting { .. })));
    assert!(matches!(
        Mixture::new(0, GaussianArd),
        Err(VmpError::Setting { .. })
    ));
}

#[test]
fn non_positive_definite_or_asymmetric_matrices_are_refused() {
    // A precision constant that is not positive definite.
    let err = Graph::new(vec![NodeSpec::new(
        "y",
        Gaussian::new(2).unwrap(),
        vec![
            Parent::value([0.0, 0.0]),
            Parent::value([1.0, 2.0, 2.0, 1.0]),
        ],
    )])
    .unwrap_err();
    assert!(matches!(err, VmpError::Value { .. }), "{err}");
    assert!(err.to_string().contains("constant parent 1"), "{err}");
    // A Wishart scale that is not positive definite.
    let err = Graph::new(vec![NodeSpec::new(
        "L",
        Wishart::new(2, 3.0).unwrap(),
        vec![Parent::value([1.0, 0.0, 0.0, -1.0])],
    )])
    .unwrap_err();
    assert!(matches!(err, VmpError::Value { .. }), "{err}");
    // An asymmetric one (Cholesky alone would read only its lower triangle).
    let err = Graph::new(vec![NodeSpec::new(
        "L",
        Wishart::new(2, 3.0).unwrap(),
        vec![Parent::value([1.0, 0.5, 0.0, 1.0])],
    )])
    .unwrap_err();
    assert!(matches!(err, VmpError::Value { index: 2, .. }), "{err}");
}

#[test]
fn wrong_dimensions_are_refused() {
    // A mean of 3 values for a 2-D Gaussian.
    let err = Graph::new(vec![NodeSpec::new(
        "y",
        Gaussian::new(2).unwrap(),
        vec![
            Parent::value([0.0, 0.0, 0.0]),
            Parent::value([1.0, 0.0, 0.0, 1.0]),
        ],
    )])
    .unwrap_err();
    assert!(
        matches!(
            err,
            VmpError::Size {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{err}"
    );
    // A 2-D Wishart node as the precision of a 3-D Gaussian.
    let err = Graph::new(vec![
        NodeSpec::new(
            "L",
            Wishart::new(2, 3.0).unwrap(),
            vec![Parent::value([1.0, 0.0, 0.0, 1.0])],
        ),
        NodeSpec::new(
            "y",
            Gaussian::new(3).unwrap(),
            vec![Parent::value([0.0; 3]), Parent::node("L")],
        ),
    ])
    .unwrap_err();
    assert!(
        matches!(err, VmpError::NotConjugate { slot: 1, .. }),
        "{err}"
    );
    // Observed 2-D data of odd length.
    let err = Graph::new(vec![NodeSpec::new(
        "y",
        Gaussian::new(2).unwrap(),
        vec![
            Parent::value([0.0, 0.0]),
            Parent::value([1.0, 0.0, 0.0, 1.0]),
        ],
    )
    .plates(&[2])
    .observe(vec![1.0, 2.0, 3.0])])
    .unwrap_err();
    assert!(
        matches!(
            err,
            VmpError::Size {
                expected: 4,
                got: 3,
                ..
            }
        ),
        "{err}"
    );
    // A selector over 2 categories for a 3-component mixture.
    let err = Graph::new(vec![
        NodeSpec::new(
            "z",
            Categorical::new(2).unwrap(),
            vec![Parent::value([0.5, 0.5])],
        ),
        NodeSpec::new(
            "y",
            Mixture::new(3, GaussianArd).unwrap(),
            vec![
                Parent::node("z"),
                plated(vec![0.0; 3], &[3]),
                plated(vec![1.0; 3], &[3]),
            ],
        ),
    ])
    .unwrap_err();
    assert!(
        matches!(err, VmpError::NotConjugate { slot: 0, .. }),
        "{err}"
    );
    // Component parameters with 4 components for a 3-component mixture.
    let err = Graph::new(vec![
        NodeSpec::new(
            "z",
            Categorical::new(3).unwrap(),
            vec![Parent::value([0.2, 0.3, 0.5])],
        ),
        NodeSpec::new(
            "y",
            Mixture::new(3, GaussianArd).unwrap(),
            vec![
                Parent::node("z"),
                plated(vec![0.0; 4], &[4]),
                plated(vec![1.0; 3], &[3]),
            ],
        ),
    ])
    .unwrap_err();
    assert!(matches!(err, VmpError::Plates { .. }), "{err}");
    // An initial value of the wrong size.
    let mut g = Graph::new(vec![NodeSpec::new(
        "z",
        Categorical::new(3).unwrap(),
        vec![Parent::value([0.2, 0.3, 0.5])],
    )
    .plates(&[4])])
    .unwrap();
    assert!(matches!(
        g.initialize_from_value("z", &[0.0, 1.0]),
        Err(VmpError::Size { .. })
    ));
    assert!(matches!(
        g.initialize_from_value("z", &[0.0, 1.0, 2.0, 3.0]),
        Err(VmpError::Value { index: 3, .. })
    ));
    // An observed node cannot be started from a value.
    let mut g = Graph::new(vec![NodeSpec::new(
        "x",
        Categorical::new(3).unwrap(),
        vec![Parent::value([0.2, 0.3, 0.5])],
    )
    .observe(vec![1.0])])
    .unwrap();
    assert!(matches!(
        g.initialize_from_value("x", &[0.0]),
        Err(VmpError::Setting { .. })
    ));
}

#[test]
fn out_of_range_categories_and_probabilities_are_refused() {
    let build = |x: Vec<f64>| {
        Graph::new(vec![NodeSpec::new(
            "x",
            Categorical::new(3).unwrap(),
            vec![Parent::value([0.2, 0.3, 0.5])],
        )
        .plates(&[x.len()])
        .observe(x)])
    };
    assert!(build(vec![0.0, 2.0, 1.0]).is_ok());
    for (bad, index) in [
        (vec![0.0, 3.0], 1),
        (vec![-1.0], 0),
        (vec![1.0, 1.5], 1),
        (vec![f64::NAN], 0),
    ] {
        let err = build(bad).unwrap_err();
        assert!(
            matches!(&err, VmpError::Value { index: i, .. } if *i == index),
            "{err}"
        );
        assert!(err.to_string().contains("observed data"), "{err}");
    }
    // A Bernoulli observation that is not 0 or 1.
    let err = Graph::new(vec![
        NodeSpec::new("p", beta(1.0, 1.0).unwrap(), vec![]),
        NodeSpec::new("x", bernoulli(), vec![Parent::node("p")])
            .plates(&[3])
            .observe(vec![0.0, 1.0, 2.0]),
    ])
    .unwrap_err();
    assert!(matches!(err, VmpError::Value { index: 2, .. }), "{err}");
    // Constant probabilities that do not sum to one, or are negative.
    for p in [[0.2, 0.3, 0.6], [1.2, -0.2, 0.0]] {
        let err = Graph::new(vec![NodeSpec::new(
            "x",
            Categorical::new(3).unwrap(),
            vec![Parent::value(p)],
        )])
        .unwrap_err();
        assert!(matches!(err, VmpError::Value { .. }), "{err}");
    }
}
