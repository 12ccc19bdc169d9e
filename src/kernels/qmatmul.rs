//! Quantized matmul: `dst (m, n) = lhs (m, k) · Wᵀ` with `W` as `n` rows of quantized
//! blocks, the activations quantized once per call to 16 bits (`QuantActs`), and integer dot
//! products (`qdot`). Each decoded weight block serves up to `MAX_ROWS` activation rows.
//!
//! Work is split over weight rows, in a few large contiguous chunks (each thread streams
//! its own slice of the matrix). Every output is computed by the same kernel call whatever
//! the split, so the result does not depend on the thread count.

use rayon::prelude::*;

use super::cpu::Isa;
use super::kdot;
use super::kquant::{BlockQ4K, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K};
use super::prod;
use super::qdot::{self, QuantActs, MAX_ROWS};
use super::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0, QuantBlock, QK};

/// A weight block format with an integer matvec kernel: `qdot`'s (Q8_0, Q4_0, Q4_1) or
/// `kdot`'s (Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).
pub trait RowKernel: QuantBlock {
    /// `out[r] = w · a[row0 + r]`, `w` one weight row.
    fn dot_rows<const R: usize>(
        isa: Isa,
        w: &[Self],
        a: &QuantActs,
        row0: usize,
        out: &mut [f32; R],
    );
}

macro_rules! row_kernel {
    ($module:ident: $($t:ty),*) => {$(
        impl RowKernel for $t {
            #[inline]
            fn dot_rows<const R: usize>(
                isa: Isa,
                w: &[Self],
                a: &QuantActs,
                row0: usize,
                out: &mut [f32; R],
            ) {
                $module::dot_rows::<Self, R>(isa, w, a, row0, out)
            }
        }
    )*};
}
row_kernel!(qdot: BlockQ8_0, BlockQ4_0, BlockQ4_1);
row_kernel!(kdot: BlockQ5_0, BlockQ5_1, BlockQ4K, BlockQ5K, BlockQ6K);

/// Below this many multiply-adds a call runs on the calling thread: waking a worker costs
/// more than it saves (see DESIGN.md's measured rayon costs).
pub const PARALLEL_MIN_MACS: usize = 64 * 1024;

/// Weight rows per task when split: a multiple of 16 keeps chunks aligned to cache lines
/// of the output.
const ROW_GRAIN: usize = 16;

