#!/usr/bin/env python
"""Time pymdp 1.0.4 on the models of actinf's criterion benchmarks, side by side.

The models are those of crates/actinf-pomdp/benches/pomdp.rs, rebuilt here in
numpy bit for bit: the T-maze of crates/actinf-pomdp/src/env.rs
(`TMaze::model(0.98, 3.0)`) and the random 625-policy model whose entries come
from a multiplicative hash of the flat index. One *step* is what the bench
times: infer_states (empirical prior from the previous action) +
infer_policies + sample_action, with actinf's default settings (fpi,
num_iter 16, gamma 16, alpha 16, deterministic, marginal action selection).

What is timed, per case (median time per step):

  case                      pymdp legacy (numpy)    pymdp JAX (float64, jitted)
  tmaze_step/policy_len_1   legacy Agent            batch_size 1
  tmaze_step/policy_len_2   legacy Agent            batch_size 1
  random_625/step           legacy Agent, 1 step*   batch_size 1
  tmaze_agents/1024         (not timed)             batch_size 1024, per agent-step

The legacy step is `pymdp.legacy.agent.Agent`'s infer_states + infer_policies +
sample_action (num_iter 16, its other inference defaults). The JAX step is
`pymdp.envs.rollout.infer_and_plan` (what `rollout` runs each step), timed two
ways, both compiled once with `equinox.filter_jit`, the agent passed as an
argument:

  JAX step   one compiled call per step from Python, each waiting for its
             action (`block_until_ready`), as a closed loop with a Python
             environment must: includes JAX's dispatch overhead;
  JAX scan   the steps inside one compiled `fori_loop` (observations from the
             same cycle), as `rollout` runs them: no Python between steps.

The JIT compile and a warm-up are excluded. Each number is the median over
several repeats of the per-step time; a repeat runs enough steps to last at
least --min-time seconds. The observations cycle through the bench's lists.

* The legacy agent is very slow on the 625-policy model (a pymdp issue reports
93 s a step): it is timed for one step only, in a child process cut off after
--legacy-625-timeout seconds, and skipped with --quick or --no-legacy-625.

Before timing, each model is written as an actinf scenario and run through
`cargo run --release -q -p actinf-cli -- pomdp run`; the first step's `q_pi`
and `neg_efe` are compared with pymdp's and the largest gaps printed: both
sides then time the same model and the same numbers. pymdp's JAX agent (which
actinf follows) should agree to rounding. The legacy agent has numerics of its
own, so gaps near 1e-6 are expected there: it scores state info gain as SPM's
spm_MDP_G does, with ln(p + e^-16), and utility with ln softmax(C) rather than
C (a constant shift of every `neg_efe`, removed before its gap is taken).

actinf's numbers come from criterion: the median of
target/criterion/<group>/<case>/new/estimates.json. Run the bench first:

    cargo bench -p actinf-pomdp --bench pomdp
    /tmp/pyref/bin/python scripts/peer_pymdp.py            # full run (a few minutes)
    /tmp/pyref/bin/python scripts/peer_pymdp.py --quick    # short run, no legacy 625

Requires `inferactively-pymdp==1.0.4` (with its JAX dependencies) in the
interpreter's environment, and cargo for the agreement check (--skip-check
leaves it out). Timings depend on the machine's load: the script prints the
load average before and after.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import jax

    jax.config.update("jax_enable_x64", True)
    import equinox as eqx
    import jax.numpy as jnp
    import jax.random as jr
    from pymdp.agent import Agent as JaxAgent
    from pymdp.envs.rollout import infer_and_plan
    from pymdp.legacy import utils as legacy_utils
    from pymdp.legacy.agent import Agent as LegacyAgent
except ImportError as err:  # pragma: no cover - depends on the environment
    print(
        f"pymdp and its dependencies (numpy, jax, equinox) are not installed in this interpreter "
        f"({sys.executable}): {err}.\n"
        "Install it (e.g. `python -m venv /tmp/pyref && /tmp/pyref/bin/pip install "
        "inferactively-pymdp==1.0.4`) and run this script with that interpreter."
    )
    sys.exit(0)

try:
    from importlib.metadata import version as _pkg_version

    PYMDP_VERSION = _pkg_version("inferactively-pymdp")
except Exception:  # pragma: no cover
    PYMDP_VERSION = "unknown"

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CRITERION_DIR = os.path.join(REPO_ROOT, "target", "criterion")

# Settings of actinf's `Settings::default()`, under pymdp's names.
GAMMA = 16.0
ALPHA = 16.0
NUM_ITER = 16

# Observation cycles of the bench (TMAZE_OBS and the random model's `obs`).
TMAZE_OBS = [[0, 0, 0], [3, 0, 1], [2, 1, 0], [2, 1, 1]]
RANDOM_OBS = [[3, 7, 1], [12, 0, 9], [29, 15, 4]]
NUM_AGENTS = 1024


# ----------------------------------------------------------------------------
# models, as actinf builds them
# ----------------------------------------------------------------------------

def tmaze_model(reward_prob=0.98, reward_pref=3.0):
    """`TMaze::model(reward_prob, reward_pref)` of crates/actinf-pomdp/src/env.rs.

    Factors: location (centre, left, right, cue; control = target location)
    and context (reward left / right; uncontrolled). Modalities: location,
    reward (none, reward, loss), cue (left, right).
    """
    CENTRE, LEFT, RIGHT, CUE = 0, 1, 2, 3  # noqa: F841 (documents the indices)
    NO_REWARD, REWARD, LOSS = 0, 1, 2
    loc = np.zeros((4, 4, 2))
    rew = np.zeros((3, 4, 2))
    cue = np.zeros((2, 4, 2))
    for s in range(4):
        for c in range(2):
            loc[s, s, c] = 1.0
            if s in (LEFT, RIGHT):
                rewarded_arm = LEFT if c == 0 else RIGHT
                p = reward_prob if s == rewarded_arm else 1.0 - reward_prob
                rew[REWARD, s, c] = p
                rew[LOSS, s, c] = 1.0 - p
                cue[0, s, c] = 0.5
                cue[1, s, c] = 0.5
            elif s == CUE:
                rew[NO_REWARD, s, c] = 1.0
                cue[c, s, c] = 1.0
            else:
                rew[NO_REWARD, s, c] = 1.0
                cue[0, s, c] = 0.5
                cue[1, s, c] = 0.5
    b_loc = np.zeros((4, 4, 4))
    for s in range(4):
        for u in range(4):
            b_loc[u, s, u] = 1.0
    b_ctx = np.array([1.0, 0.0, 0.0, 1.0]).reshape(2, 2, 1)
    C = [np.zeros(4), np.array([0.0, reward_pref, -reward_pref]), np.zeros(2)]
    D = [np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.5, 0.5])]
    return dict(A=[loc, rew, cue], B=[b_loc, b_ctx], C=C, D=D)


def hashed(n, seed):
    """`hashed(n, seed)` of the bench: (i*2654435761 + seed*40503) mod 2^32 / 2^32 + 0.01."""
    i = np.arange(n, dtype=np.uint64)  # i * 2654435761 < 2^64 for the sizes used: no wrap
    h = (i * np.uint64(2_654_435_761) + np.uint64(seed * 40_503)) % np.uint64(2**32)
    return 0.01 + h.astype(np.float64) / 4_294_967_296.0


def column_normalised(shape, seed):
    """`column_normalised` of the bench: hashed entries normalised over axis 0.

    The column sums are accumulated row by row, in the order of
    actinf_core::maths::normalise_columns, so the result is bit-identical.
    """
    flat = hashed(int(np.prod(shape)), seed).reshape(shape[0], -1)
    sums = np.zeros(flat.shape[1])
    for row in flat:
        sums += row
    return (flat / sums).reshape(shape)


def random_625_model():
    """`random_625()` of the bench: 30x30 states, modalities 30/30/10, 5x5 controls.

    No D (uniform on both sides); with policy_len 2 there are 25^2 = 625 policies.
    """
    ns = [30, 30]
    no = [30, 30, 10]
    A = [column_normalised([o, ns[0], ns[1]], 1 + m) for m, o in enumerate(no)]
    B = [column_normalised([ns[f], ns[f], 5], 10 + f) for f in range(2)]
    C = [hashed(o, 20 + m) for m, o in enumerate(no)]
    return dict(A=A, B=B, C=C, D=None)


# ----------------------------------------------------------------------------
# pymdp agents and their step
# ----------------------------------------------------------------------------

def make_jax_agent(model, policy_len, batch_size=1):
    kw = dict(
        A=[jnp.asarray(a) for a in model["A"]],
        B=[jnp.asarray(b) for b in model["B"]],
        C=[jnp.asarray(c) for c in model["C"]],
        policy_len=policy_len,
        gamma=GAMMA,
        alpha=ALPHA,
        num_iter=NUM_ITER,
        inference_algo="fpi",
        action_selection="deterministic",
        sampling_mode="marginal",
        use_utility=True,
        use_states_info_gain=True,
        use_param_info_gain=False,
        batch_size=batch_size,
    )
    if model["D"] is not None:
        kw["D"] = [jnp.asarray(d) for d in model["D"]]
    return JaxAgent(**kw)


def make_legacy_agent(model, policy_len):
    kw = dict(
        A=legacy_utils.obj_array_from_list(model["A"]),
        B=legacy_utils.obj_array_from_list(model["B"]),
        C=legacy_utils.obj_array_from_list(model["C"]),
        policy_len=policy_len,
        gamma=GAMMA,
        alpha=ALPHA,
        action_selection="deterministic",
        sampling_mode="marginal",
        inference_algo="VANILLA",
        # legacy defaults, with actinf's iteration count (fpi stops early on dF_tol)
        inference_params={"num_iter": NUM_ITER, "dF": 1.0, "dF_tol": 0.001, "compute_vfe": True},
    )
    if model["D"] is not None:
        kw["D"] = legacy_utils.obj_array_from_list(model["D"])
    return LegacyAgent(**kw)


@eqx.filter_jit
def jax_step(agent, qs_prev, action_prev, obs, key):
    """One JAX step: empirical prior, infer_states, infer_policies, sample_action."""
    _, action, qs, _ = infer_and_plan(agent, qs_prev, obs, action_prev, rng_key=key)
    return action, qs


@eqx.filter_jit
def jax_scan(agent, qs, action, obs_table, key, num_steps):
    """`num_steps` JAX steps fused in one compiled loop (no Python between steps).

    obs_table[m] is `[cycle, batch]`: the observations of modality m, cycled.
    `num_steps` is traced, so changing it does not recompile.
    """
    cycle = obs_table[0].shape[0]

    def body(t, carry):
        qs, action = carry
        obs = [o[(t + 1) % cycle] for o in obs_table]
        _, action, qs, _ = infer_and_plan(agent, qs, obs, action, rng_key=key)
        return qs, action

    return jax.lax.fori_loop(0, num_steps, body, (qs, action))


class JaxLoop:
    """A closed loop of jitted JAX steps over a fixed observation cycle (a batch of agents).

    `step()` is one compiled call per step, driven from Python; `steps(n)` runs
    n steps inside one compiled loop, as `pymdp.envs.rollout` does.
    """

    def __init__(self, model, policy_len, obs_cycle, batch_size=1):
        self.agent = make_jax_agent(model, policy_len, batch_size)
        self.batch_size = batch_size
        self.obs = [
            [jnp.full((batch_size,), o, dtype=jnp.int32) for o in obs]
            for obs in obs_cycle
        ]
        self.obs_table = [
            jnp.asarray(np.tile(np.array([obs[m] for obs in obs_cycle])[:, None], (1, batch_size)),
                        dtype=jnp.int32)
            for m in range(len(obs_cycle[0]))
        ]
        self.key = jr.PRNGKey(0)
        # start as after one step: qs = D, a previous action of zeros (int64, as the
        # agent returns its actions under x64, so that no call retraces)
        self.qs = [d[:, None, :] for d in self.agent.D]
        self.action = jnp.zeros((batch_size, self.agent.num_factors), dtype=jnp.int64)
        self.t = 0

    def step(self):
        self.t = (self.t + 1) % len(self.obs)
        self.action, self.qs = jax_step(self.agent, self.qs, self.action, self.obs[self.t], self.key)
        self.action.block_until_ready()

    def steps(self, n):
        self.qs, self.action = jax_scan(self.agent, self.qs, self.action, self.obs_table, self.key,
                                        jnp.asarray(n, dtype=jnp.int32))
        self.action.block_until_ready()


class LegacyLoop:
    def __init__(self, model, policy_len, obs_cycle):
        self.agent = make_legacy_agent(model, policy_len)
        self.obs = obs_cycle
        self.t = 0

    def step(self):
        self.t = (self.t + 1) % len(self.obs)
        self.agent.infer_states(self.obs[self.t])
        self.agent.infer_policies()
        self.agent.sample_action()


# ----------------------------------------------------------------------------
# agreement check against actinf
# ----------------------------------------------------------------------------

def actinf_first_step(model, policy_len, obs):
    """Run the model as a scenario through actinf's CLI; return its first step."""
    sc = {
        "description": "written by scripts/peer_pymdp.py",
        "A": [a.tolist() for a in model["A"]],
        "B": [b.tolist() for b in model["B"]],
        "C": [c.tolist() for c in model["C"]],
        "settings": {
            "policy_len": policy_len,
            "inference_algo": "fpi",
            "num_iter": NUM_ITER,
            "gamma": GAMMA,
            "alpha": ALPHA,
            "action_selection": "deterministic",
            "sampling_mode": "marginal",
        },
        "steps": [{"observation": list(obs)}],
    }
    if model["D"] is not None:
        sc["D"] = [d.tolist() for d in model["D"]]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(sc, f)
        path = f.name
    try:
        cmd = ["cargo", "run", "--release", "-q", "-p", "actinf-cli", "--", "pomdp", "run", path]
        res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    finally:
        os.unlink(path)
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{res.stderr.strip()}")
    step = json.loads(res.stdout)["steps"][0]
    return np.asarray(step["q_pi"]), np.asarray(step["neg_efe"])


