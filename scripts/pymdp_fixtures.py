#!/usr/bin/env python
"""Generate pymdp 1.0.4 (JAX, float64) conformance fixtures for actinf.

Usage (from the repository root):

    /tmp/pyref/bin/python scripts/pymdp_fixtures.py            # write fixtures
    /tmp/pyref/bin/python scripts/pymdp_fixtures.py --check    # also replay every
        deterministic lr=1 scenario through pymdp's own `rollout()` and assert agreement

Requires `inferactively-pymdp==1.0.4` in the interpreter's environment. Output:
crates/actinf-pomdp/tests/fixtures/pymdp/<name>.json, one scenario per file.

Each scenario is run through a step loop that follows `pymdp.envs.rollout.rollout`
/ `infer_and_plan` exactly (empirical prior -> infer_states -> infer_policies ->
online parameter learning -> sample_action), except that it passes `lr_pA` / `lr_pB`
to `Agent.infer_parameters` (rollout always uses 1.0). Observations come from a
pymdp environment (`PymdpEnv`, `TMaze`, `SimplifiedTMaze`, `GridWorld`) seeded with
fixed JAX keys, so everything is deterministic.

Per-term EFE components are not returned by the Agent; they are recomputed with
pymdp's own `pymdp.control` functions on the same posterior and parameters, and
their flag-weighted sum is asserted equal to the agent's `neg_efe` to 1e-10.
"""

import argparse
import json
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import jax.tree_util as jtu  # noqa: E402
import numpy as np  # noqa: E402
from jax import vmap  # noqa: E402

import pymdp  # noqa: E402,F401
from pymdp import control  # noqa: E402
from pymdp.agent import Agent  # noqa: E402
from pymdp.envs import GridWorld, SimplifiedTMaze, TMaze  # noqa: E402
from pymdp.envs.env import Env, PymdpEnv  # noqa: E402
from pymdp.envs.rollout import rollout  # noqa: E402
from pymdp.inference import SEQUENCE_METHODS  # noqa: E402

from importlib.metadata import version as _pkg_version  # noqa: E402

PYMDP_VERSION = _pkg_version("inferactively-pymdp")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "crates", "actinf-pomdp", "tests", "fixtures", "pymdp")

TIE_TOL = 1e-9


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------

