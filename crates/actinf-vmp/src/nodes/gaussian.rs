//! A D-dimensional Gaussian vector with a Gaussian mean and a Wishart
//! precision matrix.
//!
//! `ln p(x | μ, Λ) = xᵀΛμ − ½ tr(Λ x xᵀ) − ½ tr(Λ μ μᵀ) + ½ ln|Λ| − (D/2) ln 2π`,
//! so with `u = [x, x xᵀ]` (D and D×D values, row-major):
//!
//! - `φ = [⟨Λ⟩⟨μ⟩, −⟨Λ⟩/2]`, `⟨g⟩ = −½ tr(⟨Λ⟩⟨μμᵀ⟩) + ½⟨ln|Λ|⟩`,
//!   `f = −(D/2) ln 2π`;
//! - moments of `q(x)` with natural parameters `φ`: precision `P = −2φ₁`,
//!   covariance `Σ = P⁻¹`, mean `m = Σφ₀`, `⟨x⟩ = m`, `⟨x xᵀ⟩ = m mᵀ + Σ`,
//!   `g = −½ mᵀφ₀ + ½ ln|P|`;
//! - message to the mean `μ`: `[⟨Λ⟩⟨x⟩, −⟨Λ⟩/2]`;
//! - message to the precision `Λ`:
//!   `[−½(⟨x xᵀ⟩ − ⟨x⟩⟨μ⟩ᵀ − ⟨μ⟩⟨x⟩ᵀ + ⟨μμᵀ⟩), ½]`.
//!
//! Sources: Winn & Bishop (2005), "Variational message passing", JMLR 6,
//! table 1 and §4; Bishop (2006), *PRML* §2.3 and §10.2; BayesPy's
//! `Gaussian(mu, Lambda)` (same `φ`, `g`, `f`).

use std::f64::consts::PI;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::{cholesky, spd_inverse, Kind};

/// `N(x | μ, Λ⁻¹)` of dimension D; parents: mean (Gaussian of dimension D),
/// precision (Wishart of dimension D), nodes or constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gaussian {
    dim: usize,
}

