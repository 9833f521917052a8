function peer_spm_case(spm_dir, fixture, casename, repeats, outfile)
% PEER_SPM_CASE  Time one SPM12 routine on one case of an actinf SPM fixture.
%
%   peer_spm_case(SPM_DIR, FIXTURE_JSON, CASE, REPEATS, OUT_JSON)
%
% Rebuilds the case's inputs from the fixture (DEM runs: model, Y,
% U_prior_causes; MDP trials: spec and the recorded o, s, u, so nothing is
% sampled), runs the routine the fixture names (spm_DEM, spm_LAP or
% spm_MDP_VB_X) REPEATS times, timing only that call (tic/toc), and compares
% the result with the fixture's result fields. Writes a JSON report to
% OUT_JSON. Called by scripts/peer_spm_octave.py; usable on its own.
%
% CASE selects the run:
%   DEM files (runs[]):         '<label>@<seed>' or '<label>' (first match)
%   mdp_vbx.json:               'single_trial' or 'sequence'
%   mdp_cases.json (cases[]):   '<name>' (its single_trial or sequence)
%
% Plotting is made harmless by no-op stand-ins in scripts/octave/noplot
% (first on the path); scripts/octave/fcnchk.m stands in for MATLAB's fcnchk.

here = fileparts(mfilename('fullpath'));
warning('off', 'Octave:shadowed-function');
warning('off', 'Octave:data-file-in-path');
addpath(spm_dir);
addpath(fullfile(spm_dir, 'toolbox', 'DEM'));
addpath(here);                        % fcnchk stand-in
addpath(fullfile(here, 'noplot'));    % no-op plotting, first on the path
if ~strcmp(fileparts(which('spm_figure')), fullfile(here, 'noplot'))
  error('peer_spm_case: plotting stand-ins are not first on the path');
end
if ~exist('spm_DEM', 'file') || ~exist('spm_MDP_VB_X', 'file')
  error('peer_spm_case: no SPM12 (spm_DEM, toolbox/DEM/spm_MDP_VB_X) under %s', spm_dir);
end

doc = jsondecode(fileread(fixture));
rep = struct('fixture', fixture, 'case', casename);

if isfield(doc, 'runs')
  run = pick_run(doc.runs, casename);
  rep.routine = run.scheme;
  DEM = build_dem(run);
  [rep.times, rep.cpu_times, out] = time_it(str2func(run.scheme), DEM, repeats);
  [rep.checks, rep.tolerance] = check_dem(out, run);
else
  [spec, trials, kind] = pick_mdp(doc, casename);
  rep.routine = 'spm_MDP_VB_X';
  rep.n_trials = numel(trials);
  MDP = build_mdp(spec, trials);
  [rep.times, rep.cpu_times, out] = time_it(@spm_MDP_VB_X, MDP, repeats);
  [rep.checks, rep.tolerance] = check_mdp(out, trials);
end
rep.best_s = min(rep.times);
rep.best_cpu_s = min(rep.cpu_times);
names = fieldnames(rep.checks);
ok = true;
for k = 1:numel(names)
  ok = ok && rep.checks.(names{k}) <= rep.tolerance.(names{k});
end
rep.match = ok;
rep.octave_version = OCTAVE_VERSION;
fid = fopen(outfile, 'w');
fputs(fid, jsonencode(rep));
fclose(fid);
end

% ---------------------------------------------------------------------------
function [times, cpu, out] = time_it(fun, in, repeats)
% wall-clock (tic/toc) and process CPU seconds of each call
times = zeros(1, repeats);
cpu = zeros(1, repeats);
for r = 1:repeats
  c0 = cputime;
  t0 = tic;                 % a timer id: SPM's own tic/toc do not disturb it
  out = fun(in);
  times(r) = toc(t0);
  cpu(r) = cputime - c0;
end
end

function c = as_cell(x)
% A fixture list of arrays: jsondecode gives a cell (ragged) or one array
% with the list index first (same shapes); return a cell either way.
if iscell(x)
  c = x(:)';
  return
end
if isempty(x)
  c = {};
  return
end
sz = size(x);
c = cell(1, sz(1));
for k = 1:sz(1)
  idx = repmat({':'}, 1, numel(sz));
  idx{1} = k;
  c{k} = reshape(x(idx{:}), [sz(2:end) 1]);
end
end

function y = elem(x, k)
if iscell(x), y = x{k}; else, y = x(k); end
end

% ---------------------------------------------------------------------------
% DEM / LAP
function run = pick_run(runs, casename)
at = find(casename == '@', 1, 'last');
if isempty(at), label = casename; seed = []; else
  label = casename(1:at-1); seed = str2double(casename(at+1:end)); end
for k = 1:numel(runs)
  r = elem(runs, k);
  if strcmp(r.label, label) && (isempty(seed) || r.seed == seed)
    run = r;
    return
  end
end
error('peer_spm_case: no run labelled "%s" in the fixture', casename);
end

