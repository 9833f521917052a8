//! The model file of `actinf vmp run`: nodes with parents by name,
//! constants, plates, observed data and missing values, initial posteriors,
//! an update order and a stopping rule. See `docs/vmp-model-format.md`.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use actinf_vmp::family::Family;
use actinf_vmp::nodes::{
    bernoulli, beta, Categorical, CategoricalChain, CategoricalEmission, Dirichlet, DotGaussian,
    Gamma, Gaussian, GaussianArd, GaussianArdVector, GaussianChain, LinearGaussian, Mixture,
    Wishart,
};
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
    /// Vector dimension D (Gaussian, GaussianARD vector, Wishart, GaussianChain
    /// state, LinearGaussian state, DotGaussian's two vectors).
    #[serde(default)]
    dim: Option<usize>,
    /// Observation dimension (LinearGaussian).
    #[serde(default)]
    obs_dim: Option<usize>,
    /// Wishart degrees of freedom.
    #[serde(default)]
    dof: Option<f64>,
    /// Dirichlet concentrations.
    #[serde(default)]
    alpha: Option<Vec<f64>>,
    /// Beta's a and b.
    #[serde(default)]
    a: Option<f64>,
    #[serde(default)]
    b: Option<f64>,
    /// Number of categories / components / chain states.
    #[serde(default)]
    categories: Option<usize>,
    /// Number of emitted symbols (CategoricalEmission).
    #[serde(default)]
    symbols: Option<usize>,
    /// A Mixture's component type: GaussianARD, Gaussian or Bernoulli.
    #[serde(default)]
    component: Option<String>,
    /// Matrices of the chain and emission nodes (nested lists, row-major).
    #[serde(rename = "A", default)]
    a_matrix: Option<Value>,
    #[serde(rename = "Q", default)]
    q_matrix: Option<Value>,
    #[serde(default)]
    mu0: Option<Value>,
    #[serde(rename = "Lambda0", default)]
    lambda0: Option<Value>,
    #[serde(rename = "C", default)]
    c_matrix: Option<Value>,
    #[serde(rename = "R", default)]
    r_matrix: Option<Value>,
    #[serde(default)]
    emission: Option<Value>,
    /// LinearGaussian: scale R by a Gamma parent.
    #[serde(default)]
    precision_scale: bool,
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
    /// Initial values: node name → concrete values whose moments start the
    /// node (e.g. random assignments that break a mixture's symmetry).
    #[serde(default)]
    initial_values: Map<String, Value>,
    /// Random initial assignments of categorical nodes: node name → seed.
    #[serde(default)]
    initial_random: Map<String, Value>,
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

/// The node types a model file can name.
pub const NODE_TYPES: &[&str] = &[
    "GaussianARD",
    "Gaussian",
    "Gamma",
    "Wishart",
    "Dirichlet",
    "Beta",
    "Categorical",
    "Bernoulli",
    "Mixture",
    "CategoricalMarkovChain",
    "GaussianMarkovChain",
    "CategoricalEmission",
    "LinearGaussian",
    "DotGaussian",
];

fn matrix(v: &Option<Value>, node: &str, name: &str) -> Result<Vec<f64>> {
    let v = v
        .as_ref()
        .ok_or_else(|| anyhow!("node `{node}`: `{name}` is required"))?;
    let mut out = Vec::new();
    flatten(v, &mut out, &format!("node `{node}`, {name}"))?;
    Ok(out)
}

fn component(name: &str, decl: &NodeDecl) -> Result<Box<dyn Family>> {
    let need_dim = || {
        decl.dim
            .ok_or_else(|| anyhow!("node `{}`: a Gaussian component needs `dim`", decl.name))
    };
    Ok(match name {
        "GaussianARD" => Box::new(GaussianArd),
        "Gaussian" => Box::new(Gaussian::new(need_dim()?)?),
        "Bernoulli" => Box::new(bernoulli()),
        "Categorical" => Box::new(Categorical::new(decl.symbols.ok_or_else(|| {
            anyhow!("node `{}`: a Categorical component needs `symbols`", decl.name)
        })?)?),
        other => bail!(
            "node `{}`: unknown mixture component `{other}` (known: GaussianARD, Gaussian, Bernoulli, Categorical)",
            decl.name
        ),
    })
}

/// Hyperparameters, from their own fields or from BayesPy's constant parents.
struct Hyper {
    shape: Option<f64>,
    alpha: Option<Vec<f64>>,
    dof: Option<f64>,
    a: Option<f64>,
    b: Option<f64>,
}

