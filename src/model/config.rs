//! Model hyperparameters: one `Config` describes every supported architecture (Llama 1-3,
//! Mistral, Qwen2, Qwen3, Phi-3, Gemma 2, Gemma 3, SmolLM3, GPT-2) as a set of switches the
//! one forward pass reads.
//!
//! `from_gguf` reads GGUF metadata (`{arch}.block_count`, ...); `model::hf` reads a
//! Hugging Face `config.json` into the same struct.

use crate::error::{Error, Result};
use crate::io::Gguf;
use crate::kernels::ops::RopeStyle;

/// Caps that keep a hostile file from asking for absurd buffers before any tensor is read.
pub(crate) const MAX_LAYERS: usize = 1024;
pub(crate) const MAX_DIM: usize = 1 << 16;
pub(crate) const MAX_HEADS: usize = 1024;
pub(crate) const MAX_CONTEXT: usize = 1 << 24;

/// The model families ingot implements. Each is a combination of the switches below, not
/// a separate forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama 1-3, SmolLM, TinyLlama; Mistral (Llama with a sliding window).
    Llama,
    /// Llama with biases on the q, k and v projections.
    Qwen2,
    /// Qwen3: Llama with an RMSNorm of each q and k head (QK-norm), no biases.
    Qwen3,
    /// Phi-3: q, k, v in one matrix, gate and up in one matrix, LongRoPE scaling.
    Phi3,
    /// Gemma 2: alternating sliding-window and global layers, attention-logit and final
    /// soft-capping, GeGLU, sandwich norms.
    Gemma2,
    /// Gemma 3: local (sliding-window) and global layers, QK-norm, GeGLU, sandwich norms.
    Gemma3,
    /// SmolLM3: Llama with every fourth layer without RoPE (NoPE).
    SmolLm3,
    /// GPT-2: LayerNorm with bias, plain GELU MLP, learned positions, biases everywhere.
    Gpt2,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Phi3 => "phi3",
            Arch::Gemma2 => "gemma2",
            Arch::Gemma3 => "gemma3",
            Arch::SmolLm3 => "smollm3",
            Arch::Gpt2 => "gpt2",
        }
    }
}

/// The normalisation before each sub-layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// `x / rms(x) * w` (Zhang & Sennrich 2019).
    Rms,
    /// `(x - mean) / std * w + b` (Ba et al. 2016).
    Layer,
}

/// The feed-forward block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ffn {
    /// `down(silu(gate(x)) * up(x))` (SwiGLU, Shazeer 2020).
    SiluGated,
    /// `down(gelu_tanh(gate(x)) * up(x))` (GeGLU).
    GeluGated,
    /// `down(gelu_tanh(up(x) + b) ) + b` (GPT-2's MLP).
    Gelu,
}

/// How RoPE frequencies are stretched for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (all frequencies divided by it).
    Linear(f32),
    /// Llama 3.1's: low frequencies divided by `factor`, high ones kept, a smooth ramp
    /// between (`rope_type: "llama3"`).
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_context: usize,
    },
    /// Per-frequency divisors (GGUF `rope_freqs.weight`, which llama.cpp's converter
    /// writes for Llama 3.1+ instead of the parameters above).
    Factors(Vec<f32>),
    /// LongRoPE (Phi-3 "su"): per-frequency divisors, `short` while the sequence fits the
    /// original context and `long` beyond it (as Hugging Face decides, by the largest
    /// position of each forward pass), and cos/sin multiplied by `attn_factor`.
    LongRope {
        short: Vec<f32>,
        long: Vec<f32>,
        original_context: usize,
        attn_factor: f32,
    },
}

/// Rotary position embeddings (Su et al. 2021).
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    pub style: RopeStyle,
    /// Base of the global (full-attention) layers.
    pub base: f32,
    /// Scaling of the global layers.
    pub scaling: RopeScaling,
    /// The sliding-window layers' own base, unscaled (Gemma 3's `rope_local_base_freq`);
    /// `None` when they share the global layers' RoPE (Mistral, Gemma 2, Phi-3).
    pub local_base: Option<f32>,
}

