//! `actinf`: run active-inference models and scenarios from files, and demos.

use std::io::IsTerminal;

use actinf_cli::{dem_demo, demo, gc_spec, plot, relevance, scenario, vmp_model};

mod spm_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Active inference from the command line.
#[derive(Parser)]
#[command(name = "actinf", version, about)]
struct Cli {
    /// The most memory any size from the input may ask for, in bytes (a
    /// suffix K, M, G or T counts in binary units): sizes beyond it are
    /// refused with the field named, before anything is allocated.
    #[arg(long, global = true, value_name = "BYTES", default_value = "4G", value_parser = parse_bytes)]
    max_memory: u64,
    #[command(subcommand)]
    command: Command,
}

/// `4G`, `512M`, `1048576`: a byte count with an optional binary suffix.
fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count (e.g. 4G, 512M, 1048576)"))?;
    n.checked_mul(1u64 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{text:?} is not a positive byte count below 2^64"))
}

#[derive(Subcommand)]
enum Command {
    /// Discrete active inference (POMDPs).
    Pomdp {
        #[command(subcommand)]
        command: PomdpCommand,
    },
    /// Variational message passing on factor graphs.
    Vmp {
        #[command(subcommand)]
        command: VmpCommand,
    },
    /// Continuous models in generalized coordinates of motion.
    Gc {
        #[command(subcommand)]
        command: GcCommand,
    },
    /// Query-aware vision-token allocation (the ARR-COC front end).
    Relevance {
        #[command(subcommand)]
        command: relevance::RelevanceCommand,
    },
    /// Built-in demonstrations.
    Demo {
        #[command(subcommand)]
        demo: Demo,
    },
    /// SPM12 models run as SPM runs them (docs/spm-dem.md, docs/spm-mdp.md).
    Spm {
        #[command(subcommand)]
        command: spm_cmd::SpmCommand,
    },
}

#[derive(Subcommand)]
enum VmpCommand {
    /// Run a model file and print the ELBO trace and posteriors as JSON.
    Run {
        /// The model (see docs/vmp-model-format.md).
        model: PathBuf,
        /// Pretty-print the JSON.
        #[arg(long)]
        pretty: bool,
    },
}

#[derive(Subcommand)]
enum GcCommand {
    /// Invert a linear model given as matrices (see docs/gc-spec-format.md)
    /// with the D-step and print the trajectory as JSON.
    Run {
        /// The spec.
        spec: PathBuf,
        /// Draw the states with their confidence bands and the free energy.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Pretty-print the JSON.
        #[arg(long)]
        pretty: bool,
    },
}

