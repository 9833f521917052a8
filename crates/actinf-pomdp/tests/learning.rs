//! Dirichlet learning through the agent: learning and forgetting rates, the
//! choice of what learns, structural zeros, and pD at the first step.

use actinf_core::Tensor;
use actinf_pomdp::{Agent, GenerativeModel, ModelArrays, Settings};

fn model() -> GenerativeModel {
    // One factor of 2 states, 2 controls; two modalities of 2 outcomes.
    let pa0 = Tensor::new(vec![2, 2], vec![4.0, 1.0, 0.0, 3.0]).unwrap(); // a structural zero
    let pa1 = Tensor::new(vec![2, 2], vec![2.0, 2.0, 2.0, 2.0]).unwrap();
    let pb = Tensor::new(vec![2, 2, 2], vec![3.0, 1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0]).unwrap();
    GenerativeModel::new(ModelArrays {
        pa: Some(vec![pa0, pa1]),
        pb: Some(vec![pb]),
        pd: Some(vec![vec![1.0, 1.0]]),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn learning_and_forgetting_rates_scale_the_counts() {
    let settings = Settings {
        lr_pa: 2.0,
        fr_pa: 0.5,
        lr_pb: 1.0,
        fr_pb: 0.9,
        ..Settings::default()
    };
    let mut agent = Agent::new(model(), settings).unwrap();
    let before = agent.model().pa.clone().unwrap();
    let rec = agent.step(&[0, 1], Some(&[1])).unwrap();
    let q = &rec.qs[0];
    let pa = agent.model().pa.as_ref().unwrap();
    // pA_0 ← 0.5·pA_0 + 2·e_0 ⊗ q, except the structural zero.
    let want0 = [
        0.5 * 4.0 + 2.0 * q[0],
        0.5 * 1.0 + 2.0 * q[1],
        0.0,
        0.5 * 3.0,
    ];
    for (g, w) in pa[0].data().iter().zip(want0) {
        assert!((g - w).abs() < 1e-12, "{:?}", pa[0].data());
    }
    assert!(pa[1].data()[2] > before[1].data()[2]);
    // A is the Dirichlet mean, its structural zero kept.
    assert_eq!(agent.model().a[0].data()[2], 0.0);
    // pD learned once, at the first step; pB needs a transition first.
    let pd = agent.model().pd.as_ref().unwrap()[0].clone();
    assert!((pd[0] - (1.0 + q[0])).abs() < 1e-12);
    let pb_before = agent.model().pb.as_ref().unwrap()[0].data().to_vec();
    assert_eq!(pb_before, vec![3.0, 1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0]);
    let rec2 = agent.step(&[1, 0], None).unwrap();
    let pb = agent.model().pb.as_ref().unwrap()[0].data();
    // pB[s', s, u=1] ← 0.9·pB + q_t(s') q_{t−1}(s); u = 0 only forgets.
    for sp in 0..2 {
        for (s, &q_prev) in q.iter().enumerate() {
            let k = (sp * 2 + s) * 2;
            assert!((pb[k] - 0.9 * pb_before[k]).abs() < 1e-12);
            let want = 0.9 * pb_before[k + 1] + rec2.qs[0][sp] * q_prev;
            assert!((pb[k + 1] - want).abs() < 1e-12);
        }
    }
    assert_eq!(
        agent.model().pd.as_ref().unwrap()[0],
        pd,
        "pD learns at the first step only"
    );
}

#[test]
fn only_the_chosen_modalities_and_factors_learn() {
    let settings = Settings {
        modalities_to_learn: Some(vec![1]),
        learn_b: false,
        learn_d: false,
        ..Settings::default()
    };
    let mut agent = Agent::new(model(), settings).unwrap();
    let before = agent.model().pa.clone().unwrap();
    agent.step(&[0, 1], Some(&[0])).unwrap();
    agent.step(&[1, 1], None).unwrap();
    let pa = agent.model().pa.as_ref().unwrap();
    assert_eq!(pa[0], before[0]);
    assert_ne!(pa[1], before[1]);
    assert_eq!(
        agent.model().pb.as_ref().unwrap()[0].data(),
        &[3.0, 1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0]
    );
}

#[test]
fn a_learning_setting_out_of_range_is_refused() {
    let settings = Settings {
        factors_to_learn: Some(vec![3]),
        ..Settings::default()
    };
    let err = Agent::new(model(), settings).unwrap_err().to_string();
    assert!(
        err.contains("factors_to_learn") && err.contains("factor 3"),
        "{err}"
    );
    let settings = Settings {
        fr_pa: 1.5,
        ..Settings::default()
    };
    let err = Agent::new(model(), settings).unwrap_err().to_string();
    assert!(err.contains("fr_pA"), "{err}");
}