def tolist(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [tolist(v) for v in x]
    return np.asarray(x).tolist()


def unbatch(xs):
    """Drop the leading batch dim (size 1) from a list of arrays."""
    if xs is None:
        return None
    return [None if x is None else np.asarray(x)[0] for x in xs]


def normalize0(x):
    x = np.asarray(x, dtype=np.float64)
    return x / x.sum(axis=0, keepdims=True)


def rand_cat(rng, shape, sharp=1.5, zero_frac=0.0):
    """Random categorical tensor normalised over axis 0, with optional structural zeros."""
    logits = rng.randn(*shape) * sharp
    p = np.exp(logits)
    if zero_frac > 0:
        mask = rng.rand(*shape) < zero_frac
        p = np.where(mask, 0.0, p)
        # make sure every column keeps at least one non-zero entry
        flat = p.reshape(shape[0], -1)
        dead = flat.sum(0) == 0
        if dead.any():
            idx = rng.randint(0, shape[0], size=int(dead.sum()))
            flat[idx, np.where(dead)[0]] = 1.0
        p = flat.reshape(shape)
    return normalize0(p)


def random_model(rng, num_states, num_controls, num_obs, A_deps, B_deps,
                 a_sharp=1.5, b_sharp=2.5, a_zero=0.15, b_zero=0.2, c_scale=2.0,
                 uniform_D=False):
    A = [rand_cat(rng, [no] + [num_states[f] for f in deps], a_sharp, a_zero)
         for no, deps in zip(num_obs, A_deps)]
    B = [rand_cat(rng, [num_states[f]] + [num_states[d] for d in deps] + [nc], b_sharp, b_zero)
         for f, (deps, nc) in enumerate(zip(B_deps, num_controls))]
    C = [rng.randn(no) * c_scale for no in num_obs]
    if uniform_D:
        D = [np.ones(ns) / ns for ns in num_states]
    else:
        D = [normalize0(rng.gamma(2.0, size=ns)) for ns in num_states]
    return A, B, C, D


class ReplayEnv(Env):
    """Environment that replays a fixed observation sequence (used only by --check)."""

    def __init__(self, obs_seq):
        # obs_seq: list over modalities of int arrays (T,)
        self.obs_seq = [jnp.asarray(o, dtype=jnp.int32) for o in obs_seq]
        self.T = int(self.obs_seq[0].shape[0])

    def reset(self, key, state=None, env_params=None):
        t = jnp.array(0, dtype=jnp.int32)
        return [o[t][None] for o in self.obs_seq], t

    def step(self, key, state, action, env_params=None):
        t = jnp.minimum(state + 1, self.T - 1)
        return [o[t][None] for o in self.obs_seq], t


# ----------------------------------------------------------------------------------
# scenario execution
# ----------------------------------------------------------------------------------

DEFAULT_SETTINGS = dict(
    inference_algo="fpi",
    num_iter=16,
    policy_len=1,
    gamma=1.0,
    alpha=1.0,
    action_selection="deterministic",
    sampling_mode="full",
    use_utility=True,
    use_states_info_gain=True,
    use_param_info_gain=False,
    use_inductive=False,
    lr_pA=1.0,
    lr_pB=1.0,
    learn_A=False,
    learn_B=False,
    learn_D=False,
    inference_horizon=None,
    seed=0,
)


def build_agent(sc):
    s = sc["settings"]
    kw = dict(
        A=[jnp.asarray(a) for a in sc["A"]],
        B=[jnp.asarray(b) for b in sc["B"]],
        C=[jnp.asarray(c) for c in sc["C"]],
        D=[jnp.asarray(d) for d in sc["D"]],
        A_dependencies=sc["A_dependencies"],
        B_dependencies=sc["B_dependencies"],
        policy_len=s["policy_len"],
        gamma=s["gamma"],
        alpha=s["alpha"],
        use_utility=s["use_utility"],
        use_states_info_gain=s["use_states_info_gain"],
        use_param_info_gain=s["use_param_info_gain"],
        use_inductive=False,
        action_selection=s["action_selection"],
        sampling_mode=s["sampling_mode"],
        inference_algo=s["inference_algo"],
        inference_horizon=s["inference_horizon"],
        num_iter=s["num_iter"],
        batch_size=1,
        learn_A=s["learn_A"],
        learn_B=s["learn_B"],
        learn_D=False,
    )
    if sc.get("E") is not None:
        kw["E"] = jnp.asarray(sc["E"])
    if sc.get("pA") is not None:
        kw["pA"] = [jnp.asarray(p) for p in sc["pA"]]
    if sc.get("pB") is not None:
        kw["pB"] = [jnp.asarray(p) for p in sc["pB"]]
    if sc.get("control_fac_idx") is not None:
        kw["control_fac_idx"] = sc["control_fac_idx"]
    return Agent(**kw)


def efe_terms(agent, qs_latest):
    """Per-policy EFE components computed with pymdp.control functions (unbatched)."""
    A = unbatch(agent.A)
    B = unbatch(agent.B)
    C = unbatch(agent.C)
    pA = unbatch(agent.pA) if agent.pA is not None else None
    pB = unbatch(agent.pB) if agent.pB is not None else None
    A = [jnp.asarray(a) for a in A]
    B = [jnp.asarray(b) for b in B]
    C = [jnp.asarray(c) for c in C]
    pA = None if pA is None else [jnp.asarray(p) for p in pA]
    pB = None if pB is None else [jnp.asarray(p) for p in pB]
    A_deps, B_deps = agent.A_dependencies, agent.B_dependencies
    qs0 = [jnp.asarray(q) for q in qs_latest]
    horizon = agent.policy_len

    def per_policy(policy):
        qs = qs0
        util = 0.0
        sig = 0.0
        pa = 0.0
        pb = 0.0
        for t in range(horizon):
            qs_next = control.compute_expected_state(qs, B, policy[t], B_deps)
            qo = control.compute_expected_obs(qs_next, A, A_deps)
            sig = sig + control.compute_info_gain(qs_next, qo, A, A_deps)
            util = util + control.compute_expected_utility(qo, C, t)
            if pA is not None:
                pa = pa - control.calc_negative_pA_info_gain(pA, qo, qs_next, A_deps)
            if pB is not None:
                pb = pb - control.calc_negative_pB_info_gain(pB, qs_next, qs, B_deps, policy[t])
            qs = qs_next
        z = jnp.zeros(())
        return util + z, sig + z, pa + z, pb + z

    util, sig, pa, pb = jax.jit(vmap(per_policy))(agent.policies.policy_arr)
    return (np.asarray(util), np.asarray(sig),
            None if pA is None else np.asarray(pa),
            None if pB is None else np.asarray(pb))


def tie_flag(q_pi, marginals, policies, sampling_mode):
    """True when the deterministic choice is decided by a (near-)tie."""
    if sampling_mode == "full":
        order = np.argsort(-q_pi, kind="stable")
        best = q_pi[order[0]]
        for j in order[1:]:
            if best - q_pi[j] > TIE_TOL * max(1.0, abs(best)):
                break
            if not np.array_equal(policies[j, 0], policies[order[0], 0]):
                return True
        return False
    for m in marginals:
        m = np.sort(np.asarray(m))[::-1]
        if len(m) > 1 and m[0] - m[1] <= TIE_TOL * max(1.0, abs(m[0])):
            return True
    return False


def init_window(agent, obs0, history_len):
    """Same buffers as pymdp.envs.rollout._init_windowed_carry (batch size 1)."""
    nf = agent.policies.policy_arr.shape[-1]

    def init_obs(o):
        o = jnp.asarray(o)
        if o.ndim == 1:
            o = o[:, None]
        hist = jnp.full((o.shape[0], history_len), -1, dtype=o.dtype)
        return hist.at[:, history_len - 1].set(o[:, 0])

    obs_hist = [init_obs(o) for o in obs0]
    act_hist = -jnp.ones((1, max(history_len - 1, 0), nf), dtype=jnp.int32)
    qs0 = [jnp.broadcast_to(d[:, None, :], (1, history_len, d.shape[-1])) for d in agent.D]
    return obs_hist, act_hist, qs0


def append_window(window, value):
    if window.shape[1] == 0:
        return window
    value = jnp.asarray(value).astype(window.dtype)
    if value.ndim == window.ndim - 1:
        value = value[:, None]
    value = value[:, -1:]
    return jnp.concatenate([window[:, 1:], value], axis=1)


def run_scenario(sc, env, num_steps, forced=None):
    """Run the pymdp step loop. Returns (per-step records, per-step observations, actions)."""
    s = sc["settings"]
    agent = build_agent(sc)
    algo = agent.inference_algo
    is_seq = algo in SEQUENCE_METHODS
    if algo not in ("fpi", "exact", "mmp", "vmp"):
        raise ValueError(algo)
    if algo == "exact" and (agent.learn_A or agent.learn_B):
        raise ValueError("exact+learning uses smoothing windows; not generated")
    lr_pA, lr_pB = s["lr_pA"], s["lr_pB"]

    key = jr.PRNGKey(s["seed"])
    key, k_reset = jr.split(key)
    obs, env_state = vmap(env.reset)(jr.split(k_reset, 1))

    if is_seq:
        history_len = agent.inference_horizon if agent.inference_horizon is not None else min(num_steps, 32)
        obs_hist, act_hist, qs_prev = init_window(agent, obs, history_len)
        valid_steps = jnp.array(1, dtype=jnp.int32)
        emp_prior = agent.D
    else:
        qs_prev = [d[:, None, :] for d in agent.D]

    action_prev = -jnp.ones((1, agent.num_factors), dtype=jnp.int32)
    records, obs_log, act_log = [], [], []

    for t in range(num_steps):
        key, k_step, k_act, k_env = jr.split(key, 4)
        obs_int = [int(np.asarray(o).reshape(-1)[0]) for o in obs]
        obs_log.append(obs_int)
        rec = {}

        # ---- 1. empirical prior
        if is_seq:
            prior = emp_prior
        elif t == 0 or bool(jnp.any(action_prev < 0)):
            prior = agent.D
        else:
            prior = agent.update_empirical_prior(action_prev, qs_prev)
        rec["empirical_prior"] = tolist(unbatch(prior))

        # ---- 2. state inference
        if is_seq:
            qs, info = agent.infer_states(obs_hist, prior, past_actions=act_hist,
                                          valid_steps=valid_steps, return_info=True)
            nvalid = int(valid_steps)
            rec["qs_window"] = [np.asarray(q)[0, -nvalid:].tolist() for q in qs]
        else:
            qs, info = agent.infer_states(obs, prior, return_info=True)
        rec["vfe"] = float(np.asarray(info["vfe"])[0])
        qs_latest = [np.asarray(q)[0, -1] for q in qs]
        rec["qs"] = tolist(qs_latest)

        # ---- 3. policy inference (parameters as they were before this step's learning)
        q_pi, neg_efe = agent.infer_policies(qs)
        q_pi_np = np.asarray(q_pi)[0]
        neg_efe_np = np.asarray(neg_efe)[0]
        util, sig, pa, pb = efe_terms(agent, qs_latest)
        total = np.zeros_like(neg_efe_np)
        if s["use_utility"]:
            total = total + util
        if s["use_states_info_gain"]:
            total = total + sig
        if s["use_param_info_gain"]:
            if pa is not None:
                total = total + pa
            if pb is not None:
                total = total + pb
        err = np.max(np.abs(total - neg_efe_np))
        assert err < 1e-10, f"{sc['name']} step {t}: EFE term sum mismatch {err}"
        rec["utility"] = util.tolist()
        rec["state_info_gain"] = sig.tolist()
        rec["param_info_gain_pA"] = None if pa is None else pa.tolist()
        rec["param_info_gain_pB"] = None if pb is None else pb.tolist()
        rec["neg_efe"] = neg_efe_np.tolist()
        rec["q_pi"] = q_pi_np.tolist()
        marg = control.get_marginals(q_pi[0], agent.policies.policy_arr, agent.num_controls)
        rec["action_marginals"] = [np.asarray(m).tolist() for m in marg]

        # ---- 4. online learning (after policy inference, before action selection)
        if agent.learn_A or agent.learn_B:
            if is_seq:
                beliefs_B = qs if agent.learn_B else None
                acts = act_hist if agent.learn_B else action_prev
                agent = agent.infer_parameters(qs, obs_hist, acts, beliefs_B=beliefs_B,
                                               lr_pA=lr_pA, lr_pB=lr_pB)
            else:
                if agent.learn_B:
                    beliefs_B = jtu.tree_map(lambda x, y: jnp.concatenate([x, y], axis=1), qs_prev, qs)
                    acts = action_prev[:, None, :]
                else:
                    beliefs_B = None
                    acts = action_prev
                agent = agent.infer_parameters(qs, obs, acts, beliefs_B=beliefs_B,
                                               lr_pA=lr_pA, lr_pB=lr_pB)
            if agent.learn_A:
                rec["pA"] = tolist(unbatch(agent.pA))
            if agent.learn_B:
                rec["pB"] = tolist(unbatch(agent.pB))

        # ---- 5. action selection
        sampled = agent.sample_action(q_pi, rng_key=jr.split(k_act, 1))
        sampled = np.asarray(sampled)[0].astype(int)
        if forced is not None:
            action_np = np.asarray(forced[t], dtype=int)
        else:
            action_np = sampled
        rec["action"] = action_np.tolist()
        if s["action_selection"] == "deterministic":
            rec["action_tie"] = bool(tie_flag(q_pi_np, marg, np.asarray(agent.policies.policy_arr),
                                              s["sampling_mode"]))
        act_log.append(action_np.tolist())
        action = jnp.asarray(action_np, dtype=jnp.int32)[None, :]

        # ---- 6. sequence-method empirical prior shift (rollout._compute_sequence_empirical_prior_next)
        if is_seq:
            if int(valid_steps) == history_len and history_len > 1:
                start_qs = [q[:, 0] for q in qs]
                emp_prior = vmap(lambda q, b, a: control.compute_expected_state(
                    q, b, a, B_dependencies=agent.B_dependencies))(start_qs, agent.B, act_hist[:, 0, :])

        records.append(rec)

        # ---- 7. environment step
        obs, env_state = vmap(env.step)(jr.split(k_env, 1), env_state, action)
        if is_seq:
            obs_hist = [append_window(h, o) for h, o in zip(obs_hist, obs)]
            act_hist = append_window(act_hist, action)
            valid_steps = jnp.minimum(valid_steps + 1, history_len)
            qs_prev = qs
        else:
            qs_prev = [q[:, -1:] for q in qs]
        action_prev = action

    return records, obs_log, act_log


def check_against_rollout(sc, records, obs_log, act_log):
    """Replay the observation sequence through pymdp's own rollout() and compare."""
    s = sc["settings"]
    agent = build_agent(sc)
    T = len(obs_log)
    env = ReplayEnv([np.array([o[m] for o in obs_log]) for m in range(len(obs_log[0]))])
    # pymdp 1.0.4 initialises the action carry as int32 while policies (hence sampled
    # actions) are int64 under x64, which lax.scan rejects; seed the carry as int64.
    init = {"action": -jnp.ones((1, agent.num_factors), dtype=agent.policies.policy_arr.dtype)}
    if agent.inference_algo in SEQUENCE_METHODS:
        hl = agent.inference_horizon if agent.inference_horizon is not None else min(T, 32)
        init["action_hist"] = -jnp.ones((1, max(hl - 1, 0), agent.num_factors),
                                        dtype=agent.policies.policy_arr.dtype)
    last, info = rollout(agent, env, T - 1, jr.PRNGKey(0), initial_carry=init)
    worst = 0.0
    for t in range(T):
        rec = records[t]
        got_act = np.asarray(info["action"])[0, t].astype(int).tolist()
        assert got_act == act_log[t], f"{sc['name']} t={t}: rollout action {got_act} != {act_log[t]}"
        for f in range(len(rec["qs"])):
            worst = max(worst, np.max(np.abs(np.asarray(info["qs"][f])[0, t] - np.asarray(rec["qs"][f]))))
        worst = max(worst, np.max(np.abs(np.asarray(info["qpi"])[0, t] - np.asarray(rec["q_pi"]))))
        worst = max(worst, np.max(np.abs(np.asarray(info["neg_efe"])[0, t] - np.asarray(rec["neg_efe"]))))
        if s["learn_A"]:
            for m in range(len(rec["pA"])):
                worst = max(worst, np.max(np.abs(np.asarray(info["pA"][m])[0, t] - np.asarray(rec["pA"][m]))))
        if s["learn_B"]:
            for f in range(len(rec["pB"])):
                worst = max(worst, np.max(np.abs(np.asarray(info["pB"][f])[0, t] - np.asarray(rec["pB"][f]))))
    assert worst < 1e-9, f"{sc['name']}: rollout mismatch {worst}"
    return worst


def finish(sc, env, num_steps, check):
    records, obs_log, act_log = run_scenario(sc, env, num_steps)
    s = sc["settings"]
    checked = None
    if check and s["action_selection"] == "deterministic" and s["lr_pA"] == 1.0 and s["lr_pB"] == 1.0:
        checked = check_against_rollout(sc, records, obs_log, act_log)
    agent = build_agent(sc)
    out = {
        "description": sc["description"],
        "generator": f"scripts/pymdp_fixtures.py, inferactively-pymdp=={PYMDP_VERSION}, jax_enable_x64",
        "A": tolist(sc["A"]),
        "B": tolist(sc["B"]),
        "C": tolist(sc["C"]),
        "D": tolist(sc["D"]),
    }
    if sc.get("E") is not None:
        out["E"] = tolist(sc["E"])
    if sc.get("pA") is not None:
        out["pA"] = tolist(sc["pA"])
    if sc.get("pB") is not None:
        out["pB"] = tolist(sc["pB"])
    out["A_dependencies"] = agent.A_dependencies
    out["B_dependencies"] = agent.B_dependencies
    out["num_controls"] = list(agent.num_controls)
    out["control_fac_idx"] = list(agent.control_fac_idx)
    out["policies"] = np.asarray(agent.policies.policy_arr).tolist()
    settings = {k: s[k] for k in DEFAULT_SETTINGS}
    out["settings"] = settings
    out["steps"] = [{"observation": o, "action": a} for o, a in zip(obs_log, act_log)]
    out["expected"] = {"steps": records}
    return out, checked


def make_sc(name, description, A, B, C, D, A_deps, B_deps, E=None, pA=None, pB=None,
            control_fac_idx=None, **settings):
    s = dict(DEFAULT_SETTINGS)
    for k, v in settings.items():
        if k not in s:
            raise KeyError(k)
        s[k] = v
    return dict(name=name, description=description,
                A=[np.asarray(a, dtype=np.float64) for a in A],
                B=[np.asarray(b, dtype=np.float64) for b in B],
                C=[np.asarray(c, dtype=np.float64) for c in C],
                D=[np.asarray(d, dtype=np.float64) for d in D],
                E=None if E is None else np.asarray(E, dtype=np.float64),
                pA=None if pA is None else [np.asarray(p, dtype=np.float64) for p in pA],
                pB=None if pB is None else [np.asarray(p, dtype=np.float64) for p in pB],
                A_dependencies=[list(d) for d in A_deps],
                B_dependencies=[list(d) for d in B_deps],
                control_fac_idx=control_fac_idx, settings=s)


# ----------------------------------------------------------------------------------
# scenario definitions
# ----------------------------------------------------------------------------------

def tmaze_scenarios():
    out = []
    # 1. classic TMaze (5 locations incl. middle connector, adjacent moves, 3 modalities).
    #    Reaching an arm from the cue takes 3 moves (cue -> centre -> middle -> arm), so policy_len 3.
    env = TMaze(cue_validity=0.95, reward_probability=0.98, punishment_probability=1.0)
    A = [np.asarray(a) for a in env.A]
    B = [np.asarray(b) for b in env.B]
    D = [np.asarray(d) for d in env.D]
    C = [np.zeros(5), np.array([0.0, 3.0, -3.0]), np.zeros(3)]
    out.append((make_sc("tmaze_fpi_pl3",
                        "pymdp.envs.TMaze (5 locations centre/left/right/cue/middle, adjacent moves; modalities "
                        "location/reward/cue), agent model = env model, C reward [0,3,-3], fpi, policy_len 3, "
                        "gamma 4, deterministic full sampling",
                        A, B, C, D, env.A_dependencies, env.B_dependencies,
                        policy_len=3, gamma=4.0, seed=1), env, 6))
    # 2. SimplifiedTMaze (fully connected, embedded cue), policy_len 2, gamma 16, marginal sampling
    env2 = SimplifiedTMaze(cue_validity=0.9, reward_probability=0.95)
    A2 = [np.asarray(a) for a in env2.A]
    B2 = [np.asarray(b) for b in env2.B]
    D2 = [np.asarray(d) for d in env2.D]
    C2 = [np.zeros(5), np.array([0.0, 4.0, -6.0])]
    out.append((make_sc("simplified_tmaze_fpi_pl2_marginal",
                        "pymdp.envs.SimplifiedTMaze (4 locations fully connected, cue embedded in location modality), "
                        "fpi, policy_len 2, gamma 16, deterministic marginal sampling",
                        A2, B2, C2, D2, env2.A_dependencies, env2.B_dependencies,
                        policy_len=2, gamma=16.0, sampling_mode="marginal", seed=2), env2, 6))
    # 3. SimplifiedTMaze with A learning (pA) + parameter info gain, policy_len 1
    env3 = SimplifiedTMaze(cue_validity=0.85, reward_probability=0.9)
    A_true = [np.asarray(a) for a in env3.A]
    B3 = [np.asarray(b) for b in env3.B]
    D3 = [np.asarray(d) for d in env3.D]
    C3 = [np.zeros(5), np.array([0.0, 2.0, -4.0])]
    pA = [A_true[0] * 4.0 + 0.25 * (A_true[0] > 0), (A_true[1] > 0) * 1.0 + A_true[1]]
    A_model = [normalize0(p) for p in pA]
    out.append((make_sc("simplified_tmaze_learn_A_param_info_gain",
                        "pymdp.envs.SimplifiedTMaze process; agent A = E[pA] with vague pA that keeps the "
                        "structural zeros, learn_A (lr_pA 1), use_param_info_gain, fpi, policy_len 1",
                        A_model, B3, C3, D3, env3.A_dependencies, env3.B_dependencies, pA=pA,
                        policy_len=1, gamma=2.0, learn_A=True, use_param_info_gain=True, seed=3), env3, 8))
    # 4. SimplifiedTMaze under MMP with a 3-step inference window
    out.append((make_sc("simplified_tmaze_mmp_h3",
                        "pymdp.envs.SimplifiedTMaze, mmp, num_iter 16, inference_horizon 3 (sliding window with "
                        "shifted empirical prior), policy_len 1, gamma 4",
                        A2, B2, [np.zeros(5), np.array([0.0, 3.0, -3.0])], D2,
                        env2.A_dependencies, env2.B_dependencies,
                        inference_algo="mmp", inference_horizon=3, policy_len=1, gamma=4.0, seed=4), env2, 6))
    return out


def gridworld_scenarios():
    out = []
    env = GridWorld(shape=(3, 3), initial_position=(0, 0), include_stay=True, success_prob=1.0)
    A = [np.asarray(env.A[0])]
    B = [np.asarray(env.B[0])]
    D = [np.asarray(env.D[0])]
    # graded (asymmetric) preference towards the bottom-right corner, avoids exact ties
    C = [np.array([-(1.0 * (2 - r) + 0.7 * (2 - c)) for r in range(3) for c in range(3)])]
    out.append((make_sc("gridworld_3x3_fpi_pl2",
                        "pymdp.envs.GridWorld 3x3 (9 states, actions UP,RIGHT,DOWN,LEFT,STAY), start (0,0), "
                        "C = -(1.0*row_dist + 0.7*col_dist) to state 8, fpi (single factor: exact one-shot), policy_len 2",
                        A, B, C, D, [[0]], [[0]], policy_len=2, gamma=4.0, seed=5), env, 6))

    env2 = GridWorld(shape=(2, 3), initial_position=(0, 0), include_stay=True, success_prob=0.8)
    A = [np.asarray(env2.A[0])]
    A = [0.85 * A[0] + 0.15 / 6.0]  # agent has a noisy sensor model
    B_true = np.asarray(env2.B[0])
    pB = [np.ones_like(B_true) * 0.5 + B_true * 1.0]
    B = [normalize0(pB[0])]
    D = [np.asarray(env2.D[0])]
    C = [np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0])]
    out.append((make_sc("gridworld_2x3_learn_B_param_info_gain",
                        "pymdp.envs.GridWorld 2x3, success_prob 0.8; agent has noisy A and B = E[pB] with "
                        "pB = 0.5 + B_true; learn_B (lr_pB 1), use_param_info_gain (pB), fpi, policy_len 1",
                        A, B, C, D, [[0]], [[0]], pB=pB, learn_B=True, use_param_info_gain=True,
                        policy_len=1, gamma=2.0, seed=6), env2, 8))
    return out


