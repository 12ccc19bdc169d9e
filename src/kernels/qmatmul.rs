//! Quantized matmul: `dst (m, n) = lhs (m, k) · Wᵀ` with `W` as `n` rows of quantized
//! blocks, the activations quantized once per call to 16-bit `BlockA16`, and integer dot
//! products (`qdot`). Each decoded weight block serves up to `MAX_ROWS` activation rows.
//!
//! Work is split over weight rows, in a few large contiguous chunks (each thread streams
//! its own slice of the matrix). Every output is computed by the same kernel call whatever
//! the split, so the result does not depend on the thread count.

use rayon::prelude::*;

use super::cpu::Isa;
use super::qdot::{dot_rows, quantize_row_a16, BlockA16, DotBlock, MAX_ROWS};
use super::quant::QK;

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

/// Quantizes the `(m, k)` activations into `m * k / 32` blocks.
pub fn quantize_lhs(lhs: &[f32], k: usize) -> Vec<BlockA16> {
    let mut q = vec![BlockA16::default(); lhs.len() / QK];
    for (x, b) in lhs.chunks_exact(k).zip(q.chunks_exact_mut(k / QK)) {
        quantize_row_a16(x, b);
    }
    q
}

/// `dst (m, n) = lhs (m, k) · w (n, k)ᵀ`.
pub fn qmatmul<B: DotBlock>(
    isa: Isa,
    lhs: &[f32],
    w: &[B],
    dst: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(k % QK, 0, "qmatmul: k must be a multiple of {QK}");
    assert_eq!(lhs.len(), m * k, "qmatmul: lhs must be (m, k)");
    assert_eq!(w.len() * QK, n * k, "qmatmul: w must be (n, k)");
    assert_eq!(dst.len(), m * n, "qmatmul: dst must be (m, n)");
    if m == 0 || n == 0 {
        return;
    }
    let q = quantize_lhs(lhs, k);
    qmatmul_a16(isa, &q, w, dst, m, k, n);
}

/// As `qmatmul`, with the activations already quantized (`m * k / 32` blocks).
pub fn qmatmul_a16<B: DotBlock>(
    isa: Isa,
    q: &[BlockA16],
    w: &[B],
    dst: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    let nb = k / QK;
    assert_eq!(q.len(), m * nb);
    assert_eq!(dst.len(), m * n);
    let out = SendPtr(dst.as_mut_ptr());
    let rows = |r0: usize, r1: usize| {
        for r in r0..r1 {
            let wr = &w[r * nb..(r + 1) * nb];
            let mut i = 0;
            while i < m {
                let a = &q[i * nb..];
                match m - i {
                    1 => group::<B, 1>(isa, wr, a, nb, out, i, n, r),
                    2 => group::<B, 2>(isa, wr, a, nb, out, i, n, r),
                    3 => group::<B, 3>(isa, wr, a, nb, out, i, n, r),
                    _ => group::<B, 4>(isa, wr, a, nb, out, i, n, r),
                }
                i += (m - i).min(MAX_ROWS);
            }
        }
    };
    let threads = rayon::current_num_threads();
    if threads == 1 || m * n * k < PARALLEL_MIN_MACS {
        rows(0, n);
        return;
    }
    let chunk = n.div_ceil(threads).next_multiple_of(ROW_GRAIN);
    (0..n.div_ceil(chunk))
        .into_par_iter()
        .for_each(|c| rows(c * chunk, ((c + 1) * chunk).min(n)));
}

/// Computes weight row `r` against the `R` activation rows from row `i` and writes the
/// results to column `r` of `dst` (`(m, n)` at `out`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn group<B: DotBlock, const R: usize>(
    isa: Isa,
    wr: &[B],
    a: &[BlockA16],
    nb: usize,
    out: SendPtr,
    i: usize,
    n: usize,
    r: usize,
) {
    let mut o = [0.0f32; R];
    dot_rows::<B, R>(isa, wr, a, nb, &mut o);
    for (t, v) in o.into_iter().enumerate() {
        // SAFETY: the caller passes rows `i + t < m` and a column `r < n`, so the index is
        // inside `dst` (m * n elements); each `r` belongs to exactly one task, so no two
        // threads write the same element.
        unsafe { *out.0.add((i + t) * n + r) = v };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;
    use crate::kernels::qdot::dot_rows_scalar;
    use crate::kernels::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0, QuantBlock};

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.731 + seed) * 1.37).sin() * 2.0)
            .collect()
    }

    fn check<B: DotBlock>() {
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
            let q = quantize_lhs(&lhs, k);
            let nb = k / QK;
            for isa in supported_isas() {
                let mut dst = vec![f32::NAN; m * n];
                qmatmul(isa, &lhs, &w, &mut dst, m, k, n);
                for i in 0..m {
                    for r in 0..n {
                        let mut want = [0.0f32; 1];
                        dot_rows_scalar::<B, 1>(
                            &w[r * nb..(r + 1) * nb],
                            &q[i * nb..],
                            nb,
                            &mut want,
                        );
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
