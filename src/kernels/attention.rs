//! Causal grouped-query attention over a KV cache.
//!
//! The cache of one layer is laid out `(n_kv_heads, max_seq, head_dim)`, so the keys of
//! one KV head are contiguous rows. Query head `h` reads KV head `h / (n_heads /
//! n_kv_heads)` (GQA, Ainslie et al. 2023). This is the plain version: full scores per
//! query, softmax, weighted sum of values.

use rayon::prelude::*;

use super::ops::{dot, softmax};

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Rows allocated per KV head in the cache.
    pub max_seq: usize,
}

/// Attention for `n_q` queries at positions `pos0 .. pos0 + n_q`, each attending to
/// cached positions `0 ..= its own`.
///
/// - `q`: `(n_q, n_heads, head_dim)`
/// - `k_cache`, `v_cache`: `(n_kv_heads, max_seq, head_dim)`, filled up to `pos0 + n_q`
/// - `out`: `(n_q, n_heads, head_dim)`
pub fn attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    out: &mut [f32],
    pos0: usize,
    s: AttnShape,
) {
    let AttnShape {
        n_heads,
        n_kv_heads,
        head_dim,
        max_seq,
    } = s;
    let n_q = q.len() / (n_heads * head_dim);
    assert_eq!(out.len(), q.len());
    assert!(pos0 + n_q <= max_seq, "attention: positions past the cache");
    assert!(k_cache.len() >= n_kv_heads * max_seq * head_dim && v_cache.len() >= k_cache.len());
    let group = n_heads / n_kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();

    // One task per (query, head): each writes its own head_dim outputs.
    out.par_chunks_mut(head_dim).enumerate().for_each_init(
        || Vec::with_capacity(pos0 + n_q),
        |scores, (idx, o)| {
            let (qi, h) = (idx / n_heads, idx % n_heads);
            let kvh = h / group;
            let n_ctx = pos0 + qi + 1; // causal: positions 0..=pos0+qi
            let qv = &q[idx * head_dim..(idx + 1) * head_dim];
            let keys = &k_cache[kvh * max_seq * head_dim..];
            let vals = &v_cache[kvh * max_seq * head_dim..];
            scores.clear();
            scores.extend(
                (0..n_ctx).map(|t| dot(qv, &keys[t * head_dim..(t + 1) * head_dim]) * scale),
            );
            softmax(scores);
            o.fill(0.0);
            for (t, &p) in scores.iter().enumerate() {
                for (a, &v) in o.iter_mut().zip(&vals[t * head_dim..(t + 1) * head_dim]) {
                    *a += p * v;
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_position_returns_its_value() {
        let s = AttnShape {
            n_heads: 2,
            n_kv_heads: 1,
            head_dim: 2,
            max_seq: 4,
        };
        let q = [1.0, 0.0, 0.0, 1.0];
        let mut k = vec![0.0; 8];
        let mut v = vec![0.0; 8];
        k[..2].copy_from_slice(&[0.3, 0.4]);
        v[..2].copy_from_slice(&[5.0, -1.0]);
        let mut out = [0.0; 4];
        attention(&q, &k, &v, &mut out, 0, s);
        assert_eq!(out, [5.0, -1.0, 5.0, -1.0]);
    }

    #[test]
    fn causal_mask_and_weights() {
        // One head, dim 1, keys 0 and ln(3)·sqrt(1): the second query weighs values 1:3.
        let s = AttnShape {
            n_heads: 1,
            n_kv_heads: 1,
            head_dim: 1,
            max_seq: 2,
        };
        let q = [1.0, 1.0];
        let k = [0.0, 3f32.ln()];
        let v = [10.0, 20.0];
        let mut out = [0.0; 2];
        attention(&q, &k, &v, &mut out, 0, s);
        assert_eq!(out[0], 10.0); // sees only position 0
        assert!((out[1] - 17.5).abs() < 1e-5);
    }
}
