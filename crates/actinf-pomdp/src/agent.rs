//! The active-inference agent: perception, planning, action and learning in a loop.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use actinf_core::maths::softmax_in_place;
use actinf_core::tensor::ContractBuffers;
use actinf_core::LogGuard;

use crate::control::{
    construct_policies, policy_posterior, predict_states, EfeCache, EfeTerms, PolicyEvaluation,
    TransitionsByControl,
};
use crate::error::PomdpError;
use crate::inference::{exact_posterior, fpi, InferenceBuffers, StateInference};
use crate::learning::{
    dirichlet_mean, update_initial_counts, update_likelihood_counts, update_transition_counts,
};
use crate::model::GenerativeModel;
use crate::rollout::RolloutPlan;
use crate::sequence::{infer_sequence, log_transitions, SequenceInputs, SequenceScheme};
use crate::settings::{ActionSelection, InferenceAlgo, SamplingMode, Settings};

/// The outcome of policy inference at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInference {
    /// Each EFE term per policy, and their sum `neg_efe`.
    pub evaluation: PolicyEvaluation,
    /// Posterior over policies.
    pub q_pi: Vec<f64>,
    /// The policy precision used.
    pub gamma: f64,
}

/// Everything one step produced, as the CLI reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The observation assimilated.
    pub observation: Vec<usize>,
    /// The empirical prior over the states at this step (before the observation).
    pub prior: Vec<Vec<f64>>,
    /// Posterior over states.
    pub qs: Vec<Vec<f64>>,
    /// Variational free energy of that posterior.
    pub free_energy: f64,
    /// Policy inference.
    pub policies: PolicyInference,
    /// The action taken (one control per factor).
    pub action: Vec<usize>,
}

/// The past window of the sequence schemes (`vmp`, `mmp`).
#[derive(Debug, Clone)]
struct Window {
    /// Slots kept.
    horizon: usize,
    obs: std::collections::VecDeque<Vec<usize>>,
    /// Actions after each slot (the last one leads out of the window).
    actions: std::collections::VecDeque<Vec<usize>>,
    /// Prior over the oldest slot.
    prior: Vec<Vec<f64>>,
    /// Smoothed marginals of the latest inference, `[slot][factor]`.
    qs: Vec<Vec<Vec<f64>>>,
    /// `ln B` per factor and control.
    log_b: Vec<Vec<Vec<f64>>>,
}

/// An agent holding a validated model, its settings, its beliefs and its RNG.
#[derive(Debug)]
pub struct Agent {
    model: GenerativeModel,
    settings: Settings,
    guard: LogGuard,
    policies: Vec<Vec<usize>>,
    log_e: Vec<f64>,
    transitions: TransitionsByControl,
    efe_cache: EfeCache,
    /// Empirical prior over the current state.
    prior: Vec<Vec<f64>>,
    qs: Option<StateInference>,
    qs_prev: Option<Vec<Vec<f64>>>,
    last_action: Option<Vec<usize>>,
    q_pi: Option<PolicyInference>,
    gamma: f64,
    rng: StdRng,
    window: Option<Window>,
    prior_used: Vec<Vec<f64>>,
    inf_buf: InferenceBuffers,
    plan: RolloutPlan,
    contract: ContractBuffers,
}

impl Agent {
    /// Build an agent whose policies are all combinations of controls up to
    /// `policy_len` ([`construct_policies`]); checks the settings against the model.
    pub fn new(model: GenerativeModel, settings: Settings) -> Result<Self, PomdpError> {
        let policies = construct_policies(
            &model.num_controls,
            &model.control_factors,
            settings.policy_len,
        )?;
        Self::with_policies(model, settings, policies)
    }

