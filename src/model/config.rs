//! Model hyperparameters, read from GGUF metadata (`{arch}.block_count`, ...).

use crate::error::{Error, Result};
use crate::io::Gguf;
use crate::kernels::ops::RopeStyle;

/// Caps that keep a hostile file from asking for absurd buffers before any tensor is read.
const MAX_LAYERS: usize = 1024;
const MAX_DIM: usize = 1 << 16;
const MAX_HEADS: usize = 1024;
const MAX_CONTEXT: usize = 1 << 24;

/// Hyperparameters of a Llama-architecture model.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub arch: String,
    pub n_layers: usize,
    /// Width of the residual stream.
    pub dim: usize,
    /// Width of the FFN's hidden layer.
    pub hidden_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    /// Context length the model was trained for.
    pub seq_len: usize,
    pub rope_base: f32,
    pub rope_style: RopeStyle,
    pub norm_eps: f32,
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config> {
        let arch = g
            .get("general.architecture")
            .ok_or_else(|| Error::metadata("general.architecture", "missing"))?
            .as_str()
            .ok_or_else(|| Error::metadata("general.architecture", "not a string"))?
            .to_string();
        if arch != "llama" {
            return Err(Error::UnsupportedArchitecture(arch));
        }
        let uint = |key: &str, cap: usize| -> Result<usize> {
            let k = format!("{arch}.{key}");
            let v = g.get(&k).ok_or_else(|| Error::metadata(&k, "missing"))?;
            let n = v.as_u64().ok_or_else(|| {
                Error::metadata(&k, format!("expected an unsigned integer, found {v:?}"))
            })?;
            if n == 0 || n > cap as u64 {
                return Err(Error::metadata(
                    &k,
                    format!("value {n} is outside 1..={cap}"),
                ));
            }
            Ok(n as usize)
        };
        let float = |key: &str, default: f32| -> Result<f32> {
            let k = format!("{arch}.{key}");
            match g.get(&k) {
                None => Ok(default),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
                    _ => Err(Error::metadata(
                        &k,
                        format!("expected a positive number, found {v:?}"),
                    )),
                },
            }
        };
        let n_layers = uint("block_count", MAX_LAYERS)?;
        let dim = uint("embedding_length", MAX_DIM)?;
        let hidden_dim = uint("feed_forward_length", 4 * MAX_DIM)?;
        let n_heads = uint("attention.head_count", MAX_HEADS)?;
        let n_kv_heads = if g.get(&format!("{arch}.attention.head_count_kv")).is_some() {
            uint("attention.head_count_kv", MAX_HEADS)?
        } else {
            n_heads
        };
        let seq_len = uint("context_length", MAX_CONTEXT)?;
        if dim % n_heads != 0 {
            return Err(Error::metadata(
                &format!("{arch}.attention.head_count"),
                format!("{n_heads} heads do not divide embedding_length {dim}"),
            ));
        }
        if n_heads % n_kv_heads != 0 {
            return Err(Error::metadata(
                &format!("{arch}.attention.head_count_kv"),
                format!("{n_kv_heads} KV heads do not divide {n_heads} query heads"),
            ));
        }
        let head_dim = dim / n_heads;
        if head_dim % 2 != 0 {
            return Err(Error::metadata(
                &format!("{arch}.attention.head_count"),
                format!("head size {head_dim} is odd; RoPE needs pairs"),
            ));
        }
        if let Some(v) = g.get(&format!("{arch}.rope.dimension_count")) {
            if v.as_u64() != Some(head_dim as u64) {
                return Err(Error::metadata(
                    &format!("{arch}.rope.dimension_count"),
                    format!(
                        "{v:?}: partial rotary embeddings are not supported (head size {head_dim})"
                    ),
                ));
            }
        }
        let vocab_size = match g.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()) {
            Some(tokens) => tokens.len(),
            None => g
                .tensor_infos()
                .iter()
                .find(|t| t.name == "token_embd.weight")
                .map(|t| t.shape[0])
                .unwrap_or(0),
        };
        if vocab_size == 0 {
            return Err(Error::metadata(
                "tokenizer.ggml.tokens",
                "missing, and no token_embd.weight to size the vocabulary",
            ));
        }
        Ok(Config {
            n_layers,
            dim,
            hidden_dim,
            n_heads,
            n_kv_heads,
            head_dim,
            vocab_size,
            seq_len,
            rope_base: float("rope.freq_base", 10_000.0)?,
            // GGUF converters permute Llama q/k weights for GGML's interleaved RoPE.
            rope_style: RopeStyle::Interleaved,
            norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5)?,
            arch,
        })
    }

    /// Width of the keys (and values) of one token: `n_kv_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}
