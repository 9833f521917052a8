//! SPM's MATLAB expression text for DEM models: `f(x, v, P)` and `g(x, v, P)`.
//!
//! SPM stores a DEM level's equations as strings (`'P.f*x + P.h*v'`) and turns
//! them into functions of `x`, `v` and `P` with `inline`/`fcnchk`. To run those
//! models without MATLAB we read the subset of MATLAB that SPM's demos use,
//! check shapes once, compile to a small instruction tape, and evaluate it
//! with **exact derivatives by forward-mode automatic differentiation**: each
//! value is a hyper-dual "jet" (see the `jet` module) so one pass gives the
//! value, the Jacobians in `vec(x)`, `vec(v)` and `vec(P)` and, for DEM's
//! E-step, the mixed second derivatives `∂²f/∂x∂P` and `∂²f/∂v∂P`. SPM itself
//! uses one-sided finite differences (`spm_diff`), which differ from the
//! exact derivatives by about their step times the curvature;
//! [`CompiledExpr::evaluate_spm_diff`] reproduces them for an `spm`
//! compatibility mode.
//!
//! The subset, errors and positions are documented in `docs/spm-expressions.md`.
//! In short: numbers, `x`, `v`, `P`, `P.name` (nested), `pi`, `eps`, matrix
//! literals, `+ - * .* / ./ ^ .^`, unary signs, `'` and `.'`, indexing with
//! constant subscripts (`:`, ranges, `end`), a trailing `;`, and `sum`, `exp`,
//! `log`, `tanh`, `sqrt`, `abs`, `sin`, `cos`, `sparse`, `zeros`, `ones`,
//! `eye`. Values are real matrices; `log`, `sqrt` and `.^` of negative numbers
//! give NaN where MATLAB would go complex.
//!
//! ```
//! use actinf_spm::expr::{CompiledExpr, Order, Param, Signature, Workspace, Derivatives};
//!
//! let pe = Param::structure(vec![
//!     ("f".into(), Param::from_rows(&[vec![-0.25, 1.0], vec![-0.5, -0.25]])?),
//!     ("h".into(), Param::column(vec![1.0, 0.0])),
//! ])?;
//! let sig = Signature::columns(2, 1, pe.layout());
//! let f = CompiledExpr::compile("P.f*x + P.h*v", &sig)?;
//! let mut ws = Workspace::new();
//! let mut d = Derivatives::new();
//! f.evaluate(&[1.0, 2.0], &[3.0], &pe.spm_vec(), None, Order::MixedSecond, &mut ws, &mut d)?;
//! assert_eq!(d.value.as_slice(), &[-0.25 + 2.0 + 3.0, -0.5 - 0.5]);
//! assert_eq!(d.dx[(0, 1)], 1.0); // ∂f₁/∂x₂ = P.f(1,2)
//! assert_eq!(d.dxp[2][(0, 1)], 1.0); // ∂/∂P₃ of ∂f₁/∂x₂ (P₃ = P.f(1,2))
//! # Ok::<(), actinf_spm::expr::ExprError>(())
//! ```

mod compile;
mod error;
mod jet;
mod lexer;
mod params;
mod parser;
mod tape;

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use nalgebra::{DMatrix, DVector};

pub use error::ExprError;
pub use params::{Param, ParamLayout};

use jet::Dims;
use parser::Parsed;
use tape::{Program, Seed};

/// The shapes an expression is compiled for: `x` and `v` as matrices
/// `(rows, cols)` (SPM's states and causes are column vectors), and the
/// layout of `P`.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// Shape of `x`.
    pub x: (usize, usize),
    /// Shape of `v`.
    pub v: (usize, usize),
    /// Layout of `P`.
    pub p: ParamLayout,
}

impl Signature {
    /// `x` an `n_x`-vector and `v` an `n_v`-vector (columns), `P` as laid out.
    pub fn columns(n_x: usize, n_v: usize, p: ParamLayout) -> Self {
        Signature {
            x: (n_x, 1),
            v: (n_v, 1),
            p,
        }
    }
}

/// Which derivatives [`CompiledExpr::evaluate`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The value only.
    Value,
    /// Value and Jacobians in `x` and `v` (what DEM's D-step needs).
    StateJacobians,
    /// Value and Jacobians in `x`, `v` and `P`.
    Jacobians,
    /// Value, Jacobians in `x`, `v` and `P`, and the mixed second
    /// derivatives `∂/∂P (∂f/∂x)` and `∂/∂P (∂f/∂v)` (what DEM's E-step needs).
    MixedSecond,
}

