//! A linear-Gaussian Markov chain: the hidden states `x_0 … x_{N−1}` (each in
//! `ℝᴰ`) of a linear-Gaussian state-space model, with known dynamics.
//!
//! ```text
//! x_0 ~ N(μ₀, Λ₀⁻¹),    x_t = A x_{t−1} + ε_t,  ε_t ~ N(0, Q⁻¹)
//! ```
//!
//! The node has plates `[N]` and exposes `Kind::Gaussian(D)` to its
//! children: part 0 is `⟨x_t⟩` (N×D), part 1 is `⟨x_t x_tᵀ⟩` (N×D×D). It
//! keeps one internal part, the cross moments `⟨x_t x_{t−1}ᵀ⟩` (N×D×D, row
//! index from `x_t`, zero at `t = 0`).
//!
//! **Prior.** Expanding the log-density in `u = [x_t, x_t x_tᵀ, x_t x_{t−1}ᵀ]`:
//!
//! ```text
//! φ_p = [ Λ₀μ₀ at t = 0, 0 after;
//!         −½ (Λ₀[t = 0] + Q[t ≥ 1] + AᵀQA[t < N−1]);
//!         QA at t ≥ 1 ]
//! g_p = −½ μ₀ᵀΛ₀μ₀ + ½ ln|Λ₀|  at t = 0,   ½ ln|Q|  at t ≥ 1
//! f   = −(D/2) ln 2π  per time step
//! ```
//!
//! (BayesPy's `GaussianMarkovChain`; Winn & Bishop 2005 table 1 for the
//! Gaussian blocks). The parameters are constants for now.
//!
//! **Posterior.** The children's messages (per `t`: a D-vector and a D×D
//! matrix, in the Gaussian layout) add to parts 0 and 1; the cross part stays
//! `QA`. The natural parameters then define one Gaussian over the whole chain
//! with block-tridiagonal precision `J` and linear term `h`:
//! `J_tt = −(φ₁[t] + φ₁[t]ᵀ)`, `J_{t,t−1} = −φ₂[t]`, `h_t = φ₀[t]`.
//!
//! **Moments.** [`Family::moments`] runs a Kalman filter in information form
//! (a block forward elimination of `J`) and a Rauch–Tung–Striebel smoother,
//! `O(N D³)`:
//!
//! ```text
//! J̃_0 = J_00,  h̃_0 = h_0
//! J̃_t = J_tt − φ₂[t] J̃_{t−1}⁻¹ φ₂[t]ᵀ,   h̃_t = h_t + φ₂[t] J̃_{t−1}⁻¹ h̃_{t−1}
//! P_t = J̃_t⁻¹,  m_t = P_t h̃_t                         (filtered)
//! G_t = P_t φ₂[t+1]ᵀ,  μ_t = m_t + G_t μ_{t+1},  Σ_t = P_t + G_t Σ_{t+1} G_tᵀ
//! ⟨x_{t+1} x_tᵀ⟩ = Σ_{t+1} G_tᵀ + μ_{t+1} μ_tᵀ           (smoothed)
//! g = ½ ln|J| − ½ hᵀJ⁻¹h = Σ_t (½ ln|J̃_t| − ½ h̃_tᵀ P_t h̃_t)
//! ```
//!
//! (Rauch, Tung & Striebel 1965; the information-form recursions are those of
//! Gaussian belief propagation on a chain, e.g. Bishop 2006 §13.3). `g` is the
//! log-partition relative to the base measure `f`, so the graph's generic
//! ELBO with known parameters is exactly the Kalman-filter log-likelihood
//! `ln p(y)`.
//!
//! The chain's plates must be exactly `[N]` (one sequence), and the chain
//! cannot be observed.

use std::f64::consts::PI;

use crate::error::VmpError;
use crate::family::{Family, Parts};
use crate::kind::{logdet_spd, Kind};

const NAME: &str = "GaussianChain";

