//! Compare actinf-clip with a Hugging Face / PyTorch reference in the layout
//! of `tests/fixtures/tiny_clip_reference.json` (as written by
//! `scripts/make_full_size_clip.py`), and time each call.
//!
//! ```text
//! cargo run --release -p actinf-clip --example check_reference -- MODEL_DIR REFERENCE.json IMAGE.png
//! ```
//!
//! Prints ‖rust − torch‖ / ‖torch‖ for every text embedding, the CLS image
//! embedding, the dense embeddings on the ViT grid and on the 4×4 and 9×9
//! grids, and the time of each call; exits non-zero when an error exceeds
//! 1e-5 (f32).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use actinf_clip::ClipModel;
use actinf_relevance::image::RgbImage;
use serde_json::Value;

/// The largest relative error accepted in f32.
const TOLERANCE: f64 = 1e-5;

fn floats(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let diff: f64 = got.iter().zip(want).map(|(a, b)| (a - b).powi(2)).sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    (diff / norm).sqrt()
}

fn run(model_dir: &Path, reference: &Path, image: &Path) -> Result<f64, String> {
    let start = Instant::now();
    let model = ClipModel::load(model_dir).map_err(|e| e.to_string())?;
    println!("load: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    let text = std::fs::read_to_string(reference).map_err(|e| e.to_string())?;
    let r: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(image).map_err(|e| e.to_string())?;
    let img = RgbImage::decode(&bytes, &image.display().to_string()).map_err(|e| e.to_string())?;
    let mut worst = 0.0f64;
    let mut report = |label: &str, got: &[f64], want: Option<Vec<f64>>, ms: f64| {
        let e = want.map_or(f64::INFINITY, |w| relative_error(got, &w));
        worst = worst.max(e);
        println!("{label}: relative error {e:.2e} ({ms:.1} ms)");
    };
    let cases = r["text_embeddings"].as_array().cloned().unwrap_or_default();
    for case in &cases {
        let t = case["text"].as_str().unwrap_or_default();
        let start = Instant::now();
        let got = model.text_embedding(t).map_err(|e| e.to_string())?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        report(&format!("text {t:?}"), &got, floats(&case["embedding"]), ms);
    }
    let start = Instant::now();
    let got = model.image_embedding(&img).map_err(|e| e.to_string())?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    report(
        "CLS image embedding",
        &got,
        floats(&r["image_embedding"]),
        ms,
    );
    let start = Instant::now();
    let got = model
        .vit_patch_embeddings(&img)
        .map_err(|e| e.to_string())?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    report(
        "dense embeddings, ViT grid",
        &got,
        floats(&r["dense_vit"]),
        ms,
    );
    for g in [4usize, 9] {
        let start = Instant::now();
        let got = model.patch_embeddings(&img, g).map_err(|e| e.to_string())?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        report(
            &format!("dense embeddings, grid {g}"),
            &got,
            floats(&r["dense_grids"][g.to_string()]),
            ms,
        );
    }
    let start = Instant::now();
    model
        .patch_embeddings(&img, 32)
        .map_err(|e| e.to_string())?;
    println!(
        "patch embeddings on the 32×32 grid: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(worst)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, reference, image] = args.as_slice() else {
        eprintln!("usage: check_reference MODEL_DIR REFERENCE.json IMAGE.png");
        return ExitCode::from(2);
    };
    match run(Path::new(model), Path::new(reference), Path::new(image)) {
        Ok(worst) if worst <= TOLERANCE => {
            println!("worst relative error {worst:.2e} (tolerance {TOLERANCE:e})");
            ExitCode::SUCCESS
        }
        Ok(worst) => {
            eprintln!("worst relative error {worst:.2e} exceeds {TOLERANCE:e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
