//! A factor graph of conjugate-exponential nodes and variational message
//! passing over it.
//!
//! Each latent node keeps a factor `q(x)` of the mean-field posterior, in
//! natural parameters `φ`. Updating a node sets
//! `φ = φ_p(⟨pa⟩) + Σ_children m_child→x` (Winn & Bishop 2005, eq. 18–22),
//! which maximises the evidence lower bound
//!
//! `L = Σ_latent [(φ_p − φ)·⟨u⟩ + ⟨g_p⟩ − g] + Σ_observed [φ_p·u(x) + ⟨g_p⟩ + f(x)]`
//!
//! with respect to that factor, so `L` never decreases under the updates.
//! Plates replicate a node; a parent broadcasts to its children's plates
//! (numpy's rules, right-aligned) and their messages are summed back.

use std::collections::HashMap;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::Kind;

/// A parent: another node, or a constant value.
#[derive(Debug, Clone, PartialEq)]
pub enum Parent {
    /// A node of the graph, by name.
    Node(String),
    /// Constant values with their plates (`values.len() = Π plates × value size`).
    Constant {
        /// Concrete values.
        values: Vec<f64>,
        /// Their plates (empty for a single value).
        plates: Vec<usize>,
    },
}

impl Parent {
    /// A single constant value (no plates).
    pub fn value(values: impl Into<Vec<f64>>) -> Self {
        Parent::Constant {
            values: values.into(),
            plates: Vec::new(),
        }
    }

    /// A node by name.
    pub fn node(name: &str) -> Self {
        Parent::Node(name.to_string())
    }
}

/// A node as the user declares it.
#[derive(Debug)]
pub struct NodeSpec {
    /// Unique name.
    pub name: String,
    /// Its type.
    pub family: Box<dyn Family>,
    /// Its plates.
    pub plates: Vec<usize>,
    /// Its parents, one per slot of the family.
    pub parents: Vec<Parent>,
    /// Observed values (`Π plates × value size`), if observed.
    pub observed: Option<Vec<f64>>,
    /// Which plate elements are observed (missing values: `false`).
    pub mask: Option<Vec<bool>>,
}

impl NodeSpec {
    /// A latent node.
    pub fn new(name: &str, family: impl Family + 'static, parents: Vec<Parent>) -> Self {
        Self {
            name: name.to_string(),
            family: Box::new(family),
            plates: Vec::new(),
            parents,
            observed: None,
            mask: None,
        }
    }

    /// Replicate the node over plates.
    pub fn plates(mut self, plates: &[usize]) -> Self {
        self.plates = plates.to_vec();
        self
    }

    /// Observe it.
    pub fn observe(mut self, values: Vec<f64>) -> Self {
        self.observed = Some(values);
        self
    }

    /// Mark missing values (`false`) of an observed node.
    pub fn mask(mut self, mask: Vec<bool>) -> Self {
        self.mask = Some(mask);
        self
    }
}

#[derive(Debug)]
struct Node {
    name: String,
    family: Option<Box<dyn Family>>,
    kind: Kind,
    plates: Vec<usize>,
    n: usize,
    parents: Vec<usize>,
    /// Per parent: broadcast view element → parent element.
    parent_maps: Vec<Vec<usize>>,
    /// Per parent: its moments gathered into this node's broadcast view,
    /// kept up to date whenever the parent's moments change; `None` where
    /// the map is the identity and the view is the parent's own moments.
    views: Vec<Option<Parts>>,
    /// (child, slot) pairs.
    children: Vec<(usize, usize)>,
    observed: bool,
    mask: Option<Vec<bool>>,
    u: Parts,
    phi: Parts,
    g: Vec<f64>,
    f: Vec<f64>,
}

/// The factor graph and its posterior.
#[derive(Debug)]
pub struct Graph {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

/// How a run of VMP ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// ELBO after each iteration.
    pub elbo: Vec<f64>,
    /// Iterations done.
    pub iterations: usize,
    /// Whether the relative-change rule stopped it.
    pub converged: bool,
    /// Iterations where the ELBO fell by more than 1e-6 relative (a bug, reported).
    pub decreases: Vec<(usize, f64)>,
}

