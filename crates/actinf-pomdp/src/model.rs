//! The generative model of a discrete POMDP, validated once at construction.
//!
//! Layout follows pymdp: `A[m]` has shape `[num_obs[m], num_states[f] for f in
//! A_dependencies[m]]`, `B[f]` has shape `[num_states[f], num_states[g] for g
//! in B_dependencies[f], num_controls[f]]`, `C[m]` holds log-preferences over
//! outcomes (shape `[num_obs[m]]`, or `[T, num_obs[m]]` for one row per
//! future time step), `D[f]` the initial-state prior and `E` a prior over
//! policies. `pA`, `pB`, `pD` are Dirichlet concentration parameters of the
//! same shapes as `A`, `B`, `D`.

use actinf_core::Tensor;

use crate::error::PomdpError;
use crate::validate::{check_columns, check_values};

/// Tolerance on column sums of probability arrays.
pub const NORMALISATION_TOLERANCE: f64 = 1e-6;

/// The arrays a user supplies; every field but `a`/`pa` and `b`/`pb` is optional.
#[derive(Debug, Clone, Default)]
pub struct ModelArrays {
    /// Likelihoods, one per modality.
    pub a: Option<Vec<Tensor>>,
    /// Transitions, one per factor.
    pub b: Option<Vec<Tensor>>,
    /// Log-preferences, one per modality (`[num_obs]` or `[T, num_obs]`).
    pub c: Option<Vec<Tensor>>,
    /// Initial-state priors, one per factor.
    pub d: Option<Vec<Vec<f64>>>,
    /// Prior over policies.
    pub e: Option<Vec<f64>>,
    /// Dirichlet parameters of `A`.
    pub pa: Option<Vec<Tensor>>,
    /// Dirichlet parameters of `B`.
    pub pb: Option<Vec<Tensor>>,
    /// Dirichlet parameters of `D`.
    pub pd: Option<Vec<Vec<f64>>>,
    /// Which factors each modality depends on (default: all).
    pub a_dependencies: Option<Vec<Vec<usize>>>,
    /// Which factors each factor's transition depends on (default: itself).
    pub b_dependencies: Option<Vec<Vec<usize>>>,
    /// Which factors are controllable (default: those with more than one control).
    pub control_factors: Option<Vec<usize>>,
}

/// A validated generative model.
#[derive(Debug, Clone)]
pub struct GenerativeModel {
    /// Likelihoods `A[m]`.
    pub a: Vec<Tensor>,
    /// Transitions `B[f]`.
    pub b: Vec<Tensor>,
    /// Log-preferences `C[m]`, each `[T_m, num_obs[m]]` (`T_m = 1` when constant).
    pub c: Vec<Tensor>,
    /// Initial-state priors `D[f]`.
    pub d: Vec<Vec<f64>>,
    /// Prior over policies, when given (validated against the policy count later).
    pub e: Option<Vec<f64>>,
    /// Dirichlet parameters of `A`.
    pub pa: Option<Vec<Tensor>>,
    /// Dirichlet parameters of `B`.
    pub pb: Option<Vec<Tensor>>,
    /// Dirichlet parameters of `D`.
    pub pd: Option<Vec<Vec<f64>>>,
    /// Factors each modality depends on, ascending.
    pub a_dependencies: Vec<Vec<usize>>,
    /// Factors each factor's transition depends on, ascending.
    pub b_dependencies: Vec<Vec<usize>>,
    /// Outcomes per modality.
    pub num_obs: Vec<usize>,
    /// States per factor.
    pub num_states: Vec<usize>,
    /// Controls per factor.
    pub num_controls: Vec<usize>,
    /// Controllable factors, ascending.
    pub control_factors: Vec<usize>,
}

