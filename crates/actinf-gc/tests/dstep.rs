//! The D-step on linear models: closed-form posteriors, exactness of the
//! local-linearisation integration, noise-free tracking, and clear errors.

use actinf_gc::dstep::{DStep, DStepSettings, DataMotion, Window};
use actinf_gc::linearise::local_linearisation_step;
use actinf_gc::model::LinearModel;
use actinf_gc::precision::temporal_precision;
use actinf_gc::GcError;
use nalgebra::{DMatrix, DVector};

/// SPM's convolution model (`spm_DEM_M('convolution model')`): `P.f`, `P.h`,
/// `P.g`.
fn convolution(pi_z: f64, pi_w: f64, n: usize, s: f64) -> Result<LinearModel, GcError> {
    LinearModel::new(
        DMatrix::from_row_slice(2, 2, &[-0.25, 1.0, -0.5, -0.25]),
        DMatrix::from_row_slice(2, 1, &[1.0, 0.0]),
        DMatrix::from_row_slice(
            4,
            2,
            &[
                0.125,
                0.16332037060954707,
                0.125,
                0.06764951251827464,
                0.125,
                -0.06764951251827463,
                0.125,
                -0.16332037060954707,
            ],
        ),
        DMatrix::zeros(4, 1),
        DMatrix::identity(4, 4) * pi_z,
        DMatrix::identity(2, 2) * pi_w,
    )?
    .with_smoothness(s)?
    .with_order(n)
}

fn ln_det(m: &DMatrix<f64>) -> f64 {
    2.0 * m
        .clone()
        .cholesky()
        .unwrap()
        .l()
        .diagonal()
        .iter()
        .map(|d| d.ln())
        .sum::<f64>()
}

