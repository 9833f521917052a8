//! BayesPy 0.6.6 replay of its discrete HMM example with unknown parameters
//! (`hmm_dirichlet` fixture, made by `scripts/bayespy_fixtures.py`): the
//! categorical chain with Dirichlet initial and transition parents and a
//! Dirichlet-mixture emission; and of its linear-Gaussian state-space model
//! with known dynamics and an unknown observation-noise precision (`lgssm`):
//! the Gaussian chain observed through a Gamma-scaled linear-Gaussian node.
//! Every iteration's ELBO within 1e-8 relative, the same number of
//! iterations, and the final posteriors.

use actinf_vmp::nodes::{
    Categorical, CategoricalChain, Dirichlet, Gamma, GaussianChain, LinearGaussian, Mixture,
};
use actinf_vmp::{Graph, NodeSpec, Parent};

mod common;
use common::{fixture, flat, gap, node};

const TOLERANCE: f64 = 1e-8;

#[test]
fn hmm_with_dirichlet_parameters_replays_bayespy() {
    let fx = fixture("hmm_dirichlet");
    let (a0, a, z, p, y) = (
        node(&fx, "a0"),
        node(&fx, "A"),
        node(&fx, "Z"),
        node(&fx, "P"),
        node(&fx, "Y"),
    );
    let k = flat(&a0["parents"][0]).len();
    let j = p["shape"][0].as_u64().unwrap() as usize;
    let n = z["states"].as_u64().unwrap() as usize;
    // One concentration row, shared by the K rows of A and of P.
    for (node, width) in [(a, k), (p, j)] {
        let alpha = flat(&node["parents"][0]);
        assert!(alpha.chunks(width).all(|row| row == &alpha[..width]));
    }
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "a0",
            Dirichlet::new(flat(&a0["parents"][0])).unwrap(),
            vec![],
        ),
        NodeSpec::new(
            "A",
            Dirichlet::new(flat(&a["parents"][0])[..k].to_vec()).unwrap(),
            vec![],
        )
        .plates(&[k]),
        NodeSpec::new(
            "Z",
            CategoricalChain::new(k),
            vec![Parent::node("a0"), Parent::node("A")],
        )
        .plates(&[n]),
        NodeSpec::new(
            "P",
            Dirichlet::new(flat(&p["parents"][0])[..j].to_vec()).unwrap(),
            vec![],
        )
        .plates(&[k]),
        NodeSpec::new(
            "Y",
            Mixture::new(k, Categorical::new(j).unwrap()).unwrap(),
            vec![Parent::node("Z"), Parent::node("P")],
        )
        .plates(&[n])
        .observe(flat(&y["observed"])),
    ])
    .unwrap();
    g.initialize_from_value("P", &flat(&fx["initial_posteriors"]["P"]["value"]))
        .unwrap();
    let rule = &fx["tolerance_rule"];
    let run = g
        .run(
            &["Z", "A", "a0", "P"],
            rule["max_iter"].as_u64().unwrap() as usize,
            rule["tol"].as_f64().unwrap(),
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
        "hmm_dirichlet: ELBO max relative gap {worst:.2e} over {} iterations ({} here)",
        want.len(),
        run.iterations
    );
    assert!(worst <= TOLERANCE, "{:?}\n vs {want:?}", run.elbo);
    assert_eq!(run.iterations, want.len());
    let post = &fx["expected"]["posteriors"];
    for name in ["a0", "A", "P"] {
        let e = gap(&g.natural(name).unwrap()[0], &flat(&post[name]["phi"][0]));
        assert!(e <= TOLERANCE, "{name} phi: gap {e:e}");
        let e = gap(&g.moments(name).unwrap()[0], &flat(&post[name]["u"][0]));
        assert!(e <= TOLERANCE, "{name} u: gap {e:e}");
    }
    // BayesPy's chain moments: the initial marginal and the N − 1 pairwise
    // marginals.
    let u = g.moments("Z").unwrap();
    let e = gap(&u[0][..k], &flat(&post["Z"]["u"][0]));
    assert!(e <= TOLERANCE, "Z initial marginal: gap {e:e}");
    let e = gap(&u[1][k * k..], &flat(&post["Z"]["u"][1]));
    assert!(e <= TOLERANCE, "Z pairwise marginals: gap {e:e}");
}

