//! From syntax tree to instruction tape, with MATLAB's shape rules checked
//! once, here, instead of at every evaluation.
//!
//! Sub-expressions that do not depend on `x`, `v` or `P` are folded to
//! constants (with the same kernels the tape runs), which is also how
//! indices, ranges and size arguments — which must be constants — are read.

use std::collections::HashMap;

use super::error::ExprError;
use super::jet::{Act, Dims, Fun};
use super::params::{LayoutNode, ParamLayout};
use super::parser::{BinOp, Node, NodeKind, Parsed};
use super::tape::{self, ElOp, Input, Inst, Program, Shape};

/// A matrix known at compile time (column-major).
#[derive(Debug, Clone, PartialEq)]
struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Mat {
    fn scalar(value: f64) -> Self {
        Mat {
            rows: 1,
            cols: 1,
            data: vec![value],
        }
    }

    fn filled(rows: usize, cols: usize, value: f64) -> Self {
        Mat {
            rows,
            cols,
            data: vec![value; rows * cols],
        }
    }
}

/// A matrix operand while compiling: known, or computed into a register.
#[derive(Debug, Clone)]
enum Val {
    Const(Mat),
    Reg(usize),
}

/// What a name or field denotes: a matrix or a (sub)structure of `P`.
enum Item<'l> {
    Val(Val),
    Struct(&'l [(String, LayoutNode)]),
}

/// Shapes of the inputs.
pub(crate) struct Inputs<'s> {
    pub x: Shape,
    pub v: Shape,
    pub p: &'s ParamLayout,
}

/// Compiles a parsed expression against the shapes of `x`, `v` and `P`.
pub(crate) fn compile(parsed: &Parsed, inputs: &Inputs) -> Result<Program, ExprError> {
    let mut c = Compiler {
        inputs,
        prog: Program::new(),
        loads: HashMap::new(),
    };
    if let Parsed::Expr(node) = parsed {
        let val = c.val(node, None)?;
        let reg = c.materialize(val);
        c.prog.output = Some(reg);
    }
    Ok(c.prog)
}

struct Compiler<'s> {
    inputs: &'s Inputs<'s>,
    prog: Program,
    /// Registers already loaded from an input, by (input, start).
    loads: HashMap<(Input, usize), usize>,
}

const FUNCTIONS: &[&str] = &[
    "exp", "log", "tanh", "sqrt", "abs", "sin", "cos", "sum", "sparse", "zeros", "ones", "eye",
];

impl<'s> Compiler<'s> {
    fn shape(&self, val: &Val) -> Shape {
        match val {
            Val::Const(m) => (m.rows, m.cols),
            Val::Reg(r) => self.prog.regs[*r].shape(),
        }
    }

    fn materialize(&mut self, val: Val) -> usize {
        match val {
            Val::Reg(r) => r,
            Val::Const(m) => {
                let reg = self.prog.alloc((m.rows, m.cols));
                self.prog.consts.push((reg, m.data));
                reg
            }
        }
    }

    fn load(&mut self, input: Input, start: usize, shape: Shape) -> Val {
        if let Some(reg) = self.loads.get(&(input, start)) {
            if self.prog.regs[*reg].shape() == shape {
                return Val::Reg(*reg);
            }
        }
        let dst = self.prog.alloc(shape);
        self.prog.insts.push(Inst::Load { input, start, dst });
        self.loads.insert((input, start), dst);
        Val::Reg(dst)
    }

