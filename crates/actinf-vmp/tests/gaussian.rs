//! Gaussian models: exactness where q is exact, the Normal–Gamma mean-field
//! fixed point, and an ELBO that never decreases.

use std::f64::consts::PI;

use actinf_vmp::nodes::{Gamma, GaussianArd};
use actinf_vmp::{Graph, NodeSpec, Parent, VmpError};
use proptest::prelude::*;

fn data() -> Vec<f64> {
    vec![0.3, -1.2, 2.5, 0.9, 1.7, -0.4, 0.0, 3.1, 1.1, 0.6]
}

#[test]
fn known_precision_posterior_is_exact_and_elbo_is_the_evidence() {
    let y = data();
    let n = y.len() as f64;
    let (m0, lambda0, tau) = (0.5, 0.2, 1.7);
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "mu",
            GaussianArd,
            vec![Parent::value([m0]), Parent::value([lambda0])],
        ),
        NodeSpec::new(
            "y",
            GaussianArd,
            vec![Parent::node("mu"), Parent::value([tau])],
        )
        .plates(&[y.len()])
        .observe(y.clone()),
    ])
    .unwrap();
    let run = g.run(&["mu"], 10, 1e-12).unwrap();
    // log N(y | m0·1, τ⁻¹I + λ0⁻¹ 11ᵀ) by Sherman–Morrison.
    let (s2, v2) = (1.0 / tau, 1.0 / lambda0);
    let r: Vec<f64> = y.iter().map(|v| v - m0).collect();
    let sum: f64 = r.iter().sum();
    let quad = (r.iter().map(|x| x * x).sum::<f64>() - v2 / (s2 + n * v2) * sum * sum) / s2;
    let logdet = n * s2.ln() + (1.0 + n * v2 / s2).ln();
    let evidence = -0.5 * (n * (2.0 * PI).ln() + logdet + quad);
    let l = *run.elbo.last().unwrap();
    assert!(
        (l - evidence).abs() / evidence.abs() < 1e-12,
        "{l} vs {evidence}"
    );
    // The posterior mean is the conjugate one.
    let post_prec = lambda0 + n * tau;
    let post_mean = (lambda0 * m0 + tau * y.iter().sum::<f64>()) / post_prec;
    assert!((g.moments("mu").unwrap()[0][0] - post_mean).abs() < 1e-12);
}

#[test]
fn unknown_mean_and_precision_reach_the_mean_field_fixed_point() {
    // Bishop (2006), §10.1.3: q(μ) = N(m, 1/(λ0+N)E[τ])… with τ ~ Gamma(a, b).
    let y = data();
    let n = y.len() as f64;
    let (m0, l0, a0, b0) = (0.0, 1e-3, 1e-3, 1e-3);
    let mut g = Graph::new(vec![
        NodeSpec::new(
            "mu",
            GaussianArd,
            vec![Parent::value([m0]), Parent::value([l0])],
        ),
        NodeSpec::new("tau", Gamma::new(a0), vec![Parent::value([b0])]),
        NodeSpec::new(
            "y",
            GaussianArd,
            vec![Parent::node("mu"), Parent::node("tau")],
        )
        .plates(&[y.len()])
        .observe(y.clone()),
    ])
    .unwrap();
    // The ELBO is flat at the optimum (changes ~ Δθ²): iterate past the
    // stopping rule until the parameters themselves settle.
    let run = g.run(&["mu", "tau"], 200, 1e-14).unwrap();
    assert!(run.converged);
    assert!(run.decreases.is_empty());
    g.run(&["mu", "tau"], 300, 0.0).unwrap();
    let e_tau = g.moments("tau").unwrap()[0][0];
    let (m, m2) = (
        g.moments("mu").unwrap()[0][0],
        g.moments("mu").unwrap()[1][0],
    );
    // Fixed-point equations.
    let sum: f64 = y.iter().sum();
    let lam = l0 + n * e_tau;
    let want_m = (l0 * m0 + e_tau * sum) / lam;
    assert!((m - want_m).abs() < 1e-10);
    assert!((m2 - (m * m + 1.0 / lam)).abs() < 1e-10);
    let a = a0 + n / 2.0;
    let b = b0 + 0.5 * y.iter().map(|v| v * v - 2.0 * v * m + m2).sum::<f64>();
    assert!((e_tau - a / b).abs() < 1e-9 * (a / b));
}