/// A linear-Gaussian Markov chain over the node's plates `[N]`, state
/// dimension D, with constant `A`, `Q`, `μ₀`, `Λ₀` (no parents).
#[derive(Debug, Clone)]
pub struct GaussianChain {
    dim: usize,
    /// `Λ₀ μ₀`.
    lambda0_mu0: Vec<f64>,
    /// `Λ₀`.
    lambda0: Vec<f64>,
    /// `Q`.
    q: Vec<f64>,
    /// `Q A`.
    qa: Vec<f64>,
    /// `Aᵀ Q A`.
    atqa: Vec<f64>,
    /// `−½ μ₀ᵀΛ₀μ₀ + ½ ln|Λ₀|`.
    g0: f64,
    /// `½ ln|Q|`.
    half_logdet_q: f64,
}

fn check_finite(what: &str, x: &[f64]) -> Result<(), VmpError> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(VmpError::Value {
            node: NAME.into(),
            what: what.into(),
            index: i,
            value: x[i],
            expected: "a finite number".into(),
        }),
        None => Ok(()),
    }
}

fn check_size(what: &str, x: &[f64], expected: usize) -> Result<(), VmpError> {
    if x.len() != expected {
        return Err(VmpError::Size {
            node: NAME.into(),
            what: what.into(),
            expected,
            got: x.len(),
        });
    }
    check_finite(what, x)
}

/// Symmetric (to 1e-12 relative) and positive definite, or an error naming
/// the matrix; returns `ln|X|`.
pub(crate) fn check_spd(node: &str, what: &str, x: &[f64], d: usize) -> Result<f64, VmpError> {
    let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..d {
        for j in 0..i {
            if (x[i * d + j] - x[j * d + i]).abs() > 1e-12 * scale {
                return Err(VmpError::Value {
                    node: node.into(),
                    what: format!("{what} (not symmetric)"),
                    index: i * d + j,
                    value: x[i * d + j],
                    expected: format!("equal to entry {} = {}", j * d + i, x[j * d + i]),
                });
            }
        }
    }
    logdet_spd(x, d).ok_or_else(|| VmpError::NotPositiveDefinite {
        node: node.into(),
        what: what.into(),
    })
}

impl GaussianChain {
    /// A chain with dynamics `A` (D×D, row-major, `x_t = A x_{t−1} + ε`),
    /// innovation precision `Q` (D×D), initial mean `μ₀` (D) and initial
    /// precision `Λ₀` (D×D); D is `μ₀.len()`. `Q` and `Λ₀` must be
    /// symmetric positive definite.
    pub fn new(a: &[f64], q: &[f64], mu0: &[f64], lambda0: &[f64]) -> Result<Self, VmpError> {
        let d = mu0.len();
        if d == 0 {
            return Err(VmpError::Size {
                node: NAME.into(),
                what: "initial mean μ0".into(),
                expected: 1,
                got: 0,
            });
        }
        check_size("initial mean μ0", mu0, d)?;
        check_size("dynamics A", a, d * d)?;
        check_size("innovation precision Q", q, d * d)?;
        check_size("initial precision Λ0", lambda0, d * d)?;
        let logdet_q = check_spd(NAME, "innovation precision Q", q, d)?;
        let logdet_l0 = check_spd(NAME, "initial precision Λ0", lambda0, d)?;
        let mut qa = vec![0.0; d * d];
        mat_mul(q, a, d, &mut qa);
        let mut atqa = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                atqa[i * d + j] = (0..d).map(|k| a[k * d + i] * qa[k * d + j]).sum();
            }
        }
        symmetrize(&mut atqa, d);
        let lambda0_mu0: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| lambda0[i * d + j] * mu0[j]).sum())
            .collect();
        let quad: f64 = mu0.iter().zip(&lambda0_mu0).map(|(a, b)| a * b).sum();
        Ok(Self {
            dim: d,
            lambda0_mu0,
            lambda0: lambda0.to_vec(),
            q: q.to_vec(),
            qa,
            atqa,
            g0: -0.5 * quad + 0.5 * logdet_l0,
            half_logdet_q: 0.5 * logdet_q,
        })
    }

    /// The state dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// `out = a b` for D×D row-major matrices.
