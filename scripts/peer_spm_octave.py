#!/usr/bin/env python3
"""Time SPM12 under GNU Octave on the SPM-parity fixtures and compare with actinf.

Issue 7 ("Speed"): a peer script that times Octave + SPM on the same fixtures
when both are present and prints the ratios against actinf's criterion benches.

    python3 scripts/peer_spm_octave.py SPM_DIR [--repeats K] [--criterion target/criterion]

SPM_DIR is an SPM12 source tree (spm_DEM.m at its top, toolbox/DEM/spm_MDP_VB_X.m);
the fixtures are ../shared/fixtures/spm12 (--fixtures to change). When `octave`,
SPM_DIR or the fixtures are missing the script prints one line and exits 0.

For each case, scripts/octave/peer_spm_case.m (one Octave process per case)
rebuilds the inputs from the fixture (DEM runs: `model`, `Y`, `U_prior_causes`;
MDP trials: `spec` with the recorded o, s and u forced, so nothing is sampled),
times the SPM routine alone with tic/toc, K times, and compares its result
with the fixture's result fields (DEM: qU states and causes, F, qP, qH to 1e-6
of each quantity's largest magnitude; MDP: X, R, w, P to 1e-8 absolute, learned
concentrations to 1e-8 relative). A timing is reported as trustworthy only when
the result matches. Plotting is replaced by no-op stand-ins
(scripts/octave/noplot/) and MATLAB's fcnchk by scripts/octave/fcnchk.m.

The table gives, per case, Octave's best wall-clock time of K (and the process
CPU time of that routine, which is steadier on a loaded machine), actinf's
criterion median (target/criterion/<bench id>/new/estimates.json,
median.point_estimate) and the ratio Octave / actinf (--ratio cpu: from the CPU time). Edit BENCHES below when
the Rust bench ids change; a case whose bench has no estimates prints
"actinf bench not run". Exit status: 0 when every case ran and matched (or the
script skipped), 1 otherwise.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

# --------------------------------------------------------------------------
# actinf's criterion bench for each case: "<group>/<function>[/<parameter>]",
# i.e. the folder under target/criterion. Edit here when the bench ids change.
BENCHES = {
    "dem_dstep": "spm_dem/dstep_convolution",
    "dem_triple": "spm_dem/triple_estimation",
    "lap_dual": "lap/LAP_demo",
    "lap_dstep": "lap/LAP_no_learning",
    "mdp_trial": "spm_mdp_vb_x/tmaze_trial",
    # extra cases (--all)
    "dem_triple_fixed": "spm_dem/triple_fixed",
    "dem_lorenz": "spm_dem/lorenz",
    "mdp_case_a": "spm_mdp/case_a",
    "mdp_sequence": "spm_mdp/tmaze_sequence",
}

# case -> (fixture file, case name inside it, Octave time divided by, what is timed)
# A divisor of 32 for mdp_sequence makes its Octave time per trial: set it to 1
# if the actinf bench times the whole 32-trial sequence.
CASES = {
    "dem_dstep": ("dem_convolution.json", "Dstep_only@1", 1,
                  "spm_DEM, convolution demo, pure D-step (N = 32)"),
    "dem_triple": ("dem_convolution.json", "DEM_triple@1", 1,
                   "spm_DEM, triple estimation (D, E, M steps; 16 E-steps)"),
    "lap_dual": ("dem_convolution_LAP.json", "spm_LAP (DEM_demo_convolution_LAP data)", 1,
                 "spm_LAP, DEM_demo_convolution_LAP (4 free parameters)"),
    "lap_dstep": ("dem_convolution_LAP.json", "spm_LAP (DEM_demo_convolution data, no learning)", 1,
                  "spm_LAP, Dstep_only data, no learning"),
    "mdp_trial": ("mdp_vbx.json", "single_trial", 1,
                  "spm_MDP_VB_X, T-maze, one trial replayed"),
    "dem_triple_fixed": ("dem_convolution.json", "DEM_triple_fixed@1", 1,
                         "spm_DEM, triple-estimation data, learning off"),
    "dem_lorenz": ("dem_lorenz.json", "Lorenz DEM (DEM_demo_Lorenz)", 1,
                   "spm_DEM, Lorenz attractor (N = 64)"),
    "mdp_case_a": ("mdp_cases.json", "a", 1,
                   "spm_MDP_VB_X, two-factor model, one-step policies U"),
    "mdp_sequence": ("mdp_vbx.json", "sequence", 32,
                     "spm_MDP_VB_X, T-maze, 32 trials learning d (per trial)"),
}
DEFAULT_CASES = ["dem_dstep", "dem_triple", "lap_dual", "lap_dstep", "mdp_trial"]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER_DIR = os.path.join(REPO_ROOT, "scripts", "octave")
FIXTURES = os.path.join(os.path.dirname(REPO_ROOT), "shared", "fixtures", "spm12")
CRITERION = os.path.join(REPO_ROOT, "target", "criterion")


def skip(why):
    print(f"peer_spm_octave: skipped: {why}")
    sys.exit(0)


def octave_str(s):
    return "'" + s.replace("'", "''") + "'"


def criterion_seconds(criterion_dir, bench):
    """actinf's criterion median in seconds, or None when the bench has not run."""
    path = os.path.join(criterion_dir, *bench.split("/"), "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] * 1e-9
    except (OSError, KeyError, ValueError, TypeError):
        return None


def run_case(octave, spm_dir, fixtures, name, repeats, timeout, verbose):
    fixture, case, _, _ = CASES[name]
    with tempfile.TemporaryDirectory(prefix="peer_spm_") as tmp:
        out = os.path.join(tmp, "result.json")
        code = (f"addpath({octave_str(DRIVER_DIR)}); "
                f"peer_spm_case({octave_str(spm_dir)}, {octave_str(os.path.join(fixtures, fixture))}, "
                f"{octave_str(case)}, {int(repeats)}, {octave_str(out)});")
        cmd = [octave, "--no-gui", "--norc", "--quiet", "--no-window-system", "--eval", code]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=timeout, cwd=tmp)
            log = p.stdout
        except subprocess.TimeoutExpired as e:
            log = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            return None, f"timed out after {timeout} s\n{log[-2000:]}"
        if verbose:
            print(log)
        if not os.path.exists(out):
            return None, f"octave exited {p.returncode}:\n{log[-3000:]}"
        with open(out) as f:
            rep = json.load(f)
    for k in ("times", "cpu_times"):           # jsonencode writes a 1-element list as a number
        if not isinstance(rep.get(k), list):
            rep[k] = [rep.get(k)]
    return rep, None


