//! SPM MDP fixture documents: reading a `spec` and the recorded trials,
//! replaying them, and writing the results back in the same layout.
//!
//! See `docs/spm-mdp.md` for the format.

use actinf_core::Tensor;
use serde_json::{Map, Value};

use super::error::MdpError;
use super::json::{self, cells, index_rows, nd, nested, rows, vector, NdArray};
use super::model::{Concentrations, MdpModel, Policies, VbxSettings};
use super::vbx::{replay_trial, TrialInputs, TrialResult};

/// SPM fields of an MDP that this replay does not implement; a spec that
/// holds one is refused rather than run without it.
const UNSUPPORTED: [(&str, &str); 10] = [
    ("c", "learning of preferences (c) is not implemented"),
    (
        "e",
        "learning of the policy prior (e) is not implemented; give E",
    ),
    (
        "O",
        "outcomes given as likelihoods (hidden Markov model mode) are not implemented",
    ),
    ("link", "hierarchical (deep) models are not implemented"),
    ("linkC", "hierarchical (deep) models are not implemented"),
    ("linkE", "hierarchical (deep) models are not implemented"),
    ("MDP", "hierarchical (deep) models are not implemented"),
    ("demi", "mixed (MDP-DEM) models are not implemented"),
    ("n", "multi-agent outcome generation is not implemented"),
    ("VOX", "voice mode is not implemented"),
];

/// An MDP read from a fixture's `spec`: the model, its learned concentration
/// parameters before the first trial, and the sequence options.
#[derive(Debug, Clone, PartialEq)]
pub struct MdpSpec {
    /// The model.
    pub model: MdpModel,
    /// `a`, `b`, `d` as given (what the first trial starts from).
    pub learned: Concentrations,
    /// SPM's `OPTIONS.D`: in a sequence, each trial's `D` is the previous
    /// trial's `X(:, 1)` (post-diction of initial states).
    pub carry_initial_states: bool,
}

