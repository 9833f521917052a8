//! The library half of the `actinf` command-line tool: reading scenario
//! files (nested JSON lists in pymdp's layout) into validated models, running
//! them, and writing the results as JSON. The binary (`src/main.rs`) is a thin
//! shell around it; conformance tests drive the same code paths the CLI does.

#![warn(missing_docs)]

pub mod arrays;
pub mod dem_demo;
pub mod demo;
pub mod gc_spec;
pub mod plot;
pub mod relevance;
pub mod scenario;
pub mod spm_dem;
pub mod vmp_model;
