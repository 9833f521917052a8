//! Checks of the temporal precision `R = V⁻¹` of smooth noise: the closed
//! forms of the issue, `R·V = I`, SPM12's `spm_DEM_R`, and the empirical
//! covariance of the derivatives of sampled smooth noise.

use actinf_gc::embed::{embed, Embedding};
use actinf_gc::precision::{temporal_precision, DEFAULT_ORDER, DEFAULT_SMOOTHNESS, MAX_ORDER};
use actinf_gc::GcError;
use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SMOOTHNESS: [f64; 4] = [0.25, 0.5, 1.0, 2.0];

fn max_abs_diff(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `a·b` and its rounding error exactly: `a·b = p + e`.
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// `a + b` and its rounding error exactly: `a + b = s + e`.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `A·B − I` with compensated dot products (Ogita, Rump & Oishi 2005, Dot2):
/// as accurate as if computed in twice the working precision, so that the
/// residual shows the error of the factors, not that of the product.
fn residual(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let n = a.nrows();
    DMatrix::from_fn(n, n, |i, j| {
        let (mut s, mut c) = (if i == j { -1.0 } else { 0.0 }, 0.0);
        for k in 0..n {
            let (p, e) = two_prod(a[(i, k)], b[(k, j)]);
            let (t, f) = two_sum(s, p);
            s = t;
            c += e + f;
        }
        s + c
    })
}

/// `|A|·|B|`, the scale of each entry of `A·B`.
fn abs_product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    a.abs() * b.abs()
}

fn spectral_norm(a: &DMatrix<f64>) -> f64 {
    a.clone().singular_values().max()
}

#[test]
fn closed_forms_of_the_issue() {
    // n = 3, s = 0.5 and n = 4, s = 1 (issue 4, "Checks"); tolerance 1e-12.
    let p = temporal_precision(3, 0.5).unwrap();
    let r3 = DMatrix::from_row_slice(3, 3, &[1.5, 0.0, 0.25, 0.0, 0.5, 0.0, 0.25, 0.0, 0.125]);
    let v3 = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, -2.0, 0.0, 2.0, 0.0, -2.0, 0.0, 12.0]);
    assert!(max_abs_diff(&p.r, &r3) <= 1e-12, "{}", p.r);
    assert_eq!(p.v, v3);
    println!(
        "n = 3, s = 0.5: max |R − closed form| = {:e}",
        max_abs_diff(&p.r, &r3)
    );

    let p = temporal_precision(4, 1.0).unwrap();
    #[rustfmt::skip]
    let r4 = DMatrix::from_row_slice(4, 4, &[
        1.5, 0.0, 1.0, 0.0,
        0.0, 5.0, 0.0, 2.0,
        1.0, 0.0, 2.0, 0.0,
        0.0, 2.0, 0.0, 4.0 / 3.0,
    ]);
    assert!(max_abs_diff(&p.r, &r4) <= 1e-12, "{}", p.r);
    println!(
        "n = 4, s = 1: max |R − closed form| = {:e}",
        max_abs_diff(&p.r, &r4)
    );
    assert_eq!((p.n, p.s), (4, 1.0));
}

#[test]
fn r_times_v_is_the_identity() {
    // Raw residual R·V − I in floating point (tolerance 1e-10 where the
    // scale of the entries allows it), and the residual relative to the
    // scale of each entry, |R·V − I| ≤ 1e-14 |R|·|V| with compensated dot
    // products, for n ≤ 8 and the four smoothness values.
    let mut worst_raw = 0.0f64;
    for n in 1..=8 {
        for s in SMOOTHNESS {
            let p = temporal_precision(n, s).unwrap();
            let raw = max_abs_diff(&(&p.r * &p.v), &DMatrix::identity(n, n));
            worst_raw = worst_raw.max(raw);
            let res = residual(&p.r, &p.v);
            let scale = abs_product(&p.r, &p.v);
            let rel = res
                .iter()
                .zip(scale.iter())
                .map(|(r, s)| if *s > 0.0 { r.abs() / s } else { r.abs() })
                .fold(0.0, f64::max);
            println!("n = {n}, s = {s}: max |RV − I| = {raw:.1e}, componentwise {rel:.1e}");
            assert!(
                rel <= 1e-14,
                "n = {n}, s = {s}: componentwise residual {rel:e}"
            );
            assert!(raw <= 1e-10, "n = {n}, s = {s}: residual {raw:e}");
        }
    }
    println!("worst raw residual {worst_raw:e}");
}

