//! The text tower (Hugging Face `CLIPTextTransformer` + `text_projection`).
//!
//! For token ids `t₀ … t_{n−1}` (with `<|startoftext|>` and `<|endoftext|>`):
//!
//! ```text
//! x⁰_i = E_tok[t_i] + E_pos[i]
//! xˡ   = EncoderLayerₗ(xˡ⁻¹)  with the causal mask (token i sees tokens ≤ i)
//! z    = LN_final(x^L)[e]     e = the end-of-text position
//! f    = W_text z             (text_projection, no bias)
//! ```
//!
//! The pooled position `e` follows `CLIPTextTransformer`: configs with the
//! legacy `eos_token_id == 2` take the position of the largest id (the
//! end-of-text id is the last entry of OpenAI's vocabulary); others take
//! the first occurrence of `eos_token_id`.

use candle_core::{Device, Tensor};

use crate::config::TextConfig;
use crate::error::{CandleContext, ClipError, Result};
use crate::layers::{
    causal_mask, encoder, layer_norm, to_f64_vec, EncoderLayer, LayerNorm, LayerShape,
};
use crate::weights::Weights;

/// The text encoder with its projection into the joint space.
pub struct TextTower {
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
    projection: Tensor,
    config: TextConfig,
}

impl TextTower {
    pub(crate) fn load(w: &Weights, c: &TextConfig, projection_dim: usize) -> Result<Self> {
        let d = c.hidden_size;
        let shape = LayerShape {
            width: d,
            heads: c.num_attention_heads,
            intermediate: c.intermediate_size,
            act: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        Ok(Self {
            token_embedding: w.get(
                "text_model.embeddings.token_embedding.weight",
                &[c.vocab_size, d],
            )?,
            position_embedding: w.get(
                "text_model.embeddings.position_embedding.weight",
                &[c.max_position_embeddings, d],
            )?,
            layers: encoder(w, "text_model.encoder", c.num_hidden_layers, shape)?,
            final_layer_norm: layer_norm(w, "text_model.final_layer_norm", d, c.layer_norm_eps)?,
            projection: w.get("text_projection.weight", &[projection_dim, d])?,
            config: c.clone(),
        })
    }

    /// The position pooled for the text embedding.
    pub fn pooled_position(&self, ids: &[u32]) -> usize {
        let eos = self.config.eos_token_id;
        if eos == 2 {
            // Legacy configs: argmax of the ids, first maximum on ties.
            let mut best = 0;
            for (i, &id) in ids.iter().enumerate() {
                if id > ids[best] {
                    best = i;
                }
            }
            best
        } else {
            ids.iter().position(|&id| id == eos).unwrap_or(0)
        }
    }

    /// The projected text embedding of a full id sequence (markers included).
    /// Fails on an empty, too long or out-of-vocabulary sequence.
    pub fn embed_ids(&self, ids: &[u32]) -> Result<Vec<f64>> {
        let n = ids.len();
        let max = self.config.max_position_embeddings;
        if n == 0 || n > max {
            return Err(ClipError::SequenceLength { tokens: n, max });
        }
        if let Some((index, &id)) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= self.config.vocab_size)
        {
            return Err(ClipError::TokenOutOfRange {
                id,
                index,
                vocab_size: self.config.vocab_size,
            });
        }
        let dtype = self.token_embedding.dtype();
        let idx = Tensor::new(ids, &Device::Cpu).ctx("token ids")?;
        let mut x = (self
            .token_embedding
            .index_select(&idx, 0)
            .ctx("token embedding")?
            + self
                .position_embedding
                .narrow(0, 0, n)
                .ctx("position embedding")?)
        .ctx("embeddings")?;
        let mask = causal_mask(n, dtype)?;
        for layer in &self.layers {
            x = layer.forward(&x, Some(&mask))?;
        }
        let e = self.pooled_position(ids);
        let z = self
            .final_layer_norm
            .forward(&x.narrow(0, e, 1).ctx("pooling")?)
            .ctx("final_layer_norm")?;
        let f = z
            .matmul(&self.projection.t().ctx("text_projection")?)
            .ctx("text_projection")?;
        to_f64_vec(&f)
    }
}
