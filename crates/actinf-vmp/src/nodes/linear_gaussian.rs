//! A linear-Gaussian observation of a Gaussian vector with known loading
//! and noise: the observation model of a linear-Gaussian state-space model.
//!
//! `y ~ N(C x, R⁻¹)` with `y ∈ ℝᴹ`, `x ∈ ℝᴰ`, a known M×D loading `C` and a
//! known M×M noise precision `R`:
//!
//! ```text
//! ln p(y | x) = yᵀRC x − ½ yᵀRy − ½ tr(CᵀRC x xᵀ) + ½ ln|R| − (M/2) ln 2π
//! ```
//!
//! With `u(y) = [y, y yᵀ]` and the parent's `u(x) = [x, x xᵀ]`:
//!
//! - prior natural parameters `φ_p = [R C⟨x⟩, −½ R]`,
//!   `⟨g_p⟩ = −½ tr(CᵀRC ⟨x xᵀ⟩) + ½ ln|R|`, `f = −(M/2) ln 2π`;
//! - message to the parent `[CᵀR ⟨y⟩, −½ CᵀRC]` (observed `y`: `⟨y⟩ = y`),
//!   exactly the per-time-step potentials a
//!   [`GaussianChain`](super::GaussianChain) smooths;
//! - as a latent node, `q(y) = N(J⁻¹h, J⁻¹)` with `J = −(φ₁ + φ₁ᵀ)`,
//!   `h = φ₀`, and `g = ½ ln|J| − ½ hᵀJ⁻¹h`.
//!
//! Optionally ([`LinearGaussian::with_precision_scale`]) a second parent, a
//! Gamma-kind scale `τ` of the noise precision: `y ~ N(C x, (τR)⁻¹)`. Then
//! `R` is replaced by `⟨τ⟩R` above, `⟨g_p⟩` gains `(M/2)⟨ln τ⟩`, and the
//! message to `τ` (its `u = [τ, ln τ]`) is
//! `[−½ ⟨(y − Cx)ᵀR(y − Cx)⟩, M/2]` with
//! `⟨(y − Cx)ᵀR(y − Cx)⟩ = tr(R⟨yyᵀ⟩) − 2⟨y⟩ᵀRC⟨x⟩ + tr(CᵀRC⟨xxᵀ⟩)`
//! (BayesPy's `GaussianARD(SumMultiply(C, X), τ)` when `R = I`).
//!
//! (Winn & Bishop 2005, table 1; Bishop 2006 §13.3, eq. 13.76.)

use std::f64::consts::PI;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::{cholesky, spd_inverse, Kind};

use super::gaussian_chain::check_spd;

const NAME: &str = "LinearGaussian";

/// `y ~ N(C x, R⁻¹)` with known `C` (M×D) and `R` (M×M); parent: `x`
/// (Gaussian(D)); exposes Gaussian(M).
#[derive(Debug, Clone)]
pub struct LinearGaussian {
    obs_dim: usize,
    state_dim: usize,
    /// `R C`, M×D.
    rc: Vec<f64>,
    /// `R`, M×M.
    r: Vec<f64>,
    /// `CᵀR`, D×M.
    ctr: Vec<f64>,
    /// `CᵀRC`, D×D.
    ctrc: Vec<f64>,
    /// `½ ln|R|`.
    half_logdet_r: f64,
    /// Whether a Gamma parent scales `R`.
    scaled: bool,
}

