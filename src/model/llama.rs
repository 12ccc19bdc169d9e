//! The Llama forward pass (Touvron et al. 2023): one function for every weight format.
//!
//! Per layer: RMSNorm → q, k, v projections → RoPE on q and k → append k, v to the cache
//! → causal grouped-query attention → output projection → residual add → RMSNorm →
//! SwiGLU FFN (`down(silu(gate(x)) * up(x))`) → residual add. Then a final RMSNorm and
//! the LM head. No intrinsics and no thread code here: those live in `kernels`.

use crate::error::{Error, Result};
use crate::kernels::attention::{attention, AttnShape};
use crate::kernels::cpu::isa;
use crate::kernels::ops::{add_assign, rmsnorm, rope, rope_angles, silu_mul};
use crate::model::config::Config;
use crate::model::weights::{Linear, Weights};

/// Keys and values of every processed position, preallocated for `max_seq` positions.
pub struct KvCache {
    pub max_seq: usize,
    /// (n_layers, n_kv_heads, max_seq, head_dim)
    pub k: Vec<f32>,
    /// (n_layers, n_kv_heads, max_seq, head_dim)
    pub v: Vec<f32>,
}

impl KvCache {
    /// A zeroed cache for `max_seq` positions. Refuses, naming the size, a cache that
    /// overflows or would not fit in this machine's memory (the allocation is lazy, so an
    /// oversized one would otherwise abort the process or fail much later).
    pub fn new(c: &Config, max_seq: usize) -> Result<KvCache> {
        let len = [c.n_kv_heads, max_seq, c.head_dim]
            .iter()
            .try_fold(c.n_layers, |a, &b| a.checked_mul(b));
        let bytes = len.and_then(|l| l.checked_mul(2 * std::mem::size_of::<f32>()));
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
            k: vec![0.0; len],
            v: vec![0.0; len],
        })
    }

    fn layer_len(&self, c: &Config) -> usize {
        c.n_kv_heads * self.max_seq * c.head_dim
    }
}

/// Total physical memory in bytes, where the OS tells (Linux `/proc/meminfo`).
fn physical_memory() -> Option<u64> {
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

/// Activations for a batch of `m` tokens, grown on demand and reused across calls.
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,        // (m, dim) residual stream
    xb: Vec<f32>,       // (m, dim) normed input of a sub-layer, then its output
    q: Vec<f32>,        // (m, n_heads * head_dim)
    k: Vec<f32>,        // (m, n_kv_heads * head_dim)
    v: Vec<f32>,        // (m, n_kv_heads * head_dim)
    att: Vec<f32>,      // (m, n_heads * head_dim)
    gate: Vec<f32>,     // (m, hidden_dim)
    up: Vec<f32>,       // (m, hidden_dim)
    cos: Vec<f32>,      // (m, head_dim / 2)
    sin: Vec<f32>,      // (m, head_dim / 2)
    inv_freq: Vec<f32>, // (head_dim / 2)
}

impl Scratch {
    fn fit(&mut self, c: &Config, m: usize) {
        let q_dim = c.n_heads * c.head_dim;
        let half = c.head_dim / 2;
        for (buf, len) in [
            (&mut self.x, m * c.dim),
            (&mut self.xb, m * c.dim),
            (&mut self.q, m * q_dim),
            (&mut self.k, m * c.kv_dim()),
            (&mut self.v, m * c.kv_dim()),
            (&mut self.att, m * q_dim),
            (&mut self.gate, m * c.hidden_dim),
            (&mut self.up, m * c.hidden_dim),
            (&mut self.cos, m * half),
            (&mut self.sin, m * half),
        ] {
            buf.resize(len, 0.0);
        }
        if self.inv_freq.len() != half {
            self.inv_freq = crate::kernels::ops::rope_inv_freq(c.head_dim, c.rope_base);
        }
    }
}

/// Which positions' logits to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    Last,
    All,
}