    fn layout_item(&mut self, node: &'s LayoutNode) -> Item<'s> {
        match node {
            LayoutNode::Matrix { rows, cols, offset } => {
                Item::Val(self.load(Input::P, *offset, (*rows, *cols)))
            }
            LayoutNode::Struct(fields) => Item::Struct(fields),
        }
    }

    /// A node that must be a matrix.
    fn val(&mut self, node: &Node, end: Option<usize>) -> Result<Val, ExprError> {
        match self.item(node, end)? {
            Item::Val(v) => Ok(v),
            Item::Struct(_) => Err(ExprError::StructNotMatrix { pos: node.pos }),
        }
    }

    /// A node that must be a constant matrix.
    fn constant(
        &mut self,
        node: &Node,
        end: Option<usize>,
        what: &'static str,
    ) -> Result<Mat, ExprError> {
        match self.val(node, end)? {
            Val::Const(m) => Ok(m),
            Val::Reg(_) => Err(ExprError::NotConstant {
                what,
                pos: node.pos,
            }),
        }
    }

    fn item(&mut self, node: &Node, end: Option<usize>) -> Result<Item<'s>, ExprError> {
        let pos = node.pos;
        Ok(Item::Val(match &node.kind {
            NodeKind::Num(value) => Val::Const(Mat::scalar(*value)),
            NodeKind::Name(name) => return self.name(name, pos, end),
            NodeKind::Field(target, field) => {
                let fields = match self.item(target, end)? {
                    Item::Struct(fields) => fields,
                    Item::Val(_) => {
                        return Err(ExprError::UnknownField {
                            field: field.clone(),
                            pos,
                        })
                    }
                };
                return match fields.iter().find(|(name, _)| name == field) {
                    Some((_, child)) => Ok(self.layout_item(child)),
                    None => Err(ExprError::UnknownField {
                        field: field.clone(),
                        pos,
                    }),
                };
            }
            NodeKind::Apply(target, args) => {
                if let NodeKind::Name(name) = &target.kind {
                    if !matches!(name.as_str(), "x" | "v" | "P") {
                        return Ok(Item::Val(self.call(name, target.pos, args)?));
                    }
                }
                let target = self.val(target, end)?;
                self.index(target, args, pos)?
            }
            NodeKind::Colon => {
                return Err(ExprError::Unsupported {
                    what: "`:` outside an index".into(),
                    pos,
                })
            }
            NodeKind::Neg(operand) => {
                let a = self.val(operand, end)?;
                self.neg(a)
            }
            NodeKind::Binary(op, lhs, rhs) => {
                let a = self.val(lhs, end)?;
                let b = self.val(rhs, end)?;
                self.binary(*op, a, b, pos)?
            }
            NodeKind::Transpose(operand) => {
                let a = self.val(operand, end)?;
                self.transpose(a)
            }
            NodeKind::Range(start, step, stop) => {
                let start = self.range_part(start, end)?;
                let step = match step {
                    Some(step) => self.range_part(step, end)?,
                    None => 1.0,
                };
                let stop = self.range_part(stop, end)?;
                Val::Const(range(start, step, stop))
            }
            NodeKind::Matrix(rows) => self.matrix(rows, end)?,
        }))
    }