impl LinearGaussian {
    /// An observation `y ∈ ℝ^obs_dim` of `x ∈ ℝ^state_dim` with loading `C`
    /// (obs_dim × state_dim, row-major) and noise precision `R` (obs_dim ×
    /// obs_dim, symmetric positive definite).
    pub fn new(obs_dim: usize, state_dim: usize, c: &[f64], r: &[f64]) -> Result<Self, VmpError> {
        let (m, d) = (obs_dim, state_dim);
        let md = actinf_core::budget::check(
            "linear_gaussian: loading C (obs_dim × state_dim)",
            &[m, d],
            8,
        )?;
        let mm = actinf_core::budget::check(
            "linear_gaussian: noise precision R (obs_dim × obs_dim)",
            &[m, m],
            8,
        )?;
        for (what, x, expected) in [("loading C", c, md), ("noise precision R", r, mm)] {
            if x.len() != expected || expected == 0 {
                return Err(VmpError::Size {
                    node: NAME.into(),
                    what: format!("{what} ({m} outputs × {d} states)"),
                    expected,
                    got: x.len(),
                });
            }
            if let Some(i) = x.iter().position(|v| !v.is_finite()) {
                return Err(VmpError::Value {
                    node: NAME.into(),
                    what: what.into(),
                    index: i,
                    value: x[i],
                    expected: "a finite number".into(),
                });
            }
        }
        let logdet_r = check_spd(NAME, "noise precision R", r, m)?;
        let mut rc = vec![0.0; m * d];
        for i in 0..m {
            for j in 0..d {
                rc[i * d + j] = (0..m).map(|k| r[i * m + k] * c[k * d + j]).sum();
            }
        }
        let mut ctr = vec![0.0; d * m];
        for i in 0..d {
            for j in 0..m {
                ctr[i * m + j] = rc[j * d + i];
            }
        }
        let mut ctrc = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let v: f64 = (0..m).map(|k| c[k * d + i] * rc[k * d + j]).sum();
                ctrc[i * d + j] = v;
                ctrc[j * d + i] = v;
            }
        }
        Ok(Self {
            obs_dim: m,
            state_dim: d,
            rc,
            r: r.to_vec(),
            ctr,
            ctrc,
            half_logdet_r: 0.5 * logdet_r,
            scaled: false,
        })
    }

    /// Add a second parent slot, a Gamma-kind scale `τ` of the noise
    /// precision: `y ~ N(C x, (τR)⁻¹)`.
    pub fn with_precision_scale(mut self) -> Self {
        self.scaled = true;
        self
    }

    /// The observation dimension M.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The state dimension D.
    pub fn state_dim(&self) -> usize {
        self.state_dim
    }
}

impl LinearGaussian {
    /// `(⟨τ⟩, ⟨ln τ⟩)` of plate element `i`, or `(1, 0)` without the scale.
    #[inline]
    fn scale(&self, parents: &[&[Vec<f64>]], i: usize) -> (f64, f64) {
        if self.scaled {
            (parents[1][0][i], parents[1][1][i])
        } else {
            (1.0, 0.0)
        }
    }
}

impl Family for LinearGaussian {
    fn kind(&self) -> Kind {
        Kind::Gaussian(self.obs_dim)
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        if self.scaled {
            vec![Kind::Gaussian(self.state_dim), Kind::Gamma]
        } else {
            vec![Kind::Gaussian(self.state_dim)]
        }
    }

    fn prior(&self, parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let (m, d) = (self.obs_dim, self.state_dim);
        let (x, xx) = (&parents[0][0], &parents[0][1]);
        let mut phi0 = vec![0.0; n * m];
        let mut phi1 = Vec::with_capacity(n * m * m);
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let (tau, ln_tau) = self.scale(parents, i);
            let xi = &x[i * d..(i + 1) * d];
            for a in 0..m {
                phi0[i * m + a] = tau * (0..d).map(|b| self.rc[a * d + b] * xi[b]).sum::<f64>();
            }
            phi1.extend(self.r.iter().map(|v| -0.5 * tau * v));
            let tr: f64 = self
                .ctrc
                .iter()
                .zip(&xx[i * d * d..(i + 1) * d * d])
                .map(|(a, b)| a * b)
                .sum();
            g.push(-0.5 * tau * tr + 0.5 * m as f64 * ln_tau + self.half_logdet_r);
        }
        (vec![phi0, phi1], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let m = self.obs_dim;
        let mm = m * m;
        if phi[0].len() != n * m || phi[1].len() != n * mm {
            return None;
        }
        let mut u0 = Vec::with_capacity(n * m);
        let mut u1 = Vec::with_capacity(n * mm);
        let mut g = Vec::with_capacity(n);
        let mut j = vec![0.0; mm];
        for i in 0..n {
            let h = &phi[0][i * m..(i + 1) * m];
            let p1 = &phi[1][i * mm..(i + 1) * mm];
            if h.iter().chain(p1).any(|v| !v.is_finite()) {
                return None;
            }
            for a in 0..m {
                for b in 0..m {
                    j[a * m + b] = -(p1[a * m + b] + p1[b * m + a]);
                }
            }
            let l = cholesky(&j, m)?;
            let cov = spd_inverse(&j, m)?;
            let mean: Vec<f64> = (0..m)
                .map(|a| (0..m).map(|b| cov[a * m + b] * h[b]).sum())
                .collect();
            let logdet: f64 = 2.0 * (0..m).map(|a| l[a * m + a].ln()).sum::<f64>();
            let quad: f64 = h.iter().zip(&mean).map(|(a, b)| a * b).sum();
            for a in 0..m {
                for b in 0..m {
                    u1.push(cov[a * m + b] + mean[a] * mean[b]);
                }
            }
            u0.extend_from_slice(&mean);
            g.push(0.5 * logdet - 0.5 * quad);
        }
        Some((vec![u0, u1], g))
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![-0.5 * self.obs_dim as f64 * (2.0 * PI).ln(); n]
    }

