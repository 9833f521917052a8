function f = fcnchk(fun, varargin)
% Stand-in for MATLAB's fcnchk, which GNU Octave lacks (written for actinf's
% peer-timing script; not SPM code). As MATLAB documents it:
%   - a function handle (or inline object) is returned unchanged;
%   - the name of a function is turned into a handle to it;
%   - an expression is turned into a function of the named arguments
%     (fcnchk(expr,'x','v','P') -> @(x,v,P) expr), or, with no names, of the
%     variables the expression uses (symvar), in order;
%   - a trailing 'vectorized' flag is accepted and ignored;
%   - anything else (including '' and []) is an error.
% SPM's spm_DEM_M_set calls fcnchk inside try/catch: without this file Octave
% silently replaces f and g by sparse(0,1).
if isa(fun, 'function_handle') || isa(fun, 'inline')
  f = fun;
  return
end
if ~ischar(fun) || isempty(strtrim(fun))
  error('fcnchk:invalidFunctionSpecifier', ...
        'FUN must be a function, a valid expression or an inline object');
end
args = varargin;
if ~isempty(args) && ischar(args{end}) && strcmpi(args{end}, 'vectorized')
  args(end) = [];
end
expr = strtrim(fun);
while ~isempty(expr) && expr(end) == ';'        % a trailing ';' as in SPM's demos
  expr = strtrim(expr(1:end-1));
end
if isvarname(expr) && any(exist(expr) == [2 3 5])
  f = str2func(expr);                            % a function name
  return
end
if isempty(args)
  args = symvar(expr);
  if ischar(args), args = cellstr(args); end
end
f = str2func(['@(' strjoin(args(:)', ',') ') ' expr]);
end
