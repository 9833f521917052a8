//! Bad input gets a clear error naming the array and index, and a non-zero
//! exit, never a panic: each case mutates the shipped T-maze scenario.

use std::process::Command;

use serde_json::{json, Value};

fn example() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tmaze.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Run `actinf pomdp run` on a scenario text; return (success, stderr).
fn run_text(name: &str, text: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("actinf-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["pomdp", "run"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    (out.status.success(), stderr)
}

fn expect_error(name: &str, scenario: &Value, needles: &[&str]) {
    let (ok, stderr) = run_text(name, &scenario.to_string());
    assert!(!ok, "{name}: expected a non-zero exit");
    for n in needles {
        assert!(stderr.contains(n), "{name}: `{n}` not in: {stderr}");
    }
}

#[test]
fn the_example_runs() {
    let (ok, stderr) = run_text("ok", &example().to_string());
    assert!(ok, "{stderr}");
}

#[test]
fn wrong_shape_names_the_array() {
    let mut s = example();
    for row in s["A"][0].as_array_mut().unwrap() {
        row.as_array_mut().unwrap().pop();
    }
    expect_error(
        "shape",
        &s,
        &["A[0] has shape [4, 3, 2], expected [4, 4, 2]"],
    );
}

#[test]
fn unnormalised_column_names_the_column() {
    let mut s = example();
    s["B"][0][1][0][0] = json!(0.5);
    expect_error("norm", &s, &["B[0] column [0, 0] sums to 1.5"]);
}

#[test]
fn nan_names_the_entry() {
    let text = example().to_string();
    let text = text.replacen("\"D\":[[1.0,0.0,0.0,0.0]", "\"D\":[[NaN,0.0,0.0,0.0]", 1);
    assert!(text.contains("NaN"));
    let (ok, stderr) = run_text("nan", &text);
    assert!(!ok);
    assert!(
        stderr.contains("D[0] holds a non-finite value (NaN) at [0]"),
        "{stderr}"
    );
}

#[test]
fn negative_entry_names_the_entry() {
    let mut s = example();
    s["A"][2][0][0][0] = json!(-0.5);
    s["A"][2][1][0][0] = json!(1.5);
    expect_error(
        "neg",
        &s,
        &["A[2] holds a negative value (-0.5) at [0, 0, 0]"],
    );
}

#[test]
fn unknown_setting_is_refused() {
    let mut s = example();
    s["settings"]["polcy_len"] = json!(2);
    expect_error("setting", &s, &["unknown field `polcy_len`"]);
}

#[test]
fn out_of_range_observation_is_refused() {
    let mut s = example();
    s["steps"][1]["observation"] = json!([7, 0, 0]);
    expect_error(
        "obs",
        &s,
        &["step 1", "observation for modality 0 is 7, expected 0..4"],
    );
}

#[test]
fn out_of_range_forced_action_is_refused() {
    let mut s = example();
    s["steps"][0]["action"] = json!([9, 0]);
    expect_error(
        "action",
        &s,
        &["step 0", "action for factor 0 is 9, expected 0..4"],
    );
}

#[test]
fn ragged_list_names_the_path() {
    let mut s = example();
    s["B"][1][0].as_array_mut().unwrap().pop();
    expect_error("ragged", &s, &["B[1]: ragged nesting at [1]"]);
}

#[test]
fn bad_setting_value_is_refused() {
    let mut s = example();
    s["settings"]["gamma"] = json!(-1.0);
    expect_error("gamma", &s, &["setting `gamma`", "positive"]);
}

#[test]
fn missing_file_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["pomdp", "run", "/nonexistent/scenario.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

fn run_vmp(name: &str, text: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("actinf-bad-vmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["vmp", "run"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    (out.status.success(), stderr)
}

#[test]
fn vmp_example_runs_and_bad_models_are_refused() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/vmp/gaussian_mean_precision.json"
    );
    let good: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (ok, stderr) = run_vmp("good", &good.to_string());
    assert!(ok, "{stderr}");
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "parent",
            Box::new(|m| m["nodes"][2]["parents"][0] = json!("nope")),
            "unknown parent `nope`",
        ),
        (
            "conjugacy",
            Box::new(|m| m["nodes"][2]["parents"][0] = json!("tau")),
            "not conjugate",
        ),
        (
            "nan",
            Box::new(|m| m["nodes"][2]["observed"][3] = json!("x")),
            "expected numbers",
        ),
        (
            "size",
            Box::new(|m| m["nodes"][2]["plates"] = json!([11])),
            "observed data has 10 values, expected 11",
        ),
        (
            "type",
            Box::new(|m| m["nodes"][1]["type"] = json!("Gama")),
            "unknown node type `Gama`",
        ),
        (
            "shape",
            Box::new(|m| m["nodes"][1]["shape"] = json!(-1.0)),
            "shape must be positive",
        ),
        (
            "order",
            Box::new(|m| m["update_order"] = json!(["y"])),
            "`y` is observed",
        ),
        (
            "field",
            Box::new(|m| m["tolerance"] = json!(1e-3)),
            "unknown field `tolerance`",
        ),
    ];
    for (name, mutate, needle) in cases {
        let mut m = good.clone();
        mutate(&mut m);
        let (ok, stderr) = run_vmp(name, &m.to_string());
        assert!(!ok, "{name}: expected failure");
        assert!(
            stderr.contains(needle),
            "{name}: `{needle}` not in {stderr}"
        );
    }
}

#[test]
fn huge_policy_len_is_refused_before_allocating() {
    // 2^63 overflowed a product; 40 asked for 4^40 policies; 10^9 for a
    // 16 GB list of step counts: each is now a named error.
    for (len, needle) in [
        (json!(9223372036854775808u64), "overflows"),
        (json!(40), "overflows"),
        (json!(1_000_000_000), "over the memory limit"),
    ] {
        let mut s = example();
        s["settings"]["policy_len"] = len.clone();
        expect_error("policy_len", &s, &["settings.policy_len", needle]);
    }
}

#[test]
fn max_memory_sets_the_budget() {
    // The T-maze's 16 policies of 2 steps fit in 4G but not in 512 bytes.
    let dir = std::env::temp_dir().join(format!("actinf-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tmaze.json");
    std::fs::write(&path, example().to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["--max-memory", "512", "pomdp", "run"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("over the memory limit of 512 bytes"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["--max-memory", "lots", "pomdp", "run"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a byte count"));
}

#[test]
fn results_that_overflow_are_refused_not_printed_as_null() {
    // Finite but huge inputs once gave NaN in neg_efe and q_pi, which JSON
    // printed as null.
    let mut s = example();
    s["C"][1] = json!([0.0, 1e308, -1e308]);
    expect_error("c308", &s, &["not finite", "log-preferences C"]);
    let mut s = example();
    s["settings"]["gamma"] = json!(1e308);
    expect_error("gamma308", &s, &["q_pi of policy", "gamma"]);
}
