//! GGML block quantization formats.
//!
//! Each format is a `#[repr(C)]` struct with the exact byte layout of ggml's
//! `ggml-common.h`, a compile-time size assertion, and one `QuantBlock` impl. Values are
//! stored in blocks of `QK = 32`; each block carries its own f16 scale (and, for Q4_1, an
//! f16 minimum). The 4-bit formats pack element `j` in the low nibble of `qs[j]` and
//! element `j + 16` in the high nibble.

use bytemuck::{Pod, Zeroable};
use half::{bf16, f16};

use super::kquant;
use crate::tensor::DType;

/// Values per block for the 32-wide formats (Q4_0, Q4_1, Q8_0).
pub const QK: usize = 32;

/// `x = d * q`, q in -128..=127 (ggml `block_q8_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 2 + QK);

/// `x = d * (q - 8)`, q in 0..=15 (ggml `block_q4_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 2 + QK / 2);

/// `x = d * q + m`, q in 0..=15 (ggml `block_q4_1`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 4 + QK / 2);

/// A block of quantized values.
pub trait QuantBlock: Pod + Send + Sync {
    /// Values per block.
    const BLOCK: usize;
    const DTYPE: DType;
    /// Writes the block's `BLOCK` values to `out`.
    fn dequantize(&self, out: &mut [f32]);
    /// The f16 scales (and offsets) of the block: if they are finite, so is every value
    /// (the quantized parts are small integers). Model loading checks them.
    fn f16_scales(&self) -> [half::f16; 2];
}

/// A block format ingot can also write (the activation-side formats and tests use it).
pub trait Quantize: QuantBlock {
    /// Quantizes `BLOCK` values (round to nearest, as ggml's reference quantizers).
    fn quantize(x: &[f32]) -> Self;
}

impl QuantBlock for BlockQ8_0 {
    const BLOCK: usize = QK;
    const DTYPE: DType = DType::Q8_0;
    fn f16_scales(&self) -> [half::f16; 2] {
        [self.d, half::f16::ZERO]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (o, &q) in out[..QK].iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }
}

impl Quantize for BlockQ8_0 {
    fn quantize(x: &[f32]) -> Self {
        let amax = x[..QK].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0i8; QK];
        for (q, &v) in qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
        }
        BlockQ8_0 {
            d: f16::from_f32(d),
            qs,
        }
    }
}

impl QuantBlock for BlockQ4_0 {
    const BLOCK: usize = QK;
    const DTYPE: DType = DType::Q4_0;
    fn f16_scales(&self) -> [half::f16; 2] {
        [self.d, half::f16::ZERO]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (j, &b) in self.qs.iter().enumerate() {
            out[j] = ((b & 0x0f) as i32 - 8) as f32 * d;
            out[j + QK / 2] = ((b >> 4) as i32 - 8) as f32 * d;
        }
    }
}

impl Quantize for BlockQ4_0 {
    fn quantize(x: &[f32]) -> Self {
        // ggml quantize_row_q4_0_ref: the value of largest magnitude maps to -8.
        let max = x[..QK]
            .iter()
            .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = |v: f32| ((v * id + 8.5) as i32).min(15) as u8;
        let mut qs = [0u8; QK / 2];
        for (j, b) in qs.iter_mut().enumerate() {
            *b = q(x[j]) | (q(x[j + QK / 2]) << 4);
        }
        BlockQ4_0 {
            d: f16::from_f32(d),
            qs,
        }
    }
}

impl QuantBlock for BlockQ4_1 {
    const BLOCK: usize = QK;
    const DTYPE: DType = DType::Q4_1;
    fn f16_scales(&self) -> [half::f16; 2] {
        [self.d, self.m]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let m = self.m.to_f32();
        for (j, &b) in self.qs.iter().enumerate() {
            out[j] = (b & 0x0f) as f32 * d + m;
            out[j + QK / 2] = (b >> 4) as f32 * d + m;
        }
    }
}