#[test]
fn higher_orders_and_extreme_smoothness() {
    // Exact arithmetic keeps R accurate where V is hopeless for a numerical
    // inverse: componentwise residual at n = MAX_ORDER.
    for s in [0.05, 0.125, 1.0, 10.0] {
        let p = temporal_precision(MAX_ORDER, s).unwrap();
        let res = residual(&p.r, &p.v);
        let scale = abs_product(&p.r, &p.v);
        let rel = res
            .iter()
            .zip(scale.iter())
            .map(|(r, s)| if *s > 0.0 { r.abs() / s } else { r.abs() })
            .fold(0.0, f64::max);
        let cond = spectral_norm(&p.v) * spectral_norm(&p.r);
        println!("n = {MAX_ORDER}, s = {s}: cond V = {cond:.1e}, componentwise residual {rel:.1e}");
        assert!(rel <= 1e-13, "s = {s}: {rel:e}");
    }
    let p = temporal_precision(DEFAULT_ORDER, DEFAULT_SMOOTHNESS).unwrap();
    let cond = spectral_norm(&p.v) * spectral_norm(&p.r);
    println!("defaults n = {DEFAULT_ORDER}, s = {DEFAULT_SMOOTHNESS}: cond V = {cond:.2e}");
    assert!((1e6..1e7).contains(&cond));
}

#[test]
fn bad_settings_are_errors() {
    assert!(matches!(
        temporal_precision(0, 1.0),
        Err(GcError::Setting { .. })
    ));
    assert!(matches!(
        temporal_precision(MAX_ORDER + 1, 1.0),
        Err(GcError::Setting { .. })
    ));
    for s in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-200, 1e200] {
        assert!(
            matches!(temporal_precision(4, s), Err(GcError::Setting { .. })),
            "s = {s}"
        );
    }
    let p = temporal_precision(2, 1.0).unwrap();
    assert!(matches!(
        p.generalized(&DMatrix::zeros(2, 3)),
        Err(GcError::Dimension { .. })
    ));
    assert!(matches!(
        p.generalized(&DMatrix::from_element(1, 1, f64::NAN)),
        Err(GcError::Value { .. })
    ));
    let pi = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.5, 1.0]);
    let g = p.generalized(&pi).unwrap();
    assert_eq!(g.shape(), (4, 4));
    assert_eq!(g.view((2, 2), (2, 2)), pi * 2.0);
    assert_eq!(g.view((0, 2), (2, 2)), DMatrix::zeros(2, 2));
}

/// A JSON number, array or matrix as f64s.
fn matrix(value: &serde_json::Value) -> DMatrix<f64> {
    let rows: Vec<Vec<f64>> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let n = rows.len();
    DMatrix::from_fn(n, rows[0].len(), |i, j| rows[i][j])
}