/// Hyperparameters of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub arch: Arch,
    pub n_layers: usize,
    /// Width of the residual stream.
    pub dim: usize,
    /// Width of the FFN's hidden layer.
    pub hidden_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// Width of one head; Gemma's differs from `dim / n_heads`.
    pub head_dim: usize,
    pub vocab_size: usize,
    /// Context length the model was trained for.
    pub seq_len: usize,
    pub norm: NormKind,
    pub norm_eps: f32,
    pub ffn: Ffn,
    /// `None` for learned absolute positions (GPT-2).
    pub rope: Option<Rope>,
    /// Attention score scale, usually `1/sqrt(head_dim)`.
    pub attn_scale: f32,
    /// Attention scores become `cap * tanh(score / cap)` before the softmax (Gemma 2).
    pub attn_softcap: Option<f32>,
    /// Keys a sliding-window layer sees: the query's own position and the `window - 1`
    /// before it.
    pub sliding_window: Option<usize>,
    /// Per layer: whether it uses the sliding window (and the local RoPE base).
    pub sliding_layers: Vec<bool>,
    /// Per layer: whether q and k are rotated (SmolLM3 leaves out every fourth layer).
    pub rope_layers: Vec<bool>,
    /// Biases on the q, k, v projections (Qwen2, GPT-2).
    pub qkv_bias: bool,
    /// Biases on the attention output and FFN projections (GPT-2).
    pub proj_bias: bool,
    /// RMSNorm of each q and k head before RoPE (Gemma 3).
    pub qk_norm: bool,
    /// Norms on the outputs of attention and FFN too, before the residual add (Gemma 3).
    pub sandwich_norms: bool,
    /// Token embeddings are multiplied by this (Gemma: `sqrt(dim)`).
    pub embed_scale: f32,
    /// Final logits become `cap * tanh(logits / cap)` (Gemma 2, optional in Gemma 3).
    pub final_softcap: Option<f32>,
    /// Added to every norm weight at load: 1.0 for Hugging Face Gemma checkpoints, which
    /// store `w` for `(1 + w)`; GGUF converters add the 1 already.
    pub norm_weight_offset: f32,
}

impl Config {
    /// Width of the keys (and values) of one token: `n_kv_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Width of the queries of one token: `n_heads * head_dim`.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// The window of layer `l`, if it is a sliding-window layer.
    pub fn window(&self, l: usize) -> Option<usize> {
        self.sliding_window.filter(|_| self.sliding_layers[l])
    }

