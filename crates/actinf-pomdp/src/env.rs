//! Generative processes for agents to act in: the T-maze and a grid world.
//!
//! An environment is the *true* process that emits outcomes, distinct from the
//! agent's generative *model* of it; each environment also offers the model a
//! well-informed agent would hold, so a closed loop runs out of the box.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use actinf_core::Tensor;

use crate::error::PomdpError;
use crate::model::ModelArrays;

/// A generative process: it takes actions and emits one outcome per modality.
pub trait Environment {
    /// Start an episode and return the first outcome.
    fn reset(&mut self) -> Vec<usize>;
    /// Apply one action (one control per factor) and return the next outcome.
    fn step(&mut self, action: &[usize]) -> Result<Vec<usize>, PomdpError>;
}

fn sample(p: &[f64], rng: &mut StdRng) -> usize {
    let r: f64 = rng.random::<f64>();
    let mut acc = 0.0;
    for (i, &w) in p.iter().enumerate() {
        acc += w;
        if r < acc {
            return i;
        }
    }
    p.len() - 1
}

/// Locations of the T-maze.
pub mod tmaze_index {
    /// The centre, where the agent starts.
    pub const CENTRE: usize = 0;
    /// The left arm.
    pub const LEFT: usize = 1;
    /// The right arm.
    pub const RIGHT: usize = 2;
    /// The cue location at the bottom of the T.
    pub const CUE: usize = 3;
    /// Reward-modality outcomes.
    pub const NO_REWARD: usize = 0;
    /// Reward.
    pub const REWARD: usize = 1;
    /// Loss.
    pub const LOSS: usize = 2;
}

/// The T-maze of Friston et al. (2015, "Active inference and epistemic value").
///
/// Two hidden factors: location (centre, left arm, right arm, cue location;
/// controlled, moves are deterministic) and context (reward is likely in the
/// left arm, or in the right; uncontrolled, fixed within a trial). Three
/// modalities: location (identity), reward (none, reward, loss) and cue
/// (points left or right; informative only at the cue location). In the arm
/// that matches the context the reward comes with probability `reward_prob`,
/// in the other with `1 − reward_prob`.
#[derive(Debug)]
pub struct TMaze {
    reward_prob: f64,
    context: usize,
    location: usize,
    rng: StdRng,
}

