//! The model file of `actinf vmp run`: nodes with parents by name,
//! constants, plates, observed data and missing values, initial posteriors,
//! an update order and a stopping rule. See `docs/vmp-model-format.md`.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use actinf_vmp::family::Family;
use actinf_vmp::nodes::{Gamma, GaussianArd};
use actinf_vmp::{Graph, NodeSpec, Parent, Run};

/// One node as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDecl {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    parents: Vec<Value>,
    #[serde(default)]
    plates: Vec<usize>,
    #[serde(default)]
    observed: Option<Value>,
    #[serde(default)]
    mask: Option<Vec<bool>>,
    /// Gamma's shape.
    #[serde(default)]
    shape: Option<f64>,
}

/// A model file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    nodes: Vec<NodeDecl>,
    /// Initial posteriors: node name → natural-parameter parts.
    #[serde(default)]
    initial_posteriors: Map<String, Value>,
    /// Latent nodes in the order one sweep updates them (default: declaration order).
    #[serde(default)]
    update_order: Option<Vec<String>>,
    /// Maximum number of sweeps.
    #[serde(default = "default_max_iter")]
    max_iter: usize,
    /// Relative ELBO change below which the run stops.
    #[serde(default = "default_tol")]
    tol: f64,
    /// Reference results (for conformance tests); ignored when running.
    #[serde(default)]
    pub expected: Option<Value>,
}

fn default_max_iter() -> usize {
    100
}

fn default_tol() -> f64 {
    1e-5
}

fn flatten(v: &Value, out: &mut Vec<f64>, what: &str) -> Result<()> {
    match v {
        Value::Array(items) => {
            for x in items {
                flatten(x, out, what)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            out.push(n.as_f64().ok_or_else(|| anyhow!("{what}: not a number"))?);
            Ok(())
        }
        Value::Null => {
            out.push(f64::NAN);
            Ok(())
        }
        _ => bail!("{what}: expected numbers, got {v}"),
    }
}

fn parent(v: &Value, node: &str, slot: usize) -> Result<Parent> {
    let what = format!("node `{node}`, parent {slot}");
    match v {
        Value::String(name) => Ok(Parent::Node(name.clone())),
        Value::Object(o) => {
            let mut values = Vec::new();
            flatten(
                o.get("value")
                    .ok_or_else(|| anyhow!("{what}: a constant object needs `value`"))?,
                &mut values,
                &what,
            )?;
            let plates = match o.get("plates") {
                Some(p) => serde_json::from_value(p.clone()).with_context(|| what.clone())?,
                None => Vec::new(),
            };
            Ok(Parent::Constant { values, plates })
        }
        other => {
            let mut values = Vec::new();
            flatten(other, &mut values, &what)?;
            Ok(Parent::Constant {
                values,
                plates: Vec::new(),
            })
        }
    }
}

fn family(decl: &NodeDecl, shape: Option<f64>) -> Result<Box<dyn Family>> {
    let need = |field: Option<f64>, name: &str| {
        field.ok_or_else(|| anyhow!("node `{}` ({}): `{name}` is required", decl.name, decl.kind))
    };
    Ok(match decl.kind.as_str() {
        "GaussianARD" => Box::new(GaussianArd),
        "Gamma" => {
            let a = need(shape, "shape")?;
            if !(a > 0.0 && a.is_finite()) {
                bail!(
                    "node `{}`: Gamma shape must be positive, got {a}",
                    decl.name
                );
            }
            Box::new(Gamma::new(a))
        }
        other => bail!(
            "node `{}`: unknown node type `{other}` (known: GaussianARD, Gamma)",
            decl.name
        ),
    })
}

impl ModelFile {
    /// Parse a model file.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).context("the model file is not valid")
    }

    /// Build the graph and set the initial posteriors.
    pub fn graph(&self) -> Result<Graph> {
        let mut specs = Vec::with_capacity(self.nodes.len());
        for decl in &self.nodes {
            // BayesPy writes Gamma(a, b): a constant shape as the first parent.
            let mut decl_parents = decl.parents.as_slice();
            let mut shape = decl.shape;
            if decl.kind == "Gamma" && decl.parents.len() == 2 && shape.is_none() {
                shape = Some(decl.parents[0].as_f64().ok_or_else(|| {
                    anyhow!(
                        "node `{}`: Gamma(a, b) needs a constant shape a, got {}",
                        decl.name,
                        decl.parents[0]
                    )
                })?);
                decl_parents = &decl.parents[1..];
            }
            let parents = decl_parents
                .iter()
                .enumerate()
                .map(|(slot, v)| parent(v, &decl.name, slot))
                .collect::<Result<Vec<_>>>()?;
            let mut spec = NodeSpec {
                name: decl.name.clone(),
                family: family(decl, shape)?,
                plates: decl.plates.clone(),
                parents,
                observed: None,
                mask: decl.mask.clone(),
            };
            if let Some(obs) = &decl.observed {
                let mut values = Vec::new();
                flatten(obs, &mut values, &format!("node `{}`, observed", decl.name))?;
                spec.observed = Some(values);
            }
            specs.push(spec);
        }
        let mut graph = Graph::new(specs).context("the model is not valid")?;
        for (name, parts) in &self.initial_posteriors {
            let parts: Vec<Vec<f64>> = serde_json::from_value(parts.clone())
                .with_context(|| format!("initial posterior of `{name}`"))?;
            graph
                .set_posterior(name, parts)
                .with_context(|| format!("initial posterior of `{name}`"))?;
        }
        Ok(graph)
    }

    /// Run VMP and return the report.
    pub fn run(&self) -> Result<(Graph, Run)> {
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            bail!("tol must be a non-negative number, got {}", self.tol);
        }
        let mut graph = self.graph()?;
        let order: Vec<String> = match &self.update_order {
            Some(o) => o.clone(),
            None => graph.latent().iter().map(|s| s.to_string()).collect(),
        };
        let refs: Vec<&str> = order.iter().map(|s| s.as_str()).collect();
        let run = graph.run(&refs, self.max_iter, self.tol)?;
        Ok((graph, run))
    }
}

/// The JSON report of a run: the ELBO trace, iterations, and every latent
/// node's posterior (moments and natural parameters).
pub fn report(graph: &Graph, run: &Run) -> Result<Value> {
    let mut posteriors = Map::new();
    for name in graph.latent() {
        posteriors.insert(
            name.to_string(),
            json!({
                "moments": graph.moments(name)?,
                "natural": graph.natural(name)?,
            }),
        );
    }
    for (it, change) in &run.decreases {
        eprintln!(
            "warning: the ELBO fell by {change:e} at iteration {it} (a bug: please report it)"
        );
    }
    Ok(json!({
        "elbo": run.elbo,
        "iterations": run.iterations,
        "converged": run.converged,
        "decreases": run.decreases,
        "posteriors": posteriors,
    }))
}
