//! The compiled form of an expression: registers, instructions and the
//! matrix kernels that run them.
//!
//! Every register is a matrix of jets (see [`super::jet`]) at a fixed place
//! in one buffer; shapes are settled at compile time, so evaluation is a loop
//! over instructions on slices with no allocation and no shape checks. A
//! register is written once (its instruction comes after those of its
//! operands and its place in the buffer after theirs), which lets each
//! instruction borrow its output and its inputs from the same buffer.

use super::jet::{self, Dims, Fun};

/// Shape `(rows, cols)`.
pub(crate) type Shape = (usize, usize);

/// A register: a matrix at `offset` (counted in jets) in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reg {
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
}

impl Reg {
    pub(crate) fn shape(&self) -> Shape {
        (self.rows, self.cols)
    }

    pub(crate) fn len(&self) -> usize {
        self.rows * self.cols
    }
}

/// Which evaluation input a load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Input {
    X,
    V,
    P,
}

/// An element-wise binary operation (with MATLAB's scalar and implicit
/// expansion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// One instruction; register operands are indices into [`Program::regs`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inst {
    /// `dst = input[start .. start + len(dst)]`, seeded per the evaluation.
    Load {
        input: Input,
        start: usize,
        dst: usize,
    },
    Fun {
        f: Fun,
        src: usize,
        dst: usize,
    },
    Neg {
        src: usize,
        dst: usize,
    },
    Elementwise {
        op: ElOp,
        a: usize,
        b: usize,
        dst: usize,
    },
    MatMul {
        a: usize,
        b: usize,
        dst: usize,
    },
    Transpose {
        src: usize,
        dst: usize,
    },
    /// `dst[k] = regs[sources[k].0][sources[k].1]` (linear, column-major).
    Gather {
        dst: usize,
        sources: Vec<(usize, usize)>,
    },
    /// Sum along dimension 1 (columns) or 2 (rows).
    Sum {
        src: usize,
        dst: usize,
        dim: u8,
    },
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    pub regs: Vec<Reg>,
    pub insts: Vec<Inst>,
    /// Constant registers and their values (column-major).
    pub consts: Vec<(usize, Vec<f64>)>,
    /// The result register; `None` for the empty expression.
    pub output: Option<usize>,
    /// Jets in the buffer.
    pub n_jets: usize,
}

/// How the inputs are seeded: no derivative, or group A/B starting at the
/// given offset inside the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seed {
    None,
    A(usize),
    B(usize),
}

/// The inputs of one evaluation and their seeding.
pub(crate) struct Inputs<'a> {
    pub x: &'a [f64],
    pub v: &'a [f64],
    pub p: &'a [f64],
    pub seeds: [Seed; 3],
    /// Directions for `P`'s derivatives (column-major `len(P) × n`), or the
    /// identity when `None`.
    pub p_basis: Option<(&'a [f64], usize)>,
}

impl Program {
    pub(crate) fn new() -> Self {
        Program {
            regs: Vec::new(),
            insts: Vec::new(),
            consts: Vec::new(),
            output: None,
            n_jets: 0,
        }
    }

    /// A new register of the given shape, placed after every other.
    pub(crate) fn alloc(&mut self, (rows, cols): Shape) -> usize {
        self.regs.push(Reg {
            rows,
            cols,
            offset: self.n_jets,
        });
        self.n_jets += rows * cols;
        self.regs.len() - 1
    }

    /// A register that reads the data of `src` with another shape of the
    /// same size (no copy, never written).
    pub(crate) fn alias(&mut self, src: usize, (rows, cols): Shape) -> usize {
        let offset = self.regs[src].offset;
        debug_assert_eq!(rows * cols, self.regs[src].len());
        self.regs.push(Reg { rows, cols, offset });
        self.regs.len() - 1
    }

    /// Writes the constant registers (values, zero derivatives) into a
    /// buffer sized for `d`.
    pub(crate) fn init_consts(&self, d: Dims, buf: &mut [f64]) {
        for (reg, data) in &self.consts {
            let r = self.regs[*reg];
            let out = &mut buf[r.offset * d.w..(r.offset + r.len()) * d.w];
            out.fill(0.0);
            for (k, value) in data.iter().enumerate() {
                out[k * d.w] = *value;
            }
        }
    }

