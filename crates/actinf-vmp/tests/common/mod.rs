//! Helpers shared by the BayesPy replays and the benches: loading the
//! committed fixtures and comparing numbers.

#![allow(dead_code)]

use serde_json::Value;

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/bayespy/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Flatten nested lists (C order).
pub fn flat(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    fn go(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            x => out.push(x.as_f64().expect("a number")),
        }
    }
    go(v, &mut out);
    out
}

pub fn node<'a>(fx: &'a Value, name: &str) -> &'a Value {
    fx["model"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap()
}

pub fn plates(node: &Value) -> Vec<usize> {
    node["plates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as usize)
        .collect()
}

/// Largest gap, relative where |want| ≥ 1 and absolute below.
pub fn gap(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}
