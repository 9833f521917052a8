//! What a node's moments look like to its children.
//!
//! Conjugacy is a contract between a child and a parent: the child's
//! log-density must be linear in the parent's sufficient statistics. A
//! [`Kind`] names those statistics, so the graph can check each edge at
//! construction and refuse a non-conjugate pairing with a clear error.

use actinf_core::maths::ln_gamma;

/// The sufficient statistics `u` a node exposes, per plate element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Gaussian vector of dimension D: `u = [x (D), x xᵀ (D×D)]`.
    Gaussian(usize),
    /// A positive scalar: `u = [x, ln x]`.
    Gamma,
    /// A D×D positive-definite matrix: `u = [Λ (D×D), ln|Λ|]`.
    Wishart(usize),
    /// A probability vector of K entries: `u = [ln p (K)]`.
    Dirichlet(usize),
    /// One of K categories: `u = [p (K)]`.
    Categorical(usize),
}

impl Kind {
    /// Number of values per plate element of each moment part.
    pub fn part_dims(&self) -> Vec<usize> {
        match *self {
            Kind::Gaussian(d) => vec![d, d * d],
            Kind::Gamma => vec![1, 1],
            Kind::Wishart(d) => vec![d * d, 1],
            Kind::Dirichlet(k) | Kind::Categorical(k) => vec![k],
        }
    }

    /// Number of values per plate element of a concrete value (data or a
    /// constant parent): D, 1, D×D, K, and 1 (a category index).
    pub fn value_dim(&self) -> usize {
        match *self {
            Kind::Gaussian(d) => d,
            Kind::Gamma => 1,
            Kind::Wishart(d) => d * d,
            Kind::Dirichlet(k) => k,
            Kind::Categorical(_) => 1,
        }
    }

    /// The moments `u(x)` of concrete values (one per plate element), or the
    /// flat index of the first value outside the support.
    pub fn moments_of_values(&self, values: &[f64], n: usize) -> Result<Vec<Vec<f64>>, usize> {
        let dims = self.part_dims();
        let mut parts: Vec<Vec<f64>> = dims.iter().map(|&d| Vec::with_capacity(n * d)).collect();
        let vd = self.value_dim();
        for i in 0..n {
            let x = &values[i * vd..(i + 1) * vd];
            if let Some(k) = x.iter().position(|v| !v.is_finite()) {
                return Err(i * vd + k);
            }
            match *self {
                Kind::Gaussian(d) => {
                    parts[0].extend_from_slice(x);
                    for a in 0..d {
                        for b in 0..d {
                            parts[1].push(x[a] * x[b]);
                        }
                    }
                }
                Kind::Gamma => {
                    if x[0] <= 0.0 {
                        return Err(i);
                    }
                    parts[0].push(x[0]);
                    parts[1].push(x[0].ln());
                }
                Kind::Wishart(d) => {
                    // Cholesky reads one triangle only: refuse an asymmetric
                    // matrix rather than silently using half of it.
                    for a in 0..d {
                        for b in 0..a {
                            let (p, q) = (x[a * d + b], x[b * d + a]);
                            if (p - q).abs() > 1e-12 * p.abs().max(q.abs()).max(1.0) {
                                return Err(i * vd + a * d + b);
                            }
                        }
                    }
                    let logdet = logdet_spd(x, d).ok_or(i * vd)?;
                    parts[0].extend_from_slice(x);
                    parts[1].push(logdet);
                }
                Kind::Dirichlet(_) => {
                    if let Some(k) = x.iter().position(|&v| v < 0.0) {
                        return Err(i * vd + k);
                    }
                    // A probability vector: it must sum to one.
                    if (x.iter().sum::<f64>() - 1.0).abs() > 1e-9 {
                        return Err(i * vd);
                    }
                    parts[0].extend(x.iter().map(|v| v.ln()));
                }
                Kind::Categorical(k) => {
                    let c = x[0];
                    if c < 0.0 || c.fract() != 0.0 || c as usize >= k {
                        return Err(i);
                    }
                    let mut onehot = vec![0.0; k];
                    onehot[c as usize] = 1.0;
                    parts[0].extend_from_slice(&onehot);
                }
            }
        }
        Ok(parts)
    }

    /// A short human name for error messages.
    pub fn describe(&self) -> String {
        match *self {
            Kind::Gaussian(d) => format!("Gaussian moments of dimension {d}"),
            Kind::Gamma => "Gamma moments (x, ln x)".into(),
            Kind::Wishart(d) => format!("Wishart moments of dimension {d}"),
            Kind::Dirichlet(k) => format!("Dirichlet moments over {k} categories"),
            Kind::Categorical(k) => format!("categorical moments over {k} categories"),
        }
    }
}

/// `ln Γ` re-exported for the families.
pub(crate) fn lgamma(x: f64) -> f64 {
    ln_gamma(x)
}

/// `ln|X|` of a symmetric positive-definite D×D matrix by Cholesky, or
/// `None` when it is not positive definite.
pub fn logdet_spd(x: &[f64], d: usize) -> Option<f64> {
    let l = cholesky(x, d)?;
    Some(2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>())
}

/// Lower Cholesky factor of a symmetric positive-definite D×D matrix
/// (row-major), or `None`.
pub fn cholesky(x: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = x[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Inverse of a symmetric positive-definite D×D matrix by Cholesky, or `None`.
pub fn spd_inverse(x: &[f64], d: usize) -> Option<Vec<f64>> {
    let l = cholesky(x, d)?;
    // Invert L, then X⁻¹ = L⁻ᵀ L⁻¹.
    let mut li = vec![0.0; d * d];
    for i in 0..d {
        li[i * d + i] = 1.0 / l[i * d + i];
        for j in 0..i {
            let mut s = 0.0;
            for k in j..i {
                s -= l[i * d + k] * li[k * d + j];
            }
            li[i * d + j] = s / l[i * d + i];
        }
    }
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for k in i.max(j)..d {
                s += li[k * d + i] * li[k * d + j];
            }
            inv[i * d + j] = s;
        }
    }
    Some(inv)
}