    fn message_to_parent(
        &self,
        slot: usize,
        u: &[Vec<f64>],
        parents: &[&[Vec<f64>]],
        n: usize,
    ) -> Parts {
        let (m, d) = (self.obs_dim, self.state_dim);
        let (y, yy) = (&u[0], &u[1]);
        if slot == 1 {
            // To the precision scale τ: [−½⟨(y − Cx)ᵀR(y − Cx)⟩, M/2].
            let (x, xx) = (&parents[0][0], &parents[0][1]);
            let mut m0 = Vec::with_capacity(n);
            for i in 0..n {
                let yi = &y[i * m..(i + 1) * m];
                let xi = &x[i * d..(i + 1) * d];
                let r_yy: f64 = self
                    .r
                    .iter()
                    .zip(&yy[i * m * m..(i + 1) * m * m])
                    .map(|(a, b)| a * b)
                    .sum();
                let cross: f64 = (0..d)
                    .map(|b| xi[b] * (0..m).map(|a| self.ctr[b * m + a] * yi[a]).sum::<f64>())
                    .sum();
                let c_xx: f64 = self
                    .ctrc
                    .iter()
                    .zip(&xx[i * d * d..(i + 1) * d * d])
                    .map(|(a, b)| a * b)
                    .sum();
                m0.push(-0.5 * (r_yy - 2.0 * cross + c_xx));
            }
            return vec![m0, vec![0.5 * m as f64; n]];
        }
        let mut m0 = vec![0.0; n * d];
        let mut m1 = Vec::with_capacity(n * d * d);
        for i in 0..n {
            let (tau, _) = self.scale(parents, i);
            let yi = &y[i * m..(i + 1) * m];
            for a in 0..d {
                m0[i * d + a] = tau * (0..m).map(|b| self.ctr[a * m + b] * yi[b]).sum::<f64>();
            }
            m1.extend(self.ctrc.iter().map(|v| -0.5 * tau * v));
        }
        vec![m0, m1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latent_observation_of_a_known_state_is_the_noise_gaussian() {
        // x = (1, 2) surely; y = C x + noise, C = [[1, 1]], R = [[4]].
        let node = LinearGaussian::new(1, 2, &[1.0, 1.0], &[4.0]).unwrap();
        let x = vec![vec![1.0, 2.0], vec![1.0, 2.0, 2.0, 4.0]];
        let (phi, g_p) = node.prior(&[&x], 1);
        let (u, g) = node.moments(&phi, 1).unwrap();
        assert!((u[0][0] - 3.0).abs() < 1e-14);
        assert!((u[1][0] - (9.0 + 0.25)).abs() < 1e-14);
        // q = p exactly, so g(φ) = ⟨g_p⟩ here.
        assert!((g[0] - g_p[0]).abs() < 1e-13);
        let msg = node.message_to_parent(0, &[vec![3.5], vec![12.25]], &[&x], 1);
        assert_eq!(msg[0], vec![14.0, 14.0]);
        assert_eq!(msg[1], vec![-2.0; 4]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let e = LinearGaussian::new(1, 2, &[1.0, 1.0], &[-1.0]).unwrap_err();
        assert!(matches!(e, VmpError::NotPositiveDefinite { .. }), "{e}");
        let e = LinearGaussian::new(2, 2, &[1.0, 1.0], &[1.0, 0.0, 0.0, 1.0]).unwrap_err();
        assert!(matches!(e, VmpError::Size { .. }), "{e}");
        let e = LinearGaussian::new(1, 1, &[f64::INFINITY], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("loading C"), "{e}");
    }
}