    fn name(&mut self, name: &str, pos: usize, end: Option<usize>) -> Result<Item<'s>, ExprError> {
        let inputs = self.inputs;
        Ok(Item::Val(match name {
            "x" => self.load(Input::X, 0, inputs.x),
            "v" => self.load(Input::V, 0, inputs.v),
            "P" => return Ok(self.layout_item(&inputs.p.root)),
            "pi" => Val::Const(Mat::scalar(std::f64::consts::PI)),
            "eps" => Val::Const(Mat::scalar(f64::EPSILON)),
            "end" => match end {
                Some(n) => Val::Const(Mat::scalar(n as f64)),
                None => {
                    return Err(ExprError::Unsupported {
                        what: "`end` outside an index".into(),
                        pos,
                    })
                }
            },
            _ if FUNCTIONS.contains(&name) => self.call(name, pos, &[])?,
            _ => {
                return Err(ExprError::UnknownName {
                    name: name.into(),
                    pos,
                })
            }
        }))
    }

    fn range_part(&mut self, node: &Node, end: Option<usize>) -> Result<f64, ExprError> {
        let m = self.constant(node, end, "a range bound")?;
        match m.data.first() {
            Some(value) => Ok(*value),
            // MATLAB: a range from an empty bound is empty; refuse instead
            None => Err(ExprError::Unsupported {
                what: "empty range bound".into(),
                pos: node.pos,
            }),
        }
    }

    // ----- operations ------------------------------------------------------

    fn neg(&mut self, a: Val) -> Val {
        match a {
            Val::Const(mut m) => {
                m.data.iter_mut().for_each(|x| *x = -*x);
                Val::Const(m)
            }
            Val::Reg(src) => {
                let dst = self.prog.alloc(self.prog.regs[src].shape());
                self.prog.insts.push(Inst::Neg { src, dst });
                Val::Reg(dst)
            }
        }
    }

    fn transpose(&mut self, a: Val) -> Val {
        let (rows, cols) = self.shape(&a);
        match a {
            Val::Const(m) => {
                let mut out = Mat::filled(cols, rows, 0.0);
                tape::transpose(
                    Dims::value(),
                    (rows, cols),
                    &m.data,
                    Act::default(),
                    &mut out.data,
                );
                Val::Const(out)
            }
            Val::Reg(src) => {
                if rows == 1 || cols == 1 {
                    // a vector's transpose is the same data with a new shape
                    return Val::Reg(self.prog.alias(src, (cols, rows), 0));
                }
                let dst = self.prog.alloc((cols, rows));
                self.prog.insts.push(Inst::Transpose { src, dst });
                Val::Reg(dst)
            }
        }
    }

    fn fun(&mut self, f: Fun, a: Val) -> Val {
        match a {
            Val::Const(mut m) => {
                m.data.iter_mut().for_each(|x| *x = f.eval(*x).0);
                Val::Const(m)
            }
            Val::Reg(src) => {
                let dst = self.prog.alloc(self.prog.regs[src].shape());
                self.prog.insts.push(Inst::Fun { f, src, dst });
                Val::Reg(dst)
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: Val, b: Val, pos: usize) -> Result<Val, ExprError> {
        let (sa, sb) = (self.shape(&a), self.shape(&b));
        let is_scalar = |s: Shape| s == (1, 1);
        let mismatch = |op: BinOp| ExprError::DimensionMismatch {
            op: op.symbol(),
            pos,
            left: sa,
            right: sb,
        };
        match op {
            BinOp::Add => self.elementwise(ElOp::Add, a, b, pos, op),
            BinOp::Sub => self.elementwise(ElOp::Sub, a, b, pos, op),
            BinOp::ElMul => self.elementwise(ElOp::Mul, a, b, pos, op),
            BinOp::ElDiv => self.elementwise(ElOp::Div, a, b, pos, op),
            BinOp::ElPow => self.power(a, b, pos, op),
            BinOp::MatMul => {
                if is_scalar(sa) || is_scalar(sb) {
                    return self.elementwise(ElOp::Mul, a, b, pos, op);
                }
                if sa.1 != sb.0 {
                    return Err(mismatch(op));
                }
                let out = (sa.0, sb.1);
                if let (Val::Const(ma), Val::Const(mb)) = (&a, &b) {
                    let mut m = Mat::filled(out.0, out.1, 0.0);
                    let none = Act::default();
                    tape::matmul(
                        Dims::value(),
                        (sa, &ma.data, none),
                        (sb, &mb.data, none),
                        &mut m.data,
                    );
                    return Ok(Val::Const(m));
                }
                let (ra, rb) = (self.materialize(a), self.materialize(b));
                let dst = self.prog.alloc(out);
                self.prog.insts.push(Inst::MatMul { a: ra, b: rb, dst });
                Ok(Val::Reg(dst))
            }
            BinOp::MatDiv => {
                if is_scalar(sb) {
                    return self.elementwise(ElOp::Div, a, b, pos, op);
                }
                Err(ExprError::Unsupported {
                    what: "matrix right division `/` by a non-scalar".into(),
                    pos,
                })
            }
            BinOp::MatPow => {
                if is_scalar(sa) && is_scalar(sb) {
                    return self.power(a, b, pos, op);
                }
                let exponent = match &b {
                    Val::Const(m) if is_scalar(sb) => m.data[0],
                    _ => {
                        return Err(ExprError::Unsupported {
                            what: "matrix power `^` other than square matrix ^ constant non-negative integer".into(),
                            pos,
                        })
                    }
                };
                if sa.0 != sa.1 {
                    return Err(mismatch(op));
                }
                if exponent < 0.0 || exponent != exponent.trunc() || exponent > 64.0 {
                    return Err(ExprError::Unsupported {
                        what: format!("matrix power with exponent {exponent}"),
                        pos,
                    });
                }
                if exponent == 0.0 {
                    return Ok(Val::Const(identity(sa.0, sa.0)));
                }
                let mut result = a.clone();
                for _ in 1..exponent as usize {
                    result = self.binary(BinOp::MatMul, result, a.clone(), pos)?;
                }
                Ok(result)
            }
        }
    }

    fn power(&mut self, a: Val, b: Val, pos: usize, op: BinOp) -> Result<Val, ExprError> {
        if let Val::Const(m) = &b {
            if m.rows * m.cols == 1 {
                return Ok(self.fun(Fun::PowConst(m.data[0]), a));
            }
        }
        self.elementwise(ElOp::Pow, a, b, pos, op)
    }

    fn elementwise(
        &mut self,
        op: ElOp,
        a: Val,
        b: Val,
        pos: usize,
        bin: BinOp,
    ) -> Result<Val, ExprError> {
        let (sa, sb) = (self.shape(&a), self.shape(&b));
        let out = broadcast(sa, sb).ok_or(ExprError::DimensionMismatch {
            op: bin.symbol(),
            pos,
            left: sa,
            right: sb,
        })?;
        if let (Val::Const(ma), Val::Const(mb)) = (&a, &b) {
            let mut m = Mat::filled(out.0, out.1, 0.0);
            let mut scratch = [0.0; 2];
            let none = Act::default();
            let operands = (
                (sa, ma.data.as_slice(), none),
                (sb, mb.data.as_slice(), none),
            );
            tape::elementwise(Dims::value(), op, operands, out, &mut m.data, &mut scratch);
            return Ok(Val::Const(m));
        }
        let (ra, rb) = (self.materialize(a), self.materialize(b));
        let dst = self.prog.alloc(out);
        self.prog.insts.push(Inst::Elementwise {
            op,
            a: ra,
            b: rb,
            dst,
        });
        Ok(Val::Reg(dst))
    }

    /// `dst[k] = sources[k]`, over values that may be constants or registers.
    fn gather(&mut self, shape: Shape, parts: &[Val], sources: Vec<(usize, usize)>) -> Val {
        if parts.iter().all(|p| matches!(p, Val::Const(_))) {
            let data = sources
                .iter()
                .map(|(part, k)| match &parts[*part] {
                    Val::Const(m) => m.data[*k],
                    Val::Reg(_) => unreachable!("all parts are constants"),
                })
                .collect();
            return Val::Const(Mat {
                rows: shape.0,
                cols: shape.1,
                data,
            });
        }
        if let [Val::Reg(src)] = parts {
            // a run of consecutive elements (x(2), P(3,:), x(2:3), A(:,2),
            // x(:)) is a view of the register: no instruction, no copy
            let first = sources.first().map_or(0, |(_, idx)| *idx);
            let consecutive = sources
                .iter()
                .enumerate()
                .all(|(k, (_, idx))| *idx == first + k);
            if consecutive {
                return Val::Reg(self.prog.alias(*src, shape, first));
            }
        }
        let regs: Vec<usize> = parts.iter().map(|p| self.materialize(p.clone())).collect();
        let dst = self.prog.alloc(shape);
        let sources = sources
            .into_iter()
            .map(|(part, k)| (regs[part], k))
            .collect();
        self.prog.insts.push(Inst::Gather { dst, sources });
        Val::Reg(dst)
    }

    // ----- indexing ----------------------------------------------------------

    fn index(&mut self, target: Val, args: &[Node], pos: usize) -> Result<Val, ExprError> {
        let (rows, cols) = self.shape(&target);
        match args.len() {
            0 => Ok(target),
            1 => {
                let n = rows * cols;
                let (indices, index_shape) = self.subscript(&args[0], n, (rows, cols))?;
                let k = indices.len();
                let is_vector = |s: Shape| s.0 == 1 || s.1 == 1;
                let shape = if args[0].kind == NodeKind::Colon {
                    (n, 1)
                } else if is_vector((rows, cols))
                    && (rows, cols) != (1, 1)
                    && is_vector(index_shape)
                {
                    if rows == 1 {
                        (1, k)
                    } else {
                        (k, 1)
                    }
                } else {
                    index_shape
                };
                let sources = indices.into_iter().map(|i| (0, i)).collect();
                Ok(self.gather(shape, &[target], sources))
            }
            2 => {
                let (row_idx, _) = self.subscript(&args[0], rows, (rows, cols))?;
                let (col_idx, _) = self.subscript(&args[1], cols, (rows, cols))?;
                let shape = (row_idx.len(), col_idx.len());
                let mut sources = Vec::with_capacity(shape.0 * shape.1);
                for j in &col_idx {
                    for i in &row_idx {
                        sources.push((0, i + j * rows));
                    }
                }
                Ok(self.gather(shape, &[target], sources))
            }
            _ => Err(ExprError::Unsupported {
                what: "indexing with more than two subscripts".into(),
                pos,
            }),
        }
    }

    /// 0-based positions selected by one subscript over a dimension of
    /// length `n`, and the subscript's shape.
    fn subscript(
        &mut self,
        arg: &Node,
        n: usize,
        target: Shape,
    ) -> Result<(Vec<usize>, Shape), ExprError> {
        if arg.kind == NodeKind::Colon {
            return Ok(((0..n).collect(), (n, 1)));
        }
        let m = self.constant(arg, Some(n), "an index")?;
        let mut indices = Vec::with_capacity(m.data.len());
        for value in &m.data {
            if !(*value >= 1.0 && *value == value.trunc()) {
                return Err(ExprError::NotAnInteger {
                    what: "an index",
                    expected: "positive integer",
                    value: *value,
                    pos: arg.pos,
                });
            }
            let index = *value as usize;
            if index > n {
                return Err(ExprError::IndexOutOfBounds {
                    index,
                    shape: target,
                    pos: arg.pos,
                });
            }
            indices.push(index - 1);
        }
        Ok((indices, (m.rows, m.cols)))
    }

    // ----- matrix literals -----------------------------------------------------

    fn matrix(
        &mut self,
        rows: &[Vec<(usize, Node)>],
        end: Option<usize>,
    ) -> Result<Val, ExprError> {
        let mut parts: Vec<Val> = Vec::new();
        // per row: (rows of the row, its blocks as (part, cols))
        let mut block_rows: Vec<(usize, Vec<(usize, usize)>)> = Vec::new();
        let mut n_cols: Option<(usize, usize)> = None; // (cols, position of first row)
        for row in rows {
            let mut height: Option<usize> = None;
            let mut blocks = Vec::new();
            let mut width = 0;
            let mut first_pos = 0;
            for (start, element) in row {
                let val = self.val(element, end)?;
                let shape = self.shape(&val);
                if shape == (0, 0) {
                    continue; // MATLAB ignores [] in concatenation
                }
                match height {
                    None => {
                        height = Some(shape.0);
                        first_pos = *start;
                    }
                    Some(h) if h != shape.0 => {
                        return Err(ExprError::DimensionMismatch {
                            op: "horizontal concatenation",
                            pos: *start,
                            left: (h, width),
                            right: shape,
                        })
                    }
                    Some(_) => {}
                }
                width += shape.1;
                blocks.push((parts.len(), shape.1));
                parts.push(val);
            }
            let Some(height) = height else { continue };
            match n_cols {
                None => n_cols = Some((width, first_pos)),
                Some((c, _)) if c != width => {
                    let above: usize = block_rows.iter().map(|(h, _)| h).sum();
                    return Err(ExprError::DimensionMismatch {
                        op: "vertical concatenation",
                        pos: first_pos,
                        left: (above, c),
                        right: (height, width),
                    });
                }
                Some(_) => {}
            }
            block_rows.push((height, blocks));
        }
        let Some((total_cols, _)) = n_cols else {
            return Ok(Val::Const(Mat::filled(0, 0, 0.0)));
        };
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one part"));
        }
        let total_rows: usize = block_rows.iter().map(|(h, _)| h).sum();
        let mut sources = vec![(0, 0); total_rows * total_cols];
        let mut row0 = 0;
        for (height, blocks) in &block_rows {
            let mut col0 = 0;
            for (part, width) in blocks {
                for j in 0..*width {
                    for i in 0..*height {
                        sources[(row0 + i) + (col0 + j) * total_rows] = (*part, i + j * height);
                    }
                }
                col0 += width;
            }
            row0 += height;
        }
        Ok(self.gather((total_rows, total_cols), &parts, sources))
    }

    // ----- functions -------------------------------------------------------------

    fn call(&mut self, name: &str, pos: usize, args: &[Node]) -> Result<Val, ExprError> {
        let count = |expected: &'static str| ExprError::ArgumentCount {
            name: name.into(),
            expected,
            found: args.len(),
            pos,
        };
        let unary = match name {
            "exp" => Some(Fun::Exp),
            "log" => Some(Fun::Log),
            "tanh" => Some(Fun::Tanh),
            "sqrt" => Some(Fun::Sqrt),
            "abs" => Some(Fun::Abs),
            "sin" => Some(Fun::Sin),
            "cos" => Some(Fun::Cos),
            _ => None,
        };
        if let Some(f) = unary {
            if args.len() != 1 {
                return Err(count("1"));
            }
            let a = self.val(&args[0], None)?;
            return Ok(self.fun(f, a));
        }
        match name {
            "sum" => {
                if args.is_empty() || args.len() > 2 {
                    return Err(count("1 or 2"));
                }
                let a = self.val(&args[0], None)?;
                let (rows, cols) = self.shape(&a);
                let dim = if args.len() == 2 {
                    let d = self.size_arg(&args[1], "a dimension")?;
                    if d != 1 && d != 2 {
                        return Err(ExprError::Unsupported {
                            what: format!("sum along dimension {d}"),
                            pos: args[1].pos,
                        });
                    }
                    d as u8
                } else if (rows, cols) == (0, 0) {
                    // MATLAB: sum([]) is 0
                    return Ok(Val::Const(Mat::scalar(0.0)));
                } else if rows == 1 {
                    2
                } else {
                    1
                };
                let out = if dim == 1 { (1, cols) } else { (rows, 1) };
                Ok(match a {
                    Val::Const(m) => {
                        let mut s = Mat::filled(out.0, out.1, 0.0);
                        tape::sum(
                            Dims::value(),
                            (rows, cols),
                            &m.data,
                            Act::default(),
                            dim,
                            &mut s.data,
                        );
                        Val::Const(s)
                    }
                    Val::Reg(src) => {
                        let dst = self.prog.alloc(out);
                        self.prog.insts.push(Inst::Sum { src, dst, dim });
                        Val::Reg(dst)
                    }
                })
            }
            "sparse" => match args.len() {
                1 => self.val(&args[0], None),
                2 => {
                    let (rows, cols) = self.size_args(args)?;
                    Ok(Val::Const(Mat::filled(rows, cols, 0.0)))
                }
                _ => Err(count("1 or 2")),
            },
            "zeros" | "ones" | "eye" => {
                if args.len() > 2 {
                    return Err(count("0, 1 or 2"));
                }
                let (rows, cols) = self.size_args(args)?;
                Ok(Val::Const(match name {
                    "zeros" => Mat::filled(rows, cols, 0.0),
                    "ones" => Mat::filled(rows, cols, 1.0),
                    _ => identity(rows, cols),
                }))
            }
            _ => Err(ExprError::UnknownName {
                name: name.into(),
                pos,
            }),
        }
    }

    /// Sizes as MATLAB's `zeros` takes them: `()`, `(n)`, `([m n])`, `(m, n)`.
    fn size_args(&mut self, args: &[Node]) -> Result<(usize, usize), ExprError> {
        match args {
            [] => Ok((1, 1)),
            [one] => {
                let m = self.constant(one, None, "a size")?;
                match m.data.as_slice() {
                    [n] => {
                        let n = to_size(*n, one.pos)?;
                        Ok((n, n))
                    }
                    [r, c] => Ok((to_size(*r, one.pos)?, to_size(*c, one.pos)?)),
                    _ => Err(ExprError::Unsupported {
                        what: "size vector with other than 1 or 2 elements".into(),
                        pos: one.pos,
                    }),
                }
            }
            [r, c] => Ok((self.size_arg(r, "a size")?, self.size_arg(c, "a size")?)),
            _ => unreachable!("callers check the argument count"),
        }
    }

    fn size_arg(&mut self, node: &Node, what: &'static str) -> Result<usize, ExprError> {
        let m = self.constant(node, None, what)?;
        match m.data.as_slice() {
            [n] => to_size(*n, node.pos),
            _ => Err(ExprError::NotConstant {
                what,
                pos: node.pos,
            }),
        }
    }
}

