//! The D-step against a Kalman filter and a Rauch–Tung–Striebel smoother on
//! SPM's linear convolution model with smooth noise (s = 1).
//!
//! The data are simulated in continuous time: white noise convolved with a
//! Gaussian kernel `exp(−τ²/(2s²))` on a grid of `dt/40`, scaled to unit
//! variance and then to the noise covariances `Πw⁻¹`, `Πz⁻¹` (so its
//! autocorrelation is `exp(−τ²/(4s²))`, the form the generalized precision
//! assumes); the states `x′ = A x + B v + w` are integrated by RK4 on that
//! grid from `x(0) = 0` with SPM's known Gaussian input bump
//! `v(t) = exp(−(t − 12)²/4)`, and sampled every `dt = 1` as
//! `y = C x + z`.
//!
//! The Kalman filter and RTS smoother are textbook ones on the exactly
//! discretised model, `x_{k+1} = e^{AΔt} x_k + u_k + q_k`, `y_k = C x_k + r_k`,
//! with `u_k` the input's exact contribution over the interval and the noises
//! treated as white: `r_k ~ N(0, Πz⁻¹)` and `q_k ~ N(0, Q)`, where `Q` is the
//! better (lower RTS error) of two standard white-noise tunings: the exact
//! one-step covariance of the integrated smooth noise, or the covariance of
//! white noise with the same spectral density at zero frequency
//! (`Πw⁻¹ · 2√π s`). The D-step knows the smoothness; the Kalman filter cannot
//! represent it (no Kalman filter equals the D-step at any order).

use actinf_gc::dstep::{DStep, DStepSettings, Window};
use actinf_gc::linearise::expm;
use actinf_gc::model::LinearModel;
use nalgebra::{DMatrix, DVector};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// SPM's convolution model: `P.f`, `P.h`, `P.g`.
const A: [f64; 4] = [-0.25, 1.0, -0.5, -0.25];
const B: [f64; 2] = [1.0, 0.0];
const G: [f64; 8] = [
    0.125,
    0.16332037060954707,
    0.125,
    0.06764951251827464,
    0.125,
    -0.06764951251827463,
    0.125,
    -0.16332037060954707,
];
/// Smoothness of both noises.
const S: f64 = 1.0;
/// Noise precisions `Πz = PI_Z·I`, `Πw = PI_W·I` (σz = 0.125, σw = 0.5).
const PI_Z: f64 = 64.0;
const PI_W: f64 = 4.0;
/// Samples per run, and grid points per sample of the simulation.
const SAMPLES: usize = 64;
const FINE: usize = 40;
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