    /// Build an agent with a given policy set: each policy is `policy_len ×
    /// num_factors` actions, row-major (SPM's `V`, pymdp's `policies`).
    pub fn with_policies(
        model: GenerativeModel,
        settings: Settings,
        policies: Vec<Vec<usize>>,
    ) -> Result<Self, PomdpError> {
        settings.validate()?;
        if policies.is_empty() {
            return Err(PomdpError::Setting {
                name: "policies".into(),
                reason: "the policy set is empty".into(),
            });
        }
        let nf = model.num_factors();
        for (p, policy) in policies.iter().enumerate() {
            if policy.len() != settings.policy_len * nf {
                return Err(PomdpError::Setting {
                    name: "policies".into(),
                    reason: format!(
                        "policy {p} has {} actions, expected policy_len × num_factors = {} × {}",
                        policy.len(),
                        settings.policy_len,
                        nf
                    ),
                });
            }
            for (k, &u) in policy.iter().enumerate() {
                let f = k % nf;
                if u >= model.num_controls[f] {
                    return Err(PomdpError::Setting {
                        name: "policies".into(),
                        reason: format!(
                            "policy {p}, step {}, factor {f}: action {u} is outside 0..{}",
                            k / nf,
                            model.num_controls[f]
                        ),
                    });
                }
            }
        }
        let guard = settings.log_guard();
        if settings.inference_algo == InferenceAlgo::Exact && model.num_factors() != 1 {
            return Err(PomdpError::Setting {
                name: "inference_algo".into(),
                reason: format!(
                    "`exact` needs a single hidden-state factor, the model has {}",
                    model.num_factors()
                ),
            });
        }
        if let Some(list) = &settings.modalities_to_learn {
            if let Some(&m) = list.iter().find(|&&m| m >= model.num_modalities()) {
                return Err(PomdpError::Setting {
                    name: "modalities_to_learn".into(),
                    reason: format!("modality {m} does not exist"),
                });
            }
        }
        if let Some(list) = &settings.factors_to_learn {
            if let Some(&f) = list.iter().find(|&&f| f >= model.num_factors()) {
                return Err(PomdpError::Setting {
                    name: "factors_to_learn".into(),
                    reason: format!("factor {f} does not exist"),
                });
            }
        }
        let log_e = match &model.e {
            Some(e) => {
                if e.len() != policies.len() {
                    return Err(PomdpError::Count {
                        array: "E",
                        expected: policies.len(),
                        got: e.len(),
                        what: "one per policy",
                    });
                }
                guard.ln_vec(e)
            }
            None => vec![guard.ln(1.0 / policies.len() as f64); policies.len()],
        };
        let transitions = TransitionsByControl::new(&model.b);
        let plan = RolloutPlan::new(&model, &policies, settings.policy_len);
        let efe_cache = EfeCache::new(&model, guard, settings.param_info_gain);
        let prior = model.d.clone();
        let window = matches!(
            settings.inference_algo,
            InferenceAlgo::Vmp | InferenceAlgo::Mmp
        )
        .then(|| Window {
            horizon: settings
                .inference_horizon
                .unwrap_or(crate::settings::DEFAULT_WINDOW_CAP),
            obs: Default::default(),
            actions: Default::default(),
            prior: model.d.clone(),
            qs: Vec::new(),
            log_b: log_transitions(&transitions, guard),
        });
        let gamma = settings.gamma;
        let rng = StdRng::seed_from_u64(settings.seed);
        Ok(Self {
            model,
            settings,
            guard,
            policies,
            log_e,
            transitions,
            efe_cache,
            prior,
            qs: None,
            qs_prev: None,
            last_action: None,
            q_pi: None,
            gamma,
            rng,
            window,
            prior_used: Vec::new(),
            inf_buf: InferenceBuffers::default(),
            plan,
            contract: ContractBuffers::default(),
        })
    }

