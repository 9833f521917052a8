//! # actinf-formats
//!
//! The documented file formats of actinf, read into validated models and
//! run: scenarios for the discrete engine (`docs/scenario-format.md`), VMP
//! models (`docs/vmp-model-format.md`), gc specs (`docs/gc-spec-format.md`)
//! and SPM DEM documents (`docs/spm-dem.md`). They live in one crate of
//! their own so that every front end — the `actinf` binary, the HTTP
//! service and the Python package — reads the same JSON with the same
//! checks and writes the same results; none of them knows about files,
//! sockets or Python.

#![warn(missing_docs)]

pub mod arrays;
pub mod gc_spec;
pub mod scenario;
pub mod spm_dem;
pub mod vmp_model;
