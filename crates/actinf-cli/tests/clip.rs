//! `actinf relevance` with a text query through a local CLIP directory (the
//! tiny model of `crates/actinf-clip/tests/fixtures`): the participatory
//! scorer follows the text, budgets are met, and mistakes are refused with
//! a message and a non-zero exit code.

#![cfg(feature = "clip")]

mod common;

use common::actinf;
use std::path::{Path, PathBuf};

use actinf_relevance::image::RgbImage;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../actinf-clip/tests/fixtures")
}

fn model() -> String {
    fixtures().join("tiny-clip").to_str().unwrap().to_string()
}

fn image() -> String {
    fixtures()
        .join("tiny_clip_image.png")
        .to_str()
        .unwrap()
        .to_string()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("actinf-cli-clip-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The participatory scores of `allocate --json` for a text query.
fn allocate(text: &str) -> Vec<f64> {
    let (img, model) = (image(), model());
    let (ok, out, err) = actinf(&[
        "allocate",
        &img,
        "--budget",
        "256",
        "--grid",
        "8",
        "--query",
        text,
        "--text-model",
        &model,
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 256);
    let patches = v["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 64);
    let tokens: u64 = patches.iter().map(|p| p["tokens"].as_u64().unwrap()).sum();
    assert_eq!(tokens, 256);
    patches
        .iter()
        .map(|p| p["scores"]["participatory"].as_f64().unwrap())
        .collect()
}

#[test]
fn a_text_query_drives_the_participatory_scorer_within_the_budget() {
    let red = allocate("a red striped disc");
    let dog = allocate("the dog slept by the door");
    assert!(red.iter().all(|s| s.is_finite()));
    // The scores vary over the image and depend on the text.
    let spread =
        red.iter().cloned().fold(f64::MIN, f64::max) - red.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 1e-3, "{red:?}");
    assert!(red.iter().zip(&dog).any(|(a, b)| (a - b).abs() > 1e-3));
    // Deterministic.
    assert_eq!(red, allocate("a red striped disc"));
}

#[test]
fn video_embeds_the_patches_of_every_frame() {
    let d = dir().join("frames");
    std::fs::create_dir_all(&d).unwrap();
    let bytes = std::fs::read(image()).unwrap();
    let first = RgbImage::decode(&bytes, "image").unwrap();
    // The second frame: the image shifted right by 8 pixels.
    let (w, h) = (first.width(), first.height());
    let mut px = first.pixels().to_vec();
    for y in 0..h {
        for x in (8..w).rev() {
            let (dst, src) = (3 * (y * w + x), 3 * (y * w + x - 8));
            px.copy_within(src..src + 3, dst);
        }
    }
    let second = RgbImage::new(w, h, px).unwrap();
    std::fs::write(d.join("f000.png"), first.encode_png().unwrap()).unwrap();
    std::fs::write(d.join("f001.png"), second.encode_png().unwrap()).unwrap();
    let (ok, out, err) = actinf(&[
        "video",
        d.to_str().unwrap(),
        "--budget",
        "256",
        "--grid",
        "8",
        "--query",
        "a red striped disc",
        "--text-model",
        &model(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let frames: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 2);
    for f in &frames {
        assert_eq!(f["total"], 256);
    }
}

#[test]
fn text_query_mistakes_are_refused_with_a_message() {
    let (img, model) = (image(), model());
    let broken = dir().join("no-weights");
    std::fs::create_dir_all(&broken).unwrap();
    for f in [
        "config.json",
        "vocab.json",
        "merges.txt",
        "preprocessor_config.json",
    ] {
        std::fs::copy(fixtures().join("tiny-clip").join(f), broken.join(f)).unwrap();
    }
    let long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["allocate", &img, "--budget", "64", "--query", "a red disc"],
            vec![
                "--text-model DIR",
                "config.json",
                "model.safetensors",
                "--query-embedding",
                "--query-image",
            ],
        ),
        (
            vec!["allocate", &img, "--budget", "64", "--text-model", &model],
            vec!["--text-model is only used with a text --query"],
        ),
        (
            vec![
                "allocate",
                &img,
                "--budget",
                "64",
                "--query",
                "a disc",
                "--text-model",
                broken.to_str().unwrap(),
            ],
            vec!["model.safetensors", "missing"],
        ),
        (
            vec![
                "allocate",
                &img,
                "--budget",
                "64",
                "--query",
                long,
                "--text-model",
                &model,
            ],
            vec!["max_position_embeddings", "shorten"],
        ),
        (
            vec![
                "allocate",
                &img,
                "--budget",
                "64",
                "--query",
                "a disc",
                "--text-model",
                &model,
                "--query-image",
                &img,
            ],
            vec!["give one query"],
        ),
        (
            vec![
                "video",
                "/no/such/frames",
                "--budget",
                "64",
                "--query",
                "a disc",
            ],
            vec!["cannot read the frames directory"],
        ),
    ];
    for (args, needles) in cases {
        let (ok, _, err) = actinf(&args);
        assert!(!ok, "{args:?} should fail");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
        }
    }
}
