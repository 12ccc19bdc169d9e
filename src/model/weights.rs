//! Model weights: `Linear` (a weight matrix in any supported format, with `matmul`
//! dispatching to the kernel for that format) and the per-layer tensors of a model.
//!
//! Files name tensors their own way (GGUF `blk.3.attn_q.weight`, Hugging Face
//! `model.layers.3.self_attn.q_proj.weight`); the loader asks for each tensor by its
//! `Role` and a naming function turns the role into the file's name.

use crate::error::{Error, Result};
use crate::io::bytes::HugeBuf;
use crate::io::Gguf;
use crate::kernels::cpu::isa;
use crate::kernels::matmul::{matmul, matmul_many, matmul_many_rmsnorm, MatmulScratch, WeightView};
use crate::kernels::qdot::rows::{split_rows_kernel, RowsKernel};
use crate::kernels::qdot::split::{split_into, split_layout, SplitView};
use crate::kernels::qmatmul::QWeights;

use crate::model::config::{Config, Ffn, NormKind};
use crate::tensor::{DType, Tensor};

/// How weights are held in memory and multiplied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeMode {
    /// Weights stay in their file format (zero copy, memory-mapped) and are decoded on the
    /// fly inside the matmul: every block format, and F16/BF16 (widened in registers).
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
    /// The weights in the split layout (`kernels::qdot::split`), made at load for the
    /// formats and CPUs whose decode kernel reads it; then every later read goes to it.
    split: Option<HugeBuf<u16>>,
    /// For quantized weights: the integer row loop chosen at load for the format, the
    /// layout and this CPU (dispatched once, not per matmul).
    row_loop: Option<RowsKernel>,
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
        // NaN or infinite weights would turn every logit into NaN: refuse them here, where
        // the tensor can be named (for quantized blocks, their scales are checked).
        if !crate::kernels::formats::all_finite(tensor.dtype(), tensor.bytes()) {
            return Err(Error::tensor(
                tensor.name(),
                "contains NaN or infinite values",
            ));
        }
        let tensor = if Linear::stays_in_place(&tensor, mode) {
            tensor
        } else {
            tensor.to_f32_tensor()
        };
        // Check once that the bytes cast to the block type; `matmul` relies on it.
        if WeightView::from_bytes(tensor.dtype(), tensor.bytes()).is_none() {
            return Err(Error::tensor(
                tensor.name(),
                "data is misaligned for its type",
            ));
        }
        Ok(Linear::wrap(tensor, rows, cols))
    }

    /// `tensor` (checked) with its split layout, made when this CPU's decode kernel reads
    /// one for its format.
    fn wrap(tensor: Tensor, rows: usize, cols: usize) -> Linear {
        let split = (split_rows_kernel(tensor.dtype(), isa()).is_some())
            .then(|| split_huge(tensor.dtype(), tensor.bytes()))
            .flatten();
        if split.is_some() {
            // Every later read goes to the split copy: the file's pages can go.
            tensor.release_pages();
        }
        let row_loop = QWeights::new(tensor.dtype(), tensor.bytes())
            .map(|q| split.as_deref().map_or(q, |s| q.with_split(s)).row_loop());
        Linear {
            rows,
            cols,
            tensor,
            split,
            row_loop,
        }
    }

    pub fn dtype(&self) -> DType {
        self.tensor.dtype()
    }

    /// Whether `Linear::new` keeps `tensor` as it is (native mode keeps every format the
    /// matmul kernels take, `WeightView`'s list) rather than copying it to f32.
    pub fn stays_in_place(tensor: &Tensor, mode: ComputeMode) -> bool {
        mode == ComputeMode::Native
            && WeightView::from_bytes(tensor.dtype(), tensor.bytes()).is_some()
    }

    /// Bytes a matmul reads: the whole matrix as stored (quantized blocks, or the f32
    /// copy in f32 mode).
    pub fn bytes(&self) -> usize {
        self.tensor.bytes().len()
    }

    fn view(&self) -> WeightView<'_> {
        match self.row_loop {
            Some(k) => WeightView::Quant(QWeights::with_kernel(
                k,
                self.tensor.bytes(),
                self.split.as_deref(),
            )),
            None => WeightView::from_bytes(self.tensor.dtype(), self.tensor.bytes())
                .expect("checked in Linear::new"),
        }
    }

    /// `out (m, rows) = x (m, cols) · Wᵀ`; `ws` holds the kernel's reusable buffers.
    pub fn matmul(&self, ws: &mut MatmulScratch, x: &[f32], m: usize, out: &mut [f32]) {
        matmul(isa(), ws, x, self.view(), out, m, self.cols, self.rows);
    }

    /// `out_j (m, rows_j) = x (m, cols) · W_jᵀ` for several matrices of the same input
    /// width, in one parallel region where the kernels allow it.
    pub fn matmul_many<const N: usize>(
        ws: &mut MatmulScratch,
        x: &[f32],
        m: usize,
        jobs: [(&Linear, &mut [f32]); N],
    ) {
        if let Some((cols, jobs)) = Linear::views(jobs) {
            matmul_many(isa(), ws, x, m, cols, jobs);
        }
    }

    /// `matmul_many` of the RMSNorm of `x (m, cols)` by `weight` with `eps`
    /// (`kernels::matmul::matmul_many_rmsnorm`): the norm is fused into the activations'
    /// quantization where the kernels take quantized activations, and only otherwise
    /// written to `normed` (`(m, cols)`).
    pub fn matmul_many_rmsnorm<const N: usize>(
        ws: &mut MatmulScratch,
        norm: (&[f32], &[f32], f32),
        normed: &mut [f32],
        m: usize,
        jobs: [(&Linear, &mut [f32]); N],
    ) {
        if let Some((cols, jobs)) = Linear::views(jobs) {
            matmul_many_rmsnorm(isa(), ws, norm, normed, m, cols, jobs);
        }
    }

    /// The kernels' views of several matrices and their shared input width; `None` for
    /// no matrices. Panics if the widths differ.
    #[allow(clippy::type_complexity)]
    fn views<'w, 'o, const N: usize>(
        jobs: [(&'w Linear, &'o mut [f32]); N],
    ) -> Option<(usize, [(WeightView<'w>, &'o mut [f32]); N])> {
        let cols = jobs.first()?.0.cols;
        assert!(
            jobs.iter().all(|(l, _)| l.cols == cols),
            "matmul_many: input widths differ"
        );
        Some((cols, jobs.map(|(l, o)| (l.view(), o))))
    }

    /// Rows `r0 .. r0 + n` as a matrix of their own (a view when the data is one).
    pub fn split_rows(&self, r0: usize, n: usize) -> Result<Linear> {
        Ok(Linear::wrap(self.tensor.rows(r0, n)?, n, self.cols))
    }

    /// Row `r` as f32 (the embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let row_bytes = self
            .tensor
            .dtype()
            .row_bytes(self.cols)
            .expect("checked at load");
        let dtype = self.tensor.dtype();
        if let Some(buf) = &self.split {
            let nb = self.cols / dtype.block_size();
            let view = SplitView::of(dtype, buf, self.rows, nb).expect("made for this shape");
            return view.dequantize_row(dtype, r, out);
        }
        let bytes = &self.tensor.bytes()[r * row_bytes..(r + 1) * row_bytes];
        crate::kernels::formats::dequantize(dtype, bytes, out);
    }
}

