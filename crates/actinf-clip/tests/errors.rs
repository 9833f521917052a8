//! Every way a model directory, a text or an image can be wrong gives an
//! error that names the file, tensor or field and what was expected — and
//! no panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use actinf_clip::{ClipError, ClipModel};
use actinf_relevance::image::RgbImage;
use candle_core::{Device, Tensor};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-clip")
}

/// A fresh copy of the tiny model in a temporary directory, removed on drop.
struct Copy(PathBuf);

impl Copy {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "actinf-clip-errors-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(model_dir()).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let p = self.path("config.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&p, v.to_string()).unwrap();
    }

    fn edit_weights(&self, edit: impl FnOnce(&mut HashMap<String, Tensor>)) {
        let p = self.path("model.safetensors");
        let mut t = candle_core::safetensors::load(&p, &Device::Cpu).unwrap();
        edit(&mut t);
        candle_core::safetensors::save(&t, &p).unwrap();
    }

    fn load_err(&self) -> ClipError {
        match ClipModel::load(&self.0) {
            Ok(_) => panic!("the broken model loaded"),
            Err(e) => e,
        }
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_mentions(e: &ClipError, parts: &[&str]) {
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "{msg:?} does not mention {p:?}");
    }
}

#[test]
fn the_untouched_copy_loads() {
    let c = Copy::new();
    assert!(ClipModel::load(&c.0).is_ok());
}

#[test]
fn missing_directory() {
    let e = ClipModel::load(Path::new("/nonexistent/clip-model"))
        .err()
        .unwrap();
    assert!(matches!(e, ClipError::MissingDirectory { .. }));
    assert_mentions(
        &e,
        &[
            "/nonexistent/clip-model",
            "config.json",
            "model.safetensors",
        ],
    );
}

#[test]
fn missing_files() {
    for (file, expected) in [
        ("config.json", "CLIPConfig"),
        ("preprocessor_config.json", "image_mean"),
        ("model.safetensors", "safetensors"),
    ] {
        let c = Copy::new();
        std::fs::remove_file(c.path(file)).unwrap();
        let e = c.load_err();
        assert!(matches!(e, ClipError::MissingFile { .. }), "{file}: {e}");
        assert_mentions(&e, &[file, expected]);
    }
}

#[test]
fn missing_tokenizer_files() {
    let c = Copy::new();
    for f in ["merges.txt", "tokenizer.json"] {
        std::fs::remove_file(c.path(f)).unwrap();
    }
    let e = c.load_err();
    assert!(matches!(e, ClipError::MissingFile { .. }), "{e}");
    assert_mentions(
        &e,
        &["merges.txt", "vocab.json and merges.txt, or tokenizer.json"],
    );
}

#[test]
fn malformed_json_and_fields() {
    let c = Copy::new();
    std::fs::write(c.path("config.json"), "{ not json").unwrap();
    let e = c.load_err();
    assert!(matches!(e, ClipError::Config { .. }), "{e}");
    assert_mentions(&e, &["config.json", "not valid JSON"]);

    let c = Copy::new();
    c.edit_config(|v| v["text_config"]["hidden_size"] = serde_json::json!("wide"));
    assert_mentions(
        &c.load_err(),
        &["text_config.hidden_size", "positive integer"],
    );

    let c = Copy::new();
    c.edit_config(|v| v["vision_config"]["num_attention_heads"] = serde_json::json!(5));
    assert_mentions(
        &c.load_err(),
        &["vision_config.num_attention_heads", "do not divide"],
    );

    let c = Copy::new();
    c.edit_config(|v| v["text_config"]["eos_token_id"] = serde_json::json!(7));
    assert_mentions(
        &c.load_err(),
        &["text_config.eos_token_id", "<|endoftext|>"],
    );

    let c = Copy::new();
    std::fs::write(
        c.path("preprocessor_config.json"),
        r#"{"image_std": [0.2, 0.0, 0.3]}"#,
    )
    .unwrap();
    assert_mentions(&c.load_err(), &["preprocessor_config.json", "image_std"]);
}

#[test]
fn unsupported_hidden_act() {
    let c = Copy::new();
    c.edit_config(|v| v["vision_config"]["hidden_act"] = serde_json::json!("relu"));
    let e = c.load_err();
    assert!(matches!(e, ClipError::UnsupportedActivation { .. }), "{e}");
    assert_mentions(&e, &["vision_config.hidden_act", "\"relu\"", "quick_gelu"]);
}

