//! Projections: `dst (m, n) = lhs (m, k) · Wᵀ`, with `W` stored as `n` rows of `k` weights
//! (one output feature per row, as model files store them), in any supported format.
//!
//! The kernel is chosen by shape:
//! - few activation rows (decode): a matrix-vector product, bandwidth-bound, no packing,
//!   split over weight rows: `qmatmul` (16-bit activations, integer dots) for quantized
//!   weights, f32 dot products for f32 weights;
//! - many rows (prefill): for quantized weights on x86, the integer GEMM (`igemm`: the
//!   weights widened to i16 panels once per call, the activations quantized to 16 bits as
//!   the matvec path quantizes them); otherwise the packed f32 GEMM, with quantized
//!   weights decoded into the packed B panels once per call (`gemm::QuantRowsT`).
//!
//! `GEMM_MIN_ROWS` is where the GEMM overtakes the matvec path on this machine's shapes
//! (`cargo bench --bench qmatmul -- "int/|gemm/"`, Q4_1 576×1536, 2 threads: 16 rows
//! 0.25 ms vs 0.43 ms, 32 rows 0.48 vs 0.48, 64 rows 1.08 vs 0.63). The GEMM pays a fixed
//! cost to decode the whole matrix into packed panels, which only many rows amortise.

use super::cpu::Isa;
use super::formats::{with_block, Block, DType, QK};
use half::{bf16, f16};
use std::marker::PhantomData;

use super::gemm::{sgemm, HalfRowsT, MatMut, MatRef, QuantRowsT, SplitRowsT};
use super::halfdot;
use super::igemm;
use super::ops;
use super::par;
use super::prod;
use super::qdot::{ActsSource, QuantActs};
use super::qmatmul::{qmatmul_many, QWeights, MAX_JOBS};
use super::simd;

/// From this many activation rows on, projections use the packed GEMM.
pub const GEMM_MIN_ROWS: usize = 32;
/// From this many rows on, quantized projections use the integer GEMM on ISAs that have
/// one (`cargo bench --bench qmatmul -- "q4_1-(int|igemm)/"`, Q4_1 576×1536, 2 threads:
/// 8 rows 136 µs matvec vs 228 µs GEMM, 16 rows 275 vs 282, 32 rows 612 vs 380 with
/// AVX-512; with AVX2, 16 rows 294 vs 245).
pub const IGEMM_MIN_ROWS: usize = 16;
/// Output features per task in the f32 matrix-vector path.
const CHUNK_N: usize = 64;

/// The weights of a projection, `(n, k)` row-major, as the kernels see them.
#[derive(Clone, Copy)]
pub enum WeightView<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    BF16(&'a [bf16]),
    Quant(QWeights<'a>),
}

impl<'a> WeightView<'a> {
    /// The quantized formats, as the integer matvec kernels take them.
    fn quant(self) -> Option<QWeights<'a>> {
        match self {
            WeightView::Quant(q) => Some(q),
            _ => None,
        }
    }

    /// Views `bytes` in `dtype`'s block layout; `None` if the dtype has no matmul kernel
    /// or the bytes are misaligned or not a whole number of blocks.
    pub fn from_bytes(dtype: DType, bytes: &'a [u8]) -> Option<Self> {
        match dtype {
            DType::F32 => Some(WeightView::F32(bytemuck::try_cast_slice(bytes).ok()?)),
            DType::F16 => Some(WeightView::F16(bytemuck::try_cast_slice(bytes).ok()?)),
            DType::BF16 => Some(WeightView::BF16(bytemuck::try_cast_slice(bytes).ok()?)),
            q => QWeights::new(q, bytes).map(WeightView::Quant),
        }
    }
}

/// What a projection needs besides its input and output, owned by the caller (the
/// session's workspace) and reused, so that a warm call allocates nothing. The GEMM's
/// packing buffers are per thread, in `gemm`.
#[derive(Clone, Debug, Default)]
pub struct MatmulScratch {
    /// The activations quantized for the integer kernels.
    pub acts: QuantActs,
}

