//! The MDP as `spm_MDP_VB_X` takes it, in typed form, and its validation.

use actinf_core::Tensor;

use super::error::MdpError;

/// The policies of an MDP: SPM's `MDP.V` or `MDP.U`.
///
/// Indices are 0-based here (SPM's are 1-based).
#[derive(Debug, Clone, PartialEq)]
pub enum Policies {
    /// Sequential policies, SPM's `MDP.V(T − 1, Np, Nf)`:
    /// `steps[τ][k][f]` is policy k's control of factor f for the transition
    /// τ → τ+1. The number of time steps is `steps.len() + 1`. Precision is
    /// updated and the Occam window applies.
    Sequential(Vec<Vec<Vec<usize>>>),
    /// One-step policies, SPM's `MDP.U(1, Np, Nf)`: `moves[k][f]`, the
    /// allowable next move of each policy. `spm_MDP_VB_X` builds the
    /// policies move by move (past moves are the actions taken), keeps the
    /// policy precision fixed at `1/β` and applies no Occam window.
    OneStep(Vec<Vec<usize>>),
}

impl Policies {
    /// The number of policies `Np`.
    pub fn len(&self) -> usize {
        match self {
            Policies::Sequential(v) => v.first().map_or(0, Vec::len),
            Policies::OneStep(u) => u.len(),
        }
    }

    /// Whether there are no policies.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The settings of `spm_MDP_VB_X`, with SPM's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VbxSettings {
    /// Precision of action selection `alpha` (default 512).
    pub alpha: f64,
    /// Rate of the Gamma prior over the policy precision `beta` (default 1).
    pub beta: f64,
    /// Occam's window for policies `zeta` (default 3): policies whose posterior
    /// falls below `exp(−zeta)` times the best are dropped (sequential
    /// policies only).
    pub zeta: f64,
    /// Learning rate `eta` (default 1) for `a` and `b` (not `d`: SPM adds `X(:, 1)`).
    pub eta: f64,
    /// Time constant of the gradient descent on the state marginals `tau` (default 4).
    pub tau: f64,
    /// Resetting of beliefs between time steps `erp` (default 4): `x ← σ(ln x / erp)`.
    pub erp: f64,
    /// Variational iterations per time step `Ni` (default 16) (for states and for
    /// precision).
    pub num_iter: usize,
    /// SPM's `OPTIONS.gamma`: keep the policy precision at `1/β` (default false). With
    /// [`Policies::OneStep`] SPM switches it on itself.
    pub fixed_precision: bool,
}

impl Default for VbxSettings {
    fn default() -> Self {
        Self {
            alpha: 512.0,
            beta: 1.0,
            zeta: 3.0,
            eta: 1.0,
            tau: 4.0,
            erp: 4.0,
            num_iter: 16,
            fixed_precision: false,
        }
    }
}

impl VbxSettings {
    fn validate(&self) -> Result<(), MdpError> {
        for (name, v) in [
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("zeta", self.zeta),
            ("tau", self.tau),
            ("erp", self.erp),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(MdpError::Value {
                    field: name.into(),
                    value: v,
                    expected: "a finite positive number",
                });
            }
        }
        if !(self.eta.is_finite() && self.eta >= 0.0) {
            return Err(MdpError::Value {
                field: "eta".into(),
                value: self.eta,
                expected: "a finite non-negative number",
            });
        }
        if self.num_iter == 0 {
            return Err(MdpError::Value {
                field: "Ni".into(),
                value: 0.0,
                expected: "at least 1",
            });
        }
        Ok(())
    }
}

/// An MDP as `spm_MDP_VB_X` takes it (Friston et al. 2017, "Active
/// inference: a process theory", Neural Computation 29(1):1–49, the
/// generative model of Figure 2; SPM12 `spm_MDP_VB_X.m`).
///
/// Arrays are row-major in SPM's axis order: `a[g]` is `[No_g, Ns_1, …,
/// Ns_F]` (every modality over every factor), `b[f]` is `[Ns_f, Ns_f, Nu_f]`
/// (`B(next, previous, control)`), `c[g]` is `[No_g, k]` with `k = 1`
/// (time-invariant) or `k ≥ T`. `A`, `B` and `D` are taken as given and
/// column-normalised here, as SPM does on entry (a column summing to zero is
/// refused, as SPM's `spm_MDP_check` refuses one).
#[derive(Debug, Clone, PartialEq)]
pub struct MdpModel {
    /// Likelihoods `A{g}`.
    pub a: Vec<Tensor>,
    /// Transitions `B{f}`.
    pub b: Vec<Tensor>,
    /// Log-preferences `C{g}` as given (SPM uses `ln σ(C(:, τ))` per column).
    pub c: Vec<Tensor>,
    /// Priors over initial states `D{f}` (ignored for a factor whose `d` is
    /// learned: SPM then uses `d / Σ d`).
    pub d: Vec<Vec<f64>>,
    /// Prior over policies `E` (uniform when `None`).
    pub e: Option<Vec<f64>>,
    /// The policies.
    pub policies: Policies,
    /// Number of time steps (outcomes) `T`. With [`Policies::Sequential`] it
    /// must be the number of steps in `V` plus one.
    pub num_steps: usize,
    /// The scheme's settings.
    pub settings: VbxSettings,
}