/// `bytes` in the split layout, on huge pages where the OS grants them: decode streams
/// every weight once per token, and on 4 KB pages the TLB misses and the hardware
/// prefetchers stop every 4 KB. `generate`, alternating runs, medians of 5, decode tok/s
/// with the copy on the heap → on huge pages (THP in `madvise` mode): Gemma 3 97.0 →
/// 107.6 (AVX2, empty context), 87.3 → 95.4 (AVX-512, depth 512); SmolLM2 233.6 → 244.2
/// (AVX2, empty context). `None` (the file's layout serves, with the same results) for a
/// format that does not split, or where the OS refuses the memory.
fn split_huge(dtype: DType, bytes: &[u8]) -> Option<HugeBuf<u16>> {
    let mut buf = HugeBuf::zeroed(split_layout(dtype, bytes)?.len()).ok()?;
    split_into(dtype, bytes, &mut buf)?;
    Some(buf)
}

const GIB: f64 = (1u64 << 30) as f64;

/// What a tensor does in the model. Sources map roles to their own names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    TokenEmbd,
    PosEmbd,
    OutputNorm,
    Output,
    AttnNorm,
    Q,
    K,
    V,
    /// q, k and v stacked in one matrix (GPT-2's `c_attn`).
    Qkv,
    AttnOut,
    QNorm,
    KNorm,
    PostAttnNorm,
    FfnNorm,
    Gate,
    Up,
    /// Gate and up stacked in one matrix, gate first (Phi-3's `gate_up_proj`).
    GateUp,
    Down,
    PostFfnNorm,
}

