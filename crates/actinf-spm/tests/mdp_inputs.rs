//! The MDP replay on a small model built here (one factor, two states, two
//! controls, two-step policies, a, b and d learned): learning bookkeeping,
//! sequences, and typed errors for bad input. Needs no fixtures.

use actinf_spm::mdp::{replay_document, MdpError, MdpSpec};
use serde_json::{json, Value};

fn document() -> Value {
    let trial = json!({
        "o_outcomes": [[1, 2, 2]],
        "s_true_states": [[1, 2, 2]],
        "u_actions": [[2, 1]],
        "T": 3
    });
    json!({
        "spec": {
            "A": [[[0.9, 0.2], [0.1, 0.8]]],
            "B": [[[[1, 0], [0, 1]], [[0, 1], [1, 0]]]],
            "C": [[0, 2]],
            "D": [[0.5, 0.5]],
            "V": [[[1], [2], [1], [2]], [[1], [1], [2], [2]]],
            "a": [[[2, 1], [1, 2]]],
            "b": [[[[2, 0.5], [0.5, 2]], [[0.5, 2], [2, 0.5]]]],
            "d": [[1, 1]]
        },
        "single_trial": trial.clone(),
        "sequence": { "trials": [trial.clone(), {
            "o_outcomes": [[2, 2, 1]],
            "s_true_states": [[2, 2, 1]],
            "u_actions": [[1, 2]]
        }]}
    })
}

fn flat(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    fn rec(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|x| rec(x, out)),
            Value::Number(n) => out.push(n.as_f64().unwrap()),
            _ => {}
        }
    }
    rec(v, &mut out);
    out
}

fn sum_change(trial: &Value, name: &str) -> f64 {
    let before = flat(&trial[format!("{name}_prior_for_this_trial")]);
    let after = flat(&trial[format!("{name}_posterior")]);
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert!(a >= b, "{name}: counts only grow ({b} → {a})");
    }
    after.iter().sum::<f64>() - before.iter().sum::<f64>()
}

#[test]
fn learning_adds_one_count_per_outcome_transition_and_trial() {
    let mut doc = document();
    assert_eq!(replay_document(&mut doc).unwrap(), 3);
    let trial = &doc["single_trial"];
    // a += o_t ⊗ X_t over T = 3 outcomes (eta = 1); b += Σ_π q(π) x_t x_{t−1}ᵀ
    // over T − 1 = 2 transitions; d += X(:, 1), one count.
    assert!((sum_change(trial, "a") - 3.0).abs() < 1e-12);
    assert!((sum_change(trial, "b") - 2.0).abs() < 1e-12);
    assert!((sum_change(trial, "d") - 1.0).abs() < 1e-12);
    for name in ["Fa", "Fb", "Fd"] {
        assert!(flat(&trial[name]).iter().all(|x| x.is_finite()), "{name}");
    }
    // Beliefs and posteriors are distributions.
    let x = flat(&trial["X"]);
    for t in 0..3 {
        assert!((x[t] + x[3 + t] - 1.0).abs() < 1e-12);
    }
    let r = &trial["R"];
    for t in 0..3 {
        let s: f64 = (0..4).map(|k| r[k][t].as_f64().unwrap()).sum();
        assert!((s - 1.0).abs() < 1e-12);
    }
    // P(u, t): one factor with two controls over T − 1 = 2 steps.
    assert_eq!(flat(&trial["P_size"]), vec![2.0, 2.0]);
    assert_eq!(flat(&trial["w"]).len(), 3);
    assert_eq!(flat(&trial["xn"]).len(), 16 * 2 * 3 * 3);
}

#[test]
fn a_sequence_carries_the_learned_counts_from_trial_to_trial() {
    let mut doc = document();
    replay_document(&mut doc).unwrap();
    let trials = doc["sequence"]["trials"].as_array().unwrap();
    for name in ["a", "b", "d"] {
        assert_eq!(
            flat(&trials[1][format!("{name}_prior_for_this_trial")]),
            flat(&trials[0][format!("{name}_posterior")]),
            "{name}"
        );
        assert_eq!(
            flat(&trials[0][format!("{name}_posterior")]),
            flat(&doc["single_trial"][format!("{name}_posterior")]),
            "{name}: the first trial of a sequence is the single trial"
        );
    }
    assert_ne!(flat(&trials[1]["X"]), flat(&trials[0]["X"]));
}

#[test]
fn a_prior_over_policies_moves_the_policy_posterior() {
    let mut plain = document();
    replay_document(&mut plain).unwrap();
    let mut skewed = document();
    skewed["spec"]["E"] = json!([0.97, 0.01, 0.01, 0.01]);
    replay_document(&mut skewed).unwrap();
    let r0 = skewed["single_trial"]["R"][0][0].as_f64().unwrap();
    let r0_plain = plain["single_trial"]["R"][0][0].as_f64().unwrap();
    assert!(r0 > r0_plain + 0.1, "{r0} vs {r0_plain}");
}

