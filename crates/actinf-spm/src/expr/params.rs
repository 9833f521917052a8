//! The parameter structure `P` and its vectorisation.
//!
//! DEM perturbs parameters as one vector, `spm_vec(P)`, and rebuilds `P` with
//! `spm_unvec` before calling `f` and `g`. So an expression is compiled against
//! the *layout* of `P` (its field names and shapes) and evaluated on a flat
//! vector in `spm_vec` order: fields in order of appearance, nested structures
//! depth first, each matrix column-major.

use super::error::ExprError;

/// A parameter value as SPM's `pE` holds it: a matrix or a structure of
/// named parameters (which may nest).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A real matrix, `data` column-major (`data[i + j * rows]` = `M(i+1, j+1)`).
    Matrix {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
        /// Elements, column-major.
        data: Vec<f64>,
    },
    /// A structure: fields in order of appearance.
    Struct(Vec<(String, Param)>),
}

impl Param {
    /// A matrix from column-major data.
    pub fn matrix(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, ExprError> {
        if data.len() != rows * cols {
            return Err(ExprError::InvalidParams {
                reason: format!(
                    "a {rows}x{cols} matrix needs {} elements, got {}",
                    rows * cols,
                    data.len()
                ),
            });
        }
        Ok(Param::Matrix { rows, cols, data })
    }

    /// A matrix from a list of rows (the fixtures' JSON layout: `M[i][j]` =
    /// `M(i+1, j+1)`). No rows is SPM's empty `[]` (0×0).
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, ExprError> {
        let n_rows = rows.len();
        let n_cols = rows.first().map_or(0, Vec::len);
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != n_cols) {
            return Err(ExprError::InvalidParams {
                reason: format!(
                    "row {} has {} elements, row 1 has {n_cols}",
                    i + 1,
                    row.len()
                ),
            });
        }
        let mut data = vec![0.0; n_rows * n_cols];
        for (i, row) in rows.iter().enumerate() {
            for (j, value) in row.iter().enumerate() {
                data[i + j * n_rows] = *value;
            }
        }
        Ok(Param::Matrix {
            rows: n_rows,
            cols: n_cols,
            data,
        })
    }

    /// A column vector.
    pub fn column(data: Vec<f64>) -> Self {
        Param::Matrix {
            rows: data.len(),
            cols: 1,
            data,
        }
    }

    /// A structure; field names must be distinct.
    pub fn structure(fields: Vec<(String, Param)>) -> Result<Self, ExprError> {
        for (i, (name, _)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(other, _)| other == name) {
                return Err(ExprError::InvalidParams {
                    reason: format!("field {name:?} appears twice"),
                });
            }
        }
        Ok(Param::Struct(fields))
    }

    /// `spm_vec(P)`: fields in order, depth first, matrices column-major.
    pub fn spm_vec(&self) -> Vec<f64> {
        let mut out = Vec::new();
        self.push_vec(&mut out);
        out
    }

    fn push_vec(&self, out: &mut Vec<f64>) {
        match self {
            Param::Matrix { data, .. } => out.extend_from_slice(data),
            Param::Struct(fields) => fields.iter().for_each(|(_, p)| p.push_vec(out)),
        }
    }

    /// The layout (names, shapes, offsets into `spm_vec(P)`) of this value.
    pub fn layout(&self) -> ParamLayout {
        let mut offset = 0;
        let root = layout_of(self, &mut offset);
        ParamLayout { root, len: offset }
    }
}

fn layout_of(param: &Param, offset: &mut usize) -> LayoutNode {
    match param {
        Param::Matrix { rows, cols, .. } => {
            let node = LayoutNode::Matrix {
                rows: *rows,
                cols: *cols,
                offset: *offset,
            };
            *offset += rows * cols;
            node
        }
        Param::Struct(fields) => LayoutNode::Struct(
            fields
                .iter()
                .map(|(name, p)| (name.clone(), layout_of(p, offset)))
                .collect(),
        ),
    }
}

/// Where each part of `P` lies in `spm_vec(P)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamLayout {
    pub(crate) root: LayoutNode,
    len: usize,
}

/// A node of a [`ParamLayout`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LayoutNode {
    Matrix {
        rows: usize,
        cols: usize,
        offset: usize,
    },
    Struct(Vec<(String, LayoutNode)>),
}

impl ParamLayout {
    /// The layout of SPM's empty parameters `[]` (a 0×0 matrix).
    pub fn empty() -> Self {
        ParamLayout {
            root: LayoutNode::Matrix {
                rows: 0,
                cols: 0,
                offset: 0,
            },
            len: 0,
        }
    }

    /// Length of `spm_vec(P)`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether `spm_vec(P)` is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `spm_unvec(p, P)`: the structured value of a flat parameter vector.
    pub fn unvec(&self, p: &[f64]) -> Result<Param, ExprError> {
        if p.len() != self.len {
            return Err(ExprError::InputLength {
                input: "P",
                expected: self.len,
                found: p.len(),
            });
        }
        Ok(unvec_node(&self.root, p))
    }
}

fn unvec_node(node: &LayoutNode, p: &[f64]) -> Param {
    match node {
        LayoutNode::Matrix { rows, cols, offset } => Param::Matrix {
            rows: *rows,
            cols: *cols,
            data: p[*offset..offset + rows * cols].to_vec(),
        },
        LayoutNode::Struct(fields) => Param::Struct(
            fields
                .iter()
                .map(|(name, child)| (name.clone(), unvec_node(child, p)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spm_vec_is_fields_in_order_each_column_major() {
        let p = Param::structure(vec![
            (
                "f".into(),
                Param::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap(),
            ),
            ("h".into(), Param::column(vec![5.0, 6.0])),
        ])
        .unwrap();
        assert_eq!(p.spm_vec(), vec![1.0, 3.0, 2.0, 4.0, 5.0, 6.0]);
        let layout = p.layout();
        assert_eq!(layout.len(), 6);
        assert_eq!(layout.unvec(&p.spm_vec()).unwrap(), p);
    }

    #[test]
    fn bad_structures_are_refused() {
        assert!(Param::structure(vec![
            ("a".into(), Param::column(vec![1.0])),
            ("a".into(), Param::column(vec![2.0])),
        ])
        .is_err());
        assert!(Param::from_rows(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(Param::matrix(2, 2, vec![1.0]).is_err());
        assert_eq!(
            ParamLayout::empty().unvec(&[1.0]),
            Err(ExprError::InputLength {
                input: "P",
                expected: 0,
                found: 1
            })
        );
    }
}