#[test]
fn bad_graphs_are_refused() {
    let err = Graph::new(vec![NodeSpec::new(
        "y",
        GaussianArd,
        vec![Parent::node("nowhere"), Parent::value([1.0])],
    )])
    .unwrap_err();
    assert!(matches!(err, VmpError::UnknownParent { .. }));
    let err = Graph::new(vec![
        NodeSpec::new("tau", Gamma::new(1.0), vec![Parent::value([1.0])]),
        NodeSpec::new(
            "y",
            GaussianArd,
            vec![Parent::node("tau"), Parent::value([1.0])],
        ),
    ])
    .unwrap_err();
    assert!(matches!(err, VmpError::NotConjugate { .. }), "{err}");
    let err = Graph::new(vec![NodeSpec::new(
        "y",
        GaussianArd,
        vec![Parent::value([0.0]), Parent::value([-1.0])],
    )])
    .unwrap_err();
    assert!(err.to_string().contains("constant parent 1"), "{err}");
    let err = Graph::new(vec![NodeSpec::new(
        "y",
        GaussianArd,
        vec![Parent::value([0.0]), Parent::value([1.0])],
    )
    .plates(&[3])
    .observe(vec![1.0, f64::NAN, 2.0])])
    .unwrap_err();
    assert!(
        err.to_string().contains("observed data at index 1"),
        "{err}"
    );
}

#[test]
fn missing_values_are_ignored() {
    let full = data();
    let mut with_gap = full.clone();
    with_gap.push(f64::NAN);
    let mask: Vec<bool> = (0..with_gap.len()).map(|i| i < full.len()).collect();
    let build = |y: Vec<f64>, mask: Option<Vec<bool>>| {
        let obs = NodeSpec::new(
            "y",
            GaussianArd,
            vec![Parent::node("mu"), Parent::node("tau")],
        )
        .plates(&[y.len()])
        .observe(y);
        let obs = match mask {
            Some(m) => obs.mask(m),
            None => obs,
        };
        let mut g = Graph::new(vec![
            NodeSpec::new(
                "mu",
                GaussianArd,
                vec![Parent::value([0.0]), Parent::value([1e-3])],
            ),
            NodeSpec::new("tau", Gamma::new(1e-3), vec![Parent::value([1e-3])]),
            obs,
        ])
        .unwrap();
        g.run(&["mu", "tau"], 50, 1e-12).unwrap()
    };
    let a = build(full, None);
    let b = build(with_gap, Some(mask));
    assert_eq!(a.elbo, b.elbo);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn elbo_never_decreases(
        y in prop::collection::vec(-5.0f64..5.0, 2..30),
        m0 in -2.0f64..2.0,
        l0 in 1e-3f64..10.0,
        a0 in 1e-3f64..5.0,
        b0 in 1e-3f64..5.0,
    ) {
        let mut g = Graph::new(vec![
            NodeSpec::new("mu", GaussianArd, vec![Parent::value([m0]), Parent::value([l0])]),
            NodeSpec::new("tau", Gamma::new(a0), vec![Parent::value([b0])]),
            NodeSpec::new("y", GaussianArd, vec![Parent::node("mu"), Parent::node("tau")])
                .plates(&[y.len()])
                .observe(y.clone()),
        ]).unwrap();
        let run = g.run(&["tau", "mu"], 30, 0.0).unwrap();
        for w in run.elbo.windows(2) {
            prop_assert!(w[1] >= w[0] - 1e-9 * w[0].abs(), "{:?}", run.elbo);
        }
    }
}
