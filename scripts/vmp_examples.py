#!/usr/bin/env python3
"""Write the shipped `actinf vmp run` examples, examples/vmp/<name>.json.

Usage (from anywhere; plain python3, no BayesPy or numpy needed):

    python3 scripts/vmp_examples.py            # write every example
    python3 scripts/vmp_examples.py gmm lgssm  # only some

Two kinds of example:

* Conversions of the committed BayesPy 0.6.6 fixtures
  (crates/actinf-vmp/tests/fixtures/bayespy/<name>.json, made by
  scripts/bayespy_fixtures.py): gmm, bernoulli_mixture, hmm_dirichlet, lgssm,
  and pca when actinf-vmp has the PCA nodes (DotGaussian, GaussianArdVector in
  crates/actinf-vmp/src/nodes/mod.rs). Each keeps BayesPy's nodes, constants,
  plates and data, writes them in actinf's layout, starts from BayesPy's
  recorded random initial value (converted to actinf's parametrisation),
  updates the latent nodes in BayesPy's order (observed nodes left out) and
  stops by BayesPy's max_iter and tol. crates/actinf-cli/tests/vmp_examples.rs
  runs them through the CLI and compares every iteration's ELBO with the
  fixture's.

* Models with known parameters whose ELBO is the exact log-likelihood:
  hmm_known (a categorical HMM; the forward algorithm) and lgssm_known (a 2-D
  linear-Gaussian state-space model; the Kalman filter). Their data are drawn
  from the model itself by a fixed linear congruential generator, so the
  files are reproducible without any library.

The mapping from BayesPy to actinf (the same as in
crates/actinf-vmp/tests/bayespy_replay.rs and bayespy_chains.rs):

* Dirichlet(alpha), Wishart(n, V), Gamma(a, b), Beta([a, b]), Gaussian(mu,
  Lambda), GaussianARD(mu, alpha): BayesPy's own constant-parent forms, which
  the model language accepts as they are. A Dirichlet with plates takes one
  concentration row (BayesPy's rows must all be equal).
* Beta: actinf's Beta is the Dirichlet over (1 - p, p), so an initial value p
  becomes the pair [1 - p, p].
* Mixture(z, Gaussian | Bernoulli | Categorical, ...): type Mixture with
  `categories` K and `component`; the component parameters keep BayesPy's
  trailing cluster plate.
* CategoricalMarkovChain(pi, A, states=N): plates [N].
* GaussianMarkovChain(mu, Lambda, A, nu, n=N): fields mu0, Lambda0, A and
  Q = diag(nu) (innovation precision); plates [N].
* GaussianARD(SumMultiply('i,i', C, X), tau) with Y of plates (M, N):
  LinearGaussian with C, R = I and precision_scale (tau as second parent);
  plates [N], each observation an M-vector (BayesPy's (M, N) data
  transposed).
* GaussianARD(mu, alpha, shape=(D,)): GaussianARD with dim D, the mean a
  D-vector; GaussianARD(SumMultiply('d,d->', X, C), tau): DotGaussian with dim
  D and parents [X, C, tau].
"""

import json
import math
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(ROOT, "crates", "actinf-vmp", "tests", "fixtures", "bayespy")
OUT = os.path.join(ROOT, "examples", "vmp")
NODES_MOD = os.path.join(ROOT, "crates", "actinf-vmp", "src", "nodes", "mod.rs")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


def node(fx, name):
    for n in fx["model"]["nodes"]:
        if n["name"] == name:
            return n
    raise KeyError(name)


def flat(v):
    if isinstance(v, list):
        out = []
        for x in v:
            out.extend(flat(x))
        return out
    return [v]


def rows_equal(alpha, width):
    """The one concentration row shared by every plate element."""
    a = flat(alpha)
    row = a[:width]
    assert len(a) % width == 0
    assert all(a[i:i + width] == row for i in range(0, len(a), width)), \
        "actinf's Dirichlet takes one concentration shared by its plates"
    return row


def latent_order(fx, observed):
    return [n for n in fx["update_order"] if n not in observed]


def source_note(fx):
    return ("converted by scripts/vmp_examples.py from "
            "crates/actinf-vmp/tests/fixtures/bayespy/%s.json (BayesPy %s; same data, "
            "initial value, update order and stopping rule)" % (fx["name"], fx["bayespy_version"]))


def rule(fx):
    return fx["tolerance_rule"]["max_iter"], fx["tolerance_rule"]["tol"]


