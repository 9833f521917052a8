//! Conformance with SPM (MATLAB DEM toolbox): every quantity pinned by the
//! fixtures in `../shared/fixtures/spm` (beside the repository), reproduced to
//! 1e-8 absolute. When the directory is absent the tests say so and pass.
//!
//! The fixtures store MATLAB arrays column-major (`data_column_major`) with
//! MATLAB shapes and 1-based indices; the engine is row-major and 0-based. The
//! small loader below converts. Conventions switched on, by name:
//! `ln(x + 1e-16)` in message passing ([`SPM_LOG_GUARD`]), a plain `ln` in
//! `run_mmp.m`'s backward message, `exp(−16)` in `spm_wnorm`/`spm_MDP_G`,
//! SPM's skip rule in `run_mmp.m` (none in the VB_X script), and `σ(γQ − F)`
//! in the VB_X script's policy posterior. Run with `--nocapture` to see the
//! gap per fixture.

use std::path::Path;

use actinf_core::tensor::{dot_except, outer, ContractBuffers};
use actinf_core::{LogGuard, Tensor};
use actinf_pomdp::mmp::{
    marginal_message_passing, MmpInputs, MmpOptions, MmpTransitions, MmpWorkspace, WindowBeliefs,
    WindowPrior, SPM_LOG_GUARD,
};
use actinf_pomdp::reduction::reduce_dirichlet;
use actinf_pomdp::spm::{spm_wnorm, EvidenceSign, VbxConfig, VbxLoop};
use serde_json::{Map, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/spm");

/// Absolute tolerance on every compared number.
const TOL: f64 = 1e-8;

// ---------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------

/// A MATLAB numeric array: its shape and column-major data.
struct Arr {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Arr {
    fn from(v: &Value) -> Arr {
        let shape = v["shape"]
            .as_array()
            .expect("numeric array has a shape")
            .iter()
            .map(|x| x.as_u64().expect("shape entries are integers") as usize)
            .collect();
        let data = v["data_column_major"]
            .as_array()
            .expect("numeric array has data_column_major")
            .iter()
            .map(|x| x.as_f64().expect("numbers"))
            .collect();
        Arr { shape, data }
    }

    /// The same array, same shape, row-major.
    fn row_major(&self) -> Vec<f64> {
        let n = self.data.len();
        let mut out = vec![0.0; n];
        let mut idx = vec![0usize; self.shape.len()];
        for (k, o) in out.iter_mut().enumerate() {
            actinf_core::tensor::unravel(&self.shape, k, &mut idx);
            let mut cm = 0;
            for (i, d) in idx.iter().zip(&self.shape).rev() {
                cm = cm * d + i;
            }
            *o = self.data[cm];
        }
        out
    }

    fn tensor(&self) -> Tensor {
        Tensor::new(self.shape.clone(), self.row_major()).expect("fixture tensor")
    }

    fn scalar(&self) -> f64 {
        assert_eq!(self.data.len(), 1, "expected a scalar");
        self.data[0]
    }

    /// A 1-based index matrix `[rows, cols]` as 0-based rows.
    fn index_rows(&self) -> Vec<Vec<usize>> {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        (0..rows)
            .map(|r| {
                (0..cols)
                    .map(|c| self.data[r + rows * c] as usize - 1)
                    .collect()
            })
            .collect()
    }
}

/// The entries of a MATLAB cell array, in stored (column-major) order.
fn cell(v: &Value) -> Vec<&Value> {
    v["cell"].as_array().expect("a cell array").iter().collect()
}

fn is_cell(v: &Value) -> bool {
    v.get("cell").is_some()
}

/// Load a fixture, or say that the fixtures are absent and return `None`.
fn load(name: &str) -> Option<Map<String, Value>> {
    let dir = Path::new(FIXTURES);
    if !dir.is_dir() {
        println!("SPM fixtures not found at {FIXTURES}; skipping {name}");
        return None;
    }
    let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("reading {name}.json: {e}"));
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Some(m),
        other => panic!("{name}.json is not a JSON object: {other:?}"),
    }
}

