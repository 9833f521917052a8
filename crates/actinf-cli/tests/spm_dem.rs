//! `actinf spm dem`: a small DEM run in SPM's description, and bad inputs
//! refused with a named field and a non-zero exit.

use std::process::Command;

use serde_json::{json, Value};

fn small_run() -> Value {
    json!({
        "runs": [{
            "label": "small",
            "scheme": "spm_DEM",
            "model": {
                "E": {"n": 4, "d": 2, "nE": 4, "nM": 4, "nD": 1, "linear": 1, "s": 0.5},
                "levels": [
                    {"l": 1, "n": 1, "m": 1, "f": "P.a*x + v", "g": "x",
                     "x0": [0], "pE": {"a": -0.5}, "pC": [[0]],
                     "V": [[16]], "W": [[16]], "Q": [], "R": [], "xP": [[0]]},
                    {"l": 1, "n": 0, "m": 0, "v0": [0], "V": [[1]], "Q": []}
                ]
            },
            "Y": [[0.0, 0.1, 0.3, 0.4, 0.3, 0.1, 0.0, -0.1]],
            "U_prior_causes": [[0.0, 0.2, 0.3, 0.2, 0.0, 0.0, 0.0, 0.0]],
            "qU": {"x1": "a stale result that must be replaced"}
        }]
    })
}

fn run(doc: &Value, name: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("actinf-spm-dem-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["spm", "dem"])
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn a_run_is_filled_in_with_spm_result_fields() {
    let out = run(&small_run(), "ok");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &doc["runs"][0];
    assert_eq!(r["label"], "small");
    assert_eq!(r["qU"]["x1"][0].as_array().unwrap().len(), 8);
    assert!(r["F"][0].as_f64().unwrap().is_finite());
    assert_eq!(r["qP"]["P"]["a"][0][0].as_f64(), Some(-0.5));
}

/// Spoils a good run.
type Spoil = fn(&mut Value);

#[test]
fn bad_runs_exit_non_zero_with_the_field_named() {
    let cases: [(&str, Spoil, &str); 4] = [
        (
            "expr",
            |d| d["runs"][0]["model"]["levels"][0]["f"] = json!("P.a*x + @v"),
            "position",
        ),
        (
            "dims",
            |d| d["runs"][0]["model"]["levels"][0]["V"] = json!([[1, 0], [0, 1]]),
            "model.levels[0].V",
        ),
        (
            "precision",
            |d| d["runs"][0]["model"]["levels"][0]["W"] = json!([[-2]]),
            "positive semi-definite",
        ),
        (
            "missing",
            |d| {
                d["runs"][0].as_object_mut().unwrap().remove("Y");
            },
            "`Y`",
        ),
    ];
    for (name, spoil, expected) in cases {
        let mut doc = small_run();
        spoil(&mut doc);
        let out = run(&doc, name);
        assert!(!out.status.success(), "{name}: accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}: partial output");
    }
}
