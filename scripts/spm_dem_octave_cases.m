% DEM runs that the shared SPM12 fixtures do not have, made with SPM12's own
% spm_DEM_generate and spm_DEM under GNU Octave, to check that actinf matches
% SPM's algorithm on models it was never tuned on: a three-level hierarchy
% (two levels with hidden states, hidden causes in between, a learned
% parameter and a learned log-precision) and a nonlinear model (tanh and
% product observation, other embedding orders and smoothness, one learned
% parameter and a learned state log-precision), and a static model (no
% hidden states: the causes of each sample refined by up to nD steps).
%
% Usage (SPM12's folder as `spm`; octave/fcnchk.m stands in for MATLAB's
% fcnchk, which Octave lacks, and octave/noplot keeps SPM from drawing):
%   octave --no-gui --eval "spm='/path/to/spm12'; cd scripts; spm_dem_octave_cases"
%   python3 scripts/make_spm_dem_octave_cases.py
% (`only = [4]; spm_dem_octave_cases` runs case 4 alone.) Writes
% scripts/spm_dem_octave_cases_raw*.json (not committed); the Python
% step puts it in the fixture format in
% crates/actinf-spm/tests/fixtures/dem_octave_cases.json.
1; % a script file: the helper functions below are defined before use

function c = full_cells(q)
  if iscell(q), c = cellfun(@full, q, 'UniformOutput', false); else, c = {}; end
end


function out = run_case(label, DEM, ftext, gtext)
  Y = DEM.Y; U = DEM.U;
  M = spm_DEM_M_set(DEM.M);
  levels = {};
  for i = 1:numel(M)
    L = struct();
    L.l = M(i).l; L.n = M(i).n; L.m = M(i).m;
    L.f = ftext{i}; L.g = gtext{i};
    L.x0 = full(spm_vec(M(i).x)); L.v0 = full(spm_vec(M(i).v));
    L.pE = M(i).pE; L.pE_vec = full(spm_vec(M(i).pE));
    L.pC = full(M(i).pC);
    L.V = full(M(i).V); L.W = full(M(i).W);
    L.Q = full_cells(M(i).Q);
    L.R = full_cells(M(i).R);
    L.hE = full(M(i).hE); L.hC = full(M(i).hC);
    L.gE = full(M(i).gE); L.gC = full(M(i).gC);
    L.xP = full(M(i).xP); L.sv = M(i).sv; L.sw = M(i).sw;
    levels{end + 1} = L;
  end
  R = spm_DEM(DEM);
  out.label = label;
  out.scheme = 'spm_DEM';
  out.model.E = M(1).E;
  out.model.levels = levels;
  out.Y = full(Y);
  out.U_prior_causes = full(U);
  out.N = size(Y, 2);
  out.dt = 1;
  if isfield(R.qU, 'x')
    for i = 1:numel(R.qU.x), out.qU.(sprintf('x%d', i)) = full(R.qU.x{i}); end
  end
  for i = 2:numel(R.qU.v), out.qU.(sprintf('v%d', i)) = full(R.qU.v{i}); end
  out.F = full(R.F);
  out.free_action = full(R.S);
  out.qP_vec = full(spm_vec(R.qP.P));
  out.qH.h = full(spm_vec(R.qH.h));
  out.qH.g = full(spm_vec(R.qH.g));
  out.qH.C = full(R.qH.C);
end

addpath(spm);
here = fileparts(mfilename('fullpath'));
addpath(fullfile(here, 'octave'));            % fcnchk stand-in
addpath(fullfile(here, 'octave', 'noplot'));  % no drawing
rand('seed', 7); randn('seed', 7);
rand('state', 7); randn('state', 7);

cases = {};
% `only` (a list of case numbers) runs just those cases; every case's data
% are still generated, so the random draws are the same either way.
if ~exist('only', 'var'), only = []; end
want = @(k) isempty(only) || any(only == k);

% ---- case 1: a three-level hierarchy -------------------------------------
clear M G
E = struct('s', 1/2, 'n', 4, 'd', 2, 'nD', 1, 'nE', 12, 'nM', 8, 'nN', 8, 'linear', 0);
G(1).E  = E;
G(1).f  = 'P.A*x + P.B*v';
G(1).g  = 'P.C*x';
G(1).x  = [0; 0];
G(1).pE = struct('A', [-0.5 1; -1 -0.5], 'B', [1; 0], 'C', [1 0; 0.5 1; 0 1]);
G(1).pC = zeros(12);
G(1).V  = exp(6)*eye(3);
G(1).W  = exp(10)*eye(2);
G(2).f  = '-x/2 + v';
G(2).g  = 'x';
G(2).x  = 0;
G(2).pE = [];
G(2).V  = exp(8);
G(2).W  = exp(10);
G(3).v  = 0;
G(3).V  = exp(2);
N  = 40;
U  = exp(-((1:N) - 10).^2/8) - 0.5*exp(-((1:N) - 24).^2/8);
DEM = spm_DEM_generate(G, U);

