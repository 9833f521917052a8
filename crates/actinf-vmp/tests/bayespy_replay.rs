//! BayesPy 0.6.6 replays of its Gaussian mixture and Bernoulli mixture
//! examples, from the committed fixtures made by `scripts/bayespy_fixtures.py`
//! (same data, same random initial value, same update order and stopping
//! rule). Tolerance: every iteration's ELBO within 1e-8 relative, the same
//! number of iterations, and the final posteriors' moments within 1e-8
//! relative (absolute 1e-8 where the value is near zero).

use serde_json::Value;

use actinf_vmp::nodes::{bernoulli, beta, Categorical, Dirichlet, Gaussian, Mixture, Wishart};
use actinf_vmp::{Graph, NodeSpec, Parent, Run};

mod common;
use common::{fixture, flat, gap, node, plates};

const TOLERANCE: f64 = 1e-8;

/// The fixture's update order without the observed node.
fn order(fx: &Value, observed: &str) -> Vec<String> {
    fx["update_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .filter(|n| n != observed)
        .collect()
}

fn run(g: &mut Graph, fx: &Value, order: &[String]) -> Run {
    let rule = &fx["tolerance_rule"];
    let order: Vec<&str> = order.iter().map(String::as_str).collect();
    g.run(
        &order,
        rule["max_iter"].as_u64().unwrap() as usize,
        rule["tol"].as_f64().unwrap(),
    )
    .unwrap()
}

fn check_elbo(name: &str, run: &Run, fx: &Value) {
    let want = flat(&fx["expected"]["elbo"]);
    let worst = run
        .elbo
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max);
    println!(
        "{name}: ELBO max relative gap {worst:.2e} over {} iterations (final {})",
        want.len(),
        run.elbo.last().unwrap()
    );
    assert_eq!(run.iterations, want.len(), "{:?}", run.elbo);
    assert_eq!(
        run.converged,
        fx["expected"]["converged"].as_bool().unwrap()
    );
    assert!(worst <= TOLERANCE, "{:?}\n vs {want:?}", run.elbo);
}

#[test]
fn gmm_replays_bayespy() {
    let fx = fixture("gmm");
    let (alpha, z, mu, lambda, y) = (
        node(&fx, "alpha"),
        node(&fx, "z"),
        node(&fx, "mu"),
        node(&fx, "Lambda"),
        node(&fx, "Y"),
    );
    let k = flat(&alpha["parents"][0]).len();
    let d = y["shape"][0].as_u64().unwrap() as usize;
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "alpha",
            Dirichlet::new(flat(&alpha["parents"][0])).unwrap(),
            vec![],
        ),
        NodeSpec::new(
            "z",
            Categorical::new(k).unwrap(),
            vec![Parent::node("alpha")],
        )
        .plates(&plates(z)),
        NodeSpec::new(
            "mu",
            Gaussian::new(d).unwrap(),
            vec![
                Parent::value(flat(&mu["parents"][0])),
                Parent::value(flat(&mu["parents"][1])),
            ],
        )
        .plates(&plates(mu)),
        // BayesPy's Wishart(n, V): V the inverse scale, as here.
        NodeSpec::new(
            "Lambda",
            Wishart::new(d, lambda["parents"][0].as_f64().unwrap()).unwrap(),
            vec![Parent::value(flat(&lambda["parents"][1]))],
        )
        .plates(&plates(lambda)),
        NodeSpec::new(
            "Y",
            Mixture::new(k, Gaussian::new(d).unwrap()).unwrap(),
            vec![
                Parent::node("z"),
                Parent::node("mu"),
                Parent::node("Lambda"),
            ],
        )
        .plates(&plates(y))
        .observe(flat(&y["observed"])),
    ])
    .unwrap();
    // z starts from BayesPy's random draw; the others from their priors.
    g.initialize_from_value("z", &flat(&fx["initial_posteriors"]["z"]["value"]))
        .unwrap();
    let r = run(&mut g, &fx, &order(&fx, "Y"));
    check_elbo("gmm", &r, &fx);
    let post = &fx["expected"]["posteriors"];
    for (name, parts) in [("alpha", 1), ("z", 1), ("mu", 2), ("Lambda", 2)] {
        for p in 0..parts {
            let got = &g.moments(name).unwrap()[p];
            let e = gap(got, &flat(&post[name]["u"][p]));
            println!("gmm: {name} u[{p}] gap {e:.1e}");
            assert!(e <= TOLERANCE, "{name} u[{p}]: gap {e:e}");
        }
    }
    // Natural parameters of the Dirichlet and the Wishart (BayesPy's own).
    for (name, parts) in [("alpha", 1), ("Lambda", 2), ("mu", 2)] {
        for p in 0..parts {
            let got = &g.natural(name).unwrap()[p];
            let e = gap(got, &flat(&post[name]["phi"][p]));
            println!("gmm: {name} phi[{p}] gap {e:.1e}");
            assert!(e <= TOLERANCE, "{name} phi[{p}]: gap {e:e}");
        }
    }
}

