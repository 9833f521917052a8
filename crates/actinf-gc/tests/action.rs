//! Active inference: an agent that reaches a set point by acting on a
//! simulated world (Friston et al. 2010, "Action and behavior").

use actinf_gc::action::{
    action_sensitivity, generalized_response, run_active_agent, ActiveSettings, LinearProcess,
};
use actinf_gc::dstep::DStepSettings;
use actinf_gc::model::LinearModel;
use actinf_gc::GcError;
use nalgebra::{DMatrix, DVector};

/// A damped point mass: position `p`, velocity `q`, `p′ = q`,
/// `q′ = −c q + a`; the agent senses both.
fn point_mass() -> LinearProcess {
    actinf_gc::systems::point_mass()
}

fn spring_model(k1: f64, k2: f64) -> LinearModel {
    actinf_gc::systems::set_point_model(k1, k2).unwrap()
}

fn settings(gain: f64) -> ActiveSettings {
    ActiveSettings {
        dstep: DStepSettings {
            dt: 0.1,
            ..DStepSettings::default()
        },
        action_gain: gain,
        steps: 1000,
        ..ActiveSettings::default()
    }
}

#[test]
fn agent_reaches_the_set_point() {
    let tr = run_active_agent(
        &point_mass(),
        &spring_model(0.5, 1.0),
        &[-1.0, 0.0],
        &[1.0],
        &settings(1.0),
    )
    .unwrap();
    let p = tr.final_state[0];
    let f = &tr.free_energy;
    let t = f.len();
    let early: f64 = f[..t / 10].iter().sum::<f64>() / (t / 10) as f64;
    let late: f64 = f[t - t / 10..].iter().sum::<f64>() / (t / 10) as f64;
    println!(
        "final p {p}, q {}, a {}, belief {}, F early {early}, late {late}, F0 {}",
        tr.final_state[1],
        tr.action[(0, t - 1)],
        tr.belief[(0, t - 1)],
        f[0]
    );
    let reach = (0..t)
        .position(|k| (k..t).all(|j| (tr.x[(0, j)] - 1.0).abs() < 0.05))
        .unwrap();
    println!("within 0.05 of the set point from sample {reach}");
    // From 2 units away to within 1e-3 after 100 time units.
    assert!((p - 1.0).abs() < 1e-3, "final position {p}");
    assert!(reach < t / 2, "reached at sample {reach}");
    // Free energy falls: the late mean is below the early mean, by most of
    // the initial excess over the final value.
    assert!(late < early - 0.05, "F early {early}, late {late}");
    assert!(f[0] - late > 0.5, "F0 {}, late {late}", f[0]);
    // And below what the same agent ends with when it cannot act.
    let idle = run_active_agent(
        &point_mass(),
        &spring_model(0.5, 1.0),
        &[-1.0, 0.0],
        &[1.0],
        &settings(0.0),
    )
    .unwrap();
    let idle_late: f64 = idle.free_energy[t - t / 10..].iter().sum::<f64>() / (t / 10) as f64;
    println!("F late without action {idle_late}");
    assert!(late < idle_late - 0.1, "late F {late} vs idle {idle_late}");
    assert!(tr.x.iter().chain(tr.action.iter()).all(|v| v.is_finite()));
}

#[test]
fn without_action_the_state_stays_away() {
    let tr = run_active_agent(
        &point_mass(),
        &spring_model(0.5, 1.0),
        &[-1.0, 0.0],
        &[1.0],
        &settings(0.0),
    )
    .unwrap();
    println!("no action: final {}", tr.final_state);
    assert!((tr.final_state[0] - 1.0).abs() > 1.0);
    assert!(tr.action.iter().all(|&a| a == 0.0));
}

#[test]
fn sensitivity_and_response() {
    let p = point_mass();
    let g = action_sensitivity(&p, 3);
    // Order 0: 0; order 1: C B = [0, 1]; order 2: C A B = [1, −0.5].
    assert_eq!(g.as_slice(), &[0.0, 0.0, 0.0, 1.0, 1.0, -0.5]);
    let x = DVector::from_vec(vec![0.3, -0.2]);
    let a0 = DVector::from_vec(vec![0.0]);
    let a1 = DVector::from_vec(vec![1.0]);
    let s0 = generalized_response(&p, &x, &a0, 3).unwrap();
    let s1 = generalized_response(&p, &x, &a1, 3).unwrap();
    assert!(((s1 - s0) - g.column(0)).amax() < 1e-12);
}

#[test]
fn bad_input_is_refused() {
    let p = point_mass();
    let m = spring_model(0.5, 1.0);
    let s = settings(1.0);
    let e = run_active_agent(&p, &m, &[0.0], &[1.0], &s).unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    let e = run_active_agent(&p, &m, &[0.0, 0.0], &[1.0, 2.0], &s).unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    let e = run_active_agent(&p, &m, &[f64::NAN, 0.0], &[1.0], &s).unwrap_err();
    assert!(matches!(e, GcError::Value { .. }), "{e}");
    let e = run_active_agent(&p, &m, &[0.0, 0.0], &[1.0], &settings(-1.0)).unwrap_err();
    assert!(matches!(e, GcError::Setting { .. }), "{e}");
    // A model sensing one channel of a two-sensor process.
    let one = LinearModel::new(
        DMatrix::from_element(1, 1, -1.0),
        DMatrix::from_element(1, 1, 1.0),
        DMatrix::from_element(1, 1, 1.0),
        DMatrix::zeros(1, 1),
        DMatrix::identity(1, 1),
        DMatrix::identity(1, 1),
    )
    .unwrap();
    let e = run_active_agent(&p, &one, &[0.0, 0.0], &[1.0], &s).unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
    let e = LinearProcess::new(
        DMatrix::identity(2, 2),
        DMatrix::zeros(3, 1),
        DMatrix::identity(2, 2),
    )
    .unwrap_err();
    assert!(matches!(e, GcError::Dimension { .. }), "{e}");
}

#[test]
fn an_exploding_world_is_reported_as_divergence() {
    let unstable = LinearProcess::new(
        DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]),
        DMatrix::from_row_slice(2, 1, &[0.0, 1.0]),
        DMatrix::identity(2, 2),
    )
    .unwrap();
    let e = run_active_agent(
        &unstable,
        &spring_model(0.5, 1.0),
        &[1.0, 0.0],
        &[1.0],
        &settings(0.0),
    )
    .unwrap_err();
    assert!(matches!(e, GcError::Diverged { .. }), "{e}");
}
