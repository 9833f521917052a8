//! BayesPy 0.6.6 replay of its Bayesian PCA example (`pca` fixture, made by
//! `scripts/bayespy_fixtures.py`; plain VMP, no rotation speed-up):
//!
//! ```text
//! X     ~ GaussianARD(0, 1, shape=(D,), plates=(1, N))
//! alpha ~ Gamma(1e-5, 1e-5, plates=(D,))
//! C     ~ GaussianARD(0, alpha, shape=(D,), plates=(M, 1))
//! tau   ~ Gamma(1e-5, 1e-5)
//! Y     ~ GaussianARD(SumMultiply('d,d->', X, C), tau)     (observed, M × N)
//! ```
//!
//! Here `X` and `C` are [`GaussianArdVector`] nodes and `Y` a
//! [`DotGaussian`] node. `C` starts from BayesPy's recorded random draw, the
//! rest from their priors; sweeps update `X, C, alpha, tau`. Every sweep's
//! ELBO within 1e-8 relative, the same number of sweeps (the maximum: the
//! run does not converge), and the final posteriors' moments.

use serde_json::Value;

use actinf_vmp::nodes::{DotGaussian, Gamma, Gaussian, GaussianArdVector};
use actinf_vmp::{Graph, NodeSpec, Parent};

mod common;
use common::{fixture, flat, node, plates};

const TOLERANCE: f64 = 1e-8;

fn scalar(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

/// Largest gap, relative where |want| ≥ 1 and absolute below. BayesPy keeps
/// arrays that are constant along leading plates unbroadcast (a prior's
/// moments, `X`'s posterior precision): `want` repeats to `got`'s length.
fn gap(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len() % want.len(), 0, "{} vs {}", got.len(), want.len());
    got.iter()
        .zip(want.iter().cycle())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// The PCA graph of the fixture, `C` started from the recorded value.
fn pca_graph(fx: &Value) -> Graph {
    let (x, alpha, c, tau, y) = (
        node(fx, "X"),
        node(fx, "alpha"),
        node(fx, "C"),
        node(fx, "tau"),
        node(fx, "Y"),
    );
    let d = x["shape"][0].as_u64().unwrap() as usize;
    assert_eq!(c["shape"][0].as_u64().unwrap() as usize, d);
    assert_eq!(node(fx, "F")["einsum"], "d,d->");
    assert_eq!(node(fx, "F")["parents"], serde_json::json!(["X", "C"]));
    assert_eq!(c["parents"][1], "alpha");
    // Constant scalar means and precisions, as BayesPy broadcasts them.
    let mean = |v: &Value| Parent::value(vec![scalar(v); d]);
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "X",
            GaussianArdVector::new(d).unwrap(),
            vec![
                mean(&x["parents"][0]),
                Parent::value([scalar(&x["parents"][1])]),
            ],
        )
        .plates(&plates(x)),
        NodeSpec::new(
            "alpha",
            Gamma::new(scalar(&alpha["parents"][0])),
            vec![Parent::value([scalar(&alpha["parents"][1])])],
        )
        .plates(&plates(alpha)),
        NodeSpec::new(
            "C",
            GaussianArdVector::new(d).unwrap(),
            vec![mean(&c["parents"][0]), Parent::node("alpha")],
        )
        .plates(&plates(c)),
        NodeSpec::new(
            "tau",
            Gamma::new(scalar(&tau["parents"][0])),
            vec![Parent::value([scalar(&tau["parents"][1])])],
        ),
        NodeSpec::new(
            "Y",
            DotGaussian::new(d).unwrap(),
            vec![Parent::node("C"), Parent::node("X"), Parent::node("tau")],
        )
        .plates(&plates(y))
        .observe(flat(&y["observed"])),
    ])
    .unwrap();
    let init = &fx["initial_posteriors"];
    assert_eq!(init["C"]["init"], "value");
    g.initialize_from_value("C", &flat(&init["C"]["value"]))
        .unwrap();
    // The others start from their priors, as recorded.
    for name in ["X", "alpha", "tau"] {
        assert_eq!(init[name]["init"], "prior");
        for p in 0..2 {
            let e = gap(&g.moments(name).unwrap()[p], &flat(&init[name]["u"][p]));
            assert!(e <= TOLERANCE, "initial {name} u[{p}]: gap {e:e}");
        }
    }
    let e = gap(&g.moments("C").unwrap()[1], &flat(&init["C"]["u"][1]));
    assert!(e <= TOLERANCE, "initial C u[1]: gap {e:e}");
    g
}