/// Dirichlet concentration parameters that are learned (SPM's `a`, `b`, `d`),
/// in the shapes of `A`, `B` and `D`. `None` means not learned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Concentrations {
    /// `a{g}`, shaped as `A{g}`.
    pub a: Option<Vec<Tensor>>,
    /// `b{f}`, shaped as `B{f}`.
    pub b: Option<Vec<Tensor>>,
    /// `d{f}`, shaped as `D{f}`.
    pub d: Option<Vec<Vec<f64>>>,
}

impl MdpModel {
    /// Number of hidden-state factors.
    pub fn num_factors(&self) -> usize {
        self.b.len()
    }

    /// Number of outcome modalities.
    pub fn num_modalities(&self) -> usize {
        self.a.len()
    }

    /// States per factor.
    pub fn num_states(&self) -> Vec<usize> {
        self.b.iter().map(|b| b.shape()[0]).collect()
    }

    /// Controls per factor.
    pub fn num_controls(&self) -> Vec<usize> {
        self.b.iter().map(|b| b.shape()[2]).collect()
    }

    /// Outcomes per modality.
    pub fn num_outcomes(&self) -> Vec<usize> {
        self.a.iter().map(|a| a.shape()[0]).collect()
    }

    /// Check that every array fits the others, that entries are finite and
    /// non-negative, that no column of `A` or `B` is all zero and that every
    /// policy's controls exist; `learned` must have the shapes of the arrays
    /// it replaces. Field names in errors are the SPM names with 0-based list
    /// positions (`A[1]`, `V[0][3][1]`).
    pub fn validate(&self, learned: &Concentrations) -> Result<(), MdpError> {
        self.settings.validate()?;
        if self.b.is_empty() {
            return Err(MdpError::Missing { field: "B".into() });
        }
        if self.a.is_empty() {
            return Err(MdpError::Missing { field: "A".into() });
        }
        for (f, b) in self.b.iter().enumerate() {
            let s = b.shape();
            if s.len() != 3 || s[0] != s[1] || s[0] == 0 || s[2] == 0 {
                return Err(MdpError::Shape {
                    field: format!("B[{f}]"),
                    expected: "[Ns, Ns, Nu] with Ns, Nu ≥ 1".into(),
                    got: s.to_vec(),
                });
            }
            check_counts(&format!("B[{f}]"), b, true)?;
        }
        let ns = self.num_states();
        for (g, a) in self.a.iter().enumerate() {
            check_layout(&format!("A[{g}]"), a, &ns)?;
            check_counts(&format!("A[{g}]"), a, true)?;
        }
        let no = self.num_outcomes();
        if self.c.len() != self.a.len() {
            return Err(MdpError::Shape {
                field: "C".into(),
                expected: format!("one array per modality ({})", self.a.len()),
                got: vec![self.c.len()],
            });
        }
        for (g, c) in self.c.iter().enumerate() {
            let s = c.shape();
            if s.len() != 2 || s[0] != no[g] || !(s[1] == 1 || s[1] >= self.num_steps) {
                return Err(MdpError::Shape {
                    field: format!("C[{g}]"),
                    expected: format!("[{}, 1] or [{}, k ≥ T = {}]", no[g], no[g], self.num_steps),
                    got: s.to_vec(),
                });
            }
            if let Some(i) = c.data().iter().position(|x| !x.is_finite()) {
                return Err(MdpError::Value {
                    field: format!("C[{g}] (entry {i}, row-major)"),
                    value: c.data()[i],
                    expected: "a finite number",
                });
            }
        }
        check_vectors("D", &self.d, &ns, false)?;
        if self.num_steps == 0 {
            return Err(MdpError::Value {
                field: "T".into(),
                value: 0.0,
                expected: "at least 1",
            });
        }
        let np = self.policies.len();
        if np == 0 {
            return Err(MdpError::Missing {
                field: "V or U (at least one policy)".into(),
            });
        }
        let nu = self.num_controls();
        let check_row = |field: String, row: &[usize]| -> Result<(), MdpError> {
            if row.len() != ns.len() {
                return Err(MdpError::Shape {
                    field,
                    expected: format!("one control per factor ({})", ns.len()),
                    got: vec![row.len()],
                });
            }
            for (f, (&u, &n)) in row.iter().zip(&nu).enumerate() {
                if u >= n {
                    return Err(MdpError::IndexOutOfRange {
                        field: format!("{field}[{f}]"),
                        value: (u + 1) as f64,
                        max: n,
                    });
                }
            }
            Ok(())
        };
        match &self.policies {
            Policies::Sequential(v) => {
                if v.len() + 1 != self.num_steps {
                    return Err(MdpError::Shape {
                        field: "V".into(),
                        expected: format!("T − 1 = {} steps", self.num_steps.saturating_sub(1)),
                        got: vec![v.len()],
                    });
                }
                for (tau, step) in v.iter().enumerate() {
                    if step.len() != np {
                        return Err(MdpError::Shape {
                            field: format!("V[{tau}]"),
                            expected: format!("{np} policies"),
                            got: vec![step.len()],
                        });
                    }
                    for (k, row) in step.iter().enumerate() {
                        check_row(format!("V[{tau}][{k}]"), row)?;
                    }
                }
            }
            Policies::OneStep(u) => {
                for (k, row) in u.iter().enumerate() {
                    check_row(format!("U[{k}]"), row)?;
                }
            }
        }
        if let Some(e) = &self.e {
            check_vectors("E", std::slice::from_ref(e), &[np], false)?;
        }
        if let Some(a) = &learned.a {
            if a.len() != self.a.len() {
                return Err(MdpError::Shape {
                    field: "a".into(),
                    expected: format!("one array per modality ({})", self.a.len()),
                    got: vec![a.len()],
                });
            }
            for (g, (ag, big)) in a.iter().zip(&self.a).enumerate() {
                check_same_shape(&format!("a[{g}]"), ag, big)?;
                check_counts(&format!("a[{g}]"), ag, false)?;
            }
        }
        if let Some(b) = &learned.b {
            if b.len() != self.b.len() {
                return Err(MdpError::Shape {
                    field: "b".into(),
                    expected: format!("one array per factor ({})", self.b.len()),
                    got: vec![b.len()],
                });
            }
            for (f, (bf, big)) in b.iter().zip(&self.b).enumerate() {
                check_same_shape(&format!("b[{f}]"), bf, big)?;
                check_counts(&format!("b[{f}]"), bf, false)?;
            }
        }
        if let Some(d) = &learned.d {
            check_vectors("d", d, &ns, true)?;
        }
        Ok(())
    }
}