impl Gaussian {
    /// A Gaussian node of dimension `d ≥ 1`.
    pub fn new(d: usize) -> Result<Self, VmpError> {
        Ok(Self {
            dim: super::positive_dimension("Gaussian dimension", d)?,
        })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// Call a row kernel `f::<D>` with the dimension as a constant for
/// D = 1, 2, 3 (so the per-row loops unroll), `f::<0>` (run-time D)
/// otherwise.
macro_rules! with_dim {
    ($d:expr, $f:ident($($arg:expr),*)) => {
        match $d {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}

impl Family for Gaussian {
    fn kind(&self) -> Kind {
        Kind::Gaussian(self.dim)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        vec![Kind::Gaussian(self.dim), Kind::Wishart(self.dim)]
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let d = self.dim;
        let dd = d * d;
        let (mu, mumu) = (&parents[0][0][..n * d], &parents[0][1][..n * dd]);
        let (lam, ln_det) = (&parents[1][0][..n * dd], &parents[1][1][..n]);
        let mut phi0 = vec![0.0; n * d];
        let mut phi1 = vec![0.0; n * dd];
        let mut g = vec![0.0; n];
        with_dim!(
            d,
            prior_rows(d, mu, mumu, lam, ln_det, &mut phi0, &mut phi1, &mut g)
        );
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let d = self.dim;
        let dd = d * d;
        let mut u0 = Vec::with_capacity(n * d);
        let mut u1 = Vec::with_capacity(n * dd);
        let mut g = Vec::with_capacity(n);
        let mut p = vec![0.0; dd];
        for i in 0..n {
            let p1 = &phi[1][i * dd..(i + 1) * dd];
            let p0 = &phi[0][i * d..(i + 1) * d];
            if !p0.iter().chain(p1).all(|v| v.is_finite()) {
                return None;
            }
            // P = −2φ₁, symmetrised (exact for a symmetric φ₁).
            for a in 0..d {
                for b in 0..d {
                    p[a * d + b] = -(p1[a * d + b] + p1[b * d + a]);
                }
            }
            let l = cholesky(&p, d)?;
            let cov = spd_inverse(&p, d)?;
            let m: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * p0[b]).sum())
                .collect();
            let logdet = 2.0 * (0..d).map(|a| l[a * d + a].ln()).sum::<f64>();
            for a in 0..d {
                for b in 0..d {
                    u1.push(m[a] * m[b] + cov[a * d + b]);
                }
            }
            let mphi: f64 = m.iter().zip(p0).map(|(a, b)| a * b).sum();
            g.push(-0.5 * mphi + 0.5 * logdet);
            u0.extend_from_slice(&m);
        }
        Some((vec![u0, u1], g))
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![-0.5 * self.dim as f64 * (2.0 * PI).ln(); n]
    }

    fn message_to_parent(
        &self,
        slot: usize,
        u: &[Vec<f64>],
        parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let d = self.dim;
        let dd = d * d;
        let (x, xx) = (&u[0][..n * d], &u[1][..n * dd]);
        match slot {
            0 => {
                let lam = &parents[1][0][..n * dd];
                let mut m0 = vec![0.0; n * d];
                with_dim!(d, mean_message_rows(d, lam, x, &mut m0));
                let m1 = lam.iter().map(|v| -0.5 * v).collect();
                vec![m0, m1]
            }
            _ => {
                let (mu, mumu) = (&parents[0][0][..n * d], &parents[0][1][..n * dd]);
                let mut m0 = vec![0.0; n * dd];
                with_dim!(d, precision_message_rows(d, x, xx, mu, mumu, &mut m0));
                vec![m0, vec![0.5; n]]
            }
        }
    }
}

/// `D` when it is a compile-time dimension, else the run-time `d`.
#[inline(always)]
fn dim<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}

/// Per element: `φ₀ = Λμ`, `φ₁ = −Λ/2`, `g = −½ tr(Λ⟨μμᵀ⟩) + ½⟨ln|Λ|⟩`.
#[allow(clippy::too_many_arguments)]
fn prior_rows<const D: usize>(
    d: usize,
    mu: &[f64],
    mumu: &[f64],
    lam: &[f64],
    ln_det: &[f64],
    phi0: &mut [f64],
    phi1: &mut [f64],
    g: &mut [f64],
) {
    let d = dim::<D>(d);
    let dd = d * d;
    let rows = lam
        .chunks_exact(dd)
        .zip(mu.chunks_exact(d))
        .zip(mumu.chunks_exact(dd))
        .zip(phi0.chunks_exact_mut(d))
        .zip(phi1.chunks_exact_mut(dd))
        .zip(g.iter_mut().zip(ln_det));
    for (((((l, m), mm), p0), p1), (gi, ln_det)) in rows {
        for (p, row) in p0.iter_mut().zip(l.chunks_exact(d)) {
            *p = dot(row, m);
        }
        for (p, v) in p1.iter_mut().zip(l) {
            *p = -0.5 * v;
        }
        *gi = -0.5 * dot(l, mm) + 0.5 * ln_det;
    }
}

/// Per element, the message to the mean: `Λ⟨x⟩`.
fn mean_message_rows<const D: usize>(d: usize, lam: &[f64], x: &[f64], m0: &mut [f64]) {
    let d = dim::<D>(d);
    for ((out, l), xi) in m0
        .chunks_exact_mut(d)
        .zip(lam.chunks_exact(d * d))
        .zip(x.chunks_exact(d))
    {
        for (o, row) in out.iter_mut().zip(l.chunks_exact(d)) {
            *o = dot(row, xi);
        }
    }
}

/// Per element, the message to the precision:
/// `−½(⟨x xᵀ⟩ − ⟨x⟩⟨μ⟩ᵀ − ⟨μ⟩⟨x⟩ᵀ + ⟨μμᵀ⟩)`.
fn precision_message_rows<const D: usize>(
    d: usize,
    x: &[f64],
    xx: &[f64],
    mu: &[f64],
    mumu: &[f64],
    m0: &mut [f64],
) {
    let d = dim::<D>(d);
    let dd = d * d;
    let rows = m0
        .chunks_exact_mut(dd)
        .zip(x.chunks_exact(d))
        .zip(mu.chunks_exact(d))
        .zip(xx.chunks_exact(dd).zip(mumu.chunks_exact(dd)));
    for (((out, xi), mi), (xxi, mmi)) in rows {
        for a in 0..d {
            for b in 0..d {
                let e = a * d + b;
                out[e] = -0.5 * (xxi[e] - xi[a] * mi[b] - mi[a] * xi[b] + mmi[e]);
            }
        }
    }
}

/// `Σ a_i b_i`, summed in order.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
