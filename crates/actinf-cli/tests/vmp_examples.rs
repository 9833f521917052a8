//! The shipped VMP examples (`examples/vmp/*.json`, written by
//! `scripts/vmp_examples.py`), each run through the `actinf vmp run` binary.
//!
//! - The conversions of BayesPy 0.6.6's examples (gmm, bernoulli_mixture,
//!   hmm_dirichlet, lgssm, pca): every iteration's ELBO within 1e-8 relative
//!   of the fixture's `expected.elbo`
//!   (`crates/actinf-vmp/tests/fixtures/bayespy/`), the same number of
//!   iterations and the same convergence flag.
//! - The models with known parameters: the ELBO after convergence within
//!   1e-9 relative of the log-likelihood ln p(y) computed here independently,
//!   by the forward algorithm (hmm_known) and by the Kalman filter
//!   (lgssm_known).
//!
//! Run with `--nocapture` to see the gaps.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const BAYESPY_TOLERANCE: f64 = 1e-8;
const EXACT_TOLERANCE: f64 = 1e-9;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn example_path(name: &str) -> PathBuf {
    repo().join("examples/vmp").join(format!("{name}.json"))
}

fn read_json(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `actinf vmp run examples/vmp/<name>.json`: the report.
fn run_example(name: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["vmp", "run"])
        .arg(example_path(name))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: {stderr}");
    assert!(stderr.is_empty(), "{name}: unexpected stderr: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["decreases"].as_array().map(Vec::len),
        Some(0),
        "{name}: the ELBO fell: {}",
        report["decreases"]
    );
    report
}

/// Flatten nested lists (C order).
fn flat(v: &Value) -> Vec<f64> {
    fn go(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            x => out.push(x.as_f64().expect("a number")),
        }
    }
    let mut out = Vec::new();
    go(v, &mut out);
    out
}

fn node<'a>(model: &'a Value, name: &str) -> &'a Value {
    model["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

/// Every iteration's ELBO against the BayesPy fixture's.
fn replays_bayespy(name: &str) {
    let fixture = read_json(
        &repo()
            .join("crates/actinf-vmp/tests/fixtures/bayespy")
            .join(format!("{name}.json")),
    );
    let model = read_json(&example_path(name));
    assert!(
        model["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{name}: no description"
    );
    let rule = &fixture["tolerance_rule"];
    assert_eq!(model["max_iter"], rule["max_iter"], "{name}: max_iter");
    assert_eq!(model["tol"], rule["tol"], "{name}: tol");

    let report = run_example(name);
    let got = flat(&report["elbo"]);
    let want = flat(&fixture["expected"]["elbo"]);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max);
    println!(
        "{name}: ELBO max relative gap {worst:.2e} over {} iterations (BayesPy {}), final {}",
        got.len(),
        want.len(),
        got.last().unwrap()
    );
    assert_eq!(
        report["iterations"].as_u64().unwrap() as usize,
        want.len(),
        "{name}: iterations\n{got:?}\n vs {want:?}"
    );
    assert_eq!(got.len(), want.len());
    assert_eq!(
        report["converged"], fixture["expected"]["converged"],
        "{name}: converged"
    );
    assert!(
        worst <= BAYESPY_TOLERANCE,
        "{name}: gap {worst:e}\n{got:?}\n vs {want:?}"
    );
}

#[test]
fn gaussian_mean_precision_replays_bayespy() {
    replays_bayespy("gaussian_mean_precision");
}

#[test]
fn gmm_replays_bayespy() {
    replays_bayespy("gmm");
}

#[test]
fn bernoulli_mixture_replays_bayespy() {
    replays_bayespy("bernoulli_mixture");
}

#[test]
fn hmm_dirichlet_replays_bayespy() {
    replays_bayespy("hmm_dirichlet");
}

#[test]
fn lgssm_replays_bayespy() {
    replays_bayespy("lgssm");
}

#[test]
fn pca_replays_bayespy() {
    replays_bayespy("pca");
}

/// The final ELBO of a known-parameter model against `want = ln p(y)`.
fn check_exact(name: &str, report: &Value, want: f64, method: &str) {
    let elbo = flat(&report["elbo"]);
    let got = *elbo.last().unwrap();
    let gap = (got - want).abs() / want.abs();
    println!(
        "{name}: final ELBO {got} vs {method} ln p(y) {want}: relative gap {gap:.2e} ({} iterations)",
        elbo.len()
    );
    assert_eq!(report["converged"], Value::Bool(true), "{name}: converged");
    assert!(gap <= EXACT_TOLERANCE, "{name}: gap {gap:e}");
}

/// ln p(y) of an HMM by the scaled forward algorithm (Rabiner 1989).
fn forward_log_likelihood(pi: &[f64], trans: &[f64], emit: &[f64], y: &[usize]) -> f64 {
    let k = pi.len();
    let j = emit.len() / k;
    let mut alpha: Vec<f64> = (0..k).map(|s| pi[s] * emit[s * j + y[0]]).collect();
    let mut ll = 0.0;
    for (t, &obs) in y.iter().enumerate() {
        if t > 0 {
            alpha = (0..k)
                .map(|s| {
                    (0..k).map(|r| alpha[r] * trans[r * k + s]).sum::<f64>() * emit[s * j + obs]
                })
                .collect();
        }
        let c: f64 = alpha.iter().sum();
        ll += c.ln();
        alpha.iter_mut().for_each(|a| *a /= c);
    }
    ll
}

#[test]
fn hmm_known_elbo_is_the_forward_log_likelihood() {
    let model = read_json(&example_path("hmm_known"));
    let z = node(&model, "z");
    let y = node(&model, "y");
    assert_eq!(z["type"], "CategoricalMarkovChain");
    assert_eq!(y["type"], "CategoricalEmission");
    let pi = flat(&z["parents"][0]);
    let trans = flat(&z["parents"][1]["value"]);
    let emit = flat(&y["emission"]);
    let data: Vec<usize> = flat(&y["observed"]).iter().map(|&v| v as usize).collect();
    assert_eq!(data.len(), 100);
    let want = forward_log_likelihood(&pi, &trans, &emit, &data);
    check_exact("hmm_known", &run_example("hmm_known"), want, "forward");
}

/// Small dense row-major matrices.
fn matmul(a: &[f64], b: &[f64], n: usize, m: usize, p: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * p];
    for i in 0..n {
        for k in 0..m {
            for j in 0..p {
                c[i * p + j] += a[i * m + k] * b[k * p + j];
            }
        }
    }
    c
}

