//! `actinf relevance`: query-aware vision-token allocation from the command
//! line — reading images and `.npy` embeddings, printing the allocation as a
//! table or JSON, and drawing the heat map.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

#[cfg(feature = "clip")]
use actinf_clip::ClipModel;
use actinf_relevance::allocation::{Budget, Precision, LEVELS};
use actinf_relevance::image::RgbImage;
use actinf_relevance::npy::read_npy;
use actinf_relevance::pipeline::{FrontEnd, FrontEndResult, FrontEndSettings, Query};
use actinf_relevance::resize::AreaResizer;
use actinf_relevance::scorers::Exemplar;
use actinf_relevance::texture::TextureMode;
use actinf_relevance::video::{PlannerSettings, VideoPlanner};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use plotters::prelude::*;
use serde_json::{json, Value};

/// `actinf relevance …` subcommands.
#[derive(Subcommand)]
pub enum RelevanceCommand {
    /// Allocate vision tokens over an image's patches under a budget and
    /// print per-patch scores, budgets, the ELBO trace and the total.
    Allocate {
        /// The image (PNG or JPEG).
        image: PathBuf,
        /// Total tokens (a multiple of 4, 0 < budget < 400 × patches).
        #[arg(long)]
        budget: u64,
        /// Grid, mode, query and precisions.
        #[command(flatten)]
        options: FrontEndOptions,
        /// Print JSON (see docs/relevance.md) instead of the table.
        #[arg(long)]
        json: bool,
        /// Draw the image with its allocation and the relevance map into this PNG.
        #[arg(long)]
        heatmap: Option<PathBuf>,
    },
    /// Plan allocations over the frames of a directory (PNG/JPEG, in name
    /// order) by expected free energy: risk, ambiguity, an epistemic bonus
    /// where content changes, over a horizon with discount γ, smoothly.
    Video {
        /// Directory of frames.
        frames_dir: PathBuf,
        /// Tokens per frame (a multiple of 4, 0 < budget < 400 × patches).
        #[arg(long)]
        budget: u64,
        /// Grid, mode, query and precisions.
        #[command(flatten)]
        options: FrontEndOptions,
        /// Frames looked ahead.
        #[arg(long, default_value_t = 4)]
        horizon: usize,
        /// Discount per frame.
        #[arg(long, default_value_t = 0.8)]
        gamma: f64,
        /// Fading of a seen change per frame.
        #[arg(long, default_value_t = 0.5)]
        change_decay: f64,
        /// Weight of ambiguity.
        #[arg(long, default_value_t = 2.0)]
        ambiguity: f64,
        /// Weight of the epistemic bonus.
        #[arg(long, default_value_t = 20.0)]
        epistemic: f64,
        /// Weight of smoothness between frames.
        #[arg(long, default_value_t = 4.0)]
        smoothness: f64,
        /// Print JSON (one object per frame, with its tokens) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The quality benchmark: target and whole-image PSNR and the share of
    /// tokens on target for actinf, uniform, ARR-COC top-200 and random at
    /// equal budgets on synthetic scenes (targets among distractors).
    Quality(QualityArgs),
}

/// The quality benchmark's subcommand arguments live here too.
#[derive(Args)]
pub struct QualityArgs {
    /// Number of scenes (seeds 0, 1, …).
    #[arg(long, default_value_t = 8)]
    scenes: usize,
    /// Uniform levels to compare at (each with actinf at a quarter of its budget).
    #[arg(long, num_args = 1.., default_values_t = [64, 100, 196])]
    levels: Vec<u32>,
    /// Print JSON rows instead of the table.
    #[arg(long)]
    json: bool,
    /// Leave out the scenes on scikit-image's sample photographs.
    #[arg(long)]
    no_photos: bool,
    /// Also write scene 0 and its exemplar as scene.png and exemplar.png into this directory.
    #[arg(long)]
    write_scene: Option<PathBuf>,
}

/// Texture modes on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Area-measured features (see docs/relevance.md).
    Default,
    /// ARR-COC-0-1's texture array and propositional score, reproduced.
    Faithful,
}

