% Make crates/actinf-spm/tests/fixtures/mdp_octave_cases.json: SPM12's
% spm_MDP_VB_X on three small models that exercise what the SPM12 fixtures in
% ../shared do not: learning of a and b (with zero counts), a non-uniform
% prior over policies E, non-default alpha, beta, zeta, eta, tau and erp,
% T = 4 sequential policies, one-step policies given as U (three policies),
% SPM's default policies (no U or V: every combination of controls), and a
% single policy, sequential and one-step.
% Each case holds its spec, a single trial and a three-trial sequence
% (concentration parameters carried from trial to trial by SPM itself), with
% the sampled outcomes, states and actions recorded for replay.
%
% usage (GNU Octave 7 and SPM12 r7771; the model arrays come from Octave's
% rand('twister', 101..105)):
%   octave --no-gui -q --eval "spm_path = '/path/to/spm12'; out = 'mdp_octave_cases.json'; source('scripts/spm_mdp_octave_cases.m')"
% spm_path must hold spm_MDP_VB_X.m, spm_MDP_check.m and spm_MDP_G.m (from
% toolbox/DEM) and SPM's spm_KL_dir, spm_betaln, spm_psi, spm_softmax,
% spm_dot, spm_cross and spm_vec (SPM's root folder and toolbox/DEM both work).
1;
function s = enc(M, shape)
% nested JSON lists, first index outermost, of an array with explicit shape
if nargin < 2, shape = size(M); end
if numel(shape) == 1
  v = M(:);
  parts = arrayfun(@(x) sprintf('%.17g', x), v, 'UniformOutput', false);
  s = ['[' strjoin(parts', ',') ']'];
  return
end
parts = cell(1, shape(1));
for i = 1:shape(1)
  row = M(i, :);
  sub = reshape(row, [shape(2:end) 1]);
  parts{i} = enc(sub, shape(2:end));
end
s = ['[' strjoin(parts, ',') ']'];
end

function s = cellenc(C, shapes)
parts = cell(1, numel(C));
for i = 1:numel(C)
  parts{i} = enc(C{i}, shapes{i});
end
s = ['[' strjoin(parts, ',') ']'];
end

function s = trialjson(O, Ns, Nu, No, Np, learned, prior)
T = O.T;
f = {};
f{end+1} = sprintf('"o_outcomes":%s', enc(O.o, [numel(No) T]));
f{end+1} = sprintf('"s_true_states":%s', enc(O.s, [numel(Ns) T]));
f{end+1} = sprintf('"u_actions":%s', enc(O.u, [numel(Ns) T-1]));
f{end+1} = sprintf('"T":%d', T);
shX = arrayfun(@(n) [n T], Ns, 'UniformOutput', false);
f{end+1} = sprintf('"X":%s', cellenc(O.X, shX));
f{end+1} = sprintf('"R":%s', enc(O.R, size(O.R)));
f{end+1} = sprintf('"P":%s', enc(O.P, [Nu T-1]));
f{end+1} = sprintf('"w":%s', enc(O.w, [1 numel(O.w)]));
f{end+1} = sprintf('"F":%s', enc(O.F, size(O.F)));
f{end+1} = sprintf('"G":%s', enc(O.G, size(O.G)));
f{end+1} = sprintf('"H":%s', enc(O.H, size(O.H)));
if any(strcmp(learned, 'a'))
  sh = arrayfun(@(g) [No(g) Ns], 1:numel(No), 'UniformOutput', false);
  f{end+1} = sprintf('"a_prior_for_this_trial":%s', cellenc(prior.a, sh));
  f{end+1} = sprintf('"a_posterior":%s', cellenc(O.a, sh));
  f{end+1} = sprintf('"Fa":%s', enc(O.Fa, [numel(O.Fa)]));
end
if any(strcmp(learned, 'b'))
  sh = arrayfun(@(k) [Ns(k) Ns(k) Nu(k)], 1:numel(Ns), 'UniformOutput', false);
  f{end+1} = sprintf('"b_posterior":%s', cellenc(O.b, sh));
  f{end+1} = sprintf('"Fb":%s', enc(O.Fb, [numel(O.Fb)]));
end
if any(strcmp(learned, 'd'))
  sh = arrayfun(@(k) [Ns(k)], 1:numel(Ns), 'UniformOutput', false);
  f{end+1} = sprintf('"d_posterior":%s', cellenc(O.d, sh));
  f{end+1} = sprintf('"Fd":%s', enc(O.Fd, [numel(O.Fd)]));
end
s = ['{' strjoin(f, ',') '}'];
end

addpath(spm_path); if exist(fullfile(spm_path, 'toolbox', 'DEM'), 'dir'), addpath(fullfile(spm_path, 'toolbox', 'DEM')); end
function s = specjson(mdp, Ns, Nu, No, T, mode)
  f = {};
  shA = arrayfun(@(g) [No(g) Ns], 1:numel(No), 'UniformOutput', false);
  shB = arrayfun(@(k) [Ns(k) Ns(k) Nu(k)], 1:numel(Ns), 'UniformOutput', false);
  shD = arrayfun(@(k) [Ns(k)], 1:numel(Ns), 'UniformOutput', false);
  shC = cellfun(@(c) size(c), mdp.C, 'UniformOutput', false);
  f{end+1} = ['"A":' cellenc(mdp.A, shA)];
  f{end+1} = ['"B":' cellenc(mdp.B, shB)];
  f{end+1} = ['"C":' cellenc(mdp.C, shC)];
  if isfield(mdp, 'a'), f{end+1} = ['"a":' cellenc(mdp.a, shA)]; end
  if isfield(mdp, 'b'), f{end+1} = ['"b":' cellenc(mdp.b, shB)]; end
  if isfield(mdp, 'd'), f{end+1} = ['"d":' cellenc(mdp.d, shD)]; end
  if isfield(mdp, 'D'), f{end+1} = ['"D":' cellenc(mdp.D, shD)]; end
  if isfield(mdp, 'E'), f{end+1} = ['"E":' enc(mdp.E, [numel(mdp.E)])]; end
  if strcmp(mode, 'V'), f{end+1} = ['"V":' enc(mdp.V, [T-1 size(mdp.V,2) numel(Ns)])]; end
  if strcmp(mode, 'U'), f{end+1} = ['"U":' enc(mdp.U, [1 size(mdp.U,2) numel(Ns)])]; end
  f{end+1} = sprintf('"T":%d', T);
  for nm = {'alpha','beta','zeta','eta','tau','erp'}
    if isfield(mdp, nm{1}), f{end+1} = sprintf('"%s":%.17g', nm{1}, mdp.(nm{1})); end
  end
  s = ['{' strjoin(f, ',') '}'];
end
function A = nrm(A)
  A = bsxfun(@rdivide, A, sum(A, 1));
end

cases = {};
for which = 1:5
  rand('twister', 100 + which); randn('state', 100 + which);
  clear mdp
  if which == 1
    Ns = [3 2]; Nu = [1 2]; No = [3 2]; T = 4; mode = 'V'; learned = {'a','b','d'}; name = 'V_learn_abd';
  elseif which == 2
    Ns = [2 2]; Nu = [2 2]; No = [3 2]; T = 3; mode = 'default'; learned = {'a','b','d'}; name = 'U_default_learn_abd';
  elseif which == 3
    Ns = [4 3]; Nu = [2 3]; No = [4 3]; T = 3; mode = 'U'; learned = {'a','d'}; name = 'U_learn_ad';
  elseif which == 4
    Ns = [3 2]; Nu = [1 2]; No = [3 2]; T = 4; mode = 'V'; learned = {'a','b','d'}; name = 'V_one_policy';
  else
    Ns = [2 2]; Nu = [2 2]; No = [3 2]; T = 3; mode = 'U'; learned = {'a','b','d'}; name = 'U_one_policy';
  end
  for g = 1:numel(No)
    mdp.A{g} = nrm(rand([No(g) Ns]) .^ 2);
  end
  for f = 1:numel(Ns)
    for u = 1:Nu(f)
      mdp.B{f}(:,:,u) = nrm(rand(Ns(f)) .^ 3 + eye(Ns(f)) * (u == 1));
    end
  end
  mdp.C{1} = randn(No(1), 1);
  mdp.C{2} = randn(No(2), T);
  if any(strcmp(learned, 'a'))
    for g = 1:numel(No)
      mdp.a{g} = mdp.A{g} * 8 + 0.25;
    end
    mdp.a{1}(1) = 0;
  end
  if any(strcmp(learned, 'b'))
    for f = 1:numel(Ns)
      mdp.b{f} = mdp.B{f} * 4 + 0.5;
    end
    mdp.b{end}(2, 1, 1) = 0;
  end
  mdp.d{1} = rand(Ns(1), 1) * 3 + 0.5;
  mdp.d{2} = ones(Ns(2), 1);
  if strcmp(mode, 'V')
    Np = 6;
    if which == 4, Np = 1; end
    V = ones(T - 1, Np, numel(Ns));
    for f = 1:numel(Ns)
      V(:, :, f) = randi(Nu(f), T - 1, Np);
    end
    mdp.V = V;
    mdp.E = nrm(rand(Np, 1) + 0.2);
    mdp.alpha = 16; mdp.beta = 0.7; mdp.zeta = 5; mdp.eta = 0.5; mdp.tau = 3; mdp.erp = 2;
  elseif strcmp(mode, 'U')
    if which == 5
      U = zeros(1, 1, 2); U(1, 1, 1) = 2; U(1, 1, 2) = 1;
    else
      U = zeros(1, 3, 2); U(1, :, 1) = [1 2 1]; U(1, :, 2) = [1 2 3];
    end
    mdp.U = U; mdp.eta = 2; mdp.alpha = 8;
  end
  mdp.T = T;
  prior = mdp;
  n = 3;
  MDP = mdp;
  for i = 2:n, MDP(i) = mdp; end
  OUT = spm_MDP_VB_X(MDP);
  specmode = mode; if strcmp(mode, 'default'), specmode = 'none'; end
  trials = {};
  for i = 1:n
    if i > 1, prior = OUT(i - 1); end
    trials{i} = trialjson(OUT(i), Ns, Nu, No, size(OUT(i).R, 1), learned, prior);
  end
  % the single trial: the first trial of the sequence on its own
  S = spm_MDP_VB_X(setfield(setfield(setfield(mdp, 'o', OUT(1).o), 's', OUT(1).s), 'u', OUT(1).u));
  single = trialjson(S, Ns, Nu, No, size(S.R, 1), learned, mdp);
  cases{end+1} = sprintf('{"name":"%s","spec":%s,"single_trial":%s,"sequence":{"trials":[%s]}}', ...
    name, specjson(mdp, Ns, Nu, No, T, specmode), single, strjoin(trials, ','));
end
fid = fopen(out, 'w');
fprintf(fid, '{"cases":[%s]}', strjoin(cases, ','));
fclose(fid);
disp('written')