#[test]
fn agrees_with_spm_dem_r() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/spm12/dem_R.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("note: {path} is absent; comparison with SPM12's spm_DEM_R skipped");
        return;
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 32);
    println!(
        "{:>2} {:>5} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "n", "s", "cond V", "ΔV/V", "‖ΔR‖/‖R‖", "max ΔR/R", "ours", "SPM's"
    );
    for e in entries {
        let n = e["n"].as_u64().unwrap() as usize;
        let s = e["s"].as_f64().unwrap();
        let (r_spm, v_spm) = (matrix(&e["R"]), matrix(&e["V"]));
        let p = temporal_precision(n, s).unwrap();
        // V: SPM builds it in floating point (cumprod(1 − 2k)./(√2 s)^(2k)),
        // so it matches to rounding; the zero pattern matches exactly.
        let dv =
            p.v.iter()
                .zip(v_spm.iter())
                .map(|(a, b)| {
                    assert_eq!(*a == 0.0, *b == 0.0);
                    if *a == 0.0 {
                        0.0
                    } else {
                        (a - b).abs() / a.abs()
                    }
                })
                .fold(0.0, f64::max);
        assert!(dv <= 1e-14, "n = {n}, s = {s}: V differs by {dv:e}");
        // R: SPM inverts V numerically; the gap to the exact R is SPM's error.
        let cond = spectral_norm(&p.v) * spectral_norm(&p.r);
        let dr_norm = spectral_norm(&(&p.r - &r_spm)) / spectral_norm(&p.r);
        let dr_max =
            p.r.iter()
                .zip(r_spm.iter())
                .filter(|(a, _)| **a != 0.0)
                .map(|(a, b)| (a - b).abs() / a.abs())
                .fold(0.0, f64::max);
        // Which is the more accurate inverse: residuals R·V − I (compensated
        // products, against the exact V), relative to ‖R‖‖V‖.
        let scale = spectral_norm(&p.r) * spectral_norm(&p.v);
        let ours = spectral_norm(&residual(&p.r, &p.v)) / scale;
        let theirs = spectral_norm(&residual(&r_spm, &p.v)) / scale;
        println!(
            "{n:>2} {s:>5} {cond:>9.1e} {dv:>10.1e} {dr_norm:>10.1e} {dr_max:>10.1e} {ours:>10.1e} {theirs:>10.1e}"
        );
        // SPM's error is that of a backward-stable inverse: ≤ c·cond·eps.
        assert!(
            dr_norm <= 10.0 * cond * f64::EPSILON,
            "n = {n}, s = {s}: ‖ΔR‖/‖R‖ = {dr_norm:e}, cond V = {cond:e}"
        );
        assert!(ours <= 1e-15, "n = {n}, s = {s}: our residual {ours:e}");
        assert!(
            ours <= theirs,
            "n = {n}, s = {s}: {ours:e} > SPM's {theirs:e}"
        );
        // In fact SPM's inverse is much better than cond V suggests (V is a
        // diagonally scaled, well-conditioned W, and elimination with partial
        // pivoting does not see the scaling): measured ≤ 3.4e-14 per entry.
        assert!(dr_max <= 1e-13, "n = {n}, s = {s}: max ΔR/R = {dr_max:e}");
    }
}

/// `count` standard normals by Box–Muller (both outputs of each pair).
fn normals(rng: &mut StdRng, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count + 1);
    while out.len() < count {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let (r, a) = ((-2.0 * u1.ln()).sqrt(), std::f64::consts::TAU * u2);
        out.push(r * a.cos());
        out.push(r * a.sin());
    }
    out.truncate(count);
    out
}

/// Probabilists' Hermite polynomials He_0 … He_{n−1} at x.
fn hermite(n: usize, x: f64) -> Vec<f64> {
    let mut h = vec![1.0, x];
    for k in 1..n {
        let next = x * h[k] - k as f64 * h[k - 1];
        h.push(next);
    }
    h.truncate(n);
    h
}

/// Empirical covariance of rows of samples (mean known to be zero).
fn covariance(samples: &[Vec<f64>]) -> DMatrix<f64> {
    let n = samples[0].len();
    let mut c = DMatrix::zeros(n, n);
    for z in samples {
        for i in 0..n {
            for j in 0..n {
                c[(i, j)] += z[i] * z[j];
            }
        }
    }
    c / samples.len() as f64
}

/// max_ij |C_ij − V_ij| / √(V_ii V_jj): the error in units of the scales.
fn normalised_gap(c: &DMatrix<f64>, v: &DMatrix<f64>) -> f64 {
    let n = v.nrows();
    let mut worst = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let gap = (c[(i, j)] - v[(i, j)]).abs() / (v[(i, i)] * v[(j, j)]).sqrt();
            worst = worst.max(gap);
        }
    }
    worst
}