#[inline]
fn mat_mul(a: &[f64], b: &[f64], d: usize, out: &mut [f64]) {
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for k in 0..d {
                s += a[i * d + k] * b[k * d + j];
            }
            out[i * d + j] = s;
        }
    }
}

/// `out = a bᵀ` for D×D row-major matrices.
#[inline]
fn mat_mul_bt(a: &[f64], b: &[f64], d: usize, out: &mut [f64]) {
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for k in 0..d {
                s += a[i * d + k] * b[j * d + k];
            }
            out[i * d + j] = s;
        }
    }
}

#[inline]
fn symmetrize(x: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (x[i * d + j] + x[j * d + i]);
            x[i * d + j] = v;
            x[j * d + i] = v;
        }
    }
}

/// In-place lower Cholesky factor of a symmetric positive-definite D×D
/// matrix (only the lower triangle is read and written); `false` when it is
/// not positive definite.
#[inline]
fn cholesky_in_place(x: &mut [f64], d: usize) -> bool {
    for j in 0..d {
        let mut s = x[j * d + j];
        for k in 0..j {
            s -= x[j * d + k] * x[j * d + k];
        }
        if !(s > 0.0 && s.is_finite()) {
            return false;
        }
        let l = s.sqrt();
        x[j * d + j] = l;
        for i in j + 1..d {
            let mut s = x[i * d + j];
            for k in 0..j {
                s -= x[i * d + k] * x[j * d + k];
            }
            x[i * d + j] = s / l;
        }
    }
    true
}

/// `X⁻¹ = L⁻ᵀ L⁻¹` from the lower factor `l`, into `out` (symmetric);
/// `tmp` is D×D scratch for `L⁻¹`.
#[inline]
fn inverse_from_cholesky(l: &[f64], d: usize, tmp: &mut [f64], out: &mut [f64]) {
    for i in 0..d {
        tmp[i * d + i] = 1.0 / l[i * d + i];
        for j in 0..i {
            let mut s = 0.0;
            for k in j..i {
                s -= l[i * d + k] * tmp[k * d + j];
            }
            tmp[i * d + j] = s / l[i * d + i];
        }
    }
    for i in 0..d {
        for j in 0..=i {
            let mut s = 0.0;
            for k in i..d {
                s += tmp[k * d + i] * tmp[k * d + j];
            }
            out[i * d + j] = s;
            out[j * d + i] = s;
        }
    }
}

impl Family for GaussianChain {
    fn check_plates(&self, plates: &[usize]) -> Result<(), String> {
        if plates.len() == 1 && plates[0] >= 1 {
            Ok(())
        } else {
            Err(format!(
                "a Markov chain's plates are its time steps: one axis of length N >= 1, got {plates:?}"
            ))
        }
    }

    fn kind(&self) -> Kind {
        Kind::Gaussian(self.dim)
    }

    fn part_dims(&self) -> Vec<usize> {
        let d = self.dim;
        vec![d, d * d, d * d]
    }

    fn parent_kinds(&self) -> Vec<Kind> {
        Vec::new()
    }

    fn prior(&self, _parents: &[&[Vec<f64>]], n: usize) -> (Parts, Vec<f64>) {
        let d = self.dim;
        let dd = d * d;
        let mut phi0 = vec![0.0; n * d];
        let mut phi1 = vec![0.0; n * dd];
        let mut phi2 = vec![0.0; n * dd];
        let mut g = vec![self.half_logdet_q; n];
        if n > 0 {
            phi0[..d].copy_from_slice(&self.lambda0_mu0);
            g[0] = self.g0;
        }
        for t in 0..n {
            let p1 = &mut phi1[t * dd..(t + 1) * dd];
            for i in 0..dd {
                let mut v = if t == 0 { self.lambda0[i] } else { self.q[i] };
                if t + 1 < n {
                    v += self.atqa[i];
                }
                p1[i] = -0.5 * v;
            }
            if t >= 1 {
                phi2[t * dd..(t + 1) * dd].copy_from_slice(&self.qa);
            }
        }
        (vec![phi0, phi1, phi2], g)
    }