#[test]
fn one_step_policies_keep_precision_fixed_and_drop_the_last_step() {
    let mut doc = document();
    let spec = doc["spec"].as_object_mut().unwrap();
    spec.remove("V");
    spec.insert("U".into(), json!([[[1], [2]]]));
    spec.insert("T".into(), json!(3));
    replay_document(&mut doc).unwrap();
    let trial = &doc["single_trial"];
    assert_eq!(flat(&trial["w"]), vec![1.0, 1.0, 1.0]);
    assert_eq!(trial["R"][0].as_array().unwrap().len(), 2);
    assert_eq!(trial["un"][0].as_array().unwrap().len(), 32);
}

fn error_of(edit: impl FnOnce(&mut Value)) -> MdpError {
    let mut doc = document();
    edit(&mut doc);
    replay_document(&mut doc).expect_err("bad input must be refused")
}

#[test]
fn a_missing_field_is_named() {
    let e = error_of(|d| {
        d["single_trial"]
            .as_object_mut()
            .unwrap()
            .remove("o_outcomes");
    });
    assert_eq!(
        e,
        MdpError::Missing {
            field: "single_trial.o_outcomes".into()
        }
    );
    let e = error_of(|d| {
        d["spec"].as_object_mut().unwrap().remove("B");
        d["spec"].as_object_mut().unwrap().remove("b");
    });
    assert_eq!(
        e,
        MdpError::Missing {
            field: "spec.B".into()
        }
    );
}

#[test]
fn a_wrong_dimension_is_named() {
    let e = error_of(|d| d["spec"]["A"] = json!([[[0.9, 0.2, 0.5], [0.1, 0.8, 0.5]]]));
    match e {
        MdpError::Shape { field, got, .. } => {
            assert_eq!(field, "spec.A[0]");
            assert_eq!(got, vec![2, 3]);
        }
        other => panic!("{other:?}"),
    }
    let e = error_of(|d| d["sequence"]["trials"][1]["o_outcomes"] = json!([[2, 2]]));
    match e {
        MdpError::Shape { field, .. } => assert_eq!(field, "sequence.trials[1].o_outcomes[0]"),
        other => panic!("{other:?}"),
    }
    let e = error_of(|d| d["spec"]["A"] = json!([[[0.9, 0.2], [0.1]]]));
    assert!(
        matches!(&e, MdpError::Type { field, .. } if field == "spec.A[0][1]"),
        "{e:?}"
    );
}

#[test]
fn an_index_out_of_range_is_named() {
    let e = error_of(|d| d["single_trial"]["o_outcomes"] = json!([[1, 3, 2]]));
    assert_eq!(
        e,
        MdpError::IndexOutOfRange {
            field: "single_trial.o_outcomes[0][1]".into(),
            value: 3.0,
            max: 2
        }
    );
    let e = error_of(|d| d["spec"]["V"][1][2][0] = json!(0));
    assert_eq!(
        e,
        MdpError::IndexOutOfRange {
            field: "spec.V[1][2][0]".into(),
            value: 0.0,
            max: 2
        }
    );
    let e = error_of(|d| d["single_trial"]["u_actions"] = json!([[2.5, 1]]));
    assert!(matches!(e, MdpError::IndexOutOfRange { .. }), "{e:?}");
}

#[test]
fn bad_values_and_unsupported_features_are_refused() {
    let e = error_of(|d| d["spec"]["B"][0][0][0][0] = json!(-1));
    assert!(
        matches!(&e, MdpError::Value { field, .. } if field.starts_with("spec.B[0]")),
        "{e:?}"
    );
    let e = error_of(|d| d["spec"]["A"] = json!([[[0, 0.2], [0, 0.8]]]));
    assert!(
        matches!(&e, MdpError::Value { field, .. } if field.starts_with("spec.A[0] column 0")),
        "{e:?}"
    );
    let e = error_of(|d| d["spec"]["c"] = json!([[1, 1]]));
    assert!(
        matches!(&e, MdpError::Unsupported { field, .. } if field == "spec.c"),
        "{e:?}"
    );
    let e = error_of(|d| d["spec"]["zeta"] = json!(0));
    assert!(
        matches!(&e, MdpError::Value { field, .. } if field == "spec.zeta"),
        "{e:?}"
    );
    let e = error_of(|d| d["single_trial"]["T"] = json!(4));
    assert!(
        matches!(&e, MdpError::Value { field, .. } if field == "single_trial.T"),
        "{e:?}"
    );
    let mut empty = json!({"description": "no MDP here"});
    assert!(matches!(
        replay_document(&mut empty),
        Err(MdpError::Missing { .. })
    ));
    assert!(MdpSpec::from_json(&json!([1, 2])).is_err());
}