    /// The model (with its current, possibly learned, parameters).
    pub fn model(&self) -> &GenerativeModel {
        &self.model
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Policies in the order used: each `policy_len × num_factors` actions, row-major.
    pub fn policies(&self) -> &[Vec<usize>] {
        &self.policies
    }

    /// The empirical prior over the current state.
    pub fn prior(&self) -> &[Vec<f64>] {
        &self.prior
    }

    /// Infer the posterior over the current hidden states from an observation
    /// (one outcome index per modality) and the empirical prior.
    pub fn infer_states(&mut self, obs: &[usize]) -> Result<&StateInference, PomdpError> {
        self.model.check_observation(obs)?;
        let result = match self.settings.inference_algo {
            InferenceAlgo::Fpi => {
                self.prior_used.clone_from(&self.prior);
                fpi(
                    &self.model,
                    obs,
                    &self.prior,
                    self.settings.num_iter,
                    self.guard,
                    &mut self.inf_buf,
                )
            }
            InferenceAlgo::Exact => {
                self.prior_used.clone_from(&self.prior);
                exact_posterior(&self.model, obs, &self.prior[0])
            }
            InferenceAlgo::Vmp | InferenceAlgo::Mmp => self.infer_window(obs),
        };
        if let Some(prev) = self.qs.take() {
            self.qs_prev = Some(prev.qs);
        }
        self.qs = Some(result);
        Ok(self.qs.as_ref().expect("just set"))
    }

    /// Sequence inference over the past window: slide the window (the oldest
    /// slot's smoothed posterior, propagated by its action, becomes the prior
    /// of the new oldest slot, as pymdp does), then run VMP or MMP.
    fn infer_window(&mut self, obs: &[usize]) -> StateInference {
        let scheme = match self.settings.inference_algo {
            InferenceAlgo::Vmp => SequenceScheme::Vmp,
            _ => SequenceScheme::Mmp,
        };
        let w = self
            .window
            .as_mut()
            .expect("sequence schemes keep a window");
        if w.obs.len() >= w.horizon {
            if w.horizon > 1 {
                if let (Some(q0), Some(a0)) = (w.qs.first(), w.actions.front()) {
                    let mut next = vec![Vec::new(); self.model.num_factors()];
                    predict_states(
                        &self.model,
                        &self.transitions,
                        q0,
                        a0,
                        &mut next,
                        &mut self.contract,
                    );
                    w.prior = next;
                }
            }
            w.obs.pop_front();
            w.actions.pop_front();
        }
        w.obs.push_back(obs.to_vec());
        w.actions.truncate(w.obs.len() - 1);
        self.prior_used.clone_from(&w.prior);
        let observations: Vec<Vec<usize>> = w.obs.iter().cloned().collect();
        let actions: Vec<Vec<usize>> = w.actions.iter().cloned().collect();
        let seq = infer_sequence(
            SequenceInputs {
                model: &self.model,
                transitions: &self.transitions,
                observations: &observations,
                actions: &actions,
                prior: &w.prior,
            },
            &w.log_b,
            scheme,
            self.settings.num_iter,
            self.guard,
        );
        w.qs = seq.qs;
        StateInference {
            qs: w.qs.last().cloned().unwrap_or_default(),
            free_energy: seq.free_energy,
        }
    }

    /// The smoothed marginals over the past window (`[slot][factor]`, oldest
    /// first) for `vmp`/`mmp`; `None` for the single-step schemes.
    pub fn qs_window(&self) -> Option<&[Vec<Vec<f64>>]> {
        self.window.as_ref().map(|w| w.qs.as_slice())
    }

    /// Evaluate every policy's expected free energy and the policy posterior.
    pub fn infer_policies(&mut self) -> Result<&PolicyInference, PomdpError> {
        let qs = &self
            .qs
            .as_ref()
            .ok_or(PomdpError::Order("infer_policies needs infer_states first"))?
            .qs;
        let terms = EfeTerms {
            use_utility: self.settings.use_utility,
            use_states_info_gain: self.settings.use_states_info_gain,
            use_param_info_gain: self.settings.use_param_info_gain,
            discount: self.settings.discount,
        };
        // Reuse the previous step's buffers.
        let (mut evaluation, mut q_pi) = match self.q_pi.take() {
            Some(p) => (p.evaluation, p.q_pi),
            None => (PolicyEvaluation::default(), Vec::new()),
        };
        self.plan.evaluate(
            &self.model,
            &self.transitions,
            &self.efe_cache,
            qs,
            terms,
            self.guard,
            &mut evaluation,
        );
        let efe_cause = "the log-preferences C (or the Dirichlet counts) are too large for float64";
        for (quantity, values) in [
            ("utility", &evaluation.utility),
            ("state_info_gain", &evaluation.state_info_gain),
            ("param_info_gain_pA", &evaluation.param_info_gain_pa),
            ("param_info_gain_pB", &evaluation.param_info_gain_pb),
            ("neg_efe", &evaluation.neg_efe),
        ] {
            check_finite(quantity, values, efe_cause)?;
        }
        policy_posterior(&evaluation.neg_efe, self.gamma, &self.log_e, &mut q_pi);
        check_finite(
            "q_pi",
            &q_pi,
            "gamma × neg_efe overflows float64 (gamma or the log-preferences C are too large)",
        )?;
        self.q_pi = Some(PolicyInference {
            evaluation,
            q_pi,
            gamma: self.gamma,
        });
        Ok(self.q_pi.as_ref().expect("just set"))
    }

    /// Marginal probability of each control of each factor's first action.
    pub fn action_marginals(&self, q_pi: &[f64]) -> Vec<Vec<f64>> {
        let nf = self.model.num_factors();
        let mut marg: Vec<Vec<f64>> = self
            .model
            .num_controls
            .iter()
            .map(|&n| vec![0.0; n])
            .collect();
        for (policy, &q) in self.policies.iter().zip(q_pi) {
            for f in 0..nf {
                marg[f][policy[f]] += q;
            }
        }
        marg
    }

    /// Choose the next action from the policy posterior (deterministic: the
    /// first most probable; stochastic: a draw from `softmax(α · ln p)`), and
    /// commit to it.
    pub fn sample_action(&mut self) -> Result<Vec<usize>, PomdpError> {
        let q_pi = self
            .q_pi
            .as_ref()
            .ok_or(PomdpError::Order(
                "sample_action needs infer_policies first",
            ))?
            .q_pi
            .clone();
        let nf = self.model.num_factors();
        let action = match self.settings.sampling_mode {
            SamplingMode::Marginal => {
                let marg = self.action_marginals(&q_pi);
                (0..nf)
                    .map(|f| {
                        if self.model.control_factors.contains(&f) {
                            self.select(&marg[f])
                        } else {
                            0
                        }
                    })
                    .collect()
            }
            SamplingMode::Full => {
                let p = self.select(&q_pi);
                self.policies[p][..nf].to_vec()
            }
        };
        self.commit_action(&action)?;
        Ok(action)
    }

    fn select(&mut self, p: &[f64]) -> usize {
        match self.settings.action_selection {
            ActionSelection::Deterministic => argmax(p),
            ActionSelection::Stochastic => {
                let mut logits: Vec<f64> = p
                    .iter()
                    .map(|&x| self.settings.alpha * self.guard.ln(x))
                    .collect();
                softmax_in_place(&mut logits);
                let r: f64 = self.rng.random::<f64>();
                let mut acc = 0.0;
                for (i, &w) in logits.iter().enumerate() {
                    acc += w;
                    if r < acc {
                        return i;
                    }
                }
                logits.len() - 1
            }
        }
    }

    /// Commit to an action (chosen here or forced from outside): it becomes
    /// the action whose predicted consequences form the next empirical prior.
    pub fn commit_action(&mut self, action: &[usize]) -> Result<(), PomdpError> {
        self.model.check_action(action)?;
        let qs = &self
            .qs
            .as_ref()
            .ok_or(PomdpError::Order("an action needs infer_states first"))?
            .qs;
        let mut next = vec![Vec::new(); self.model.num_factors()];
        predict_states(
            &self.model,
            &self.transitions,
            qs,
            action,
            &mut next,
            &mut self.contract,
        );
        self.prior = next;
        if let Some(w) = self.window.as_mut() {
            w.actions.push_back(action.to_vec());
        }
        self.last_action = Some(action.to_vec());
        Ok(())
    }

    /// Dirichlet learning from the latest observation and posteriors: `pA`
    /// from the observation and `q(s_t)`, `pB` from `q(s_t)`, `q(s_{t−1})` and
    /// the action between them, `pD` from `q(s_1)` (first step only). The
    /// arrays `A`, `B`, `D` become the Dirichlet means.
    pub fn update_parameters(&mut self, obs: &[usize]) -> Result<(), PomdpError> {
        self.model.check_observation(obs)?;
        let qs = self
            .qs
            .as_ref()
            .ok_or(PomdpError::Order(
                "update_parameters needs infer_states first",
            ))?
            .qs
            .clone();
        // The evidence to count: (outcome, posterior) pairs for pA and
        // (next posterior, previous posterior, action) triples for pB. The
        // sequence schemes count their whole window at every step, as pymdp
        // 1.0 does.
        type Outcome = (Vec<usize>, Vec<Vec<f64>>);
        type Transition = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<usize>);
        let (outcomes, transitions): (Vec<Outcome>, Vec<Transition>) = match &self.window {
            Some(w) => (
                w.obs.iter().cloned().zip(w.qs.iter().cloned()).collect(),
                (0..w.qs.len().saturating_sub(1))
                    .map(|t| (w.qs[t + 1].clone(), w.qs[t].clone(), w.actions[t].clone()))
                    .collect(),
            ),
            None => (
                vec![(obs.to_vec(), qs.clone())],
                match (&self.qs_prev, &self.last_action) {
                    (Some(prev), Some(action)) => {
                        vec![(qs.clone(), prev.clone(), action.clone())]
                    }
                    _ => Vec::new(),
                },
            ),
        };
        let s = &self.settings;
        let protect = s.protect_structural_zeros;
        let floor = if protect { 0.0 } else { f64::EPSILON };
        let mut changed = false;
        if s.learn_a {
            if let Some(pa) = self.model.pa.as_mut() {
                for (m, t) in pa.iter_mut().enumerate() {
                    if s.modalities_to_learn
                        .as_ref()
                        .is_some_and(|l| !l.contains(&m))
                    {
                        continue;
                    }
                    for (k, (o, q)) in outcomes.iter().enumerate() {
                        let deps: Vec<&[f64]> = self.model.a_dependencies[m]
                            .iter()
                            .map(|&f| q[f].as_slice())
                            .collect();
                        let fr = if k == 0 { s.fr_pa } else { 1.0 };
                        update_likelihood_counts(t, o[m], &deps, s.lr_pa, fr, protect);
                    }
                    self.model.a[m] = dirichlet_mean(t, floor);
                }
                changed = true;
            }
        }
        if s.learn_b && !transitions.is_empty() {
            if let Some(pb) = self.model.pb.as_mut() {
                for (f, t) in pb.iter_mut().enumerate() {
                    if s.factors_to_learn.as_ref().is_some_and(|l| !l.contains(&f)) {
                        continue;
                    }
                    for (k, (next, prev, action)) in transitions.iter().enumerate() {
                        let deps: Vec<&[f64]> = self.model.b_dependencies[f]
                            .iter()
                            .map(|&g| prev[g].as_slice())
                            .collect();
                        let fr = if k == 0 { s.fr_pb } else { 1.0 };
                        update_transition_counts(
                            t, &next[f], &deps, action[f], s.lr_pb, fr, protect,
                        );
                    }
                    self.model.b[f] = dirichlet_mean(t, floor);
                }
                self.transitions = TransitionsByControl::new(&self.model.b);
                if let Some(w) = self.window.as_mut() {
                    w.log_b = log_transitions(&self.transitions, self.guard);
                }
                changed = true;
            }
        }
        if s.learn_d && self.qs_prev.is_none() {
            if let Some(pd) = self.model.pd.as_mut() {
                for (f, p) in pd.iter_mut().enumerate() {
                    update_initial_counts(p, &qs[f], s.lr_pd, s.fr_pd, protect);
                    let total: f64 = p.iter().sum();
                    self.model.d[f] = p.iter().map(|x| x / total).collect();
                }
            }
        }
        if changed {
            self.efe_cache = EfeCache::new(&self.model, self.guard, self.settings.param_info_gain);
        }
        Ok(())
    }