def actinf_tmaze_demo_first_step(policy_len):
    """actinf's own `TMaze::model(0.98, 3.0)` (via `actinf demo tmaze`): first observation, q_pi."""
    cmd = ["cargo", "run", "--release", "-q", "-p", "actinf-cli", "--", "demo", "tmaze", "--json",
           "--steps", "1", "--policy-len", str(policy_len), "--reward-prob", "0.98", "--reward-pref", "3"]
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{res.stderr.strip()}")
    row = json.loads(res.stdout)[0]
    return row["observation"], np.asarray(row["q_pi"])


def jax_first_step(model, policy_len, obs):
    """pymdp JAX's first step (prior D): q_pi, neg_efe."""
    agent = make_jax_agent(model, policy_len)
    qs = agent.infer_states([jnp.array([o]) for o in obs], agent.D)
    q_pi, neg_efe = agent.infer_policies(qs)
    return np.asarray(q_pi)[0], np.asarray(neg_efe)[0]


def legacy_first_step(model, policy_len, obs):
    """pymdp legacy's first step (prior D, then the action): q_pi, neg_efe."""
    agent = make_legacy_agent(model, policy_len)
    agent.infer_states(obs)
    q_pi, neg_efe = agent.infer_policies()
    agent.sample_action()
    return np.asarray(q_pi, dtype=float), np.asarray(neg_efe, dtype=float)


