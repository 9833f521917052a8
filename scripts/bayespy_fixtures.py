#!/usr/bin/env python
"""Generate BayesPy 0.6.6 variational-message-passing reference fixtures for actinf-vmp.

Usage (from the repository root):

    /tmp/bpref/bin/python scripts/bayespy_fixtures.py            # write all fixtures
    /tmp/bpref/bin/python scripts/bayespy_fixtures.py gmm hmm_dirichlet   # only some

Requires `bayespy==0.6.6` (with numpy/scipy) in the interpreter's environment.
Output: crates/actinf-vmp/tests/fixtures/bayespy/<name>.json, one model per file.

Every model is one of BayesPy's documented examples (quickstart, Gaussian mixture,
Bernoulli mixture, discrete HMM, linear state-space model, PCA), built and run with
BayesPy itself; data come from numpy's legacy global RNG under fixed seeds, exactly
as the examples generate them. Random initialisations are drawn through the node's
own `random()` and then set with `initialize_from_value()` -- the two calls
`initialize_from_random()` makes -- so the drawn value is recorded and a replay never
needs BayesPy's RNG.

File layout (all arrays are nested JSON lists, C order; floats are written with
Python's shortest round-trip repr, so they parse back bit-exactly):

  name, bayespy_version, numpy_version, source  -- provenance
  model.nodes[]        -- nodes in construction order:
      name, type, parents (ordered as BayesPy's constructor takes them; a string is
      another node's name, a number or list is a constant), parent_roles, plates,
      shape (the variable's own dimensions), observed (data or null), plus per-type
      constants (e.g. states, cluster_plate, mixed_type, einsum).
  update_order         -- node names visited by one sweep of `VB.update`, in order
                          (observed/deterministic names kept where BayesPy keeps them;
                          updating them is a no-op).
  initial_posteriors   -- per latent node, the state the first sweep starts from:
      init: "prior" | "value"; value (for "value"); phi, u, g (BayesPy's natural
      parameters, expected moments and log-normaliser term as stored on the node;
      for init "value" only u is meaningful: phi is the untouched prior, g = +inf);
      params (standard parametrisation, see PARAMS below).
  tolerance_rule       -- tol, max_iter (VB.update's repeat), and the exact formula.
  expected.elbo        -- Q.L after each sweep (VB.loglikelihood_lowerbound()).
  expected.elbo_terms  -- per node, its lower_bound_contribution() after each sweep.
  expected.iterations  -- sweeps run; expected.converged -- whether the rule fired.
  expected.posteriors  -- final phi, u, g, params of every latent node.

PARAMS (standard parametrisation written next to BayesPy's natural one):
  GaussianARD/Gaussian: mean = u0, cov = u1 - u0 u0^T (scalar: var).
  Gamma: a = phi1, b = -phi0.
  Wishart: n = 2 phi1, V = -2 phi0 (BayesPy's V is the *inverse* scale: E[L] = n V^-1).
  Dirichlet/Beta: alpha = phi0.
  Categorical: p = u0.      CategoricalMarkovChain: p0 = u0, pair marginals = u1.
  GaussianMarkovChain: mean = u0, cov_n = u1_n - m_n m_n^T,
                       cross_n = u2_n - m_n m_{n+1}^T.
"""

import argparse
import json
import os
import sys

import numpy as np

import bayespy  # noqa: F401
from bayespy.inference import VB
from bayespy.nodes import (Bernoulli, Beta, Categorical, CategoricalMarkovChain,
                           Dirichlet, Gamma, Gaussian, GaussianARD,
                           GaussianMarkovChain, Mixture, SumMultiply, Wishart)
from bayespy.utils import random as bprandom

from importlib.metadata import version as _pkg_version

BAYESPY_VERSION = _pkg_version("bayespy")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "crates", "actinf-vmp", "tests", "fixtures", "bayespy")

