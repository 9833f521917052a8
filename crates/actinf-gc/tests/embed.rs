//! Checks of the embedding of sampled data in generalized coordinates:
//! exactness for polynomials, the order of accuracy for a smooth signal,
//! SPM's stencils and end rules, the layout, and bad input.

use actinf_gc::embed::{embed, lookahead, Embedding};
use actinf_gc::precision::MAX_ORDER;
use actinf_gc::shift::derivative_operator;
use actinf_gc::GcError;
use nalgebra::{DMatrix, DVector};

const MODES: [Embedding; 2] = [Embedding::Centred, Embedding::Causal];

/// Samples of `f` at `t·dt`, `t = 0 … len−1`, one row per channel.
fn sample(channels: &[&dyn Fn(f64) -> f64], len: usize, dt: f64) -> DMatrix<f64> {
    DMatrix::from_fn(channels.len(), len, |c, t| channels[c](t as f64 * dt))
}

/// The derivatives `p^(j)(x)`, `j = 0 … n−1`, of the polynomial `Σ a_k x^k`.
fn poly_derivatives(a: &[f64], x: f64, n: usize) -> Vec<f64> {
    let mut coef = a.to_vec();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(coef.iter().rev().fold(0.0, |acc, c| acc * x + c));
        coef = coef
            .iter()
            .enumerate()
            .skip(1)
            .map(|(k, c)| k as f64 * c)
            .collect();
    }
    out
}