#[test]
fn bayesian_pca_replays_bayespy() {
    let fx = fixture("pca");
    let mut g = pca_graph(&fx);
    let order: Vec<&str> = fx["update_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .filter(|&n| n != "Y")
        .collect();
    assert_eq!(order, ["X", "C", "alpha", "tau"]);
    let rule = &fx["tolerance_rule"];
    let run = g
        .run(
            &order,
            rule["max_iter"].as_u64().unwrap() as usize,
            scalar(&rule["tol"]),
        )
        .unwrap();
    let want = flat(&fx["expected"]["elbo"]);
    let worst = run
        .elbo
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max);
    println!(
        "pca: ELBO max relative gap {worst:.2e} over {} sweeps ({} here)",
        want.len(),
        run.iterations
    );
    assert!(worst <= TOLERANCE, "{:?}\n vs {want:?}", run.elbo);
    assert_eq!(run.iterations, want.len());
    assert_eq!(
        run.converged,
        fx["expected"]["converged"].as_bool().unwrap()
    );
    assert!(run.decreases.is_empty(), "{:?}", run.decreases);

    let post = &fx["expected"]["posteriors"];
    let mut checks: Vec<(String, f64)> = Vec::new();
    // Gaussian vectors: the same natural parameters [P m, −½P] and moments.
    for name in ["X", "C"] {
        for p in 0..2 {
            let e = gap(&g.natural(name).unwrap()[p], &flat(&post[name]["phi"][p]));
            checks.push((format!("{name} phi[{p}]"), e));
            let e = gap(&g.moments(name).unwrap()[p], &flat(&post[name]["u"][p]));
            checks.push((format!("{name} u[{p}]"), e));
        }
    }
    // Gammas: BayesPy's φ₁ is the shape a, this crate's a − 1; compare the
    // rate (−φ₀) and the moments.
    for name in ["alpha", "tau"] {
        let e = gap(&g.natural(name).unwrap()[0], &flat(&post[name]["phi"][0]));
        checks.push((format!("{name} phi[0]"), e));
        for p in 0..2 {
            let e = gap(&g.moments(name).unwrap()[p], &flat(&post[name]["u"][p]));
            checks.push((format!("{name} u[{p}]"), e));
        }
    }
    let worst = checks.iter().map(|c| c.1).fold(0.0, f64::max);
    println!("pca: final posteriors max gap {worst:.2e}");
    for (what, e) in &checks {
        assert!(*e <= TOLERANCE, "{what}: gap {e:e}");
    }
}

/// The ARD vector node with a latent mean (the message to the mean, unused
/// by PCA) agrees with a [`Gaussian`] node whose Wishart precision is the
/// constant `diag(α)`: the same ELBO every sweep and the same posterior.
#[test]
fn ard_vector_with_latent_mean_matches_gaussian_with_diagonal_precision() {
    let (d, n) = (3, 5);
    let alpha = [0.5, 2.0, 4.0];
    let mut lambda = vec![0.0; d * d];
    for a in 0..d {
        lambda[a * d + a] = alpha[a];
    }
    let identity: Vec<f64> = (0..d * d)
        .map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    let data: Vec<f64> = (0..n * d)
        .map(|k| ((k * 7 % 11) as f64 - 5.0) / 3.0)
        .collect();
    let graph = |ard: bool| {
        let x = if ard {
            NodeSpec::new(
                "x",
                GaussianArdVector::new(d).unwrap(),
                vec![
                    Parent::node("mu"),
                    Parent::Constant {
                        values: alpha.to_vec(),
                        plates: vec![d],
                    },
                ],
            )
        } else {
            NodeSpec::new(
                "x",
                Gaussian::new(d).unwrap(),
                vec![Parent::node("mu"), Parent::value(lambda.clone())],
            )
        };
        Graph::new(vec![
            NodeSpec::new(
                "mu",
                Gaussian::new(d).unwrap(),
                vec![Parent::value(vec![1.0; d]), Parent::value(identity.clone())],
            ),
            x.plates(&[n]).observe(data.clone()),
        ])
        .unwrap()
    };
    let (mut a, mut b) = (graph(true), graph(false));
    let (ra, rb) = (
        a.run(&["mu"], 3, 0.0).unwrap(),
        b.run(&["mu"], 3, 0.0).unwrap(),
    );
    assert_eq!(ra.iterations, rb.iterations);
    assert!(gap(&ra.elbo, &rb.elbo) <= 1e-13, "{ra:?} vs {rb:?}");
    for p in 0..2 {
        let e = gap(&a.moments("mu").unwrap()[p], &b.moments("mu").unwrap()[p]);
        assert!(e <= 1e-13, "mu u[{p}]: gap {e:e}");
    }
}
