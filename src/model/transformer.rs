//! The forward pass of a pre-norm decoder-only transformer: one function for every
//! architecture and every weight format, steered by `Config`.
//!
//! Per layer: norm → q, k, v projections (+ bias) → [QK-norm] → RoPE on q and k → append
//! k, v to the cache → causal grouped-query attention (sliding window on local layers) →
//! output projection → [post-norm] → residual add → norm → FFN (SwiGLU, GeGLU or GELU MLP)
//! → [post-norm] → residual add. Then a final norm, the LM head and [soft-capping].
//! Llama (Touvron et al. 2023) takes none of the bracketed steps; Gemma 3 takes them all.
//! No intrinsics and no thread code here: those live in `kernels`.

use crate::error::{Error, Result};
use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::kernels::attention::{attention, AttnScratch, AttnShape, Kv};
use crate::kernels::cpu::isa;
use crate::kernels::matmul::MatmulScratch;
use crate::kernels::ops::{add_assign, add_bias, layernorm, rmsnorm, rope, rope_angles, softcap};
use crate::kernels::simd::{gated, Gate};
use crate::model::config::{Config, Ffn, Rope, RopeScaling};
use crate::model::weights::{LayerWeights, Linear, Norm, Proj, Weights};

/// The element type of a KV cache: f32, or f16 (half the memory, and half the bytes a
/// decode step reads; keys and values are rounded to f16 as they are stored, as in
/// llama.cpp's default cache). Native mode defaults to f16, f32 mode to f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F32,
    F16,
}

impl KvType {
    /// Bytes per cached value.
    pub fn size(self) -> usize {
        match self {
            KvType::F32 => 4,
            KvType::F16 => 2,
        }
    }
}

impl std::str::FromStr for KvType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(KvType::F32),
            "f16" => Ok(KvType::F16),
            _ => Err(Error::InvalidArgument(format!(
                "unknown KV cache type '{s}' (expected f16 or f32)"
            ))),
        }
    }
}

/// One of the cache's two arrays, `(n_layers, n_kv_heads, max_seq, head_dim)`.
enum KvBuf {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

impl KvBuf {
    fn zeroed(kind: KvType, len: usize) -> KvBuf {
        match kind {
            KvType::F32 => KvBuf::F32(vec![0.0; len]),
            KvType::F16 => KvBuf::F16(vec![f16::ZERO; len]),
        }
    }

    /// Values `start .. start + len`, as the attention kernels read them.
    fn view(&self, start: usize, len: usize) -> Kv<'_> {
        match self {
            KvBuf::F32(x) => Kv::F32(&x[start..][..len]),
            KvBuf::F16(x) => Kv::F16(&x[start..][..len]),
        }
    }

    /// Stores `src` at `at` (rounded to f16 in an f16 cache).
    fn store(&mut self, at: usize, src: &[f32]) {
        match self {
            KvBuf::F32(x) => x[at..at + src.len()].copy_from_slice(src),
            KvBuf::F16(x) => x[at..at + src.len()].convert_from_f32_slice(src),
        }
    }
}

/// Keys and values of every processed position, preallocated for `max_seq` positions.
pub struct KvCache {
    pub max_seq: usize,
    kind: KvType,
    /// (n_layers, n_kv_heads, max_seq, head_dim)
    k: KvBuf,
    /// (n_layers, n_kv_heads, max_seq, head_dim)
    v: KvBuf,
}

impl KvCache {
    /// A zeroed cache of `kind` values for `max_seq` positions. Refuses, naming the size,
    /// a cache that overflows or would not fit in this machine's memory (the allocation
    /// is lazy, so an oversized one would otherwise abort the process or fail much later).
    pub fn new(c: &Config, max_seq: usize, kind: KvType) -> Result<KvCache> {
        let len = [c.n_kv_heads, max_seq, c.head_dim]
            .iter()
            .try_fold(c.n_layers, |a, &b| a.checked_mul(b));
        let bytes = len.and_then(|l| l.checked_mul(2 * kind.size()));
        let (Some(len), Some(bytes)) = (len, bytes) else {
            return Err(Error::InvalidArgument(format!(
                "a KV cache for {max_seq} positions overflows the address space"
            )));
        };
        if let Some(total) = physical_memory() {
            if bytes as u64 > total {
                return Err(Error::InvalidArgument(format!(
                    "a KV cache for {max_seq} positions needs {:.1} GiB, more than this machine's {:.1} GiB",
                    bytes as f64 / (1u64 << 30) as f64,
                    total as f64 / (1u64 << 30) as f64
                )));
            }
        }
        Ok(KvCache {
            max_seq,
            kind,
            k: KvBuf::zeroed(kind, len),
            v: KvBuf::zeroed(kind, len),
        })
    }