/// Runs `tokens` (already checked to be in the vocabulary) at positions `pos0 ..`,
/// appending their keys and values to `cache`. Returns `(vocab_size)` logits for the last
/// token, or `(m, vocab_size)` for all of them.
pub fn forward(
    c: &Config,
    w: &Weights,
    cache: &mut KvCache,
    s: &mut Scratch,
    tokens: &[u32],
    pos0: usize,
    want: Logits,
) -> Vec<f32> {
    let m = tokens.len();
    debug_assert!(m > 0 && pos0 + m <= cache.max_seq);
    s.fit(c, m);
    let (dim, hd, kv_dim, half) = (c.dim, c.head_dim, c.kv_dim(), c.head_dim / 2);
    let q_dim = c.n_heads * hd;

    // Token embeddings.
    for (&t, x) in tokens.iter().zip(s.x.chunks_exact_mut(dim)) {
        w.token_embd.row(t as usize, x);
    }
    // RoPE rotations of this batch's positions, shared by all layers.
    for (i, (cos, sin)) in s
        .cos
        .chunks_exact_mut(half)
        .zip(s.sin.chunks_exact_mut(half))
        .enumerate()
    {
        rope_angles(pos0 + i, &s.inv_freq, cos, sin);
    }
    let shape = AttnShape {
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        head_dim: hd,
        max_seq: cache.max_seq,
    };
    let layer_len = cache.layer_len(c);

    for (l, lw) in w.layers.iter().enumerate() {
        // Attention block.
        rmsnorm(&mut s.xb, &s.x, &lw.attn_norm, c.norm_eps);
        Linear::matmul_many(
            &s.xb,
            m,
            &mut [(&lw.wq, &mut s.q), (&lw.wk, &mut s.k), (&lw.wv, &mut s.v)],
        );
        for i in 0..m {
            let (cos, sin) = (
                &s.cos[i * half..(i + 1) * half],
                &s.sin[i * half..(i + 1) * half],
            );
            rope(
                &mut s.q[i * q_dim..(i + 1) * q_dim],
                hd,
                cos,
                sin,
                c.rope_style,
            );
            rope(
                &mut s.k[i * kv_dim..(i + 1) * kv_dim],
                hd,
                cos,
                sin,
                c.rope_style,
            );
        }
        let k_cache = &mut cache.k[l * layer_len..(l + 1) * layer_len];
        let v_cache = &mut cache.v[l * layer_len..(l + 1) * layer_len];
        for i in 0..m {
            for h in 0..c.n_kv_heads {
                let dst = (h * cache.max_seq + pos0 + i) * hd;
                let src = i * kv_dim + h * hd;
                k_cache[dst..dst + hd].copy_from_slice(&s.k[src..src + hd]);
                v_cache[dst..dst + hd].copy_from_slice(&s.v[src..src + hd]);
            }
        }
        attention(isa(), &s.q, k_cache, v_cache, &mut s.att, pos0, shape);
        lw.wo.matmul(&s.att, m, &mut s.xb);
        add_assign(&mut s.x, &s.xb);

        // Feed-forward block.
        rmsnorm(&mut s.xb, &s.x, &lw.ffn_norm, c.norm_eps);
        Linear::matmul_many(
            &s.xb,
            m,
            &mut [(&lw.w_gate, &mut s.gate), (&lw.w_up, &mut s.up)],
        );
        silu_mul(&mut s.gate, &s.up);
        lw.w_down.matmul(&s.gate, m, &mut s.xb);
        add_assign(&mut s.x, &s.xb);
    }

    // Final norm and LM head, for the rows asked for.
    let rows = match want {
        Logits::Last => m - 1..m,
        Logits::All => 0..m,
    };
    let (x, xb) = (
        &s.x[rows.start * dim..rows.end * dim],
        &mut s.xb[..rows.len() * dim],
    );
    rmsnorm(xb, x, &w.output_norm, c.norm_eps);
    let mut logits = vec![0.0; rows.len() * c.vocab_size];
    w.lm_head().matmul(xb, rows.len(), &mut logits);
    logits
}
