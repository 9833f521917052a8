//! `config.json` and `preprocessor_config.json`: the numbers the towers and
//! the image preprocessing need, with Hugging Face's defaults where a field
//! is absent (as `CLIPTextConfig`, `CLIPVisionConfig` and
//! `CLIPImageProcessor` define them).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ClipError, Result};

/// The feed-forward nonlinearity (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `quick_gelu`: x·σ(1.702·x), OpenAI CLIP's choice.
    QuickGelu,
    /// `gelu`: x·Φ(x) with the exact normal CDF (erf).
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation of GELU.
    GeluTanh,
}

/// The text tower's hyper-parameters (`text_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    /// Rows of the token embedding.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Context length: the most tokens (with BOS and EOS) a text may have.
    pub max_position_embeddings: usize,
    /// MLP nonlinearity.
    pub hidden_act: Activation,
    /// LayerNorm ε.
    pub layer_norm_eps: f64,
    /// End-of-text id used for pooling (2 marks the legacy argmax pooling).
    pub eos_token_id: u32,
}

/// The vision tower's hyper-parameters (`vision_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Input channels (3 for RGB).
    pub num_channels: usize,
    /// Side of the (square) input image in pixels.
    pub image_size: usize,
    /// Side of a ViT patch in pixels.
    pub patch_size: usize,
    /// MLP nonlinearity.
    pub hidden_act: Activation,
    /// LayerNorm ε.
    pub layer_norm_eps: f64,
}

impl VisionConfig {
    /// Patches per side of the ViT grid, `image_size / patch_size`.
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// The whole `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// Text tower.
    pub text: TextConfig,
    /// Vision tower.
    pub vision: VisionConfig,
    /// Width of the joint embedding space.
    pub projection_dim: usize,
    /// Initial log of the logit scale (kept for reference; cosine scores do not use it).
    pub logit_scale_init_value: f64,
}

/// Pixel normalisation from `preprocessor_config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessorConfig {
    /// Per-channel mean subtracted after rescaling.
    pub image_mean: [f64; 3],
    /// Per-channel standard deviation divided by after subtracting the mean.
    pub image_std: [f64; 3],
    /// Factor taking 8-bit values to [0, 1] (1/255).
    pub rescale_factor: f64,
}

/// OpenAI CLIP's pixel mean (`OPENAI_CLIP_MEAN` in transformers).
pub const OPENAI_CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's pixel standard deviation (`OPENAI_CLIP_STD`).
pub const OPENAI_CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Reads typed fields out of a JSON object, naming the file and the dotted
/// field in errors.
struct Fields<'a> {
    path: &'a Path,
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn err(&self, key: &str, reason: impl Into<String>) -> ClipError {
        ClipError::Config {
            path: self.path.to_path_buf(),
            field: format!("{}{key}", self.prefix),
            reason: reason.into(),
        }
    }

    /// A positive integer, `default` when absent.
    fn usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 && n <= u32::MAX as u64 => Ok(n as usize),
                _ => Err(self.err(key, format!("{v} is not a positive integer"))),
            },
        }
    }

    /// A finite number, `default` when absent.
    fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(self.err(key, format!("{v} is not a finite number"))),
            },
        }
    }

    /// Three finite numbers (a scalar is repeated), `default` when absent.
    fn triple(&self, key: &str, default: [f64; 3]) -> Result<[f64; 3]> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Array(a)) if a.len() == 3 => {
                let mut out = [0.0; 3];
                for (o, v) in out.iter_mut().zip(a) {
                    *o = v
                        .as_f64()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| self.err(key, format!("{v} is not a finite number")))?;
                }
                Ok(out)
            }
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok([x; 3]),
                _ => Err(self.err(key, format!("{v} is not a list of 3 numbers"))),
            },
        }
    }

    fn activation(&self, key: &str) -> Result<Activation> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Activation::QuickGelu),
            Some(Value::String(s)) => match s.as_str() {
                "quick_gelu" => Ok(Activation::QuickGelu),
                "gelu" => Ok(Activation::Gelu),
                "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
                other => Err(ClipError::UnsupportedActivation {
                    path: self.path.to_path_buf(),
                    field: format!("{}{key}", self.prefix),
                    found: other.to_string(),
                }),
            },
            Some(v) => Err(self.err(key, format!("{v} is not a string"))),
        }
    }

    /// A nested object, empty when absent.
    fn object(&self, key: &str) -> Result<Fields<'a>> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let map = match self.map.get(key) {
            None | Some(Value::Null) => EMPTY.get_or_init(Map::new),
            Some(Value::Object(m)) => m,
            Some(v) => return Err(self.err(key, format!("{v} is not an object"))),
        };
        Ok(Fields {
            path: self.path,
            prefix: format!("{}{key}.", self.prefix),
            map,
        })
    }
}