    /// The type of the cached values.
    pub fn kind(&self) -> KvType {
        self.kind
    }

    fn layer_len(&self, c: &Config) -> usize {
        c.n_kv_heads * self.max_seq * c.head_dim
    }
}

/// Total physical memory in bytes, where the OS tells (Linux `/proc/meminfo`).
pub(crate) fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// The session's workspace: every buffer a forward pass of `m` tokens needs, grown on
/// demand and reused, so that a warm decode step allocates nothing.
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,    // (m, dim) residual stream
    xb: Vec<f32>,   // (m, dim) normed input of a sub-layer, then its output
    xc: Vec<f32>,   // (m, dim) a sub-layer's output before its post-norm
    q: Vec<f32>,    // (m, n_heads * head_dim)
    k: Vec<f32>,    // (m, n_kv_heads * head_dim)
    v: Vec<f32>,    // (m, n_kv_heads * head_dim)
    att: Vec<f32>,  // (m, n_heads * head_dim)
    gate: Vec<f32>, // (m, hidden_dim)
    up: Vec<f32>,   // (m, hidden_dim)
    /// RoPE rotations of the batch's positions, for the global and the local base.
    cos: [Vec<f32>; 2], // (m, head_dim / 2)
    sin: [Vec<f32>; 2], // (m, head_dim / 2)
    inv_freq: [Vec<f32>; 2], // (head_dim / 2)
    /// Whether `inv_freq[0]` holds LongRoPE's long factors (else the short ones).
    long: bool,
    /// (head_dim) one head's copy for QK-norm.
    head: Vec<f32>,
    /// The projections' quantized activations.
    mm: MatmulScratch,
    /// Attention's partial results.
    attn: AttnScratch,
    /// (rows, vocab_size) the logits of the rows asked for.
    pub logits: Vec<f32>,
}

impl Scratch {
    /// Sizes the buffers for a batch of `m` tokens ending at position `end`.
    fn fit(&mut self, c: &Config, m: usize, end: usize) {
        let half = c.head_dim / 2;
        for (buf, len) in [
            (&mut self.x, m * c.dim),
            (&mut self.xb, m * c.dim),
            (&mut self.xc, m * c.dim),
            (&mut self.q, m * c.q_dim()),
            (&mut self.k, m * c.kv_dim()),
            (&mut self.v, m * c.kv_dim()),
            (&mut self.att, m * c.q_dim()),
            (&mut self.gate, m * c.hidden_dim),
            (&mut self.up, m * c.hidden_dim),
        ]
        .into_iter()
        .chain(self.cos.iter_mut().map(|b| (b, m * half)))
        .chain(self.sin.iter_mut().map(|b| (b, m * half)))
        .chain([(&mut self.head, c.head_dim)])
        {
            buf.resize(len, 0.0);
        }
        if let Some(rope) = &c.rope {
            let long = long_rope(rope, end);
            if self.inv_freq[0].len() != half || self.long != long {
                self.inv_freq = [
                    inv_freq(rope, c.head_dim, false, long),
                    inv_freq(rope, c.head_dim, true, long),
                ];
                self.long = long;
            }
        }
    }
}

/// Whether a forward pass whose last position is `end - 1` uses LongRoPE's long factors:
/// Hugging Face switches once the sequence outgrows the original context.
fn long_rope(rope: &Rope, end: usize) -> bool {
    matches!(rope.scaling, RopeScaling::LongRope { original_context, .. } if end > original_context)
}