impl Quantize for BlockQ4_1 {
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = x[..QK]
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = |v: f32| (((v - min) * id + 0.5) as i32).min(15) as u8;
        let mut qs = [0u8; QK / 2];
        for (j, b) in qs.iter_mut().enumerate() {
            *b = q(x[j]) | (q(x[j + QK / 2]) << 4);
        }
        BlockQ4_1 {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qs,
        }
    }
}

/// Dequantizes a whole run of blocks: `out.len()` values from `blocks`.
pub fn dequantize_blocks<B: QuantBlock>(blocks: &[B], out: &mut [f32]) {
    debug_assert_eq!(blocks.len() * B::BLOCK, out.len());
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(B::BLOCK)) {
        b.dequantize(o);
    }
}

/// Converts `bytes` (in `dtype`'s layout, `out.len()` values) to f32.
///
/// Panics if `bytes` has the wrong length or alignment for `out.len()` values; tensors
/// check both when they are created.
/// Whether every value of `bytes` (whole rows of `dtype`) is finite: the floats
/// themselves, or each block's f16 scales (its quantized parts are small integers).
pub fn all_finite(dtype: DType, bytes: &[u8]) -> bool {
    fn blocks<B: QuantBlock>(bytes: &[u8]) -> bool {
        bytes.chunks_exact(std::mem::size_of::<B>()).all(|b| {
            bytemuck::pod_read_unaligned::<B>(b)
                .f16_scales()
                .iter()
                .all(|s| s.is_finite())
        })
    }
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
        DType::F16 => bytes
            .chunks_exact(2)
            .all(|b| f16::from_le_bytes([b[0], b[1]]).is_finite()),
        DType::BF16 => bytes
            .chunks_exact(2)
            .all(|b| bf16::from_le_bytes([b[0], b[1]]).is_finite()),
        DType::Q8_0 => blocks::<BlockQ8_0>(bytes),
        DType::Q4_0 => blocks::<BlockQ4_0>(bytes),
        DType::Q4_1 => blocks::<BlockQ4_1>(bytes),
        DType::Q5_0 => blocks::<kquant::BlockQ5_0>(bytes),
        DType::Q5_1 => blocks::<kquant::BlockQ5_1>(bytes),
        DType::Q4K => blocks::<kquant::BlockQ4K>(bytes),
        DType::Q5K => blocks::<kquant::BlockQ5K>(bytes),
        DType::Q6K => blocks::<kquant::BlockQ6K>(bytes),
    }
}

pub fn dequantize(dtype: DType, bytes: &[u8], out: &mut [f32]) {
    assert_eq!(
        Some(bytes.len()),
        dtype.row_bytes(out.len()),
        "dequantize: byte length"
    );
    match dtype {
        DType::F32 => out.copy_from_slice(bytemuck::cast_slice(bytes)),
        DType::F16 => {
            for (o, h) in out.iter_mut().zip(bytemuck::cast_slice::<u8, f16>(bytes)) {
                *o = h.to_f32();
            }
        }
        DType::BF16 => {
            for (o, h) in out.iter_mut().zip(bytemuck::cast_slice::<u8, bf16>(bytes)) {
                *o = h.to_f32();
            }
        }
        DType::Q8_0 => dequantize_blocks::<BlockQ8_0>(bytemuck::cast_slice(bytes), out),
        DType::Q4_0 => dequantize_blocks::<BlockQ4_0>(bytemuck::cast_slice(bytes), out),
        DType::Q4_1 => dequantize_blocks::<BlockQ4_1>(bytemuck::cast_slice(bytes), out),
        DType::Q5_0 => dequantize_blocks::<kquant::BlockQ5_0>(bytemuck::cast_slice(bytes), out),
        DType::Q5_1 => dequantize_blocks::<kquant::BlockQ5_1>(bytemuck::cast_slice(bytes), out),
        DType::Q4K => dequantize_blocks::<kquant::BlockQ4K>(bytemuck::cast_slice(bytes), out),
        DType::Q5K => dequantize_blocks::<kquant::BlockQ5K>(bytemuck::cast_slice(bytes), out),
        DType::Q6K => dequantize_blocks::<kquant::BlockQ6K>(bytemuck::cast_slice(bytes), out),
    }
}

#[cfg(test)]
mod tests {
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
}