fn transpose(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            t[j * n + i] = a[i * m + j];
        }
    }
    t
}

fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Inverse and log-determinant by Gauss–Jordan elimination with partial
/// pivoting.
fn inverse_logdet(a: &[f64], n: usize) -> (Vec<f64>, f64) {
    let mut m = a.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    let mut logdet = 0.0;
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&r, &s| m[r * n + col].abs().total_cmp(&m[s * n + col].abs()))
            .unwrap();
        if piv != col {
            for j in 0..n {
                m.swap(piv * n + j, col * n + j);
                inv.swap(piv * n + j, col * n + j);
            }
        }
        let p = m[col * n + col];
        assert!(p != 0.0, "singular matrix");
        logdet += p.abs().ln();
        for j in 0..n {
            m[col * n + j] /= p;
            inv[col * n + j] /= p;
        }
        for r in 0..n {
            if r != col {
                let f = m[r * n + col];
                for j in 0..n {
                    m[r * n + j] -= f * m[col * n + j];
                    inv[r * n + j] -= f * inv[col * n + j];
                }
            }
        }
    }
    (inv, logdet)
}

fn inverse(a: &[f64], n: usize) -> Vec<f64> {
    inverse_logdet(a, n).0
}

/// ln p(y) of a linear-Gaussian state-space model by the Kalman filter in
/// covariance form and the prediction-error decomposition (Harvey 1989;
/// Bishop 2006 §13.3.1). `q_cov`, `p0`, `r_cov` are covariances.
#[allow(clippy::too_many_arguments)]
fn kalman_log_likelihood(
    a: &[f64],
    q_cov: &[f64],
    c: &[f64],
    r_cov: &[f64],
    mu0: &[f64],
    p0: &[f64],
    y: &[f64],
    d: usize,
    m: usize,
) -> f64 {
    let n = y.len() / m;
    let (at, ct) = (transpose(a, d, d), transpose(c, m, d));
    let (mut mean, mut cov) = (mu0.to_vec(), p0.to_vec());
    let mut ll = 0.0;
    for t in 0..n {
        if t > 0 {
            mean = matmul(a, &mean, d, d, 1);
            cov = add(&matmul(&matmul(a, &cov, d, d, d), &at, d, d, d), q_cov);
        }
        // Innovation e = y − C m, its covariance S = C P Cᵀ + R.
        let pred = matmul(c, &mean, m, d, 1);
        let e: Vec<f64> = (0..m).map(|i| y[t * m + i] - pred[i]).collect();
        let s = add(&matmul(&matmul(c, &cov, m, d, d), &ct, m, d, m), r_cov);
        let (s_inv, s_logdet) = inverse_logdet(&s, m);
        let s_inv_e = matmul(&s_inv, &e, m, m, 1);
        let quad: f64 = e.iter().zip(&s_inv_e).map(|(a, b)| a * b).sum();
        ll += -0.5 * (m as f64 * (2.0 * std::f64::consts::PI).ln() + s_logdet + quad);
        // Update: K = P Cᵀ S⁻¹, m += K e, P −= K C P.
        let gain = matmul(&matmul(&cov, &ct, d, d, m), &s_inv, d, m, m);
        let ke = matmul(&gain, &e, d, m, 1);
        mean = add(&mean, &ke);
        let kcp = matmul(&matmul(&gain, c, d, m, d), &cov, d, d, d);
        cov = cov.iter().zip(&kcp).map(|(p, k)| p - k).collect();
        // Keep P symmetric.
        cov = (0..d * d)
            .map(|ij| 0.5 * (cov[ij] + cov[(ij % d) * d + ij / d]))
            .collect();
    }
    ll
}