fn family(decl: &NodeDecl, hyper: Hyper) -> Result<Box<dyn Family>> {
    let Hyper {
        shape,
        alpha,
        dof,
        a,
        b,
    } = hyper;
    let name = &decl.name;
    let need = |field: Option<f64>, what: &str| {
        field.ok_or_else(|| anyhow!("node `{name}` ({}): `{what}` is required", decl.kind))
    };
    let need_n = |field: Option<usize>, what: &str| {
        field.ok_or_else(|| anyhow!("node `{name}` ({}): `{what}` is required", decl.kind))
    };
    Ok(match decl.kind.as_str() {
        // BayesPy's GaussianARD(mu, alpha, shape=(D,)): a D-vector with one
        // Gamma precision per dimension.
        "GaussianARD" => match decl.dim {
            Some(d) => Box::new(GaussianArdVector::new(d)?),
            None => Box::new(GaussianArd),
        },
        "Gaussian" => Box::new(Gaussian::new(need_n(decl.dim, "dim")?)?),
        // BayesPy's GaussianARD(SumMultiply('d,d->', w, x), tau).
        "DotGaussian" => Box::new(DotGaussian::new(need_n(decl.dim, "dim")?)?),
        "Gamma" => {
            let a = need(shape, "shape")?;
            if !(a > 0.0 && a.is_finite()) {
                bail!("node `{name}`: Gamma shape must be positive, got {a}");
            }
            Box::new(Gamma::new(a))
        }
        "Wishart" => Box::new(Wishart::new(need_n(decl.dim, "dim")?, need(dof, "dof")?)?),
        "Dirichlet" => {
            Box::new(Dirichlet::new(alpha.ok_or_else(|| {
                anyhow!("node `{name}` (Dirichlet): `alpha` is required")
            })?)?)
        }
        "Beta" => Box::new(beta(need(a, "a")?, need(b, "b")?)?),
        "Categorical" => Box::new(Categorical::new(need_n(decl.categories, "categories")?)?),
        "Bernoulli" => Box::new(bernoulli()),
        "Mixture" => {
            let k = need_n(decl.categories, "categories")?;
            let c = decl
                .component
                .as_deref()
                .ok_or_else(|| anyhow!("node `{name}` (Mixture): `component` is required"))?;
            Box::new(Mixture::boxed(k, component(c, decl)?)?)
        }
        "CategoricalMarkovChain" => Box::new(CategoricalChain::new(need_n(
            decl.categories,
            "categories",
        )?)),
        "GaussianMarkovChain" => Box::new(GaussianChain::new(
            &matrix(&decl.a_matrix, name, "A")?,
            &matrix(&decl.q_matrix, name, "Q")?,
            &matrix(&decl.mu0, name, "mu0")?,
            &matrix(&decl.lambda0, name, "Lambda0")?,
        )?),
        "CategoricalEmission" => Box::new(CategoricalEmission::new(
            &matrix(&decl.emission, name, "emission")?,
            need_n(decl.categories, "categories")?,
            need_n(decl.symbols, "symbols")?,
        )?),
        "LinearGaussian" => {
            let node = LinearGaussian::new(
                need_n(decl.obs_dim, "obs_dim")?,
                need_n(decl.dim, "dim")?,
                &matrix(&decl.c_matrix, name, "C")?,
                &matrix(&decl.r_matrix, name, "R")?,
            )?;
            Box::new(if decl.precision_scale {
                node.with_precision_scale()
            } else {
                node
            })
        }
        other => bail!(
            "node `{name}`: unknown node type `{other}` (known: {})",
            NODE_TYPES.join(", ")
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
            // BayesPy writes Wishart(n, V): constant degrees of freedom first.
            let mut dof = decl.dof;
            if decl.kind == "Wishart" && decl.parents.len() == 2 && dof.is_none() {
                dof = Some(decl.parents[0].as_f64().ok_or_else(|| {
                    anyhow!(
                        "node `{}`: Wishart(n, V) needs constant degrees of freedom n, got {}",
                        decl.name,
                        decl.parents[0]
                    )
                })?);
                decl_parents = &decl.parents[1..];
            }
            // BayesPy writes Beta([a, b]) with the pair as its only parent.
            let (mut beta_a, mut beta_b) = (decl.a, decl.b);
            if decl.kind == "Beta" && decl.parents.len() == 1 && beta_a.is_none() {
                let mut v = Vec::new();
                flatten(
                    &decl.parents[0],
                    &mut v,
                    &format!("node `{}`, [a, b]", decl.name),
                )?;
                if v.len() != 2 {
                    bail!(
                        "node `{}`: Beta([a, b]) needs two numbers, got {}",
                        decl.name,
                        v.len()
                    );
                }
                beta_a = Some(v[0]);
                beta_b = Some(v[1]);
                decl_parents = &[];
            }
            // BayesPy writes Dirichlet(alpha) with alpha as its only parent.
            let mut alpha = decl.alpha.clone();
            if decl.kind == "Dirichlet" && alpha.is_none() && decl.parents.len() == 1 {
                let mut v = Vec::new();
                flatten(
                    &decl.parents[0],
                    &mut v,
                    &format!("node `{}`, alpha", decl.name),
                )?;
                alpha = Some(v);
                decl_parents = &[];
            }
            let parents = decl_parents
                .iter()
                .enumerate()
                .map(|(slot, v)| parent(v, &decl.name, slot))
                .collect::<Result<Vec<_>>>()?;
            let mut spec = NodeSpec {
                name: decl.name.clone(),
                family: family(
                    decl,
                    Hyper {
                        shape,
                        alpha,
                        dof,
                        a: beta_a,
                        b: beta_b,
                    },
                )?,
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
        for (name, seed) in &self.initial_random {
            let seed = seed
                .as_u64()
                .ok_or_else(|| anyhow!("initial_random of `{name}`: the seed must be a non-negative integer, got {seed}"))?;
            graph
                .initialize_from_random(name, seed)
                .with_context(|| format!("initial_random of `{name}`"))?;
        }
        for (name, values) in &self.initial_values {
            let mut v = Vec::new();
            flatten(values, &mut v, &format!("initial value of `{name}`"))?;
            graph
                .initialize_from_value(name, &v)
                .with_context(|| format!("initial value of `{name}`"))?;
        }
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