/// `dst (m, n) = lhs (m, k) · Wᵀ`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    isa: Isa,
    ws: &mut MatmulScratch,
    lhs: &[f32],
    w: WeightView,
    dst: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(lhs.len(), prod(m, k), "matmul: lhs must be (m, k)");
    assert_eq!(dst.len(), prod(m, n), "matmul: dst must be (m, n)");
    let a = MatRef::row_major(lhs, m, k);
    let c = MatMut::row_major(dst, m, n);
    let gemm = m >= GEMM_MIN_ROWS;
    match w {
        WeightView::F32(w) if gemm => sgemm(isa, a, &MatRef::row_major(w, n, k).t(), c),
        WeightView::F32(w) => matvec(isa, lhs, w, c.data, k, n, simd::dot),
        WeightView::F16(w) if gemm => sgemm(isa, a, &HalfRowsT { rows: w, k, n }, c),
        WeightView::F16(w) => matvec(isa, lhs, w, c.data, k, n, halfdot::dot),
        WeightView::BF16(w) if gemm => sgemm(isa, a, &HalfRowsT { rows: w, k, n }, c),
        WeightView::BF16(w) => matvec(isa, lhs, w, c.data, k, n, halfdot::dot),
        WeightView::Quant(q) if m >= IGEMM_MIN_ROWS && igemm::supported(isa) => {
            ws.acts.quantize(isa, lhs, m, k);
            igemm_quant(isa, &ws.acts, q, c.data);
        }
        WeightView::Quant(q) => with_block!(q.dtype(), B => {
            if gemm {
                match q.split_view(k / B::BLOCK) {
                    Some(view) => sgemm(isa, a, &SplitRowsT::<B> { view, k, n, format: PhantomData }, c),
                    None => sgemm(isa, a, &QuantRowsT { blocks: q.blocks::<B>(), k, n }, c),
                }
            } else {
                qmatmul_many(isa, &mut ws.acts, ActsSource::Rows(lhs), m, k, &mut [(q, c.data)])
            }
        }, else => unreachable!("QWeights holds a block format")),
    }
}

/// Several projections of the same activations: `dst_j (m, n_j) = lhs (m, k) · W_jᵀ`.
/// Few rows of quantized weights run as one parallel region (`qmatmul_many`); otherwise
/// each product runs on its own. At most `MAX_JOBS` products.
pub fn matmul_many<const N: usize>(
    isa: Isa,
    ws: &mut MatmulScratch,
    lhs: &[f32],
    m: usize,
    k: usize,
    jobs: [(WeightView, &mut [f32]); N],
) {
    const { assert!(N <= MAX_JOBS) };
    for (w, dst) in quantized_many(isa, ws, ActsSource::Rows(lhs), m, k, jobs)
        .into_iter()
        .flatten()
    {
        let n = dst.len() / m.max(1);
        matmul(isa, ws, lhs, w, dst, m, k, n);
    }
}

/// The RMSNorm of `x (m, k)` by `weight` (`ops::rmsnorm`), then `matmul_many` of it. When
/// the kernels take 16-bit activations (quantized weights, any row count on x86, few rows
/// elsewhere), the norm is made inside their quantization, a piece of a row at a time in
/// registers and on the stack: `normed` is not written, and the products are bit-identical
/// to `rmsnorm` into `normed` then `matmul_many`. Otherwise the norm goes to `normed`
/// (`(m, k)`) and the products read it.
#[allow(clippy::too_many_arguments)]
pub fn matmul_many_rmsnorm<const N: usize>(
    isa: Isa,
    ws: &mut MatmulScratch,
    (x, weight, eps): (&[f32], &[f32], f32),
    normed: &mut [f32],
    m: usize,
    k: usize,
    jobs: [(WeightView, &mut [f32]); N],
) {
    const { assert!(N <= MAX_JOBS) };
    let src = ActsSource::RmsNorm { x, weight, eps };
    if let Some(jobs) = quantized_many(isa, ws, src, m, k, jobs) {
        ops::rmsnorm(normed, x, weight, eps);
        matmul_many(isa, ws, normed, m, k, jobs);
    }
}