TOL = 1e-5  # VB(tol=...) default
RULE = ("after sweep i >= 2 (1-based), with L0 = L[i-1], L1 = L[i]: converged iff "
        "(L1 - L0) / (0.5*(|L0| + |L1|)) < tol  (signed: any decrease also stops); "
        "VB.update returns right after the sweep on which the rule fires, otherwise "
        "after max_iter sweeps (bayespy/inference/vmp/vmp.py: VB._end_iteration_step)")


# ----------------------------------------------------------------------------------
# serialisation helpers
# ----------------------------------------------------------------------------------

def arr(x):
    """Array -> nested list of floats (non-finite -> null; never expected in data)."""
    a = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(a)):
        a = a.astype(object)
        a[~np.isfinite(a.astype(float))] = None
    return a.tolist()


def iarr(x):
    return np.asarray(x, dtype=np.int64).tolist()


def standard_params(kind, node):
    phi = node.phi
    u = node.u
    if kind in ("GaussianARD", "Gaussian"):
        m = np.asarray(u[0])
        if m.ndim == 0 or len(node.dims[0]) == 0:
            return {"mean": arr(m), "var": arr(u[1] - m * m)}
        return {"mean": arr(m), "cov": arr(u[1] - m[..., :, None] * m[..., None, :])}
    if kind == "Gamma":
        return {"a": arr(phi[1]), "b": arr(-phi[0])}
    if kind == "Wishart":
        return {"n": arr(2 * phi[1]), "V": arr(-2 * phi[0])}
    if kind in ("Dirichlet", "Beta"):
        return {"alpha": arr(phi[0])}
    if kind == "Categorical":
        return {"p": arr(u[0])}
    if kind == "CategoricalMarkovChain":
        return {"p0": arr(u[0]), "pair_marginals": arr(u[1])}
    if kind == "GaussianMarkovChain":
        m = np.asarray(u[0])
        cov = u[1] - m[..., :, None] * m[..., None, :]
        cross = u[2] - m[..., :-1, :, None] * m[..., 1:, None, :]
        return {"mean": arr(m), "cov": arr(cov), "cross_cov": arr(cross)}
    raise ValueError(kind)


def node_state(kind, node, init=None, value=None):
    st = {}
    if init is not None:
        st["init"] = init
    if init == "value":
        st["value"] = value
        st["u"] = [arr(ui) for ui in node.u]
        return st
    st["phi"] = [arr(p) for p in node.phi]
    st["u"] = [arr(ui) for ui in node.u]
    st["g"] = arr(node.g)
    st["params"] = standard_params(kind, node)
    return st


def init_from_random(node):
    """Exactly what ExponentialFamily.initialize_from_random does, keeping the draw."""
    x = node.random()
    node.initialize_from_value(x)
    return x


def nd(name, kind, parents, roles, plates=(), shape=(), observed=None, **extra):
    d = {"name": name, "type": kind, "parents": parents, "parent_roles": roles,
         "plates": list(plates), "shape": list(shape), "observed": observed}
    d.update(extra)
    return d


# ----------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------

def gaussian_mean_precision():
    # BayesPy quickstart (doc/source/user_guide/quickstart.rst)
    np.random.seed(1)
    data = np.random.normal(5, 10, size=(10,))
    mu = GaussianARD(0, 1e-6, name="mu")
    tau = Gamma(1e-6, 1e-6, name="tau")
    y = GaussianARD(mu, tau, plates=(10,), name="y")
    y.observe(data)
    Q = VB(y, mu, tau)
    nodes = [
        nd("mu", "GaussianARD", [0.0, 1e-6], ["mu", "alpha"]),
        nd("tau", "Gamma", [1e-6, 1e-6], ["a", "b"]),
        nd("y", "GaussianARD", ["mu", "tau"], ["mu", "alpha"], plates=(10,),
           observed=arr(data)),
    ]
    return dict(
        description="Unknown mean and precision of a scalar Gaussian (BayesPy quickstart).",
        source="np.random.seed(1); data = np.random.normal(5, 10, size=(10,)); "
               "mu = GaussianARD(0, 1e-6); tau = Gamma(1e-6, 1e-6); "
               "y = GaussianARD(mu, tau, plates=(10,)); y.observe(data); "
               "Q = VB(y, mu, tau); Q.update(repeat=20)",
        Q=Q, nodes=nodes, latent={"mu": ("GaussianARD", mu), "tau": ("Gamma", tau)},
        init={"mu": ("prior", None), "tau": ("prior", None)},
        update=None, repeat=20)