impl TMaze {
    /// A T-maze whose true context is `context` (0: reward left, 1: reward right).
    pub fn new(reward_prob: f64, context: usize, seed: u64) -> Result<Self, PomdpError> {
        if !(0.0..=1.0).contains(&reward_prob) {
            return Err(PomdpError::Setting {
                name: "reward_prob".into(),
                reason: format!("must lie in [0, 1], got {reward_prob}"),
            });
        }
        if context > 1 {
            return Err(PomdpError::Setting {
                name: "context".into(),
                reason: format!("must be 0 (reward left) or 1 (reward right), got {context}"),
            });
        }
        Ok(Self {
            reward_prob,
            context,
            location: tmaze_index::CENTRE,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// The likelihood arrays `A` (location, reward, cue), each `[num_obs, 4, 2]`.
    pub fn likelihood(reward_prob: f64) -> Vec<Tensor> {
        use tmaze_index::*;
        let mut loc = Tensor::zeros(&[4, 4, 2]);
        let mut rew = Tensor::zeros(&[3, 4, 2]);
        let mut cue = Tensor::zeros(&[2, 4, 2]);
        let at = |o: usize, s: usize, c: usize| (o * 4 + s) * 2 + c;
        for s in 0..4 {
            for c in 0..2 {
                loc.data_mut()[at(s, s, c)] = 1.0;
                match s {
                    LEFT | RIGHT => {
                        let rewarded_arm = if c == 0 { LEFT } else { RIGHT };
                        let p = if s == rewarded_arm {
                            reward_prob
                        } else {
                            1.0 - reward_prob
                        };
                        rew.data_mut()[at(REWARD, s, c)] = p;
                        rew.data_mut()[at(LOSS, s, c)] = 1.0 - p;
                        cue.data_mut()[at(0, s, c)] = 0.5;
                        cue.data_mut()[at(1, s, c)] = 0.5;
                    }
                    CUE => {
                        rew.data_mut()[at(NO_REWARD, s, c)] = 1.0;
                        cue.data_mut()[at(c, s, c)] = 1.0;
                    }
                    _ => {
                        rew.data_mut()[at(NO_REWARD, s, c)] = 1.0;
                        cue.data_mut()[at(0, s, c)] = 0.5;
                        cue.data_mut()[at(1, s, c)] = 0.5;
                    }
                }
            }
        }
        vec![loc, rew, cue]
    }

    /// The transition arrays `B`: location `[4, 4, 4]` (control = target
    /// location), context `[2, 2, 1]` (identity, uncontrolled).
    pub fn transitions() -> Vec<Tensor> {
        let mut loc = Tensor::zeros(&[4, 4, 4]);
        for s in 0..4 {
            for u in 0..4 {
                loc.data_mut()[(u * 4 + s) * 4 + u] = 1.0;
            }
        }
        let ctx = Tensor::new(vec![2, 2, 1], vec![1.0, 0.0, 0.0, 1.0]).expect("2x2x1");
        vec![loc, ctx]
    }

    /// The model an informed agent holds: the true `A` and `B`, preferences
    /// `C` of `+reward_pref` for reward and `−reward_pref` for loss, and a
    /// prior `D` that knows it starts at the centre but not the context.
    pub fn model(reward_prob: f64, reward_pref: f64) -> ModelArrays {
        let c = vec![
            Tensor::zeros(&[4]),
            Tensor::new(vec![3], vec![0.0, reward_pref, -reward_pref]).expect("3"),
            Tensor::zeros(&[2]),
        ];
        ModelArrays {
            a: Some(Self::likelihood(reward_prob)),
            b: Some(Self::transitions()),
            c: Some(c),
            d: Some(vec![vec![1.0, 0.0, 0.0, 0.0], vec![0.5, 0.5]]),
            ..Default::default()
        }
    }

    fn emit(&mut self) -> Vec<usize> {
        let a = Self::likelihood(self.reward_prob);
        a.iter()
            .map(|t| {
                let p: Vec<f64> = (0..t.shape()[0])
                    .map(|o| t.get(&[o, self.location, self.context]).unwrap_or(0.0))
                    .collect();
                sample(&p, &mut self.rng)
            })
            .collect()
    }
}

impl Environment for TMaze {
    fn reset(&mut self) -> Vec<usize> {
        self.location = tmaze_index::CENTRE;
        self.emit()
    }

    fn step(&mut self, action: &[usize]) -> Result<Vec<usize>, PomdpError> {
        if action.len() != 2 {
            return Err(PomdpError::ActionLength {
                expected: 2,
                got: action.len(),
            });
        }
        if action[0] >= 4 {
            return Err(PomdpError::ActionOutOfRange {
                factor: 0,
                value: action[0],
                num_controls: 4,
            });
        }
        self.location = action[0];
        Ok(self.emit())
    }
}

/// Moves in the grid world.
pub mod grid_moves {
    /// Up (row − 1).
    pub const UP: usize = 0;
    /// Right (column + 1).
    pub const RIGHT: usize = 1;
    /// Down (row + 1).
    pub const DOWN: usize = 2;
    /// Left (column − 1).
    pub const LEFT: usize = 3;
    /// Stay.
    pub const STAY: usize = 4;
}

/// A grid world: one hidden factor (the cell, row-major), five moves (up,
/// right, down, left, stay; a move into a wall stays), and one modality that
/// reports the cell, correctly with probability `accuracy` and otherwise as a
/// uniformly drawn other cell.
#[derive(Debug)]
pub struct GridWorld {
    rows: usize,
    cols: usize,
    accuracy: f64,
    start: usize,
    cell: usize,
    rng: StdRng,
}

impl GridWorld {
    /// A `rows × cols` grid starting at cell `start`.
    pub fn new(
        rows: usize,
        cols: usize,
        accuracy: f64,
        start: usize,
        seed: u64,
    ) -> Result<Self, PomdpError> {
        if rows == 0 || cols == 0 {
            return Err(PomdpError::Setting {
                name: "shape".into(),
                reason: format!("the grid needs at least one cell, got {rows}×{cols}"),
            });
        }
        if !(0.0..=1.0).contains(&accuracy) || (rows * cols == 1 && accuracy < 1.0) {
            return Err(PomdpError::Setting {
                name: "accuracy".into(),
                reason: format!("must lie in [0, 1] (1 for a single cell), got {accuracy}"),
            });
        }
        if start >= rows * cols {
            return Err(PomdpError::Setting {
                name: "start".into(),
                reason: format!("cell {start} is outside the {rows}×{cols} grid"),
            });
        }
        Ok(Self {
            rows,
            cols,
            accuracy,
            start,
            cell: start,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// The cell reached from `cell` by `mv`.
    pub fn next_cell(rows: usize, cols: usize, cell: usize, mv: usize) -> usize {
        let (r, c) = (cell / cols, cell % cols);
        let (r, c) = match mv {
            grid_moves::UP => (r.saturating_sub(1), c),
            grid_moves::RIGHT => (r, (c + 1).min(cols - 1)),
            grid_moves::DOWN => ((r + 1).min(rows - 1), c),
            grid_moves::LEFT => (r, c.saturating_sub(1)),
            _ => (r, c),
        };
        r * cols + c
    }

    /// `A`: `[n, n]`, the cell reported with probability `accuracy`.
    pub fn likelihood(rows: usize, cols: usize, accuracy: f64) -> Tensor {
        let n = rows * cols;
        let mut a = Tensor::zeros(&[n, n]);
        let off = if n > 1 {
            (1.0 - accuracy) / (n - 1) as f64
        } else {
            0.0
        };
        for o in 0..n {
            for s in 0..n {
                a.data_mut()[o * n + s] = if o == s { accuracy } else { off };
            }
        }
        a
    }

    /// `B`: `[n, n, 5]`, deterministic moves.
    pub fn transitions(rows: usize, cols: usize) -> Tensor {
        let n = rows * cols;
        let mut b = Tensor::zeros(&[n, n, 5]);
        for s in 0..n {
            for u in 0..5 {
                let sp = Self::next_cell(rows, cols, s, u);
                b.data_mut()[(sp * n + s) * 5 + u] = 1.0;
            }
        }
        b
    }

    /// The model of an agent that knows the grid and its start, and prefers
    /// to observe the `goal` cell (log-preference `goal_pref`).
    pub fn model(
        rows: usize,
        cols: usize,
        accuracy: f64,
        start: usize,
        goal: usize,
        goal_pref: f64,
    ) -> ModelArrays {
        let n = rows * cols;
        let mut c = vec![0.0; n];
        if goal < n {
            c[goal] = goal_pref;
        }
        let mut d = vec![0.0; n];
        if start < n {
            d[start] = 1.0;
        }
        ModelArrays {
            a: Some(vec![Self::likelihood(rows, cols, accuracy)]),
            b: Some(vec![Self::transitions(rows, cols)]),
            c: Some(vec![Tensor::new(vec![n], c).expect("n")]),
            d: Some(vec![d]),
            ..Default::default()
        }
    }

    fn emit(&mut self) -> Vec<usize> {
        let n = self.rows * self.cols;
        let a = Self::likelihood(self.rows, self.cols, self.accuracy);
        let p: Vec<f64> = (0..n).map(|o| a.data()[o * n + self.cell]).collect();
        vec![sample(&p, &mut self.rng)]
    }

    /// The current true cell.
    pub fn cell(&self) -> usize {
        self.cell
    }
}

impl Environment for GridWorld {
    fn reset(&mut self) -> Vec<usize> {
        self.cell = self.start;
        self.emit()
    }

    fn step(&mut self, action: &[usize]) -> Result<Vec<usize>, PomdpError> {
        if action.len() != 1 {
            return Err(PomdpError::ActionLength {
                expected: 1,
                got: action.len(),
            });
        }
        if action[0] >= 5 {
            return Err(PomdpError::ActionOutOfRange {
                factor: 0,
                value: action[0],
                num_controls: 5,
            });
        }
        self.cell = Self::next_cell(self.rows, self.cols, self.cell, action[0]);
        Ok(self.emit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GenerativeModel;

    #[test]
    fn tmaze_and_grid_models_validate() {
        GenerativeModel::new(TMaze::model(0.98, 3.0)).unwrap();
        GenerativeModel::new(GridWorld::model(3, 4, 0.9, 0, 11, 4.0)).unwrap();
    }

    #[test]
    fn grid_moves_respect_walls() {
        assert_eq!(GridWorld::next_cell(3, 3, 0, grid_moves::UP), 0);
        assert_eq!(GridWorld::next_cell(3, 3, 0, grid_moves::RIGHT), 1);
        assert_eq!(GridWorld::next_cell(3, 3, 8, grid_moves::DOWN), 8);
        assert_eq!(GridWorld::next_cell(3, 3, 4, grid_moves::LEFT), 3);
    }
}