fn broadcast_map(child: &[usize], parent: &[usize]) -> Option<Vec<usize>> {
    if parent.len() > child.len() {
        return None;
    }
    let off = child.len() - parent.len();
    for (k, &p) in parent.iter().enumerate() {
        if p != 1 && p != child[off + k] {
            return None;
        }
    }
    let n: usize = child.iter().product();
    let mut map = Vec::with_capacity(n);
    let mut idx = vec![0usize; child.len()];
    for _ in 0..n {
        let mut e = 0;
        for (k, &p) in parent.iter().enumerate() {
            let i = if p == 1 { 0 } else { idx[off + k] };
            e = e * p + i;
        }
        map.push(e);
        for k in (0..child.len()).rev() {
            idx[k] += 1;
            if idx[k] < child[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Some(map)
}

/// Call `f::<D>` with the block size as a constant for the common small
/// sizes (so per-block copies and sums unroll), `f::<0>` (run-time size)
/// otherwise.
macro_rules! with_block {
    ($d:expr, $f:ident($($arg:expr),*)) => {
        match $d {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}

/// `D` when it is a compile-time block size, else the run-time `d`.
#[inline(always)]
fn block<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}

/// Gather parent moments into the child's broadcast view, reusing `out`'s
/// buffers.
fn gather_into(parts: &Parts, dims: &[usize], map: &[usize], out: &mut Parts) {
    out.resize_with(dims.len(), Vec::new);
    for ((p, &d), o) in parts.iter().zip(dims).zip(out.iter_mut()) {
        o.resize(map.len() * d, 0.0);
        if d > 0 {
            with_block!(d, gather_part(d, p, map, o));
        }
    }
}

fn gather_part<const D: usize>(d: usize, src: &[f64], map: &[usize], out: &mut [f64]) {
    let d = block::<D>(d);
    for (dst, &e) in out.chunks_exact_mut(d).zip(map) {
        dst.copy_from_slice(&src[e * d..(e + 1) * d]);
    }
}

/// `acc[map[v]] += src[v]` for each D-value block `v` that `keep(v)`, in
/// order of `v`.
#[inline]
fn scatter_add(
    acc: &mut [f64],
    src: &[f64],
    map: &[usize],
    d: usize,
    keep: impl Fn(usize) -> bool,
) {
    if d > 0 {
        with_block!(d, scatter_part(d, acc, src, map, keep));
    }
}

#[inline]
fn scatter_part<const D: usize>(
    d: usize,
    acc: &mut [f64],
    src: &[f64],
    map: &[usize],
    keep: impl Fn(usize) -> bool,
) {
    let d = block::<D>(d);
    for (v, (&e, s)) in map.iter().zip(src.chunks_exact(d)).enumerate() {
        if !keep(v) {
            continue;
        }
        for (a, b) in acc[e * d..(e + 1) * d].iter_mut().zip(s) {
            *a += b;
        }
    }
}

impl Graph {
    /// Build the graph: resolve parents, check conjugacy, plates and data,
    /// and initialise every latent node from its prior.
    pub fn new(specs: Vec<NodeSpec>) -> Result<Self, VmpError> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for spec in specs {
            let NodeSpec {
                name,
                family,
                plates,
                parents,
                observed,
                mask,
            } = spec;
            if index.contains_key(&name) {
                return Err(VmpError::DuplicateName(name));
            }
            let kinds = family.parent_kinds();
            if kinds.len() != parents.len() {
                return Err(VmpError::ParentCount {
                    node: name,
                    expected: kinds.len(),
                    got: parents.len(),
                });
            }
            let n = actinf_core::budget::check(&format!("node `{name}`: plates"), &plates, 8)?;
            let mut parent_ids = Vec::with_capacity(parents.len());
            let mut parent_maps = Vec::with_capacity(parents.len());
            for (slot, (parent, kind)) in parents.into_iter().zip(&kinds).enumerate() {
                let pid = match parent {
                    Parent::Node(pname) => {
                        let &pid = index.get(&pname).ok_or_else(|| VmpError::UnknownParent {
                            node: name.clone(),
                            parent: pname.clone(),
                        })?;
                        if nodes[pid].kind != *kind {
                            return Err(VmpError::NotConjugate {
                                node: name,
                                slot,
                                parent: pname,
                                expected: kind.describe(),
                                got: nodes[pid].kind.describe(),
                            });
                        }
                        pid
                    }
                    Parent::Constant {
                        values,
                        plates: cplates,
                    } => {
                        let cname = format!("{name}[{slot}]");
                        let cn = actinf_core::budget::check(
                            &format!("node `{name}`: constant plates"),
                            &cplates,
                            8,
                        )?;
                        let expected = cn * kind.value_dim();
                        if values.len() != expected {
                            return Err(VmpError::Size {
                                node: name,
                                what: format!("constant parent {slot}"),
                                expected,
                                got: values.len(),
                            });
                        }
                        let u =
                            kind.moments_of_values(&values, cn)
                                .map_err(|i| VmpError::Value {
                                    node: name.clone(),
                                    what: format!("constant parent {slot}"),
                                    index: i,
                                    value: values.get(i).copied().unwrap_or(f64::NAN),
                                    expected: format!("a value with {}", kind.describe()),
                                })?;
                        nodes.push(Node {
                            name: cname.clone(),
                            family: None,
                            kind: *kind,
                            plates: cplates,
                            n: cn,
                            parents: Vec::new(),
                            parent_maps: Vec::new(),
                            views: Vec::new(),
                            children: Vec::new(),
                            observed: true,
                            mask: None,
                            u,
                            phi: Vec::new(),
                            g: Vec::new(),
                            f: Vec::new(),
                        });
                        index.insert(cname, nodes.len() - 1);
                        nodes.len() - 1
                    }
                };
                let mut view = plates.clone();
                view.extend(family.parent_extra_plates(slot));
                let map =
                    broadcast_map(&view, &nodes[pid].plates).ok_or_else(|| VmpError::Plates {
                        node: name.clone(),
                        child: view.clone(),
                        parent: nodes[pid].name.clone(),
                        parent_plates: nodes[pid].plates.clone(),
                    })?;
                parent_ids.push(pid);
                parent_maps.push(map);
            }
            let id = nodes.len();
            for (slot, &pid) in parent_ids.iter().enumerate() {
                nodes[pid].children.push((id, slot));
            }
            let kind = family.kind();
            let views = parent_ids
                .iter()
                .zip(&parent_maps)
                .map(|(&pid, map)| {
                    let identity =
                        map.len() == nodes[pid].n && map.iter().enumerate().all(|(v, &e)| v == e);
                    (!identity).then(Vec::new)
                })
                .collect();
            let mut node = Node {
                name: name.clone(),
                family: Some(family),
                kind,
                plates,
                n,
                parents: parent_ids,
                parent_maps,
                views,
                children: Vec::new(),
                observed: observed.is_some(),
                mask: None,
                u: Vec::new(),
                phi: Vec::new(),
                g: Vec::new(),
                f: Vec::new(),
            };
            let family_ref = node.family.as_ref().expect("declared node");
            family_ref
                .check_plates(&node.plates)
                .map_err(|reason| VmpError::Setting {
                    name: format!("{name}.plates"),
                    reason,
                })?;
            if observed.is_some() && !family_ref.observable() {
                return Err(VmpError::Setting {
                    name: format!("{name}.observed"),
                    reason: "this node type cannot be observed".into(),
                });
            }
            if let Some(values) = observed {
                let expected = n * kind.value_dim();
                if values.len() != expected {
                    return Err(VmpError::Size {
                        node: name,
                        what: "observed data".into(),
                        expected,
                        got: values.len(),
                    });
                }
                if let Some(m) = &mask {
                    if m.len() != n {
                        return Err(VmpError::Size {
                            node: name,
                            what: "mask".into(),
                            expected: n,
                            got: m.len(),
                        });
                    }
                }
                // Missing values may hold anything (NaN included): fill them
                // with a valid stand-in value that the mask then ignores.
                let mut values = values;
                if let Some(m) = &mask {
                    let vd = kind.value_dim();
                    for (i, &keep) in m.iter().enumerate() {
                        if !keep {
                            values[i * vd..(i + 1) * vd].copy_from_slice(&default_value(kind));
                        }
                    }
                }
                node.u = kind
                    .moments_of_values(&values, n)
                    .map_err(|i| VmpError::Value {
                        node: name.clone(),
                        what: "observed data".into(),
                        index: i,
                        value: values.get(i).copied().unwrap_or(f64::NAN),
                        expected: format!("a value with {}", kind.describe()),
                    })?;
                node.f = node
                    .family
                    .as_ref()
                    .expect("declared node")
                    .log_base_measure(&node.u, n);
                node.mask = mask;
            }
            nodes.push(node);
            index.insert(name, id);
        }
        let mut graph = Self { nodes, index };
        // Views of constants and observed nodes; latent parents fill theirs
        // as they are initialised.
        for id in 0..graph.nodes.len() {
            if graph.nodes[id].observed {
                graph.refresh_views(id);
            }
        }
        graph.initialize_from_prior()?;
        Ok(graph)
    }

    /// Set every latent node's posterior to its prior (in declaration order,
    /// which is topological).
    pub fn initialize_from_prior(&mut self) -> Result<(), VmpError> {
        for id in 0..self.nodes.len() {
            if self.nodes[id].observed {
                continue;
            }
            let (phi_p, _) = self.prior_of(id);
            self.set_natural(id, phi_p)?;
        }
        Ok(())
    }

    /// The parents' moments in node `id`'s broadcast view, one entry per
    /// slot (the kind's parts only).
    fn parent_views(&self, id: usize) -> Vec<&[Vec<f64>]> {
        let node = &self.nodes[id];
        node.parents
            .iter()
            .zip(&node.views)
            .map(|(&pid, view)| match view {
                Some(v) => v.as_slice(),
                None => {
                    let p = &self.nodes[pid];
                    &p.u[..p.kind.part_dims().len().min(p.u.len())]
                }
            })
            .collect()
    }

    /// Re-gather node `id`'s moments into its children's broadcast views
    /// (after its moments changed), reusing their buffers.
    fn refresh_views(&mut self, id: usize) {
        let (head, tail) = self.nodes.split_at_mut(id + 1);
        let parent = &head[id];
        let dims = parent.kind.part_dims();
        for &(cid, slot) in &parent.children {
            // Children are declared after their parents.
            let child = &mut tail[cid - id - 1];
            if let Some(view) = child.views[slot].as_mut() {
                gather_into(&parent.u, &dims, &child.parent_maps[slot], view);
            }
        }
    }

    fn prior_of(&self, id: usize) -> (Parts, Vec<f64>) {
        let node = &self.nodes[id];
        let family = node.family.as_ref().expect("declared node");
        family.prior(&self.parent_views(id), node.n)
    }

    fn set_natural(&mut self, id: usize, phi: Parts) -> Result<(), VmpError> {
        let node = &mut self.nodes[id];
        let family = node.family.as_ref().expect("declared node");
        let (u, g) = family
            .moments(&phi, node.n)
            .ok_or_else(|| VmpError::Value {
                node: node.name.clone(),
                what: "posterior natural parameters".into(),
                index: 0,
                value: f64::NAN,
                expected: "inside the natural parameter space".into(),
            })?;
        node.u = u;
        node.g = g;
        node.phi = phi;
        self.refresh_views(id);
        Ok(())
    }

    /// Set a latent node's posterior from natural parameters (parts in the
    /// node type's layout), e.g. to start from given initial posteriors.
    pub fn set_posterior(&mut self, name: &str, phi: Parts) -> Result<(), VmpError> {
        let id = self.id(name)?;
        let dims = self.nodes[id]
            .family
            .as_ref()
            .map(|f| f.part_dims())
            .unwrap_or_default();
        for (k, (p, d)) in phi.iter().zip(&dims).enumerate() {
            if p.len() != d * self.nodes[id].n {
                return Err(VmpError::Size {
                    node: name.into(),
                    what: format!("natural parameter part {k}"),
                    expected: d * self.nodes[id].n,
                    got: p.len(),
                });
            }
        }
        self.set_natural(id, phi)
    }

    /// Start a categorical latent node from random assignments: each plate
    /// element gets a category drawn uniformly by a seeded generator
    /// (SplitMix64), so the same seed always gives the same start. Errors for
    /// a node that is not categorical.
    pub fn initialize_from_random(&mut self, name: &str, seed: u64) -> Result<(), VmpError> {
        let id = self.id(name)?;
        let Kind::Categorical(k) = self.nodes[id].kind else {
            return Err(VmpError::Setting {
                name: format!("{name}.initial_random"),
                reason: format!(
                    "random initialisation draws categories; `{name}` has {}",
                    self.nodes[id].kind.describe()
                ),
            });
        };
        let mut state = seed;
        let values: Vec<f64> = (0..self.nodes[id].n)
            .map(|_| {
                // SplitMix64 (Steele, Lea & Flood 2014).
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z % k as u64) as f64
            })
            .collect();
        self.initialize_from_value(name, &values)
    }

    /// Start a latent node from concrete values (`Π plates × value size`, as
    /// observed data): its moments become `u(values)`, as BayesPy's
    /// `initialize_from_value` does; its natural parameters stay as they
    /// were. Its children and parents see these moments until the node's
    /// next update, which restores a proper posterior (its own ELBO term is
    /// meaningful again only then). The usual way to break a mixture's
    /// symmetry: start the assignments or the component parameters from
    /// values.
    pub fn initialize_from_value(&mut self, name: &str, values: &[f64]) -> Result<(), VmpError> {
        let id = self.id(name)?;
        let node = &mut self.nodes[id];
        if node.observed {
            return Err(VmpError::Setting {
                name: "initial value".into(),
                reason: format!("`{name}` is observed or constant"),
            });
        }
        let expected = node.n * node.kind.value_dim();
        if values.len() != expected {
            return Err(VmpError::Size {
                node: name.into(),
                what: "initial value".into(),
                expected,
                got: values.len(),
            });
        }
        let u = node
            .kind
            .moments_of_values(values, node.n)
            .map_err(|i| VmpError::Value {
                node: name.into(),
                what: "initial value".into(),
                index: i,
                value: values.get(i).copied().unwrap_or(f64::NAN),
                expected: format!("a value with {}", node.kind.describe()),
            })?;
        // A family with internal parts beyond its kind's (a chain) keeps
        // those as they were.
        for (dst, src) in node.u.iter_mut().zip(u) {
            *dst = src;
        }
        self.refresh_views(id);
        Ok(())
    }

    fn id(&self, name: &str) -> Result<usize, VmpError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| VmpError::Setting {
                name: "node".into(),
                reason: format!("no node is called `{name}`"),
            })
    }

    /// Update one latent node: `φ = φ_p + Σ children's messages`.
    pub fn update(&mut self, name: &str) -> Result<(), VmpError> {
        let id = self.id(name)?;
        if self.nodes[id].observed {
            return Err(VmpError::Setting {
                name: "update_order".into(),
                reason: format!("`{name}` is observed or constant and cannot be updated"),
            });
        }
        let (phi_p, _) = self.prior_of(id);
        let kind_dims = self.nodes[id].kind.part_dims();
        let n = self.nodes[id].n;
        let mut msgs: Parts = kind_dims.iter().map(|&d| vec![0.0; n * d]).collect();
        for &(cid, slot) in &self.nodes[id].children {
            let child = &self.nodes[cid];
            let family = child.family.as_ref().expect("declared node");
            let m = family.message_to_parent(slot, &child.u, &self.parent_views(cid), child.n);
            let map = &child.parent_maps[slot];
            let identity = child.views[slot].is_none();
            let per_child = (map.len() / child.n.max(1)).max(1);
            for (part, (acc, &d)) in msgs.iter_mut().zip(&kind_dims).enumerate() {
                let src = &m[part][..map.len() * d];
                match &child.mask {
                    None if identity => {
                        for (a, b) in acc.iter_mut().zip(src) {
                            *a += b;
                        }
                    }
                    None => scatter_add(acc, src, map, d, |_| true),
                    Some(mask) => scatter_add(acc, src, map, d, |v| mask[v / per_child]),
                }
            }
        }
        let family = self.nodes[id].family.as_ref().expect("declared node");
        let phi = family.posterior(&phi_p, &msgs, n);
        self.set_natural(id, phi)
    }

    /// The evidence lower bound of the current posterior.
    pub fn elbo(&self) -> f64 {
        let mut total = 0.0;
        for (id, node) in self.nodes.iter().enumerate() {
            let Some(_) = &node.family else { continue };
            let (phi_p, g_p) = self.prior_of(id);
            let dims = node.family.as_ref().expect("declared").part_dims();
            for i in 0..node.n {
                if let Some(mask) = &node.mask {
                    if !mask[i] {
                        continue;
                    }
                }
                let mut l = g_p[i];
                if node.observed {
                    for (k, &d) in dims.iter().enumerate().take(phi_p.len()) {
                        l += dot(
                            &phi_p[k][i * d..(i + 1) * d],
                            &node.u[k][i * d..(i + 1) * d],
                        );
                    }
                    l += node.f[i];
                } else {
                    for (k, &d) in dims.iter().enumerate() {
                        let pp = &phi_p[k][i * d..(i + 1) * d];
                        let pq = &node.phi[k][i * d..(i + 1) * d];
                        let u = &node.u[k][i * d..(i + 1) * d];
                        l += pp
                            .iter()
                            .zip(pq)
                            .zip(u)
                            .map(|((a, b), c)| (a - b) * c)
                            .sum::<f64>();
                    }
                    l -= node.g[i];
                }
                total += l;
            }
        }
        total
    }

    /// Run VMP: sweep `order` (latent node names) until BayesPy's rule
    /// `(L_i − L_{i−1}) / (½(|L_{i−1}| + |L_i|)) < tol` holds after a sweep
    /// (signed, so a fall also stops the run), or `max_iter` sweeps.
    pub fn run(&mut self, order: &[&str], max_iter: usize, tol: f64) -> Result<Run, VmpError> {
        let mut elbo: Vec<f64> = Vec::new();
        let mut decreases = Vec::new();
        let mut converged = false;
        for it in 0..max_iter {
            for name in order {
                self.update(name)?;
            }
            let l = self.elbo();
            let prev = elbo.last().copied();
            elbo.push(l);
            if let Some(prev) = prev {
                let change = l - prev;
                let scale = 0.5 * (prev.abs() + l.abs());
                if change < -1e-6 * scale {
                    decreases.push((it, change));
                }
                if change / scale.max(f64::MIN_POSITIVE) < tol {
                    converged = true;
                    break;
                }
            }
        }
        Ok(Run {
            iterations: elbo.len(),
            elbo,
            converged,
            decreases,
        })
    }

    /// A node's moments `⟨u⟩` (parts, plate elements outermost).
    pub fn moments(&self, name: &str) -> Result<&Parts, VmpError> {
        Ok(&self.nodes[self.id(name)?].u)
    }

    /// A latent node's natural parameters `φ`.
    pub fn natural(&self, name: &str) -> Result<&Parts, VmpError> {
        Ok(&self.nodes[self.id(name)?].phi)
    }

    /// Names of the latent nodes, in declaration order.
    pub fn latent(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| !n.observed && n.family.is_some())
            .map(|n| n.name.as_str())
            .collect()
    }
}

fn default_value(kind: Kind) -> Vec<f64> {
    match kind {
        Kind::Gaussian(d) => vec![0.0; d],
        Kind::Gamma => vec![1.0],
        Kind::Wishart(d) => (0..d * d)
            .map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect(),
        Kind::Dirichlet(k) => vec![1.0 / k as f64; k],
        Kind::Categorical(_) => vec![0.0],
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