function DEM = build_dem(run)
lv = run.model.levels;
for i = 1:numel(lv)
  L = elem(lv, i);
  m = struct();
  m.f = L.f;                               % MATLAB text: SPM's fcnchk call makes it a function
  if isempty(L.g), m.g = []; else, m.g = L.g; end
  m.x = L.x0;
  m.v = L.v0;
  m.pE = L.pE;
  m.pC = L.pC;
  m.V = L.V;
  m.W = L.W;
  m.Q = []; if ~isempty(L.Q), m.Q = as_cell(L.Q); end
  m.R = []; if ~isempty(L.R), m.R = as_cell(L.R); end
  m.hE = L.hE;
  m.hC = L.hC;
  m.gE = L.gE;
  m.gC = L.gC;
  m.xP = L.xP;
  m.sv = L.sv;
  m.sw = L.sw;
  m.l = L.l;
  m.n = L.n;
  m.m = L.m;
  m.E = [];
  if i == 1, m.E = run.model.E; end
  M(i) = m;
end
if strcmp(run.scheme, 'spm_LAP')
  M(1).nograph = 1;                        % spm_LAP's own switch for its graphics
end
DEM = struct('M', M, 'Y', run.Y, 'U', run.U_prior_causes);
end

function d = reldev(a, b)
a = full(double(a(:)));
b = full(double(b(:)));
if numel(a) ~= numel(b), d = Inf; return, end
if isempty(b), d = 0; return, end
d = max(abs(a - b)) / max(max(abs(b)), realmin);
end

function [chk, tol] = check_dem(out, run)
% each quantity relative to its largest magnitude (issue 7's DEM tolerance)
chk = struct();
chk.qU_x1 = reldev(out.qU.x{1}, run.qU.x1);
chk.qU_v2 = reldev(out.qU.v{2}, run.qU.v2);
chk.qP_P = reldev(spm_vec(out.qP.P), spm_vec(run.qP.P));
if isempty(strfind(lower(run.label), 'lorenz'))   % fixtures' README: Lorenz F is ill-conditioned
  chk.F = reldev(out.F, run.F);
end
if ~isempty(run.qH.C)
  chk.qH = reldev([spm_vec(out.qH.h); spm_vec(out.qH.g)], ...
                  [spm_vec(run.qH.h); spm_vec(run.qH.g)]);
end
tol = struct();
names = fieldnames(chk);
for k = 1:numel(names), tol.(names{k}) = 1e-6; end
end

% ---------------------------------------------------------------------------
% MDP
function [spec, trials, kind] = pick_mdp(doc, casename)
if isfield(doc, 'cases')
  for k = 1:numel(doc.cases)
    c = elem(doc.cases, k);
    if strcmp(c.name, casename)
      spec = c.spec;
      if isfield(c, 'single_trial'), trials = {c.single_trial}; kind = 'single_trial';
      else, trials = as_trials(c.sequence.trials); kind = 'sequence'; end
      return
    end
  end
  error('peer_spm_case: no MDP case "%s" in the fixture', casename);
end
spec = doc.spec;
switch casename
  case 'single_trial'
    trials = {doc.single_trial}; kind = casename;
  case 'sequence'
    trials = as_trials(doc.sequence.trials); kind = casename;
  otherwise
    error('peer_spm_case: MDP case must be single_trial or sequence, not "%s"', casename);
end
end

function t = as_trials(x)
if iscell(x), t = x(:)'; else, t = num2cell(x(:)'); end
end

function MDP = build_mdp(spec, trials)
mdp = struct();
mdp.A = as_cell(spec.A);
mdp.B = as_cell(spec.B);
mdp.C = as_cell(spec.C);
if isfield(spec, 'a'), mdp.a = as_cell(spec.a); end
if isfield(spec, 'd'), mdp.d = as_cell(spec.d); end
if isfield(spec, 'D'), mdp.D = as_cell(spec.D); end
if isfield(spec, 'V'), mdp.V = spec.V; end
if isfield(spec, 'U'), mdp.U = spec.U; end
mdp.T = spec.T;
if isfield(spec, 'tau') && isnumeric(spec.tau), mdp.tau = spec.tau; end
for k = 1:numel(trials)
  tr = trials{k};
  m = mdp;
  m.T = tr.T;
  m.o = tr.o_outcomes;                    % recorded: nothing is sampled
  m.s = tr.s_true_states;
  m.u = tr.u_actions;
  MDP(k) = m;
end
end

function d = absdev(a, b)
a = full(double(a(:)));
b = full(double(b(:)));
if numel(a) ~= numel(b), d = Inf; return, end
if isempty(b), d = 0; return, end
d = max(abs(a - b));
end

function [chk, tol] = check_mdp(out, trials)
% X, R, w, P to 1e-8 absolute; learned concentrations to 1e-8 relative (issue 7)
chk = struct('X', 0, 'R', 0, 'w', 0, 'P', 0);
for k = 1:numel(trials)
  tr = trials{k};
  o = out(k);
  X = as_cell(tr.X);
  for f = 1:numel(X)
    chk.X = max(chk.X, absdev(o.X{f}, X{f}));
  end
  chk.R = max(chk.R, absdev(o.R, tr.R));
  chk.w = max(chk.w, absdev(o.w, tr.w));
  chk.P = max(chk.P, absdev(o.P, tr.P));
  for nm = {'d', 'a'}
    fld = [nm{1} '_posterior'];
    if isfield(tr, fld)
      if ~isfield(chk, fld), chk.(fld) = 0; end
      post = as_cell(tr.(fld));
      for f = 1:numel(post)
        chk.(fld) = max(chk.(fld), reldev(o.(nm{1}){f}, post{f}));
      end
    end
  end
end
tol = struct();
names = fieldnames(chk);
for k = 1:numel(names), tol.(names{k}) = 1e-8; end
end
