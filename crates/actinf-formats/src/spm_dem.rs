//! `actinf spm dem FILE.json`: SPM's DEM and generalized-filtering runs, as SPM12's fixtures describe
//! them, inverted by actinf and written back in SPM's layout.
//!
//! The file is either one run (an object with `model`, `Y`, `scheme`, …) or a
//! document with a `runs` list of them (the layout of
//! `../shared/fixtures/spm12/dem_*.json`). Each run is read from its inputs
//! only (`scheme`, `model`, `Y`, `U_prior_causes`); its result fields (`qU`,
//! `F`, `free_action`, `qP`, `qH`) are replaced by actinf's, everything else
//! is kept as it was, and the whole document is printed.

use actinf_spm::dem::{
    read_dem_run, run_dem, run_lap, write_dem_results, write_lap_results, Derivatives,
};
use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Runs every DEM run of `doc` in place (module docs).
pub fn run_document(doc: &mut Value) -> Result<usize> {
    if let Some(runs) = doc.get_mut("runs").and_then(Value::as_array_mut) {
        for (i, run) in runs.iter_mut().enumerate() {
            run_one(run).with_context(|| format!("in runs[{i}]"))?;
        }
        return Ok(runs.len());
    }
    if doc.get("model").is_some() {
        run_one(doc)?;
        return Ok(1);
    }
    bail!("expected a DEM run (with `model` and `Y`) or a document with a `runs` list")
}

fn run_one(run: &mut Value) -> Result<()> {
    let scheme = run
        .get("scheme")
        .and_then(Value::as_str)
        .unwrap_or("spm_DEM")
        .to_string();
    match scheme.as_str() {
        "spm_DEM" => {
            let read = read_dem_run(run, Derivatives::Spm)?;
            let result = run_dem(&read)?;
            write_dem_results(run, &read, &result)?;
            Ok(())
        }
        "spm_LAP" => {
            let read = read_dem_run(run, Derivatives::Spm)?;
            let result = run_lap(&read)?;
            write_lap_results(run, &read, &result)?;
            Ok(())
        }
        other => bail!("unsupported scheme `{other}` (supported: spm_DEM, spm_LAP)"),
    }
}
