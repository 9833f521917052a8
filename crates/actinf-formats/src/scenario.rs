//! The scenario file of `actinf pomdp run`: a model in pymdp's names and
//! layout, pymdp-named settings, and the steps to run. See
//! `docs/scenario-format.md` and `examples/tmaze.json`.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use actinf_core::Tensor;
use actinf_pomdp::{Agent, GenerativeModel, ModelArrays, Settings};

use crate::arrays::{tensor_from_json, tensor_to_json};

/// One step: the observation (one index per modality) and optionally a forced action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Outcome index per modality.
    pub observation: Vec<usize>,
    /// Action per factor; when absent the agent chooses.
    #[serde(default)]
    pub action: Option<Vec<usize>>,
}

/// A scenario as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "A", default)]
    a: Option<Vec<Value>>,
    #[serde(rename = "B", default)]
    b: Option<Vec<Value>>,
    #[serde(rename = "C", default)]
    c: Option<Vec<Value>>,
    #[serde(rename = "D", default)]
    d: Option<Vec<Value>>,
    #[serde(rename = "E", default)]
    e: Option<Value>,
    #[serde(rename = "pA", default)]
    pa: Option<Vec<Value>>,
    #[serde(rename = "pB", default)]
    pb: Option<Vec<Value>>,
    #[serde(rename = "pD", default)]
    pd: Option<Vec<Value>>,
    #[serde(rename = "A_dependencies", default)]
    a_dependencies: Option<Vec<Vec<usize>>>,
    #[serde(rename = "B_dependencies", default)]
    b_dependencies: Option<Vec<Vec<usize>>>,
    #[serde(default)]
    control_fac_idx: Option<Vec<usize>>,
    /// Controls per factor (pymdp's `num_controls`); checked against `B`.
    #[serde(default)]
    num_controls: Option<Vec<usize>>,
    #[serde(default)]
    policies: Option<Vec<Vec<Vec<usize>>>>,
    /// Agent settings (pymdp's names).
    #[serde(default)]
    pub settings: Settings,
    /// The steps to run.
    pub steps: Vec<Step>,
    /// Reference results (for conformance tests); ignored when running.
    #[serde(default)]
    pub expected: Option<Value>,
}

fn vectors(list: &Option<Vec<Value>>, name: &str) -> Result<Option<Vec<Vec<f64>>>> {
    tensors(list, name)?
        .map(|ts| {
            ts.into_iter()
                .enumerate()
                .map(|(i, t)| {
                    if t.ndim() != 1 {
                        bail!("{name}[{i}] must be a vector, got shape {:?}", t.shape());
                    }
                    Ok(t.into_data())
                })
                .collect()
        })
        .transpose()
}

fn tensors(list: &Option<Vec<Value>>, name: &str) -> Result<Option<Vec<Tensor>>> {
    list.as_ref()
        .map(|l| {
            l.iter()
                .enumerate()
                .map(|(i, v)| Ok(tensor_from_json(v, &format!("{name}[{i}]"))?))
                .collect()
        })
        .transpose()
}

impl Scenario {
    /// Parse a scenario from JSON text.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(&crate::arrays::mark_non_finite(text))
            .context("the scenario is not valid")
    }

    /// Build the validated model and the agent.
    pub fn agent(&self) -> Result<Agent> {
        let arrays = ModelArrays {
            a: tensors(&self.a, "A")?,
            b: tensors(&self.b, "B")?,
            c: tensors(&self.c, "C")?,
            d: vectors(&self.d, "D")?,
            e: self
                .e
                .as_ref()
                .map(|v| -> Result<Vec<f64>> {
                    let t = tensor_from_json(v, "E")?;
                    if t.ndim() != 1 {
                        bail!(
                            "E must be a vector over policies, got shape {:?}",
                            t.shape()
                        );
                    }
                    Ok(t.into_data())
                })
                .transpose()?,
            pa: tensors(&self.pa, "pA")?,
            pb: tensors(&self.pb, "pB")?,
            pd: vectors(&self.pd, "pD")?,
            a_dependencies: self.a_dependencies.clone(),
            b_dependencies: self.b_dependencies.clone(),
            control_factors: self.control_fac_idx.clone(),
        };
        let model = GenerativeModel::new(arrays).context("the model is not valid")?;
        if let Some(nc) = &self.num_controls {
            if nc != &model.num_controls {
                bail!(
                    "num_controls is {nc:?} but the control axes of B give {:?}",
                    model.num_controls
                );
            }
        }
        let agent = match &self.policies {
            Some(p) => {
                let flat: Vec<Vec<usize>> = p.iter().map(|pol| pol.concat()).collect();
                Agent::with_policies(model, self.settings.clone(), flat)
            }
            None => Agent::new(model, self.settings.clone()),
        }
        .context("the settings do not fit the model")?;
        Ok(agent)
    }
}

/// Run every step of a scenario and return the JSON report.
pub fn run(scenario: &Scenario) -> Result<Value> {
    let mut agent = scenario.agent()?;
    let nf = agent.model().num_factors();
    let learning = agent.learns();
    let policies: Vec<Value> = agent
        .policies()
        .iter()
        .map(|p| json!(p.chunks(nf).collect::<Vec<_>>()))
        .collect();
    let mut steps = Vec::with_capacity(scenario.steps.len());
    for (t, step) in scenario.steps.iter().enumerate() {
        let rec = agent
            .step(&step.observation, step.action.as_deref())
            .with_context(|| format!("step {t}"))?;
        let ev = &rec.policies.evaluation;
        let mut out = Map::new();
        out.insert("t".into(), json!(t));
        out.insert("observation".into(), json!(rec.observation));
        out.insert("qs".into(), json!(rec.qs));
        out.insert("free_energy".into(), json!(rec.free_energy));
        out.insert("utility".into(), json!(ev.utility));
        out.insert("state_info_gain".into(), json!(ev.state_info_gain));
        out.insert("param_info_gain_pA".into(), json!(ev.param_info_gain_pa));
        out.insert("param_info_gain_pB".into(), json!(ev.param_info_gain_pb));
        out.insert("neg_efe".into(), json!(ev.neg_efe));
        out.insert("q_pi".into(), json!(rec.policies.q_pi));
        out.insert("gamma".into(), json!(rec.policies.gamma));
        out.insert("action".into(), json!(rec.action));
        if learning {
            if let Some(pa) = &agent.model().pa {
                out.insert(
                    "pA".into(),
                    Value::Array(pa.iter().map(tensor_to_json).collect()),
                );
            }
            if let Some(pb) = &agent.model().pb {
                out.insert(
                    "pB".into(),
                    Value::Array(pb.iter().map(tensor_to_json).collect()),
                );
            }
            if let Some(pd) = &agent.model().pd {
                out.insert("pD".into(), json!(pd));
            }
        }
        steps.push(Value::Object(out));
    }
    if steps.is_empty() {
        bail!("the scenario has no steps");
    }
    Ok(json!({ "policies": policies, "steps": steps }))
}