def gaps(ref, other, shift=False):
    """Largest gaps of q_pi and neg_efe (after removing the mean difference if `shift`)."""
    (q_a, g_a), (q_b, g_b) = ref, other
    d = g_a - g_b
    if shift:
        return f"max|dq_pi| {np.max(np.abs(q_a - q_b)):.1e}  max|dneg_efe - mean| {np.max(np.abs(d - d.mean())):.1e}"
    return f"max|dq_pi| {np.max(np.abs(q_a - q_b)):.1e}  max|dneg_efe| {np.max(np.abs(d)):.1e}"


def check_agreement(label, model, policy_len, obs, with_legacy=True):
    """Print the first-step gaps between actinf and pymdp; return actinf's (q_pi, neg_efe)."""
    ref = actinf_first_step(model, policy_len, obs)
    line = f"  {label:<20} {len(ref[0]):>4} policies   JAX: {gaps(ref, jax_first_step(model, policy_len, obs))}"
    if with_legacy:
        line += f"   legacy: {gaps(ref, legacy_first_step(model, policy_len, obs), shift=True)}"
    else:
        line += "   legacy: with its timed step below"
    print(line, flush=True)
    return ref


# ----------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------

def time_steps(run, repeats, min_time):
    """Median seconds per step; `run(n)` runs n steps.

    A warm-up of 3 steps (which compiles what JAX compiles) and a calibration
    of n, the steps in one repeat, so that a repeat lasts at least `min_time`,
    come first and are not counted.
    """
    run(3)
    n = 1
    while True:
        t0 = time.perf_counter()
        run(n)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        n = max(n + 1, int(n * min(10.0, 1.2 * min_time / max(dt, 1e-9))))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(n)
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples), n