fn cause(t: f64) -> f64 {
    (-(t - 12.0).powi(2) / 4.0).exp()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// `dims × len` smooth noise on a grid of spacing `h`: white noise convolved
/// with `exp(−τ²/(2s²))`, normalised to unit variance, times `sigma`.
fn smooth_noise(rng: &mut StdRng, dims: usize, len: usize, h: f64, sigma: f64) -> DMatrix<f64> {
    let half = (4.0 * S / h).ceil() as usize;
    let kernel: Vec<f64> = (0..=2 * half)
        .map(|m| {
            let tau = (m as f64 - half as f64) * h;
            (-tau * tau / (2.0 * S * S)).exp()
        })
        .collect();
    let norm = kernel.iter().map(|k| k * k).sum::<f64>().sqrt();
    let white = DMatrix::from_fn(dims, len + 2 * half, |_, _| normal(rng));
    DMatrix::from_fn(dims, len, |d, t| {
        kernel
            .iter()
            .enumerate()
            .map(|(m, k)| k * white[(d, t + m)])
            .sum::<f64>()
            * sigma
            / norm
    })
}

struct Run {
    /// True states, `2 × SAMPLES`.
    x: DMatrix<f64>,
    /// Data, `4 × SAMPLES`.
    y: DMatrix<f64>,
    /// The known cause at the samples, `1 × SAMPLES`.
    v: DMatrix<f64>,
    /// The input's contribution over each interval, `u_k`.
    u: DMatrix<f64>,
}

fn simulate(seed: u64) -> Run {
    let (a, b, c) = matrices();
    let mut rng = StdRng::seed_from_u64(seed);
    let h = 1.0 / FINE as f64;
    let len = SAMPLES * FINE + 1;
    let w = smooth_noise(&mut rng, 2, len, h, PI_W.powf(-0.5));
    let z = smooth_noise(&mut rng, 4, len, h, PI_Z.powf(-0.5));
    let flow = |x: &DVector<f64>, t: f64, noise: Option<DVector<f64>>| {
        let dx = &a * x + &b * cause(t);
        match noise {
            Some(n) => dx + n,
            None => dx,
        }
    };
    let rk4 = |x: &DVector<f64>, i: usize, noisy: bool| {
        // One RK4 step of 2h from grid point i (noise at i, i + 1, i + 2).
        let t = i as f64 * h;
        let wn = |k: usize| noisy.then(|| w.column(i + k).clone_owned());
        let k1 = flow(x, t, wn(0));
        let k2 = flow(&(x + &k1 * h), t + h, wn(1));
        let k3 = flow(&(x + &k2 * h), t + h, wn(1));
        let k4 = flow(&(x + &k3 * (2.0 * h)), t + 2.0 * h, wn(2));
        x + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 3.0)
    };
    let mut x = DVector::zeros(2);
    let mut run = Run {
        x: DMatrix::zeros(2, SAMPLES),
        y: DMatrix::zeros(4, SAMPLES),
        v: DMatrix::from_fn(1, SAMPLES, |_, t| cause(t as f64)),
        u: DMatrix::zeros(2, SAMPLES),
    };
    for t in 0..SAMPLES {
        run.x.column_mut(t).copy_from(&x);
        run.y
            .column_mut(t)
            .copy_from(&(&c * &x + z.column(t * FINE)));
        let mut input = DVector::zeros(2);
        for j in 0..FINE / 2 {
            let i = t * FINE + 2 * j;
            x = rk4(&x, i, true);
            input = rk4(&input, i, false);
        }
        run.u.column_mut(t).copy_from(&input);
    }
    run
}

fn matrices() -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    (
        DMatrix::from_row_slice(2, 2, &A),
        DMatrix::from_row_slice(2, 1, &B),
        DMatrix::from_row_slice(4, 2, &G),
    )
}

fn rmse(estimate: &DMatrix<f64>, truth: &DMatrix<f64>) -> f64 {
    ((estimate - truth).norm_squared() / truth.len() as f64).sqrt()
}

/// The two white-noise process covariances of the Kalman filter: the exact
/// one-step covariance of `∫₀¹ e^{A(1−τ)} w(τ) dτ` for smooth `w`, and the
/// white noise of equal zero-frequency spectral density, `∫₀¹ e^{Aτ} Qc
/// e^{Aᵀτ} dτ` with `Qc = Πw⁻¹ 2√π s` (midpoint quadrature).
fn process_covariances(a: &DMatrix<f64>) -> [DMatrix<f64>; 2] {
    let m = 200;
    let nodes: Vec<f64> = (0..m).map(|i| (i as f64 + 0.5) / m as f64).collect();
    let e: Vec<DMatrix<f64>> = nodes.iter().map(|t| expm(&(a * *t)).unwrap()).collect();
    let var = 1.0 / PI_W;
    let mut exact = DMatrix::zeros(2, 2);
    for (i, ti) in nodes.iter().enumerate() {
        for (j, tj) in nodes.iter().enumerate() {
            let rho = (-(ti - tj).powi(2) / (4.0 * S * S)).exp();
            exact += &e[m - 1 - i] * e[m - 1 - j].transpose() * (var * rho / (m * m) as f64);
        }
    }
    let qc = var * 2.0 * std::f64::consts::PI.sqrt() * S;
    let mut spectral = DMatrix::zeros(2, 2);
    for ei in &e {
        spectral += ei * ei.transpose() * (qc / m as f64);
    }
    [exact, spectral]
}