    /// Runs the instructions. `buf` holds `n_jets` jets and has been through
    /// [`Program::init_consts`]; `scratch` holds at least two jets.
    pub(crate) fn run(&self, d: Dims, inputs: &Inputs, buf: &mut [f64], scratch: &mut [f64]) {
        let w = d.w;
        for inst in &self.insts {
            match inst {
                Inst::Load { input, start, dst } => {
                    let r = self.regs[*dst];
                    let out = &mut buf[r.offset * w..(r.offset + r.len()) * w];
                    let (data, seed) = match input {
                        Input::X => (inputs.x, inputs.seeds[0]),
                        Input::V => (inputs.v, inputs.seeds[1]),
                        Input::P => (inputs.p, inputs.seeds[2]),
                    };
                    let basis = if *input == Input::P {
                        inputs.p_basis
                    } else {
                        None
                    };
                    load(
                        d,
                        out,
                        &data[*start..start + r.len()],
                        *start,
                        seed,
                        basis,
                        data.len(),
                    );
                }
                Inst::Fun { f, src, dst } => {
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    for (o, x) in out.chunks_exact_mut(w).zip(a.chunks_exact(w)) {
                        let (f0, f1, f2) = f.eval(x[0]);
                        jet::chain(d, o, x, f0, f1, f2);
                    }
                }
                Inst::Neg { src, dst } => {
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    jet::neg(out, a);
                }
                Inst::Elementwise { op, a, b, dst } => {
                    let (ra, rb, ro) = (self.regs[*a], self.regs[*b], self.regs[*dst]);
                    let (xa, out, xb) = split(&self.regs, buf, w, *a, *b, *dst);
                    elementwise(
                        d,
                        *op,
                        ra.shape(),
                        xa,
                        rb.shape(),
                        xb,
                        ro.shape(),
                        out,
                        scratch,
                    );
                }
                Inst::MatMul { a, b, dst } => {
                    let (ra, rb) = (self.regs[*a], self.regs[*b]);
                    let (xa, out, xb) = split(&self.regs, buf, w, *a, *b, *dst);
                    matmul(d, ra.shape(), xa, rb.shape(), xb, out);
                }
                Inst::Transpose { src, dst } => {
                    let ra = self.regs[*src];
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    transpose(w, ra.shape(), a, out);
                }
                Inst::Gather { dst, sources } => {
                    let r = self.regs[*dst];
                    let (lo, hi) = buf.split_at_mut(r.offset * w);
                    for (k, (reg, idx)) in sources.iter().enumerate() {
                        let from = (self.regs[*reg].offset + idx) * w;
                        hi[k * w..(k + 1) * w].copy_from_slice(&lo[from..from + w]);
                    }
                }
                Inst::Sum { src, dst, dim } => {
                    let ra = self.regs[*src];
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    sum(w, ra.shape(), a, *dim, out);
                }
            }
        }
    }
}

/// Borrows registers `a` and `b` (read) and `dst` (written) from the buffer;
/// `dst` lies after both.
fn split<'b>(
    regs: &[Reg],
    buf: &'b mut [f64],
    w: usize,
    a: usize,
    b: usize,
    dst: usize,
) -> (&'b [f64], &'b mut [f64], &'b [f64]) {
    let (ra, rb, ro) = (regs[a], regs[b], regs[dst]);
    debug_assert!(ra.offset + ra.len() <= ro.offset && rb.offset + rb.len() <= ro.offset);
    let (lo, hi) = buf.split_at_mut(ro.offset * w);
    let out = &mut hi[..ro.len() * w];
    let xa = &lo[ra.offset * w..(ra.offset + ra.len()) * w];
    let xb = &lo[rb.offset * w..(rb.offset + rb.len()) * w];
    (xa, out, xb)
}

/// Loads input elements `data` (whose first element is element `start` of
/// an input of length `total`) with their seeds.
fn load(
    d: Dims,
    out: &mut [f64],
    data: &[f64],
    start: usize,
    seed: Seed,
    basis: Option<(&[f64], usize)>,
    total: usize,
) {
    let w = d.w;
    for (k, value) in data.iter().enumerate() {
        let e = &mut out[k * w..(k + 1) * w];
        e.fill(0.0);
        e[0] = *value;
        let base = match seed {
            Seed::None => continue,
            Seed::A(off) => 1 + off,
            Seed::B(off) => 1 + d.na + off,
        };
        match basis {
            None => e[base + start + k] = 1.0,
            Some((u, n)) => {
                for j in 0..n {
                    e[base + j] = u[start + k + j * total];
                }
            }
        }
    }
}

/// Linear index of the operand element that meets output element `(i, j)`
/// under MATLAB's expansion of singleton dimensions.
#[inline]
fn expand_index((rows, cols): Shape, i: usize, j: usize) -> usize {
    let ii = if rows == 1 { 0 } else { i };
    let jj = if cols == 1 { 0 } else { j };
    ii + jj * rows
}