#[derive(Subcommand)]
enum Demo {
    /// A continuous model in generalized coordinates: `convolution` (SPM's
    /// linear convolution model, simulated with smooth noise and inverted by
    /// the D-step), `lorenz` (SPM's Lorenz attractor, simulated from
    /// [0.9, 0.8, 30] and tracked by the nonlinear D-step from [1, 1, 16]),
    /// `active` (an agent reaching a set point by action) or `triple` (DEM
    /// learning states, two parameters and two noise precisions together).
    Gc {
        /// The example: `convolution` or `lorenz`.
        name: String,
        /// Embedding order.
        #[arg(long, default_value_t = 7)]
        order: usize,
        /// Seed of the simulated noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Samples.
        #[arg(long, default_value_t = 64)]
        samples: usize,
        /// Also write the model and the simulated data as a spec for `actinf gc run`.
        #[arg(long)]
        spec_out: Option<PathBuf>,
        /// Draw the states with their confidence bands and the free energy.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// The T-maze agent: it visits the cue, then the arm the cue points to.
    Tmaze {
        /// Number of trials (each with a fresh agent; the context alternates with the seed).
        #[arg(long, default_value_t = 1)]
        trials: usize,
        /// Observations per trial.
        #[arg(long, default_value_t = 4)]
        steps: usize,
        /// Probability of reward in the cued arm.
        #[arg(long, default_value_t = 0.98)]
        reward_prob: f64,
        /// Log-preference for reward (its negative for loss).
        #[arg(long, default_value_t = 3.0)]
        reward_pref: f64,
        /// Policy depth.
        #[arg(long, default_value_t = 2)]
        policy_len: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Draw beliefs, policy posterior and free energy into this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
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
        Command::Spm { command } => spm_cmd::run(command)?,
        Command::Relevance { command } => relevance::run(command)?,
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
        Command::Vmp {
            command: VmpCommand::Run { model, pretty },
        } => {
            let text = std::fs::read_to_string(&model)
                .with_context(|| format!("cannot read {}", model.display()))?;
            let file = vmp_model::ModelFile::from_json(&text)
                .with_context(|| format!("in {}", model.display()))?;
            let (graph, run) = file.run()?;
            let report = vmp_model::report(&graph, &run)?;
            let out = if pretty {
                serde_json::to_string_pretty(&report)?
            } else {
                serde_json::to_string(&report)?
            };
            println!("{out}");
        }
        Command::Gc {
            command: GcCommand::Run { spec, plot, pretty },
        } => {
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("cannot read {}", spec.display()))?;
            let parsed = gc_spec::Spec::from_json(&text)
                .with_context(|| format!("in {}", spec.display()))?;
            let (_, trace) = parsed.run()?;
            let report = gc_spec::report(&trace);
            let out = if pretty {
                serde_json::to_string_pretty(&report)?
            } else {
                serde_json::to_string(&report)?
            };
            println!("{out}");
            if let Some(path) = plot {
                let trajectories: Vec<plot::Trajectory> = (0..trace.x.nrows())
                    .map(|i| plot::Trajectory {
                        label: if i == 0 { "x1" } else { "x" },
                        estimate: trace.x.row(i).iter().copied().collect(),
                        sd: trace.x_covariance[(i, i)].max(0.0).sqrt(),
                        truth: None,
                    })
                    .collect();
                plot::trajectories_and_free_energy(
                    &path,
                    "D-step",
                    &trajectories,
                    &trace.free_energy,
                )?;
                eprintln!("plot written to {}", path.display());
            }
        }
        Command::Demo {
            demo:
                Demo::Gc {
                    name,
                    order,
                    seed,
                    samples,
                    plot: plot_path,
                    spec_out,
                },
        } => {
            if name == "lorenz" {
                if spec_out.is_some() {
                    anyhow::bail!("--spec-out is for the linear `convolution` demo only");
                }
                return lorenz_demo(order, seed, samples, plot_path);
            }
            if name == "active" {
                if spec_out.is_some() {
                    anyhow::bail!("--spec-out is for the linear `convolution` demo only");
                }
                return active_demo(plot_path);
            }
            if name == "triple" {
                if spec_out.is_some() {
                    anyhow::bail!("--spec-out is for the linear `convolution` demo only");
                }
                return triple_demo(order, seed, samples, plot_path);
            }
            if name != "convolution" {
                anyhow::bail!(
                    "unknown gc demo `{name}` (available: convolution, lorenz, active, triple)"
                );
            }
            let (sim, trace) = gc_spec::convolution_demo(order, seed, samples)?;
            if let Some(path) = spec_out {
                let spec = gc_spec::convolution_spec(order, &sim, seed)?;
                std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("spec written to {}", path.display());
            }
            println!(
                "{:>4} {:>9} {:>9} {:>9} {:>9} {:>10}",
                "t", "x1", "x1 est", "x2", "x2 est", "F"
            );
            for t in 0..sim.x.ncols() {
                println!(
                    "{:>4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>10.3}",
                    t,
                    sim.x[(0, t)],
                    trace.x[(0, t)],
                    sim.x[(1, t)],
                    trace.x[(1, t)],
                    trace.free_energy[t]
                );
            }
            println!(
                "state RMSE {:.4}, total free energy {:.3} (order n = {order}, smoothness s = 1, seed {seed})",
                gc_spec::state_rmse(&sim, &trace),
                trace.total_free_energy()
            );
            if let Some(path) = plot_path {
                let trajectories: Vec<plot::Trajectory> = ["x1", "x2"]
                    .iter()
                    .enumerate()
                    .map(|(i, label)| plot::Trajectory {
                        label,
                        estimate: trace.x.row(i).iter().copied().collect(),
                        sd: trace.x_covariance[(i, i)].max(0.0).sqrt(),
                        truth: Some(sim.x.row(i).iter().copied().collect()),
                    })
                    .collect();
                plot::trajectories_and_free_energy(
                    &path,
                    "convolution model: D-step",
                    &trajectories,
                    &trace.free_energy,
                )?;
                eprintln!("plot written to {}", path.display());
            }
        }
        Command::Demo {
            demo:
                Demo::Tmaze {
                    trials,
                    steps,
                    reward_prob,
                    reward_pref,
                    policy_len,
                    seed,
                    plot: plot_path,
                    json,
                },
        } => {
            let opts = demo::TMazeOptions {
                trials,
                steps,
                reward_prob,
                reward_pref,
                policy_len,
                seed,
            };
            let bar = (trials > 1 && std::io::stderr().is_terminal())
                .then(|| indicatif::ProgressBar::new(trials as u64));
            let rows = demo::run_tmaze(&opts, |done| {
                if let Some(b) = &bar {
                    b.set_position(done as u64);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&demo::to_json(&rows))?);
            } else {
                print!("{}", demo::table(&rows));
            }
            if let Some(path) = plot_path {
                let beliefs = [
                    plot::Series {
                        label: "q(reward left)",
                        values: rows.iter().map(|r| r.q_context[0]).collect(),
                    },
                    plot::Series {
                        label: "q(at cue)",
                        values: rows.iter().map(|r| r.q_location[3]).collect(),
                    },
                ];
                let q_pi: Vec<Vec<f64>> = rows.iter().map(|r| r.q_pi.clone()).collect();
                let fe: Vec<f64> = rows.iter().map(|r| r.free_energy).collect();
                plot::beliefs_policies_free_energy(&path, "T-maze", &beliefs, &q_pi, &fe)?;
                eprintln!("plot written to {}", path.display());
            }
        }
    }
    Ok(())
}

