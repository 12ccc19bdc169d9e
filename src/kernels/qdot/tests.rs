//! Every ISA's kernel against the scalar reference, and the scalar reference against f64
//! dot products of the dequantized weights, for every block format.

use super::*;
use crate::kernels::cpu::supported_isas;
use crate::kernels::formats::tests::{random_blocks, random_bytes};
use crate::kernels::formats::{dequantize_blocks, BlockQ4_1, Quantize};
use half::f16;

/// A modest f16 scale that varies by block.
pub(crate) fn h(i: usize, k: f32) -> f16 {
    f16::from_f32(k * (1.0 + (i % 7) as f32 * 0.1))
}

/// `w` (random blocks of `B`) against 4 activation rows, `nblocks` blocks long: the
/// scalar kernel against f64, every ISA against the scalar kernel, on row counts 1..=4.
fn check_blocks<B: Block>(w: &[B]) {
    let k = w.len() * B::BLOCK;
    let mut deq = vec![0.0; k];
    dequantize_blocks(w, &mut deq);
    let x: Vec<f32> = random_bytes(4 * k, 99)
        .iter()
        .map(|&b| (b as f32 - 127.5) / 50.0)
        .collect();
    let mut a = QuantActs::default();
    a.quantize(Isa::Scalar, &x, 4, k);
    let mut want = [0.0f32; 4];
    dot_rows_scalar::<B, 4>(w, &a, 0, &mut want);
    for (r, &got) in want.iter().enumerate() {
        let exact: f64 = (0..k)
            .map(|i| {
                let b = r * a.nb + i / QK;
                a.qs[b][i % QK] as f64 * a.d[b] as f64 * deq[i] as f64
            })
            .sum();
        assert!(
            (got as f64 - exact).abs() < 1e-3 * (1.0 + exact.abs()),
            "{:?}: {got} vs {exact}",
            B::DTYPE
        );
    }
    for isa in supported_isas() {
        let mut got4 = [0.0f32; 4];
        dot_rows::<B, 4>(isa, w, &a, 0, &mut got4);
        let mut got1 = [0.0f32; 1];
        dot_rows::<B, 1>(isa, w, &a, 3, &mut got1);
        let mut got2 = [0.0f32; 2];
        dot_rows::<B, 2>(isa, w, &a, 1, &mut got2);
        let mut got3 = [0.0f32; 3];
        dot_rows::<B, 3>(isa, w, &a, 1, &mut got3);
        let pairs = got4
            .iter()
            .zip(&want)
            .chain([(&got1[0], &want[3])])
            .chain(got2.iter().zip(&want[1..]))
            .chain(got3.iter().zip(&want[1..]));
        for (g, e) in pairs {
            assert!(
                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "{:?} {isa:?} {} blocks: {g} vs {e}",
                B::DTYPE,
                w.len()
            );
        }
    }
}

/// Row lengths around the kernels' groups: 16 and 17 chunks straddle the AVX-512 groups
/// of 16, 9 the AVX2 groups of 8.
fn check<B: Block>(fix: impl Fn(&mut B, usize) + Copy) {
    let lens: &[usize] = match B::CHUNKS {
        1 => &[1, 2, 3, 7, 9, 16, 17, 18, 48],
        // Gemma's 640, 1024 and 2048 (10, 16, 32 blocks of 64) among them.
        2 | 4 => &[1, 2, 3, 5, 9, 10, 16, 32],
        _ => &[1, 2, 3, 5],
    };
    for &n in lens {
        check_blocks(&random_blocks::<B>(n, n as u32 + B::GGML_ID, fix));
    }
}

/// Runs `$check::<B>(fix)` for every block format, with `fix` setting modest finite
/// scales on random blocks (`random_blocks`); the integer GEMM's tests use it too.
macro_rules! for_every_format {
    ($check:ident) => {{
        use crate::kernels::formats::*;
        use crate::kernels::qdot::tests::h;
        $check::<BlockQ8_0>(|b, i| b.d = h(i, 0.01));
        $check::<BlockQ4_0>(|b, i| b.d = h(i, 0.05));
        $check::<BlockQ4_1>(|b, i| (b.d, b.m) = (h(i, 0.05), h(i, -0.4)));
        $check::<BlockQ5_0>(|b, i| b.d = h(i, 0.01));
        $check::<BlockQ5_1>(|b, i| (b.d, b.m) = (h(i, 0.01), h(i, -0.1)));
        $check::<BlockQ4K>(|b, i| (b.d, b.dmin) = (h(i, 0.002), h(i, 0.003)));
        $check::<BlockQ5K>(|b, i| (b.d, b.dmin) = (h(i, 0.001), h(i, 0.002)));
        $check::<BlockQ6K>(|b, i| b.d = h(i, 0.0005));
        $check::<BlockQ2K>(|b, i| (b.d, b.dmin) = (h(i, 0.01), h(i, 0.02)));
        $check::<BlockQ3K>(|b, i| b.d = h(i, 0.002));
        $check::<BlockIQ4NL>(|b, i| b.d = h(i, 0.001));
        $check::<BlockIQ4XS>(|b, i| b.d = h(i, 0.0001));
        $check::<BlockMXFP4>(|b, i| b.e = 120 + (i % 5) as u8);
        $check::<BlockIQ2XXS>(|b, i| b.d = h(i, 0.001));
        $check::<BlockIQ2XS>(|b, i| b.d = h(i, 0.001));
        $check::<BlockIQ2S>(|b, i| b.d = h(i, 0.001));
        $check::<BlockIQ3XXS>(|b, i| b.d = h(i, 0.001));
        $check::<BlockIQ3S>(|b, i| b.d = h(i, 0.0005));
        $check::<BlockIQ1S>(|b, i| b.d = h(i, 0.01));
        $check::<BlockIQ1M>(|b, i| {
            // The super-scale lives in the top nibbles of the four scale words.
            let d = h(i, 0.01).to_bits();
            for k in 0..4 {
                let hi = 2 * k + 1;
                b.scales[hi] = (b.scales[hi] & 0x0f) | ((((d >> (4 * k)) & 0xf) as u8) << 4);
            }
        });
        $check::<BlockTQ1_0>(|b, i| b.d = h(i, 0.01));
        $check::<BlockTQ2_0>(|b, i| b.d = h(i, 0.01));
        $check::<BlockQ1_0>(|b, i| b.d = h(i, 0.01));
        $check::<BlockQ2_0>(|b, i| b.d = h(i, 0.01));
    }};
}
pub(crate) use for_every_format;

