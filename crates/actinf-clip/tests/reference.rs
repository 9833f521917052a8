//! The tiny CLIP model against Hugging Face / PyTorch (float64) outputs made
//! by `scripts/make_tiny_clip.py`: token ids exactly, embeddings within a
//! relative tolerance (‖rust − torch‖ / ‖torch‖).

use std::path::{Path, PathBuf};

use actinf_clip::{ClipModel, Precision};
use actinf_relevance::image::RgbImage;
use serde_json::Value;

/// Relative tolerance in 32-bit precision.
const TOL_F32: f64 = 2e-6;
/// Relative tolerance in 64-bit precision.
const TOL_F64: f64 = 1e-12;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model_dir() -> PathBuf {
    fixtures().join("tiny-clip")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("tiny_clip_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// ‖a − b‖ / ‖b‖ (lengths must agree).
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    diff / norm
}

fn image() -> RgbImage {
    let bytes = std::fs::read(fixtures().join("tiny_clip_image.png")).unwrap();
    RgbImage::decode(&bytes, "tiny_clip_image.png").unwrap()
}

fn check(label: &str, got: &[f64], want: &[f64], tol: f64) {
    let e = rel_err(got, want);
    eprintln!("{label}: relative error {e:.3e}");
    assert!(e <= tol, "{label}: relative error {e:.3e} > {tol:e}");
}

#[test]
fn token_ids_match_hugging_face_exactly() {
    let model = ClipModel::load(&model_dir()).unwrap();
    let r = reference();
    let cases = r["tokens"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            model.tokenize(text).unwrap(),
            ids(&case["ids"]),
            "text {text:?}"
        );
    }
    let t = &r["truncated"];
    let got = model
        .tokenizer()
        .encode_truncated(
            t["text"].as_str().unwrap(),
            t["max_length"].as_u64().unwrap() as usize,
        )
        .unwrap();
    assert_eq!(got, ids(&t["ids"]));
}

#[test]
fn tokenizer_json_alone_gives_the_same_ids() {
    let dir = std::env::temp_dir().join(format!("actinf-clip-tokjson-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let tok = actinf_clip::Tokenizer::load(&dir).unwrap();
    for case in reference()["tokens"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            tok.encode(text).unwrap(),
            ids(&case["ids"]),
            "text {text:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn embeddings_match(precision: Precision, tol: f64) {
    let model = ClipModel::load_with_precision(&model_dir(), precision).unwrap();
    let r = reference();
    let p = format!("{precision:?}");
    for case in r["text_embeddings"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let got = model.text_embedding(text).unwrap();
        assert_eq!(got.len(), 16);
        check(
            &format!("{p} text {text:?}"),
            &got,
            &floats(&case["embedding"]),
            tol,
        );
    }
    let img = image();
    let pixels = model
        .preprocess(img.width(), img.height(), img.pixels())
        .unwrap();
    check(
        &format!("{p} pixel values"),
        &pixels,
        &floats(&r["pixel_values"]),
        1e-12,
    );
    check(
        &format!("{p} image (CLS)"),
        &model.image_embedding(&img).unwrap(),
        &floats(&r["image_embedding"]),
        tol,
    );
    assert_eq!(model.vit_grid() as u64, r["vit_grid"].as_u64().unwrap());
    check(
        &format!("{p} dense, ViT grid"),
        &model.vit_patch_embeddings(&img).unwrap(),
        &floats(&r["dense_vit"]),
        tol,
    );
    for (grid, want) in r["dense_grids"].as_object().unwrap() {
        let g: usize = grid.parse().unwrap();
        let got = model.patch_embeddings(&img, g).unwrap();
        assert_eq!(got.len(), g * g * 16);
        check(&format!("{p} dense, grid {g}"), &got, &floats(want), tol);
    }
}

#[test]
fn embeddings_match_pytorch_in_f32() {
    embeddings_match(Precision::F32, TOL_F32);
}

#[test]
fn embeddings_match_pytorch_in_f64() {
    embeddings_match(Precision::F64, TOL_F64);
}

#[test]
fn dense_embeddings_differ_from_the_cls_path_and_between_patches() {
    // Guards against a dense path that silently returns the CLS token or a
    // constant: the MaskCLIP patches must vary across the image.
    let model = ClipModel::load(&model_dir()).unwrap();
    let img = image();
    let dense = model.vit_patch_embeddings(&img).unwrap();
    let d = model.embedding_dim();
    let first = &dense[..d];
    assert!(dense.chunks(d).any(|row| rel_err(row, first) > 1e-3));
    let cls = model.image_embedding(&img).unwrap();
    assert!(dense.chunks(d).all(|row| rel_err(row, &cls) > 1e-6));
}