def gmm():
    # BayesPy Gaussian mixture example (doc/source/examples/gmm.rst, the doctest code)
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
    zval = init_from_random(Z)
    Q = VB(Y, mu, Lambda, Z, alpha)
    Y.observe(y)
    nodes = [
        nd("alpha", "Dirichlet", [arr(1e-5 * np.ones(K))], ["alpha"], shape=(K,)),
        nd("z", "Categorical", ["alpha"], ["p"], plates=(N,), shape=(K,)),
        nd("mu", "Gaussian", [arr(np.zeros(D)), arr(1e-5 * np.identity(D))],
           ["mu", "Lambda"], plates=(K,), shape=(D,)),
        nd("Lambda", "Wishart", [D, arr(1e-5 * np.identity(D))], ["n", "V"],
           plates=(K,), shape=(D, D)),
        nd("Y", "Mixture", ["z", "mu", "Lambda"], ["z", "mu", "Lambda"], plates=(N,),
           shape=(D,), observed=arr(y), mixed_type="Gaussian", cluster_plate=-1),
    ]
    return dict(
        description="2-D Gaussian mixture, N=200, K=10 (BayesPy GMM example).",
        source="gmm.rst doctest: np.random.seed(1); four np.random.multivariate_normal "
               "blocks of 50 ([[2,0],[0,0.1]], [[0.1,0],[0,2]], mean [2,2] cov "
               "[[2,-1.5],[-1.5,2]], mean [-2,-2] cov 0.5 I); Z.initialize_from_random(); "
               "Q = VB(Y, mu, Lambda, Z, alpha); Y.observe(y); Q.update(repeat=1000)",
        Q=Q, nodes=nodes,
        latent={"alpha": ("Dirichlet", alpha), "z": ("Categorical", Z),
                "mu": ("Gaussian", mu), "Lambda": ("Wishart", Lambda)},
        init={"alpha": ("prior", None), "z": ("value", iarr(zval)),
              "mu": ("prior", None), "Lambda": ("prior", None)},
        update=None, repeat=1000)