#[test]
fn lgssm_known_elbo_is_the_kalman_log_likelihood() {
    let model = read_json(&example_path("lgssm_known"));
    let x = node(&model, "x");
    let y = node(&model, "y");
    assert_eq!(x["type"], "GaussianMarkovChain");
    assert_eq!(y["type"], "LinearGaussian");
    let d = flat(&x["mu0"]).len();
    let m = y["obs_dim"].as_u64().unwrap() as usize;
    assert_eq!((d, m), (2, 2));
    // The model file holds precisions (Λ₀, Q, R); the filter wants covariances.
    let want = kalman_log_likelihood(
        &flat(&x["A"]),
        &inverse(&flat(&x["Q"]), d),
        &flat(&y["C"]),
        &inverse(&flat(&y["R"]), m),
        &flat(&x["mu0"]),
        &inverse(&flat(&x["Lambda0"]), d),
        &flat(&y["observed"]),
        d,
        m,
    );
    assert_eq!(flat(&y["observed"]).len(), 100 * m);
    check_exact("lgssm_known", &run_example("lgssm_known"), want, "Kalman");
}

/// Every shipped example has a description, runs, and is checked above.
#[test]
fn every_shipped_example_is_covered() {
    let covered = [
        "gaussian_mean_precision",
        "gmm",
        "bernoulli_mixture",
        "hmm_dirichlet",
        "lgssm",
        "pca",
        "hmm_known",
        "lgssm_known",
    ];
    let mut names: Vec<String> = std::fs::read_dir(repo().join("examples/vmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        assert!(
            covered.contains(&name.as_str()),
            "examples/vmp/{name}.json has no test"
        );
        let model = read_json(&example_path(name));
        assert!(
            model["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}: no description"
        );
    }
    for name in covered {
        assert!(
            names.iter().any(|n| n == name),
            "examples/vmp/{name}.json is missing"
        );
    }
}

/// A seeded random start replays: the same seed gives the same ELBO trace,
/// another seed another start.
#[test]
fn seeded_random_starts_replay() {
    let text = std::fs::read_to_string(repo().join("examples/vmp/gmm.json")).unwrap();
    let mut model: Value = serde_json::from_str(&text).unwrap();
    model.as_object_mut().unwrap().remove("initial_values");
    let run_with = |seed: u64| -> Vec<f64> {
        let mut m = model.clone();
        m["initial_random"] = serde_json::json!({ "z": seed });
        let dir = std::env::temp_dir().join(format!("actinf-vmp-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("gmm_{seed}.json"));
        std::fs::write(&path, m.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_actinf"))
            .args(["vmp", "run"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        flat(&report["elbo"])
    };
    let a = run_with(3);
    assert_eq!(a, run_with(3));
    assert_ne!(a, run_with(4));
    for w in a.windows(2) {
        assert!(w[1] >= w[0] - 1e-9 * w[0].abs());
    }
}

/// Run `actinf vmp run` on a model value: (success, stderr); a panic or a
/// signal is a failure whatever the message.
fn run_value(name: &str, model: &Value) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("actinf-vmp-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, model.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actinf"))
        .args(["vmp", "run"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    assert!(
        out.status.code().is_some(),
        "{name}: killed by a signal: {stderr}"
    );
    (out.status.success(), stderr)
}

/// Sizes from the file that once panicked on an overflow or aborted on a
/// failed allocation (found by mutating the shipped examples) are refused
/// with the node and the field named.
#[test]
fn huge_sizes_are_refused_with_the_field_named() {
    let big = Value::from(9223372036854775808u64);
    let cases: [(&str, &[&str], Value, &str); 6] = [
        (
            "hmm_dirichlet",
            &["nodes", "2", "plates", "0"],
            big.clone(),
            "plates",
        ),
        (
            "bernoulli_mixture",
            &["nodes", "3", "plates", "1"],
            Value::from(1_000_000_000u64),
            "over the memory limit",
        ),
        (
            "bernoulli_mixture",
            &["nodes", "1", "plates", "1"],
            big.clone(),
            "overflows",
        ),
        (
            "lgssm_known",
            &["nodes", "1", "obs_dim"],
            big.clone(),
            "obs_dim",
        ),
        (
            "lgssm_known",
            &["nodes", "1", "obs_dim"],
            Value::from(4294967296u64),
            "over the memory limit",
        ),
        ("hmm_known", &["nodes", "1", "symbols"], big, "symbols"),
    ];
    for (name, path, value, needle) in cases {
        let mut model = read_json(&example_path(name));
        let mut slot = &mut model;
        for key in path {
            slot = match key.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*key],
            };
        }
        assert!(!slot.is_null(), "{name}: no {path:?} in the example");
        *slot = value;
        let (ok, stderr) = run_value(name, &model);
        assert!(
            !ok && stderr.contains(needle),
            "{name} {path:?}: `{needle}` not in: {stderr}"
        );
    }
}