/// RoPE inverse frequencies of the global (`local = false`) or sliding-window layers,
/// with the configured scaling (global layers only, as in HF and llama.cpp); `long`
/// picks LongRoPE's long factors.
pub fn inv_freq(rope: &Rope, head_dim: usize, local: bool, long: bool) -> Vec<f32> {
    if let (true, Some(base)) = (local, rope.local_base) {
        return crate::kernels::ops::rope_inv_freq(head_dim, base);
    }
    let mut f = crate::kernels::ops::rope_inv_freq(head_dim, rope.base);
    match &rope.scaling {
        RopeScaling::None => {}
        RopeScaling::Linear(factor) => f.iter_mut().for_each(|x| *x /= factor),
        RopeScaling::Factors(div) => f.iter_mut().zip(div).for_each(|(x, d)| *x /= d),
        RopeScaling::LongRope { short, long: l, .. } => {
            let div = if long { l } else { short };
            f.iter_mut().zip(div).for_each(|(x, d)| *x /= d);
        }
        &RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_context,
        } => {
            // HF `_compute_llama3_parameters`: wavelengths longer than the original
            // context / low_freq_factor are divided by `factor`, shorter than context /
            // high_freq_factor kept, and the band between interpolated smoothly.
            let old = original_context as f32;
            let (low_wl, high_wl) = (old / low_freq_factor, old / high_freq_factor);
            for x in f.iter_mut() {
                let wavelen = 2.0 * std::f32::consts::PI / *x;
                if wavelen > low_wl {
                    *x /= factor;
                } else if wavelen >= high_wl {
                    let smooth =
                        (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                    *x = (1.0 - smooth) * *x / factor + smooth * *x;
                }
            }
        }
    }
    f
}

/// Which positions' logits to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    Last,
    All,
    /// The positions from this one (of the batch) on.
    From(usize),
}

/// `out = norm(x)`, RMSNorm or LayerNorm as the config says.
fn norm(c: &Config, out: &mut [f32], x: &[f32], n: &Norm) {
    match &n.bias {
        None => rmsnorm(out, x, &n.weight, c.norm_eps),
        Some(b) => layernorm(out, x, &n.weight, b, c.norm_eps),
    }
}

/// Adds a projection's bias, if it has one, to each row of its output.
fn bias(out: &mut [f32], p: &Proj) {
    if let Some(b) = &p.bias {
        add_bias(out, b);
    }
}