/// `actinf demo gc active`: the reaching agent, printed every 50 steps and
/// optionally drawn (position and belief with the set point, action, free
/// energy).
fn triple_demo(order: usize, seed: u64, samples: usize, plot_path: Option<PathBuf>) -> Result<()> {
    let run = dem_demo::triple_estimation(order, seed, samples, 16)?;
    print!("{}", dem_demo::report(&run));
    if let Some(path) = plot_path {
        let r = &run.result;
        let sd = |i: usize| {
            let v: f64 = r.state_covariances.iter().map(|c| c[(i, i)]).sum();
            (v / r.state_covariances.len() as f64).max(0.0).sqrt()
        };
        let trajectories: Vec<plot::Trajectory> = ["x1", "x2"]
            .iter()
            .enumerate()
            .map(|(i, label)| plot::Trajectory {
                label,
                estimate: r.states.row(i).iter().copied().collect(),
                sd: sd(i),
                truth: Some(run.simulation.x.row(i).iter().copied().collect()),
            })
            .collect();
        plot::trajectories_and_learning_curve(
            &path,
            "DEM: states, two parameters and two noise precisions learned together",
            &trajectories,
            &r.free_energy,
        )?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}

fn active_demo(plot_path: Option<PathBuf>) -> Result<()> {
    let (start, set_point, steps) = (-1.0, 1.0, 1000);
    let tr = gc_spec::active_demo(start, set_point, steps)?;
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>10}",
        "t (s)", "position", "belief", "action", "F"
    );
    for t in (0..steps).step_by(50).chain(std::iter::once(steps - 1)) {
        println!(
            "{:>6.1} {:>9.4} {:>9.4} {:>9.4} {:>10.3}",
            t as f64 * 0.1,
            tr.x[(0, t)],
            tr.belief[(0, t)],
            tr.action[(0, t)],
            tr.free_energy[t]
        );
    }
    println!(
        "final position {:.5} (set point {set_point}, start {start}); action drives the point mass by descending free energy",
        tr.final_state[0]
    );
    if let Some(path) = plot_path {
        let trajectories = [
            plot::Trajectory {
                label: "position (belief; truth dashed)",
                estimate: tr.belief.row(0).iter().copied().collect(),
                sd: 0.0,
                truth: Some(tr.x.row(0).iter().copied().collect()),
            },
            plot::Trajectory {
                label: "action",
                estimate: tr.action.row(0).iter().copied().collect(),
                sd: 0.0,
                truth: None,
            },
        ];
        plot::trajectories_and_free_energy(
            &path,
            "active inference: reaching a set point",
            &trajectories,
            &tr.free_energy,
        )?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    actinf_core::budget::set_limit(cli.max_memory);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `actinf demo gc lorenz`: the state RMSE per quarter of the run and after
/// the transient (the first quarter), and the optional figure.
fn lorenz_demo(order: usize, seed: u64, samples: usize, plot_path: Option<PathBuf>) -> Result<()> {
    let (sim, trace) = gc_spec::lorenz_demo(order, seed, samples)?;
    let big_t = sim.x.ncols();
    let q = (big_t / 4).max(1);
    println!("Lorenz attractor: truth from [0.9, 0.8, 30], estimate from [1, 1, 16]");
    println!("{:>8} {:>10} {:>10}", "quarter", "samples", "state RMSE");
    for k in 0..4 {
        let end = if k == 3 { big_t } else { (k + 1) * q };
        let range = (k * q).min(big_t)..end.min(big_t);
        if range.is_empty() {
            continue;
        }
        println!(
            "{:>8} {:>10} {:>10.4}",
            k + 1,
            format!("{}–{}", range.start, range.end - 1),
            gc_spec::rmse(&sim.x, &trace.x, range)
        );
    }
    println!(
        "state RMSE after the transient (samples {q}–{}): {:.4}",
        big_t - 1,
        gc_spec::rmse(&sim.x, &trace.x, q.min(big_t)..big_t)
    );
    println!(
        "whole run {:.4}, total free energy {:.3} (order n = {order}, s = 1/8, seed {seed})",
        gc_spec::rmse(&sim.x, &trace.x, 0..big_t),
        trace.free_energy.iter().sum::<f64>()
    );
    if let Some(path) = plot_path {
        let trajectories: Vec<plot::Trajectory> = ["x", "y", "z"]
            .iter()
            .enumerate()
            .map(|(i, label)| plot::Trajectory {
                label,
                estimate: trace.x.row(i).iter().copied().collect(),
                sd: 0.0,
                truth: Some(sim.x.row(i).iter().copied().collect()),
            })
            .collect();
        let error: Vec<f64> = (0..big_t)
            .map(|t| gc_spec::rmse(&sim.x, &trace.x, t..t + 1))
            .collect();
        plot::tracking_error(
            &path,
            "Lorenz attractor: nonlinear D-step from a wrong initial state",
            &trajectories,
            &error,
            &trace.free_energy,
        )?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}
