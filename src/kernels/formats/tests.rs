//! Hand-built blocks of every format against ggml's definitions, byte layouts, and the
//! chunk decomposition against plain dequantization.

use half::{bf16, f16};

use super::quants_k::scale_min;
use super::*;

fn h(x: f32) -> f16 {
    f16::from_f32(x)
}

#[test]
fn q8_0_hand_block() {
    let mut qs = [0i8; QK];
    for (j, q) in qs.iter_mut().enumerate() {
        *q = j as i8 - 16;
    }
    qs[31] = 127;
    qs[0] = -128;
    let b = BlockQ8_0 { d: h(0.5), qs };
    let mut out = [0.0; QK];
    b.dequantize(&mut out);
    assert_eq!(out[0], -64.0);
    assert_eq!(out[1], -7.5);
    assert_eq!(out[16], 0.0);
    assert_eq!(out[17], 0.5);
    assert_eq!(out[31], 63.5);
}

#[test]
fn q4_0_hand_block() {
    // qs[0] = 0xF0: element 0 has q = 0 -> -8*d, element 16 has q = 15 -> 7*d.
    let mut qs = [0x88u8; QK / 2]; // q = 8 everywhere -> 0.0
    qs[0] = 0xF0;
    qs[15] = 0x19; // element 15: q=9 -> 1*d; element 31: q=1 -> -7*d
    let b = BlockQ4_0 { d: h(0.25), qs };
    let mut out = [1.0; QK];
    b.dequantize(&mut out);
    assert_eq!(out[0], -2.0);
    assert_eq!(out[16], 1.75);
    assert_eq!(out[15], 0.25);
    assert_eq!(out[31], -1.75);
    assert_eq!(out[5], 0.0);
    assert_eq!(out[20], 0.0);
}

#[test]
fn q4_1_hand_block() {
    let mut qs = [0u8; QK / 2];
    qs[0] = 0x3A; // element 0: q=10, element 16: q=3
    qs[7] = 0xF1; // element 7: q=1, element 23: q=15
    let b = BlockQ4_1 {
        d: h(0.5),
        m: h(-1.0),
        qs,
    };
    let mut out = [0.0; QK];
    b.dequantize(&mut out);
    assert_eq!(out[0], 4.0);
    assert_eq!(out[16], 0.5);
    assert_eq!(out[7], -0.5);
    assert_eq!(out[23], 6.5);
    assert_eq!(out[1], -1.0);
}

#[test]
fn byte_layouts_match_ggml() {
    // ggml-common.h: static_assert(sizeof(block_q4_1) == 2 * sizeof(ggml_half) + QK4_1 / 2)
    assert_eq!(DType::Q8_0.type_size(), 34);
    assert_eq!(DType::Q4_0.type_size(), 18);
    assert_eq!(DType::Q4_1.type_size(), 20);
    // Field order is d, m, qs: check through raw bytes.
    let b = BlockQ4_1 {
        d: h(1.0),
        m: h(2.0),
        qs: [0xAB; 16],
    };
    let bytes = bytemuck::bytes_of(&b);
    assert_eq!(&bytes[0..2], &h(1.0).to_le_bytes());
    assert_eq!(&bytes[2..4], &h(2.0).to_le_bytes());
    assert_eq!(bytes[4], 0xAB);
}

fn roundtrip<B: Quantize>(tol: f32) {
    let x: Vec<f32> = (0..QK).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
    let b = B::quantize(&x);
    let mut y = vec![0.0; QK];
    b.dequantize(&mut y);
    for (a, b) in x.iter().zip(&y) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }
}

#[test]
fn quantize_roundtrips_within_half_a_step() {
    roundtrip::<BlockQ8_0>(3.0 / 127.0);
    roundtrip::<BlockQ4_0>(6.0 / 8.0);
    roundtrip::<BlockQ4_1>(6.0 / 15.0);
}