/// A file's name for a role in layer `l` (ignored for whole-model roles), without the
/// `.weight` / `.bias` suffix.
pub type NameFn<'a> = &'a dyn Fn(Role, usize) -> String;

/// Anything that hands out tensors by name: a GGUF file, a safetensors folder.
pub trait TensorSource {
    /// The tensor called `name`; an error naming it when it is missing.
    fn tensor(&self, name: &str) -> Result<Tensor>;
    fn has_tensor(&self, name: &str) -> bool;
}

impl TensorSource for Gguf {
    fn tensor(&self, name: &str) -> Result<Tensor> {
        Gguf::tensor(self, name)
    }
    fn has_tensor(&self, name: &str) -> bool {
        Gguf::has_tensor(self, name)
    }
}

/// llama.cpp's tensor names (`LLM_TENSOR_NAMES`).
pub fn gguf_name(role: Role, l: usize) -> String {
    let blk = |s: &str| format!("blk.{l}.{s}");
    match role {
        Role::TokenEmbd => "token_embd".into(),
        Role::PosEmbd => "position_embd".into(),
        Role::OutputNorm => "output_norm".into(),
        Role::Output => "output".into(),
        Role::AttnNorm => blk("attn_norm"),
        Role::Q => blk("attn_q"),
        Role::K => blk("attn_k"),
        Role::V => blk("attn_v"),
        Role::Qkv => blk("attn_qkv"),
        Role::AttnOut => blk("attn_output"),
        Role::QNorm => blk("attn_q_norm"),
        Role::KNorm => blk("attn_k_norm"),
        Role::PostAttnNorm => blk("post_attention_norm"),
        Role::FfnNorm => blk("ffn_norm"),
        Role::Gate => blk("ffn_gate"),
        Role::Up => blk("ffn_up"),
        // llama.cpp keeps Phi-3's stacked matrix as `ffn_up`, twice as tall.
        Role::GateUp => blk("ffn_up"),
        Role::Down => blk("ffn_down"),
        Role::PostFfnNorm => blk("post_ffw_norm"),
    }
}

/// A normalisation's weight and, for LayerNorm, bias.
pub struct Norm {
    pub weight: Vec<f32>,       // (width)
    pub bias: Option<Vec<f32>>, // (width)
}

/// A projection `y = x Wᵀ (+ b)`.
pub struct Proj {
    pub w: Linear,
    pub bias: Option<Vec<f32>>, // (rows)
}

/// The tensors of one transformer block.
pub struct LayerWeights {
    pub attn_norm: Norm,              // (dim)
    pub wq: Proj,                     // (n_heads * head_dim, dim)
    pub wk: Proj,                     // (n_kv_heads * head_dim, dim)
    pub wv: Proj,                     // (n_kv_heads * head_dim, dim)
    pub wo: Proj,                     // (dim, n_heads * head_dim)
    pub q_norm: Option<Vec<f32>>,     // (head_dim)
    pub k_norm: Option<Vec<f32>>,     // (head_dim)
    pub post_attn_norm: Option<Norm>, // (dim)
    pub ffn_norm: Norm,               // (dim)
    pub w_gate: Option<Linear>,       // (hidden_dim, dim)
    pub w_up: Proj,                   // (hidden_dim, dim)
    pub w_down: Proj,                 // (dim, hidden_dim)
    pub post_ffn_norm: Option<Norm>,  // (dim)
}

/// All the weights of a model.
pub struct Weights {
    pub token_embd: Linear,       // (vocab_size, dim)
    pub pos_embd: Option<Linear>, // (seq_len, dim)
    pub layers: Vec<LayerWeights>,
    pub output_norm: Norm, // (dim)
    /// `None` when the LM head is tied to `token_embd`.
    pub output: Option<Linear>, // (vocab_size, dim)
}

/// Reads vectors and matrices by role, checking shapes and values.
struct Loader<'a> {
    src: &'a dyn TensorSource,
    name: NameFn<'a>,
    mode: ComputeMode,
    norm_offset: f32,
    /// Bytes of f32 copies made so far (weights converted at load), against `budget`.
    copied: std::cell::Cell<u64>,
    budget: Option<u64>,
}