/// Runs `tokens` (already checked to be in the vocabulary) at positions `pos0 ..`,
/// appending their keys and values to `cache`. Leaves in `s.logits` the `(vocab_size)`
/// logits of the last token, or `(rows, vocab_size)` for the rows `want` asks for.
pub fn forward(
    c: &Config,
    w: &Weights,
    cache: &mut KvCache,
    s: &mut Scratch,
    tokens: &[u32],
    pos0: usize,
    want: Logits,
) {
    let m = tokens.len();
    debug_assert!(m > 0 && pos0 + m <= cache.max_seq);
    s.fit(c, m, pos0 + m);
    let (dim, hd, kv_dim, q_dim, half) = (c.dim, c.head_dim, c.kv_dim(), c.q_dim(), c.head_dim / 2);

    // Token embeddings (scaled), plus learned positions.
    for (i, (&t, x)) in tokens.iter().zip(s.x.chunks_exact_mut(dim)).enumerate() {
        w.token_embd.row(t as usize, x);
        if c.embed_scale != 1.0 {
            x.iter_mut().for_each(|v| *v *= c.embed_scale);
        }
        if let Some(pe) = &w.pos_embd {
            pe.row(pos0 + i, &mut s.xb[..dim]);
            add_assign(x, &s.xb[..dim]);
        }
    }
    // RoPE rotations of this batch's positions, shared by all layers of a kind: global
    // (0) and, when they have their own base, sliding-window (1).
    if let Some(rope) = &c.rope {
        let kinds = if rope.local_base.is_some() { 2 } else { 1 };
        for kind in 0..kinds {
            for (i, (cos, sin)) in s.cos[kind]
                .chunks_exact_mut(half)
                .zip(s.sin[kind].chunks_exact_mut(half))
                .enumerate()
            {
                rope_angles(pos0 + i, &s.inv_freq[kind], cos, sin);
            }
        }
        // LongRoPE scales cos and sin (so the scores by its square) on every layer.
        if let RopeScaling::LongRope { attn_factor, .. } = rope.scaling {
            if attn_factor != 1.0 {
                let scale = |b: &mut Vec<f32>| b.iter_mut().for_each(|x| *x *= attn_factor);
                scale(&mut s.cos[0]);
                scale(&mut s.sin[0]);
            }
        }
    }
    let layer_len = cache.layer_len(c);
    // Rows whose logits are asked for. The last layer carries only these past its
    // keys and values (llama.cpp's `inp_out_ids`): no later layer reads the other rows'
    // outputs, and their keys and values are cached by then. `base` is the first row
    // carried, once the last layer has moved them to the front.
    let first_out = match want {
        Logits::Last => m - 1,
        Logits::All => 0,
        Logits::From(first) => first.min(m - 1),
    };
    let mut base = 0;

    for (l, lw) in w.layers.iter().enumerate() {
        // Attention block.
        project_qkv(c, lw, s, m);
        bias(&mut s.q, &lw.wq);
        bias(&mut s.k, &lw.wk);
        bias(&mut s.v, &lw.wv);
        if let (Some(qn), Some(kn)) = (&lw.q_norm, &lw.k_norm) {
            // Each head is one row of head_dim values.
            rmsnorm_in_place(&mut s.q, qn, c.norm_eps, &mut s.head);
            rmsnorm_in_place(&mut s.k, kn, c.norm_eps, &mut s.head);
        }
        let window = c.window(l);
        if let Some(rope_cfg) = c.rope.as_ref().filter(|_| c.rope_layers[l]) {
            let kind = usize::from(window.is_some() && rope_cfg.local_base.is_some());
            for i in 0..m {
                let (cos, sin) = (
                    &s.cos[kind][i * half..(i + 1) * half],
                    &s.sin[kind][i * half..(i + 1) * half],
                );
                rope(
                    &mut s.q[i * q_dim..(i + 1) * q_dim],
                    hd,
                    cos,
                    sin,
                    rope_cfg.style,
                );
                rope(
                    &mut s.k[i * kv_dim..(i + 1) * kv_dim],
                    hd,
                    cos,
                    sin,
                    rope_cfg.style,
                );
            }
        }
        for i in 0..m {
            for h in 0..c.n_kv_heads {
                let dst = l * layer_len + (h * cache.max_seq + pos0 + i) * hd;
                let src = i * kv_dim + h * hd;
                cache.k.store(dst, &s.k[src..src + hd]);
                cache.v.store(dst, &s.v[src..src + hd]);
            }
        }
        let k_cache = cache.k.view(l * layer_len, layer_len);
        let v_cache = cache.v.view(l * layer_len, layer_len);
        if l + 1 == w.layers.len() && first_out > 0 {
            s.q.copy_within(first_out * q_dim..m * q_dim, 0);
            s.x.copy_within(first_out * dim..m * dim, 0);
            base = first_out;
        }
        // Rows carried on (`m` but in the last layer), from position `pos0 + base`.
        let mo = m - base;
        let shape = AttnShape {
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: hd,
            max_seq: cache.max_seq,
            scale: c.attn_scale,
            softcap: c.attn_softcap,
            window,
        };
        let (qo, xo, ho) = (mo * q_dim, mo * dim, mo * c.hidden_dim);
        attention(
            isa(),
            &mut s.attn,
            &s.q[..qo],
            k_cache,
            v_cache,
            &mut s.att[..qo],
            pos0 + base,
            shape,
        );
        lw.wo.w.matmul(&mut s.mm, &s.att[..qo], mo, &mut s.xb[..xo]);
        bias(&mut s.xb[..xo], &lw.wo);
        residual(
            c,
            &mut s.x[..xo],
            &mut s.xb[..xo],
            &mut s.xc[..xo],
            lw.post_attn_norm.as_ref(),
        );

        // Feed-forward block.
        if project_up(c, lw, s, mo) {
            let act = if c.ffn == Ffn::SiluGated {
                Gate::Silu
            } else {
                Gate::GeluTanh
            };
            gated(isa(), act, &mut s.gate[..ho], Some(&s.up[..ho]));
        } else {
            bias(&mut s.gate[..ho], &lw.w_up);
            gated(isa(), Gate::GeluTanh, &mut s.gate[..ho], None);
        }
        lw.w_down
            .w
            .matmul(&mut s.mm, &s.gate[..ho], mo, &mut s.xb[..xo]);
        bias(&mut s.xb[..xo], &lw.w_down);
        residual(
            c,
            &mut s.x[..xo],
            &mut s.xb[..xo],
            &mut s.xc[..xo],
            lw.post_ffn_norm.as_ref(),
        );
    }

    // Final norm and LM head, for the rows asked for (counted from `base`).
    let rows = first_out - base..m - base;
    let io = (&s.x[rows.start * dim..rows.end * dim], &mut s.xb[..]);
    s.logits.resize(rows.len() * c.vocab_size, 0.0);
    let jobs = [(w.lm_head(), &mut s.logits[..])];
    project_normed(c, &w.output_norm, io, &mut s.mm, rows.len(), jobs);
    if let Some(cap) = c.final_softcap {
        softcap(&mut s.logits, cap);
    }
}