def python_loop(step):
    """`run(n)` for a per-step callable."""

    def run(n):
        for _ in range(n):
            step()

    return run


def legacy_625_child():
    """Time the legacy agent's first step on the 625-policy model; print it as JSON.

    The first step (prior D) costs what any step costs; its q_pi and neg_efe
    come back too, for the agreement check. numpy has nothing to warm up, and
    one step is all there is time for.
    """
    t0 = time.perf_counter()
    q_pi, neg_efe = legacy_first_step(random_625_model(), 2, RANDOM_OBS[0])
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "q_pi": q_pi.tolist(), "neg_efe": neg_efe.tolist()}))


def legacy_625_step(timeout):
    """Run `legacy_625_child` in a child process cut off after `timeout` s.

    Returns (seconds, (q_pi, neg_efe), None) or (None, None, why).
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--legacy-625-child"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None, f"over {timeout:g} s (cut off)"
    if res.returncode != 0:
        return None, None, "failed: " + " ".join(res.stderr.strip().splitlines()[-1:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return out["seconds"], (np.asarray(out["q_pi"]), np.asarray(out["neg_efe"])), None


def criterion_median(criterion_dir, group, case):
    """actinf's criterion median (seconds per iteration), or None when absent."""
    path = os.path.join(criterion_dir, group, case, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] * 1e-9
    except (OSError, KeyError, ValueError):
        return None


