#!/usr/bin/env python
"""Time BayesPy 0.6.6 on the two peer-comparison workloads for actinf-vmp.

Usage (from the repository root):

    /tmp/bpref/bin/python scripts/peer_bayespy.py [--repeats 7]

Workloads (both built exactly as in scripts/bayespy_fixtures.py):

  lgssm_sweep  2-D linear Gaussian state-space model, N=1000 time steps
               (GaussianMarkovChain with known A, observed through a known 3x2 C
               via SumMultiply, GaussianARD noise with a Gamma precision).
               One VMP sweep = one `Q.update(repeat=1)`: update X (Kalman
               filter/smoother), update tau, then compute the ELBO. Reported both
               with the ELBO (what VB.update does) and as node updates only.
  gmm_fit      BayesPy's Gaussian mixture example (N=200, D=2, K=10): the whole
               `Q.update(repeat=1000)` from the example's random initialisation to
               convergence (61 sweeps, each with its ELBO). Also reported with
               model construction included.

Prints the load average (`/proc/loadavg`) before and after, the CPU count and
the BLAS thread settings, then min / median over the repeats (seconds).
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

from bayespy.inference import VB
from bayespy.nodes import (Categorical, Dirichlet, Gamma, Gaussian, GaussianARD,
                           GaussianMarkovChain, Mixture, SumMultiply, Wishart)

from importlib.metadata import version as _pkg_version

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sweeps", type=int, default=20,
                    help="LGSSM sweeps timed per repeat (each timed separately)")
    args = ap.parse_args()

    print("bayespy %s, numpy %s, scipy %s, python %s"
          % (_pkg_version("bayespy"), np.__version__, _pkg_version("scipy"),
             platform.python_version()))
    print("cpus %d; OMP/OPENBLAS/MKL threads: %s/%s/%s"
          % (os.cpu_count(), os.environ.get("OMP_NUM_THREADS", "-"),
             os.environ.get("OPENBLAS_NUM_THREADS", "-"),
             os.environ.get("MKL_NUM_THREADS", "-")))
    print("loadavg before: %s" % loadavg())

    # --- LGSSM, N=1000: one sweep -------------------------------------------------
    Q, X, tau = lgssm(1000)
    Q.update(repeat=1, verbose=False)  # warm-up (first sweep)
    with_elbo, updates_only = [], []
    for _ in range(args.repeats):
        for _ in range(args.sweeps // args.repeats or 1):
            t = time.perf_counter()
            Q.update(repeat=1, verbose=False)
            with_elbo.append(time.perf_counter() - t)
            t = time.perf_counter()
            X.update()
            tau.update()
            updates_only.append(time.perf_counter() - t)
    print("lgssm N=1000 D=2: one sweep incl. ELBO   %s" % summary(with_elbo))
    print("lgssm N=1000 D=2: one sweep, updates only %s" % summary(updates_only))

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
    print("loadavg after: %s" % loadavg())


if __name__ == "__main__":
    main()