/// Options shared by `allocate` and `video`: grid, mode, query, precisions.
#[derive(Args, Clone)]
pub struct FrontEndOptions {
    /// Patches per side.
    #[arg(long, default_value_t = 32)]
    grid: usize,
    /// Texture mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Default)]
    mode: ModeArg,
    /// Query by example: an image (crop) of what is sought.
    #[arg(long)]
    query_image: Option<PathBuf>,
    /// Query embedding from any encoder: `.npy` of shape [D] or [1, D].
    #[arg(long, requires = "patch_embeddings")]
    query_embedding: Option<PathBuf>,
    /// Patch embeddings from the same encoder: `.npy` of shape [grid², D] or [grid, grid, D].
    #[arg(long, requires = "query_embedding")]
    patch_embeddings: Option<PathBuf>,
    /// A text query, embedded with --text-model's CLIP model; the patches get
    /// MaskCLIP dense embeddings from the same model.
    #[arg(long)]
    query: Option<String>,
    /// A local Hugging Face CLIP directory for --query: config.json,
    /// model.safetensors, vocab.json + merges.txt (or tokenizer.json),
    /// preprocessor_config.json.
    #[arg(long, value_name = "DIR")]
    text_model: Option<PathBuf>,
    /// Infer the scorers' precisions (Gamma priors with these means) instead of setting them.
    #[arg(long)]
    infer_precisions: bool,
    /// Precisions (or prior means) of the propositional, perspectival and participatory scorers.
    #[arg(long, num_args = 3, value_names = ["PROP", "PERSP", "PART"], default_values_t = [4.0, 4.0, 32.0])]
    precisions: Vec<f64>,
    /// Scale β of all precisions.
    #[arg(long, default_value_t = 1.0)]
    beta: f64,
}

impl FrontEndOptions {
    fn settings(&self) -> Result<FrontEndSettings> {
        let mut s = FrontEndSettings {
            grid: self.grid,
            mode: match self.mode {
                ModeArg::Default => TextureMode::Default,
                ModeArg::Faithful => TextureMode::Faithful,
            },
            ..Default::default()
        };
        let p = |mean: f64| -> Result<Precision> {
            if !(mean.is_finite() && mean > 0.0) {
                bail!("--precisions: {mean} is not a finite value > 0");
            }
            Ok(if self.infer_precisions {
                // Shape 2: a weak prior with this mean.
                Precision::Inferred {
                    shape: 2.0,
                    rate: 2.0 / mean,
                }
            } else {
                Precision::Fixed(mean)
            })
        };
        s.propositional = p(self.precisions[0])?;
        s.perspectival = p(self.precisions[1])?;
        s.participatory = p(self.precisions[2])?;
        s.allocation.beta = self.beta;
        Ok(s)
    }

    /// The query, prepared once for images of the given size; a text query
    /// loads the CLIP model and embeds the text here, the patches per image.
    fn query(&self, width: usize, height: usize, mode: TextureMode) -> Result<PreparedQuery> {
        let given = [
            self.query_image.is_some(),
            self.query_embedding.is_some(),
            self.query.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if given > 1 {
            bail!(
                "give one query: --query-image, --query-embedding/--patch-embeddings, or --query"
            );
        }
        if self.text_model.is_some() && self.query.is_none() {
            bail!("--text-model is only used with a text --query");
        }
        if let Some(text) = &self.query {
            return text_query(text, self.text_model.as_deref(), self.grid);
        }
        if let Some(path) = &self.query_image {
            let crop = read_image(path)?;
            let e = Exemplar::new(&crop, width, height, self.grid, mode)
                .with_context(|| format!("query image {}", path.display()))?;
            return Ok(PreparedQuery::Fixed(Query::Exemplar(e)));
        }
        if let (Some(q), Some(p)) = (&self.query_embedding, &self.patch_embeddings) {
            let read = |path: &Path| -> Result<_> {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Ok(read_npy(&bytes, &path.display().to_string())?)
            };
            return Ok(PreparedQuery::Fixed(Query::from_embeddings(
                read(p)?,
                read(q)?,
                self.grid,
            )?));
        }
        Ok(PreparedQuery::Fixed(Query::None))
    }
}

/// A text query embedded with a local CLIP model (`--query TEXT --text-model DIR`).
#[cfg(feature = "clip")]
fn text_query(text: &str, text_model: Option<&Path>, grid: usize) -> Result<PreparedQuery> {
    let Some(dir) = text_model else {
        bail!(
                "the text query {text:?} needs a local image–text model: pass --text-model DIR, \
                 a Hugging Face CLIP directory (config.json, model.safetensors, vocab.json, merges.txt, \
                 preprocessor_config.json) downloaded beforehand — no model hub is reachable from here; \
                 or encode the text and the image patches with your own encoder and pass \
                 --query-embedding q.npy --patch-embeddings p.npy, or query by example with --query-image CROP"
            );
    };
    let model = ClipModel::load(dir).with_context(|| format!("--text-model {}", dir.display()))?;
    let embedding = model
        .text_embedding(text)
        .with_context(|| format!("--query {text:?}"))?;
    Ok(PreparedQuery::Text {
        model: Box::new(model),
        embedding,
        grid,
    })
}

/// Without the `clip` feature a text query is refused with the way to turn it on.
#[cfg(not(feature = "clip"))]
fn text_query(text: &str, _text_model: Option<&Path>, _grid: usize) -> Result<PreparedQuery> {
    bail!(
        "the text query {text:?} needs actinf built with text queries (the `clip` cargo feature, \
         off by default because candle makes a cold build several minutes longer): \
         cargo run --release -p actinf-cli --features clip -- relevance ... --query TEXT --text-model DIR; \
         or pass --query-embedding q.npy --patch-embeddings p.npy, or --query-image CROP"
    )
}

/// A query ready for scoring images: the same for every image, or a text
/// embedding whose patch embeddings depend on the image.
enum PreparedQuery {
    /// No query, an exemplar, or external embeddings.
    Fixed(Query),
    /// A text query and the CLIP model that embeds each image's patches.
    #[cfg(feature = "clip")]
    Text {
        model: Box<ClipModel>,
        embedding: Vec<f64>,
        grid: usize,
    },
}

impl PreparedQuery {
    /// The query for one image (for a text query: MaskCLIP patch embeddings
    /// of this image on the front end's grid).
    #[cfg_attr(not(feature = "clip"), allow(unused_variables))]
    fn for_image(&self, image: &RgbImage) -> Result<Cow<'_, Query>> {
        match self {
            Self::Fixed(q) => Ok(Cow::Borrowed(q)),
            #[cfg(feature = "clip")]
            Self::Text {
                model,
                embedding,
                grid,
            } => Ok(Cow::Owned(Query::Embeddings {
                patches: model
                    .patch_embeddings(image, *grid)
                    .context("CLIP patch embeddings")?,
                query: embedding.clone(),
            })),
        }
    }
}

