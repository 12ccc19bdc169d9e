//! `dst = lhs · rhsᵀ` for projections: `lhs` is `(m, k)` activations, `rhs` is `(n, k)`
//! weights (one output feature per row, as stored in model files), `dst` is `(m, n)`.
//!
//! The weights may be f32 or a block-quantized format; quantized rows are decoded to f32
//! on the fly, once per tile of activation rows, and never stored whole. This is the
//! straightforward version: a dot product per output, parallel over tiles. Every output
//! is computed by the same `dot` whatever the thread count, so results are bit-identical
//! with 1 or N threads.

use rayon::prelude::*;

use super::ops::dot;
use super::quant::QuantBlock;

/// Activation rows that share one decoded weight row. 16 rows of k = 1536 f32 take 96 KB,
/// which stays in L2 while every weight row of the matrix streams past.
const TILE_M: usize = 16;
/// Output features per task when there is a single activation row (decode).
const CHUNK_N: usize = 64;

/// Rows of weights that can be read as f32.
trait WeightRows: Sync {
    /// Row `r` as `k` f32 values, decoded into `buf` if it is not stored as f32.
    fn row<'a>(&'a self, r: usize, buf: &'a mut [f32]) -> &'a [f32];
}

struct F32Rows<'a> {
    data: &'a [f32],
    k: usize,
}

impl WeightRows for F32Rows<'_> {
    fn row<'a>(&'a self, r: usize, _buf: &'a mut [f32]) -> &'a [f32] {
        &self.data[r * self.k..(r + 1) * self.k]
    }
}

struct QuantRows<'a, B> {
    blocks: &'a [B],
    blocks_per_row: usize,
}

impl<B: QuantBlock> WeightRows for QuantRows<'_, B> {
    fn row<'a>(&'a self, r: usize, buf: &'a mut [f32]) -> &'a [f32] {
        let row = &self.blocks[r * self.blocks_per_row..(r + 1) * self.blocks_per_row];
        for (b, out) in row.iter().zip(buf.chunks_exact_mut(B::BLOCK)) {
            b.dequantize(out);
        }
        buf
    }
}

/// `dst (m, n) = lhs (m, k) · rhs (n, k)ᵀ` with f32 weights.
pub fn matmul_f32(lhs: &[f32], rhs: &[f32], dst: &mut [f32], m: usize, k: usize, n: usize) {
    assert_eq!(rhs.len(), n * k, "matmul_f32: rhs must be (n, k)");
    drive(lhs, &F32Rows { data: rhs, k }, dst, m, k, n);
}

/// `dst (m, n) = lhs (m, k) · rhs (n, k)ᵀ` with block-quantized weights: `rhs` holds
/// `n * k / B::BLOCK` blocks, row after row.
pub fn matmul_quant<B: QuantBlock>(
    lhs: &[f32],
    rhs: &[B],
    dst: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(
        k % B::BLOCK,
        0,
        "matmul_quant: k must be a multiple of the block size"
    );
    assert_eq!(
        rhs.len() * B::BLOCK,
        n * k,
        "matmul_quant: rhs must be (n, k)"
    );
    drive(
        lhs,
        &QuantRows {
            blocks: rhs,
            blocks_per_row: k / B::BLOCK,
        },
        dst,
        m,
        k,
        n,
    );
}

fn drive<W: WeightRows>(lhs: &[f32], rhs: &W, dst: &mut [f32], m: usize, k: usize, n: usize) {
    assert_eq!(lhs.len(), m * k, "matmul: lhs must be (m, k)");
    assert_eq!(dst.len(), m * n, "matmul: dst must be (m, n)");
    if m == 0 || n == 0 {
        return;
    }
    if m == 1 {
        // Decode: one activation row; split the output features.
        dst.par_chunks_mut(CHUNK_N).enumerate().for_each_init(
            || vec![0.0f32; k],
            |buf, (c, out)| {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = dot(lhs, rhs.row(c * CHUNK_N + j, buf));
                }
            },
        );
        return;
    }
    // Prefill: tiles of activation rows; each weight row is decoded once per tile and
    // used for every row of it.
    let tile = TILE_M.min(m.div_ceil(rayon::current_num_threads())).max(1);
    dst.par_chunks_mut(tile * n)
        .zip(lhs.par_chunks(tile * k))
        .for_each_init(
            || vec![0.0f32; k],
            |buf, (d, x)| {
                let rows = x.len() / k;
                for r in 0..n {
                    let w = rhs.row(r, buf);
                    for i in 0..rows {
                        d[i * n + r] = dot(&x[i * k..(i + 1) * k], w);
                    }
                }
            },
        );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0};

    fn naive(lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|p| lhs[i * k + p] as f64 * rhs[j * k + p] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    fn data(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.618).sin())
            .collect()
    }

    #[test]
    fn f32_matches_naive_on_awkward_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 17, 3),
            (2, 5, 7),
            (3, 64, 130),
            (19, 33, 5),
            (40, 16, 1),
        ] {
            let (a, b) = (data(m * k, 1.0), data(n * k, 2.0));
            let mut d = vec![0.0; m * n];
            matmul_f32(&a, &b, &mut d, m, k, n);
            for (x, y) in d.iter().zip(naive(&a, &b, m, k, n)) {
                assert!((x - y).abs() < 1e-4, "({m},{k},{n}): {x} vs {y}");
            }
        }
    }

    fn check_quant<B: QuantBlock>() {
        for &(m, k, n) in &[(1, 32, 1), (1, 64, 70), (5, 96, 3), (33, 32, 9)] {
            let a = data(m * k, 3.0);
            let w = data(n * k, 4.0);
            let blocks: Vec<B> = w.chunks_exact(B::BLOCK).map(B::quantize).collect();
            let mut wd = vec![0.0; n * k];
            crate::kernels::quant::dequantize_blocks(&blocks, &mut wd);
            let mut d = vec![0.0; m * n];
            matmul_quant(&a, &blocks, &mut d, m, k, n);
            for (x, y) in d.iter().zip(naive(&a, &wd, m, k, n)) {
                assert!(
                    (x - y).abs() < 1e-4,
                    "{:?} ({m},{k},{n}): {x} vs {y}",
                    B::DTYPE
                );
            }
        }
    }

    #[test]
    fn quant_matches_dequantized_f32() {
        check_quant::<BlockQ8_0>();
        check_quant::<BlockQ4_0>();
        check_quant::<BlockQ4_1>();
    }

    #[test]
    fn empty_shapes_do_nothing() {
        let mut d: Vec<f32> = vec![];
        matmul_f32(&[], &[0.0; 4], &mut d, 0, 4, 1);
        matmul_f32(&[0.0; 4], &[], &mut d, 1, 4, 0);
    }
}