/// `A[g]` must be `[No, Ns_1, …, Ns_F]`.
fn check_layout(field: &str, a: &Tensor, ns: &[usize]) -> Result<(), MdpError> {
    let s = a.shape();
    if s.len() != ns.len() + 1 || s[1..] != *ns || s[0] == 0 {
        return Err(MdpError::Shape {
            field: field.into(),
            expected: format!("[No, {}] (outcomes × states of every factor)", join(ns)),
            got: s.to_vec(),
        });
    }
    Ok(())
}

fn check_same_shape(field: &str, t: &Tensor, like: &Tensor) -> Result<(), MdpError> {
    if t.shape() != like.shape() {
        return Err(MdpError::Shape {
            field: field.into(),
            expected: format!("{:?} (the shape of the array it learns)", like.shape()),
            got: t.shape().to_vec(),
        });
    }
    Ok(())
}

/// Finite, non-negative entries; with `columns`, no column (axis 0) all zero.
fn check_counts(field: &str, t: &Tensor, columns: bool) -> Result<(), MdpError> {
    if let Some(i) = t.data().iter().position(|x| !x.is_finite() || *x < 0.0) {
        return Err(MdpError::Value {
            field: format!("{field} (entry {}, row-major)", i),
            value: t.data()[i],
            expected: "a finite non-negative number",
        });
    }
    if columns {
        let rows = t.shape()[0];
        let sums = actinf_core::maths::column_sums(t.data(), rows);
        if let Some(j) = sums.iter().position(|&s| s <= 0.0) {
            return Err(MdpError::Value {
                field: format!("{field} column {j} (row-major over the axes after the first)"),
                value: 0.0,
                expected: "a column with some positive entry (SPM: missing entries)",
            });
        }
    }
    Ok(())
}

fn check_vectors(name: &str, v: &[Vec<f64>], lens: &[usize], counts: bool) -> Result<(), MdpError> {
    if v.len() != lens.len() {
        return Err(MdpError::Shape {
            field: name.into(),
            expected: format!("one vector per factor ({})", lens.len()),
            got: vec![v.len()],
        });
    }
    for (f, (x, &n)) in v.iter().zip(lens).enumerate() {
        if x.len() != n {
            return Err(MdpError::Shape {
                field: format!("{name}[{f}]"),
                expected: format!("[{n}]"),
                got: vec![x.len()],
            });
        }
        if let Some(i) = x.iter().position(|y| !y.is_finite() || *y < 0.0) {
            return Err(MdpError::Value {
                field: format!("{name}[{f}][{i}]"),
                value: x[i],
                expected: "a finite non-negative number",
            });
        }
        if !counts && x.iter().sum::<f64>() <= 0.0 {
            return Err(MdpError::Value {
                field: format!("{name}[{f}]"),
                value: 0.0,
                expected: "a vector with some positive entry",
            });
        }
    }
    Ok(())
}

fn join(ns: &[usize]) -> String {
    ns.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