    /// Whether this agent learns any parameter (a Dirichlet prior is given
    /// and its `learn_*` setting is on).
    pub fn learns(&self) -> bool {
        (self.settings.learn_a && self.model.pa.is_some())
            || (self.settings.learn_b && self.model.pb.is_some())
            || (self.settings.learn_d && self.model.pd.is_some())
    }

    /// One closed-loop step in pymdp's order: infer states, infer policies,
    /// learn (when [`Agent::learns`]), then choose (or take the forced) action,
    /// whose predicted consequences become the next empirical prior.
    pub fn step(
        &mut self,
        obs: &[usize],
        forced: Option<&[usize]>,
    ) -> Result<StepRecord, PomdpError> {
        if let Some(a) = forced {
            self.model.check_action(a)?;
        }
        let si = self.infer_states(obs)?.clone();
        let prior = self.prior_used.clone();
        let policies = self.infer_policies()?.clone();
        if self.learns() {
            self.update_parameters(obs)?;
        }
        let action = match forced {
            Some(a) => {
                self.commit_action(a)?;
                a.to_vec()
            }
            None => self.sample_action()?,
        };
        Ok(StepRecord {
            observation: obs.to_vec(),
            prior,
            qs: si.qs,
            free_energy: si.free_energy,
            policies,
            action,
        })
    }
}

impl Agent {
    /// Run a whole episode against a generative process: reset it, then
    /// `num_steps` times take its outcome, [`Agent::step`], and act on it.
    pub fn run_episode(
        &mut self,
        env: &mut dyn crate::env::Environment,
        num_steps: usize,
    ) -> Result<Vec<StepRecord>, PomdpError> {
        let mut obs = env.reset();
        let mut records = Vec::with_capacity(num_steps);
        for t in 0..num_steps {
            let rec = self.step(&obs, None)?;
            if t + 1 < num_steps {
                obs = env.step(&rec.action)?;
            }
            records.push(rec);
        }
        Ok(records)
    }
}

/// Index of the first maximum.
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in p.iter().enumerate() {
        if x > p[best] {
            best = i;
        }
    }
    best
}

/// Refuse a per-policy result that overflowed, naming the quantity and the policy.
fn check_finite(
    quantity: &'static str,
    values: &[f64],
    cause: &'static str,
) -> Result<(), PomdpError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(policy) => Err(PomdpError::Overflow {
            quantity,
            policy,
            value: values[policy],
            cause,
        }),
    }
}