def bernoulli_mixture():
    # BayesPy Bernoulli mixture example (doc/source/examples/bmm.rst), full size
    np.random.seed(1)
    p0 = [0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9]
    p1 = [0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9]
    p2 = [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
    p = np.array([p0, p1, p2])
    z = bprandom.categorical([1 / 3, 1 / 3, 1 / 3], size=100)
    x = bprandom.bernoulli(p[z])
    N, D, K = 100, 10, 10
    R = Dirichlet(K * [1e-5], name="R")
    Z = Categorical(R, plates=(N, 1), name="Z")
    P = Beta([0.5, 0.5], plates=(D, K), name="P")
    X = Mixture(Z, Bernoulli, P, name="X")
    Q = VB(Z, R, X, P)
    pval = init_from_random(P)
    X.observe(x)
    nodes = [
        nd("R", "Dirichlet", [K * [1e-5]], ["alpha"], shape=(K,)),
        nd("Z", "Categorical", ["R"], ["p"], plates=(N, 1), shape=(K,)),
        nd("P", "Beta", [[0.5, 0.5]], ["alpha"], plates=(D, K), shape=(2,)),
        nd("X", "Mixture", ["Z", "P"], ["z", "p"], plates=(N, D),
           observed=iarr(x), mixed_type="Bernoulli", cluster_plate=-1),
    ]
    return dict(
        description="Bernoulli mixture, N=100 binary vectors of D=10, K=10 clusters "
                    "(BayesPy BMM example).",
        source="bmm.rst: np.random.seed(1); z = bayespy.utils.random.categorical("
               "[1/3]*3, size=100); x = bayespy.utils.random.bernoulli(p[z]); "
               "Q = VB(Z, R, X, P); P.initialize_from_random(); X.observe(x); "
               "Q.update(repeat=1000)",
        Q=Q, nodes=nodes,
        latent={"R": ("Dirichlet", R), "Z": ("Categorical", Z), "P": ("Beta", P)},
        init={"R": ("prior", None), "Z": ("prior", None),
              "P": ("value", arr(pval))},
        update=None, repeat=1000)


def hmm_dirichlet():
    # BayesPy discrete HMM example (doc/source/examples/hmm_discrete.rst), "unknown
    # parameters" part, with a seed and N=200 instead of 1000 to keep the file small.
    np.random.seed(1)
    N = 200
    a0 = [0.6, 0.4]
    A = [[0.7, 0.3], [0.4, 0.6]]
    P = [[0.1, 0.4, 0.5], [0.6, 0.3, 0.1]]
    Ztrue = CategoricalMarkovChain(a0, A, states=N)
    weather = Ztrue.random()
    activity = Mixture(weather, Categorical, P).random()
    a0n = Dirichlet([0.1, 0.1], name="a0")
    An = Dirichlet([[0.1, 0.1], [0.1, 0.1]], name="A")
    Z = CategoricalMarkovChain(a0n, An, states=N, name="Z")
    Pn = Dirichlet([[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]], name="P")
    Y = Mixture(Z, Categorical, Pn, name="Y")
    Y.observe(activity)
    Q = VB(Y, Z, An, a0n, Pn)
    pval = init_from_random(Pn)
    nodes = [
        nd("a0", "Dirichlet", [[0.1, 0.1]], ["alpha"], shape=(2,)),
        nd("A", "Dirichlet", [[[0.1, 0.1], [0.1, 0.1]]], ["alpha"], plates=(2,),
           shape=(2,)),
        nd("Z", "CategoricalMarkovChain", ["a0", "A"], ["pi", "A"], shape=(N, 2),
           states=N),
        nd("P", "Dirichlet", [[[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]]], ["alpha"],
           plates=(2,), shape=(3,)),
        nd("Y", "Mixture", ["Z", "P"], ["z", "p"], plates=(N,), shape=(3,),
           observed=iarr(activity), mixed_type="Categorical", cluster_plate=-1,
           note="observed values are category indices; the Mixture's z parent is the "
                "chain converted to per-time Categorical moments (plates (N,))"),
    ]
    return dict(
        description="Discrete HMM, 2 states, 3 symbols, N=200, Dirichlet priors on "
                    "initial, transition and emission probabilities (BayesPy "
                    "hmm_discrete example, unknown parameters).",
        source="np.random.seed(1); N=200; weather = CategoricalMarkovChain([0.6,0.4], "
               "[[0.7,0.3],[0.4,0.6]], states=N).random(); activity = Mixture(weather, "
               "Categorical, [[0.1,0.4,0.5],[0.6,0.3,0.1]]).random(); model as in the "
               "example; Y.observe(activity); Q = VB(Y, Z, A, a0, P); "
               "P.initialize_from_random(); Q.update(Z, A, a0, P, repeat=200)",
        Q=Q, nodes=nodes,
        latent={"a0": ("Dirichlet", a0n), "A": ("Dirichlet", An),
                "Z": ("CategoricalMarkovChain", Z), "P": ("Dirichlet", Pn)},
        init={"a0": ("prior", None), "A": ("prior", None), "Z": ("prior", None),
              "P": ("value", arr(pval))},
        update=["Z", "A", "a0", "P"], repeat=200)


LGSSM_A = [[0.95, -0.25], [0.25, 0.95]]  # rotation-like, stable
LGSSM_C = [[1.0, 0.0], [0.0, 1.0], [0.7, -0.7]]


def lgssm_model(N, seed=1):
    """2-D linear Gaussian state-space model with known A, known C (M=3 outputs),
    unit innovation precision, and unknown observation precision tau.
    Structure of BayesPy's lssm demo (bayespy/demos/lssm.py) with A and C fixed."""
    np.random.seed(seed)
    D, M = 2, 3
    A = np.array(LGSSM_A)
    C = np.array(LGSSM_C)
    x = np.zeros((N, D))
    x[0] = np.random.randn(D)
    for n in range(1, N):
        x[n] = A @ x[n - 1] + np.random.randn(D)
    y = (x @ C.T).T + 0.5 * np.random.randn(M, N)  # (M, N)
    X = GaussianMarkovChain(np.zeros(D), 1e-3 * np.identity(D), A, np.ones(D), n=N,
                            name="X")
    F = SumMultiply("i,i", C[:, None, :], X, name="F")
    tau = Gamma(1e-5, 1e-5, name="tau")
    Y = GaussianARD(F, tau, name="Y")
    Y.observe(y)
    Q = VB(Y, X, tau)
    return Q, X, tau, y, A, C


def lgssm():
    N = 60
    Q, X, tau, y, A, C = lgssm_model(N)
    D, M = 2, 3
    nodes = [
        nd("X", "GaussianMarkovChain",
           [arr(np.zeros(D)), arr(1e-3 * np.identity(D)), arr(A), arr(np.ones(D))],
           ["mu", "Lambda", "A", "nu"], shape=(N, D), states=N,
           note="A is the constant dynamics matrix (x_n = A x_{n-1} + noise), given "
                "to BayesPy as a (D,D) array = GaussianARD-like parent with plates (D,) "
                "whose row d is the d-th row of A; nu are innovation precisions"),
        nd("F", "SumMultiply", [arr(C[:, None, :]), "X"], ["C", "X"],
           plates=(M, N), einsum="i,i",
           note="deterministic F[m,n] = sum_i C[m,0,i] x_n[i]; X enters as its "
                "per-time Gaussian marginals (plates (N,), shape (D,))"),
        nd("tau", "Gamma", [1e-5, 1e-5], ["a", "b"]),
        nd("Y", "GaussianARD", ["F", "tau"], ["mu", "alpha"], plates=(M, N),
           observed=arr(y)),
    ]
    return dict(
        description="2-D linear Gaussian state-space model, N=60, known A and C "
                    "(3 outputs), unknown observation noise precision.",
        source="np.random.seed(1); x0 ~ N(0,I); x_n = A x_{n-1} + N(0,I); "
               "y = C x + 0.5*randn(3,N); X = GaussianMarkovChain(zeros(2), 1e-3*I, A, "
               "ones(2), n=N); F = SumMultiply('i,i', C[:,None,:], X); "
               "tau = Gamma(1e-5,1e-5); Y = GaussianARD(F, tau); Y.observe(y); "
               "Q = VB(Y, X, tau); Q.update(repeat=200)",
        Q=Q, nodes=nodes,
        latent={"X": ("GaussianMarkovChain", X), "tau": ("Gamma", tau)},
        init={"X": ("prior", None), "tau": ("prior", None)},
        update=None, repeat=200)


def pca():
    # BayesPy PCA example (doc/source/examples/pca.rst) without the rotation callback
    # (plain VMP sweeps), with M=10, N=30, latent D=4 instead of 20, 100, 10 and at
    # most 100 sweeps to keep the file small (plain VMP converges slowly here).
    np.random.seed(1)
    M, N, Dl = 10, 30, 4
    x = np.random.randn(N, 2)
    w = np.random.randn(M, 2)
    f = np.einsum("ik,jk->ij", w, x)
    y = f + 0.1 * np.random.randn(M, N)
    X = GaussianARD(0, 1, plates=(1, N), shape=(Dl,), name="X")
    alpha = Gamma(1e-5, 1e-5, plates=(Dl,), name="alpha")
    C = GaussianARD(0, alpha, plates=(M, 1), shape=(Dl,), name="C")
    F = SumMultiply("d,d->", X, C, name="F")
    tau = Gamma(1e-5, 1e-5, name="tau")
    Y = GaussianARD(F, tau, name="Y")
    Y.observe(y)
    Q = VB(Y, X, C, alpha, tau)
    cval = init_from_random(C)
    nodes = [
        nd("X", "GaussianARD", [0.0, 1.0], ["mu", "alpha"], plates=(1, N), shape=(Dl,)),
        nd("alpha", "Gamma", [1e-5, 1e-5], ["a", "b"], plates=(Dl,)),
        nd("C", "GaussianARD", [0.0, "alpha"], ["mu", "alpha"], plates=(M, 1),
           shape=(Dl,)),
        nd("F", "SumMultiply", ["X", "C"], ["X", "C"], plates=(M, N), einsum="d,d->"),
        nd("tau", "Gamma", [1e-5, 1e-5], ["a", "b"]),
        nd("Y", "GaussianARD", ["F", "tau"], ["mu", "alpha"], plates=(M, N),
           observed=arr(y)),
    ]
    return dict(
        description="Probabilistic PCA with ARD, M=10, N=30, latent D=4 (BayesPy PCA "
                    "example, no rotation speed-up).",
        source="np.random.seed(1); x = randn(N,2); w = randn(M,2); y = w x^T + "
               "0.1*randn(M,N); model as in pca.rst; Y.observe(y); "
               "Q = VB(Y, X, C, alpha, tau); C.initialize_from_random(); "
               "Q.update(repeat=100) (no RotationOptimizer callback)",
        Q=Q, nodes=nodes,
        latent={"X": ("GaussianARD", X), "C": ("GaussianARD", C),
                "alpha": ("Gamma", alpha), "tau": ("Gamma", tau)},
        init={"X": ("prior", None), "C": ("value", arr(cval)),
              "alpha": ("prior", None), "tau": ("prior", None)},
        update=None, repeat=100)


MODELS = {
    "gaussian_mean_precision": gaussian_mean_precision,
    "gmm": gmm,
    "bernoulli_mixture": bernoulli_mixture,
    "hmm_dirichlet": hmm_dirichlet,
    "lgssm": lgssm,
    "pca": pca,
}


# ----------------------------------------------------------------------------------
# runner
# ----------------------------------------------------------------------------------

def run(name):
    m = MODELS[name]()
    Q = m["Q"]
    names = [n.name for n in Q.model]
    update = m["update"] if m["update"] is not None else names
    initial = {}
    for nm, (kind, node) in m["latent"].items():
        init, value = m["init"][nm]
        initial[nm] = node_state(kind, node, init=init, value=value)
    Q.update(*update, repeat=m["repeat"], verbose=False)
    it = int(Q.iter)
    L = Q.L[:it]
    terms = {n.name: arr(Q.l[n][:it]) for n in Q.model}
    final = {nm: node_state(kind, node) for nm, (kind, node) in m["latent"].items()}
    return {
        "name": name,
        "bayespy_version": BAYESPY_VERSION,
        "numpy_version": np.__version__,
        "description": m["description"],
        "source": m["source"],
        "model": {"nodes": m["nodes"]},
        "vb_nodes": names,
        "update_order": list(update),
        "initial_posteriors": initial,
        "tolerance_rule": {"tol": TOL, "max_iter": m["repeat"], "rule": RULE},
        "expected": {
            "elbo": arr(L),
            "elbo_terms": terms,
            "iterations": it,
            "converged": bool(Q.converged),
            "posteriors": final,
        },
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=list(MODELS))
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models:
        fx = run(name)
        path = os.path.join(args.out, name + ".json")
        with open(path, "w") as fh:
            json.dump(fx, fh, separators=(",", ":"))
            fh.write("\n")
        e = fx["expected"]
        print("%-24s %3d iterations  L=%.16g  converged=%s  %6.1f KB"
              % (name, e["iterations"], e["elbo"][-1], e["converged"],
                 os.path.getsize(path) / 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