impl MdpSpec {
    /// Read a `spec` object (see `docs/spm-mdp.md`). Errors name the field
    /// (`A[1]`, `V[0][3][1]`, …).
    pub fn from_json(spec: &Value) -> Result<Self, MdpError> {
        let obj = spec.as_object().ok_or_else(|| MdpError::Type {
            field: String::new(),
            expected: "an object",
        })?;
        for (name, reason) in UNSUPPORTED {
            if obj.contains_key(name) {
                return Err(MdpError::Unsupported {
                    field: name.into(),
                    reason,
                });
            }
        }
        let defaults = obj
            .get("defaults_in_spm_MDP_VB_X")
            .and_then(Value::as_object);
        let setting = |name: &str, default: f64| -> Result<f64, MdpError> {
            let (field, value) = match (obj.get(name), defaults.and_then(|d| d.get(name))) {
                (Some(v), _) => (name.to_string(), v),
                (None, Some(v)) => (format!("defaults_in_spm_MDP_VB_X.{name}"), v),
                (None, None) => return Ok(default),
            };
            scalar(value, &field)
        };
        let base = VbxSettings::default();
        let num_iter = setting("Ni", base.num_iter as f64)?;
        if num_iter.fract() != 0.0 || num_iter < 1.0 {
            return Err(MdpError::Value {
                field: "Ni".into(),
                value: num_iter,
                expected: "a whole number ≥ 1",
            });
        }
        let settings = VbxSettings {
            alpha: setting("alpha", base.alpha)?,
            beta: setting("beta", base.beta)?,
            zeta: setting("zeta", base.zeta)?,
            eta: setting("eta", base.eta)?,
            tau: setting("tau", base.tau)?,
            erp: setting("erp", base.erp)?,
            num_iter: num_iter as usize,
            fixed_precision: setting("OPTIONS_gamma", 0.0)? != 0.0,
        };
        let carry_initial_states = setting("OPTIONS_D", 0.0)? != 0.0;

        // Transitions first: they fix the factors and their states.
        let b_given = obj.get("B").map(|v| cells(v, "B")).transpose()?;
        let b_counts = obj.get("b").map(|v| cells(v, "b")).transpose()?;
        let b_src = match (&b_given, &b_counts) {
            (Some(b), _) => ("B", b),
            (None, Some(b)) => ("b", b),
            (None, None) => return Err(MdpError::Missing { field: "B".into() }),
        };
        let b = transitions(b_src.1, b_src.0)?;
        let ns: Vec<usize> = b.iter().map(|t| t.shape()[0]).collect();
        let nu: Vec<usize> = b.iter().map(|t| t.shape()[2]).collect();
        let learned_b = match b_counts {
            Some(bc) => Some(transitions(&bc, "b")?),
            None => None,
        };

        let a_given = obj.get("A").map(|v| cells(v, "A")).transpose()?;
        let a_counts = obj.get("a").map(|v| cells(v, "a")).transpose()?;
        let a_src = match (&a_given, &a_counts) {
            (Some(a), _) => ("A", a),
            (None, Some(a)) => ("a", a),
            (None, None) => return Err(MdpError::Missing { field: "A".into() }),
        };
        let a = likelihoods(a_src.1, a_src.0, &ns)?;
        let learned_a = match a_counts {
            Some(ac) => Some(likelihoods(&ac, "a", &ns)?),
            None => None,
        };
        let no: Vec<usize> = a.iter().map(|t| t.shape()[0]).collect();

        let c = match obj.get("C") {
            Some(v) => cells(v, "C")?
                .into_iter()
                .enumerate()
                .map(|(g, arr)| {
                    let shape = match arr.shape.as_slice() {
                        [n] => vec![*n, 1],
                        [n, k] => vec![*n, *k],
                        _ => {
                            return Err(MdpError::Shape {
                                field: format!("C[{g}]"),
                                expected: "[No] or [No][k]".into(),
                                got: arr.shape,
                            })
                        }
                    };
                    tensor(shape, arr.data, &format!("C[{g}]"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => no.iter().map(|&n| Tensor::zeros(&[n, 1])).collect(),
        };
        let d = match obj.get("D") {
            Some(v) => vectors(v, "D")?,
            None => ns.iter().map(|&n| vec![1.0; n]).collect(),
        };
        let learned_d = obj.get("d").map(|v| vectors(v, "d")).transpose()?;
        let e = match obj.get("E") {
            Some(v) => Some(vector(nd(v, "E")?, "E")?),
            None => None,
        };

        let nf = ns.len();
        let policies = if let Some(u) = obj.get("U") {
            Policies::OneStep(one_step_policies(nd(u, "U")?, nf, &nu)?)
        } else if let Some(v) = obj.get("V") {
            Policies::Sequential(sequential_policies(nd(v, "V")?, nf, &nu)?)
        } else {
            // SPM's spm_MDP_check: every combination of controls, first factor fastest.
            let total: usize = nu.iter().product();
            Policies::OneStep(
                (0..total)
                    .map(|mut lin| {
                        nu.iter()
                            .map(|&n| {
                                let u = lin % n;
                                lin /= n;
                                u
                            })
                            .collect()
                    })
                    .collect(),
            )
        };
        let num_steps = match &policies {
            Policies::Sequential(v) => v.len() + 1,
            Policies::OneStep(_) => {
                let t = scalar(
                    obj.get("T").ok_or_else(|| MdpError::Missing {
                        field: "T (needed with one-step policies U)".into(),
                    })?,
                    "T",
                )?;
                if t.fract() != 0.0 || t < 1.0 {
                    return Err(MdpError::Value {
                        field: "T".into(),
                        value: t,
                        expected: "a whole number ≥ 1",
                    });
                }
                t as usize
            }
        };
        let model = MdpModel {
            a,
            b,
            c,
            d,
            e,
            policies,
            num_steps,
            settings,
        };
        let learned = Concentrations {
            a: learned_a,
            b: learned_b,
            d: learned_d,
        };
        model.validate(&learned)?;
        Ok(Self {
            model,
            learned,
            carry_initial_states,
        })
    }
}

/// Read a trial's recorded `o_outcomes`, `u_actions` and `s_true_states`
/// (1-based, as SPM writes them) and check `T`.
pub fn trial_from_json(trial: &Value, model: &MdpModel) -> Result<TrialInputs, MdpError> {
    let obj = trial.as_object().ok_or_else(|| MdpError::Type {
        field: String::new(),
        expected: "an object",
    })?;
    let big_t = model.num_steps;
    if let Some(t) = obj.get("T") {
        let t = scalar(t, "T")?;
        if t != big_t as f64 {
            return Err(MdpError::Value {
                field: "T".into(),
                value: t,
                expected: "the model's number of time steps (V has T − 1 steps)",
            });
        }
    }
    let get = |name: &str| {
        obj.get(name).ok_or_else(|| MdpError::Missing {
            field: name.to_string(),
        })
    };
    let no = model.num_outcomes();
    let ns = model.num_states();
    let nu = model.num_controls();
    let outcomes = index_rows(get("o_outcomes")?, "o_outcomes", no.len(), big_t, &no)?;
    // The true states do not enter the agent's inference (they generated the
    // outcomes); they are checked so that a malformed record is not replayed.
    index_rows(get("s_true_states")?, "s_true_states", ns.len(), big_t, &ns)?;
    let actions = if big_t > 1 {
        index_rows(get("u_actions")?, "u_actions", nu.len(), big_t - 1, &nu)?
    } else {
        vec![Vec::new(); nu.len()]
    };
    Ok(TrialInputs { outcomes, actions })
}

/// Replay every MDP in a fixture document and fill in the results.
///
/// Any object holding a `spec` and a `single_trial` and/or a `sequence`
/// (with `trials`) is an MDP: its single trial is replayed from the spec's
/// concentration parameters, its sequence trial after trial with the
/// parameters learned so far (SPM's `spm_MDP_VB_X(MDP(1:n))`). Result fields
/// (`X`, `Q`, `P`, `R`, `F`, `G`, `H`, `w`, …, see `docs/spm-mdp.md`) are
/// written into each trial object, replacing any there. Returns the number
/// of trials replayed; errors name the path of the offending field and
/// leave the document partly filled (do not print it).
pub fn replay_document(doc: &mut Value) -> Result<usize, MdpError> {
    let mut count = 0;
    walk(doc, "", &mut count)?;
    if count == 0 {
        return Err(MdpError::Missing {
            field: "an MDP (an object with `spec` and `single_trial` or `sequence.trials`)".into(),
        });
    }
    Ok(count)
}

fn walk(node: &mut Value, path: &str, count: &mut usize) -> Result<(), MdpError> {
    match node {
        Value::Object(obj) => {
            if obj.contains_key("spec")
                && (obj.contains_key("single_trial") || obj.contains_key("sequence"))
            {
                return replay_mdp(obj, path, count);
            }
            for (k, v) in obj.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &p, count)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(v, &format!("{path}[{i}]"), count)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn replay_mdp(obj: &mut Map<String, Value>, path: &str, count: &mut usize) -> Result<(), MdpError> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    let spec = MdpSpec::from_json(&obj["spec"]).map_err(|e| e.within(&join("spec")))?;
    if let Some(trial) = obj.get_mut("single_trial") {
        let at = join("single_trial");
        let inputs = trial_from_json(trial, &spec.model).map_err(|e| e.within(&at))?;
        let result =
            replay_trial(&spec.model, &spec.learned, &inputs, true).map_err(|e| e.within(&at))?;
        write_result(trial, &spec, &spec.learned, &result);
        *count += 1;
    }
    if let Some(sequence) = obj.get_mut("sequence") {
        let at = join("sequence");
        let trials = sequence
            .get_mut("trials")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| MdpError::Missing {
                field: format!("{at}.trials"),
            })?;
        let mut model = spec.model.clone();
        let mut learned = spec.learned.clone();
        for (i, trial) in trials.iter_mut().enumerate() {
            let at = format!("{at}.trials[{i}]");
            let inputs = trial_from_json(trial, &model).map_err(|e| e.within(&at))?;
            let result =
                replay_trial(&model, &learned, &inputs, true).map_err(|e| e.within(&at))?;
            write_result(trial, &spec, &learned, &result);
            if spec.carry_initial_states {
                let big_t = model.num_steps;
                for (f, d) in model.d.iter_mut().enumerate() {
                    for (s, v) in d.iter_mut().enumerate() {
                        *v = result.x[f][s * big_t];
                    }
                }
            }
            learned = result.learned;
            *count += 1;
        }
    }
    Ok(())
}

/// Write a trial's results into its object, in the fixtures' layout.
fn write_result(trial: &mut Value, spec: &MdpSpec, prior: &Concentrations, r: &TrialResult) {
    let Some(obj) = trial.as_object_mut() else {
        return;
    };
    let model = &spec.model;
    let big_t = model.num_steps;
    let ns = model.num_states();
    let np = model.policies.len();
    let nu = &r.num_controls;
    let put = |obj: &mut Map<String, Value>, k: &str, v: Value| {
        obj.insert(k.to_string(), v);
    };
    put(
        obj,
        "X",
        Value::Array(
            r.x.iter()
                .zip(&ns)
                .map(|(x, &n)| nested(&[n, big_t], x))
                .collect(),
        ),
    );
    put(
        obj,
        "Q",
        Value::Array(
            r.policy_states
                .iter()
                .zip(&ns)
                .map(|(x, &n)| nested(&[n, big_t, np], x))
                .collect(),
        ),
    );
    // P(u_1, …, u_F, t): joint action probabilities, nested first index outermost.
    let steps = r.action_probabilities.len();
    let joint: usize = nu.iter().product();
    let mut p_shape = nu.clone();
    p_shape.push(steps);
    let mut p = vec![0.0; joint * steps];
    let mut marginals: Vec<Vec<f64>> = nu.iter().map(|&n| vec![0.0; n * steps]).collect();
    let mut idx = vec![0; nu.len()];
    for (t, pt) in r.action_probabilities.iter().enumerate() {
        for (lin, &v) in pt.iter().enumerate() {
            // Column-major linear index → per-factor controls.
            let mut rest = lin;
            for (i, &n) in idx.iter_mut().zip(nu) {
                *i = rest % n;
                rest /= n;
            }
            let mut row_major = 0;
            for (&i, &n) in idx.iter().zip(nu) {
                row_major = row_major * n + i;
            }
            p[row_major * steps + t] = v;
            for (f, &i) in idx.iter().enumerate() {
                marginals[f][i * steps + t] += v;
            }
        }
    }
    put(obj, "P", nested(&p_shape, &p));
    // Octave's size(P): trailing singleton dimensions dropped, at least two.
    let mut size = p_shape.clone();
    while size.len() > 2 && size.last() == Some(&1) {
        size.pop();
    }
    put(
        obj,
        "P_size",
        json::list(&size.iter().map(|&s| s as f64).collect::<Vec<_>>()),
    );
    put(
        obj,
        "P_marginals",
        Value::Array(
            marginals
                .iter()
                .zip(nu)
                .map(|(m, &n)| nested(&[n, steps], m))
                .collect(),
        ),
    );
    put(obj, "R", rows(&r.policy_posterior));
    put(obj, "F", rows(&r.free_energy));
    put(obj, "G", rows(&r.expected_free_energy));
    put(obj, "H", rows(std::slice::from_ref(&r.total_free_energy)));
    put(obj, "w", rows(std::slice::from_ref(&r.precision)));
    put(
        obj,
        "C_used",
        Value::Array(
            r.log_preferences
                .iter()
                .zip(&r.log_preference_columns)
                .map(|(c, &k)| nested(&[c.len() / k, k], c))
                .collect(),
        ),
    );
    put(obj, "un", rows(&r.un));
    put(obj, "wn", json::list(&r.wn));
    put(obj, "dn", json::list(&r.dn));
    if let Some(tr) = &r.traces {
        let ni = model.settings.num_iter;
        for (name, data) in [("xn", &tr.xn), ("vn", &tr.vn)] {
            put(
                obj,
                name,
                Value::Array(
                    data.iter()
                        .zip(&ns)
                        .map(|(x, &n)| nested(&[ni, n, big_t, big_t], x))
                        .collect(),
                ),
            );
        }
    }
    if let (Some(before), Some(after)) = (&prior.d, &r.learned.d) {
        put(obj, "d_prior_for_this_trial", rows(before));
        put(obj, "d_posterior", rows(after));
    }
    if let Some(fd) = &r.fd {
        put(obj, "Fd", json::list(fd));
    }
    for (name, before, after, free) in [
        ("a", &prior.a, &r.learned.a, &r.fa),
        ("b", &prior.b, &r.learned.b, &r.fb),
    ] {
        if let (Some(before), Some(after)) = (before, after) {
            let arrays = |ts: &[Tensor]| {
                Value::Array(ts.iter().map(|t| nested(t.shape(), t.data())).collect())
            };
            put(obj, &format!("{name}_prior_for_this_trial"), arrays(before));
            put(obj, &format!("{name}_posterior"), arrays(after));
        }
        if let Some(free) = free {
            put(obj, &format!("F{name}"), json::list(free));
        }
    }
}

fn scalar(v: &Value, field: &str) -> Result<f64, MdpError> {
    let arr = nd(v, field)?;
    if arr.data.len() != 1 {
        return Err(MdpError::Shape {
            field: field.into(),
            expected: "a single number".into(),
            got: arr.shape,
        });
    }
    Ok(arr.data[0])
}

fn tensor(shape: Vec<usize>, data: Vec<f64>, field: &str) -> Result<Tensor, MdpError> {
    Tensor::new(shape.clone(), data).map_err(|_| MdpError::Shape {
        field: field.into(),
        expected: "a rectangular array".into(),
        got: shape,
    })
}

/// `B{f}` as `[Ns, Ns, Nu]` (a single control may come as a 2-D `[Ns][Ns]`).
fn transitions(arrays: &[NdArray], name: &str) -> Result<Vec<Tensor>, MdpError> {
    if arrays.is_empty() {
        return Err(MdpError::Missing {
            field: format!("{name}[0] (at least one factor)"),
        });
    }
    arrays
        .iter()
        .enumerate()
        .map(|(f, arr)| {
            let field = format!("{name}[{f}]");
            let shape = match arr.shape.as_slice() {
                [n, m] if n == m => vec![*n, *n, 1],
                [n, m, u] if n == m => vec![*n, *n, *u],
                _ => {
                    return Err(MdpError::Shape {
                        field,
                        expected: "[Ns][Ns][Nu] or [Ns][Ns]".into(),
                        got: arr.shape.clone(),
                    })
                }
            };
            tensor(shape, arr.data.clone(), &field)
        })
        .collect()
}

/// `A{g}` as `[No, Ns_1, …, Ns_F]`; trailing factors with one state may be
/// missing (MATLAB drops trailing singleton dimensions).
fn likelihoods(arrays: &[NdArray], name: &str, ns: &[usize]) -> Result<Vec<Tensor>, MdpError> {
    if arrays.is_empty() {
        return Err(MdpError::Missing {
            field: format!("{name}[0] (at least one modality)"),
        });
    }
    arrays
        .iter()
        .enumerate()
        .map(|(g, arr)| {
            let field = format!("{name}[{g}]");
            let mut shape = arr.shape.clone();
            while shape.len() < ns.len() + 1 && !shape.is_empty() && ns[shape.len() - 1] == 1 {
                shape.push(1);
            }
            if shape.is_empty() || shape.len() != ns.len() + 1 || shape[1..] != *ns {
                return Err(MdpError::Shape {
                    field,
                    expected: format!(
                        "[No]{} (outcomes × the states of every factor)",
                        ns.iter().map(|n| format!("[{n}]")).collect::<String>()
                    ),
                    got: arr.shape.clone(),
                });
            }
            tensor(shape, arr.data.clone(), &field)
        })
        .collect()
}

fn vectors(v: &Value, name: &str) -> Result<Vec<Vec<f64>>, MdpError> {
    cells(v, name)?
        .into_iter()
        .enumerate()
        .map(|(f, arr)| vector(arr, &format!("{name}[{f}]")))
        .collect()
}

/// `V(T − 1, Np, Nf)` (or `[T − 1][Np]` for one factor), 1-based controls.
fn sequential_policies(
    arr: NdArray,
    nf: usize,
    nu: &[usize],
) -> Result<Vec<Vec<Vec<usize>>>, MdpError> {
    let (steps, np) = match arr.shape.as_slice() {
        [s, p, f] if *f == nf => (*s, *p),
        [s, p] if nf == 1 => (*s, *p),
        _ => {
            return Err(MdpError::Shape {
                field: "V".into(),
                expected: format!("[T − 1][Np][{nf}] (steps × policies × factors)"),
                got: arr.shape,
            })
        }
    };
    let mut out = vec![vec![vec![0; nf]; np]; steps];
    for (s, step) in out.iter_mut().enumerate() {
        for (k, row) in step.iter_mut().enumerate() {
            for (f, u) in row.iter_mut().enumerate() {
                let v = arr.data[(s * np + k) * nf + f];
                *u = json::one_based(v, &format!("V[{s}][{k}][{f}]"), nu[f])?;
            }
        }
    }
    Ok(out)
}

/// `U(1, Np, Nf)` or `U(Np, Nf)` (SPM's `spm_MDP_check` accepts both), 1-based.
fn one_step_policies(arr: NdArray, nf: usize, nu: &[usize]) -> Result<Vec<Vec<usize>>, MdpError> {
    let np = match arr.shape.as_slice() {
        [1, p, f] if *f == nf => *p,
        [p, f] if *f == nf => *p,
        [1, p] if nf == 1 => *p,
        _ => {
            return Err(MdpError::Shape {
                field: "U".into(),
                expected: format!("[1][Np][{nf}] or [Np][{nf}] (policies × factors)"),
                got: arr.shape,
            })
        }
    };
    let mut out = vec![vec![0; nf]; np];
    for (k, row) in out.iter_mut().enumerate() {
        for (f, u) in row.iter_mut().enumerate() {
            let v = arr.data[k * nf + f];
            *u = json::one_based(v, &format!("U[{k}][{f}]"), nu[f])?;
        }
    }
    Ok(out)
}
