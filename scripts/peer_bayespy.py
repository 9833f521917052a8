#!/usr/bin/env python
"""Time BayesPy 0.6.6 on the peer-comparison workloads of actinf-vmp, side by side.

Usage (from the repository root):

    cargo bench -p actinf-vmp --bench vmp            # actinf's numbers (criterion)
    /tmp/bpref/bin/python scripts/peer_bayespy.py [--repeats 7] [--lgssm-n 1000 10000]

Workloads (the BayesPy models built exactly as in scripts/bayespy_fixtures.py;
the actinf side is crates/actinf-vmp/benches/vmp.rs):

  lgssm/sweep/N  2-D linear Gaussian state-space model with N time steps
                 (N = 1000 and 10000), D = 2 states, M = 3 outputs:
                     x_0 ~ N(0, (1e-3 I)^-1),  x_t = A x_{t-1} + N(0, I),
                     y_t ~ N(C x_t, (tau I)^-1),  tau ~ Gamma(1e-5, 1e-5),
                     A = [[0.95, -0.25], [0.25, 0.95]],
                     C = [[1, 0], [0, 1], [0.7, -0.7]]   (A and C known).
                 BayesPy: GaussianMarkovChain(zeros(2), 1e-3 I, A, ones(2), n=N),
                 F = SumMultiply("i,i", C[:, None, :], X), Y = GaussianARD(F, tau)
                 observing y with plates (3, N). actinf: GaussianChain(A, Q = I,
                 mu0 = 0, Lambda0 = 1e-3 I) with plates [N], tau = Gamma(1e-5) with a
                 constant rate 1e-5, Y = LinearGaussian(C, R = I) with the
                 tau precision scale, observing one 3-vector per time step (the
                 same model and the same ELBO: tests/bayespy_chains.rs replays
                 BayesPy's N = 60 run to 1e-8). The data are simulated from the
                 model on both sides, each with its own random numbers (numpy
                 seed 1 here, a fixed splitmix64 stream in the bench): the cost
                 of a sweep does not depend on the values.
                 One sweep = update X (Kalman filter + RTS smoother), update tau,
                 then the ELBO: BayesPy's `Q.update(repeat=1)` (the observed Y
                 is skipped), actinf's `update("X"); update("tau"); elbo()`.
                 Both after one warm-up sweep. BayesPy is also reported with
                 the node updates only.
  gmm/fit        BayesPy's Gaussian mixture example (N=200, D=2, K=10): the whole
                 `Q.update(repeat=1000)` from the example's random initialisation to
                 convergence (61 sweeps, each with its ELBO). actinf replays the
                 committed fixture tests/fixtures/bayespy/gmm.json (the same data
                 and initial assignments, the same update order and stopping
                 rule, 61 sweeps), exactly as tests/bayespy_replay.rs does. Model
                 construction is outside the timed part on both sides (BayesPy is
                 also reported with it).

actinf's numbers are the medians in criterion's
target/criterion/<group>/<case>/new/estimates.json (read when present; run the
bench first). The table gives BayesPy's median, actinf's median and their
ratio (BayesPy / actinf: how many times faster actinf is), then the issue's
goals for actinf.

Prints the load average (`/proc/loadavg`) before and after, the CPU count and
the BLAS thread settings, then min / median over the repeats (seconds).
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from bayespy.inference import VB
from bayespy.nodes import (Categorical, Dirichlet, Gamma, Gaussian, GaussianARD,
                           GaussianMarkovChain, Mixture, SumMultiply, Wishart)

from importlib.metadata import version as _pkg_version

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERION_DIR = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_ROOT, "target"),
                             "criterion")

# The goals for actinf (seconds).
GOALS = {"lgssm/sweep/1000": 2e-3, "lgssm/sweep/10000": 20e-3, "gmm/fit": 10e-3}

LGSSM_A = [[0.95, -0.25], [0.25, 0.95]]
LGSSM_C = [[1.0, 0.0], [0.0, 1.0], [0.7, -0.7]]


def loadavg():
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


def lgssm(N, seed=1):
    np.random.seed(seed)
    D, M = 2, 3
    A = np.array(LGSSM_A)
    C = np.array(LGSSM_C)
    x = np.zeros((N, D))
    x[0] = np.random.randn(D)
    for n in range(1, N):
        x[n] = A @ x[n - 1] + np.random.randn(D)
    y = (x @ C.T).T + 0.5 * np.random.randn(M, N)
    X = GaussianMarkovChain(np.zeros(D), 1e-3 * np.identity(D), A, np.ones(D), n=N,
                            name="X")
    F = SumMultiply("i,i", C[:, None, :], X, name="F")
    tau = Gamma(1e-5, 1e-5, name="tau")
    Y = GaussianARD(F, tau, name="Y")
    Y.observe(y)
    return VB(Y, X, tau), X, tau


def gmm():
    np.random.seed(1)
    y0 = np.random.multivariate_normal([0, 0], [[2, 0], [0, 0.1]], size=50)
    y1 = np.random.multivariate_normal([0, 0], [[0.1, 0], [0, 2]], size=50)
    y2 = np.random.multivariate_normal([2, 2], [[2, -1.5], [-1.5, 2]], size=50)
    y3 = np.random.multivariate_normal([-2, -2], [[0.5, 0], [0, 0.5]], size=50)
    y = np.vstack([y0, y1, y2, y3])
    N, D, K = 200, 2, 10
    alpha = Dirichlet(1e-5 * np.ones(K), name="alpha")
    Z = Categorical(alpha, plates=(N,), name="z")
    mu = Gaussian(np.zeros(D), 1e-5 * np.identity(D), plates=(K,), name="mu")
    Lambda = Wishart(D, 1e-5 * np.identity(D), plates=(K,), name="Lambda")
    Y = Mixture(Z, Gaussian, mu, Lambda, name="Y")
    Z.initialize_from_random()
    Q = VB(Y, mu, Lambda, Z, alpha)
    Y.observe(y)
    return Q


def summary(ts):
    return "min %.6f  median %.6f  (n=%d)" % (min(ts), statistics.median(ts), len(ts))


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
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if sec >= scale:
            return "%.3g %s" % (sec / scale, unit)
    return "%.3g ns" % (sec / 1e-9)


def fmt_ratio(a, b):
    if a is None or b is None:
        return "-"
    r = a / b
    return "{:,.0f}x".format(r) if r >= 10 else "%.2gx" % r


def print_table(head, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("| " + " | ".join(cells) + " |")


def time_lgssm(n, repeats, sweeps):
    """Median-able lists of one-sweep times (with the ELBO, updates only)."""
    Q, X, tau = lgssm(n)
    Q.update(repeat=1, verbose=False)  # warm-up (first sweep)
    with_elbo, updates_only = [], []
    for _ in range(repeats):
        for _ in range(sweeps // repeats or 1):
            t = time.perf_counter()
            Q.update(repeat=1, verbose=False)
            with_elbo.append(time.perf_counter() - t)
            t = time.perf_counter()
            X.update()
            tau.update()
            updates_only.append(time.perf_counter() - t)
    return with_elbo, updates_only


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sweeps", type=int, default=20,
                    help="LGSSM sweeps timed at N <= 1000 (each timed separately)")
    ap.add_argument("--sweeps-large", type=int, default=5,
                    help="LGSSM sweeps timed at larger N (about 1.5 s each in BayesPy at N=10000)")
    ap.add_argument("--lgssm-n", type=int, nargs="+", default=[1000, 10000],
                    help="LGSSM lengths to time (the bench has 1000 and 10000)")
    ap.add_argument("--criterion-dir", default=CRITERION_DIR,
                    help="criterion's output folder (default: target/criterion of this repository)")
    args = ap.parse_args()

    print("bayespy %s, numpy %s, scipy %s, python %s"
          % (_pkg_version("bayespy"), np.__version__, _pkg_version("scipy"),
             platform.python_version()))
    print("cpus %d; OMP/OPENBLAS/MKL threads: %s/%s/%s"
          % (os.cpu_count(), os.environ.get("OMP_NUM_THREADS", "-"),
             os.environ.get("OPENBLAS_NUM_THREADS", "-"),
             os.environ.get("MKL_NUM_THREADS", "-")))
    print("loadavg before: %s" % loadavg())
    bayespy = {}

    # --- LGSSM: one sweep ---------------------------------------------------------
    for n in args.lgssm_n:
        if n <= 1000:
            repeats, sweeps = args.repeats, args.sweeps
        else:
            repeats = min(args.repeats, args.sweeps_large)
            sweeps = args.sweeps_large
        with_elbo, updates_only = time_lgssm(n, repeats, sweeps)
        print("lgssm N=%d D=2: one sweep incl. ELBO   %s" % (n, summary(with_elbo)))
        print("lgssm N=%d D=2: one sweep, updates only %s" % (n, summary(updates_only)))
        bayespy["lgssm/sweep/%d" % n] = statistics.median(with_elbo)

    # --- GMM, whole fit ---------------------------------------------------------
    fit, total, iters, L = [], [], None, None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        Q = gmm()
        t1 = time.perf_counter()
        Q.update(repeat=1000, verbose=False)
        t2 = time.perf_counter()
        fit.append(t2 - t1)
        total.append(t2 - t0)
        iters, L = int(Q.iter), float(Q.L[Q.iter - 1])
    print("gmm N=200 K=10 fit (%d sweeps, L=%.13g): %s" % (iters, L, summary(fit)))
    print("gmm fit incl. data+model construction:        %s" % summary(total))
    print("per gmm sweep (median fit / sweeps): %.6f" % (statistics.median(fit) / iters))
    bayespy["gmm/fit"] = statistics.median(fit)
    print("loadavg after: %s" % loadavg())

    # --- side by side with actinf's criterion medians ---------------------------------
    cases = ["lgssm/sweep/%d" % n for n in (1000, 10000)] + ["gmm/fit"]
    cases += [c for c in bayespy if c not in cases]
    actinf = {}
    for case in cases:
        group, name = case.split("/", 1)
        actinf[case] = criterion_median(args.criterion_dir, group, name)
    if any(v is not None for v in actinf.values()):
        print("\nactinf: criterion medians from %s "
              "(`cargo bench -p actinf-vmp --bench vmp` refreshes them)." % args.criterion_dir)
    else:
        print("\nactinf's criterion results are missing (%s/<group>/<case>/new/estimates.json): "
              "run `cargo bench -p actinf-vmp --bench vmp` first." % args.criterion_dir)
    print("Median time per case (lgssm: one sweep with its ELBO; gmm/fit: the whole fit, "
          "61 sweeps); ratio = BayesPy / actinf.\n")
    rows = [[c, fmt_time(bayespy.get(c)), fmt_time(actinf[c]), fmt_ratio(bayespy.get(c), actinf[c])]
            for c in cases]
    print_table(["case", "BayesPy", "actinf", "ratio"], rows)
    print()
    for case, goal in GOALS.items():
        a = actinf.get(case)
        verdict = "-" if a is None else ("met" if a <= goal else "NOT met")
        print("goal %-18s actinf <= %-7s %s" % (case, fmt_time(goal), verdict))


if __name__ == "__main__":
    main()