/// A pointer that may be sent to the threads writing disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used to write disjoint elements from different threads (see `qmatmul`).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Quantized weights of one projection, `(n, k)` row-major in blocks.
#[derive(Clone, Copy)]
pub enum QWeights<'a> {
    Q8_0(&'a [BlockQ8_0]),
    Q4_0(&'a [BlockQ4_0]),
    Q4_1(&'a [BlockQ4_1]),
    Q5_0(&'a [BlockQ5_0]),
    Q5_1(&'a [BlockQ5_1]),
    Q4K(&'a [BlockQ4K]),
    Q5K(&'a [BlockQ5K]),
    Q6K(&'a [BlockQ6K]),
}

/// Applies `$f` to the block slice of any `QWeights` variant.
macro_rules! each_format {
    ($w:expr, $b:ident => $f:expr) => {
        match $w {
            QWeights::Q8_0($b) => $f,
            QWeights::Q4_0($b) => $f,
            QWeights::Q4_1($b) => $f,
            QWeights::Q5_0($b) => $f,
            QWeights::Q5_1($b) => $f,
            QWeights::Q4K($b) => $f,
            QWeights::Q5K($b) => $f,
            QWeights::Q6K($b) => $f,
        }
    };
}

pub(crate) use each_format;

impl QWeights<'_> {
    /// Number of values (blocks × block size).
    fn values(&self) -> usize {
        each_format!(*self, w => prod(w.len(), block_of(w)))
    }

    fn rows(&self, isa: Isa, acts: &QuantActs, r0: usize, r1: usize, out: SendPtr, n: usize) {
        each_format!(*self, w => rows(isa, w, acts, r0, r1, out, n))
    }
}

/// Values per block of a slice's format.
fn block_of<B: QuantBlock>(_: &[B]) -> usize {
    B::BLOCK
}

/// `dst (m, n) = lhs (m, k) · w (n, k)ᵀ`.
pub fn qmatmul<B: RowKernel>(
    isa: Isa,
    lhs: &[f32],
    w: &[B],
    dst: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(
        k % B::BLOCK,
        0,
        "qmatmul: k must be a multiple of {}",
        B::BLOCK
    );
    assert_eq!(lhs.len(), prod(m, k), "qmatmul: lhs must be (m, k)");
    assert_eq!(
        prod(w.len(), B::BLOCK),
        prod(n, k),
        "qmatmul: w must be (n, k)"
    );
    assert_eq!(dst.len(), prod(m, n), "qmatmul: dst must be (m, n)");
    if m == 0 || n == 0 {
        return;
    }
    let mut acts = QuantActs::default();
    acts.quantize(lhs, m, k);
    let out = SendPtr(dst.as_mut_ptr());
    split(m.saturating_mul(n).saturating_mul(k), n, |r0, r1| {
        rows(isa, w, &acts, r0, r1, out, n)
    });
}

/// Several products of the same activations, `dst_j (m, n_j) = lhs (m, k) · W_jᵀ`, in one
/// parallel region: the activations are quantized once and the rows of all the matrices
/// are split together (q, k and v, or gate and up, cost one fork-join instead of three).
pub fn qmatmul_many(
    isa: Isa,
    lhs: &[f32],
    m: usize,
    k: usize,
    jobs: &mut [(QWeights, &mut [f32])],
) {
    assert_eq!(k % QK, 0, "qmatmul: k must be a multiple of {QK}");
    assert_eq!(lhs.len(), prod(m, k), "qmatmul: lhs must be (m, k)");
    if m == 0 {
        return;
    }
    let nb = k / QK;
    if nb == 0 {
        jobs.iter_mut().for_each(|(_, dst)| dst.fill(0.0));
        return;
    }
    // (first global row, rows, weights, output) per job.
    let mut table = Vec::with_capacity(jobs.len());
    let mut total = 0;
    for (w, dst) in jobs.iter_mut() {
        assert_eq!(w.values() % k, 0, "qmatmul: weights must be (n, k)");
        let n = w.values() / k;
        assert_eq!(dst.len(), prod(m, n), "qmatmul: dst must be (m, n)");
        table.push((total, n, *w, SendPtr(dst.as_mut_ptr())));
        total += n;
    }
    let mut acts = QuantActs::default();
    acts.quantize(lhs, m, k);
    split(
        m.saturating_mul(total).saturating_mul(k),
        total,
        |g0, g1| {
            for &(first, n, w, out) in &table {
                let (r0, r1) = (g0.max(first), g1.min(first + n));
                if r0 < r1 {
                    w.rows(isa, &acts, r0 - first, r1 - first, out, n);
                }
            }
        },
    );
}

/// Runs `job(r0, r1)` over `0..n` rows: on this thread when the product is small, else in
/// one contiguous chunk per thread.
fn split(macs: usize, n: usize, job: impl Fn(usize, usize) + Sync) {
    let threads = rayon::current_num_threads();
    if threads == 1 || macs < PARALLEL_MIN_MACS {
        job(0, n);
        return;
    }
    let chunk = n.div_ceil(threads).next_multiple_of(ROW_GRAIN);
    (0..n.div_ceil(chunk))
        .into_par_iter()
        .for_each(|c| job(c * chunk, ((c + 1) * chunk).min(n)));
}

/// Weight rows `r0 .. r1` of `w` against every activation row, into `dst (m, n)` at `out`.
fn rows<B: RowKernel>(
    isa: Isa,
    w: &[B],
    acts: &QuantActs,
    r0: usize,
    r1: usize,
    out: SendPtr,
    n: usize,
) {
    let m = acts.rows;
    // Weight blocks per row.
    let nb = acts.nb * QK / B::BLOCK;
    assert!(
        r1 <= n && w.len() == n * nb,
        "qmatmul: weights must be (n, k)"
    );
    for r in r0..r1 {
        let wr = &w[r * nb..(r + 1) * nb];
        let mut i = 0;
        while i < m {
            match m - i {
                1 => group::<B, 1>(isa, wr, acts, i, out, n, r),
                2 => group::<B, 2>(isa, wr, acts, i, out, n, r),
                3 => group::<B, 3>(isa, wr, acts, i, out, n, r),
                _ => group::<B, 4>(isa, wr, acts, i, out, n, r),
            }
            i += (m - i).min(MAX_ROWS);
        }
    }
}

/// Computes weight row `r` against activation rows `i .. i + R` and writes the results to
/// column `r` of `dst` (`(m, n)` at `out`).
#[inline]
fn group<B: RowKernel, const R: usize>(
    isa: Isa,
    wr: &[B],
    acts: &QuantActs,
    i: usize,
    out: SendPtr,
    n: usize,
    r: usize,
) {
    let mut o = [0.0f32; R];
    B::dot_rows::<R>(isa, wr, acts, i, &mut o);
    for (t, v) in o.into_iter().enumerate() {
        // Each column `r` belongs to exactly one task: no two threads write one element.
        // SAFETY: row i + t < m, column r < n: inside `dst` (m × n, checked on entry).
        unsafe { *out.0.add((i + t) * n + r) = v };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;
    use crate::kernels::qdot::{dot_rows_scalar, DotBlock};
    use crate::kernels::quant::Quantize;

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.731 + seed) * 1.37).sin() * 2.0)
            .collect()
    }

    fn check<B: DotBlock + RowKernel>() {
        for &(m, k, n) in &[
            (1, 32, 1),
            (1, 64, 37),
            (2, 96, 17),
            (3, 32, 5),
            (5, 64, 19),
            (9, 128, 64),
            (1, 576, 300),
        ] {
            let w: Vec<B> = data(n * k, 1.0).chunks_exact(QK).map(B::quantize).collect();
            let lhs = data(m * k, 2.0);
            let mut q = QuantActs::default();
            q.quantize(&lhs, m, k);
            let nb = k / QK;
            for isa in supported_isas() {
                let mut dst = vec![f32::NAN; m * n];
                qmatmul(isa, &lhs, &w, &mut dst, m, k, n);
                for i in 0..m {
                    for r in 0..n {
                        let mut want = [0.0f32; 1];
                        dot_rows_scalar::<B, 1>(&w[r * nb..(r + 1) * nb], &q, i, &mut want);
                        let got = dst[i * n + r];
                        assert!(
                            (got - want[0]).abs() <= 1e-5 * (1.0 + want[0].abs()),
                            "{isa:?} ({m},{k},{n}) [{i},{r}]: {got} vs {}",
                            want[0]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn matches_scalar_dots_for_every_format_and_isa() {
        check::<BlockQ4_0>();
        check::<BlockQ4_1>();
        check::<BlockQ8_0>();
    }

    /// The K-quant path (blocks of 256, eight activation blocks each) against f32 dot
    /// products of the dequantized weights.
    #[test]
    fn kquant_rows_match_dequantized_weights() {
        fn check<B: RowKernel + bytemuck::Zeroable>(fix: impl Fn(&mut B)) {
            let (m, k, n) = (3, 512, 5);
            let mut w = vec![B::zeroed(); n * k / B::BLOCK];
            let raw: Vec<u8> = (0..std::mem::size_of_val(w.as_slice()))
                .map(|i| ((i * 7919) % 251) as u8)
                .collect();
            bytemuck::cast_slice_mut::<B, u8>(&mut w).copy_from_slice(&raw);
            w.iter_mut().for_each(fix);
            let mut wd = vec![0.0; n * k];
            crate::kernels::quant::dequantize_blocks(&w, &mut wd);
            let lhs = data(m * k, 4.0);
            for isa in supported_isas() {
                let mut dst = vec![f32::NAN; m * n];
                qmatmul(isa, &lhs, &w, &mut dst, m, k, n);
                for i in 0..m {
                    for r in 0..n {
                        let want: f32 = crate::kernels::ops::dot(
                            &lhs[i * k..(i + 1) * k],
                            &wd[r * k..(r + 1) * k],
                        );
                        let got = dst[i * n + r];
                        assert!(
                            (got - want).abs() <= 1e-3 * (1.0 + want.abs()),
                            "{:?} {isa:?} [{i},{r}]: {got} vs {want}",
                            B::DTYPE
                        );
                    }
                }
            }
        }
        let h = half::f16::from_f32;
        check::<BlockQ4K>(|b| (b.d, b.dmin) = (h(0.01), h(0.02)));
        check::<BlockQ5K>(|b| (b.d, b.dmin) = (h(0.01), h(0.02)));
        check::<BlockQ6K>(|b| b.d = h(0.003));
        check::<BlockQ5_0>(|b| b.d = h(0.05));
        check::<BlockQ5_1>(|b| (b.d, b.m) = (h(0.05), h(-0.5)));
    }

    #[test]
    fn many_equals_one_at_a_time() {
        let (m, k) = (2, 96);
        let lhs = data(m * k, 5.0);
        let w1: Vec<BlockQ4_1> = data(40 * k, 1.0)
            .chunks_exact(QK)
            .map(BlockQ4_1::quantize)
            .collect();
        let w2: Vec<BlockQ8_0> = data(300 * k, 2.0)
            .chunks_exact(QK)
            .map(BlockQ8_0::quantize)
            .collect();
        let w3: Vec<BlockQ4_0> = data(7 * k, 3.0)
            .chunks_exact(QK)
            .map(BlockQ4_0::quantize)
            .collect();
        for isa in supported_isas() {
            let (mut a1, mut a2, mut a3) =
                (vec![0.0; m * 40], vec![0.0; m * 300], vec![0.0; m * 7]);
            qmatmul(isa, &lhs, &w1, &mut a1, m, k, 40);
            qmatmul(isa, &lhs, &w2, &mut a2, m, k, 300);
            qmatmul(isa, &lhs, &w3, &mut a3, m, k, 7);
            let (mut b1, mut b2, mut b3) =
                (vec![0.0; m * 40], vec![0.0; m * 300], vec![0.0; m * 7]);
            qmatmul_many(
                isa,
                &lhs,
                m,
                k,
                &mut [
                    (QWeights::Q4_1(&w1), &mut b1),
                    (QWeights::Q8_0(&w2), &mut b2),
                    (QWeights::Q4_0(&w3), &mut b3),
                ],
            );
            assert_eq!((a1, a2, a3), (b1, b2, b3), "{isa:?}");
        }
    }

    #[test]
    fn same_bits_with_one_and_two_threads() {
        let (m, k, n) = (3, 256, 700);
        let w: Vec<BlockQ4_1> = data(n * k, 3.0)
            .chunks_exact(QK)
            .map(BlockQ4_1::quantize)
            .collect();
        let lhs = data(m * k, 4.0);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut dst = vec![0.0; m * n];
            pool.install(|| qmatmul(crate::kernels::cpu::isa(), &lhs, &w, &mut dst, m, k, n));
            dst
        };
        assert_eq!(run(1), run(2));
    }
}