# Random multi-factor models. Each entry: structure + settings overrides.
RANDOM_SPECS = [
    dict(ns=[3], nc=[3], no=[3], A_deps=[[0]], B_deps=[[0]], pl=1,
         desc="single factor (fpi exact one-shot path)"),
    dict(ns=[3, 2], nc=[3, 1], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=2,
         desc="uncontrolled second factor, modality on both factors"),
    dict(ns=[4, 3], nc=[2, 3], no=[4, 3, 2], A_deps=[[0], [1], [0, 1]], B_deps=[[0], [1]], pl=1,
         use_states_info_gain=False, desc="utility only, two control factors"),
    dict(ns=[2, 3, 2], nc=[2, 1, 2], no=[3, 4], A_deps=[[0, 2], [1]], B_deps=[[0], [1], [2]], pl=1,
         use_utility=False, desc="state info gain only, three factors"),
    dict(ns=[3, 3], nc=[3, 2], no=[3, 3], A_deps=[[0], [1]], B_deps=[[0], [0, 1]], pl=2,
         desc="B_dependencies: factor 1 depends on factors 0 and 1"),
    dict(ns=[3, 2, 4], nc=[2, 2, 1], no=[4, 3], A_deps=[[0, 1], [2]], B_deps=[[0, 1], [1], [1, 2]], pl=1,
         desc="sparse B_dependencies on three factors"),
    dict(ns=[3, 2], nc=[3, 1], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=1,
         learn_A=True, use_param_info_gain=True, pA_scale=2.0, desc="learn_A + pA info gain"),
    dict(ns=[3, 2], nc=[2, 2], no=[3, 2], A_deps=[[0, 1], [1]], B_deps=[[0], [1]], pl=2,
         learn_B=True, use_param_info_gain=True, pB_scale=1.5, desc="learn_B + pB info gain"),
    dict(ns=[2, 3], nc=[2, 3], no=[2, 3, 2], A_deps=[[0], [1], [0, 1]], B_deps=[[0], [1]], pl=1,
         learn_A=True, learn_B=True, use_param_info_gain=True, lr_pA=0.5, lr_pB=2.0,
         pA_scale=3.0, pB_scale=2.0, desc="learn_A + learn_B with lr 0.5 / 2.0, pA+pB info gain"),
    dict(ns=[4, 2], nc=[4, 1], no=[4, 2], A_deps=[[0], [1]], B_deps=[[0], [1]], pl=1,
         learn_A=True, lr_pA=0.7, pA_scale=1.0, desc="learn_A lr 0.7 without param info gain"),
    dict(ns=[3, 3], nc=[3, 1], no=[3, 3], A_deps=[[0, 1], [0]], B_deps=[[0], [1]], pl=1,
         use_param_info_gain=True, pA_scale=2.0, pB_scale=2.0, desc="pA+pB info gain, no learning"),
    dict(ns=[3, 2], nc=[3, 2], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=1,
         gamma=16.0, E="random", desc="non-uniform E, gamma 16"),
    dict(ns=[3, 2], nc=[3, 2], no=[3, 3], A_deps=[[0], [1]], B_deps=[[0], [1]], pl=1,
         action_selection="stochastic", alpha=16.0, desc="stochastic full-policy sampling, alpha 16"),
    dict(ns=[3, 3], nc=[3, 2], no=[3, 2], A_deps=[[0, 1], [1]], B_deps=[[0], [1]], pl=1,
         action_selection="stochastic", sampling_mode="marginal", alpha=4.0, gamma=2.0,
         desc="stochastic marginal sampling, alpha 4"),
    dict(ns=[2, 3, 2], nc=[2, 3, 2], no=[2, 3], A_deps=[[0, 1], [1, 2]], B_deps=[[0], [1], [2]], pl=1,
         sampling_mode="marginal", desc="deterministic marginal sampling, three control factors"),
    dict(ns=[3, 2], nc=[2, 1], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=3,
         desc="policy_len 3"),
    dict(ns=[3, 2, 3], nc=[2, 1, 2], no=[3, 3, 2], A_deps=[[0, 1, 2], [0], [2]], B_deps=[[0], [1], [2]],
         pl=1, num_iter=4, desc="fpi num_iter 4, modality on all three factors"),
    dict(ns=[3, 2, 2], nc=[3, 1, 2], no=[3, 2], A_deps=[[0], [2]], B_deps=[[0], [1], [2]], pl=1,
         desc="factor 1 observed by no modality"),
    dict(ns=[3, 2], nc=[3, 1], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=1,
         inference_algo="mmp", inference_horizon=3, desc="mmp, inference_horizon 3"),
    dict(ns=[3, 2], nc=[3, 1], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=1,
         inference_algo="vmp", inference_horizon=3, desc="vmp, inference_horizon 3"),
    dict(ns=[4], nc=[3], no=[3], A_deps=[[0]], B_deps=[[0]], pl=2,
         inference_algo="mmp", inference_horizon=None, desc="mmp, full history (inference_horizon None)"),
    dict(ns=[3, 3], nc=[2, 2], no=[3, 2], A_deps=[[0, 1], [1]], B_deps=[[0], [0, 1]], pl=1,
         inference_algo="vmp", inference_horizon=4, num_iter=8,
         desc="vmp, inference_horizon 4, num_iter 8, coupled B_dependencies"),
    dict(ns=[4], nc=[2], no=[3, 2], A_deps=[[0], [0]], B_deps=[[0]], pl=2,
         inference_algo="exact", desc="exact (single factor, no learning)"),
    dict(ns=[3, 2], nc=[3, 2], no=[3, 2], A_deps=[[0], [1]], B_deps=[[0], [0, 1]], pl=1,
         learn_B=True, use_param_info_gain=True, pB_scale=1.0, desc="learn_B with multi-dependency B"),
    dict(ns=[3, 2], nc=[3, 1], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=1,
         inference_algo="mmp", inference_horizon=3, learn_A=True, learn_B=False, pA_scale=2.0,
         desc="mmp + learn_A (window re-counting semantics)"),
    dict(ns=[3, 2], nc=[2, 2], no=[3, 2], A_deps=[[0], [0, 1]], B_deps=[[0], [1]], pl=1,
         inference_algo="vmp", inference_horizon=3, learn_B=True, pB_scale=1.0,
         desc="vmp + learn_B (window re-counting semantics)"),
    dict(ns=[3, 2], nc=[3, 2], no=[3, 2], A_deps=[[0], [1]], B_deps=[[0], [1]], pl=1,
         use_utility=False, use_states_info_gain=False, E="random",
         desc="all EFE terms off: q_pi = softmax(log E)"),
]