impl GenerativeModel {
    /// Validate the arrays and build the model.
    ///
    /// Checks: every array finite and non-negative (`C` finite only); `A`, `B`
    /// columns and `D`, `E` sum to one within [`NORMALISATION_TOLERANCE`];
    /// shapes agree with the dependencies; Dirichlet parameters match their
    /// arrays' shapes. When `A` (or `B`, `D`) is missing but its Dirichlet
    /// parameters are given, the array is their normalised expectation.
    pub fn new(arrays: ModelArrays) -> Result<Self, PomdpError> {
        let ModelArrays {
            a,
            b,
            c,
            d,
            e,
            pa,
            pb,
            pd,
            a_dependencies,
            b_dependencies,
            control_factors,
        } = arrays;

        // Dirichlet parameters: finite, non-negative.
        if let Some(pa) = &pa {
            for (m, t) in pa.iter().enumerate() {
                check_values("pA", m, t, true)?;
            }
        }
        if let Some(pb) = &pb {
            for (f, t) in pb.iter().enumerate() {
                check_values("pB", f, t, true)?;
            }
        }
        let a = match (a, &pa) {
            (Some(a), _) => a,
            (None, Some(pa)) => pa.iter().map(normalised_expectation).collect(),
            (None, None) => return Err(PomdpError::Missing { array: "A" }),
        };
        let b = match (b, &pb) {
            (Some(b), _) => b,
            (None, Some(pb)) => pb.iter().map(normalised_expectation).collect(),
            (None, None) => return Err(PomdpError::Missing { array: "B" }),
        };
        if a.is_empty() {
            return Err(PomdpError::Missing { array: "A" });
        }
        if b.is_empty() {
            return Err(PomdpError::Missing { array: "B" });
        }
        let num_factors = b.len();
        let num_modalities = a.len();

        // B dependencies and the state/control counts.
        let b_dependencies = match b_dependencies {
            Some(deps) => {
                expect_count("B_dependencies", num_factors, deps.len(), "one per factor")?;
                deps
            }
            None => (0..num_factors).map(|f| vec![f]).collect(),
        };
        let mut num_states = Vec::with_capacity(num_factors);
        let mut num_controls = Vec::with_capacity(num_factors);
        for (f, t) in b.iter().enumerate() {
            if t.ndim() != b_dependencies[f].len() + 2 {
                return Err(PomdpError::Dependency {
                    array: "B_dependencies",
                    index: f,
                    reason: format!(
                        "B[{f}] has {} axes but B_dependencies[{f}] lists {} factors (expected [next state, {} previous-state axes, control])",
                        t.ndim(),
                        b_dependencies[f].len(),
                        b_dependencies[f].len()
                    ),
                });
            }
            num_states.push(t.shape()[0]);
            num_controls.push(t.shape()[t.ndim() - 1]);
        }
        check_dependencies("B_dependencies", &b_dependencies, num_factors)?;
        for (f, deps) in b_dependencies.iter().enumerate() {
            if !deps.contains(&f) {
                return Err(PomdpError::Dependency {
                    array: "B_dependencies",
                    index: f,
                    reason: format!("factor {f}'s transition must depend on factor {f} itself"),
                });
            }
        }
        for (f, t) in b.iter().enumerate() {
            let mut expected = vec![num_states[f]];
            expected.extend(b_dependencies[f].iter().map(|&g| num_states[g]));
            expected.push(num_controls[f]);
            expect_shape("B", f, &expected, t.shape())?;
            check_values("B", f, t, true)?;
            check_columns("B", f, t)?;
        }

        // A dependencies.
        let a_dependencies = match a_dependencies {
            Some(deps) => {
                expect_count(
                    "A_dependencies",
                    num_modalities,
                    deps.len(),
                    "one per modality",
                )?;
                deps
            }
            None => vec![(0..num_factors).collect(); num_modalities],
        };
        check_dependencies("A_dependencies", &a_dependencies, num_factors)?;
        let mut num_obs = Vec::with_capacity(num_modalities);
        for (m, t) in a.iter().enumerate() {
            let mut expected = vec![t.shape()[0]];
            expected.extend(a_dependencies[m].iter().map(|&f| num_states[f]));
            expect_shape("A", m, &expected, t.shape())?;
            check_values("A", m, t, true)?;
            check_columns("A", m, t)?;
            num_obs.push(t.shape()[0]);
        }
        if let Some(pa) = &pa {
            expect_count("pA", num_modalities, pa.len(), "one per modality")?;
            for (m, t) in pa.iter().enumerate() {
                expect_shape("pA", m, a[m].shape(), t.shape())?;
            }
        }
        if let Some(pb) = &pb {
            expect_count("pB", num_factors, pb.len(), "one per factor")?;
            for (f, t) in pb.iter().enumerate() {
                expect_shape("pB", f, b[f].shape(), t.shape())?;
            }
        }

        // C: log-preferences, any finite value.
        let c = match c {
            Some(c) => {
                expect_count("C", num_modalities, c.len(), "one per modality")?;
                c.into_iter()
                    .enumerate()
                    .map(|(m, t)| {
                        check_values("C", m, &t, false)?;
                        match t.ndim() {
                            1 => {
                                expect_shape("C", m, &[num_obs[m]], t.shape())?;
                                Ok(Tensor::new(vec![1, num_obs[m]], t.into_data())?)
                            }
                            2 if t.shape()[1] == num_obs[m] => Ok(t),
                            _ => Err(PomdpError::Shape {
                                array: "C",
                                index: m,
                                expected: vec![num_obs[m]],
                                got: t.shape().to_vec(),
                            }),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => num_obs.iter().map(|&n| Tensor::zeros(&[1, n])).collect(),
        };

        // pD and D.
        if let Some(pd) = &pd {
            expect_count("pD", num_factors, pd.len(), "one per factor")?;
            for (f, v) in pd.iter().enumerate() {
                let t = Tensor::new(vec![v.len()], v.clone())?;
                expect_shape("pD", f, &[num_states[f]], t.shape())?;
                check_values("pD", f, &t, true)?;
            }
        }
        let d = match (d, &pd) {
            (Some(d), _) => d,
            (None, Some(pd)) => pd
                .iter()
                .map(|v| {
                    let s: f64 = v.iter().sum();
                    v.iter().map(|x| x / s).collect()
                })
                .collect(),
            (None, None) => num_states
                .iter()
                .map(|&n| vec![1.0 / n as f64; n])
                .collect(),
        };
        expect_count("D", num_factors, d.len(), "one per factor")?;
        for (f, v) in d.iter().enumerate() {
            let t = Tensor::new(vec![v.len()], v.clone()).map_err(|_| PomdpError::Shape {
                array: "D",
                index: f,
                expected: vec![num_states[f]],
                got: vec![v.len()],
            })?;
            expect_shape("D", f, &[num_states[f]], t.shape())?;
            check_values("D", f, &t, true)?;
            check_columns("D", f, &t)?;
        }
        if let Some(e) = &e {
            let t = Tensor::new(vec![e.len()], e.clone())?;
            check_values("E", 0, &t, true)?;
            check_columns("E", 0, &t)?;
        }

        // Control factors.
        let control_factors = match control_factors {
            Some(cf) => {
                for (i, &f) in cf.iter().enumerate() {
                    if f >= num_factors {
                        return Err(PomdpError::Setting {
                            name: "control_fac_idx".into(),
                            reason: format!(
                                "entry {i} is factor {f}, but the model has {num_factors} factors"
                            ),
                        });
                    }
                }
                let mut cf = cf;
                cf.sort_unstable();
                cf.dedup();
                cf
            }
            None => (0..num_factors).filter(|&f| num_controls[f] > 1).collect(),
        };

        Ok(Self {
            a,
            b,
            c,
            d,
            e,
            pa,
            pb,
            pd,
            a_dependencies,
            b_dependencies,
            num_obs,
            num_states,
            num_controls,
            control_factors,
        })
    }

    /// Number of outcome modalities.
    pub fn num_modalities(&self) -> usize {
        self.a.len()
    }

    /// Number of hidden-state factors.
    pub fn num_factors(&self) -> usize {
        self.b.len()
    }

    /// The log-preference row of modality `m` at future step `t` (the last row
    /// repeats beyond the rows given).
    pub fn log_preferences(&self, m: usize, t: usize) -> &[f64] {
        let c = &self.c[m];
        let rows = c.shape()[0];
        let n = c.shape()[1];
        let r = t.min(rows - 1);
        &c.data()[r * n..(r + 1) * n]
    }

    /// Check an observation vector against the model.
    pub fn check_observation(&self, obs: &[usize]) -> Result<(), PomdpError> {
        if obs.len() != self.num_modalities() {
            return Err(PomdpError::ObservationLength {
                expected: self.num_modalities(),
                got: obs.len(),
            });
        }
        for (m, (&o, &n)) in obs.iter().zip(&self.num_obs).enumerate() {
            if o >= n {
                return Err(PomdpError::ObservationOutOfRange {
                    modality: m,
                    value: o,
                    num_obs: n,
                });
            }
        }
        Ok(())
    }

    /// Check an action vector (one control per factor) against the model.
    pub fn check_action(&self, action: &[usize]) -> Result<(), PomdpError> {
        if action.len() != self.num_factors() {
            return Err(PomdpError::ActionLength {
                expected: self.num_factors(),
                got: action.len(),
            });
        }
        for (f, (&u, &n)) in action.iter().zip(&self.num_controls).enumerate() {
            if u >= n {
                return Err(PomdpError::ActionOutOfRange {
                    factor: f,
                    value: u,
                    num_controls: n,
                });
            }
        }
        Ok(())
    }
}

fn normalised_expectation(p: &Tensor) -> Tensor {
    let mut t = p.clone();
    actinf_core::maths::normalise_columns(t.data_mut(), p.shape()[0]);
    t
}

fn expect_count(
    array: &'static str,
    expected: usize,
    got: usize,
    what: &'static str,
) -> Result<(), PomdpError> {
    if expected != got {
        return Err(PomdpError::Count {
            array,
            expected,
            got,
            what,
        });
    }
    Ok(())
}

fn expect_shape(
    array: &'static str,
    index: usize,
    expected: &[usize],
    got: &[usize],
) -> Result<(), PomdpError> {
    if expected != got {
        return Err(PomdpError::Shape {
            array,
            index,
            expected: expected.to_vec(),
            got: got.to_vec(),
        });
    }
    Ok(())
}

fn check_dependencies(
    array: &'static str,
    deps: &[Vec<usize>],
    num_factors: usize,
) -> Result<(), PomdpError> {
    for (i, d) in deps.iter().enumerate() {
        if d.is_empty() {
            return Err(PomdpError::Dependency {
                array,
                index: i,
                reason: "lists no factor".into(),
            });
        }
        for (k, &f) in d.iter().enumerate() {
            if f >= num_factors {
                return Err(PomdpError::Dependency {
                    array,
                    index: i,
                    reason: format!("factor {f} does not exist (the model has {num_factors})"),
                });
            }
            if k > 0 && d[k - 1] >= f {
                return Err(PomdpError::Dependency {
                    array,
                    index: i,
                    reason: "factors must be listed in strictly ascending order".into(),
                });
            }
        }
    }
    Ok(())
}