def model(description, nodes, update_order, max_iter, tol, initial_values=None):
    m = {"description": description, "nodes": nodes}
    if initial_values:
        m["initial_values"] = initial_values
    m["update_order"] = update_order
    m["max_iter"] = max_iter
    m["tol"] = tol
    return m


# ---------------------------------------------------------------------------
# BayesPy fixtures


def gmm():
    fx = fixture("gmm")
    alpha, z, mu, lam, y = (node(fx, n) for n in ("alpha", "z", "mu", "Lambda", "Y"))
    k = len(flat(alpha["parents"][0]))
    d = y["shape"][0]
    assert fx["initial_posteriors"]["z"]["init"] == "value"
    assert all(fx["initial_posteriors"][n]["init"] == "prior" for n in ("alpha", "mu", "Lambda"))
    nodes = [
        {"name": "alpha", "type": "Dirichlet", "parents": alpha["parents"]},
        {"name": "z", "type": "Categorical", "categories": k, "parents": ["alpha"],
         "plates": z["plates"]},
        {"name": "mu", "type": "Gaussian", "dim": d, "parents": mu["parents"],
         "plates": mu["plates"]},
        # BayesPy's Wishart(n, V), V the inverse scale.
        {"name": "Lambda", "type": "Wishart", "dim": d, "parents": lam["parents"],
         "plates": lam["plates"]},
        {"name": "Y", "type": "Mixture", "categories": k, "component": "Gaussian", "dim": d,
         "parents": ["z", "mu", "Lambda"], "plates": y["plates"], "observed": y["observed"]},
    ]
    max_iter, tol = rule(fx)
    return model(
        "Gaussian mixture, 2-D, N = 200, K = 10 (BayesPy's GMM example); " + source_note(fx),
        nodes, latent_order(fx, {"Y"}), max_iter, tol,
        {"z": fx["initial_posteriors"]["z"]["value"]})


def bernoulli_mixture():
    fx = fixture("bernoulli_mixture")
    r, z, p, x = (node(fx, n) for n in ("R", "Z", "P", "X"))
    k = len(flat(r["parents"][0]))
    assert fx["initial_posteriors"]["P"]["init"] == "value"
    # actinf's Beta is the Dirichlet over (1 - p, p).
    p0 = [[[1.0 - v, v] for v in row] for row in fx["initial_posteriors"]["P"]["value"]]
    nodes = [
        {"name": "R", "type": "Dirichlet", "parents": r["parents"]},
        {"name": "Z", "type": "Categorical", "categories": k, "parents": ["R"],
         "plates": z["plates"]},
        # BayesPy's Beta([a, b]) over p = P(x = 1).
        {"name": "P", "type": "Beta", "parents": p["parents"], "plates": p["plates"]},
        {"name": "X", "type": "Mixture", "categories": k, "component": "Bernoulli",
         "parents": ["Z", "P"], "plates": x["plates"], "observed": x["observed"]},
    ]
    max_iter, tol = rule(fx)
    return model(
        "Bernoulli mixture, N = 100 binary vectors of D = 10, K = 10 clusters (BayesPy's BMM "
        "example); " + source_note(fx),
        nodes, latent_order(fx, {"X"}), max_iter, tol, {"P": p0})


def hmm_dirichlet():
    fx = fixture("hmm_dirichlet")
    a0, a, z, p, y = (node(fx, n) for n in ("a0", "A", "Z", "P", "Y"))
    k = len(flat(a0["parents"][0]))
    j = p["shape"][0]
    n = z["states"]
    assert fx["initial_posteriors"]["P"]["init"] == "value"
    nodes = [
        {"name": "a0", "type": "Dirichlet", "parents": a0["parents"]},
        {"name": "A", "type": "Dirichlet", "parents": [rows_equal(a["parents"][0], k)],
         "plates": a["plates"]},
        {"name": "Z", "type": "CategoricalMarkovChain", "categories": k, "parents": ["a0", "A"],
         "plates": [n]},
        {"name": "P", "type": "Dirichlet", "parents": [rows_equal(p["parents"][0], j)],
         "plates": p["plates"]},
        {"name": "Y", "type": "Mixture", "categories": k, "component": "Categorical",
         "symbols": j, "parents": ["Z", "P"], "plates": y["plates"], "observed": y["observed"]},
    ]
    max_iter, tol = rule(fx)
    return model(
        "Discrete HMM, 2 states, 3 symbols, N = 200, Dirichlet priors on the initial, transition "
        "and emission probabilities (BayesPy's hmm_discrete example); " + source_note(fx),
        nodes, latent_order(fx, {"Y"}), max_iter, tol,
        {"P": fx["initial_posteriors"]["P"]["value"]})