fn max_gap(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Print the gap and assert it is within 1e-8.
fn report(label: &str, gap: f64) {
    println!("{label:<44} max gap {gap:.3e} (tolerance 1e-8)");
    assert!(
        gap <= TOL,
        "{label}: max gap {gap:e} exceeds the tolerance 1e-8"
    );
}

fn vectors(v: &Value) -> Vec<Vec<f64>> {
    if is_cell(v) {
        cell(v).into_iter().map(|c| Arr::from(c).data).collect()
    } else {
        vec![Arr::from(v).data]
    }
}

// ---------------------------------------------------------------------------
// spm_cross, spm_dot, spm_wnorm
// ---------------------------------------------------------------------------

#[test]
fn spm_cross_is_the_outer_product() {
    let Some(d) = load("cross_a") else { return };
    let s = vectors(&d["s"]);
    let want1 = Arr::from(&d["result1"]).row_major();
    let want2 = Arr::from(&d["result2"]).row_major();
    let gap = max_gap(&outer(&[&s[0]]), &want1).max(max_gap(&outer(&[&s[0]]), &want2));
    report("cross_a (spm_cross(s), spm_cross(s{1}))", gap);

    let Some(d) = load("cross_b") else { return };
    let s = vectors(&d["s"]);
    let got = outer(&[&s[0], &s[1]]);
    let gap = max_gap(&got, &Arr::from(&d["result1"]).row_major())
        .max(max_gap(&got, &Arr::from(&d["result2"]).row_major()));
    report("cross_b (spm_cross(s), spm_cross(s1, s2))", gap);

    let Some(d) = load("cross_c") else { return };
    let v = Arr::from(&d["random_vec"]).data;
    let m = Arr::from(&d["random_matrix"]).row_major();
    let gap = max_gap(&outer(&[&v, &m]), &Arr::from(&d["result1"]).row_major());
    report("cross_c (spm_cross(vec, matrix))", gap);

    let Some(d) = load("cross_d") else { return };
    let v = Arr::from(&d["random_vec"]).data;
    let s = vectors(&d["s"]);
    let mut all: Vec<&[f64]> = vec![&v];
    all.extend(s.iter().map(Vec::as_slice));
    let gap = max_gap(&outer(&all), &Arr::from(&d["result1"]).row_major());
    report("cross_d (spm_cross(vec, s))", gap);

    let Some(d) = load("cross_e") else { return };
    let s1 = vectors(&d["s1"]);
    let s2 = vectors(&d["s2"]);
    let all: Vec<&[f64]> = s1.iter().chain(&s2).map(Vec::as_slice).collect();
    let gap = max_gap(&outer(&all), &Arr::from(&d["result1"]).row_major());
    report("cross_e (spm_cross(s1, s2))", gap);
}

#[test]
fn spm_dot_is_dot_except() {
    let mut buf = ContractBuffers::default();
    for name in ["dot_a", "dot_b", "dot_c", "dot_d", "dot_e"] {
        let Some(d) = load(name) else { return };
        let a = Arr::from(&d["A"]);
        let a_rm = a.row_major();
        let o = Arr::from(&d["o"]).data;
        // dot_a/dot_b store `s` as a plain vector: it is the one-element cell {s}.
        let s = vectors(&d["s"]);
        let no = a.shape[0];
        let rest: usize = a.shape[1..].iter().product();

        // result1 = spm_dot(A, o): contract axis 0 only.
        let r1 = dot_except(&a_rm, &[no, rest], &[&o, &[]], Some(1), &mut buf).to_vec();
        let g1 = max_gap(&r1, &Arr::from(&d["result1"]).row_major());

        // result2 = spm_dot(A, s): contract every state axis.
        let mut vecs: Vec<&[f64]> = vec![&[]];
        vecs.extend(s.iter().map(Vec::as_slice));
        let r2 = dot_except(&a_rm, &a.shape, &vecs, Some(0), &mut buf).to_vec();
        let g2 = max_gap(&r2, &Arr::from(&d["result2"]).row_major());

        // result3 = spm_dot(A, s, 1): contract every state axis but factor 1's.
        let mut shape3 = vec![no * a.shape[1]];
        shape3.extend_from_slice(&a.shape[2..]);
        let mut vecs3: Vec<&[f64]> = vec![&[]];
        vecs3.extend(s.iter().skip(1).map(Vec::as_slice));
        let r3 = dot_except(&a_rm, &shape3, &vecs3, Some(0), &mut buf).to_vec();
        let g3 = max_gap(&r3, &Arr::from(&d["result3"]).row_major());

        report(&format!("{name} result1 spm_dot(A, o)"), g1);
        report(&format!("{name} result2 spm_dot(A, s)"), g2);
        report(&format!("{name} result3 spm_dot(A, s, 1)"), g3);
    }
}

#[test]
fn spm_wnorm_matches() {
    let Some(d) = load("wnorm_a") else { return };
    let w = spm_wnorm(&Arr::from(&d["A"]).tensor()).expect("wnorm");
    report(
        "wnorm_a result",
        max_gap(w.data(), &Arr::from(&d["result"]).row_major()),
    );

    let Some(d) = load("wnorm_b") else { return };
    for (k, a) in cell(&d["A"]).into_iter().enumerate() {
        let w = spm_wnorm(&Arr::from(a).tensor()).expect("wnorm");
        let key = format!("result_{}", k + 1);
        report(
            &format!("wnorm_b {key}"),
            max_gap(w.data(), &Arr::from(&d[key.as_str()]).row_major()),
        );
    }
}

// ---------------------------------------------------------------------------
// Bayesian model reduction
// ---------------------------------------------------------------------------

#[test]
fn bmr_test_a_grid() {
    let Some(d) = load("bmr_test_a") else { return };
    // MATLAB's linspace(1, 32, 128): d1 + (0:n−1)·(d2 − d1)/(n − 1), last = d2.
    let n = 128;
    let x: Vec<f64> = (0..n)
        .map(|i| {
            if i + 1 == n {
                32.0
            } else {
                1.0 + (i as f64) * 31.0 / (n as f64 - 1.0)
            }
        })
        .collect();
    // One column per grid cell, in the fixture's column-major order i + 128 j.
    let mut q = vec![0.0; 2 * n * n];
    for j in 0..n {
        for i in 0..n {
            q[i + n * j] = x[i];
            q[n * n + i + n * j] = x[j];
        }
    }
    let q = Tensor::new(vec![2, n * n], q).expect("q");
    let p = Tensor::new(vec![2], vec![1.0, 1.0]).expect("p");
    let r = Tensor::new(vec![2], vec![1.0, 8.0]).expect("r");
    let out = reduce_dirichlet(&q, &p, &r).expect("reduction");
    report(
        "bmr_test_a F (128x128 grid)",
        max_gap(&out.delta_free_energy, &Arr::from(&d["F"]).data),
    );
}

#[test]
fn bmr_test_b_matrix_of_reduced_priors() {
    let Some(d) = load("bmr_test_b") else { return };
    let q = Arr::from(&d["q_dir"]).tensor();
    let p = Arr::from(&d["p_dir"]).tensor();
    let r = Arr::from(&d["r_dir"]).tensor();
    let out = reduce_dirichlet(&q, &p, &r).expect("reduction");
    report(
        "bmr_test_b F",
        max_gap(&out.delta_free_energy, &Arr::from(&d["F"]).row_major()),
    );
    report(
        "bmr_test_b s_dir",
        max_gap(out.posterior.data(), &Arr::from(&d["s_dir"]).row_major()),
    );
}

// ---------------------------------------------------------------------------
// Marginal message passing (run_mmp.m)
// ---------------------------------------------------------------------------

/// `L(s) = Π_g A_g[o_g, s]`, row-major over the factors.
fn joint_likelihood(a: &[Tensor], obs: &[usize]) -> Vec<f64> {
    let mut l = vec![1.0; a[0].len() / a[0].shape()[0]];
    for (t, &o) in a.iter().zip(obs) {
        for (x, &p) in l.iter_mut().zip(t.axis0(o)) {
            *x *= p;
        }
    }
    l
}

#[test]
fn mmp_windows() {
    // The scripts' trial length.
    const T: usize = 10;
    for name in ["mmp_a", "mmp_b", "mmp_c", "mmp_d"] {
        let Some(d) = load(name) else { return };
        let a: Vec<Tensor> = cell(&d["A"])
            .into_iter()
            .map(|v| Arr::from(v).tensor())
            .collect();
        let b: Vec<Tensor> = cell(&d["B"])
            .into_iter()
            .map(|v| Arr::from(v).tensor())
            .collect();
        let nf = b.len();
        let t = Arr::from(&d["t"]).scalar() as usize; // 1-based current time
        let w = Arr::from(&d["t_horizon"]).scalar() as usize;
        // obs_idx [Ng, t] → obs[j][g].
        let obs_idx = Arr::from(&d["obs_idx"]);
        let ng = obs_idx.shape[0];
        let obs: Vec<Vec<usize>> = (0..obs_idx.shape[1])
            .map(|j| {
                (0..ng)
                    .map(|g| obs_idx.data[g + ng * j] as usize - 1)
                    .collect()
            })
            .collect();
        // The policy matrix: previous actions, plus the policy while t < T.
        let prev = Arr::from(&d["previous_actions"]);
        let mut plan = if prev.data.is_empty() {
            Vec::new()
        } else {
            prev.index_rows()
        };
        if t < T {
            plan.extend(Arr::from(&d["policy"]).index_rows());
        }
        assert!(plan.iter().all(|r| r.len() == nf));

        let likelihoods: Vec<Vec<f64>> = obs[..t].iter().map(|o| joint_likelihood(&a, o)).collect();
        let stored: Vec<f64> = cell(&d["likelihoods"])
            .into_iter()
            .flat_map(|v| Arr::from(v).row_major())
            .collect();
        let mine: Vec<f64> = likelihoods.iter().flatten().copied().collect();
        report(&format!("{name} likelihoods"), max_gap(&mine, &stored));

        // run_mmp.m's window: points max(1, t − W) … S (1-based).
        let tt = t - 1;
        let start = tt.saturating_sub(w);
        let s_points = plan.len() + 1;
        let n_points = s_points - start;
        let transitions = MmpTransitions::new(&b).expect("B");
        let ns = transitions.num_states().to_vec();
        let uniform: Vec<Vec<f64>> = ns.iter().map(|&n| vec![1.0 / n as f64; n]).collect();
        let prior = if start == 0 {
            WindowPrior::Initial(&uniform)
        } else {
            // Beliefs outside the window stay uniform; the forward message
            // into the window pushes them through B.
            WindowPrior::Propagated {
                previous: &uniform,
                actions: &plan[start - 1],
            }
        };
        let inputs = MmpInputs {
            transitions: &transitions,
            likelihoods: &likelihoods[start..=tt],
            actions: &plan[start..s_points - 1],
            prior,
        };
        let options = MmpOptions {
            backward_guard: LogGuard::Plain,
            ..MmpOptions::spm(5)
        };
        let mut beliefs = WindowBeliefs::uniform(&ns, n_points).expect("beliefs");
        let outcome = marginal_message_passing(
            &inputs,
            &options,
            &mut beliefs,
            &mut MmpWorkspace::default(),
            None,
        )
        .expect("mmp");
        assert_eq!(outcome.skipped_iterations, 0);
        // The fixture's qs is the last updated point of the window.
        for (f, want) in cell(&d["qs"]).into_iter().enumerate() {
            let got = beliefs.marginal(f, n_points - 1).expect("marginal");
            report(
                &format!("{name} qs{{{}}}", f + 1),
                max_gap(got, &Arr::from(want).data),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The VB_X closed loop (vb_x_matlab_test_1a.m)
// ---------------------------------------------------------------------------

#[test]
fn vbx_test_1a_closed_loop() {
    let Some(d) = load("vbx_test_1a") else { return };
    let a: Vec<Tensor> = cell(&d["A"])
        .into_iter()
        .map(|v| Arr::from(v).tensor())
        .collect();
    let b: Vec<Tensor> = cell(&d["B"])
        .into_iter()
        .map(|v| Arr::from(v).tensor())
        .collect();
    // C{g} is [No, T] in MATLAB; the engine takes one row per time step, and
    // a column-major [No, T] array is, byte for byte, a row-major [T, No] one.
    let c: Vec<Tensor> = cell(&d["C"])
        .into_iter()
        .map(|v| {
            let m = Arr::from(v);
            Tensor::new(vec![m.shape[1], m.shape[0]], m.data).expect("C")
        })
        .collect();
    let obs_arr = Arr::from(&d["obs"]);
    let ng = obs_arr.shape[0];
    let num_steps = obs_arr.shape[1];
    let obs: Vec<Vec<usize>> = (0..num_steps)
        .map(|t| {
            (0..ng)
                .map(|g| obs_arr.data[g + ng * t] as usize - 1)
                .collect()
        })
        .collect();
    let nf = b.len();
    let ns: Vec<usize> = b.iter().map(|t| t.shape()[0]).collect();
    // U: policy k takes action k on factor 1 and action 1 elsewhere.
    let policies: Vec<Vec<usize>> = Arr::from(&d["policies"])
        .data
        .iter()
        .map(|&u| {
            let mut row = vec![0; nf];
            row[0] = u as usize - 1;
            row
        })
        .collect();
    let np = policies.len();
    let num_iter = 10;
    let config = VbxConfig {
        a: a.clone(),
        b,
        c,
        d: ns.iter().map(|&n| vec![1.0 / n as f64; n]).collect(),
        policies,
        num_steps,
        window: Arr::from(&d["t_horizon"]).scalar() as usize,
        mmp: MmpOptions {
            skip: None,
            backward_guard: SPM_LOG_GUARD,
            ..MmpOptions::spm(num_iter)
        },
        gamma: 16.0,
        evidence: EvidenceSign::Minus,
        record_traces: true,
    };
    let run = VbxLoop::run(config, &obs).expect("loop");

    let stored: Vec<f64> = cell(&d["likelihoods"])
        .into_iter()
        .flat_map(|v| Arr::from(v).row_major())
        .collect();
    let mine: Vec<f64> = obs.iter().flat_map(|o| joint_likelihood(&a, o)).collect();
    report("vbx_test_1a likelihoods", max_gap(&mine, &stored));

    // xn{1}, vn{1}: [iter, state, j, t, k], column-major; unwritten entries 0.
    let n = ns[0];
    let index = |it: usize, s: usize, j: usize, t: usize, k: usize| {
        it + num_iter * (s + n * (j + num_steps * (t + num_steps * k)))
    };
    let size = num_iter * n * num_steps * num_steps * np;
    let mut xn = vec![0.0; size];
    let mut vn = vec![0.0; size];
    for step in &run.steps {
        for (k, trace) in step.traces.iter().enumerate() {
            for it in 0..num_iter {
                let (xs, vs) = (&trace.marginals[it], &trace.errors[it]);
                for i in 0..xs.num_points() {
                    let j = step.window_start + i;
                    let (x, v) = (xs.marginal(0, i).unwrap(), vs.marginal(0, i).unwrap());
                    for s in 0..n {
                        xn[index(it, s, j, step.t, k)] = x[s];
                        vn[index(it, s, j, step.t, k)] = v[s];
                    }
                }
            }
        }
    }
    let want_xn = Arr::from(cell(&d["xn"])[0]);
    let want_vn = Arr::from(cell(&d["vn"])[0]);
    assert_eq!(want_xn.data.len(), size);
    report(
        "vbx_test_1a xn (belief traces)",
        max_gap(&xn, &want_xn.data),
    );
    report(
        "vbx_test_1a vn (prediction-error traces)",
        max_gap(&vn, &want_vn.data),
    );

    // qs{1}: [state, time, policy], the beliefs after the last step.
    let mut qs = vec![0.0; n * num_steps * np];
    for (k, beliefs) in run.beliefs.iter().enumerate() {
        for j in 0..num_steps {
            for (s, &x) in beliefs.marginal(0, j).unwrap().iter().enumerate() {
                qs[s + n * (j + num_steps * k)] = x;
            }
        }
    }
    report(
        "vbx_test_1a qs (final beliefs)",
        max_gap(&qs, &Arr::from(cell(&d["qs"])[0]).data),
    );

    // Actions, chosen by the loop (not forced), 1-based in the file.
    let want_actions = Arr::from(&d["actions"]).data;
    let got_actions: Vec<f64> = run.actions.iter().map(|a| (a[0] + 1) as f64).collect();
    report("vbx_test_1a actions", max_gap(&got_actions, &want_actions));
}