/// Read and decode an image file (with the decoder's size limits).
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(RgbImage::decode(&bytes, &path.display().to_string())?)
}

/// Run a `relevance` subcommand.
pub fn run(command: RelevanceCommand) -> Result<()> {
    match command {
        RelevanceCommand::Allocate {
            image,
            budget,
            options,
            json,
            heatmap,
        } => {
            let img = read_image(&image)?;
            let settings = options.settings()?;
            let query = options.query(img.width(), img.height(), settings.mode)?;
            let mut front = FrontEnd::new(settings)?;
            let result = front.run(&img, &*query.for_image(&img)?, Budget::Total(budget))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&allocation_json(&image, budget, &result))?
                );
            } else {
                print!("{}", allocation_table(budget, &result));
            }
            if let Some(path) = heatmap {
                draw_heatmap(&path, &img, &result)?;
                eprintln!("heat map written to {}", path.display());
            }
        }
        RelevanceCommand::Quality(args) => quality(args)?,
        RelevanceCommand::Video {
            frames_dir,
            budget,
            options,
            horizon,
            gamma,
            change_decay,
            ambiguity,
            epistemic,
            smoothness,
            json,
        } => {
            let planner = PlannerSettings {
                horizon,
                gamma,
                change_decay,
                ambiguity,
                epistemic,
                smoothness,
            };
            video(&frames_dir, budget, &options, planner, json)?
        }
    }
    Ok(())
}

/// The frame files of a directory: PNG or JPEG, sorted by name.
pub fn frame_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the frames directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no PNG or JPEG frames in {}", dir.display());
    }
    Ok(files)
}