#[test]
fn bernoulli_mixture_replays_bayespy() {
    let fx = fixture("bernoulli_mixture");
    let (r_node, z, p, x) = (
        node(&fx, "R"),
        node(&fx, "Z"),
        node(&fx, "P"),
        node(&fx, "X"),
    );
    let k = flat(&r_node["parents"][0]).len();
    // BayesPy's Beta([a, b]) over p = P(x = 1).
    let ab = flat(&p["parents"][0]);
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "R",
            Dirichlet::new(flat(&r_node["parents"][0])).unwrap(),
            vec![],
        ),
        NodeSpec::new("Z", Categorical::new(k).unwrap(), vec![Parent::node("R")])
            .plates(&plates(z)),
        NodeSpec::new("P", beta(ab[0], ab[1]).unwrap(), vec![]).plates(&plates(p)),
        NodeSpec::new(
            "X",
            Mixture::new(k, bernoulli()).unwrap(),
            vec![Parent::node("Z"), Parent::node("P")],
        )
        .plates(&plates(x))
        .observe(flat(&x["observed"])),
    ])
    .unwrap();
    // P starts from BayesPy's random draw of p; ours holds (1 − p, p).
    let p0: Vec<f64> = flat(&fx["initial_posteriors"]["P"]["value"])
        .into_iter()
        .flat_map(|v| [1.0 - v, v])
        .collect();
    g.initialize_from_value("P", &p0).unwrap();
    let r = run(&mut g, &fx, &order(&fx, "X"));
    check_elbo("bernoulli_mixture", &r, &fx);
    let post = &fx["expected"]["posteriors"];
    for name in ["R", "Z"] {
        let e = gap(&g.moments(name).unwrap()[0], &flat(&post[name]["u"][0]));
        println!("bernoulli_mixture: {name} u gap {e:.1e}");
        assert!(e <= TOLERANCE, "{name} u: gap {e:e}");
    }
    let e = gap(&g.natural("R").unwrap()[0], &flat(&post["R"]["phi"][0]));
    println!("bernoulli_mixture: R phi gap {e:.1e}");
    assert!(e <= TOLERANCE, "R phi: gap {e:e}");
    // P: BayesPy's [a, b] and [ln p, ln(1 − p)] are our [b, a] and
    // [ln(1 − p), ln p].
    let swap = |v: Vec<f64>| -> Vec<f64> { v.chunks(2).flat_map(|c| [c[1], c[0]]).collect() };
    let e = gap(
        &g.natural("P").unwrap()[0],
        &swap(flat(&post["P"]["phi"][0])),
    );
    println!("bernoulli_mixture: P phi gap {e:.1e}");
    assert!(e <= TOLERANCE, "P phi: gap {e:e}");
    let e = gap(&g.moments("P").unwrap()[0], &swap(flat(&post["P"]["u"][0])));
    println!("bernoulli_mixture: P u gap {e:.1e}");
    assert!(e <= TOLERANCE, "P u: gap {e:e}");
}