#[test]
fn lgssm_with_unknown_noise_precision_replays_bayespy() {
    let fx = fixture("lgssm");
    let (x, f, tau, y) = (
        node(&fx, "X"),
        node(&fx, "F"),
        node(&fx, "tau"),
        node(&fx, "Y"),
    );
    let xp = &x["parents"];
    let (mu0, lambda0, a, nu) = (flat(&xp[0]), flat(&xp[1]), flat(&xp[2]), flat(&xp[3]));
    let d = mu0.len();
    let n = x["states"].as_u64().unwrap() as usize;
    let c = flat(&f["parents"][0]);
    let m = c.len() / d;
    let mut q = vec![0.0; d * d];
    for i in 0..d {
        q[i * d + i] = nu[i];
    }
    let mut r = vec![0.0; m * m];
    for i in 0..m {
        r[i * m + i] = 1.0;
    }
    // BayesPy's Y has plates (M, N); here one M-vector per time step.
    let y_mn = flat(&y["observed"]);
    let data: Vec<f64> = (0..n)
        .flat_map(|t| (0..m).map(move |i| (t, i)))
        .map(|(t, i)| y_mn[i * n + t])
        .collect();
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "X",
            GaussianChain::new(&a, &q, &mu0, &lambda0).unwrap(),
            vec![],
        )
        .plates(&[n]),
        NodeSpec::new(
            "tau",
            Gamma::new(tau["parents"][0].as_f64().unwrap()),
            vec![Parent::value([tau["parents"][1].as_f64().unwrap()])],
        ),
        NodeSpec::new(
            "Y",
            LinearGaussian::new(m, d, &c, &r)
                .unwrap()
                .with_precision_scale(),
            vec![Parent::node("X"), Parent::node("tau")],
        )
        .plates(&[n])
        .observe(data),
    ])
    .unwrap();
    let rule = &fx["tolerance_rule"];
    let run = g
        .run(
            &["X", "tau"],
            rule["max_iter"].as_u64().unwrap() as usize,
            rule["tol"].as_f64().unwrap(),
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
        "lgssm: ELBO max relative gap {worst:.2e} over {} iterations ({} here)",
        want.len(),
        run.iterations
    );
    assert!(worst <= TOLERANCE, "{:?}\n vs {want:?}", run.elbo);
    assert_eq!(run.iterations, want.len());
    let post = &fx["expected"]["posteriors"];
    // The moments of q(τ) (BayesPy's φ₁ is the shape a, this crate's a − 1).
    let tau_u = g.moments("tau").unwrap();
    let e = gap(&[tau_u[0][0], tau_u[1][0]], &flat(&post["tau"]["u"]));
    assert!(e <= TOLERANCE, "tau u: gap {e:e}");
    let u = g.moments("X").unwrap();
    for p in 0..2 {
        let e = gap(&u[p], &flat(&post["X"]["u"][p]));
        assert!(e <= TOLERANCE, "X u[{p}]: gap {e:e}");
    }
    // BayesPy keeps ⟨x_t x_{t+1}ᵀ⟩, the transpose of the chain's
    // ⟨x_{t+1} x_tᵀ⟩ at t + 1.
    let mut cross = Vec::with_capacity((n - 1) * d * d);
    for t in 1..n {
        for i in 0..d {
            for j in 0..d {
                cross.push(u[2][(t * d + j) * d + i]);
            }
        }
    }
    let e = gap(&cross, &flat(&post["X"]["u"][2]));
    assert!(e <= TOLERANCE, "X cross moments: gap {e:e}");
}