def lgssm():
    fx = fixture("lgssm")
    x, f, tau, y = (node(fx, n) for n in ("X", "F", "tau", "Y"))
    mu0, lambda0, a, nu = x["parents"]
    d = len(mu0)
    n = x["states"]
    c = [row[0] for row in f["parents"][0]]  # (M, 1, D) -> (M, D)
    m = len(c)
    obs = y["observed"]  # (M, N)
    data = [[obs[i][t] for i in range(m)] for t in range(n)]
    assert all(fx["initial_posteriors"][k]["init"] == "prior" for k in ("X", "tau"))
    nodes = [
        {"name": "X", "type": "GaussianMarkovChain", "plates": [n],
         "mu0": mu0, "Lambda0": lambda0, "A": a,
         "Q": [[nu[i] if i == jj else 0.0 for jj in range(d)] for i in range(d)]},
        {"name": "tau", "type": "Gamma", "parents": tau["parents"]},
        {"name": "Y", "type": "LinearGaussian", "obs_dim": m, "dim": d, "C": c,
         "R": [[1.0 if i == jj else 0.0 for jj in range(m)] for i in range(m)],
         "precision_scale": True, "parents": ["X", "tau"], "plates": [n], "observed": data},
    ]
    max_iter, tol = rule(fx)
    return model(
        "Linear-Gaussian state-space model, 2-D state, 3 outputs, N = 60, known dynamics and "
        "loading, unknown noise precision (BayesPy's GaussianMarkovChain); " + source_note(fx),
        nodes, latent_order(fx, {"Y", "F"}), max_iter, tol)


def pca():
    fx = fixture("pca")
    x, alpha, c, f, tau, y = (node(fx, n) for n in ("X", "alpha", "C", "F", "tau", "Y"))
    d = x["shape"][0]
    assert f["einsum"] == "d,d->" and f["parents"] == ["X", "C"]
    assert fx["initial_posteriors"]["C"]["init"] == "value"

    def vector(v):
        return [float(v)] * d if not isinstance(v, list) else v

    nodes = [
        {"name": "X", "type": "GaussianARD", "dim": d, "plates": x["plates"],
         "parents": [vector(x["parents"][0]), x["parents"][1]]},
        {"name": "alpha", "type": "Gamma", "parents": alpha["parents"], "plates": alpha["plates"]},
        {"name": "C", "type": "GaussianARD", "dim": d, "plates": c["plates"],
         "parents": [vector(c["parents"][0]), "alpha"]},
        {"name": "tau", "type": "Gamma", "parents": tau["parents"], "plates": tau["plates"]},
        {"name": "Y", "type": "DotGaussian", "dim": d, "parents": ["X", "C", "tau"],
         "plates": y["plates"], "observed": y["observed"]},
    ]
    max_iter, tol = rule(fx)
    return model(
        "Probabilistic PCA with an ARD prior, M = 10, N = 30, latent D = 4 (BayesPy's PCA "
        "example without the rotation speed-up); " + source_note(fx),
        nodes, latent_order(fx, {"Y", "F"}), max_iter, tol,
        {"C": fx["initial_posteriors"]["C"]["value"]})


def have_pca_nodes():
    try:
        with open(NODES_MOD) as f:
            text = f.read()
    except OSError:
        return False
    return "DotGaussian" in text and "GaussianArdVector" in text


# ---------------------------------------------------------------------------
# Known-parameter models


class Lcg:
    """Knuth's MMIX linear congruential generator: reproducible anywhere."""

    def __init__(self, seed):
        self.state = seed & (2**64 - 1)

    def uniform(self):
        self.state = (6364136223846793005 * self.state + 1442695040888963407) % 2**64
        return ((self.state >> 11) + 0.5) / 2**53

    def categorical(self, p):
        u, acc = self.uniform(), 0.0
        for k, pk in enumerate(p):
            acc += pk
            if u < acc:
                return k
        return len(p) - 1

    def normal(self):
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def hmm_known():
    pi = [0.6, 0.3, 0.1]
    trans = [[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]]
    emit = [[0.7, 0.2, 0.1, 0.0], [0.1, 0.5, 0.3, 0.1], [0.05, 0.05, 0.3, 0.6]]
    n = 100
    rng = Lcg(20240601)
    z = rng.categorical(pi)
    ys = []
    for t in range(n):
        if t > 0:
            z = rng.categorical(trans[z])
        ys.append(rng.categorical(emit[z]))
    k, j = len(pi), len(emit[0])
    nodes = [
        {"name": "z", "type": "CategoricalMarkovChain", "categories": k, "plates": [n],
         "parents": [pi, {"value": trans, "plates": [k]}]},
        {"name": "y", "type": "CategoricalEmission", "categories": k, "symbols": j,
         "emission": emit, "parents": ["z"], "plates": [n], "observed": ys},
    ]
    return model(
        "Hidden Markov model with known parameters: 3 states, 4 symbols (one emission "
        "probability 0), N = 100 symbols drawn from the model by scripts/vmp_examples.py's "
        "fixed generator; the ELBO is the forward algorithm's log-likelihood ln p(y).",
        nodes, ["z"], 10, 1e-12)