def fmt_s(x):
    if x is None:
        return "-"
    if x >= 1e-1:
        return f"{x:.3f} s"
    if x >= 1e-4:
        return f"{x * 1e3:.3f} ms"
    return f"{x * 1e6:.3f} us"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spm_dir", nargs="?", help="SPM12 source tree (spm_DEM.m at its top)")
    ap.add_argument("--repeats", "-k", type=int, default=3, help="runs per case; the best is kept (default 3)")
    ap.add_argument("--criterion", default=CRITERION,
                    help="criterion's output folder (default: target/criterion of this repository)")
    ap.add_argument("--fixtures", default=FIXTURES, help="SPM fixtures folder (default: ../shared/fixtures/spm12)")
    ap.add_argument("--cases", help="comma-separated case names (default: " + ",".join(DEFAULT_CASES) + ")")
    ap.add_argument("--all", action="store_true", help="also the extra cases: " +
                    ",".join(c for c in CASES if c not in DEFAULT_CASES))
    ap.add_argument("--octave", default="octave", help="Octave executable (default: octave on PATH)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per case (default 1800)")
    ap.add_argument("--ratio", choices=("wall", "cpu"), default="wall",
                    help="Octave time the ratio uses: best wall-clock (default) or best CPU time")
    ap.add_argument("--verbose", "-v", action="store_true", help="print Octave's output")
    args = ap.parse_args()

    octave = shutil.which(args.octave)
    if octave is None:
        skip(f"{args.octave} not found (apt-get install octave)")
    if not args.spm_dir:
        skip("no SPM_DIR given (usage: peer_spm_octave.py SPM_DIR [--repeats K] [--criterion DIR])")
    spm_dir = os.path.abspath(args.spm_dir)
    if not (os.path.isfile(os.path.join(spm_dir, "spm_DEM.m"))
            and os.path.isfile(os.path.join(spm_dir, "toolbox", "DEM", "spm_MDP_VB_X.m"))):
        skip(f"no SPM12 at {spm_dir} (spm_DEM.m, toolbox/DEM/spm_MDP_VB_X.m)")
    fixtures = os.path.abspath(args.fixtures)
    if not os.path.isdir(fixtures):
        skip(f"no fixtures at {fixtures}")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    names = DEFAULT_CASES + ([c for c in CASES if c not in DEFAULT_CASES] if args.all else [])
    if args.cases:
        names = [c.strip() for c in args.cases.split(",") if c.strip()]
        bad = [c for c in names if c not in CASES]
        if bad:
            ap.error(f"unknown case(s) {bad}; known: {list(CASES)}")
    names = [c for c in names if os.path.isfile(os.path.join(fixtures, CASES[c][0]))]
    if not names:
        skip(f"no fixture files for the chosen cases in {fixtures}")

    ver = subprocess.run([octave, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout.splitlines()
    print(f"Octave: {ver[0] if ver else octave}; SPM: {spm_dir}; fixtures: {fixtures}")
    print(f"best of {args.repeats}; load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")

    rows, failed = [], False
    for name in names:
        fixture, case, div, what = CASES[name]
        rep, err = run_case(octave, spm_dir, fixtures, name, args.repeats, args.timeout, args.verbose)
        if err:
            failed = True
            print(f"  {name}: FAILED: {err}")
            rows.append((name, None, None, None, "octave failed"))
            continue
        dev = ", ".join(f"{k} {v:.1e}" for k, v in rep["checks"].items())
        status = "matches fixture" if rep["match"] else "DOES NOT MATCH fixture"
        failed |= not rep["match"]
        wall = [t / div for t in rep["times"]]
        cpu = min(rep["cpu_times"]) / div
        per = " per trial" if div != 1 else ""
        print(f"  {name}: {rep['routine']} on {fixture} [{case}]: best {fmt_s(min(wall))}{per} "
              f"(runs {', '.join(fmt_s(t) for t in wall)}; cpu {fmt_s(cpu)}); {status} ({dev})")
        rows.append((name, min(wall), cpu, rep["match"], None))
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    print()
    head = f"{'case':<18}{'octave (wall)':>15}{'octave (cpu)':>15}{'actinf':>22}{'ratio':>10}  {'SPM match':<10} bench"
    print(head)
    print("-" * len(head))
    for name, wall, cpu, match, err in rows:
        bench = BENCHES.get(name, "")
        act = criterion_seconds(args.criterion, bench) if bench else None
        act_s = "actinf bench not run" if act is None else fmt_s(act)
        oct_s = cpu if args.ratio == "cpu" else wall
        ratio = "-" if (act is None or oct_s is None) else f"{oct_s / act:,.0f}x"
        m = err if err else ("yes" if match else "NO")
        print(f"{name:<18}{fmt_s(wall):>15}{fmt_s(cpu):>15}{act_s:>22}{ratio:>10}  {m:<10} {bench}")
    print()
    print(f"ratio = Octave best {'CPU time' if args.ratio == 'cpu' else 'wall-clock'} / actinf criterion median; "
          "goal (issue 7): >= 1000x, single-threaded.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