/// Results of [`CompiledExpr::evaluate`], reused from call to call.
///
/// With `n` outputs (`vec` of the result), `n_x`, `n_v` states and causes
/// and `q` parameter directions (the length of `P`, or the columns of the
/// basis given): `value` is `n`; `dx` is `n × n_x`; `dv` is `n × n_v`; `dp`
/// is `n × q`; `dxp[j]` is `n × n_x` and `dvp[j]` is `n × n_v`, the
/// derivative of `dx`, `dv` along parameter direction `j` — SPM's
/// `dfdxp{j}`, `dfdvp{j}`. Quantities an [`Order`] does not ask for are left
/// with zero columns (`dxp`, `dvp` empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Derivatives {
    /// `vec(f(x, v, P))`.
    pub value: DVector<f64>,
    /// `∂ vec(f) / ∂ vec(x)`.
    pub dx: DMatrix<f64>,
    /// `∂ vec(f) / ∂ vec(v)`.
    pub dv: DMatrix<f64>,
    /// `∂ vec(f) / ∂ q`, where `vec(P) = p + U q` (`U` the basis, or `I`).
    pub dp: DMatrix<f64>,
    /// `dxp[j] = ∂ dx / ∂ q_j`.
    pub dxp: Vec<DMatrix<f64>>,
    /// `dvp[j] = ∂ dv / ∂ q_j`.
    pub dvp: Vec<DMatrix<f64>>,
}

impl Default for Derivatives {
    fn default() -> Self {
        Self::new()
    }
}

impl Derivatives {
    /// Empty results, to be filled by [`CompiledExpr::evaluate`].
    pub fn new() -> Self {
        Derivatives {
            value: DVector::zeros(0),
            dx: DMatrix::zeros(0, 0),
            dv: DMatrix::zeros(0, 0),
            dp: DMatrix::zeros(0, 0),
            dxp: Vec::new(),
            dvp: Vec::new(),
        }
    }
}

/// Scratch memory for evaluation; reuse one per thread to evaluate without
/// allocating. A workspace serves several expressions and orders: it keeps
/// a buffer for each of the last [`Workspace::SLOTS`] (expression, order,
/// parameter directions) it was used with, so alternating between a level's
/// `f` and `g`, or between D-step and E-step orders, allocates nothing after
/// the first calls.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// Most recently prepared first.
    slots: Vec<Slot>,
}

/// One expression's buffers, laid out for one jet size and seeding.
#[derive(Debug, Clone)]
struct Slot {
    /// Expression id, jet sizes and seeding.
    key: (u64, Dims, [Seed; 3]),
    buf: Vec<f64>,
    scratch: Vec<f64>,
    /// Which parts of each register's jets may be nonzero.
    acts: Vec<jet::Act>,
}

impl Workspace {
    /// How many prepared (expression, order) buffers a workspace keeps.
    pub const SLOTS: usize = 8;

    /// An empty workspace.
    pub fn new() -> Self {
        Self::default()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The step of SPM's finite differences, `exp(-8)` (`spm_diff`'s default).
pub const SPM_DIFF_STEP: f64 = 0.00033546262790251185;

/// An SPM expression compiled for given shapes of `x`, `v` and `P`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledExpr {
    id: u64,
    text: String,
    program: Program,
    n_x: usize,
    n_v: usize,
    n_p: usize,
    output_shape: (usize, usize),
}

