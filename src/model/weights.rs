//! Model weights: `Linear` (a weight matrix in any supported format, with `matmul`
//! dispatching to the kernel for that format) and the per-layer tensors of a Llama model.

use crate::error::{Error, Result};
use crate::io::Gguf;
use crate::kernels::cpu::isa;
use crate::kernels::matmul::{matmul, matmul_many, WeightView};

use crate::model::config::Config;
use crate::tensor::{DType, Tensor};

/// How weights are held in memory and multiplied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeMode {
    /// Quantized weights stay in their file format (zero copy, memory-mapped) and are
    /// decoded on the fly inside the matmul. Formats without matmul kernels yet (F16,
    /// BF16, Q5_0, Q5_1 and the K-quants) are converted to f32 at load.
    #[default]
    Native,
    /// Every weight is dequantized to f32 at load time.
    F32,
}

impl std::str::FromStr for ComputeMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(ComputeMode::Native),
            "f32" => Ok(ComputeMode::F32),
            _ => Err(Error::InvalidArgument(format!(
                "unknown dtype mode '{s}' (expected native or f32)"
            ))),
        }
    }
}

/// A weight matrix of `rows` output features by `cols` inputs, rows contiguous.
pub struct Linear {
    pub rows: usize,
    pub cols: usize,
    tensor: Tensor,
}

impl Linear {
    /// Wraps `tensor`, checking that its shape is `(rows, cols)`, and converts it as
    /// `mode` asks.
    pub fn new(tensor: Tensor, rows: usize, cols: usize, mode: ComputeMode) -> Result<Linear> {
        if tensor.shape() != [rows, cols] {
            return Err(Error::tensor(
                tensor.name(),
                format!("shape {:?}, expected [{rows}, {cols}]", tensor.shape()),
            ));
        }
        // Native mode keeps every format the matmul kernels take (WeightView's list).
        let keep = mode == ComputeMode::Native
            && WeightView::from_bytes(tensor.dtype(), tensor.bytes()).is_some();
        let tensor = if keep { tensor } else { tensor.to_f32_tensor() };
        // Check once that the bytes cast to the block type; `matmul` relies on it.
        if WeightView::from_bytes(tensor.dtype(), tensor.bytes()).is_none() {
            return Err(Error::tensor(
                tensor.name(),
                "data is misaligned for its type",
            ));
        }
        Ok(Linear { rows, cols, tensor })
    }

    pub fn dtype(&self) -> DType {
        self.tensor.dtype()
    }

    fn view(&self) -> WeightView<'_> {
        WeightView::from_bytes(self.tensor.dtype(), self.tensor.bytes())
            .expect("checked in Linear::new")
    }

    /// `out (m, rows) = x (m, cols) · Wᵀ`.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        matmul(isa(), x, self.view(), out, m, self.cols, self.rows);
    }

    /// `out_j (m, rows_j) = x (m, cols) · W_jᵀ` for several matrices of the same input
    /// width, in one parallel region where the kernels allow it.
    pub fn matmul_many(x: &[f32], m: usize, jobs: &mut [(&Linear, &mut [f32])]) {
        let Some(cols) = jobs.first().map(|(l, _)| l.cols) else {
            return;
        };
        assert!(
            jobs.iter().all(|(l, _)| l.cols == cols),
            "matmul_many: input widths differ"
        );
        let mut views: Vec<(WeightView, &mut [f32])> =
            jobs.iter_mut().map(|(l, o)| (l.view(), &mut **o)).collect();
        matmul_many(isa(), x, m, cols, &mut views);
    }

    /// Row `r` as f32 (the embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let row_bytes = self
            .tensor
            .dtype()
            .row_bytes(self.cols)
            .expect("checked at load");
        let bytes = &self.tensor.bytes()[r * row_bytes..(r + 1) * row_bytes];
        crate::kernels::quant::dequantize(self.tensor.dtype(), bytes, out);
    }
}

/// The tensors of one transformer block.
pub struct LayerWeights {
    pub attn_norm: Vec<f32>, // (dim)
    pub wq: Linear,          // (n_heads * head_dim, dim)
    pub wk: Linear,          // (n_kv_heads * head_dim, dim)
    pub wv: Linear,          // (n_kv_heads * head_dim, dim)
    pub wo: Linear,          // (dim, n_heads * head_dim)
    pub ffn_norm: Vec<f32>,  // (dim)
    pub w_gate: Linear,      // (hidden_dim, dim)
    pub w_up: Linear,        // (hidden_dim, dim)
    pub w_down: Linear,      // (dim, hidden_dim)
}

/// All the weights of a Llama model.
pub struct Weights {
    pub token_embd: Linear, // (vocab_size, dim)
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vec<f32>, // (dim)
    /// `None` when the LM head is tied to `token_embd`.
    pub output: Option<Linear>, // (vocab_size, dim)
}

impl Weights {
    /// Reads every tensor by its GGUF name (llama.cpp's `LLM_TENSOR_NAMES`).
    pub fn from_gguf(g: &Gguf, c: &Config, mode: ComputeMode) -> Result<Weights> {
        let linear = |name: &str, rows, cols| Linear::new(g.tensor(name)?, rows, cols, mode);
        let vector = |name: &str, len: usize| -> Result<Vec<f32>> {
            let t = g.tensor(name)?;
            if t.shape() != [len] {
                return Err(Error::tensor(
                    name,
                    format!("shape {:?}, expected [{len}]", t.shape()),
                ));
            }
            let v = t.to_f32();
            if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
                return Err(Error::tensor(
                    name,
                    format!("contains the non-finite value {bad}"),
                ));
            }
            Ok(v)
        };
        let (dim, q_dim, kv_dim, hidden) =
            (c.dim, c.n_heads * c.head_dim, c.kv_dim(), c.hidden_dim);
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let p = |s: &str| format!("blk.{l}.{s}");
            layers.push(LayerWeights {
                attn_norm: vector(&p("attn_norm.weight"), dim)?,
                wq: linear(&p("attn_q.weight"), q_dim, dim)?,
                wk: linear(&p("attn_k.weight"), kv_dim, dim)?,
                wv: linear(&p("attn_v.weight"), kv_dim, dim)?,
                wo: linear(&p("attn_output.weight"), dim, q_dim)?,
                ffn_norm: vector(&p("ffn_norm.weight"), dim)?,
                w_gate: linear(&p("ffn_gate.weight"), hidden, dim)?,
                w_up: linear(&p("ffn_up.weight"), hidden, dim)?,
                w_down: linear(&p("ffn_down.weight"), dim, hidden)?,
            });
        }
        let output = if g.has_tensor("output.weight") {
            Some(linear("output.weight", c.vocab_size, dim)?)
        } else {
            None
        };
        Ok(Weights {
            token_embd: linear("token_embd.weight", c.vocab_size, dim)?,
            layers,
            output_norm: vector("output_norm.weight", dim)?,
            output,
        })
    }

    /// The LM head: `output.weight`, or the token embedding when they are tied.
    pub fn lm_head(&self) -> &Linear {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}
