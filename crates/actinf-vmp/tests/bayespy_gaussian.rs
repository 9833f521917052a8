//! BayesPy 0.6.6 replay: the Gaussian with unknown mean and precision
//! (BayesPy's quickstart), from the committed fixture made by
//! `scripts/bayespy_fixtures.py`. Every iteration's ELBO must match to 1e-8
//! relative, and the final posteriors too.

use serde_json::Value;

use actinf_vmp::nodes::{Gamma, GaussianArd};
use actinf_vmp::{Graph, NodeSpec, Parent};

const TOLERANCE: f64 = 1e-8;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bayespy/gaussian_mean_precision.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn gaussian_mean_precision_replays_bayespy() {
    let fx = fixture();
    let nodes = &fx["model"]["nodes"];
    let mu_p = &nodes[0]["parents"];
    let tau_p = &nodes[1]["parents"];
    let data: Vec<f64> = nodes[2]["observed"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "mu",
            GaussianArd,
            vec![Parent::value([f(&mu_p[0])]), Parent::value([f(&mu_p[1])])],
        ),
        // BayesPy's Gamma(a, b): shape a, rate b.
        NodeSpec::new(
            "tau",
            Gamma::new(f(&tau_p[0])),
            vec![Parent::value([f(&tau_p[1])])],
        ),
        NodeSpec::new(
            "y",
            GaussianArd,
            vec![Parent::node("mu"), Parent::node("tau")],
        )
        .plates(&[data.len()])
        .observe(data),
    ])
    .unwrap();
    // Initial posteriors: BayesPy's natural parameters (its Gamma uses
    // φ = [−b, a]; ours [−b, a − 1]).
    let init = &fx["initial_posteriors"];
    let mu_phi: Vec<f64> = init["mu"]["phi"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    let tau_phi: Vec<f64> = init["tau"]["phi"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    g.set_posterior("mu", vec![vec![mu_phi[0]], vec![mu_phi[1]]])
        .unwrap();
    g.set_posterior("tau", vec![vec![tau_phi[0]], vec![tau_phi[1] - 1.0]])
        .unwrap();
    let rule = &fx["tolerance_rule"];
    let order: Vec<&str> = fx["update_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .filter(|&n| n != "y")
        .collect();
    let run = g
        .run(
            &order,
            rule["max_iter"].as_u64().unwrap() as usize,
            f(&rule["tol"]),
        )
        .unwrap();
    let want: Vec<f64> = fx["expected"]["elbo"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    assert_eq!(run.iterations, want.len(), "iterations: {:?}", run.elbo);
    let mut worst: f64 = 0.0;
    for (got, want) in run.elbo.iter().zip(&want) {
        worst = worst.max(rel(*got, *want));
    }
    println!(
        "gaussian_mean_precision: ELBO max relative gap {worst:.2e} over {} iterations (final {})",
        want.len(),
        run.elbo.last().unwrap()
    );
    assert!(worst <= TOLERANCE, "{:?} vs {want:?}", run.elbo);
    let post = &fx["expected"]["posteriors"];
    let mu_u = g.moments("mu").unwrap();
    assert!(rel(mu_u[0][0], f(&post["mu"]["u"][0])) <= TOLERANCE);
    assert!(rel(mu_u[1][0], f(&post["mu"]["u"][1])) <= TOLERANCE);
    let tau_u = g.moments("tau").unwrap();
    assert!(rel(tau_u[0][0], f(&post["tau"]["u"][0])) <= TOLERANCE);
    assert!(rel(tau_u[1][0], f(&post["tau"]["u"][1])) <= TOLERANCE);
}
