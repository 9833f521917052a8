//! Property tests: posteriors are normalised, free energy bounds surprise,
//! and Dirichlet counts never fall without forgetting.

use proptest::prelude::*;

use actinf_core::tensor::unravel;
use actinf_core::Tensor;
use actinf_pomdp::inference::{exact_posterior, fpi, InferenceBuffers};
use actinf_pomdp::{Agent, GenerativeModel, ModelArrays, Settings};

/// A random model: `ns` states per factor, `no` outcomes per modality, each
/// modality depending on a non-empty subset of factors, every factor
/// controllable with 2 controls; entries from `vals` (cycled), normalised.
fn build(ns: &[usize], no: &[usize], masks: &[u8], vals: &[f64], learn: bool) -> GenerativeModel {
    let nf = ns.len();
    let mut k = 0;
    let mut next = || {
        k += 1;
        vals[k % vals.len()]
    };
    let a_deps: Vec<Vec<usize>> = masks
        .iter()
        .take(no.len())
        .map(|&mask| {
            let d: Vec<usize> = (0..nf).filter(|f| mask & (1 << f) != 0).collect();
            if d.is_empty() {
                vec![0]
            } else {
                d
            }
        })
        .collect();
    let stochastic = |shape: Vec<usize>, next: &mut dyn FnMut() -> f64| {
        let mut d: Vec<f64> = (0..shape.iter().product()).map(|_| next()).collect();
        actinf_core::maths::normalise_columns(&mut d, shape[0]);
        Tensor::new(shape, d).unwrap()
    };
    let a: Vec<Tensor> = a_deps
        .iter()
        .zip(no)
        .map(|(d, &o)| {
            let mut shape = vec![o];
            shape.extend(d.iter().map(|&f| ns[f]));
            stochastic(shape, &mut next)
        })
        .collect();
    let b: Vec<Tensor> = ns
        .iter()
        .map(|&n| stochastic(vec![n, n, 2], &mut next))
        .collect();
    let d: Vec<Vec<f64>> = ns
        .iter()
        .map(|&n| stochastic(vec![n], &mut next).into_data())
        .collect();
    let counts = |t: &Tensor| {
        Tensor::new(
            t.shape().to_vec(),
            t.data().iter().map(|x| 1.0 + 4.0 * x).collect(),
        )
        .unwrap()
    };
    GenerativeModel::new(ModelArrays {
        pa: learn.then(|| a.iter().map(counts).collect()),
        pb: learn.then(|| b.iter().map(counts).collect()),
        a: Some(a),
        b: Some(b),
        d: Some(d),
        a_dependencies: Some(a_deps),
        ..Default::default()
    })
    .unwrap()
}

/// `−ln p(o)` by enumerating the joint state space under the prior `D`.
fn surprise(model: &GenerativeModel, obs: &[usize]) -> f64 {
    let ns = &model.num_states;
    let total: usize = ns.iter().product();
    let mut idx = vec![0; ns.len()];
    let mut evidence = 0.0;
    for k in 0..total {
        unravel(ns, k, &mut idx);
        let mut p: f64 = idx
            .iter()
            .enumerate()
            .map(|(f, &s)| model.d[f][s])
            .product();
        for (m, a) in model.a.iter().enumerate() {
            let mut at = vec![obs[m]];
            at.extend(model.a_dependencies[m].iter().map(|&f| idx[f]));
            p *= a.get(&at).unwrap();
        }
        evidence += p;
    }
    -evidence.ln()
}

/// States per factor, outcomes per modality, dependency masks, entry values, observations.
type ModelParts = (Vec<usize>, Vec<usize>, Vec<u8>, Vec<f64>, Vec<usize>);

fn model_strategy() -> impl Strategy<Value = ModelParts> {
    (
        prop::collection::vec(2usize..4, 1..4),
        prop::collection::vec(2usize..4, 1..4),
        prop::collection::vec(1u8..8, 3),
        prop::collection::vec(0.01f64..1.0, 5..40),
        prop::collection::vec(0usize..3, 3),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn posteriors_sum_to_one_and_free_energy_bounds_surprise(
        (ns, no, masks, vals, obs) in model_strategy()
    ) {
        let model = build(&ns, &no, &masks, &vals, false);
        let obs: Vec<usize> = obs.iter().zip(&model.num_obs).map(|(&o, &n)| o % n).take(model.num_modalities()).collect();
        let r = fpi(&model, &obs, &model.d, 16, actinf_core::LogGuard::Plain, &mut InferenceBuffers::default());
        for q in &r.qs {
            prop_assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            prop_assert!(q.iter().all(|&x| x >= 0.0));
        }
        let s = surprise(&model, &obs);
        prop_assert!(r.free_energy >= s - 1e-9, "F = {} < surprise {}", r.free_energy, s);
        if model.num_factors() == 1 {
            // Exact inference: F equals the surprise, and matches fpi's F.
            let e = exact_posterior(&model, &obs, &model.d[0]);
            prop_assert!((e.free_energy - s).abs() < 1e-10);
            prop_assert!((r.free_energy - s).abs() < 1e-9);
        }
    }

    #[test]
    fn policy_posterior_sums_to_one_and_counts_never_fall(
        (ns, no, masks, vals, obs) in model_strategy(),
        policy_len in 1usize..3,
    ) {
        let model = build(&ns, &no, &masks, &vals, true);
        let settings = Settings { policy_len, use_param_info_gain: true, ..Settings::default() };
        let mut agent = Agent::new(model, settings).unwrap();
        for step in 0..3 {
            let o: Vec<usize> = (0..agent.model().num_modalities())
                .map(|m| (obs[m % obs.len()] + step) % agent.model().num_obs[m])
                .collect();
            let before_a: Vec<Vec<f64>> = agent.model().pa.as_ref().unwrap().iter().map(|t| t.data().to_vec()).collect();
            let before_b: Vec<Vec<f64>> = agent.model().pb.as_ref().unwrap().iter().map(|t| t.data().to_vec()).collect();
            let rec = agent.step(&o, None).unwrap();
            prop_assert!((rec.policies.q_pi.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            for (old, new) in before_a.iter().zip(agent.model().pa.as_ref().unwrap()) {
                prop_assert!(old.iter().zip(new.data()).all(|(x, y)| y >= x));
            }
            for (old, new) in before_b.iter().zip(agent.model().pb.as_ref().unwrap()) {
                prop_assert!(old.iter().zip(new.data()).all(|(x, y)| y >= x));
            }
        }
    }
}
