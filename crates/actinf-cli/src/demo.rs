//! `actinf demo tmaze`: the T-maze agent in a closed loop, as a table and a plot.

use anyhow::Result;
use serde_json::{json, Value};

use actinf_pomdp::env::{tmaze_index, Environment, TMaze};
use actinf_pomdp::{Agent, GenerativeModel, Settings};

/// Options of the T-maze demo.
#[derive(Debug, Clone)]
pub struct TMazeOptions {
    /// Number of trials (a fresh agent each trial).
    pub trials: usize,
    /// Observations per trial.
    pub steps: usize,
    /// Probability of reward in the cued arm.
    pub reward_prob: f64,
    /// Log-preference for reward (and its negative for loss).
    pub reward_pref: f64,
    /// Policy depth.
    pub policy_len: usize,
    /// Seed of the environment and agent.
    pub seed: u64,
}

/// One row of the demo's table.
#[derive(Debug, Clone)]
pub struct TMazeRow {
    /// Trial index.
    pub trial: usize,
    /// Step within the trial.
    pub t: usize,
    /// True context (0: reward left, 1: reward right).
    pub context: usize,
    /// Observation (location, reward, cue).
    pub observation: Vec<usize>,
    /// Posterior over locations.
    pub q_location: Vec<f64>,
    /// Posterior over the context.
    pub q_context: Vec<f64>,
    /// Posterior over policies.
    pub q_pi: Vec<f64>,
    /// Location moved to.
    pub action: usize,
    /// Variational free energy.
    pub free_energy: f64,
}

/// Run the demo and return its rows.
pub fn run_tmaze(opts: &TMazeOptions, mut progress: impl FnMut(usize)) -> Result<Vec<TMazeRow>> {
    let mut rows = Vec::new();
    for trial in 0..opts.trials {
        let seed = opts.seed.wrapping_add(trial as u64);
        let context = (seed % 2) as usize;
        let mut env = TMaze::new(opts.reward_prob, context, seed)?;
        let model = GenerativeModel::new(TMaze::model(opts.reward_prob, opts.reward_pref))?;
        let settings = Settings {
            policy_len: opts.policy_len,
            seed,
            ..Settings::default()
        };
        let mut agent = Agent::new(model, settings)?;
        let mut obs = env.reset();
        for t in 0..opts.steps {
            let rec = agent.step(&obs, None)?;
            rows.push(TMazeRow {
                trial,
                t,
                context,
                observation: obs.clone(),
                q_location: rec.qs[0].clone(),
                q_context: rec.qs[1].clone(),
                q_pi: rec.policies.q_pi.clone(),
                action: rec.action[0],
                free_energy: rec.free_energy,
            });
            obs = env.step(&rec.action)?;
        }
        progress(trial + 1);
    }
    Ok(rows)
}

const LOCATIONS: [&str; 4] = ["centre", "left", "right", "cue"];
const REWARDS: [&str; 3] = ["none", "reward", "loss"];
const CUES: [&str; 2] = ["left", "right"];

/// The rows as a readable table.
pub fn table(rows: &[TMazeRow]) -> String {
    let mut s = format!(
        "{:>5} {:>3} {:>7}  {:<7} {:<7} {:<6}  {:>8} {:>8}  {:<7} {:>6}  {:>8}\n",
        "trial", "t", "context", "at", "reward", "cue", "q(left)", "q(right)", "go to", "q(π)", "F"
    );
    for r in rows {
        let best = r.q_pi.iter().copied().fold(0.0, f64::max);
        s += &format!(
            "{:>5} {:>3} {:>7}  {:<7} {:<7} {:<6}  {:>8.4} {:>8.4}  {:<7} {:>6.3}  {:>8.4}\n",
            r.trial,
            r.t,
            CUES[r.context],
            LOCATIONS[r.observation[0]],
            REWARDS[r.observation[1]],
            CUES[r.observation[2]],
            r.q_context[0],
            r.q_context[1],
            LOCATIONS[r.action],
            best,
            r.free_energy
        );
    }
    let rewarded = rows
        .iter()
        .filter(|r| r.observation[1] == tmaze_index::REWARD)
        .count();
    let lost = rows
        .iter()
        .filter(|r| r.observation[1] == tmaze_index::LOSS)
        .count();
    s += &format!("rewards: {rewarded}, losses: {lost}\n");
    s
}

/// The rows as JSON.
pub fn to_json(rows: &[TMazeRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "trial": r.trial, "t": r.t, "context": r.context,
                    "observation": r.observation, "q_location": r.q_location,
                    "q_context": r.q_context, "q_pi": r.q_pi, "action": r.action,
                    "free_energy": r.free_energy,
                })
            })
            .collect(),
    )
}