/// `q`, `k`, `v` (`m` rows each) of the attention norm of `x`, in one parallel region.
fn project_qkv(c: &Config, lw: &LayerWeights, s: &mut Scratch, m: usize) {
    let jobs = [
        (&lw.wq.w, &mut s.q[..]),
        (&lw.wk.w, &mut s.k[..]),
        (&lw.wv.w, &mut s.v[..]),
    ];
    project_normed(c, &lw.attn_norm, (&s.x, &mut s.xb), &mut s.mm, m, jobs);
}

/// The feed-forward block's input projections of the FFN norm of `x`: gate into `gate`
/// and up into `up` in one region for a gated FFN (returns true), else up alone into
/// `gate`.
fn project_up(c: &Config, lw: &LayerWeights, s: &mut Scratch, m: usize) -> bool {
    let (n, io) = (&lw.ffn_norm, (&s.x[..], &mut s.xb[..]));
    match (&lw.w_gate, c.ffn) {
        (Some(gate), Ffn::SiluGated | Ffn::GeluGated) => {
            let h = m * c.hidden_dim;
            let jobs = [(gate, &mut s.gate[..h]), (&lw.w_up.w, &mut s.up[..h])];
            project_normed(c, n, io, &mut s.mm, m, jobs);
            true
        }
        _ => {
            let h = m * c.hidden_dim;
            project_normed(c, n, io, &mut s.mm, m, [(&lw.w_up.w, &mut s.gate[..h])]);
            false
        }
    }
}

/// The products of `norm(x)` (`x` is `(m, dim)`): an RMSNorm is fused into the
/// activations' quantization where the kernels quantize them (`xb` is then left as it
/// was); a LayerNorm goes to `xb` first.
fn project_normed<const N: usize>(
    c: &Config,
    n: &Norm,
    (x, xb): (&[f32], &mut [f32]),
    mm: &mut MatmulScratch,
    m: usize,
    jobs: [(&Linear, &mut [f32]); N],
) {
    let x = &x[..m * c.dim];
    let xb = &mut xb[..m * c.dim];
    match n.bias {
        None => Linear::matmul_many_rmsnorm(mm, (x, &n.weight, c.norm_eps), xb, m, jobs),
        Some(_) => {
            norm(c, xb, x, n);
            Linear::matmul_many(mm, xb, m, jobs);
        }
    }
}

/// Only the weight matmuls of one decode step, in `forward`'s order and on its buffers
/// (their contents are whatever the last pass left): every projection of every layer
/// (with the norms fused into the first two), then the LM head. A decode step's time minus
/// this one's is what the step spends outside matmuls (attention, RoPE, the cache write,
/// residuals, and the calls between them).
pub fn decode_matmuls(c: &Config, w: &Weights, s: &mut Scratch) {
    s.fit(c, 1, 1);
    for lw in &w.layers {
        project_qkv(c, lw, s, 1);
        lw.wo.w.matmul(&mut s.mm, &s.att, 1, &mut s.xb);
        project_up(c, lw, s, 1);
        lw.w_down.w.matmul(&mut s.mm, &s.gate, 1, &mut s.xb);
    }
    s.logits.resize(c.vocab_size, 0.0);
    w.lm_head()
        .matmul(&mut s.mm, &s.xb[..c.dim], 1, &mut s.logits);
}

/// `x += out`, through the sub-layer's post-norm when it has one (`tmp` is scratch).
fn residual(c: &Config, x: &mut [f32], out: &mut [f32], tmp: &mut [f32], post: Option<&Norm>) {
    match post {
        Some(n) => {
            norm(c, tmp, out, n);
            add_assign(x, tmp);
        }
        None => add_assign(x, out),
    }
}

/// RMSNorm of each `weight.len()`-wide row of `x`, in place (QK-norm over heads); `row`
/// is scratch of that width.
fn rmsnorm_in_place(x: &mut [f32], weight: &[f32], eps: f32, row: &mut [f32]) {
    for head in x.chunks_exact_mut(weight.len()) {
        row.copy_from_slice(head);
        rmsnorm(head, row, weight, eps);
    }
}