def random_scenarios():
    out = []
    for i, spec in enumerate(RANDOM_SPECS):
        seed = 1000 + i
        rng = np.random.RandomState(seed)
        ns, nc, no = spec["ns"], spec["nc"], spec["no"]
        A_deps, B_deps = spec["A_deps"], spec["B_deps"]
        A_true, B_true, C, D = random_model(rng, ns, nc, no, A_deps, B_deps)
        A_model, B_model = [a.copy() for a in A_true], [b.copy() for b in B_true]
        pA = pB = None
        if "pA_scale" in spec:
            # vague prior around a perturbed model, keeping the process's structural zeros
            noise = [rand_cat(rng, a.shape, 0.5) for a in A_true]
            pA = [spec["pA_scale"] * (0.5 * a + 0.5 * n) * (a > 0) for a, n in zip(A_true, noise)]
            A_model = [normalize0(p) for p in pA]
        if "pB_scale" in spec:
            noise = [rand_cat(rng, b.shape, 0.5) for b in B_true]
            pB = [spec["pB_scale"] * (0.5 * b + 0.5 * n) + 0.1 for b, n in zip(B_true, noise)]
            B_model = [normalize0(p) for p in pB]
        E = None
        if spec.get("E") == "random":
            npol = int(np.prod(nc)) ** spec["pl"]
            E = normalize0(rng.gamma(1.0, size=npol))
        overrides = {k: v for k, v in spec.items()
                     if k in DEFAULT_SETTINGS}
        overrides["policy_len"] = spec["pl"]
        overrides["seed"] = seed
        name = f"random_{i + 1:02d}_{overrides.get('inference_algo', 'fpi')}"
        desc = (f"random model seed {seed}: num_states {ns}, num_controls {nc}, num_obs {no}, "
                f"A_deps {A_deps}, B_deps {B_deps}; {spec['desc']}")
        sc = make_sc(name, desc, A_model, B_model, C, D, A_deps, B_deps, E=E, pA=pA, pB=pB,
                     **overrides)
        env = PymdpEnv(A=[jnp.asarray(a) for a in A_true], B=[jnp.asarray(b) for b in B_true],
                       D=[jnp.asarray(d) for d in D], A_dependencies=A_deps, B_dependencies=B_deps)
        out.append((sc, env, 6 if spec["pl"] < 3 else 5))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true",
                    help="cross-check deterministic lr=1 scenarios against pymdp rollout()")
    ap.add_argument("--only", default=None, help="substring filter on scenario names")
    args = ap.parse_args()
    if PYMDP_VERSION != "1.0.4":
        print(f"warning: expected inferactively-pymdp 1.0.4, found {PYMDP_VERSION}", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    scenarios = tmaze_scenarios() + gridworld_scenarios() + random_scenarios()
    for sc, env, n in scenarios:
        if args.only and args.only not in sc["name"]:
            continue
        out, checked = finish(sc, env, n, args.check)
        path = os.path.join(args.out, sc["name"] + ".json")
        with open(path, "w") as fh:
            json.dump(out, fh, separators=(",", ":"))
            fh.write("\n")
        s = sc["settings"]
        print(f"{sc['name']}: algo={s['inference_algo']} pl={s['policy_len']} steps={n} "
              f"size={os.path.getsize(path)}B"
              + ("" if checked is None else f" rollout_max_abs_diff={checked:.2e}"))


if __name__ == "__main__":
    main()