#[test]
fn every_format_and_isa_matches_the_scalar_reference() {
    for_every_format!(check);
}

#[test]
#[should_panic(expected = "QuantActs arrays shorter")]
fn inconsistent_activations_are_refused() {
    let w = [BlockQ4_1::quantize(&[0.5; 32])];
    let a = QuantActs {
        rows: 1,
        nb: 1,
        ..Default::default()
    };
    let mut out = [0.0f32; 1];
    dot_rows::<BlockQ4_1, 1>(crate::kernels::cpu::isa(), &w, &a, 0, &mut out);
}

#[test]
fn a16_quantization() {
    let mut x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
    x.extend([0.0; 32]);
    let mut a = QuantActs::default();
    a.quantize(Isa::Scalar, &x, 1, 64);
    assert_eq!((a.rows, a.nb), (1, 2));
    assert_eq!(a.d[0], 16.0 / 32767.0);
    assert_eq!(a.qs[0][0], -32767);
    assert_eq!(a.qs[0][16], 0);
    let sum: i32 = a.qs[0].iter().map(|&q| q as i32).sum();
    let lo: i32 = a.qs[0][..16].iter().map(|&q| q as i32).sum();
    assert_eq!(a.ds[0], a.d[0] * sum as f32);
    assert_eq!(a.ds_lo[0], a.d[0] * lo as f32);
    assert_eq!((a.d[1], a.ds[1], a.qs[1].0), (0.0, 0.0, [0; 32]));
}

/// Every ISA's quantizer gives the scalar one's bits, rounding ties and all.
#[test]
fn every_isa_quantizes_to_the_same_bits() {
    let (rows, k) = (9, 96);
    let mut x: Vec<f32> = random_bytes(rows * k, 5)
        .iter()
        .enumerate()
        .map(|(i, &b)| (b as f32 - 127.5) * if i % 41 == 3 { 300.0 } else { 0.37 })
        .collect();
    // A block of ties: its maximum is 32767 · 0.5 / 32767 away from half-integers.
    for (j, v) in x[..32].iter_mut().enumerate() {
        *v = (j as f32 - 16.0) + 0.5;
    }
    x[32] = 32767.0;
    // An all-zero block.
    x[64..96].fill(0.0);
    let mut want = QuantActs::default();
    want.quantize(Isa::Scalar, &x, rows, k);
    for isa in supported_isas() {
        let mut got = QuantActs::default();
        got.quantize(isa, &x, rows, k);
        assert_eq!((got.rows, got.nb), (want.rows, want.nb));
        assert_eq!(got.qs, want.qs, "{isa:?}");
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for (g, w) in [
            (&got.d, &want.d),
            (&got.ds, &want.ds),
            (&got.ds_lo, &want.ds_lo),
        ] {
            assert_eq!(bits(g), bits(w), "{isa:?}");
        }
    }
}

/// Quantizing the RMSNorm of rows on the fly gives the bits of quantizing `rmsnorm`'s
/// output, on every ISA, for widths that are and are not whole 8-block pieces.
#[test]
fn a_fused_rmsnorm_quantizes_to_the_bits_of_the_normed_rows() {
    for (rows, k) in [(1, 576), (7, 640), (20, 96), (3, 32)] {
        let x: Vec<f32> = random_bytes(rows * k, 11)
            .iter()
            .enumerate()
            .map(|(i, &b)| (b as f32 - 127.5) * if i % 37 == 5 { 40.0 } else { 0.01 })
            .collect();
        let weight: Vec<f32> = (0..k).map(|i| 0.5 + (i as f32 * 0.31).sin()).collect();
        let mut normed = vec![0.0; rows * k];
        crate::kernels::ops::rmsnorm(&mut normed, &x, &weight, 1e-5);
        for isa in supported_isas() {
            let mut want = QuantActs::default();
            want.quantize(isa, &normed, rows, k);
            let mut got = QuantActs::default();
            let src = super::ActsSource::RmsNorm {
                x: &x,
                weight: &weight,
                eps: 1e-5,
            };
            got.quantize_from(isa, src, rows, k);
            let bits = |a: &QuantActs| {
                let f = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                (a.qs.clone(), f(&a.d), f(&a.ds), f(&a.ds_lo))
            };
            assert_eq!(bits(&got), bits(&want), "{isa:?} rows {rows} k {k}");
        }
    }
}
