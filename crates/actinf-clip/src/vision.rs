//! The vision tower (Hugging Face `CLIPVisionTransformer` +
//! `visual_projection`) and MaskCLIP's dense patch embeddings.
//!
//! For an image `I` of `S×S` pixels cut into `P×P` patches (`n = (S/P)²`):
//!
//! ```text
//! x⁰   = [c ; Conv_P(I)] + E_pos          c = class_embedding, conv without bias
//! x⁰   ← LN_pre(x⁰)                       (pre_layrnorm)
//! xˡ   = EncoderLayerₗ(xˡ⁻¹),  l = 1 … L  (no mask)
//! f    = W_vis · LN_post(x^L)[0]          (the CLS token; visual_projection, no bias)
//! ```
//!
//! **Dense embeddings (MaskCLIP).** Zhou, Loy & Dai, "Extract Free Dense
//! Labels from CLIP" (ECCV 2022), observe that the last layer's attention
//! pooling mixes every patch into every other, while its value path keeps
//! the patch's own content in CLIP's joint space. Their ViT backbone
//! (`mmseg/models/backbones/vit.py` of the authors' github.com/chongzhou96/MaskCLIP,
//! read in the copy github.com/volgachen/MaskCLIP at commit 3e9f6db: the
//! `return_qkv` branch of `TransformerEncoderLayer.forward` with
//! `final_norm=True`, and `MaskClipHead`'s 1×1 `proj`) computes, for every
//! token `i` of the last layer's input `x = x^{L−1}`:
//!
//! ```text
//! v_i = W_o (W_v LN₁(x_i) + b_v) + b_o + x_i      value path + residual
//! v_i ← v_i + MLP(LN₂(v_i))                         the layer's MLP + residual
//! g_i = W_vis · LN_post(v_i)                        one embedding per patch
//! ```
//!
//! i.e. the last layer with its attention matrix replaced by the identity.
//! The `g_i` of the `n` patch tokens (the CLS token dropped) lie in the
//! same space as text embeddings and are compared with them by cosine.

use candle_core::{DType, Device, Tensor};

use crate::config::VisionConfig;
use crate::error::{CandleContext, Result};
use crate::layers::{encoder, layer_norm, to_f64_vec, EncoderLayer, LayerNorm, LayerShape};
use crate::weights::Weights;

/// The image encoder with its projection into the joint space.
pub struct VisionTower {
    patch_embedding: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layernorm: LayerNorm,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
    projection: Tensor,
    config: VisionConfig,
}

impl VisionTower {
    pub(crate) fn load(w: &Weights, c: &VisionConfig, projection_dim: usize) -> Result<Self> {
        let d = c.hidden_size;
        let p = c.patch_size;
        let n = c.patches_per_side() * c.patches_per_side();
        let shape = LayerShape {
            width: d,
            heads: c.num_attention_heads,
            intermediate: c.intermediate_size,
            act: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        Ok(Self {
            patch_embedding: w.get(
                "vision_model.embeddings.patch_embedding.weight",
                &[d, c.num_channels, p, p],
            )?,
            class_embedding: w.get("vision_model.embeddings.class_embedding", &[d])?,
            position_embedding: w.get(
                "vision_model.embeddings.position_embedding.weight",
                &[n + 1, d],
            )?,
            // "layrnorm" is Hugging Face's spelling.
            pre_layernorm: layer_norm(w, "vision_model.pre_layrnorm", d, c.layer_norm_eps)?,
            layers: encoder(w, "vision_model.encoder", c.num_hidden_layers, shape)?,
            post_layernorm: layer_norm(w, "vision_model.post_layernorm", d, c.layer_norm_eps)?,
            projection: w.get("visual_projection.weight", &[projection_dim, d])?,
            config: c.clone(),
        })
    }

    /// The input side `S` in pixels.
    pub fn image_size(&self) -> usize {
        self.config.image_size
    }

    /// Patches per side of the ViT grid.
    pub fn patches_per_side(&self) -> usize {
        self.config.patches_per_side()
    }

    /// Working precision.
    pub(crate) fn dtype(&self) -> DType {
        self.class_embedding.dtype()
    }

    /// `x^{L−1}`: embeddings, `pre_layrnorm` and all layers but the last,
    /// for normalised pixels `[3, S, S]` (channels first).
    fn before_last_layer(&self, pixels: &[f64]) -> Result<Tensor> {
        let s = self.config.image_size;
        let d = self.config.hidden_size;
        let p = self.config.patch_size;
        let img = Tensor::from_slice(pixels, (1, 3, s, s), &Device::Cpu)
            .and_then(|t| t.to_dtype(self.dtype()))
            .ctx("pixels")?;
        let patches = img
            .conv2d(&self.patch_embedding, 0, p, 1, 1)
            .and_then(|t| {
                let side = t.dim(2)?;
                t.reshape((d, side * side))?.t()
            })
            .ctx("patch_embedding")?; // [n, d]
        let cls = self
            .class_embedding
            .reshape((1, d))
            .ctx("class_embedding")?;
        let x = Tensor::cat(&[&cls, &patches], 0)
            .and_then(|x| x + &self.position_embedding)
            .ctx("embeddings")?;
        let mut x = self.pre_layernorm.forward(&x).ctx("pre_layrnorm")?;
        let last = self.layers.len() - 1;
        for layer in &self.layers[..last] {
            x = layer.forward(&x, None)?;
        }
        Ok(x)
    }

    fn project(&self, x: &Tensor) -> Result<Tensor> {
        let z = self.post_layernorm.forward(x).ctx("post_layernorm")?;
        z.matmul(&self.projection.t().ctx("visual_projection")?)
            .ctx("visual_projection")
    }

    /// The projected CLS embedding (`CLIPModel.get_image_features`).
    pub(crate) fn embed_cls(&self, pixels: &[f64]) -> Result<Vec<f64>> {
        let x = self.before_last_layer(pixels)?;
        let x = self.layers[self.layers.len() - 1].forward(&x, None)?;
        to_f64_vec(&self.project(&x.narrow(0, 0, 1).ctx("CLS token")?)?)
    }

    /// MaskCLIP's dense embeddings: `[n, projection_dim]` row-major, rows in
    /// patch order (row by row of the ViT grid).
    pub(crate) fn embed_patches(&self, pixels: &[f64]) -> Result<Vec<f64>> {
        let x = self.before_last_layer(pixels)?;
        let v = self.layers[self.layers.len() - 1].forward_value_only(&x)?;
        let n = v.dim(0).ctx("patch tokens")? - 1;
        to_f64_vec(&self.project(&v.narrow(0, 1, n).ctx("patch tokens")?)?)
    }
}