def lgssm_known():
    a = [[0.9, -0.3], [0.2, 0.85]]
    q_cov = [[0.5, 0.1], [0.1, 0.3]]
    c = [[1.0, 0.0], [0.6, 1.2]]
    r_cov = [[0.4, -0.1], [-0.1, 0.25]]
    mu0 = [1.0, -0.5]
    p0 = [[2.0, 0.3], [0.3, 1.0]]
    n = 100

    def chol2(s):
        l00 = math.sqrt(s[0][0])
        l10 = s[1][0] / l00
        return [[l00, 0.0], [l10, math.sqrt(s[1][1] - l10 * l10)]]

    def inv2(s):
        det = s[0][0] * s[1][1] - s[0][1] * s[1][0]
        return [[s[1][1] / det, -s[0][1] / det], [-s[1][0] / det, s[0][0] / det]]

    def mv(m, v):
        return [sum(m[i][k] * v[k] for k in range(2)) for i in range(2)]

    def draw(mean, cov):
        e = [rng.normal(), rng.normal()]
        le = mv(chol2(cov), e)
        return [mean[i] + le[i] for i in range(2)]

    rng = Lcg(19650101)
    x = draw(mu0, p0)
    ys = []
    for t in range(n):
        if t > 0:
            x = draw(mv(a, x), q_cov)
        y = draw(mv(c, x), r_cov)
        ys.append([round(v, 6) for v in y])
    nodes = [
        {"name": "x", "type": "GaussianMarkovChain", "plates": [n],
         "mu0": mu0, "Lambda0": inv2(p0), "A": a, "Q": inv2(q_cov)},
        {"name": "y", "type": "LinearGaussian", "obs_dim": 2, "dim": 2, "C": c, "R": inv2(r_cov),
         "parents": ["x"], "plates": [n], "observed": ys},
    ]
    return model(
        "Linear-Gaussian state-space model with known parameters: 2-D state and observation, "
        "full noise covariances (Q, Lambda0 and R are precisions), N = 100 observations drawn "
        "from the model by scripts/vmp_examples.py's fixed generator; the ELBO is the Kalman "
        "filter's log-likelihood ln p(y).",
        nodes, ["x"], 10, 1e-12)


# ---------------------------------------------------------------------------


def dump(m):
    """Top-level keys one per line, one node per line."""
    out = ["{"]
    keys = list(m)
    for i, key in enumerate(keys):
        comma = "," if i + 1 < len(keys) else ""
        if key == "nodes":
            out.append('  "nodes": [')
            for jj, nd in enumerate(m["nodes"]):
                c = "," if jj + 1 < len(m["nodes"]) else ""
                out.append("    " + json.dumps(nd) + c)
            out.append("  ]" + comma)
        else:
            out.append("  %s: %s%s" % (json.dumps(key), json.dumps(m[key]), comma))
    out.append("}")
    return "\n".join(out) + "\n"


EXAMPLES = {
    "gmm": gmm,
    "bernoulli_mixture": bernoulli_mixture,
    "hmm_dirichlet": hmm_dirichlet,
    "lgssm": lgssm,
    "pca": pca,
    "hmm_known": hmm_known,
    "lgssm_known": lgssm_known,
}


def main(argv):
    names = argv or list(EXAMPLES)
    for name in names:
        if name not in EXAMPLES:
            sys.exit("unknown example %r (known: %s)" % (name, ", ".join(EXAMPLES)))
        if name == "pca" and not have_pca_nodes():
            print("skipping pca: actinf-vmp has no DotGaussian/GaussianArdVector nodes yet")
            continue
        path = os.path.join(OUT, name + ".json")
        with open(path, "w") as f:
            f.write(dump(EXAMPLES[name]()))
        print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
