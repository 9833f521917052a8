//! Conformance with pymdp 1.0.4 (JAX, float64): every fixture made by
//! `scripts/pymdp_fixtures.py` is replayed step by step, with pymdp's actions
//! forced, and `qs`, each expected-free-energy term, `neg_efe`, `q_pi`, the
//! action and the learned `pA`/`pB` are compared to 1e-6 (the largest gaps
//! are printed).

use std::path::{Path, PathBuf};

use serde_json::Value;

use actinf_cli::scenario::Scenario;

const TOLERANCE: f64 = 1e-6;

fn fixture_dir() -> PathBuf {
    std::env::var_os("ACTINF_PYMDP_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../actinf-pomdp/tests/fixtures/pymdp")
        })
}

/// Flatten nested numbers.
fn flat(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| flat(x, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        _ => {}
    }
}

fn max_gap(got: &Value, want: &Value, what: &str) -> f64 {
    let (mut g, mut w) = (Vec::new(), Vec::new());
    flat(got, &mut g);
    flat(want, &mut w);
    assert_eq!(
        g.len(),
        w.len(),
        "{what}: {} values vs {}",
        g.len(),
        w.len()
    );
    g.iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[derive(Default)]
struct Gaps {
    by_field: Vec<(String, f64)>,
}

impl Gaps {
    fn record(&mut self, field: &str, gap: f64) {
        match self.by_field.iter_mut().find(|(f, _)| f == field) {
            Some((_, g)) => *g = g.max(gap),
            None => self.by_field.push((field.to_string(), gap)),
        }
    }
}

fn replay(path: &Path) -> Gaps {
    let text = std::fs::read_to_string(path).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let expected = doc["expected"].clone();
    doc.as_object_mut().unwrap().remove("generator");
    // pymdp 1.0 lets learning fill structural zeros; actinf protects them
    // unless told otherwise.
    doc["settings"]["protect_structural_zeros"] = Value::Bool(false);
    let sc = Scenario::from_json(&doc.to_string())
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    let mut agent = sc
        .agent()
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    // The policies must be pymdp's, in pymdp's order.
    let policies: Vec<Vec<usize>> = doc["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .flat_map(|row| {
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap() as usize)
                })
                .collect()
        })
        .collect();
    assert_eq!(
        agent.policies(),
        &policies[..],
        "{}: policy order",
        path.display()
    );
    let mut gaps = Gaps::default();
    for (t, (step, want)) in sc
        .steps
        .iter()
        .zip(expected["steps"].as_array().unwrap())
        .enumerate()
    {
        let rec = agent
            .step(&step.observation, step.action.as_deref())
            .unwrap_or_else(|e| panic!("{} step {t}: {e}", path.display()));
        let ev = &rec.policies.evaluation;
        let settings = &sc.settings;
        let switched_off = |field: &str| match field {
            "utility" => !settings.use_utility,
            "state_info_gain" => !settings.use_states_info_gain,
            "param_info_gain_pA" | "param_info_gain_pB" => !settings.use_param_info_gain,
            _ => false,
        };
        let mut check = |field: &str, got: Value| {
            // A term that is switched off is reported as zeros; pymdp's value
            // for it is informative only.
            if want[field].is_null() || switched_off(field) {
                return;
            }
            let g = max_gap(&got, &want[field], field);
            assert!(
                g <= TOLERANCE,
                "{} step {t}: {field} differs by {g:e}\n got  {got}\n want {}",
                path.display(),
                want[field]
            );
            gaps.record(field, g);
        };
        check("empirical_prior", serde_json::json!(rec.prior));
        check("qs", serde_json::json!(rec.qs));
        check("vfe", serde_json::json!(rec.free_energy));
        if let Some(window) = agent.qs_window() {
            // pymdp lays the window out [factor][slot][state].
            let by_factor: Vec<Vec<&Vec<f64>>> = (0..window[0].len())
                .map(|f| window.iter().map(|slot| &slot[f]).collect())
                .collect();
            check("qs_window", serde_json::json!(by_factor));
        }
        check(
            "action_marginals",
            serde_json::json!(agent.action_marginals(&rec.policies.q_pi)),
        );
        check("utility", serde_json::json!(ev.utility));
        check("state_info_gain", serde_json::json!(ev.state_info_gain));
        check(
            "param_info_gain_pA",
            serde_json::json!(ev.param_info_gain_pa),
        );
        check(
            "param_info_gain_pB",
            serde_json::json!(ev.param_info_gain_pb),
        );
        check("neg_efe", serde_json::json!(ev.neg_efe));
        check("q_pi", serde_json::json!(rec.policies.q_pi));
        if let Some(pa) = &agent.model().pa {
            let got: Vec<Value> = pa.iter().map(actinf_cli::arrays::tensor_to_json).collect();
            check("pA", Value::Array(got));
        }
        if let Some(pb) = &agent.model().pb {
            let got: Vec<Value> = pb.iter().map(actinf_cli::arrays::tensor_to_json).collect();
            check("pB", Value::Array(got));
        }
        // The action pymdp chose, unless two were tied (then any is right).
        if !want["action_tie"].as_bool().unwrap_or(false) && step.action.is_none() {
            assert_eq!(
                serde_json::json!(rec.action),
                want["action"],
                "{} step {t}: action",
                path.display()
            );
        }
    }
    gaps
}

#[test]
fn pymdp_fixtures_replay_within_tolerance() {
    let dir = fixture_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 23,
        "expected the T-maze, grid world and 20+ random fixtures"
    );
    for f in &files {
        let gaps = replay(f);
        let summary: Vec<String> = gaps
            .by_field
            .iter()
            .map(|(k, g)| format!("{k} {g:.1e}"))
            .collect();
        println!(
            "{:<48} {}",
            f.file_name().unwrap().to_string_lossy(),
            summary.join(", ")
        );
    }
}
