//! The transformer pieces shared by both towers: linear maps, LayerNorm,
//! the MLP, multi-head self-attention and the pre-LN encoder layer.
//!
//! Activations are `[tokens, width]` matrices (one image or one text at a
//! time). With `LN` a LayerNorm, `MHA` multi-head attention and `MLP` the
//! two-layer perceptron, an encoder layer maps
//!
//! ```text
//! h = x + MHA(LN₁(x))
//! y = h + MLP(LN₂(h)),      MLP(z) = W₂ act(W₁ z + b₁) + b₂
//! ```

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::Linear;

use crate::config::Activation;
use crate::error::{CandleContext, Result};
use crate::weights::Weights;

/// `name.weight` `[out, inp]` and `name.bias` `[out]` (when `bias`).
pub(crate) fn linear(
    w: &Weights,
    name: &str,
    inp: usize,
    out: usize,
    bias: bool,
) -> Result<Linear> {
    let weight = w.get(&format!("{name}.weight"), &[out, inp])?;
    let bias = if bias {
        Some(w.get(&format!("{name}.bias"), &[out])?)
    } else {
        None
    };
    Ok(Linear::new(weight, bias))
}

/// `LN(x) = (x − μ)/√(σ² + ε)·γ + β` over the last axis, with μ and σ² the
/// mean and (biased) variance of each row.
pub(crate) struct LayerNorm {
    gamma: Tensor,
    beta: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mu = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mu)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.gamma)?
            .broadcast_add(&self.beta)
    }
}

/// `name.weight` (γ) and `name.bias` (β), both `[width]`.
pub(crate) fn layer_norm(w: &Weights, name: &str, width: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm {
        gamma: w.get(&format!("{name}.weight"), &[width])?,
        beta: w.get(&format!("{name}.bias"), &[width])?,
        eps,
    })
}

/// Apply `act` elementwise.
pub(crate) fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        // x·σ(1.702x) = x / (1 + e^(−1.702x))
        Activation::QuickGelu => x.div(&((x * -1.702)?.exp()? + 1.0)?),
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
    }
}

/// Hyper-parameters of one encoder layer.
#[derive(Clone, Copy)]
pub(crate) struct LayerShape {
    pub width: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub act: Activation,
    pub eps: f64,
}

/// Multi-head self-attention: per head `softmax(Q Kᵀ/√d_h + M) V`, heads
/// concatenated, then the output projection. `M` is the causal mask for
/// text (−∞ above the diagonal) and zero for images.
pub(crate) struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(w: &Weights, name: &str, s: LayerShape) -> Result<Self> {
        let proj = |p: &str| linear(w, &format!("{name}.{p}"), s.width, s.width, true);
        Ok(Self {
            q: proj("q_proj")?,
            k: proj("k_proj")?,
            v: proj("v_proj")?,
            out: proj("out_proj")?,
            heads: s.heads,
            head_dim: s.width / s.heads,
        })
    }

    /// `[tokens, width]` → `[heads, tokens, head_dim]`.
    fn split_heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let t = x.dim(0)?;
        x.reshape((t, self.heads, self.head_dim))?
            .transpose(0, 1)?
            .contiguous()
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (t, width) = x.dims2()?;
        let scale = (self.head_dim as f64).powf(-0.5);
        let q = self.split_heads(&(self.q.forward(x)? * scale)?)?;
        let k = self.split_heads(&self.k.forward(x)?)?;
        let v = self.split_heads(&self.v.forward(x)?)?;
        let mut scores = q.matmul(&k.t()?)?; // [heads, t, t]
        if let Some(m) = mask {
            scores = scores.broadcast_add(m)?;
        }
        let p = candle_nn::ops::softmax_last_dim(&scores)?;
        let o = p.matmul(&v)?.transpose(0, 1)?.reshape((t, width))?;
        self.out.forward(&o)
    }

    /// The value path alone: `W_o (W_v x + b_v) + b_o` for every token
    /// (what attention would give if each token attended only to itself).
    fn value_only(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.out.forward(&self.v.forward(x)?)
    }
}

/// `W₂ act(W₁ z + b₁) + b₂`.
pub(crate) struct Mlp {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

impl Mlp {
    fn load(w: &Weights, name: &str, s: LayerShape) -> Result<Self> {
        Ok(Self {
            fc1: linear(w, &format!("{name}.fc1"), s.width, s.intermediate, true)?,
            fc2: linear(w, &format!("{name}.fc2"), s.intermediate, s.width, true)?,
            act: s.act,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.fc2
            .forward(&activate(&self.fc1.forward(x)?, self.act)?)
    }
}

/// One pre-LN encoder layer (`{prefix}.layers.N` in Hugging Face naming).
pub(crate) struct EncoderLayer {
    ln1: LayerNorm,
    attn: Attention,
    ln2: LayerNorm,
    mlp: Mlp,
}

impl EncoderLayer {
    pub(crate) fn load(w: &Weights, name: &str, s: LayerShape) -> Result<Self> {
        Ok(Self {
            ln1: layer_norm(w, &format!("{name}.layer_norm1"), s.width, s.eps)?,
            attn: Attention::load(w, &format!("{name}.self_attn"), s)?,
            ln2: layer_norm(w, &format!("{name}.layer_norm2"), s.width, s.eps)?,
            mlp: Mlp::load(w, &format!("{name}.mlp"), s)?,
        })
    }

    /// `h = x + MHA(LN₁ x)`, `y = h + MLP(LN₂ h)`.
    pub(crate) fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let h = (x + self
            .attn
            .forward(&self.ln1.forward(x).ctx("layer_norm1")?, mask)
            .ctx("self_attn")?)
        .ctx("attention residual")?;
        self.mlp_residual(&h)
    }

    /// `y = h + MLP(LN₂ h)`, the second half of both paths.
    fn mlp_residual(&self, h: &Tensor) -> Result<Tensor> {
        (h + self
            .mlp
            .forward(&self.ln2.forward(h).ctx("layer_norm2")?)
            .ctx("mlp")?)
        .ctx("mlp residual")
    }

    /// MaskCLIP's dense path through this layer: attention replaced by its
    /// value path, residuals and MLP kept:
    /// `h = x + W_o (W_v LN₁(x) + b_v) + b_o`, `y = h + MLP(LN₂ h)`.
    pub(crate) fn forward_value_only(&self, x: &Tensor) -> Result<Tensor> {
        let v = self
            .attn
            .value_only(&self.ln1.forward(x).ctx("layer_norm1")?)
            .ctx("value path")?;
        let h = (x + v).ctx("value residual")?;
        self.mlp_residual(&h)
    }
}

/// Load `{prefix}.layers.0 … layers.{n−1}`.
pub(crate) fn encoder(
    w: &Weights,
    prefix: &str,
    n: usize,
    s: LayerShape,
) -> Result<Vec<EncoderLayer>> {
    (0..n)
        .map(|i| EncoderLayer::load(w, &format!("{prefix}.layers.{i}"), s))
        .collect()
}

/// The causal mask `[t, t]`: 0 on and below the diagonal, −∞ above.
pub(crate) fn causal_mask(t: usize, dtype: DType) -> Result<Tensor> {
    let m: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(m, (t, t), &Device::Cpu)
        .and_then(|m| m.to_dtype(dtype))
        .ctx("causal mask")
}

/// A `[1, n]` or `[n]` tensor as f64 values.
pub(crate) fn to_f64_vec(t: &Tensor) -> Result<Vec<f64>> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_vec1::<f64>())
        .ctx("reading the result")
}