/// A static linear-Gaussian model `y = D v + z`, `v ~ N(η, Πv⁻¹)` (no hidden
/// states): fed the same datum at every sample, the D-step settles on the
/// closed-form posterior `v | y ~ N(P⁻¹(DᵀΠz y + Πv η), P⁻¹)`, `P = DᵀΠzD +
/// Πv`, with zero motion, and its free energy there is the exact surprise
/// `−ln p(ỹ)` of the generalized datum `ỹ = [y, 0, …]`, `ỹ ~ N((I⊗D)η̃, V⊗S)`,
/// `S = Πz⁻¹ + DΠv⁻¹Dᵀ`. Its conditional precision of `v` is `P`.
#[test]
fn static_model_converges_to_the_closed_form_posterior() {
    let d = DMatrix::from_row_slice(3, 2, &[1.0, 0.5, -0.3, 2.0, 0.7, 0.1]);
    let pi_z = DMatrix::from_row_slice(3, 3, &[4.0, 0.5, 0.0, 0.5, 2.0, 0.3, 0.0, 0.3, 1.0]);
    let pi_v = DMatrix::from_row_slice(2, 2, &[0.5, 0.1, 0.1, 0.8]);
    let y = DVector::from_row_slice(&[1.2, -0.4, 2.5]);
    let eta = DVector::from_row_slice(&[0.3, -1.0]);
    for (n, s) in [(1, 0.5), (4, 1.0), (7, 0.5)] {
        let model = LinearModel::new(
            DMatrix::zeros(0, 0),
            DMatrix::zeros(0, 2),
            DMatrix::zeros(3, 0),
            d.clone(),
            pi_z.clone(),
            DMatrix::zeros(0, 0),
        )
        .unwrap()
        .with_cause_prior(pi_v.clone())
        .unwrap()
        .with_smoothness(s)
        .unwrap()
        .with_order(n)
        .unwrap();
        // The slowest mode of the flow is slow at high order and small s
        // (−0.019 at n = 7, s = 1/2): long intervals, integrated exactly.
        let settings = DStepSettings {
            dt: 10.0,
            ..Default::default()
        };
        let mut ds = DStep::new(&model, settings).unwrap();
        assert!(ds.spectral_abscissa() < 0.0);
        // Start away from the answer, with some motion.
        let start: Vec<f64> = (0..2 * n).map(|i| 3.0 - i as f64).collect();
        ds.set_state(&start).unwrap();
        let big_t = 200;
        let ys = DMatrix::from_fn(3, big_t, |i, _| y[i]);
        let etas = DMatrix::from_fn(2, big_t, |i, _| eta[i]);
        let trace = ds.run(&ys, &etas).unwrap();

        let p = d.transpose() * &pi_z * &d + &pi_v;
        let p_inv = p.clone().try_inverse().unwrap();
        let mean = &p_inv * (d.transpose() * &pi_z * &y + &pi_v * &eta);
        let mu = ds.state();
        for i in 0..2 {
            assert!(
                (mu[i] - mean[i]).abs() < 1e-9,
                "n = {n}: v[{i}] = {} vs {}",
                mu[i],
                mean[i]
            );
        }
        for (k, m) in mu.iter().enumerate().skip(2) {
            assert!(m.abs() < 1e-9, "n = {n}: motion μ̃[{k}] = {m}");
        }
        let precision = trace.v_covariance.clone().try_inverse().unwrap();
        assert!(
            (&precision - &p).amax() < 1e-9 * p.amax(),
            "n = {n}: conditional precision {precision} vs {p}"
        );

        // F at the mode is the surprise of the generalized datum.
        let tp = temporal_precision(n, s).unwrap();
        let sigma = pi_z.clone().try_inverse().unwrap()
            + &d * pi_v.clone().try_inverse().unwrap() * d.transpose();
        let r = &y - &d * &eta;
        let quad =
            tp.r[(0, 0)] * (r.transpose() * sigma.clone().try_inverse().unwrap() * &r)[(0, 0)];
        let surprise = 0.5 * quad
            + 0.5 * (3.0 * ln_det(&tp.v) + n as f64 * ln_det(&sigma))
            + 1.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
        let mut y_tilde = vec![0.0; 3 * n];
        y_tilde[..3].copy_from_slice(y.as_slice());
        let mut eta_tilde = vec![0.0; 2 * n];
        eta_tilde[..2].copy_from_slice(eta.as_slice());
        let f = ds.free_energy(&y_tilde, &eta_tilde).unwrap();
        assert!(
            (f - surprise).abs() < 1e-9 * surprise.abs().max(1.0),
            "n = {n}: F = {f} vs −ln p(ỹ) = {surprise}"
        );
        let last = *trace.free_energy.last().unwrap();
        assert!((last - surprise).abs() < 1e-6 * surprise.abs().max(1.0));
        assert!(
            trace.free_energy[0] > last,
            "F falls as the expectation settles"
        );
    }
}

/// One step of the filter is the local-linearisation step of the augmented
/// flow, `Δz = (exp(JΔt) − I) J⁻¹ (J z)`, for both data motions.
#[test]
fn a_step_is_the_local_linearisation_step_of_the_flow() {
    for motion in [DataMotion::Shift, DataMotion::Hold] {
        for prior in [false, true] {
            let mut model = convolution(8.0, 4.0, 5, 1.0).unwrap();
            if prior {
                model = model.with_cause_prior(DMatrix::identity(1, 1)).unwrap();
            }
            let settings = DStepSettings {
                dt: 0.7,
                data_motion: motion,
                ..Default::default()
            };
            let mut ds = DStep::new(&model, settings).unwrap();
            let nu = ds.state_len();
            assert_eq!(nu, if prior { 15 } else { 10 });
            let mu: Vec<f64> = (0..nu).map(|i| (i as f64 * 0.37).sin()).collect();
            let y: Vec<f64> = (0..20).map(|i| (i as f64 * 0.91).cos()).collect();
            let v: Vec<f64> = (0..5).map(|i| 0.2 * i as f64 - 0.3).collect();
            ds.set_state(&mu).unwrap();
            ds.step(&y, &v).unwrap();
            let z = DVector::from_iterator(nu + 25, mu.iter().chain(&y).chain(&v).copied());
            let j = ds.jacobian();
            let dz = local_linearisation_step(j, &(j * &z), 0.7).unwrap();
            for i in 0..nu {
                let expected = mu[i] + dz[i];
                assert!(
                    (ds.state()[i] - expected).abs() < 1e-12 * (1.0 + expected.abs()),
                    "{motion:?}, prior {prior}: μ̃[{i}] = {} vs {expected}",
                    ds.state()[i]
                );
            }
        }
    }
}