/// `matmul_many` on 16-bit activations made from `src`, if the weights and the row count
/// take that path (the integer GEMM, or the integer matvec for few rows); else the jobs
/// back, untouched.
fn quantized_many<'w, 'o, const N: usize>(
    isa: Isa,
    ws: &mut MatmulScratch,
    src: ActsSource,
    m: usize,
    k: usize,
    jobs: [(WeightView<'w>, &'o mut [f32]); N],
) -> Option<[(WeightView<'w>, &'o mut [f32]); N]> {
    if !jobs.iter().all(|(w, _)| w.quant().is_some()) {
        return Some(jobs);
    }
    let quant = |w: WeightView<'w>| w.quant().expect("checked above");
    if m >= IGEMM_MIN_ROWS && igemm::supported(isa) {
        // The integer GEMM: the activations quantized once for all the products.
        ws.acts.quantize_from(isa, src, m, k);
        for (w, dst) in jobs {
            igemm_quant(isa, &ws.acts, quant(w), dst);
        }
        return None;
    }
    if m >= GEMM_MIN_ROWS {
        return Some(jobs);
    }
    let mut qjobs = jobs.map(|(w, dst)| (quant(w), dst));
    qmatmul_many(isa, &mut ws.acts, src, m, k, &mut qjobs);
    None
}

/// `dst = acts · qᵀ` by the integer GEMM, from whichever layout `q` carries.
fn igemm_quant(isa: Isa, acts: &QuantActs, q: QWeights, dst: &mut [f32]) {
    let (k, n) = (acts.nb * QK, dst.len() / acts.rows.max(1));
    with_block!(q.dtype(), B => {
        let ran = match q.split_view(k / B::BLOCK) {
            Some(view) => igemm::igemm(isa, acts, &SplitRowsT::<B> { view, k, n, format: PhantomData }, dst),
            None => igemm::igemm(isa, acts, &QuantRowsT { blocks: q.blocks::<B>(), k, n }, dst),
        };
        assert!(ran, "matmul: no integer GEMM for {isa:?}");
    }, else => unreachable!("QWeights holds a block format"))
}

