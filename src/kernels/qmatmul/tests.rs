//! qmatmul against the scalar dot products and dequantized weights.

use super::*;
use crate::kernels::cpu::supported_isas;
use crate::kernels::formats::{
    BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, Quantize,
};
use crate::kernels::qdot::dot_rows_scalar;

fn data(n: usize, seed: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.731 + seed) * 1.37).sin() * 2.0)
        .collect()
}

fn check<B: Quantize>() {
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
        q.quantize(Isa::Scalar, &lhs, m, k);
        let nb = k / QK;
        for isa in supported_isas() {
            let mut dst = vec![f32::NAN; m * n];
            qmatmul(isa, &mut QuantActs::default(), &lhs, &w, &mut dst, m, k, n);
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
    fn check<B: Block>(fix: impl Fn(&mut B)) {
        let (m, k, n) = (3, 512, 5);
        let mut w = vec![B::zeroed(); n * k / B::BLOCK];
        let raw: Vec<u8> = (0..std::mem::size_of_val(w.as_slice()))
            .map(|i| ((i * 7919) % 251) as u8)
            .collect();
        bytemuck::cast_slice_mut::<B, u8>(&mut w).copy_from_slice(&raw);
        w.iter_mut().for_each(fix);
        let mut wd = vec![0.0; n * k];
        crate::kernels::formats::dequantize_blocks(&w, &mut wd);
        let lhs = data(m * k, 4.0);
        for isa in supported_isas() {
            let mut dst = vec![f32::NAN; m * n];
            qmatmul(isa, &mut QuantActs::default(), &lhs, &w, &mut dst, m, k, n);
            for i in 0..m {
                for r in 0..n {
                    let want: f32 =
                        crate::kernels::ops::dot(&lhs[i * k..(i + 1) * k], &wd[r * k..(r + 1) * k]);
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
        let (mut a1, mut a2, mut a3) = (vec![0.0; m * 40], vec![0.0; m * 300], vec![0.0; m * 7]);
        qmatmul(isa, &mut QuantActs::default(), &lhs, &w1, &mut a1, m, k, 40);
        qmatmul(
            isa,
            &mut QuantActs::default(),
            &lhs,
            &w2,
            &mut a2,
            m,
            k,
            300,
        );
        qmatmul(isa, &mut QuantActs::default(), &lhs, &w3, &mut a3, m, k, 7);
        let (mut b1, mut b2, mut b3) = (vec![0.0; m * 40], vec![0.0; m * 300], vec![0.0; m * 7]);
        qmatmul_many(
            isa,
            &mut QuantActs::default(),
            ActsSource::Rows(&lhs),
            m,
            k,
            &mut [
                (QWeights::of(&w1), &mut b1),
                (QWeights::of(&w2), &mut b2),
                (QWeights::of(&w3), &mut b3),
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
        pool.install(|| {
            qmatmul(
                crate::kernels::cpu::isa(),
                &mut QuantActs::default(),
                &lhs,
                &w,
                &mut dst,
                m,
                k,
                n,
            )
        });
        dst
    };
    assert_eq!(run(1), run(2));
}

/// Weights in the split layout (`qdot::split`) give what their blocks give: the integer
/// path within rounding of the scalar reference on every ISA (the split kernel where this
/// CPU has one), and the GEMM path (which decodes the same blocks) bit for bit.
#[test]
fn split_weights_match_their_blocks() {
    use crate::kernels::formats::tests::random_blocks;
    use crate::kernels::matmul::{matmul, MatmulScratch, WeightView};
    use crate::kernels::qdot::split::split;

    fn check<B: Block>() {
        let (k, n) = (640, 23);
        let nb = k / QK;
        // Random quants, modest finite scales (and offsets).
        let w = random_blocks::<B>(n * nb, 7, |b, i| {
            let bytes = bytemuck::bytes_of_mut(b);
            let h = crate::kernels::qdot::tests::h(i, 0.01)
                .to_bits()
                .to_le_bytes();
            bytes[..2].copy_from_slice(&h);
            if B::OFFSET {
                bytes[2..4].copy_from_slice(&h);
            }
        });
        let buf = split(B::DTYPE, bytemuck::cast_slice(&w)).expect("a split format");
        let plain = QWeights::of(&w);
        let with = plain.with_split(&buf);
        for m in [1, 2, 4, 5, 40] {
            let lhs = data(m * k, 3.0);
            let run = |isa: Isa, q: QWeights, lhs: &[f32], m: usize| {
                let mut dst = vec![f32::NAN; m * n];
                let v = WeightView::Quant(q);
                matmul(
                    isa,
                    &mut MatmulScratch::default(),
                    lhs,
                    v,
                    &mut dst,
                    m,
                    k,
                    n,
                );
                dst
            };
            // The scalar integer kernel, a row at a time (16-bit activations, as every
            // x86 path has, GEMM or not).
            let want: Vec<f32> = lhs
                .chunks_exact(k)
                .flat_map(|row| run(Isa::Scalar, plain, row, 1))
                .collect();
            // Paths with f32 activations (the f32 GEMM of ISAs without an integer one)
            // differ from it by at most the activations' rounding: half a step, max|x| /
            // 65534 per 32-value block, times |w|.
            let mut deq = vec![0.0; n * k];
            crate::kernels::formats::dequantize_blocks(&w, &mut deq);
            let rounding = |i: usize, j: usize| -> f32 {
                let (x, wr) = (&lhs[i * k..][..k], &deq[j * k..][..k]);
                x.chunks_exact(QK)
                    .zip(wr.chunks_exact(QK))
                    .map(|(xb, wb)| {
                        let step = xb.iter().fold(0.0f32, |a, v| a.max(v.abs())) / 65534.0;
                        step * wb.iter().map(|v| v.abs()).sum::<f32>()
                    })
                    .sum()
            };
            for isa in supported_isas() {
                let (a, b) = (run(isa, plain, &lhs, m), run(isa, with, &lhs, m));
                for (i, ((&a, &b), &e)) in a.iter().zip(&b).zip(&want).enumerate() {
                    assert!(
                        (b - e).abs() <= 1e-4 * (1.0 + e.abs()) + rounding(i / n, i % n),
                        "{:?} {isa:?} m={m} [{i}]: {b} vs {e}",
                        B::DTYPE
                    );
                    // One row, or AVX2 at any count: the same kernel on both layouts
                    // (the split one decodes its rearranged tails to the same integers).
                    if m == 1 || isa == Isa::Avx2 {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "{:?} {isa:?} m={m} [{i}]",
                            B::DTYPE
                        );
                    }
                    if m >= crate::kernels::matmul::GEMM_MIN_ROWS {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "{:?} {isa:?} GEMM [{i}]",
                            B::DTYPE
                        );
                    }
                }
            }
        }
    }
    check::<BlockQ4_0>();
    check::<BlockQ4_1>();
    check::<BlockQ5_0>();
    check::<BlockQ5_1>();
    check::<BlockQ8_0>();
}