/// Kalman filter and RTS smoother (textbook form); returns the filtered and
/// smoothed means, `2 × SAMPLES`. The start `x(0) = 0` is known.
fn kalman_rts(run: &Run, q: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    let (a, _, c) = matrices();
    let phi = expm(&a).unwrap();
    let r = DMatrix::identity(4, 4) / PI_Z;
    let eye = DMatrix::<f64>::identity(2, 2);
    let mut m = DVector::zeros(2);
    let mut p = &eye * 1e-9;
    let mut filtered = DMatrix::zeros(2, SAMPLES);
    let (mut pf, mut mp, mut pp) = (vec![], vec![], vec![]);
    for t in 0..SAMPLES {
        if t > 0 {
            m = &phi * &m + run.u.column(t - 1);
            p = &phi * &p * phi.transpose() + q;
        }
        mp.push(m.clone());
        pp.push(p.clone());
        let s = &c * &p * c.transpose() + &r;
        let k = &p * c.transpose() * s.try_inverse().unwrap();
        m = &m + &k * (run.y.column(t) - &c * &m);
        p = (&eye - &k * &c) * &p;
        filtered.column_mut(t).copy_from(&m);
        pf.push(p.clone());
    }
    let mut smoothed = filtered.clone();
    for t in (0..SAMPLES - 1).rev() {
        let g = &pf[t] * phi.transpose() * pp[t + 1].clone().try_inverse().unwrap();
        let next = filtered.column(t) + &g * (smoothed.column(t + 1) - &mp[t + 1]);
        smoothed.column_mut(t).copy_from(&next);
    }
    (filtered, smoothed)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn show(v: &[f64]) -> String {
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
    format!("{:.3} ({lo:.3}–{hi:.3})", mean(v))
}

#[test]
fn dem_matches_the_rts_smoother_and_beats_the_kalman_filter() {
    let (a, b, c) = matrices();
    let runs: Vec<Run> = SEEDS.iter().map(|&s| simulate(s)).collect();

    // Baselines: the white-noise tuning with the lower RTS error.
    let mut best: Option<(Vec<f64>, Vec<f64>)> = None;
    for q in process_covariances(&a) {
        let (kf, rts): (Vec<f64>, Vec<f64>) = runs
            .iter()
            .map(|run| {
                let (f, s) = kalman_rts(run, &q);
                (rmse(&f, &run.x), rmse(&s, &run.x))
            })
            .unzip();
        if best.as_ref().is_none_or(|(_, r)| mean(&rts) < mean(r)) {
            best = Some((kf, rts));
        }
    }
    let (kf, rts) = best.unwrap();

    println!(
        "state RMSE over seeds {SEEDS:?} (mean (min–max)); T = {SAMPLES}, s = {S}, \
         Πz = {PI_Z}·I, Πw = {PI_W}·I"
    );
    println!("KF  (white noise)        {}", show(&kf));
    println!("RTS (white noise)        {}", show(&rts));
    println!(" n  DEM (interval window)    DEM (SPM window)");
    for n in 2..=8 {
        let model = LinearModel::new(
            a.clone(),
            b.clone(),
            c.clone(),
            DMatrix::zeros(4, 1),
            DMatrix::identity(4, 4) * PI_Z,
            DMatrix::identity(2, 2) * PI_W,
        )
        .unwrap()
        .with_smoothness(S)
        .unwrap()
        .with_order(n)
        .unwrap();
        let mut errors = vec![];
        for window in [Window::Interval, Window::Sample] {
            let settings = DStepSettings {
                window,
                ..Default::default()
            };
            let mut ds = DStep::new(&model, settings).unwrap();
            let zero = vec![0.0; ds.state_len()];
            let e: Vec<f64> = runs
                .iter()
                .map(|run| {
                    ds.set_state(&zero).unwrap();
                    let trace = ds.run(&run.y, &run.v).unwrap();
                    assert!(trace.free_energy.iter().all(|f| f.is_finite()));
                    rmse(&trace.x, &run.x)
                })
                .collect();
            errors.push(e);
        }
        println!(" {n}  {}      {}", show(&errors[0]), show(&errors[1]));
        if n >= 6 {
            let dem = mean(&errors[0]);
            let (r, k) = (mean(&rts), mean(&kf));
            assert!(
                (dem - r).abs() <= 0.1 * r,
                "n = {n}: DEM {dem:.4} not within 10% of RTS {r:.4}"
            );
            assert!(dem < k, "n = {n}: DEM {dem:.4} not below KF {k:.4}");
        }
    }
}
