function varargout = spm_DEM_qU(varargin)
% No-op stand-in used only by actinf's peer-timing driver (scripts/octave/peer_spm_case.m):
% keeps SPM's routines from drawing, so only their numerics are timed.
varargout = cell(1, nargout);
end
