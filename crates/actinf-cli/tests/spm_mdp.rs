//! `actinf spm mdp`: a small MDP file replayed (JSON out, exit 0), and bad
//! files refused with a message naming the field and a non-zero exit.

use std::process::Command;

fn run(name: &str, text: &str) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!("actinf-spm-mdp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["spm", "mdp"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

const GOOD: &str = r#"{
  "spec": {
    "A": [[[0.9, 0.2], [0.1, 0.8]]],
    "B": [[[[1, 0], [0, 1]], [[0, 1], [1, 0]]]],
    "C": [[0, 2]],
    "d": [[1, 1]],
    "V": [[[1], [2], [1], [2]], [[1], [1], [2], [2]]]
  },
  "single_trial": {"o_outcomes": [[1, 2, 2]], "s_true_states": [[1, 2, 2]], "u_actions": [[2, 1]]}
}"#;

#[test]
fn a_file_is_replayed_and_printed_with_its_results() {
    let (ok, stdout, stderr) = run("good.json", GOOD);
    assert!(ok, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON out");
    let trial = &doc["single_trial"];
    for field in ["X", "P", "R", "F", "G", "H", "w", "d_posterior", "Fd"] {
        assert!(trial.get(field).is_some(), "{field} missing");
    }
    assert_eq!(trial["o_outcomes"], serde_json::json!([[1, 2, 2]]));
}

#[test]
fn bad_files_exit_non_zero_with_the_field_named() {
    let out_of_range = GOOD.replace(
        r#""o_outcomes": [[1, 2, 2]]"#,
        r#""o_outcomes": [[1, 5, 2]]"#,
    );
    let (ok, _, stderr) = run("range.json", &out_of_range);
    assert!(!ok);
    assert!(stderr.contains("single_trial.o_outcomes[0][1]"), "{stderr}");

    let missing = GOOD.replace(r#""u_actions": [[2, 1]]"#, r#""u": [[2, 1]]"#);
    let (ok, _, stderr) = run("missing.json", &missing);
    assert!(!ok);
    assert!(stderr.contains("single_trial.u_actions"), "{stderr}");

    let shape = GOOD.replace(r#""C": [[0, 2]]"#, r#""C": [[0, 2, 1]]"#);
    let (ok, _, stderr) = run("shape.json", &shape);
    assert!(!ok);
    assert!(stderr.contains("spec.C[0]"), "{stderr}");

    let (ok, _, stderr) = run("not_json.json", "{");
    assert!(!ok);
    assert!(stderr.contains("not JSON"), "{stderr}");
}