#[test]
fn float_formats_convert() {
    let hs = [h(1.5), h(-2.0)];
    let mut out = [0.0; 2];
    dequantize(DType::F16, bytemuck::cast_slice(&hs), &mut out);
    assert_eq!(out, [1.5, -2.0]);
    let bs = [bf16::from_f32(3.0), bf16::from_f32(-0.5)];
    dequantize(DType::BF16, bytemuck::cast_slice(&bs), &mut out);
    assert_eq!(out, [3.0, -0.5]);
}

#[test]
fn q5_hand_blocks() {
    // Element 0: low nibble 3, fifth bit set -> q = 19; element 16: nibble 0xA, no bit
    // -> 10; element 31: nibble 0xF and bit 31 -> 31.
    let mut qs = [0u8; 16];
    qs[0] = 0xA3;
    qs[15] = 0xF0;
    let qh = (1u32 | (1 << 31)).to_le_bytes();
    let b0 = BlockQ5_0 { d: h(0.5), qh, qs };
    let mut out = [0.0; 32];
    b0.dequantize(&mut out);
    assert_eq!(
        (out[0], out[16], out[31], out[1]),
        (
            (19.0 - 16.0) * 0.5,
            (10.0 - 16.0) * 0.5,
            (31.0 - 16.0) * 0.5,
            -8.0
        )
    );
    let b1 = BlockQ5_1 {
        d: h(0.5),
        m: h(-1.0),
        qh,
        qs,
    };
    b1.dequantize(&mut out);
    assert_eq!((out[0], out[16], out[31], out[1]), (8.5, 4.0, 14.5, -1.0));
}

#[test]
fn k_scale_min_unpacking() {
    // Sub-blocks 0-3: low 6 bits of bytes 0-3 (scales) and 4-7 (mins).
    let mut s = [0u8; 12];
    s[1] = 0b11_000101; // scale 1 = 5; top bits 3 -> scale 5's high bits
    s[5] = 0b10_000111; // min 1 = 7; top bits 2 -> min 5's high bits
    s[9] = 0x4C; // scale 5 low nibble 0xC, min 5 low nibble 0x4
    assert_eq!(scale_min(1, &s), (5.0, 7.0));
    assert_eq!(
        scale_min(5, &s),
        ((0xC | (3 << 4)) as f32, (0x4 | (2 << 4)) as f32)
    );
}

#[test]
fn q4_k_hand_block() {
    let mut scales = [0u8; 12];
    scales[0] = 2; // sub-block 0: scale 2
    scales[4] = 3; // sub-block 0: min 3
    scales[1] = 1; // sub-block 1: scale 1, min 0
    let mut qs = [0u8; 128];
    qs[0] = 0x5A; // value 0: 0xA (sub-block 0), value 32: 0x5 (sub-block 1)
    let b = BlockQ4K {
        d: h(0.5),
        dmin: h(0.25),
        scales,
        qs,
    };
    let mut out = [0.0; 256];
    b.dequantize(&mut out);
    assert_eq!(out[0], 0.5 * 2.0 * 10.0 - 0.25 * 3.0);
    assert_eq!(out[1], -0.75);
    assert_eq!(out[32], 0.5 * 1.0 * 5.0);
    assert_eq!(out[64], 0.0); // sub-block 2: scale and min 0
}

#[test]
fn q5_k_hand_block() {
    let mut scales = [0u8; 12];
    scales[2] = 4; // sub-block 2 (values 64..96): scale 4, min 0
    scales[3] = 1; // sub-block 3 (values 96..128): scale 1
    scales[7] = 2; // sub-block 3: min 2
    let mut qs = [0u8; 128];
    qs[32] = 0x73; // value 64: 3, value 96: 7
    let mut qh = [0u8; 32];
    qh[0] = 0b0000_1100; // fifth bits of sub-blocks 2 and 3 for l = 0
    let b = BlockQ5K {
        d: h(1.0),
        dmin: h(0.5),
        scales,
        qh,
        qs,
    };
    let mut out = [0.0; 256];
    b.dequantize(&mut out);
    assert_eq!(out[64], 4.0 * 19.0);
    assert_eq!(out[96], 1.0 * 23.0 - 0.5 * 2.0);
    assert_eq!(out[97], -1.0);
}