impl Loader<'_> {
    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let t = self.src.tensor(name)?;
        // Norm weights and biases are floats in every converter's output; a quantized one
        // is a file built wrong (and would lose precision where it matters most).
        if !matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16) {
            return Err(Error::tensor(
                name,
                format!(
                    "is {:?}; norm weights and biases must be F32, F16 or BF16",
                    t.dtype()
                ),
            ));
        }
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
    }

    fn has(&self, role: Role, l: usize) -> bool {
        self.src
            .has_tensor(&format!("{}.weight", (self.name)(role, l)))
    }

    fn linear(&self, role: Role, l: usize, rows: usize, cols: usize) -> Result<Linear> {
        let name = format!("{}.weight", (self.name)(role, l));
        let t = self.src.tensor(&name)?;
        // Weights that will be copied to f32 (f32 mode, or a format without kernels):
        // refuse, with the figure, a model whose copies would not fit in this machine's
        // memory, before allocating, rather than let the allocator abort later.
        if !Linear::stays_in_place(&t, self.mode) {
            let total = self.copied.get() + 4 * t.numel() as u64;
            self.copied.set(total);
            if let Some(budget) = self.budget.filter(|&b| total > b) {
                return Err(Error::InvalidArgument(format!(
                    "loading these weights as f32 needs more than {:.1} GiB, more than this \
                     machine's {:.1} GiB (use the native mode, or a smaller model)",
                    total as f64 / GIB,
                    budget as f64 / GIB
                )));
            }
        }
        Linear::new(t, rows, cols, self.mode)
    }

    fn bias(&self, role: Role, l: usize, len: usize) -> Result<Vec<f32>> {
        self.vector(&format!("{}.bias", (self.name)(role, l)), len)
    }

    fn proj(&self, role: Role, l: usize, rows: usize, cols: usize, bias: bool) -> Result<Proj> {
        Ok(Proj {
            w: self.linear(role, l, rows, cols)?,
            bias: if bias {
                Some(self.bias(role, l, rows)?)
            } else {
                None
            },
        })
    }

    /// A norm weight (plus `norm_offset`, see `Config`) and, for LayerNorm, its bias.
    fn norm(&self, role: Role, l: usize, len: usize, kind: NormKind) -> Result<Norm> {
        let mut weight = self.vector(&format!("{}.weight", (self.name)(role, l)), len)?;
        weight.iter_mut().for_each(|w| *w += self.norm_offset);
        let bias = match kind {
            NormKind::Rms => None,
            NormKind::Layer => Some(self.bias(role, l, len)?),
        };
        Ok(Norm { weight, bias })
    }

    /// q, k and v: three matrices, or one stacked `Qkv` matrix cut into its row ranges.
    fn qkv(&self, l: usize, c: &Config) -> Result<[Proj; 3]> {
        let rows = [c.q_dim(), c.kv_dim(), c.kv_dim()];
        if !self.has(Role::Q, l) && self.has(Role::Qkv, l) {
            let fused = self.linear(Role::Qkv, l, rows.iter().sum(), c.dim)?;
            let bias = if c.qkv_bias {
                Some(self.bias(Role::Qkv, l, rows.iter().sum())?)
            } else {
                None
            };
            let mut r0 = 0;
            let parts = rows.map(|n| {
                let part = (
                    fused.split_rows(r0, n),
                    bias.as_ref().map(|b| b[r0..r0 + n].to_vec()),
                );
                r0 += n;
                part
            });
            let [q, k, v] = parts;
            return Ok([
                Proj { w: q.0?, bias: q.1 },
                Proj { w: k.0?, bias: k.1 },
                Proj { w: v.0?, bias: v.1 },
            ]);
        }
        Ok([
            self.proj(Role::Q, l, rows[0], c.dim, c.qkv_bias)?,
            self.proj(Role::K, l, rows[1], c.dim, c.qkv_bias)?,
            self.proj(Role::V, l, rows[2], c.dim, c.qkv_bias)?,
        ])
    }
}