fn video(
    dir: &Path,
    budget: u64,
    options: &FrontEndOptions,
    planner: PlannerSettings,
    json: bool,
) -> Result<()> {
    let files = frame_files(dir)?;
    let first = read_image(&files[0])?;
    let (w, h) = (first.width(), first.height());
    let settings = options.settings()?;
    let query = options.query(w, h, settings.mode)?;
    let mut plan = VideoPlanner::new(settings, planner, budget)?;
    if !json {
        println!(
            "{:>5} {:<24} {:>8} {:>8} {:>10} {:>10} {:>10} {:>12} {:>11}",
            "frame", "file", "total", "changed", "risk", "ambiguity", "epistemic", "G", "mean |Δk|"
        );
    }
    for (t, file) in files.iter().enumerate() {
        let frame = if t == 0 {
            first.clone()
        } else {
            read_image(file)?
        };
        if (frame.width(), frame.height()) != (w, h) {
            bail!(
                "frame {} is {}×{}, expected {w}×{h} like the first frame",
                file.display(),
                frame.width(),
                frame.height()
            );
        }
        let p = plan
            .step(&frame, &*query.for_image(&frame)?)
            .with_context(|| format!("frame {}", file.display()))?;
        let total: u64 = p.tokens.iter().map(|&k| k as u64).sum();
        let name = file
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string());
        if json {
            println!(
                "{}",
                json!({
                    "frame": t,
                    "file": file.display().to_string(),
                    "total": total,
                    "lambda": p.lambda,
                    "risk": p.risk,
                    "ambiguity": p.ambiguity,
                    "epistemic": p.epistemic,
                    "expected_free_energy": p.expected_free_energy,
                    "changed_patches": p.changed_patches,
                    "mean_token_change": p.mean_token_change,
                    "tokens": p.tokens,
                })
            );
        } else {
            println!(
                "{t:>5} {name:<24} {total:>8} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>12.2} {:>11.2}",
                p.changed_patches,
                p.risk,
                p.ambiguity,
                p.epistemic,
                p.expected_free_energy,
                p.mean_token_change
            );
        }
    }
    Ok(())
}