M = G;
M(1).pE.A(2,1) = 0;            % unknown coupling, learned
M(1).pC = zeros(12); M(1).pC(2,2) = 4;
M(1).V  = eye(3);              % fixed part of the output precision
M(1).Q  = {eye(3)}; M(1).hE = 2; M(1).hC = 1;
M(1).R  = {}; M(1).gE = []; M(1).gC = [];
M(2).Q  = {}; M(2).R = {}; M(2).hE = []; M(2).hC = []; M(2).gE = []; M(2).gC = [];
M(3).Q  = {}; M(3).hE = []; M(3).hC = [];
DEM.M = M;
DEM.Y = jsondecode(jsonencode(full(DEM.Y)));
DEM.U = zeros(1, N);
if want(1)
  cases{end + 1} = run_case('three-level hierarchy', DEM, ...
      {'P.A*x + P.B*v', '-x/2 + v', ''}, {'P.C*x', 'x', ''});
end
D1 = DEM;

% ---- case 1b: the same hierarchy, linear scheme, the coupling alone learned
DEM.M(1).E.linear = 1;
DEM.M(1).E.nE = 8;
DEM.M(1).V  = exp(6)*eye(3);
DEM.M(1).Q  = {}; DEM.M(1).hE = []; DEM.M(1).hC = [];
if want(1)
  cases{end + 1} = run_case('three-level hierarchy, linear, parameter only', DEM, ...
      {'P.A*x + P.B*v', '-x/2 + v', ''}, {'P.C*x', 'x', ''});
end

% ---- case 4: precision components at two levels (SPM orders their priors
% as every level's hE, then every gE, while the components go level by level)
DEM = D1;
DEM.M(1).E.linear = 1;
DEM.M(1).E.nE = 6;
DEM.M(1).Q  = {eye(3)}; DEM.M(1).hE = 2; DEM.M(1).hC = 1;
DEM.M(1).R  = {eye(2)}; DEM.M(1).gE = 4; DEM.M(1).gC = 1;
DEM.M(2).Q  = {1};      DEM.M(2).hE = 3; DEM.M(2).hC = 1;
if want(4)
  cases{end + 1} = run_case('three-level hierarchy, precisions at two levels', DEM, ...
      {'P.A*x + P.B*v', '-x/2 + v', ''}, {'P.C*x', 'x', ''});
end

% ---- case 2: a nonlinear model ----------------------------------------------
clear M G
E = struct('s', 1, 'n', 5, 'd', 1, 'nD', 1, 'nE', 8, 'nM', 8, 'nN', 8, 'linear', 0);
G(1).E  = E;
G(1).f  = '[x(2); -P(1)*x(1) - x(2)/4] + [v; 0]';
G(1).g  = '[tanh(x(1)); x(1).*x(2)/2; x(2)]';
G(1).x  = [0.5; 0];
G(1).pE = 0.25;
G(1).pC = 0;
G(1).V  = exp(5)*eye(3);
G(1).W  = exp(6)*eye(2);
G(2).v  = 0;
G(2).V  = exp(4);
N  = 48;
U  = 0.5*sin((1:N)/4);
DEM = spm_DEM_generate(G, U);

M = G;
M(1).pE = 0.1;                 % the stiffness, learned from a wrong start
M(1).pC = 1/4;
M(1).W  = eye(2);
M(1).R  = {eye(2)}; M(1).gE = 4; M(1).gC = 1;
M(1).Q  = {}; M(1).hE = []; M(1).hC = [];
M(2).Q  = {}; M(2).hE = []; M(2).hC = [];
DEM.M = M;
DEM.Y = jsondecode(jsonencode(full(DEM.Y)));
DEM.U = 0.5*sin((1:N)/4);
if want(2), cases{end + 1} = run_case('nonlinear observer', DEM, ...
    {'[x(2); -P(1)*x(1) - x(2)/4] + [v; 0]', ''}, {'[tanh(x(1)); x(1).*x(2)/2; x(2)]', ''}); end

% ---- case 3: a static model (no hidden states) ----------------------------
clear M G
E = struct('s', 0, 'n', 0, 'd', 0, 'nD', 8, 'nE', 8, 'nM', 8, 'nN', 8, 'linear', 0);
G(1).E  = E;
G(1).f  = '';
G(1).g  = 'P*v';
G(1).x  = [];
G(1).pE = [1 0.5; -0.5 1; 0.25 -0.75];
G(1).pC = zeros(6);
G(1).V  = exp(3)*eye(3);
G(2).v  = [0; 0];
G(2).V  = eye(2);
N  = 24;
U  = [sin((1:N)/3); cos((1:N)/5)];
DEM = spm_DEM_generate(G, U);

M = G;
M(1).pE(2,1) = 0;              % one unknown loading, learned
M(1).pC = zeros(6); M(1).pC(2,2) = 1;
M(1).V  = eye(3);
M(1).Q  = {eye(3)}; M(1).hE = 1; M(1).hC = 1;
M(1).R  = {}; M(1).gE = []; M(1).gC = [];
M(2).Q  = {}; M(2).hE = []; M(2).hC = [];
DEM.M = M;
DEM.Y = jsondecode(jsonencode(full(DEM.Y)));
DEM.U = zeros(2, N);
if want(3), cases{end + 1} = run_case('static model', DEM, {'', ''}, {'P*v', ''}); end

if isempty(only), tag = ''; else, tag = ['_' sprintf('%d', only)]; end
fid = fopen(fullfile(here, ['spm_dem_octave_cases_raw' tag '.json']), 'w');
fprintf(fid, '%s', jsonencode(cases));
fclose(fid);

