//! The library half of the `actinf` command-line tool: demos, plots and the
//! relevance commands. The file formats (scenarios, VMP models, gc specs,
//! SPM documents) live in `actinf-formats`, shared with the service and the
//! Python package, and are re-exported here under their old paths. The binary (`src/main.rs`) is a thin
//! shell around it; conformance tests drive the same code paths the CLI does.

#![warn(missing_docs)]

pub mod dem_demo;
pub mod demo;
pub mod plot;
pub mod relevance;

pub use actinf_formats::{arrays, gc_spec, scenario, spm_dem, vmp_model};