#[test]
fn q6_k_hand_block() {
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    let mut scales = [0i8; 16];
    scales[0] = 2; // values 0..16
    scales[2] = -1; // values 32..48
    scales[4] = 3; // values 64..80
    scales[14] = 1; // second half, values 224..240
    ql[0] = 0x21; // value 0 low 1, value 64 low 2
    qh[0] = 0b00_11_00_10; // value 0 high 2, value 64 high 3
    ql[32] = 0x0F; // value 32 low 0xF
    ql[64 + 32] = 0x50; // second half: value 128+96 = 224 low 5
    qh[32] = 0b01_00_00_00; // value 224 high 1
    let b = BlockQ6K {
        ql,
        qh,
        scales,
        d: h(0.5),
    };
    let mut out = [0.0; 256];
    b.dequantize(&mut out);
    assert_eq!(out[0], 0.5 * 2.0 * ((1 | (2 << 4)) - 32) as f32);
    assert_eq!(out[64], 0.5 * 3.0 * ((2 | (3 << 4)) - 32) as f32);
    assert_eq!(out[32], -0.5 * (15 - 32) as f32); // d · sc[2] = 0.5 · -1
    assert_eq!(out[224], 0.5 * 1.0 * ((5 | (1 << 4)) - 32) as f32);
}

/// Deterministic pseudo-random bytes.
pub(crate) fn random_bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(7);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 11) as u8
        })
        .collect()
}

/// `n` blocks of random bytes whose scales `fix` then sets to modest values.
pub(crate) fn random_blocks<B: Block>(n: usize, seed: u32, fix: impl Fn(&mut B, usize)) -> Vec<B> {
    let raw = random_bytes(n * std::mem::size_of::<B>(), seed);
    let mut v = vec![B::zeroed(); n];
    bytemuck::cast_slice_mut::<B, u8>(&mut v).copy_from_slice(&raw);
    v.iter_mut().enumerate().for_each(|(i, b)| fix(b, i));
    v
}

/// Every block format's AVX2 and NEON chunk decoders give `chunk_values`, chunk by chunk, on random
/// blocks (every byte pattern of the packed values).
#[test]
fn simd_chunk_decoders_match_the_scalar_ones() {
    fn check<B: Block>() {
        let blocks = random_blocks::<B>(64, B::GGML_ID, |_, _| {});
        for b in &blocks {
            for c in 0..B::CHUNKS {
                let want = b.chunk_values(c);
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut got = [0i8; QK];
                    // SAFETY: AVX2 was detected; c < CHUNKS; `got` is 32 bytes.
                    unsafe {
                        let v = b.chunk_bytes_avx2(c);
                        std::arch::x86_64::_mm256_storeu_si256(got.as_mut_ptr().cast(), v);
                    }
                    assert_eq!(got, want, "{:?} chunk {c}", B::DTYPE);
                }
                #[cfg(target_arch = "aarch64")]
                {
                    let mut got = [0i8; QK];
                    // SAFETY: NEON is part of AArch64; c < CHUNKS; `got` is 32 bytes.
                    unsafe {
                        let v = b.chunk_bytes_neon(c);
                        std::arch::aarch64::vst1q_s8_x2(got.as_mut_ptr(), v);
                    }
                    assert_eq!(got, want, "{:?} chunk {c} (NEON)", B::DTYPE);
                }
                let _ = want;
            }
        }
    }
    macro_rules! all {
        (; $($v:ident => $t:ident,)*) => { $(check::<$t>();)* };
    }
    for_each_block!(all;);
}