/// Float weights (f32, f16, bf16), few rows: one dot product per output, split over
/// weight rows.
#[allow(clippy::too_many_arguments)]
fn matvec<W: Sync>(
    isa: Isa,
    lhs: &[f32],
    w: &[W],
    dst: &mut [f32],
    k: usize,
    n: usize,
    dot: fn(Isa, &[f32], &[W]) -> f32,
) {
    assert_eq!(w.len(), prod(n, k), "matmul: float weights must be (n, k)");
    for (x, out) in lhs.chunks_exact(k).zip(dst.chunks_exact_mut(n)) {
        par::for_each_chunk_mut(out, CHUNK_N, w.len(), |c, o| {
            for (j, v) in o.iter_mut().enumerate() {
                let r = c * CHUNK_N + j;
                *v = dot(isa, x, &w[r * k..(r + 1) * k]);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;
    use crate::kernels::formats::{dequantize_blocks, BlockQ4_0, BlockQ4_1, BlockQ8_0, Quantize};

    fn naive(lhs: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|p| lhs[i * k + p] as f64 * w[j * k + p] as f64)
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

    /// `matmul_many_rmsnorm` equals `rmsnorm` then `matmul_many` bit for bit, on every
    /// path: the matvec (fused norm), the integer GEMM (fused, on x86) and the f32 GEMM
    /// (the norm written out), with quantized and f32 weights.
    #[test]
    fn a_fused_rmsnorm_matmul_equals_the_two_steps() {
        let (k, n) = (96, 40);
        let w = data(n * k, 4.0);
        let q41: Vec<BlockQ4_1> = w.chunks_exact(32).map(BlockQ4_1::quantize).collect();
        let q8: Vec<BlockQ8_0> = w.chunks_exact(32).map(BlockQ8_0::quantize).collect();
        let weight = data(k, 7.0);
        for m in [1, 3, IGEMM_MIN_ROWS + 1, GEMM_MIN_ROWS + 5] {
            let x: Vec<f32> = data(m * k, 5.0).iter().map(|v| v * 9.0).collect();
            for isa in supported_isas() {
                let views = [
                    WeightView::Quant(QWeights::of(&q41)),
                    WeightView::Quant(QWeights::of(&q8)),
                ];
                let mut want = [vec![0.0; m * n], vec![0.0; m * n]];
                let mut normed = vec![0.0; m * k];
                ops::rmsnorm(&mut normed, &x, &weight, 1e-6);
                let mut ws = MatmulScratch::default();
                let [a, b] = &mut want;
                matmul_many(
                    isa,
                    &mut ws,
                    &normed,
                    m,
                    k,
                    [(views[0], &mut a[..]), (views[1], &mut b[..])],
                );
                let mut got = [vec![0.0; m * n], vec![0.0; m * n]];
                let mut normed2 = vec![0.0; m * k];
                let [a, b] = &mut got;
                let jobs = [(views[0], &mut a[..]), (views[1], &mut b[..])];
                matmul_many_rmsnorm(isa, &mut ws, (&x, &weight, 1e-6), &mut normed2, m, k, jobs);
                assert_eq!(got, want, "{isa:?} m {m}");
                // f32 weights take the f32 paths, which read the written norm.
                let mut got = vec![0.0; m * n];
                let mut want = vec![0.0; m * n];
                matmul_many(
                    isa,
                    &mut ws,
                    &normed,
                    m,
                    k,
                    [(WeightView::F32(&w), &mut want[..])],
                );
                matmul_many_rmsnorm(
                    isa,
                    &mut ws,
                    (&x, &weight, 1e-6),
                    &mut normed2,
                    m,
                    k,
                    [(WeightView::F32(&w), &mut got[..])],
                );
                assert_eq!(got, want, "{isa:?} m {m}, f32 weights");
                assert_eq!(normed2, normed);
            }
        }
    }

    #[test]
    fn both_paths_match_naive_for_every_format() {
        for &(m, k, n) in &[
            (1, 32, 1),
            (1, 64, 70),
            (5, 96, 3),
            (7, 64, 9),
            (8, 64, 9),
            (33, 160, 65),
        ] {
            let lhs = data(m * k, 3.0);
            let w = data(n * k, 4.0);
            let q8: Vec<BlockQ8_0> = w.chunks_exact(32).map(BlockQ8_0::quantize).collect();
            let q40: Vec<BlockQ4_0> = w.chunks_exact(32).map(BlockQ4_0::quantize).collect();
            let q41: Vec<BlockQ4_1> = w.chunks_exact(32).map(BlockQ4_1::quantize).collect();
            let deq = |f: &dyn Fn(&mut [f32])| {
                let mut v = vec![0.0; n * k];
                f(&mut v);
                v
            };
            let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let cases: [(WeightView, Vec<f32>, f32); 6] = [
                (WeightView::F32(&w), w.clone(), 1e-4),
                (
                    WeightView::F16(&wh),
                    wh.iter().map(|v| v.to_f32()).collect(),
                    1e-4,
                ),
                (
                    WeightView::BF16(&wb),
                    wb.iter().map(|v| v.to_f32()).collect(),
                    1e-4,
                ),
                // 16-bit activations in the matvec path.
                (
                    WeightView::Quant(QWeights::of(&q8)),
                    deq(&|o| dequantize_blocks(&q8, o)),
                    2e-2,
                ),
                (
                    WeightView::Quant(QWeights::of(&q40)),
                    deq(&|o| dequantize_blocks(&q40, o)),
                    2e-2,
                ),
                (
                    WeightView::Quant(QWeights::of(&q41)),
                    deq(&|o| dequantize_blocks(&q41, o)),
                    2e-2,
                ),
            ];
            for (wt, wd, tol) in cases {
                let want = naive(&lhs, &wd, m, k, n);
                for isa in supported_isas() {
                    let mut d = vec![f32::NAN; m * n];
                    matmul(
                        isa,
                        &mut MatmulScratch::default(),
                        &lhs,
                        wt,
                        &mut d,
                        m,
                        k,
                        n,
                    );
                    let scale = (k as f32).sqrt();
                    for (x, y) in d.iter().zip(&want) {
                        assert!(
                            (x - y).abs() < tol * scale,
                            "{isa:?} ({m},{k},{n}): {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
}