/// `out = a op b` element-wise.
#[allow(clippy::too_many_arguments)]
pub(crate) fn elementwise(
    d: Dims,
    op: ElOp,
    sa: Shape,
    a: &[f64],
    sb: Shape,
    b: &[f64],
    so: Shape,
    out: &mut [f64],
    scratch: &mut [f64],
) {
    let w = d.w;
    let same = sa == so && sb == so;
    for j in 0..so.1 {
        for i in 0..so.0 {
            let k = i + j * so.0;
            let (ka, kb) = if same {
                (k, k)
            } else {
                (expand_index(sa, i, j), expand_index(sb, i, j))
            };
            let (x, y) = (&a[ka * w..(ka + 1) * w], &b[kb * w..(kb + 1) * w]);
            let o = &mut out[k * w..(k + 1) * w];
            match op {
                ElOp::Add => jet::add(o, x, y),
                ElOp::Sub => jet::sub(o, x, y),
                ElOp::Mul => jet::mul(d, o, x, y),
                ElOp::Div => jet::div(d, o, x, y, &mut scratch[..w]),
                ElOp::Pow => pow(d, o, x, y, scratch),
            }
        }
    }
}

/// `out = x ^ y` for jets, by the two-variable chain rule with the partials
/// of `x^y`. A term whose tangent is zero is skipped rather than multiplied,
/// so a negative base with an exponent that does not vary gives the power
/// rule's finite derivatives (not `NaN` from `log x`), and every [`Order`]
/// gives the same numbers for the derivatives they share.
///
/// [`Order`]: crate::expr::Order
fn pow(d: Dims, out: &mut [f64], x: &[f64], y: &[f64], _scratch: &mut [f64]) {
    let (x0, y0) = (x[0], y[0]);
    let (f0, fx, fxx) = Fun::PowConst(y0).eval(x0);
    out[0] = f0;
    if d.w == 1 {
        return;
    }
    let exponent_varies = y[1..].iter().any(|t| *t != 0.0);
    if !exponent_varies {
        jet::chain(d, out, x, f0, fx, fxx);
        return;
    }
    let ln = x0.ln();
    let fy = f0 * ln;
    let fyy = fy * ln;
    let fxy = x0.powf(y0 - 1.0) * (1.0 + y0 * ln);
    let term = |partial: f64, tangent: f64| {
        if tangent == 0.0 {
            0.0
        } else {
            partial * tangent
        }
    };
    let c0 = 1 + d.na + d.nb;
    for k in 1..c0 {
        out[k] = term(fx, x[k]) + term(fy, y[k]);
    }
    if d.na == 0 || d.nb == 0 {
        return;
    }
    let (na, nb) = (d.na, d.nb);
    for i in 0..na {
        let (xa, ya) = (x[1 + i], y[1 + i]);
        for j in 0..nb {
            let (xb, yb) = (x[1 + na + j], y[1 + na + j]);
            let k = c0 + i * nb + j;
            out[k] = term(fx, x[k])
                + term(fy, y[k])
                + term(fxx, xa * xb)
                + term(fxy, xa * yb + ya * xb)
                + term(fyy, ya * yb);
        }
    }
}

/// `out = a * b` (matrix product).
pub(crate) fn matmul(d: Dims, sa: Shape, a: &[f64], sb: Shape, b: &[f64], out: &mut [f64]) {
    let w = d.w;
    let (n, inner, m) = (sa.0, sa.1, sb.1);
    out.fill(0.0);
    for j in 0..m {
        for i in 0..n {
            let o = &mut out[(i + j * n) * w..(i + j * n + 1) * w];
            for k in 0..inner {
                let x = &a[(i + k * n) * w..(i + k * n + 1) * w];
                let y = &b[(k + j * inner) * w..(k + j * inner + 1) * w];
                jet::mul_acc(d, o, x, y);
            }
        }
    }
}

/// `out = a.'`.
pub(crate) fn transpose(w: usize, (rows, cols): Shape, a: &[f64], out: &mut [f64]) {
    for j in 0..cols {
        for i in 0..rows {
            let from = (i + j * rows) * w;
            let to = (j + i * cols) * w;
            out[to..to + w].copy_from_slice(&a[from..from + w]);
        }
    }
}

/// `out = sum(a, dim)`.
pub(crate) fn sum(w: usize, (rows, cols): Shape, a: &[f64], dim: u8, out: &mut [f64]) {
    out.fill(0.0);
    for j in 0..cols {
        for i in 0..rows {
            let k = if dim == 1 { j } else { i };
            let from = (i + j * rows) * w;
            jet::add_assign(&mut out[k * w..(k + 1) * w], &a[from..from + w]);
        }
    }
}
