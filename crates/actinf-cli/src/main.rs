//! `actinf`: run active-inference models and scenarios from files, and demos.

use actinf_cli::scenario;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Active inference from the command line.
#[derive(Parser)]
#[command(name = "actinf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Discrete active inference (POMDPs).
    Pomdp {
        #[command(subcommand)]
        command: PomdpCommand,
    },
}

#[derive(Subcommand)]
enum PomdpCommand {
    /// Run a scenario file and print its results as JSON.
    Run {
        /// The scenario (see docs/scenario-format.md).
        scenario: PathBuf,
        /// Pretty-print the JSON.
        #[arg(long)]
        pretty: bool,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Pomdp {
            command: PomdpCommand::Run { scenario, pretty },
        } => {
            let text = std::fs::read_to_string(&scenario)
                .with_context(|| format!("cannot read {}", scenario.display()))?;
            let sc = scenario::Scenario::from_json(&text)
                .with_context(|| format!("in {}", scenario.display()))?;
            let report = scenario::run(&sc)?;
            let out = if pretty {
                serde_json::to_string_pretty(&report)?
            } else {
                serde_json::to_string(&report)?
            };
            println!("{out}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