/// Read and parse a JSON object from `path`.
pub(crate) fn read_json(path: &Path, expected: &str) -> Result<Value> {
    if !path.is_file() {
        return Err(ClipError::MissingFile {
            path: path.to_path_buf(),
            expected: expected.to_string(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ClipError::Config {
        path: path.to_path_buf(),
        field: "(document)".into(),
        reason: format!("not valid JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(ClipError::Config {
            path: path.to_path_buf(),
            field: "(document)".into(),
            reason: "expected a JSON object".into(),
        });
    }
    Ok(value)
}

fn root<'a>(path: &'a Path, value: &'a Value) -> Fields<'a> {
    Fields {
        path,
        prefix: String::new(),
        map: value.as_object().expect("read_json returns objects"),
    }
}

impl ClipConfig {
    /// Read `config.json` (a Hugging Face `CLIPConfig`).
    pub fn load(path: &Path) -> Result<Self> {
        let value = read_json(path, "a Hugging Face CLIPConfig (config.json)")?;
        Self::from_value(path, &value)
    }

    fn from_value(path: &Path, value: &Value) -> Result<Self> {
        let top = root(path, value);
        let t = top.object("text_config")?;
        let v = top.object("vision_config")?;
        let eos = match t.map.get("eos_token_id") {
            None | Some(Value::Null) => 49_407,
            Some(x) => x
                .as_u64()
                .filter(|&n| n <= u32::MAX as u64)
                .ok_or_else(|| t.err("eos_token_id", format!("{x} is not a token id")))?
                as u32,
        };
        let text = TextConfig {
            vocab_size: t.usize("vocab_size", 49_408)?,
            hidden_size: t.usize("hidden_size", 512)?,
            intermediate_size: t.usize("intermediate_size", 2048)?,
            num_hidden_layers: t.usize("num_hidden_layers", 12)?,
            num_attention_heads: t.usize("num_attention_heads", 8)?,
            max_position_embeddings: t.usize("max_position_embeddings", 77)?,
            hidden_act: t.activation("hidden_act")?,
            layer_norm_eps: t.f64("layer_norm_eps", 1e-5)?,
            eos_token_id: eos,
        };
        let vision = VisionConfig {
            hidden_size: v.usize("hidden_size", 768)?,
            intermediate_size: v.usize("intermediate_size", 3072)?,
            num_hidden_layers: v.usize("num_hidden_layers", 12)?,
            num_attention_heads: v.usize("num_attention_heads", 12)?,
            num_channels: v.usize("num_channels", 3)?,
            image_size: v.usize("image_size", 224)?,
            patch_size: v.usize("patch_size", 32)?,
            hidden_act: v.activation("hidden_act")?,
            layer_norm_eps: v.f64("layer_norm_eps", 1e-5)?,
        };
        if text.hidden_size % text.num_attention_heads != 0 {
            return Err(t.err(
                "num_attention_heads",
                format!(
                    "{} heads do not divide hidden_size {}",
                    text.num_attention_heads, text.hidden_size
                ),
            ));
        }
        if vision.hidden_size % vision.num_attention_heads != 0 {
            return Err(v.err(
                "num_attention_heads",
                format!(
                    "{} heads do not divide hidden_size {}",
                    vision.num_attention_heads, vision.hidden_size
                ),
            ));
        }
        if vision.patch_size > vision.image_size {
            return Err(v.err(
                "patch_size",
                format!(
                    "{} is larger than image_size {}",
                    vision.patch_size, vision.image_size
                ),
            ));
        }
        if vision.num_channels != 3 {
            return Err(v.err(
                "num_channels",
                format!(
                    "{} channels; only RGB (3) images are supported",
                    vision.num_channels
                ),
            ));
        }
        for (f, eps) in [(&t, text.layer_norm_eps), (&v, vision.layer_norm_eps)] {
            if eps <= 0.0 {
                return Err(f.err("layer_norm_eps", format!("{eps} is not > 0")));
            }
        }
        Ok(Self {
            text,
            vision,
            projection_dim: top.usize("projection_dim", 512)?,
            logit_scale_init_value: top.f64("logit_scale_init_value", 2.6592)?,
        })
    }
}

impl PreprocessorConfig {
    /// Read `preprocessor_config.json` (a `CLIPImageProcessor`'s settings).
    /// Only the normalisation is used: the resize target is the vision
    /// tower's `image_size`, and the whole image is resized (no crop).
    pub fn load(path: &Path) -> Result<Self> {
        let value = read_json(
            path,
            "a CLIPImageProcessor configuration (preprocessor_config.json) with image_mean and image_std",
        )?;
        let top = root(path, &value);
        let image_mean = top.triple("image_mean", OPENAI_CLIP_MEAN)?;
        let image_std = top.triple("image_std", OPENAI_CLIP_STD)?;
        if let Some(s) = image_std.iter().find(|&&s| s <= 0.0) {
            return Err(top.err("image_std", format!("{s} is not > 0")));
        }
        let do_rescale = top.map.get("do_rescale").and_then(Value::as_bool) != Some(false);
        let do_normalize = top.map.get("do_normalize").and_then(Value::as_bool) != Some(false);
        let rescale_factor = if do_rescale {
            top.f64("rescale_factor", 1.0 / 255.0)?
        } else {
            1.0
        };
        let (image_mean, image_std) = if do_normalize {
            (image_mean, image_std)
        } else {
            ([0.0; 3], [1.0; 3])
        };
        Ok(Self {
            image_mean,
            image_std,
            rescale_factor,
        })
    }
}

/// `dir/name`.
pub(crate) fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