def fmt_time(sec):
    if sec is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if sec >= scale:
            return f"{sec / scale:.3g} {unit}"
    return f"{sec / 1e-9:.3g} ns"


def fmt_ratio(a, b):
    if a is None or b is None:
        return "—"
    r = a / b
    return f"{r:,.0f}×" if r >= 10 else f"{r:.2g}×"


def load():
    try:
        return "load average %.2f %.2f %.2f (1, 5, 15 min)" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "load average unknown"


def print_table(head, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("| " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring for what is timed and how.",
    )
    ap.add_argument("--quick", action="store_true",
                    help="short run: 3 repeats of >= 0.05 s, no legacy step on the 625-policy model")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per case (default 7; 3 with --quick)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds per repeat at least (default 0.3; 0.05 with --quick)")
    ap.add_argument("--skip-check", action="store_true", help="skip the agreement check against actinf's CLI")
    ap.add_argument("--no-legacy-625", action="store_true", help="skip the legacy step on the 625-policy model")
    ap.add_argument("--legacy-625-timeout", type=float, default=600.0,
                    help="cut the legacy 625-policy step off after this many seconds (default 600)")
    ap.add_argument("--criterion-dir", default=CRITERION_DIR,
                    help="criterion's output folder (default: target/criterion of this repository)")
    ap.add_argument("--legacy-625-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.legacy_625_child:
        legacy_625_child()
        return
    repeats = args.repeats or (3 if args.quick else 7)
    min_time = args.min_time or (0.05 if args.quick else 0.3)
    legacy_625 = not (args.quick or args.no_legacy_625)

    print(f"pymdp {PYMDP_VERSION}, jax {jax.__version__} ({jax.default_backend()}, x64), "
          f"numpy {np.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if PYMDP_VERSION != "1.0.4":
        print(f"note: these peers were written for pymdp 1.0.4, found {PYMDP_VERSION}")
    print(f"before: {load()}", flush=True)

    tmaze = tmaze_model(0.98, 3.0)
    rand = random_625_model()
    actinf_625 = None

    if not args.skip_check:
        print("\nFirst-step agreement with actinf (`actinf pomdp run` on the same arrays, prior D):", flush=True)
        try:
            for policy_len in (1, 2):
                ref = check_agreement(f"tmaze policy_len {policy_len}", tmaze, policy_len, TMAZE_OBS[0])
                # the arrays themselves: actinf's own TMaze::model gives the same first step
                demo_obs, demo_q = actinf_tmaze_demo_first_step(policy_len)
                if demo_obs == TMAZE_OBS[0]:
                    print(f"  {'':<20} actinf's own TMaze::model (`actinf demo tmaze`) vs these arrays: "
                          f"max|dq_pi| {np.max(np.abs(demo_q - ref[0])):.1e}")
            actinf_625 = check_agreement("random_625", rand, 2, RANDOM_OBS[0], with_legacy=False)
        except (OSError, RuntimeError) as err:
            print(f"  check skipped: {err}")
        print("  (legacy scores info gain as SPM's spm_MDP_G, with ln(p + e^-16), and utility with\n"
              "   ln softmax(C): gaps near 1e-6 are its own numerics; JAX is the reference actinf follows)")

    print(f"\nTiming pymdp ({repeats} repeats of >= {min_time} s each; median per step):", flush=True)
    cases = ["tmaze_step/policy_len_1", "tmaze_step/policy_len_2", "random_625/step",
             f"tmaze_agents/{NUM_AGENTS}"]
    legacy, jstep, jscan = {}, {}, {}
    legacy_cell = {}  # table text where there is no legacy time

    def report(case, what, sec, n, per=""):
        print(f"  {case:<24} {what:<9} {fmt_time(sec):>10}{per}  ({n} steps a repeat)", flush=True)

    for policy_len in (1, 2):
        case = f"tmaze_step/policy_len_{policy_len}"
        legacy[case], n = time_steps(python_loop(LegacyLoop(tmaze, policy_len, TMAZE_OBS).step),
                                     repeats, min_time)
        report(case, "legacy", legacy[case], n)
        loop = JaxLoop(tmaze, policy_len, TMAZE_OBS)
        jstep[case], n = time_steps(python_loop(loop.step), repeats, min_time)
        report(case, "JAX step", jstep[case], n)
        jscan[case], n = time_steps(loop.steps, repeats, min_time)
        report(case, "JAX scan", jscan[case], n)

    case = "random_625/step"
    loop = JaxLoop(rand, 2, RANDOM_OBS)
    jstep[case], n = time_steps(python_loop(loop.step), repeats, min_time)
    report(case, "JAX step", jstep[case], n)
    jscan[case], n = time_steps(loop.steps, repeats, min_time)
    report(case, "JAX scan", jscan[case], n)
    if legacy_625:
        print(f"  {case:<24} legacy    one step (slow; cut off after {args.legacy_625_timeout:g} s) ...",
              flush=True)
        legacy[case], first, why = legacy_625_step(args.legacy_625_timeout)
        if why:
            print(f"  {case:<24} legacy    {why}")
            if "cut off" in why:
                legacy_cell[case] = f"> {args.legacy_625_timeout:g} s"
        else:
            report(case, "legacy", legacy[case], 1)
            if actinf_625 is not None:
                print(f"  {'':<24} first-step agreement, legacy vs actinf: "
                      f"{gaps(actinf_625, first, shift=True)}")
    else:
        print(f"  {case:<24} legacy    skipped (--quick / --no-legacy-625): too slow")

    case = f"tmaze_agents/{NUM_AGENTS}"
    loop = JaxLoop(tmaze, 1, TMAZE_OBS, batch_size=NUM_AGENTS)
    for what, run, out in (("JAX step", python_loop(loop.step), jstep), ("JAX scan", loop.steps, jscan)):
        sec, n = time_steps(run, repeats, min_time)
        out[case] = sec / NUM_AGENTS
        report(case, what, out[case], n, f" per agent-step ({fmt_time(sec)} per batched step)")
    print(f"after: {load()}")

    # ---- table
    actinf = {}
    for case in cases:
        group, name = case.split("/")
        med = criterion_median(args.criterion_dir, group, name)
        if med is not None and group == "tmaze_agents":
            med /= NUM_AGENTS  # one criterion iteration = NUM_AGENTS agent-steps
        actinf[case] = med
    have_actinf = any(v is not None for v in actinf.values())
    if have_actinf:
        print(f"\nactinf: criterion medians from {args.criterion_dir} "
              "(`cargo bench -p actinf-pomdp --bench pomdp` refreshes them).")
    else:
        print(f"\nactinf's criterion results are missing ({args.criterion_dir}/<group>/<case>/new/"
              "estimates.json): run `cargo bench -p actinf-pomdp --bench pomdp` first. pymdp only:")
    print("Median time per step (tmaze_agents: per agent-step; actinf spreads its 1024 agents over the\n"
          "cores with rayon, pymdp batches them in one XLA program). JAX step: one jitted call per step\n"
          "from Python; JAX scan: the steps in one compiled loop, as pymdp's rollout runs them.\n")
    head = ["case", "pymdp legacy", "pymdp JAX step", "pymdp JAX scan", "actinf",
            "legacy/actinf", "JAX step/actinf", "JAX scan/actinf"]
    rows = []
    for case in cases:
        leg, js, jc, a = legacy.get(case), jstep[case], jscan[case], actinf[case]
        rows.append([case, legacy_cell.get(case, fmt_time(leg)), fmt_time(js), fmt_time(jc), fmt_time(a),
                     fmt_ratio(leg, a), fmt_ratio(js, a), fmt_ratio(jc, a)])
    if not have_actinf:
        head, rows = head[:4], [r[:4] for r in rows]
    print_table(head, rows)


if __name__ == "__main__":
    main()