#[test]
fn missing_tensor() {
    let c = Copy::new();
    c.edit_weights(|t| {
        t.remove("text_model.encoder.layers.1.mlp.fc2.bias");
    });
    let e = c.load_err();
    assert!(matches!(e, ClipError::MissingTensor { .. }), "{e}");
    assert_mentions(&e, &["text_model.encoder.layers.1.mlp.fc2.bias", "[32]"]);
}

#[test]
fn wrong_tensor_shape() {
    let c = Copy::new();
    c.edit_weights(|t| {
        let w = Tensor::zeros((8, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        t.insert("visual_projection.weight".into(), w);
    });
    let e = c.load_err();
    assert!(matches!(e, ClipError::TensorShape { .. }), "{e}");
    assert_mentions(&e, &["visual_projection.weight", "[8, 32]", "[16, 32]"]);
}

#[test]
fn config_and_weights_disagree() {
    // One more layer in the config than in the file: layer 2's first tensor is missing.
    let c = Copy::new();
    c.edit_config(|v| v["text_config"]["num_hidden_layers"] = serde_json::json!(3));
    assert_mentions(
        &c.load_err(),
        &["text_model.encoder.layers.2.layer_norm1.weight"],
    );
}

#[test]
fn malformed_safetensors_and_merges() {
    let c = Copy::new();
    std::fs::write(c.path("model.safetensors"), b"\x08\0\0\0\0\0\0\0garbage!").unwrap();
    let e = c.load_err();
    assert!(matches!(e, ClipError::Safetensors { .. }), "{e}");
    assert_mentions(&e, &["model.safetensors"]);

    let c = Copy::new();
    std::fs::write(
        c.path("merges.txt"),
        "#version: 0.2\nt h\nthree parts here\n",
    )
    .unwrap();
    let e = c.load_err();
    assert!(matches!(e, ClipError::Merges { line: 3, .. }), "{e}");
}

#[test]
fn text_longer_than_the_context() {
    let model = ClipModel::load(&model_dir()).unwrap();
    let text =
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen";
    let e = model.text_embedding(text).unwrap_err();
    assert!(matches!(e, ClipError::TextTooLong { max: 16, .. }), "{e}");
    assert_mentions(&e, &["16 positions", "max_position_embeddings"]);
    // Ids: empty, too long, out of the vocabulary.
    assert!(matches!(
        model.text_embedding_ids(&[]).unwrap_err(),
        ClipError::SequenceLength { tokens: 0, .. }
    ));
    assert!(matches!(
        model.text_embedding_ids(&[789; 17]).unwrap_err(),
        ClipError::SequenceLength { tokens: 17, .. }
    ));
    assert!(matches!(
        model.text_embedding_ids(&[789, 5000, 790]).unwrap_err(),
        ClipError::TokenOutOfRange {
            id: 5000,
            index: 1,
            ..
        }
    ));
}

#[test]
fn unknown_token_when_the_vocabulary_lacks_a_byte() {
    let c = Copy::new();
    let p = c.path("vocab.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("q</w>");
    std::fs::write(&p, v.to_string()).unwrap();
    let model = ClipModel::load(&c.0).unwrap();
    let e = model.tokenize("iraq").unwrap_err();
    assert!(matches!(e, ClipError::UnknownToken { .. }), "{e}");
    assert_mentions(&e, &["q</w>", "iraq"]);

    let c = Copy::new();
    let p = c.path("vocab.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("<|startoftext|>");
    std::fs::write(&p, v.to_string()).unwrap();
    assert!(matches!(
        c.load_err(),
        ClipError::MissingSpecialToken { .. }
    ));
}

#[test]
fn bad_images_and_grids() {
    let model = ClipModel::load(&model_dir()).unwrap();
    assert!(matches!(
        model.patch_embeddings_rgb(0, 5, &[], 4).unwrap_err(),
        ClipError::EmptyImage {
            width: 0,
            height: 5
        }
    ));
    assert!(matches!(
        model.patch_embeddings_rgb(2, 2, &[0; 11], 4).unwrap_err(),
        ClipError::ImageBuffer {
            expected: 12,
            found: 11,
            ..
        }
    ));
    let img = RgbImage::new(3, 2, vec![100; 18]).unwrap();
    for grid in [0, actinf_clip::MAX_GRID + 1] {
        assert!(matches!(
            model.patch_embeddings(&img, grid).unwrap_err(),
            ClipError::BadGrid { .. }
        ));
    }
    // A tiny image is fine: it is resized up to the model's input.
    assert_eq!(model.patch_embeddings(&img, 2).unwrap().len(), 4 * 16);
}