    /// A Llama config with the defaults every architecture starts from.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn base(
        arch: Arch,
        n_layers: usize,
        dim: usize,
        hidden_dim: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
        vocab_size: usize,
        seq_len: usize,
    ) -> Config {
        Config {
            arch,
            n_layers,
            dim,
            hidden_dim,
            n_heads,
            n_kv_heads,
            head_dim,
            vocab_size,
            seq_len,
            norm: NormKind::Rms,
            norm_eps: 1e-5,
            ffn: Ffn::SiluGated,
            rope: Some(Rope {
                style: RopeStyle::Neox,
                base: 10_000.0,
                scaling: RopeScaling::None,
                local_base: None,
            }),
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            attn_softcap: None,
            sliding_window: None,
            sliding_layers: vec![false; n_layers],
            rope_layers: vec![true; n_layers],
            qkv_bias: false,
            proj_bias: false,
            qk_norm: false,
            sandwich_norms: false,
            embed_scale: 1.0,
            final_softcap: None,
            norm_weight_offset: 0.0,
        }
    }

    /// Checks the relations between the sizes that the forward pass relies on.
    pub(crate) fn validate(&self, source: &str) -> Result<()> {
        let bad = |what: String| Err(Error::metadata(source, what));
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!(
                "{} KV heads do not divide {} query heads",
                self.n_kv_heads, self.n_heads
            ));
        }
        if self.head_dim == 0 || self.head_dim > MAX_DIM {
            return bad(format!(
                "head size {} is outside 1..={MAX_DIM}",
                self.head_dim
            ));
        }
        if self.rope.is_some() && !self.head_dim.is_multiple_of(2) {
            return bad(format!(
                "head size {} is odd; RoPE needs pairs",
                self.head_dim
            ));
        }
        let factor_sets: Vec<&Vec<f32>> = match self.rope.as_ref().map(|r| &r.scaling) {
            Some(RopeScaling::Factors(f)) => vec![f],
            Some(RopeScaling::LongRope {
                short,
                long,
                attn_factor,
                ..
            }) => {
                if !(attn_factor.is_finite() && *attn_factor > 0.0) {
                    return bad(format!("LongRoPE attention factor {attn_factor}"));
                }
                vec![short, long]
            }
            _ => vec![],
        };
        for f in factor_sets {
            if let Some(x) = f.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return Err(Error::tensor(
                    "rope_freqs.weight",
                    format!("frequency factor {x} is not a positive number"),
                ));
            }
            if f.len() != self.head_dim / 2 {
                return bad(format!(
                    "{} RoPE frequency factors for head size {}",
                    f.len(),
                    self.head_dim
                ));
            }
        }
        if self.rope_layers.len() != self.n_layers {
            return bad(format!(
                "{} RoPE layer flags for {} layers",
                self.rope_layers.len(),
                self.n_layers
            ));
        }
        if let Some(cap) = self.attn_softcap.filter(|c| !(c.is_finite() && *c > 0.0)) {
            return bad(format!("attention soft-cap {cap}"));
        }
        if self.sliding_window == Some(0) {
            return bad("sliding window of 0 tokens".into());
        }
        if self.sliding_layers.len() != self.n_layers {
            return bad(format!(
                "{} layer types for {} layers",
                self.sliding_layers.len(),
                self.n_layers
            ));
        }
        if !(self.attn_scale.is_finite() && self.attn_scale > 0.0) {
            return bad(format!("attention scale {}", self.attn_scale));
        }
        Ok(())
    }

    /// Reads GGUF metadata (llama.cpp's key names).
    pub fn from_gguf(g: &Gguf) -> Result<Config> {
        let arch_name = g
            .get("general.architecture")
            .ok_or_else(|| Error::metadata("general.architecture", "missing"))?
            .as_str()
            .ok_or_else(|| Error::metadata("general.architecture", "not a string"))?
            .to_string();
        let arch = match arch_name.as_str() {
            "llama" | "mistral" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "phi3" => Arch::Phi3,
            "gemma2" => Arch::Gemma2,
            "gemma3" => Arch::Gemma3,
            "smollm3" => Arch::SmolLm3,
            "gpt2" => Arch::Gpt2,
            _ => return Err(Error::UnsupportedArchitecture(arch_name)),
        };
        let a = &arch_name;
        let uint_opt = |key: &str, cap: usize| -> Result<Option<usize>> {
            let k = format!("{a}.{key}");
            let Some(v) = g.get(&k) else {
                return Ok(None);
            };
            let n = v.as_u64().ok_or_else(|| {
                Error::metadata(&k, format!("expected an unsigned integer, found {v:?}"))
            })?;
            if n == 0 || n > cap as u64 {
                return Err(Error::metadata(
                    &k,
                    format!("value {n} is outside 1..={cap}"),
                ));
            }
            Ok(Some(n as usize))
        };
        let uint = |key: &str, cap: usize| -> Result<usize> {
            uint_opt(key, cap)?.ok_or_else(|| Error::metadata(&format!("{a}.{key}"), "missing"))
        };
        let float = |key: &str, default: f32| -> Result<f32> {
            let k = format!("{a}.{key}");
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
        let n_kv_heads = uint_opt("attention.head_count_kv", MAX_HEADS)?.unwrap_or(n_heads);
        let seq_len = uint("context_length", MAX_CONTEXT)?;
        let head_dim = match uint_opt("attention.key_length", MAX_DIM)? {
            Some(d) => d,
            None if dim.is_multiple_of(n_heads) => dim / n_heads,
            None => {
                return Err(Error::metadata(
                    &format!("{a}.attention.head_count"),
                    format!("{n_heads} heads do not divide embedding_length {dim}"),
                ))
            }
        };
        if let Some(v) = uint_opt("attention.value_length", MAX_DIM)? {
            if v != head_dim {
                return Err(Error::metadata(
                    &format!("{a}.attention.value_length"),
                    format!("{v} differs from the key length {head_dim}"),
                ));
            }
        }
        if let Some(d) = uint_opt("rope.dimension_count", MAX_DIM)? {
            if arch != Arch::Gpt2 && d != head_dim {
                return Err(Error::metadata(
                    &format!("{a}.rope.dimension_count"),
                    format!(
                        "{d}: partial rotary embeddings are not supported (head size {head_dim})"
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
        let mut c = Config::base(
            arch, n_layers, dim, hidden_dim, n_heads, n_kv_heads, head_dim, vocab_size, seq_len,
        );
        c.norm_eps = float("attention.layer_norm_rms_epsilon", 1e-5)?;
        let scaling = match g
            .get(&format!("{a}.rope.scaling.type"))
            .and_then(|v| v.as_str())
        {
            None | Some("none") => RopeScaling::None,
            Some("linear") => RopeScaling::Linear(float("rope.scaling.factor", 1.0)?),
            Some(other) => {
                return Err(Error::metadata(
                    &format!("{a}.rope.scaling.type"),
                    format!("RoPE scaling '{other}' is not supported"),
                ))
            }
        };
        let scaling = match g.tensor("rope_freqs.weight") {
            Ok(t) if scaling == RopeScaling::None => RopeScaling::Factors(t.to_f32()),
            _ => scaling,
        };
        let base = float("rope.freq_base", 10_000.0)?;
        // An optional positive float under the architecture's prefix.
        let positive = |key: &str| -> Option<f32> {
            g.get(&format!("{a}.{key}"))
                .and_then(|v| v.as_f64())
                .filter(|x| x.is_finite() && *x > 0.0)
                .map(|x| x as f32)
        };
        let base_swa = positive("rope.freq_base_swa");
        let rope = |style, local_base: Option<f32>| Rope {
            style,
            base,
            scaling: scaling.clone(),
            local_base: base_swa.or(local_base),
        };
        match arch {
            // GGUF converters permute Llama q/k weights for GGML's interleaved RoPE.
            Arch::Llama | Arch::SmolLm3 => {
                c.rope = Some(rope(RopeStyle::Interleaved, None));
                if let Some(w) = uint_opt("attention.sliding_window", MAX_CONTEXT)? {
                    c.sliding_window = Some(w);
                    c.sliding_layers = vec![true; n_layers];
                }
                if arch == Arch::SmolLm3 {
                    // llama.cpp's rule (no GGUF key): layers 4, 8, ... have no RoPE.
                    c.rope_layers = (0..n_layers).map(|l| (l + 1) % 4 != 0).collect();
                }
            }
            Arch::Qwen2 => {
                c.rope = Some(rope(RopeStyle::Neox, None));
                c.qkv_bias = true;
            }
            Arch::Qwen3 => {
                c.rope = Some(rope(RopeStyle::Neox, None));
                c.qk_norm = true;
            }
            Arch::Phi3 => {
                let mut r = rope(RopeStyle::Neox, None);
                if let (Ok(long), Ok(short)) = (
                    g.tensor("rope_factors_long.weight"),
                    g.tensor("rope_factors_short.weight"),
                ) {
                    r.scaling = RopeScaling::LongRope {
                        short: short.to_f32(),
                        long: long.to_f32(),
                        original_context: uint(
                            "rope.scaling.original_context_length",
                            MAX_CONTEXT,
                        )?,
                        attn_factor: float("rope.scaling.attn_factor", 1.0)?,
                    };
                }
                c.rope = Some(r);
                // The converter writes 0 for "none" (Phi-4).
                if let Some(w) = g
                    .get(&format!("{a}.attention.sliding_window"))
                    .and_then(|v| v.as_u64())
                    .filter(|&w| w > 0)
                {
                    c.sliding_window = Some((w as usize).min(MAX_CONTEXT));
                    c.sliding_layers = vec![true; n_layers];
                }
            }
            Arch::Gemma2 => {
                // llama.cpp's gemma2 loader: even layers slide, every norm already has its
                // +1, the attention scale is 1/sqrt(head size) (query_pre_attn_scalar is not
                // in GGUF; llama.cpp special-cases the 27B model's).
                c.rope = Some(rope(RopeStyle::Neox, None));
                c.sliding_window =
                    Some(uint_opt("attention.sliding_window", MAX_CONTEXT)?.unwrap_or(4096));
                c.sliding_layers = (0..n_layers).map(|l| l % 2 == 0).collect();
                c.ffn = Ffn::GeluGated;
                c.sandwich_norms = true;
                c.embed_scale = (dim as f32).sqrt();
                c.attn_softcap = positive("attn_logit_softcapping");
                c.final_softcap = positive("final_logit_softcapping");
                c.norm_eps = float("attention.layer_norm_rms_epsilon", 1e-6)?;
            }
            Arch::Gemma3 => {
                // llama.cpp's gemma3 loader: every 6th layer is global, the local layers use
                // base 10000 unscaled, and the converter already added 1 to the norms.
                c.rope = Some(rope(RopeStyle::Neox, Some(10_000.0)));
                c.sliding_window = Some(uint("attention.sliding_window", MAX_CONTEXT)?);
                c.sliding_layers = (0..n_layers).map(|l| l % 6 < 5).collect();
                c.ffn = Ffn::GeluGated;
                c.qk_norm = true;
                c.sandwich_norms = true;
                c.embed_scale = (dim as f32).sqrt();
                c.final_softcap = g
                    .get(&format!("{a}.final_logit_softcapping"))
                    .and_then(|v| v.as_f64())
                    .map(|x| x as f32);
                c.norm_eps = float("attention.layer_norm_rms_epsilon", 1e-6)?;
            }
            Arch::Gpt2 => {
                c.rope = None;
                c.norm = NormKind::Layer;
                c.norm_eps = float("attention.layer_norm_epsilon", 1e-5)?;
                c.ffn = Ffn::Gelu;
                c.qkv_bias = true;
                c.proj_bias = true;
            }
        }
        c.validate(&format!("{a}.*"))?;
        Ok(c)
    }
}