impl CompiledExpr {
    /// Reads `text` and compiles it for the shapes in `signature`. The empty
    /// (or all-whitespace) text is SPM's "no output" (the `g` of the last
    /// level): it compiles to an expression with [`CompiledExpr::is_empty`]
    /// and no outputs. Every error names the offending token's 0-based
    /// character position.
    pub fn compile(text: &str, signature: &Signature) -> Result<Self, ExprError> {
        let tokens = lexer::tokenize(text)?;
        let parsed = parser::parse(&tokens, text.chars().count())?;
        let shapes = compile::Inputs {
            x: signature.x,
            v: signature.v,
            p: &signature.p,
        };
        let program = compile::compile(&parsed, &shapes)?;
        let output_shape = match (&parsed, program.output) {
            (Parsed::Expr(_), Some(reg)) => program.regs[reg].shape(),
            _ => (0, 0),
        };
        Ok(CompiledExpr {
            id: NEXT_ID.fetch_add(1, AtomicOrdering::Relaxed),
            text: text.to_owned(),
            program,
            n_x: signature.x.0 * signature.x.1,
            n_v: signature.v.0 * signature.v.1,
            n_p: signature.p.len(),
            output_shape,
        })
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is the empty expression ("no output").
    pub fn is_empty(&self) -> bool {
        self.program.output.is_none()
    }

    /// Shape of the result as MATLAB would give it (`(0, 0)` when empty).
    pub fn output_shape(&self) -> (usize, usize) {
        self.output_shape
    }

    /// Number of outputs, `numel` of the result (the length of `spm_vec`).
    pub fn output_len(&self) -> usize {
        self.output_shape.0 * self.output_shape.1
    }

    /// Instructions in the compiled tape (a measure of evaluation cost).
    pub fn tape_len(&self) -> usize {
        self.program.insts.len()
    }

    /// `vec(f(x, v, P))` into `out` (of length [`CompiledExpr::output_len`]).
    /// `x`, `v` and `p` are `vec(x)`, `vec(v)` and `spm_vec(P)`.
    pub fn value_into(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        ws: &mut Workspace,
        out: &mut [f64],
    ) -> Result<(), ExprError> {
        if out.len() != self.output_len() {
            return Err(ExprError::InputLength {
                input: "output",
                expected: self.output_len(),
                found: out.len(),
            });
        }
        let d = Dims::value();
        let result = self.run(x, v, p, None, [Seed::None; 3], d, ws)?;
        out.copy_from_slice(result);
        Ok(())
    }

    /// `vec(f(x, v, P))`.
    pub fn value(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        ws: &mut Workspace,
    ) -> Result<DVector<f64>, ExprError> {
        let mut out = DVector::zeros(self.output_len());
        self.value_into(x, v, p, ws, out.as_mut_slice())?;
        Ok(out)
    }

    /// Value and the derivatives `order` asks for, at `vec(x) = x`,
    /// `vec(v) = v`, `spm_vec(P) = p`, into `out`.
    ///
    /// Parameter derivatives are along the columns of `p_basis` (`len(P) ×
    /// q`, as SPM's `qp.u` projects parameters: `spm_vec(P) = p + U q`), or
    /// along each element of `spm_vec(P)` when `None`.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        p_basis: Option<&DMatrix<f64>>,
        order: Order,
        ws: &mut Workspace,
        out: &mut Derivatives,
    ) -> Result<(), ExprError> {
        let (n_x, n_v) = (self.n_x, self.n_v);
        let n_q = match p_basis {
            Some(u) => {
                if u.nrows() != self.n_p {
                    return Err(ExprError::InputLength {
                        input: "rows of the parameter basis",
                        expected: self.n_p,
                        found: u.nrows(),
                    });
                }
                u.ncols()
            }
            None => self.n_p,
        };
        let (d, seeds) = match order {
            Order::Value => (Dims::value(), [Seed::None; 3]),
            Order::StateJacobians => (
                Dims::new(n_x + n_v, 0),
                [Seed::A(0), Seed::A(n_x), Seed::None],
            ),
            Order::Jacobians => (
                Dims::new(n_x + n_v + n_q, 0),
                [Seed::A(0), Seed::A(n_x), Seed::A(n_x + n_v)],
            ),
            Order::MixedSecond => (
                Dims::new(n_x + n_v, n_q),
                [Seed::A(0), Seed::A(n_x), Seed::B(0)],
            ),
        };
        let basis = p_basis.map(|u| (u.as_slice(), u.ncols()));
        let jets = self.run(x, v, p, basis, seeds, d, ws)?;

        let n = self.output_len();
        let with_states = order != Order::Value;
        let with_params = matches!(order, Order::Jacobians | Order::MixedSecond);
        let second = order == Order::MixedSecond;
        resize_vector(&mut out.value, n);
        resize(&mut out.dx, n, if with_states { n_x } else { 0 });
        resize(&mut out.dv, n, if with_states { n_v } else { 0 });
        resize(&mut out.dp, n, if with_params { n_q } else { 0 });
        let n_second = if second { n_q } else { 0 };
        out.dxp.resize_with(n_second, || DMatrix::zeros(n, n_x));
        out.dvp.resize_with(n_second, || DMatrix::zeros(n, n_v));
        out.dxp.iter_mut().for_each(|m| resize(m, n, n_x));
        out.dvp.iter_mut().for_each(|m| resize(m, n, n_v));

        let w = d.w;
        let p_first = if second { 1 + d.na } else { 1 + n_x + n_v };
        let c0 = 1 + d.na + d.nb;
        // column `col` of an n-row output from jet component `component(col)`
        let fill = |m: &mut [f64], component: &dyn Fn(usize) -> usize| {
            for (col, column) in m.chunks_exact_mut(n.max(1)).enumerate() {
                let c = component(col);
                for (k, value) in column.iter_mut().enumerate() {
                    *value = jets[k * w + c];
                }
            }
        };
        fill(out.value.as_mut_slice(), &|_| 0);
        if with_states {
            fill(out.dx.as_mut_slice(), &|i| 1 + i);
            fill(out.dv.as_mut_slice(), &|i| 1 + n_x + i);
        }
        if with_params {
            fill(out.dp.as_mut_slice(), &|j| p_first + j);
        }
        if second {
            for (j, (dxp, dvp)) in out.dxp.iter_mut().zip(out.dvp.iter_mut()).enumerate() {
                fill(dxp.as_mut_slice(), &|i| c0 + i * n_q + j);
                fill(dvp.as_mut_slice(), &|i| c0 + (n_x + i) * n_q + j);
            }
        }
        Ok(())
    }

