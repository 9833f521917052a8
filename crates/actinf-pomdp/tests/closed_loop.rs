//! Agents in closed loop with the shipped environments, and exact
//! forward–backward inference against brute-force enumeration.

use actinf_core::Tensor;
use actinf_pomdp::env::{tmaze_index, GridWorld, TMaze};
use actinf_pomdp::inference::{exact_posterior, forward_backward};
use actinf_pomdp::{Agent, GenerativeModel, ModelArrays, Settings};

#[test]
fn tmaze_agent_checks_the_cue_then_collects_the_reward() {
    for context in [0, 1] {
        let model = GenerativeModel::new(TMaze::model(0.98, 3.0)).unwrap();
        let settings = Settings {
            policy_len: 2,
            ..Settings::default()
        };
        let mut agent = Agent::new(model, settings).unwrap();
        let mut env = TMaze::new(0.98, context, 7).unwrap();
        let records = agent.run_episode(&mut env, 3).unwrap();
        assert_eq!(
            records[0].action[0],
            tmaze_index::CUE,
            "first move: to the cue"
        );
        let rewarded_arm = if context == 0 {
            tmaze_index::LEFT
        } else {
            tmaze_index::RIGHT
        };
        assert_eq!(records[1].action[0], rewarded_arm, "then to the cued arm");
        assert!(
            records[1].qs[1][context] > 0.99,
            "the cue reveals the context"
        );
    }
}

#[test]
fn grid_agent_walks_to_the_goal_and_stays() {
    let (rows, cols, start, goal) = (3, 3, 0, 8);
    let model = GenerativeModel::new(GridWorld::model(rows, cols, 1.0, start, goal, 4.0)).unwrap();
    let settings = Settings {
        policy_len: 4,
        ..Settings::default()
    };
    let mut agent = Agent::new(model, settings).unwrap();
    let mut env = GridWorld::new(rows, cols, 1.0, start, 3).unwrap();
    let records = agent.run_episode(&mut env, 9).unwrap();
    // Manhattan distance 4, within the planning horizon: the goal is
    // reached in 4 moves and kept.
    let seen: Vec<usize> = records.iter().map(|r| r.observation[0]).collect();
    let first = seen.iter().position(|&o| o == goal).expect("goal reached");
    assert_eq!(first, 4, "{seen:?}");
    assert!(seen[first..].iter().all(|&o| o == goal), "{seen:?}");
}

/// A small HMM with two outcome modalities and two controls.
fn hmm() -> GenerativeModel {
    let a0 = Tensor::new(vec![2, 3], vec![0.9, 0.2, 0.4, 0.1, 0.8, 0.6]).unwrap();
    let a1 = Tensor::new(vec![2, 3], vec![0.3, 0.5, 0.95, 0.7, 0.5, 0.05]).unwrap();
    // B[s', s, u]
    let mut b = vec![0.0; 18];
    let t0 = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]];
    let t1 = [[0.2, 0.3, 0.5], [0.5, 0.2, 0.3], [0.3, 0.5, 0.2]];
    for sp in 0..3 {
        for s in 0..3 {
            b[(sp * 3 + s) * 2] = t0[sp][s];
            b[(sp * 3 + s) * 2 + 1] = t1[sp][s];
        }
    }
    GenerativeModel::new(ModelArrays {
        a: Some(vec![a0, a1]),
        b: Some(vec![Tensor::new(vec![3, 3, 2], b).unwrap()]),
        d: Some(vec![vec![0.5, 0.3, 0.2]]),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn forward_backward_matches_enumeration_and_filtering() {
    let model = hmm();
    let obs = vec![vec![0, 1], vec![1, 1], vec![0, 0], vec![1, 0]];
    let actions = vec![0, 1, 1];
    let fb = forward_backward(&model, &model.d[0], &obs, &actions);
    // Brute force over all 3^4 state paths.
    let b = |sp: usize, s: usize, u: usize| model.b[0].get(&[sp, s, u]).unwrap();
    let lik = |t: usize, s: usize| -> f64 {
        (0..2)
            .map(|m| model.a[m].get(&[obs[t][m], s]).unwrap())
            .product()
    };
    let mut evidence = 0.0;
    let mut marg = vec![vec![0.0; 3]; 4];
    for path in 0..81 {
        let s: Vec<usize> = (0..4).map(|t| (path / 3usize.pow(t as u32)) % 3).collect();
        let mut p = model.d[0][s[0]] * lik(0, s[0]);
        for t in 1..4 {
            p *= b(s[t], s[t - 1], actions[t - 1]) * lik(t, s[t]);
        }
        evidence += p;
        for (m, &st) in marg.iter_mut().zip(&s) {
            m[st] += p;
        }
    }
    assert!((fb.log_evidence - evidence.ln()).abs() < 1e-12);
    for (smoothed, brute) in fb.smoothed.iter().zip(&marg) {
        for (q, p) in smoothed.iter().zip(brute) {
            assert!((q - p / evidence).abs() < 1e-12);
        }
    }
    // The agent's exact filter, step by step, gives the same filtered
    // marginals, and its free energies sum to the sequence surprise.
    let settings = Settings {
        inference_algo: actinf_pomdp::settings::InferenceAlgo::Exact,
        ..Settings::default()
    };
    let mut agent = Agent::new(model.clone(), settings).unwrap();
    let mut total = 0.0;
    for t in 0..4 {
        let forced = if t < 3 { Some(vec![actions[t]]) } else { None };
        let rec = agent.step(&obs[t], forced.as_deref()).unwrap();
        total += rec.free_energy;
        for s in 0..3 {
            assert!((rec.qs[0][s] - fb.filtered[t][s]).abs() < 1e-12);
        }
    }
    assert!((total + fb.log_evidence).abs() < 1e-12);
    let one = exact_posterior(&model, &obs[0], &model.d[0]);
    assert!((one.qs[0][0] - fb.filtered[0][0]).abs() < 1e-15);
}

#[test]
fn stochastic_runs_replay_from_their_seed() {
    let run = |seed: u64| -> Vec<usize> {
        let model = GenerativeModel::new(GridWorld::model(3, 3, 0.8, 4, 0, 1.0)).unwrap();
        let settings = Settings {
            action_selection: actinf_pomdp::settings::ActionSelection::Stochastic,
            alpha: 1.0,
            gamma: 1.0,
            seed,
            ..Settings::default()
        };
        let mut agent = Agent::new(model, settings).unwrap();
        let mut env = GridWorld::new(3, 3, 0.8, 4, seed).unwrap();
        agent
            .run_episode(&mut env, 30)
            .unwrap()
            .iter()
            .map(|r| r.action[0])
            .collect()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}
