//! The derivative (block shift) operator of generalized coordinates, and the
//! Kronecker product.
//!
//! A generalized vector holds a quantity and its motion, order-major:
//! `x̃ = [x, x′, x″, …, x^(n−1)]`, each block `dims` long. The derivative
//! operator `D` moves every order up one, `D x̃ = [x′, x″, …, x^(n−1), 0]`,
//! so that a trajectory consistent with its own motion satisfies
//! `dx̃/dt = D x̃` (Friston, Trujillo-Barreto & Daunizeau 2008, "DEM: a
//! variational treatment of dynamic systems"; Friston 2008,
//! "Hierarchical models in the brain"; SPM12's
//! `kron(spm_speye(n, n, 1), speye(dims))`).

use nalgebra::DMatrix;

/// The derivative operator on generalized vectors of `n` orders of a
/// `dims`-dimensional quantity laid out order-major:
///
/// ```text
/// D = S_n ⊗ I_dims,   (S_n)_ij = 1 if j = i + 1, else 0,
/// D [x, x′, …, x^(n−1)] = [x′, x″, …, x^(n−1), 0]
/// ```
///
/// (Friston, Trujillo-Barreto & Daunizeau 2008). `D` is nilpotent,
/// `Dⁿ = 0`; an `(n·dims) × (n·dims)` matrix, empty when `n` or `dims` is 0.
pub fn derivative_operator(n: usize, dims: usize) -> DMatrix<f64> {
    let size = n * dims;
    let mut d = DMatrix::zeros(size, size);
    for i in 0..size.saturating_sub(dims) {
        d[(i, i + dims)] = 1.0;
    }
    d
}

/// The Kronecker product `A ⊗ B`: the `(p·r) × (q·s)` block matrix whose
/// block `(i, j)` is `A_ij B` (for `A` `p × q`, `B` `r × s`). With `A` an
/// `n × n` temporal matrix and `B` a `d × d` one, it acts on order-major
/// generalized vectors: `Π̃ = R ⊗ Π`, `D = S_n ⊗ I_d` (Friston 2008,
/// "Hierarchical models in the brain").
pub fn kron(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let (p, q) = a.shape();
    let (r, s) = b.shape();
    let mut out = DMatrix::zeros(p * r, q * s);
    for j in 0..q {
        for i in 0..p {
            let aij = a[(i, j)];
            if aij == 0.0 {
                continue;
            }
            out.view_mut((i * r, j * s), (r, s))
                .zip_apply(b, |o, bv| *o = aij * bv);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;

    #[test]
    fn shifts_orders_up() {
        let d = derivative_operator(3, 2);
        let x = DVector::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(d * x, DVector::from_vec(vec![3.0, 4.0, 5.0, 6.0, 0.0, 0.0]));
    }

    #[test]
    fn nilpotent_and_empty() {
        let d = derivative_operator(4, 3);
        let mut p = DMatrix::identity(12, 12);
        for _ in 0..4 {
            p = &p * &d;
        }
        assert!(p.iter().all(|&x| x == 0.0));
        assert_eq!(derivative_operator(0, 3).shape(), (0, 0));
        assert_eq!(derivative_operator(1, 2), DMatrix::zeros(2, 2));
    }

    #[test]
    fn kron_matches_definition() {
        let a = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 0.0, -1.0, 0.5, 3.0]);
        let b = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let k = kron(&a, &b);
        assert_eq!(k.shape(), (4, 6));
        for i in 0..2 {
            for j in 0..3 {
                for r in 0..2 {
                    for s in 0..2 {
                        assert_eq!(k[(i * 2 + r, j * 2 + s)], a[(i, j)] * b[(r, s)]);
                    }
                }
            }
        }
        let s = DMatrix::from_fn(3, 3, |i, j| if j == i + 1 { 1.0 } else { 0.0 });
        assert_eq!(
            kron(&s, &DMatrix::identity(2, 2)),
            derivative_operator(3, 2)
        );
    }
}