impl Weights {
    /// Reads every tensor the config calls for from `src`, named by `name`.
    pub fn load(
        src: &dyn TensorSource,
        name: NameFn,
        c: &Config,
        mode: ComputeMode,
    ) -> Result<Weights> {
        let ld = Loader {
            src,
            name,
            mode,
            norm_offset: c.norm_weight_offset,
            copied: std::cell::Cell::new(0),
            budget: crate::model::transformer::physical_memory(),
        };
        let (dim, hidden, nk) = (c.dim, c.hidden_dim, c.norm);
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let [wq, wk, wv] = ld.qkv(l, c)?;
            let head_norm = |role| -> Result<Option<Vec<f32>>> {
                if !c.qk_norm {
                    return Ok(None);
                }
                let mut w = ld.vector(&format!("{}.weight", name(role, l)), c.head_dim)?;
                w.iter_mut().for_each(|w| *w += c.norm_weight_offset);
                Ok(Some(w))
            };
            // Gate and up: two matrices, or one stacked matrix cut in two (Phi-3).
            let gated = matches!(c.ffn, Ffn::SiluGated | Ffn::GeluGated);
            let (w_gate, w_up) = if gated && !ld.has(Role::Gate, l) && ld.has(Role::GateUp, l) {
                let fused = ld.linear(Role::GateUp, l, 2 * hidden, dim)?;
                let up = Proj {
                    w: fused.split_rows(hidden, hidden)?,
                    bias: None,
                };
                (Some(fused.split_rows(0, hidden)?), up)
            } else {
                (
                    gated
                        .then(|| ld.linear(Role::Gate, l, hidden, dim))
                        .transpose()?,
                    ld.proj(Role::Up, l, hidden, dim, c.proj_bias)?,
                )
            };
            let sandwich = |role| -> Result<Option<Norm>> {
                c.sandwich_norms
                    .then(|| ld.norm(role, l, dim, nk))
                    .transpose()
            };
            layers.push(LayerWeights {
                attn_norm: ld.norm(Role::AttnNorm, l, dim, nk)?,
                wq,
                wk,
                wv,
                wo: ld.proj(Role::AttnOut, l, dim, c.q_dim(), c.proj_bias)?,
                q_norm: head_norm(Role::QNorm)?,
                k_norm: head_norm(Role::KNorm)?,
                post_attn_norm: sandwich(Role::PostAttnNorm)?,
                ffn_norm: ld.norm(Role::FfnNorm, l, dim, nk)?,
                w_gate,
                w_up,
                w_down: ld.proj(Role::Down, l, dim, hidden, c.proj_bias)?,
                post_ffn_norm: sandwich(Role::PostFfnNorm)?,
            });
        }
        let output = if ld.has(Role::Output, 0) {
            Some(ld.linear(Role::Output, 0, c.vocab_size, dim)?)
        } else {
            None
        };
        let pos_embd = if c.rope.is_none() {
            Some(ld.linear(Role::PosEmbd, 0, c.seq_len, dim)?)
        } else {
            None
        };
        Ok(Weights {
            token_embd: ld.linear(Role::TokenEmbd, 0, c.vocab_size, dim)?,
            pos_embd,
            layers,
            output_norm: ld.norm(Role::OutputNorm, 0, dim, nk)?,
            output,
        })
    }

    /// The LM head: `output.weight`, or the token embedding when they are tied.
    pub fn lm_head(&self) -> &Linear {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::bytes::FileBytes;
    use crate::io::GgufBuilder;

    #[test]
    fn copies_beyond_the_memory_budget_are_refused_before_allocating() {
        let bytes = GgufBuilder::new()
            .tensor_f32("a.weight", &[64, 64], &vec![0.5; 64 * 64])
            .tensor("b.weight", DType::F16, &[64, 64], vec![0; 2 * 64 * 64])
            .build();
        let g = Gguf::parse(std::sync::Arc::new(FileBytes::from_vec(bytes))).unwrap();
        let name = |r: Role, _| {
            if r == Role::Q {
                "a".to_string()
            } else {
                "b".to_string()
            }
        };
        let loader = |mode, budget| Loader {
            src: &g,
            name: &name,
            mode,
            norm_offset: 0.0,
            copied: std::cell::Cell::new(0),
            budget,
        };
        // Native mode keeps both in place, the F16 matrix too: nothing is copied.
        let ld = loader(ComputeMode::Native, Some(20_000));
        assert!(ld.linear(Role::Q, 0, 64, 64).unwrap().tensor.is_view());
        assert!(ld.linear(Role::K, 0, 64, 64).unwrap().tensor.is_view());
        assert_eq!(ld.copied.get(), 0);
        // f32 mode copies both: 32 KiB, over a 20 KB budget.
        let ld = loader(ComputeMode::F32, Some(20_000));
        assert!(ld.linear(Role::Q, 0, 64, 64).is_ok());
        let Err(e) = ld.linear(Role::K, 0, 64, 64) else {
            panic!("a copy over the budget was made");
        };
        let e = e.to_string();
        assert!(e.contains("more than this machine's"), "{e}");
    }
}