    fn moments(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        // The state dimension as a constant where small, so the D×D
        // products of the filter and smoother unroll.
        match self.dim {
            1 => self.smooth::<1>(phi, n),
            2 => self.smooth::<2>(phi, n),
            3 => self.smooth::<3>(phi, n),
            _ => self.smooth::<0>(phi, n),
        }
    }

    fn log_base_measure(&self, _u: &[Vec<f64>], n: usize) -> Vec<f64> {
        vec![-0.5 * self.dim as f64 * (2.0 * PI).ln(); n]
    }

    fn message_to_parent(
        &self,
        _slot: usize,
        _u: &[Vec<f64>],
        _parents: &[&[Vec<f64>]],
        _n: usize,
    ) -> Parts {
        // No parents: A, Q, μ₀ and Λ₀ are constants.
        Vec::new()
    }
}

impl GaussianChain {
    /// [`Family::moments`]: the information-form Kalman filter and the RTS
    /// smoother, with D = `D` (or `self.dim` when `D` is 0).
    fn smooth<const D: usize>(&self, phi: &[Vec<f64>], n: usize) -> Option<(Parts, Vec<f64>)> {
        let d = if D == 0 { self.dim } else { D };
        let dd = d * d;
        let (phi0, phi1, phi2) = (&phi[0], &phi[1], &phi[2]);
        if phi0.len() != n * d || phi1.len() != n * dd || phi2.len() != n * dd {
            return None;
        }
        if phi.iter().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        // Filtered covariances P_t (into `cov`, later the smoothed second
        // moments) and means m_t (into `mean`, later the smoothed means).
        let mut mean = vec![0.0; n * d];
        let mut cov = vec![0.0; n * dd];
        let mut cross = vec![0.0; n * dd];
        let mut g = vec![0.0; n];
        let mut jt = vec![0.0; dd];
        let mut ht = vec![0.0; d];
        let mut tmp = vec![0.0; dd];
        let mut tmp2 = vec![0.0; dd];
        for t in 0..n {
            let p1 = &phi1[t * dd..(t + 1) * dd];
            for i in 0..d {
                for j in 0..d {
                    jt[i * d + j] = -(p1[i * d + j] + p1[j * d + i]);
                }
            }
            ht.copy_from_slice(&phi0[t * d..(t + 1) * d]);
            if t >= 1 {
                let b = &phi2[t * dd..(t + 1) * dd];
                let p_prev = &cov[(t - 1) * dd..t * dd];
                let m_prev = &mean[(t - 1) * d..t * d];
                // J̃_t −= B P Bᵀ, h̃_t += B m with B = φ₂[t].
                mat_mul(b, p_prev, d, &mut tmp);
                mat_mul_bt(&tmp, b, d, &mut tmp2);
                for i in 0..d {
                    for j in 0..d {
                        jt[i * d + j] -= 0.5 * (tmp2[i * d + j] + tmp2[j * d + i]);
                    }
                    ht[i] += (0..d).map(|k| b[i * d + k] * m_prev[k]).sum::<f64>();
                }
            }
            if !cholesky_in_place(&mut jt, d) {
                return None;
            }
            let logdet: f64 = 2.0 * (0..d).map(|i| jt[i * d + i].ln()).sum::<f64>();
            let p = &mut cov[t * dd..(t + 1) * dd];
            inverse_from_cholesky(&jt, d, &mut tmp, p);
            let m = &mut mean[t * d..(t + 1) * d];
            let mut quad = 0.0;
            for i in 0..d {
                m[i] = (0..d).map(|k| p[i * d + k] * ht[k]).sum();
                quad += ht[i] * m[i];
            }
            g[t] = 0.5 * logdet - 0.5 * quad;
        }
        if !g.iter().all(|v| v.is_finite()) {
            return None;
        }

        // Rauch–Tung–Striebel: `cov[t]` turns from P_t into Σ_t, then (once
        // step t − 1 has used it) into the second moment Σ_t + μ_t μ_tᵀ.
        let mut gain = vec![0.0; dd];
        let mut dmu = vec![0.0; d];
        for t in (0..n.saturating_sub(1)).rev() {
            let b = &phi2[(t + 1) * dd..(t + 2) * dd];
            let (head, tail) = cov.split_at_mut((t + 1) * dd);
            let p_t = &mut head[t * dd..];
            let s_next = &mut tail[..dd];
            // G_t = P_t Bᵀ.
            mat_mul_bt(p_t, b, d, &mut gain);
            // μ_t = m_t + G_t μ_{t+1}.
            let (mh, mt) = mean.split_at_mut((t + 1) * d);
            let mu_next = &mt[..d];
            for i in 0..d {
                dmu[i] = (0..d).map(|k| gain[i * d + k] * mu_next[k]).sum();
            }
            let mu_t = &mut mh[t * d..];
            for i in 0..d {
                mu_t[i] += dmu[i];
            }
            // Σ_t = P_t + G Σ_{t+1} Gᵀ;  cross_{t+1} = Σ_{t+1} Gᵀ + μ_{t+1} μ_tᵀ.
            mat_mul(&gain, s_next, d, &mut tmp);
            mat_mul_bt(&tmp, &gain, d, &mut tmp2);
            for i in 0..dd {
                p_t[i] += tmp2[i];
            }
            symmetrize(p_t, d);
            let c = &mut cross[(t + 1) * dd..(t + 2) * dd];
            mat_mul_bt(s_next, &gain, d, c);
            for i in 0..d {
                for j in 0..d {
                    c[i * d + j] += mu_next[i] * mu_t[j];
                    s_next[i * d + j] += mu_next[i] * mu_next[j];
                }
            }
        }
        if n > 0 {
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += mean[i] * mean[j];
                }
            }
        }
        Some((vec![mean, cov, cross], g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_step_is_the_prior_gaussian() {
        let chain = GaussianChain::new(
            &[1.0, 0.0, 0.0, 1.0],
            &[1.0, 0.0, 0.0, 1.0],
            &[0.5, -1.0],
            &[2.0, 0.5, 0.5, 1.0],
        )
        .unwrap();
        let (phi, g_p) = chain.prior(&[], 1);
        let (u, g) = chain.moments(&phi, 1).unwrap();
        for (a, b) in u[0].iter().zip([0.5, -1.0]) {
            assert!((a - b).abs() < 1e-14);
        }
        // Σ = Λ0⁻¹ = [[1, −0.5], [−0.5, 2]] / 1.75.
        let want = [
            0.25 + 1.0 / 1.75,
            -0.5 - 0.5 / 1.75,
            -0.5 - 0.5 / 1.75,
            1.0 + 2.0 / 1.75,
        ];
        for (a, b) in u[1].iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        // The prior's own log-partition equals g_p (q = p).
        assert!((g[0] - g_p[0]).abs() < 1e-14);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let i2 = [1.0, 0.0, 0.0, 1.0];
        let e = GaussianChain::new(&i2, &[1.0, 0.0, 0.0, -1.0], &[0.0, 0.0], &i2).unwrap_err();
        assert!(matches!(e, VmpError::NotPositiveDefinite { .. }), "{e}");
        let e = GaussianChain::new(&i2, &[1.0, 0.2, 0.0, 1.0], &[0.0, 0.0], &i2).unwrap_err();
        assert!(e.to_string().contains("not symmetric"), "{e}");
        let e = GaussianChain::new(&[1.0; 3], &i2, &[0.0, 0.0], &i2).unwrap_err();
        assert!(matches!(e, VmpError::Size { .. }), "{e}");
        let e = GaussianChain::new(&i2, &i2, &[0.0, f64::NAN], &i2).unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
    }
}