fn quality(args: QualityArgs) -> Result<()> {
    use actinf_relevance::quality::{benchmark, sample_photos, synthetic_scene};
    if let Some(dir) = &args.write_scene {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let scene = synthetic_scene(0, 768, 3, 9)?;
        for (name, img) in [
            ("scene.png", &scene.image),
            ("exemplar.png", &scene.exemplar),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, img.encode_png()?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if args.scenes == 0 {
        bail!("--scenes must be at least 1");
    }
    let photos = if args.no_photos {
        Vec::new()
    } else {
        sample_photos()?
    };
    let rows = benchmark(
        &FrontEndSettings::default(),
        args.scenes,
        &photos,
        &args.levels,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!(
        "{:<10} {:>8} {:<16} {:>8} {:>13} {:>12} {:>11}",
        "scenes", "budget", "method", "tokens", "target share", "target PSNR", "image PSNR"
    );
    for r in rows {
        let m = r.result;
        println!(
            "{:<10} {:>8} {:<16} {:>8} {:>12.1}% {:>9.2} dB {:>8.2} dB",
            r.scenes,
            r.budget,
            m.method,
            m.tokens,
            100.0 * m.target_share,
            m.target_psnr,
            m.image_psnr
        );
    }
    println!(
        "(means over {} synthetic scenes and {} photo scenes of 768×768, 3 targets and 9 distractors each; 32×32 patches of 24 px)",
        args.scenes,
        photos.len()
    );
    Ok(())
}

/// The JSON report of one allocation (format in docs/relevance.md).
pub fn allocation_json(image: &Path, budget: u64, r: &FrontEndResult) -> Value {
    let a = &r.allocation;
    let g = r.grid;
    let patches: Vec<Value> = (0..g * g)
        .map(|i| {
            let scores: serde_json::Map<String, Value> = r
                .scorers
                .iter()
                .zip(&r.scores)
                .map(|(name, s)| (name.clone(), json!(s[i])))
                .collect();
            json!({
                "index": i,
                "row": i / g,
                "col": i % g,
                "scores": scores,
                "relevance": a.relevance[i],
                "posterior": a.posterior[i],
                "expected_tokens": a.expected_tokens[i],
                "tokens": a.tokens[i],
            })
        })
        .collect();
    json!({
        "image": image.display().to_string(),
        "grid": g,
        "mode": r.mode,
        "levels": LEVELS,
        "budget": budget,
        "total": a.total,
        "expected_total": a.expected_tokens.iter().sum::<f64>(),
        "lambda": a.lambda,
        "scorers": r.scorers,
        "precisions": a.precisions,
        "elbo": a.elbo,
        "converged": a.converged,
        "patches": patches,
    })
}

/// The table: the token map (tokens per patch, row by row), the level
/// histogram, precisions, λ, the ELBO trace and the total.
pub fn allocation_table(budget: u64, r: &FrontEndResult) -> String {
    use std::fmt::Write;
    let a = &r.allocation;
    let g = r.grid;
    let mut out = String::new();
    let _ = writeln!(out, "tokens per patch ({g}×{g}, row by row):");
    for row in 0..g {
        let line: Vec<String> = (0..g)
            .map(|c| format!("{:>3}", a.tokens[row * g + c]))
            .collect();
        let _ = writeln!(out, "{}", line.join(" "));
    }
    let _ = writeln!(out, "\n{:>6} {:>8}", "level", "patches");
    for l in LEVELS {
        let count = a.tokens.iter().filter(|&&t| t == l).count();
        let _ = writeln!(out, "{l:>6} {count:>8}");
    }
    let _ = writeln!(
        out,
        "\n{:<14} {:>10} {:>10} {:>10}",
        "scorer", "precision", "mean", "max"
    );
    for ((name, s), p) in r.scorers.iter().zip(&r.scores).zip(&a.precisions) {
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(out, "{name:<14} {p:>10.4} {mean:>10.4} {max:>10.4}");
    }
    let _ = writeln!(out, "\nELBO per iteration:");
    for (i, e) in a.elbo.iter().enumerate() {
        let _ = writeln!(out, "{:>4} {e:>16.6}", i + 1);
    }
    let _ = writeln!(
        out,
        "\nλ = {:.6e} per token; expected total {:.3}; allocated {} of budget {budget} ({} patches with tokens)",
        a.lambda,
        a.expected_tokens.iter().sum::<f64>(),
        a.total,
        a.tokens.iter().filter(|&&t| t > 0).count()
    );
    out
}

/// A colour for `t` in [0, 1] (dark blue → yellow).
fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let stops = [
        (0.0, [48, 18, 59]),
        (0.35, [40, 120, 200]),
        (0.7, [90, 200, 100]),
        (1.0, [250, 230, 40]),
    ];
    for w in stops.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if t <= b {
            let f = (t - a) / (b - a);
            let mix = |i: usize| (ca[i] as f64 + f * (cb[i] as f64 - ca[i] as f64)).round() as u8;
            return RGBColor(mix(0), mix(1), mix(2));
        }
    }
    RGBColor(250, 230, 40)
}

/// Draw three panels: the image with patches dimmed by how few tokens they
/// got, the token map, and the precision-weighted relevance.
pub fn draw_heatmap(path: &Path, image: &RgbImage, r: &FrontEndResult) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    let side = 360usize;
    let mut shown = Vec::new();
    AreaResizer::new().resize_into(image, side, side, &mut shown)?;
    let root =
        BitMapBackend::new(path, (3 * side as u32 + 80, side as u32 + 90)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let a = &r.allocation;
    let g = r.grid;
    let title = format!(
        "actinf relevance: {} tokens over {} patches (λ = {:.3e})",
        a.total,
        g * g,
        a.lambda
    );
    root.draw(&Text::new(title, (20, 10), ("sans-serif", 20).into_font()))
        .map_err(|e| err(&e))?;
    let panels = [
        (20i32, "tokens shown on the image"),
        (side as i32 + 40, "tokens per patch (0–400)"),
        (2 * side as i32 + 60, "relevance"),
    ];
    for (x0, label) in panels {
        root.draw(&Text::new(label, (x0, 40), ("sans-serif", 16).into_font()))
            .map_err(|e| err(&e))?;
    }
    let top = 65i32;
    let cell = |i: usize| -> (i32, i32, i32, i32) {
        let (row, col) = (i / g, i % g);
        let (y0, y1) = ((row * side / g) as i32, ((row + 1) * side / g) as i32);
        let (x0, x1) = ((col * side / g) as i32, ((col + 1) * side / g) as i32);
        (y0, y1, x0, x1)
    };
    for y in 0..side {
        for x in 0..side {
            let i = (y * g / side) * g + x * g / side;
            let keep = 0.3 + 0.7 * (a.tokens[i] as f64 / 400.0).sqrt();
            let p = &shown[3 * (y * side + x)..3 * (y * side + x) + 3];
            let c = RGBColor(
                (p[0] as f64 * keep) as u8,
                (p[1] as f64 * keep) as u8,
                (p[2] as f64 * keep) as u8,
            );
            root.draw_pixel((20 + x as i32, top + y as i32), &c)
                .map_err(|e| err(&e))?;
        }
    }
    let rmax = a.relevance.iter().cloned().fold(0.0, f64::max).max(1e-12);
    for i in 0..g * g {
        let (y0, y1, x0, x1) = cell(i);
        for (dx, value) in [
            (side as i32 + 40, a.tokens[i] as f64 / 400.0),
            (2 * side as i32 + 60, a.relevance[i] / rmax),
        ] {
            root.draw(&Rectangle::new(
                [(dx + x0, top + y0), (dx + x1, top + y1)],
                heat(value).filled(),
            ))
            .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
