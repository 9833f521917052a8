//! `actinf spm …`: SPM12 models and fixture files run as SPM runs them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

/// The `spm` subcommands.
#[derive(Subcommand)]
pub enum SpmCommand {
    /// Run the DEM runs of an SPM12 fixture-format file (`spm_DEM`) from
    /// their inputs and print the document with the results (qU, F, qP, qH)
    /// filled in.
    Dem {
        /// The file (see docs/spm-dem.md).
        file: PathBuf,
        /// Pretty-print the JSON.
        #[arg(long)]
        pretty: bool,
    },
    /// Replay every MDP trial of an SPM fixture-format file with
    /// `spm_MDP_VB_X`'s scheme (recorded outcomes and actions, learning
    /// carried through sequences) and print the same document with the
    /// results (X, P, R, F, G, H, w, learned a/b/d, …) filled in.
    Mdp {
        /// The file (see docs/spm-mdp.md).
        file: PathBuf,
        /// Pretty-print the JSON.
        #[arg(long)]
        pretty: bool,
    },
}

/// Run an `spm` subcommand.
pub fn run(command: SpmCommand) -> Result<()> {
    let (file, pretty) = match &command {
        SpmCommand::Dem { file, pretty } | SpmCommand::Mdp { file, pretty } => (file, *pretty),
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    match command {
        SpmCommand::Dem { .. } => {
            actinf_cli::spm_dem::run_document(&mut doc)
                .with_context(|| format!("in {}", file.display()))?;
        }
        SpmCommand::Mdp { .. } => {
            actinf_spm::mdp::replay_document(&mut doc)
                .with_context(|| format!("cannot replay {}", file.display()))?;
        }
    }
    let out = if pretty {
        serde_json::to_string_pretty(&doc)?
    } else {
        serde_json::to_string(&doc)?
    };
    println!("{out}");
    Ok(())
}