#[test]
fn polynomials_of_degree_below_n_are_exact() {
    // Two channels, polynomials of degree n − 1, both modes, several t:
    // exact up to rounding. Tolerance: 1e-14 · 4ⁿ · max|y| / dt^j (4ⁿ bounds
    // the sum of the absolute Taylor weights), plus 1e-12 relative.
    for n in 1..=9 {
        let a: Vec<f64> = (0..n).map(|k| (k as f64 + 1.0) * 0.3 - 0.7).collect();
        let b: Vec<f64> = (0..n).map(|k| 1.0 / (k as f64 + 2.0)).collect();
        for dt in [0.05, 0.5, 1.0] {
            let len = 40;
            let pa = |x: f64| a.iter().rev().fold(0.0, |acc, c| acc * x + c);
            let pb = |x: f64| b.iter().rev().fold(0.0, |acc, c| acc * x + c);
            let y = sample(&[&pa, &pb], len, dt);
            for mode in MODES {
                for t in [n + 1, 20, len - n - 2] {
                    let got = embed(&y, n, t, dt, mode).unwrap();
                    assert_eq!(got.len(), 2 * n);
                    let x = t as f64 * dt;
                    let ymax = y.columns(t.saturating_sub(n), 2 * n + 1).amax();
                    let (da, db) = (poly_derivatives(&a, x, n), poly_derivatives(&b, x, n));
                    for j in 0..n {
                        for (c, want) in [(0, da[j]), (1, db[j])] {
                            let g = got[j * 2 + c];
                            let tol = 1e-14 * 4f64.powi(n as i32) * ymax / dt.powi(j as i32)
                                + 1e-12 * want.abs();
                            assert!(
                                (g - want).abs() <= tol,
                                "n {n}, dt {dt}, {mode:?}, t {t}, order {j}, channel {c}: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn smooth_signal_converges_at_the_stated_order() {
    // y = sin(1.3 x) + 0.5 cos(0.7 x): the error of y^(j) is O(dt^(n−j))
    // (observed order ≥ n − j − 0.2 when dt halves); y itself is exact.
    let f = |x: f64| (1.3 * x).sin() + 0.5 * (0.7 * x).cos();
    let derivative = |j: usize, x: f64| {
        let (a, b) = (1.3f64.powi(j as i32), 0.7f64.powi(j as i32));
        let phase = j as f64 * std::f64::consts::FRAC_PI_2;
        a * (1.3 * x + phase).sin() + 0.5 * b * (0.7 * x + phase).cos()
    };
    let x0 = 2.0;
    for n in [3, 4, 5, 6] {
        for mode in MODES {
            let errors = |dt: f64| -> Vec<f64> {
                let t = (x0 / dt).round() as usize;
                let y = sample(&[&f], t + 20, dt);
                let got = embed(&y, n, t, dt, mode).unwrap();
                (0..n)
                    .map(|j| (got[j] - derivative(j, t as f64 * dt)).abs())
                    .collect()
            };
            let (coarse, fine) = (errors(0.1), errors(0.05));
            assert!(coarse[0] <= 1e-15 && fine[0] <= 1e-15);
            for j in 1..n {
                let order = (coarse[j] / fine[j]).log2();
                let expected = (n - j) as f64;
                assert!(
                    order >= expected - 0.2,
                    "n {n}, {mode:?}, order {j}: observed {order:.2}, expected ≥ {expected}"
                );
            }
        }
    }
}

#[test]
fn three_point_stencils() {
    // n = 3, dt = 0.5: centred y′ = (y₊ − y₋)/(2dt), y″ = (y₊ − 2y + y₋)/dt²;
    // causal y′ = (3y − 4y₋ + y₋₋)/(2dt), y″ = (y − 2y₋ + y₋₋)/dt².
    let y = DMatrix::from_row_slice(1, 5, &[1.0, 4.0, 2.0, 7.0, 3.0]);
    let c = embed(&y, 3, 2, 0.5, Embedding::Centred).unwrap();
    assert_eq!(c, DVector::from_vec(vec![2.0, 3.0, 28.0]));
    let k = embed(&y, 3, 2, 0.5, Embedding::Causal).unwrap();
    assert_eq!(k, DVector::from_vec(vec![2.0, -9.0, -20.0]));
}

#[test]
fn ends_are_held_as_spm_does() {
    let y = DMatrix::from_row_slice(1, 5, &[1.0, 4.0, 2.0, 7.0, 3.0]);
    // n = 3 at t = 0: the window −1, 0, 1 reads y₀, y₀, y₁.
    let e = embed(&y, 3, 0, 1.0, Embedding::Centred).unwrap();
    assert_eq!(e, DVector::from_vec(vec![1.0, 1.5, 3.0]));
    // ... and at the last sample, y₃, y₄, y₄.
    let e = embed(&y, 3, 4, 1.0, Embedding::Centred).unwrap();
    assert_eq!(e, DVector::from_vec(vec![3.0, -2.0, 4.0]));
    // Causal at t = 0: all three read y₀; a constant has no motion.
    let e = embed(&y, 3, 0, 1.0, Embedding::Causal).unwrap();
    assert_eq!(e, DVector::from_vec(vec![1.0, 0.0, 0.0]));
    // Even n at the start: SPM's fix puts t = 0 second in the window
    // (offsets −1, 0, 1, 2 reading y₀, y₀, y₁, y₂); y′ weights for these
    // nodes are (−2, −3, 6, −1)/6.
    let e = embed(&y, 4, 0, 1.0, Embedding::Centred).unwrap();
    let want = (-2.0 * 1.0 - 3.0 * 1.0 + 6.0 * 4.0 - 2.0) / 6.0;
    assert!((e[1] - want).abs() <= 1e-14, "{} vs {want}", e[1]);
    // A record shorter than the window is held at both ends.
    let short = DMatrix::from_row_slice(1, 2, &[2.0, 2.0]);
    let e = embed(&short, 5, 1, 1.0, Embedding::Centred).unwrap();
    assert!(e.iter().skip(1).all(|x| x.abs() <= 1e-12) && (e[0] - 2.0).abs() <= 1e-12);
}

#[test]
fn lookahead_is_what_the_window_reads() {
    // Changing a sample after t + lookahead(n) never changes the embedding
    // at t; changing the one at t + lookahead(n) does (interior, centred).
    for n in 1..=9 {
        for mode in MODES {
            let la = lookahead(n, mode);
            let t = 15;
            let y = DMatrix::from_fn(1, 40, |_, k| ((k * k) % 7) as f64);
            let base = embed(&y, n, t, 1.0, mode).unwrap();
            let mut later = y.clone();
            later[(0, t + la + 1)] += 1.0;
            assert_eq!(embed(&later, n, t, 1.0, mode).unwrap(), base);
            let mut edge = y.clone();
            edge[(0, t + la)] += 1.0;
            assert_ne!(
                embed(&edge, n, t, 1.0, mode).unwrap(),
                base,
                "n {n} {mode:?}"
            );
        }
    }
}

#[test]
fn embedding_commutes_with_the_derivative_operator() {
    // For a polynomial of degree < n − 1, D ỹ equals the embedding of y′
    // (both order-major, two channels).
    let n = 5;
    let dt = 0.25;
    let p = |x: f64| 1.0 + x - 0.5 * x * x + 0.1 * x * x * x;
    let dp = |x: f64| 1.0 - x + 0.3 * x * x;
    let q = |x: f64| 2.0 - x * x;
    let dq = |x: f64| -2.0 * x;
    let y = sample(&[&p, &q], 30, dt);
    let dy = sample(&[&dp, &dq], 30, dt);
    for mode in MODES {
        let e = embed(&y, n, 12, dt, mode).unwrap();
        let de = embed(&dy, n, 12, dt, mode).unwrap();
        let shifted = derivative_operator(n, 2) * &e;
        for i in 0..2 * (n - 1) {
            assert!((shifted[i] - de[i]).abs() <= 1e-10, "{mode:?} {i}");
        }
        assert!(shifted.rows(2 * (n - 1), 2).iter().all(|&x| x == 0.0));
    }
}

#[test]
fn bad_input_is_an_error() {
    let y = DMatrix::from_element(2, 10, 1.0);
    for mode in MODES {
        assert!(matches!(
            embed(&y, 0, 3, 1.0, mode),
            Err(GcError::Setting { .. })
        ));
        assert!(matches!(
            embed(&y, MAX_ORDER + 1, 3, 1.0, mode),
            Err(GcError::Setting { .. })
        ));
        for dt in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            assert!(
                matches!(embed(&y, 4, 3, dt, mode), Err(GcError::Setting { .. })),
                "dt = {dt}"
            );
        }
        assert!(matches!(
            embed(&y, 3, 10, 1.0, mode),
            Err(GcError::Setting { .. })
        ));
        assert!(matches!(
            embed(&DMatrix::zeros(2, 0), 3, 0, 1.0, mode),
            Err(GcError::Dimension { .. })
        ));
        let mut bad = y.clone();
        bad[(1, 4)] = f64::NAN;
        match embed(&bad, 3, 4, 1.0, mode) {
            Err(GcError::Value { index, .. }) => assert_eq!(index, 4 * 2 + 1),
            other => panic!("{other:?}"),
        }
        // A NaN outside the window is not read.
        assert!(embed(&bad, 3, 8, 1.0, mode).is_ok());
    }
    // No channels: an empty generalized vector.
    assert_eq!(
        embed(&DMatrix::zeros(0, 5), 3, 2, 1.0, Embedding::Centred)
            .unwrap()
            .len(),
        0
    );
    // The largest order works.
    let y = DMatrix::from_fn(1, 50, |_, k| (k as f64 * 0.1).sin());
    for mode in MODES {
        assert!(embed(&y, MAX_ORDER, 25, 0.1, mode).is_ok());
    }
}
