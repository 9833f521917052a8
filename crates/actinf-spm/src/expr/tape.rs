//! The compiled form of an expression: registers, instructions and the
//! matrix kernels that run them.
//!
//! Every register is a matrix of jets (see [`super::jet`]) at a fixed place
//! in one buffer; shapes are settled at compile time, so evaluation is a loop
//! over instructions on slices with no allocation and no shape checks. A
//! register is written once (its instruction comes after those of its
//! operands and its place in the buffer after theirs), which lets each
//! instruction borrow its output and its inputs from the same buffer.

use super::jet::{self, Act, Dims, Fun};

/// Shape `(rows, cols)`.
pub(crate) type Shape = (usize, usize);

/// A register: a matrix at `offset` (counted in jets) in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reg {
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    /// For a register that views another's data: that register.
    pub alias_of: Option<usize>,
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
            alias_of: None,
        });
        self.n_jets += rows * cols;
        self.regs.len() - 1
    }

    /// A register that views `rows × cols` consecutive elements of `src`
    /// from element `start` on (no copy, never written).
    pub(crate) fn alias(&mut self, src: usize, (rows, cols): Shape, start: usize) -> usize {
        debug_assert!(start + rows * cols <= self.regs[src].len());
        let offset = self.regs[src].offset + start;
        let root = self.regs[src].alias_of.unwrap_or(src);
        self.regs.push(Reg {
            rows,
            cols,
            offset,
            alias_of: Some(root),
        });
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

    /// Which parts of each register's jets may be nonzero when the inputs
    /// are seeded as `seeds`.
    pub(crate) fn activities(&self, seeds: [Seed; 3]) -> Vec<Act> {
        let mut acts = vec![Act::default(); self.regs.len()];
        let of = |acts: &[Act], r: usize| acts[self.regs[r].alias_of.unwrap_or(r)];
        for inst in &self.insts {
            let (dst, act) = match inst {
                Inst::Load { input, dst, .. } => {
                    let seed = seeds[*input as usize];
                    let act = Act {
                        a: matches!(seed, Seed::A(_)),
                        b: matches!(seed, Seed::B(_)),
                    };
                    (*dst, act)
                }
                Inst::Fun { src, dst, .. }
                | Inst::Neg { src, dst }
                | Inst::Transpose { src, dst }
                | Inst::Sum { src, dst, .. } => (*dst, of(&acts, *src)),
                Inst::Elementwise { a, b, dst, .. } | Inst::MatMul { a, b, dst } => {
                    (*dst, of(&acts, *a).union(of(&acts, *b)))
                }
                Inst::Gather { dst, sources } => (
                    *dst,
                    sources
                        .iter()
                        .fold(Act::default(), |act, (r, _)| act.union(of(&acts, *r))),
                ),
            };
            acts[dst] = act;
        }
        for (r, reg) in self.regs.iter().enumerate() {
            if let Some(root) = reg.alias_of {
                acts[r] = acts[root];
            }
        }
        acts
    }

    /// Runs the instructions. `buf` holds `n_jets` jets: zero when laid out
    /// for `d` but for the constants [`Program::init_consts`] wrote, and
    /// since then written only by runs with the same `d` and `acts` (each
    /// instruction writes the value and the active parts of its register, so
    /// the inactive parts stay zero). `scratch` holds at least one jet;
    /// `acts` comes from [`Program::activities`] for the inputs' seeds.
    pub(crate) fn run(
        &self,
        d: Dims,
        inputs: &Inputs,
        acts: &[Act],
        buf: &mut [f64],
        scratch: &mut [f64],
    ) {
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
                    let act = acts[*src];
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    for (o, x) in out.chunks_exact_mut(w).zip(a.chunks_exact(w)) {
                        let (f0, f1, f2) = f.eval(x[0]);
                        jet::chain(d, o, x, act, f0, f1, f2);
                    }
                }
                Inst::Neg { src, dst } => {
                    let act = acts[*src];
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    for (o, x) in out.chunks_exact_mut(w).zip(a.chunks_exact(w)) {
                        jet::neg(d, o, x, act);
                    }
                }
                Inst::Elementwise { op, a, b, dst } => {
                    let (ra, rb, ro) = (self.regs[*a], self.regs[*b], self.regs[*dst]);
                    let (xa, out, xb) = split(&self.regs, buf, w, *a, *b, *dst);
                    let operands = ((ra.shape(), xa, acts[*a]), (rb.shape(), xb, acts[*b]));
                    elementwise(d, *op, operands, ro.shape(), out, scratch);
                }
                Inst::MatMul { a, b, dst } => {
                    let (ra, rb) = (self.regs[*a], self.regs[*b]);
                    let (xa, out, xb) = split(&self.regs, buf, w, *a, *b, *dst);
                    matmul(
                        d,
                        (ra.shape(), xa, acts[*a]),
                        (rb.shape(), xb, acts[*b]),
                        out,
                    );
                }
                Inst::Transpose { src, dst } => {
                    let ra = self.regs[*src];
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    transpose(d, ra.shape(), a, acts[*src], out);
                }
                Inst::Gather { dst, sources } => {
                    let r = self.regs[*dst];
                    let act = acts[*dst];
                    let (lo, hi) = buf.split_at_mut(r.offset * w);
                    for (k, (reg, idx)) in sources.iter().enumerate() {
                        let from = (self.regs[*reg].offset + idx) * w;
                        jet::copy(d, &mut hi[k * w..(k + 1) * w], &lo[from..from + w], act);
                    }
                }
                Inst::Sum { src, dst, dim } => {
                    let ra = self.regs[*src];
                    let (a, out, _) = split(&self.regs, buf, w, *src, *src, *dst);
                    sum(d, ra.shape(), a, acts[*src], *dim, out);
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
/// an input of length `total`) with their seeds. The whole seed range of
/// each element is written, so a workspace can switch between a parameter
/// basis and the identity.
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
    if w == 1 {
        out.copy_from_slice(data);
        return;
    }
    for (k, value) in data.iter().enumerate() {
        // the other components are zero and stay zero (see `Program::run`)
        let e = &mut out[k * w..(k + 1) * w];
        e[0] = *value;
        let base = match seed {
            Seed::None => continue,
            Seed::A(off) => 1 + off,
            Seed::B(off) => 1 + d.na + off,
        };
        let row = start + k;
        match basis {
            None => {
                for (j, t) in e[base..base + total].iter_mut().enumerate() {
                    *t = if j == row { 1.0 } else { 0.0 };
                }
            }
            Some((u, n)) => {
                for j in 0..n {
                    e[base + j] = u[row + j * total];
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

/// A matrix operand of a kernel: its shape, its jets and their activity.
pub(crate) type Operand<'a> = (Shape, &'a [f64], Act);

/// `out = a op b` element-wise.
pub(crate) fn elementwise(
    d: Dims,
    op: ElOp,
    ((sa, a, aa), (sb, b, ba)): (Operand, Operand),
    so: Shape,
    out: &mut [f64],
    scratch: &mut [f64],
) {
    let w = d.w;
    if w == 1 {
        return elementwise_values(op, (sa, a), (sb, b), so, out);
    }
    let act = aa.union(ba);
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
                ElOp::Add => jet::add(d, o, x, y, act),
                ElOp::Sub => jet::sub(d, o, x, y, act),
                ElOp::Mul => jet::mul(d, o, x, aa, y, ba),
                ElOp::Div => jet::div(d, o, x, aa, y, ba, &mut scratch[..w]),
                ElOp::Pow => pow(d, o, (x, aa), (y, ba)),
            }
        }
    }
}

/// [`elementwise`] on plain numbers: one tight loop per operation.
fn elementwise_values(
    op: ElOp,
    (sa, a): (Shape, &[f64]),
    (sb, b): (Shape, &[f64]),
    so: Shape,
    out: &mut [f64],
) {
    let apply = |x: f64, y: f64| match op {
        ElOp::Add => x + y,
        ElOp::Sub => x - y,
        ElOp::Mul => x * y,
        ElOp::Div => x / y,
        ElOp::Pow => Fun::PowConst(y).eval(x).0,
    };
    if sa == so && sb == so {
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            *o = apply(*x, *y);
        }
    } else if sb == (1, 1) {
        for (o, x) in out.iter_mut().zip(a) {
            *o = apply(*x, b[0]);
        }
    } else if sa == (1, 1) {
        for (o, y) in out.iter_mut().zip(b) {
            *o = apply(a[0], *y);
        }
    } else {
        for j in 0..so.1 {
            for i in 0..so.0 {
                out[i + j * so.0] = apply(a[expand_index(sa, i, j)], b[expand_index(sb, i, j)]);
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
fn pow(d: Dims, out: &mut [f64], (x, xa): (&[f64], Act), (y, ya): (&[f64], Act)) {
    let (x0, y0) = (x[0], y[0]);
    let (f0, fx, fxx) = Fun::PowConst(y0).eval(x0);
    out[0] = f0;
    if d.w == 1 {
        return;
    }
    let act = xa.union(ya);
    let range = d.active(act);
    let c0 = 1 + d.na + d.nb;
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
    // inactive parts of x or y inside the output's range read as zero
    for k in range.start..range.end.min(c0) {
        out[k] = term(fx, x[k]) + term(fy, y[k]);
    }
    if !(act.a && act.b) {
        return;
    }
    let (na, nb) = (d.na, d.nb);
    for i in 0..na {
        let (xi, yi) = (x[1 + i], y[1 + i]);
        for j in 0..nb {
            let (xj, yj) = (x[1 + na + j], y[1 + na + j]);
            let k = c0 + i * nb + j;
            out[k] = term(fx, x[k])
                + term(fy, y[k])
                + term(fxx, xi * xj)
                + term(fxy, xi * yj + yi * xj)
                + term(fyy, yi * yj);
        }
    }
}

/// `out = a * b` (matrix product).
pub(crate) fn matmul(d: Dims, (sa, a, aa): Operand, (sb, b, ba): Operand, out: &mut [f64]) {
    let w = d.w;
    let (n, inner, m) = (sa.0, sa.1, sb.1);
    if w == 1 {
        for j in 0..m {
            for i in 0..n {
                out[i + j * n] = (0..inner).map(|k| a[i + k * n] * b[k + j * inner]).sum();
            }
        }
        return;
    }
    let range = d.active(aa.union(ba));
    for j in 0..m {
        for i in 0..n {
            let o = &mut out[(i + j * n) * w..(i + j * n + 1) * w];
            o[0] = 0.0;
            o[range.clone()].fill(0.0);
            for k in 0..inner {
                let x = &a[(i + k * n) * w..(i + k * n + 1) * w];
                let y = &b[(k + j * inner) * w..(k + j * inner + 1) * w];
                jet::mul_acc(d, o, x, aa, y, ba);
            }
        }
    }
}

/// `out = a.'`.
pub(crate) fn transpose(d: Dims, (rows, cols): Shape, a: &[f64], act: Act, out: &mut [f64]) {
    let w = d.w;
    for j in 0..cols {
        for i in 0..rows {
            let from = (i + j * rows) * w;
            let to = (j + i * cols) * w;
            jet::copy(d, &mut out[to..to + w], &a[from..from + w], act);
        }
    }
}

/// `out = sum(a, dim)`.
pub(crate) fn sum(d: Dims, (rows, cols): Shape, a: &[f64], act: Act, dim: u8, out: &mut [f64]) {
    let w = d.w;
    for o in out.chunks_exact_mut(w) {
        o[0] = 0.0;
        o[d.active(act)].fill(0.0);
    }
    for j in 0..cols {
        for i in 0..rows {
            let k = if dim == 1 { j } else { i };
            let from = (i + j * rows) * w;
            jet::add_assign(d, &mut out[k * w..(k + 1) * w], &a[from..from + w], act);
        }
    }
}