    /// The same quantities as [`CompiledExpr::evaluate`], but by SPM's own
    /// finite differences (`spm_diff`): one-sided, step
    /// [`SPM_DIFF_STEP`] = `exp(-8)`, the Jacobian column `i` being
    /// `(f(x + dx·eᵢ) − f(x)) / dx` (likewise for `v`, and for `P` along each
    /// basis column `uⱼ`: `(f(P + dx·uⱼ) − f(P)) / dx`), and the mixed second
    /// derivatives the same difference of those Jacobians, as
    /// `spm_diff(…, [2 4])` computes them. For an `spm` compatibility mode:
    /// on a nonlinear `f` these differ from the exact derivatives by about
    /// `dx · f″`, and SPM's numbers carry that error.
    ///
    /// SPM perturbs `pE + U(q + dx·eⱼ)` where this perturbs `p + dx·uⱼ`
    /// with `p = pE + U q`: the same up to rounding of `p` (about `1e-16·|p|/dx`).
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate_spm_diff(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        p_basis: Option<&DMatrix<f64>>,
        order: Order,
        ws: &mut Workspace,
        out: &mut Derivatives,
    ) -> Result<(), ExprError> {
        let dx = SPM_DIFF_STEP;
        let n = self.output_len();
        let (n_x, n_v) = (self.n_x, self.n_v);
        let n_q = match p_basis {
            Some(u) if u.nrows() != self.n_p => {
                return Err(ExprError::InputLength {
                    input: "rows of the parameter basis",
                    expected: self.n_p,
                    found: u.nrows(),
                })
            }
            Some(u) => u.ncols(),
            None => self.n_p,
        };
        let with_states = order != Order::Value;
        let with_params = matches!(order, Order::Jacobians | Order::MixedSecond);
        let second = order == Order::MixedSecond;
        let f0 = self.value(x, v, p, ws)?;

        // forward differences of f in each element of x and of v
        let state_jacobians = |p: &[f64], f0: &DVector<f64>, ws: &mut Workspace| {
            let mut jx = DMatrix::zeros(n, n_x);
            let mut jv = DMatrix::zeros(n, n_v);
            let mut xi = x.to_vec();
            for i in 0..n_x {
                xi[i] = x[i] + dx;
                jx.set_column(i, &((self.value(&xi, v, p, ws)? - f0) / dx));
                xi[i] = x[i];
            }
            let mut vi = v.to_vec();
            for i in 0..n_v {
                vi[i] = v[i] + dx;
                jv.set_column(i, &((self.value(x, &vi, p, ws)? - f0) / dx));
                vi[i] = v[i];
            }
            Ok::<_, ExprError>((jx, jv))
        };
        let perturbed = |j: usize| -> Vec<f64> {
            match p_basis {
                Some(u) => p
                    .iter()
                    .zip(u.column(j).iter())
                    .map(|(pi, uij)| pi + uij * dx)
                    .collect(),
                None => {
                    let mut q = p.to_vec();
                    q[j] += dx;
                    q
                }
            }
        };

        let (jx, jv) = if with_states {
            state_jacobians(p, &f0, ws)?
        } else {
            (DMatrix::zeros(n, 0), DMatrix::zeros(n, 0))
        };
        let mut jp = DMatrix::zeros(n, if with_params { n_q } else { 0 });
        let mut jxp = Vec::new();
        let mut jvp = Vec::new();
        if with_params {
            for j in 0..n_q {
                let pj = perturbed(j);
                let fj = self.value(x, v, &pj, ws)?;
                jp.set_column(j, &((&fj - &f0) / dx));
                if second {
                    let (jxj, jvj) = state_jacobians(&pj, &fj, ws)?;
                    jxp.push((jxj - &jx) / dx);
                    jvp.push((jvj - &jv) / dx);
                }
            }
        }
        out.value = f0;
        out.dx = jx;
        out.dv = jv;
        out.dp = jp;
        out.dxp = jxp;
        out.dvp = jvp;
        Ok(())
    }