/// The states of SPM's convolution model driven by a known Gaussian bump,
/// simulated without noise (fine-grid RK4), are recovered by the D-step
/// with precise noise (SPM's demo precisions, `exp(8)`), after the start.
#[test]
fn noise_free_states_are_tracked() {
    let model = convolution(8f64.exp(), 8f64.exp(), 7, 0.5).unwrap();
    let (a, b, c) = (model.a().clone(), model.b().clone(), model.c().clone());
    let cause = |t: f64| (-(t - 12.0).powi(2) / 4.0).exp();
    let big_t = 32;
    let mut x = DVector::zeros(2);
    let mut xs = DMatrix::zeros(2, big_t);
    let h = 0.01;
    for t in 0..big_t {
        xs.column_mut(t).copy_from(&x);
        for k in 0..100 {
            let tt = t as f64 + k as f64 * h;
            let f = |x: &DVector<f64>, t: f64| &a * x + &b * cause(t);
            let k1 = f(&x, tt);
            let k2 = f(&(&x + &k1 * (h / 2.0)), tt + h / 2.0);
            let k3 = f(&(&x + &k2 * (h / 2.0)), tt + h / 2.0);
            let k4 = f(&(&x + &k3 * h), tt + h);
            x += (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
        }
    }
    let ys = &c * &xs;
    let us = DMatrix::from_fn(1, big_t, |_, t| cause(t as f64));
    let mut ds = DStep::new(&model, DStepSettings::default()).unwrap();
    let trace = ds.run(&ys, &us).unwrap();
    let peak = xs.amax();
    // Away from the ends (where the embedding holds the record's end values).
    let err = (trace.x.columns(4, big_t - 8) - xs.columns(4, big_t - 8)).amax();
    assert!(err < 0.01 * peak, "max state error {err} (peak {peak})");
    assert!(trace.free_energy.iter().all(|f| f.is_finite()));
    assert_eq!(trace.v, us);
    assert_eq!(trace.v_covariance.shape(), (1, 1));
}

/// Both windows give the same ỹ for odd n; for even n the interval window
/// is the exact Taylor shift of the next sample's centred window.
#[test]
fn interval_window_is_a_taylor_shift() {
    let big_t = 12;
    let ys = DMatrix::from_fn(4, big_t, |i, t| ((t * (i + 1)) as f64 * 0.3).sin());
    let us = DMatrix::from_fn(1, big_t, |_, t| (t as f64 * 0.2).cos());
    for n in [3, 4] {
        let model = convolution(100.0, 100.0, n, 1.0).unwrap();
        let run = |window| {
            let settings = DStepSettings {
                window,
                ..Default::default()
            };
            DStep::new(&model, settings).unwrap().run(&ys, &us).unwrap()
        };
        let (sample, interval) = (run(Window::Sample), run(Window::Interval));
        if n % 2 == 1 {
            assert_eq!(sample, interval);
        } else {
            assert!((&sample.x - &interval.x).amax() > 1e-6);
            assert_eq!(sample.x.column(0), interval.x.column(0));
        }
    }
}

#[test]
fn bad_specs_get_clear_errors() {
    // Data with the wrong number of channels, or causes of the wrong length.
    let model = convolution(8.0, 4.0, 6, 1.0).unwrap();
    let mut ds = DStep::new(&model, DStepSettings::default()).unwrap();
    let e = ds
        .run(&DMatrix::zeros(3, 10), &DMatrix::zeros(1, 10))
        .unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    let e = ds
        .run(&DMatrix::zeros(4, 10), &DMatrix::zeros(1, 9))
        .unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    let e = ds.step(&[0.0; 23], &[0.0; 6]).unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    // NaN data.
    let mut y = DMatrix::zeros(4, 10);
    y[(2, 5)] = f64::NAN;
    let e = ds.run(&y, &DMatrix::zeros(1, 10)).unwrap_err();
    assert!(matches!(e, GcError::Value { .. }), "{e}");
    // Non-positive precision.
    let e = convolution(8.0, -1.0, 6, 1.0).unwrap_err();
    assert!(matches!(e, GcError::NotPositiveDefinite(_)), "{e}");
    // Bad settings.
    for dt in [0.0, -1.0, f64::NAN] {
        let settings = DStepSettings {
            dt,
            ..Default::default()
        };
        let e = DStep::new(&model, settings).unwrap_err();
        assert!(matches!(e, GcError::Setting { .. }), "{e}");
    }
    // Nothing to infer: no states and known causes.
    let static_known = LinearModel::new(
        DMatrix::zeros(0, 0),
        DMatrix::zeros(0, 1),
        DMatrix::zeros(2, 0),
        DMatrix::from_element(2, 1, 1.0),
        DMatrix::identity(2, 2),
        DMatrix::zeros(0, 0),
    )
    .unwrap();
    let e = DStep::new(&static_known, DStepSettings::default()).unwrap_err();
    assert!(matches!(e, GcError::Setting { .. }), "{e}");
    // A state that the data cannot see and that does not move: A = 0, the
    // second state unobserved. The curvature is singular.
    let blind = LinearModel::new(
        DMatrix::zeros(2, 2),
        DMatrix::zeros(2, 0),
        DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.5, 0.0]),
        DMatrix::zeros(2, 0),
        DMatrix::identity(2, 2),
        DMatrix::identity(2, 2),
    )
    .unwrap();
    let e = DStep::new(&blind, DStepSettings::default()).unwrap_err();
    assert!(matches!(e, GcError::NotPositiveDefinite(_)), "{e}");
}