/// Every 8-chunk format's vector scale decoder (`scales8_avx2`) gives `scales()` bit for
/// bit, on random blocks (every packing of the 6-bit scales and minimums) with random f16
/// super-scales.
#[cfg(target_arch = "x86_64")]
#[test]
fn vector_scale_decoders_match_the_scalar_ones() {
    fn check<B: Block>() {
        if B::CHUNKS != 8 || !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for b in random_blocks::<B>(256, B::GGML_ID + 1, |_, _| {}) {
            if !b.finite() {
                continue;
            }
            let want = b.scales();
            let mut got = [[0.0f32; 8]; 4];
            // SAFETY: AVX2 was detected; CHUNKS == 8; each array holds 8 floats.
            unsafe {
                for (v, out) in b.scales8_avx2().into_iter().zip(&mut got) {
                    std::arch::x86_64::_mm256_storeu_ps(out.as_mut_ptr(), v);
                }
            }
            for (c, w) in want.iter().enumerate().take(8) {
                let g = [got[0][c], got[1][c], got[2][c], got[3][c]];
                let w = [w.lo, w.hi, w.off, w.off_lo];
                assert_eq!(
                    g.map(f32::to_bits),
                    w.map(f32::to_bits),
                    "{:?} chunk {c}",
                    B::DTYPE
                );
            }
        }
    }
    macro_rules! all {
        (; $($v:ident => $t:ident,)*) => { $(check::<$t>();)* };
    }
    for_each_block!(all;);
}

#[test]
fn ggml_ids_round_trip() {
    for d in [DType::F32, DType::F16, DType::BF16] {
        assert_eq!(DType::from_ggml_id(d.ggml_id()), Some(d));
    }
    macro_rules! all {
        (; $($v:ident => $t:ident,)*) => {$(
            assert_eq!(DType::from_ggml_id($t::GGML_ID), Some(DType::$v));
            assert_eq!(DType::$v.ggml_id(), $t::GGML_ID);
            assert_eq!(<$t as Block>::DTYPE, DType::$v);
        )*};
    }
    for_each_block!(all;);
    assert_eq!(DType::from_ggml_id(9999), None);
    // ggml-common.h sizes of the first formats (tests/quants.rs checks every one against
    // gguf-py).
    let sizes = [
        (DType::Q8_0, 34),
        (DType::Q4_0, 18),
        (DType::Q4_1, 20),
        (DType::Q4K, 144),
    ];
    for (d, s) in sizes {
        assert_eq!(d.type_size(), s, "{d:?}");
    }
}

/// The SIMD dequantization gives the same bits as the scalar one.
#[test]
fn dequantize_paths_agree_bit_for_bit() {
    fn check<B: Block>() {
        let blocks = random_blocks::<B>(9, 5 + B::GGML_ID, |_, _| {});
        // Keep the scales finite: zero any block whose scales are not.
        let blocks: Vec<B> = blocks
            .into_iter()
            .map(|b| if b.finite() { b } else { B::zeroed() })
            .collect();
        let mut a = vec![0.0f32; blocks.len() * B::BLOCK];
        let mut b = a.clone();
        dequantize_blocks(&blocks, &mut a);
        dequantize_blocks_scalar(&blocks, &mut b);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{:?}", B::DTYPE);
    }
    macro_rules! all {
        (; $($v:ident => $t:ident,)*) => { $(check::<$t>();)* };
    }
    for_each_block!(all;);
}

#[test]
fn mxfp4_finite_up_to_f32_overflow() {
    // Nibble 7 is the largest value (12, i.e. 6 · 2); 2^(e-128) · 12 overflows f32 from
    // e = 253 on, as ggml's and gguf-py's dequantization do.
    let block = |e: u8, q: u8| BlockMXFP4 { e, qs: [q; 16] };
    assert!(block(252, 0x77).finite());
    assert!(!block(253, 0x77).finite());
    assert!(!block(255, 0x70).finite());
    assert!(block(255, 0x00).finite()); // every value 0
    let mut out = [0.0f32; 32];
    dequantize_blocks_scalar(&[block(252, 0x77)], &mut out);
    assert!(out.iter().all(|x| x.is_finite() && *x > 2e38));
}
