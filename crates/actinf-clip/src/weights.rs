//! `model.safetensors`: the tensors by their Hugging Face `CLIPModel` names,
//! each checked against the shape the config implies before use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{CandleContext, ClipError, Result};

/// The tensors of one safetensors file, converted on request to the
/// working precision.
pub(crate) struct Weights {
    tensors: HashMap<String, Tensor>,
    path: PathBuf,
    dtype: DType,
}

impl Weights {
    /// Read every tensor of `path` (memory-mapped by candle).
    pub(crate) fn load(path: &Path, dtype: DType) -> Result<Self> {
        if !path.is_file() {
            return Err(ClipError::MissingFile {
                path: path.to_path_buf(),
                expected: "the weights of a Hugging Face CLIPModel in safetensors format".into(),
            });
        }
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            ClipError::Safetensors {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            tensors,
            path: path.to_path_buf(),
            dtype,
        })
    }

    /// The tensor `name`, which must have exactly `shape`, in the working precision.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| ClipError::MissingTensor {
                name: name.to_string(),
                path: self.path.clone(),
                expected: shape.to_vec(),
            })?;
        if t.dims() != shape {
            return Err(ClipError::TensorShape {
                name: name.to_string(),
                path: self.path.clone(),
                expected: shape.to_vec(),
                found: t.dims().to_vec(),
            });
        }
        t.to_dtype(self.dtype).ctx(name)
    }

    /// The working precision.
    pub(crate) fn dtype(&self) -> DType {
        self.dtype
    }
}
