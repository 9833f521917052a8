#!/usr/bin/env python3
"""Time SPM12's spm_MDP_VB_X under GNU Octave on the SPM12 MDP fixtures and
compare with actinf's criterion bench of the same replay.

For the T-maze trial of ../shared/fixtures/spm12/mdp_vbx.json (and the
one-step-policy case of mdp_cases.json) this writes an Octave script that
builds the MDP exactly as the fixture gives it (A, B, C, d or D, V or U, T,
tau, with the recorded o, s and u forced), runs spm_MDP_VB_X --reps times,
checks that SPM reproduces the fixture's X, and prints SPM's time per trial.
actinf's time is read from criterion's estimate of
`cargo bench -p actinf-spm --bench mdp_vbx` (target/criterion/spm_mdp_vb_x/
tmaze_trial/new/estimates.json); run the bench first. Prints the ratio.

usage: python3 scripts/peer_spm_mdp.py SPM_PATH [--fixtures DIR] [--reps N]

SPM_PATH is SPM12's folder (toolbox/DEM is added when present) or any folder
holding spm_MDP_VB_X.m and the routines it calls. Skips cleanly (exit 0, with
a message) when octave, SPM or the fixtures are missing. Needs numpy.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def skip(msg):
    print(f"skipping: {msg}")
    sys.exit(0)


def octave_array(value):
    """An Octave expression for a nested list (first index outermost)."""
    import numpy as np
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return repr(float(a))
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    flat = " ".join(f"{x:.17g}" for x in a.flatten(order="F"))
    return f"reshape([{flat}], [{' '.join(str(d) for d in a.shape)}])"


def octave_cells(name, values):
    return "\n".join(f"mdp.{name}{{{i + 1}}} = {octave_array(v)};" for i, v in enumerate(values))


def mdp_script(spec, trial):
    lines = [octave_cells("A", spec["A"]), octave_cells("B", spec["B"])]
    if "C" in spec:
        lines.append(octave_cells("C", spec["C"]))
    for name in ("D", "d", "a", "b"):
        if name in spec:
            lines.append(octave_cells(name, spec[name]))
    if "V" in spec:
        lines.append(f"mdp.V = {octave_array(spec['V'])};")
    if "U" in spec:
        lines.append(f"mdp.U = {octave_array(spec['U'])};")
    for name in ("T", "tau", "alpha", "beta", "zeta", "eta", "erp", "E"):
        if name in spec:
            lines.append(f"mdp.{name} = {octave_array(spec[name])};")
    lines.append(f"mdp.o = {octave_array(trial['o_outcomes'])};")
    lines.append(f"mdp.s = {octave_array(trial['s_true_states'])};")
    lines.append(f"mdp.u = {octave_array(trial['u_actions'])};")
    return "\n".join(lines)


def time_spm(spm_path, spec, trial, reps):
    import numpy as np
    X = trial["X"]
    checks = "\n".join(
        f"err = max(err, max(abs(M.X{{{f + 1}}}(:) - reshape({octave_array(x)}, [], 1))));"
        for f, x in enumerate(X))
    script = f"""
addpath('{spm_path}');
if exist(fullfile('{spm_path}', 'toolbox', 'DEM'), 'dir'), addpath(fullfile('{spm_path}', 'toolbox', 'DEM')); end
{mdp_script(spec, trial)}
M = spm_MDP_VB_X(mdp);
err = 0;
{checks}
tic; for r = 1:{reps}, M = spm_MDP_VB_X(mdp); end; t = toc / {reps};
printf('%.9g %.3g\\n', t, err);
"""
    with tempfile.NamedTemporaryFile("w", suffix=".m", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        out = subprocess.run(["octave", "--no-gui", "-q", path], capture_output=True, text=True, timeout=3600)
    finally:
        os.unlink(path)
    last = [l for l in out.stdout.strip().splitlines() if l.strip()]
    if out.returncode != 0 and not last:
        raise RuntimeError(out.stderr[-500:])
    t, err = map(float, last[-1].split())
    return t, err


def criterion_seconds(name):
    path = os.path.join(root, "target", "criterion", "spm_mdp_vb_x", name, "new", "estimates.json")
    try:
        est = json.load(open(path))
    except OSError:
        return None
    return est["median"]["point_estimate"] * 1e-9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spm_path")
    ap.add_argument("--fixtures", default=os.path.join(root, "..", "shared", "fixtures", "spm12"))
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    if shutil.which("octave") is None:
        skip("octave not found (apt-get install octave)")
    spm = os.path.abspath(args.spm_path)
    if not any(os.path.exists(os.path.join(spm, d, "spm_MDP_VB_X.m")) for d in ("", os.path.join("toolbox", "DEM"))):
        skip(f"spm_MDP_VB_X.m not found under {spm}")
    vbx = os.path.join(args.fixtures, "mdp_vbx.json")
    if not os.path.exists(vbx):
        skip(f"{vbx} not found")
    try:
        import numpy  # noqa: F401
    except ImportError:
        skip("numpy not installed")
    doc = json.load(open(vbx))
    runs = [("T-maze trial (mdp_vbx.json single_trial)", doc["spec"], doc["single_trial"], "tmaze_trial")]
    cases = os.path.join(args.fixtures, "mdp_cases.json")
    if os.path.exists(cases):
        for c in json.load(open(cases))["cases"]:
            if "single_trial" in c:
                runs.append((f"mdp_cases.json case {c['name']}", c["spec"], c["single_trial"], None))
    print(f"{'case':<44} {'Octave+SPM':>12} {'actinf':>12} {'ratio':>8}  SPM vs fixture X")
    for label, spec, trial, bench in runs:
        t_spm, err = time_spm(spm, spec, trial, args.reps)
        t_us = criterion_seconds(bench) if bench else None
        ours = f"{t_us * 1e3:.3f} ms" if t_us else "—"
        ratio = f"{t_spm / t_us:.0f}×" if t_us else "—"
        print(f"{label:<44} {t_spm * 1e3:>9.1f} ms {ours:>12} {ratio:>8}  {err:.1e}")
    if criterion_seconds("tmaze_trial") is None:
        print("(actinf: run `cargo bench -p actinf-spm --bench mdp_vbx` first)")


if __name__ == "__main__":
    main()