    /// Checks the inputs, prepares the workspace and runs the tape; returns
    /// the output register's jets.
    #[allow(clippy::too_many_arguments)]
    fn run<'w>(
        &self,
        x: &[f64],
        v: &[f64],
        p: &[f64],
        p_basis: Option<(&[f64], usize)>,
        seeds: [Seed; 3],
        d: Dims,
        ws: &'w mut Workspace,
    ) -> Result<&'w [f64], ExprError> {
        for (input, expected, found) in [
            ("x", self.n_x, x.len()),
            ("v", self.n_v, v.len()),
            ("P", self.n_p, p.len()),
        ] {
            if expected != found {
                return Err(ExprError::InputLength {
                    input,
                    expected,
                    found,
                });
            }
        }
        let key = (self.id, d, seeds);
        let index = match ws.slots.iter().position(|slot| slot.key == key) {
            Some(index) => index,
            None => {
                let mut buf = vec![0.0; self.program.n_jets * d.w];
                self.program.init_consts(d, &mut buf);
                let slot = Slot {
                    key,
                    buf,
                    scratch: vec![0.0; d.w],
                    acts: self.program.activities(seeds),
                };
                ws.slots.insert(0, slot);
                ws.slots.truncate(Workspace::SLOTS);
                0
            }
        };
        let slot = &mut ws.slots[index];
        let inputs = tape::Inputs {
            x,
            v,
            p,
            seeds,
            p_basis,
        };
        self.program
            .run(d, &inputs, &slot.acts, &mut slot.buf, &mut slot.scratch);
        Ok(match self.program.output {
            Some(reg) => {
                let r = self.program.regs[reg];
                &slot.buf[r.offset * d.w..(r.offset + r.len()) * d.w]
            }
            None => &[],
        })
    }
}

/// One DEM level's equations compiled together, as `spm_DEM_M_set` makes
/// them: `f` and `g` over the level's states `x` (`n_x`-vector), the causes
/// `v` coming from the level above (`n_v`-vector) and the parameters `P`
/// laid out as the level's `pE`.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelFunctions {
    /// `dx/dt = f(x, v, P)`: one value per state.
    pub f: CompiledExpr,
    /// `y = g(x, v, P)`: the level's output (empty on the top level).
    pub g: CompiledExpr,
    /// `spm_vec(pE)`, the point DEM expands the parameters around.
    pub p0: Vec<f64>,
    /// The layout of `P`.
    pub layout: ParamLayout,
}

impl LevelFunctions {
    /// Compiles a level's `f` and `g` texts. `f` must give `n_x` values
    /// ([`ExprError::OutputLength`] otherwise), as SPM checks.
    pub fn compile(
        f: &str,
        g: &str,
        n_x: usize,
        n_v: usize,
        pe: &Param,
    ) -> Result<Self, ExprError> {
        let layout = pe.layout();
        let signature = Signature::columns(n_x, n_v, layout.clone());
        let f = CompiledExpr::compile(f, &signature)?;
        if f.output_len() != n_x {
            return Err(ExprError::OutputLength {
                what: "f",
                expected: n_x,
                found: f.output_len(),
            });
        }
        let g = CompiledExpr::compile(g, &signature)?;
        Ok(LevelFunctions {
            f,
            g,
            p0: pe.spm_vec(),
            layout,
        })
    }
}

fn resize(m: &mut DMatrix<f64>, rows: usize, cols: usize) {
    if m.shape() != (rows, cols) {
        *m = DMatrix::zeros(rows, cols);
    }
}

fn resize_vector(m: &mut DVector<f64>, len: usize) {
    if m.len() != len {
        *m = DVector::zeros(len);
    }
}