/// Imprecise noise at a high embedding order makes the flow `D − H`
/// unstable (the motion term outruns the gradient): refused up front, and,
/// when allowed, stopped as soon as the states explode, never NaN.
#[test]
fn unstable_flows_are_refused_or_stopped() {
    let model = convolution(1.0, 0.25, 8, 1.0).unwrap();
    let e = DStep::new(&model, DStepSettings::default()).unwrap_err();
    match e {
        GcError::Diverged { step: 0, reason } => assert!(reason.contains("unstable"), "{reason}"),
        other => panic!("expected Diverged, got {other}"),
    }
    let settings = DStepSettings {
        allow_unstable: true,
        ..Default::default()
    };
    let mut ds = DStep::new(&model, settings).unwrap();
    assert!(ds.spectral_abscissa() > 0.0);
    let start = vec![1.0; ds.state_len()];
    ds.set_state(&start).unwrap();
    let big_t = 2000;
    let e = ds
        .run(&DMatrix::zeros(4, big_t), &DMatrix::zeros(1, big_t))
        .unwrap_err();
    match e {
        GcError::Diverged { step, .. } => assert!(step > 10 && step < big_t, "step {step}"),
        other => panic!("expected Diverged, got {other}"),
    }
    assert!(ds.state().iter().all(|x| x.is_finite()));
    // Data so large that the states overflow.
    let mut ds = DStep::new(
        &convolution(8.0, 4.0, 6, 1.0).unwrap(),
        DStepSettings::default(),
    )
    .unwrap();
    let huge = DMatrix::from_fn(4, 8, |i, t| if (i + t) % 2 == 0 { 1e306 } else { -1e306 });
    let e = ds.run(&huge, &DMatrix::zeros(1, 8)).unwrap_err();
    assert!(
        matches!(e, GcError::Diverged { .. } | GcError::Value { .. }),
        "{e}"
    );
    assert!(ds.state().iter().all(|x| x.is_finite()));
}