fn to_size(value: f64, pos: usize) -> Result<usize, ExprError> {
    if value >= 0.0 && value == value.trunc() && value < 1e9 {
        Ok(value as usize)
    } else {
        Err(ExprError::NotAnInteger {
            what: "a size",
            expected: "non-negative integer",
            value,
            pos,
        })
    }
}

fn identity(rows: usize, cols: usize) -> Mat {
    let mut m = Mat::filled(rows, cols, 0.0);
    for i in 0..rows.min(cols) {
        m.data[i + i * rows] = 1.0;
    }
    m
}

/// MATLAB's `start:step:stop` as a row vector.
fn range(start: f64, step: f64, stop: f64) -> Mat {
    let n = if step == 0.0 || (stop - start) / step < 0.0 || !((stop - start) / step).is_finite() {
        0
    } else {
        ((stop - start) / step + 1e-10).floor() as usize + 1
    };
    Mat {
        rows: 1,
        cols: n,
        data: (0..n).map(|k| start + step * k as f64).collect(),
    }
}

/// Result shape of an element-wise operation under MATLAB's expansion of
/// singleton dimensions, or `None` if the shapes are incompatible.
fn broadcast(a: Shape, b: Shape) -> Option<Shape> {
    let dim = |x: usize, y: usize| {
        if x == y {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else if y == 1 {
            Some(x)
        } else {
            None
        }
    };
    Some((dim(a.0, b.0)?, dim(a.1, b.1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_matlab() {
        assert_eq!(broadcast((2, 1), (1, 1)), Some((2, 1)));
        assert_eq!(broadcast((2, 1), (1, 3)), Some((2, 3)));
        assert_eq!(broadcast((2, 1), (3, 1)), None);
        assert_eq!(broadcast((1, 1), (0, 0)), Some((0, 0)));
    }

    #[test]
    fn ranges_follow_matlab() {
        assert_eq!(range(1.0, 1.0, 3.0).data, vec![1.0, 2.0, 3.0]);
        assert_eq!(range(3.0, -1.0, 1.0).data, vec![3.0, 2.0, 1.0]);
        assert_eq!(range(0.0, 0.1, 0.3).data.len(), 4);
        assert_eq!(range(2.0, 1.0, 1.0).data.len(), 0);
    }
}
