"""Puts the DEM runs of spm_dem_octave_cases.m (spm_dem_octave_cases_raw*.json,
written by Octave's jsonencode) in the fixture format of
../shared/fixtures/spm12/dem_*.json: matrices as lists of rows (Octave writes
a one-row matrix as a flat list and a scalar as a number), `qP.P` as the
spm_vec of the parameters, `qH.h`/`qH.g` per level.

usage: python3 scripts/make_spm_dem_octave_cases.py
writes crates/actinf-spm/tests/fixtures/dem_octave_cases.json"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
import glob

# Every raw file (a whole run, or single cases run with `only`), later files
# replacing earlier runs of the same case.
raw, order = {}, []
for path in sorted(glob.glob(os.path.join(here, "spm_dem_octave_cases_raw*.json"))):
    with open(path) as f:
        got = json.load(f)
    for c in got if isinstance(got, list) else [got]:
        if c["label"] not in raw:
            order.append(c["label"])
        raw[c["label"]] = c
raw = [raw[label] for label in order]


def rows(v):
    """A matrix as a list of rows."""
    if not isinstance(v, list):
        return [[v]]
    if v and not isinstance(v[0], list):
        return [v]
    return v


def column(v):
    """A vector as a flat list."""
    if not isinstance(v, list):
        return [v]
    out = []
    for e in v:
        out.extend(column(e) if isinstance(e, list) else [e])
    return out


runs = []
for c in raw:
    levels = c["model"]["levels"]
    for L in levels:
        for key in ["x0", "v0", "pE_vec", "hE", "gE"]:
            L[key] = column(L[key])
        for key in ["V", "W", "xP", "hC", "gC", "pC"]:
            if L[key] != []:
                L[key] = rows(L[key])
        for key in ["Q", "R"]:
            L[key] = [rows(q) for q in (L[key] if isinstance(L[key], list) else [L[key]])]
        if not isinstance(L["pE"], dict):
            L["pE"] = rows(L["pE"]) if L["pE"] != [] else []
    counts = [len(L["hE"]) for L in levels]
    gcounts = [len(L["gE"]) for L in levels]
    h, g = column(c["qH"]["h"]), column(c["qH"]["g"])
    qh, qg, at, gt = [], [], 0, 0
    for k, kg in zip(counts, gcounts):
        qh.append(h[at:at + k])
        qg.append(g[gt:gt + kg])
        at += k
        gt += kg
    run = {
        "label": c["label"],
        "scheme": c["scheme"],
        "seed": 7,
        "recipe": "scripts/spm_dem_octave_cases.m (SPM12 r7771 spm_DEM_generate + spm_DEM, GNU Octave 7.3)",
        "model": c["model"],
        "N": c["N"],
        "dt": c["dt"],
        "Y": rows(c["Y"]),
        "U_prior_causes": rows(c["U_prior_causes"]),
        "qU": {k: rows(v) for k, v in c["qU"].items()},
        "F": column(c["F"]),
        "free_action": column(c["free_action"]),
        "qP": {"P": column(c["qP_vec"])},
        "qH": {"h": qh, "g": qg, "C": rows(c["qH"]["C"]) if c["qH"]["C"] != [] else []},
    }
    runs.append(run)

doc = {
    "description": "spm_DEM (SPM12 r7771, git 03ac9473) under GNU Octave 7.3 on models the shared "
    "fixtures do not have: a three-level hierarchy and a nonlinear observer. Made by "
    "scripts/spm_dem_octave_cases.m and scripts/make_spm_dem_octave_cases.py. qP.P is spm_vec(qP.P).",
    "runs": runs,
}
out = os.path.join(here, "..", "crates", "actinf-spm", "tests", "fixtures", "dem_octave_cases.json")
with open(out, "w") as f:
    json.dump(doc, f)
print("wrote", out)