#[test]
fn v_is_the_covariance_of_derivatives_of_smooth_noise() {
    // White noise on a fine grid (spacing h = s/5) convolved with the
    // Gaussian kernel K(u) = exp(−u²/(2s²)) and scaled to unit variance;
    // its derivatives at t = 0 analytically, K^(i)(u) = (−1/s)^i He_i(u/s) K(u).
    // (The grid sums of these Gaussian-type products equal the integrals to
    // far below 1e-6.) 16 000 independent draws: sampling error ≈ 1.1% of
    // √(V_ii V_jj) per entry (the largest of the ten entries' gaps was
    // 1.2–2.6% over seeds 1, 2, 3, 5, 6, and 3.9% at s = 1 with this seed);
    // tolerance 5% (a few percent, as the issue asks).
    let n = 4;
    let mut rng = StdRng::seed_from_u64(4);
    for s in [0.5f64, 1.0] {
        let h = s / 5.0;
        let half = (6.0 * s / h).ceil() as i64;
        // kernel derivatives at the grid points u_m = −m h (t = 0)
        let mut taps: Vec<Vec<f64>> = Vec::new();
        for m in -half..=half {
            let u = -(m as f64) * h;
            let k = (-u * u / (2.0 * s * s)).exp();
            let he = hermite(n, u / s);
            taps.push(
                (0..n)
                    .map(|i| (-1.0 / s).powi(i as i32) * he[i] * k)
                    .collect(),
            );
        }
        let norm = taps.iter().map(|t| t[0] * t[0]).sum::<f64>().sqrt();
        let draws: Vec<Vec<f64>> = (0..16_000)
            .map(|_| {
                let mut z = vec![0.0; n];
                for (tap, w) in taps.iter().zip(normals(&mut rng, taps.len())) {
                    let w = w / norm;
                    for i in 0..n {
                        z[i] += w * tap[i];
                    }
                }
                z
            })
            .collect();
        let c = covariance(&draws);
        let v = temporal_precision(n, s).unwrap().v;
        let gap = normalised_gap(&c, &v);
        println!("s = {s}: empirical covariance vs V, max gap {gap:.3} (of √(V_ii V_jj))");
        assert!(gap <= 0.05, "s = {s}: gap {gap}\n{c}\n{v}");
    }
}

#[test]
fn v_is_the_covariance_of_embedded_sampled_noise() {
    // The same noise as one long sampled series (spacing dt = s/10, 200 000
    // samples), its derivatives estimated from the samples by the centred
    // embedding at order 9 (truncation error O(dt^(9−j)), negligible), at
    // every 20th sample. Neighbouring estimates are correlated, so the
    // effective sample size is smaller (≈ 10⁴); tolerance 6%.
    let (n, s) = (4, 1.0f64);
    let dt = s / 10.0;
    let len = 200_000usize;
    let half = (6.0 * s / dt).ceil() as usize;
    let kernel: Vec<f64> = (0..=2 * half)
        .map(|m| {
            let u = (m as f64 - half as f64) * dt;
            (-u * u / (2.0 * s * s)).exp()
        })
        .collect();
    let norm = kernel.iter().map(|k| k * k).sum::<f64>().sqrt();
    let mut rng = StdRng::seed_from_u64(7);
    let white = normals(&mut rng, len + 2 * half);
    let series = DMatrix::from_fn(1, len, |_, t| {
        kernel
            .iter()
            .zip(&white[t..t + 2 * half + 1])
            .map(|(k, w)| k * w)
            .sum::<f64>()
            / norm
    });
    let draws: Vec<Vec<f64>> = (20..len - 20)
        .step_by(20)
        .map(|t| {
            let y = embed(&series, 9, t, dt, Embedding::Centred).unwrap();
            y.iter().take(n).copied().collect()
        })
        .collect();
    let c = covariance(&draws);
    let v = temporal_precision(n, s).unwrap().v;
    let gap = normalised_gap(&c, &v);
    println!("embedded series: empirical covariance vs V, max gap {gap:.3}");
    assert!(gap <= 0.06, "gap {gap}\n{c}\n{v}");
}
