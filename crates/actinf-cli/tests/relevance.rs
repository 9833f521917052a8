//! `actinf relevance allocate`: the allocation meets the budget, every query
//! form runs, and bad input is refused with a clear message and a non-zero
//! exit code.

mod common;

use common::actinf;
use std::path::PathBuf;

use actinf_relevance::npy::write_npy_f32;
use actinf_relevance::quality::synthetic_scene;
use serde_json::Value;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("actinf-relevance-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A 256×256 scene and its exemplar as PNG files.
fn scene_files() -> (PathBuf, PathBuf) {
    let d = dir();
    let scene = synthetic_scene(5, 256, 2, 4).unwrap();
    let (img, ex) = (d.join("scene.png"), d.join("exemplar.png"));
    std::fs::write(&img, scene.image.encode_png().unwrap()).unwrap();
    std::fs::write(&ex, scene.exemplar.encode_png().unwrap()).unwrap();
    (img, ex)
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn allocate_with_an_exemplar_meets_the_budget_and_draws() {
    let (img, ex) = scene_files();
    let heat = dir().join("heat.png");
    let (ok, out, err) = actinf(&[
        "allocate",
        path(&img),
        "--budget",
        "25600",
        "--query-image",
        path(&ex),
        "--json",
        "--heatmap",
        path(&heat),
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 25600);
    assert!((v["expected_total"].as_f64().unwrap() - 25600.0).abs() < 1e-4);
    let patches = v["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 1024);
    let sum: u64 = patches.iter().map(|p| p["tokens"].as_u64().unwrap()).sum();
    assert_eq!(sum, 25600);
    assert_eq!(v["scorers"].as_array().unwrap().len(), 3);
    assert!(!v["elbo"].as_array().unwrap().is_empty());
    assert!(std::fs::metadata(&heat).unwrap().len() > 1000);

    // The table form prints the total too; inferred precisions iterate.
    let (ok, out, err) = actinf(&[
        "allocate",
        path(&img),
        "--budget",
        "25600",
        "--infer-precisions",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("allocated 25600 of budget 25600"), "{out}");
}

#[test]
fn allocate_with_embeddings() {
    let (img, _) = scene_files();
    let d = dir();
    let (q, p) = (d.join("q.npy"), d.join("p.npy"));
    std::fs::write(&q, write_npy_f32(&[4], &[1.0, 0.0, 0.0, 0.0])).unwrap();
    let rows: Vec<f32> = (0..1024 * 4).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
    std::fs::write(&p, write_npy_f32(&[32, 32, 4], &rows)).unwrap();
    let (ok, out, err) = actinf(&[
        "allocate",
        path(&img),
        "--budget",
        "4096",
        "--query-embedding",
        path(&q),
        "--patch-embeddings",
        path(&p),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 4096);

    // Wrong shapes name the array and what was expected.
    std::fs::write(&p, write_npy_f32(&[1000, 4], &rows[..4000])).unwrap();
    let (ok, _, err) = actinf(&[
        "allocate",
        path(&img),
        "--budget",
        "4096",
        "--query-embedding",
        path(&q),
        "--patch-embeddings",
        path(&p),
    ]);
    assert!(!ok);
    assert!(
        err.contains("patch embeddings") && err.contains("[1024, 4]"),
        "{err}"
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    let (img, _) = scene_files();
    let d = dir();
    let empty = d.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let garbage = d.join("garbage.png");
    std::fs::write(&garbage, b"\x89PNG but not really").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["allocate", path(&img), "--budget", "25601"],
            "multiple of 4",
        ),
        (
            vec!["allocate", path(&img), "--budget", "409600"],
            "0 < budget < 409600",
        ),
        (vec!["allocate", path(&img), "--budget", "0"], "0 < budget"),
        (
            vec!["allocate", "/no/such/file.png", "--budget", "64"],
            "cannot read",
        ),
        (vec!["allocate", path(&empty), "--budget", "64"], "empty"),
        (
            vec!["allocate", path(&garbage), "--budget", "64"],
            "cannot decode",
        ),
        (
            vec![
                "allocate",
                path(&img),
                "--budget",
                "64",
                "--query",
                "a red disc",
            ],
            "--query-embedding",
        ),
        (
            vec!["allocate", path(&img), "--budget", "64", "--grid", "0"],
            "grid",
        ),
    ];
    for (args, needle) in cases {
        let (ok, _, err) = actinf(&args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn video_plans_every_frame_within_the_budget() {
    let d = dir().join("frames");
    std::fs::create_dir_all(&d).unwrap();
    let scene = synthetic_scene(8, 256, 2, 4).unwrap();
    for t in 0..3 {
        let mut px = scene.image.pixels().to_vec();
        // A bright square moving right.
        for y in 100..140 {
            for x in (40 + 30 * t)..(80 + 30 * t) {
                px[3 * (y * 256 + x)..3 * (y * 256 + x) + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let img = actinf_relevance::image::RgbImage::new(256, 256, px).unwrap();
        std::fs::write(d.join(format!("f{t:03}.png")), img.encode_png().unwrap()).unwrap();
    }
    let (ok, out, err) = actinf(&["video", path(&d), "--budget", "25600", "--json"]);
    assert!(ok, "{err}");
    let frames: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 3);
    for f in &frames {
        assert_eq!(f["total"], 25600);
    }
    assert!(frames[1]["changed_patches"].as_u64().unwrap() > 0);

    let empty = dir().join("no-frames");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, _, err) = actinf(&["video", path(&empty), "--budget", "25600"]);
    assert!(!ok && err.contains("no PNG or JPEG frames"), "{err}");
    let (ok, _, err) = actinf(&["video", path(&d), "--budget", "25600", "--gamma", "1.5"]);
    assert!(!ok && err.contains("gamma"), "{err}");
}

#[test]
fn faithful_mode_runs_with_an_exemplar() {
    let (img, ex) = scene_files();
    let (ok, out, err) = actinf(&[
        "allocate",
        path(&img),
        "--budget",
        "51200",
        "--mode",
        "faithful",
        "--query-image",
        path(&ex),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mode"], "faithful");
    assert_eq!(v["total"], 51200);

    // A directory that is not a CLIP model: the message names the missing file.
    let not_a_model = dir().join("not-a-model");
    std::fs::create_dir_all(&not_a_model).unwrap();
    let (ok, _, err) = actinf(&[
        "allocate",
        path(&img),
        "--budget",
        "64",
        "--query",
        "a red disc",
        "--text-model",
        path(&not_a_model),
    ]);
    if cfg!(feature = "clip") {
        assert!(
            !ok && err.contains("--text-model") && err.contains("config.json"),
            "{err}"
        );
    } else {
        // Built without text queries: the message says how to turn them on.
        assert!(!ok && err.contains("--features clip"), "{err}");
    }
}
