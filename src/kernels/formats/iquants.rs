//! ggml's i-quants (`ggml-common.h` layouts, `dequantize_row_iq*` in ggml-quants.c): groups
//! of 8 (IQ1, IQ2) or 4 (IQ3) values are one entry of a fixed codebook (`iq_tables`),
//! with a sign per value (IQ2, IQ3) and a scale per 32 or 16 values. Every value is a
//! small integer times a scale, so each format fits the chunk form:
//!
//! - IQ2: grid bytes 8, 25, 43, signed; scale `d·(2s + 1)/8`;
//! - IQ3: grid bytes 4..62, signed; scale `d·(2s + 1)/4` (IQ3_XXS) or `d·(2s + 1)` (IQ3_S);
//! - IQ1: grid values −1, 0, 1 plus a shift of ±1/8 per group, written `8·g ± 1` with the
//!   scale divided by 8.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::iq_tables::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};
use super::{Block, ChunkScale, DType, MAX_CHUNKS, QK, QK_K};

/// 256 values in 8 groups of 32: per group 4 one-byte grid indices and a 32-bit word of
/// 4×7 sign bits and a 4-bit scale (ggml `block_iq2_xxs`, `qs` as bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ2XXS {
    pub d: f16,
    pub qs: [u8; QK_K / 4],
}
const _: () = assert!(std::mem::size_of::<BlockIQ2XXS>() == 2 + QK_K / 4);

/// Per 8 values a 16-bit word: 9-bit grid index, 7 sign bits; 4-bit scales per 16 values
/// (ggml `block_iq2_xs`, `qs` as bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ2XS {
    pub d: f16,
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; QK_K / 32],
}
const _: () = assert!(std::mem::size_of::<BlockIQ2XS>() == 2 + QK_K / 4 + QK_K / 32);

/// 10-bit grid indices (8 bits in `qs[0..32]`, 2 in `qh`), a sign byte per 8 values
/// (`qs[32..64]`), 4-bit scales per 16 values (ggml `block_iq2_s`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ2S {
    pub d: f16,
    pub qs: [u8; QK_K / 4],
    pub qh: [u8; QK_K / 32],
    pub scales: [u8; QK_K / 32],
}
const _: () = assert!(std::mem::size_of::<BlockIQ2S>() == 2 + QK_K / 4 + QK_K / 16);

/// One-byte grid indices per 4 values (`qs[0..64]`), then per 32 values a word of 4×7
/// sign bits and a 4-bit scale (ggml `block_iq3_xxs`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ3XXS {
    pub d: f16,
    pub qs: [u8; 3 * QK_K / 8],
}
const _: () = assert!(std::mem::size_of::<BlockIQ3XXS>() == 2 + 3 * QK_K / 8);

/// 9-bit grid indices per 4 values (8 bits in `qs`, 1 in `qh`), a sign byte per 8, 4-bit
/// scales per 32 (ggml `block_iq3_s`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ3S {
    pub d: f16,
    pub qs: [u8; QK_K / 4],
    pub qh: [u8; QK_K / 32],
    pub signs: [u8; QK_K / 8],
    pub scales: [u8; QK_K / 64],
}
const _: () = assert!(std::mem::size_of::<BlockIQ3S>() == 2 + 13 * (QK_K / 32) + QK_K / 64);

/// 11-bit grid indices per 8 values (8 bits in `qs`, 3 in `qh`); per 32 values a 16-bit
/// `qh` word also holds a 3-bit scale and the shift's sign (ggml `block_iq1_s`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ1S {
    pub d: f16,
    pub qs: [u8; QK_K / 8],
    pub qh: [u8; QK_K / 16],
}
const _: () = assert!(std::mem::size_of::<BlockIQ1S>() == 2 + QK_K / 8 + QK_K / 16);

/// As IQ1_S with a shift sign per 8 values and 3-bit scales per 16; the f16 super-scale
/// is spread over the top nibbles of the four scale words (ggml `block_iq1_m`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ1M {
    pub qs: [u8; QK_K / 8],
    pub qh: [u8; QK_K / 16],
    pub scales: [u8; QK_K / 32],
}
const _: () = assert!(std::mem::size_of::<BlockIQ1M>() == QK_K / 8 + QK_K / 16 + QK_K / 32);

/// The 8 sign bits of a 7-bit sign index: the eighth makes the parity even (ggml's
/// `ksigns_iq2xs`).
#[inline(always)]
fn signs7(k: u32) -> u8 {
    let k = (k & 127) as u8;
    k | (((k.count_ones() & 1) as u8) << 7)
}

/// Grid bytes `g` with sign bits `s` applied (bit `j` set: byte `j` negated).
#[inline(always)]
fn signed<const N: usize>(g: [u8; N], s: u8) -> [i8; N] {
    std::array::from_fn(|j| {
        let v = g[j] as i8;
        if (s >> j) & 1 == 1 {
            -v
        } else {
            v
        }
    })
}

fn g8(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

fn g4(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Eight groups of 8 written in chunk order.
#[inline(always)]
fn join8(groups: [[i8; 8]; 4]) -> [i8; QK] {
    std::array::from_fn(|i| groups[i / 8][i % 8])
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn half(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// A scale `d · (2s + 1) / div` for each 4-bit `s`.
#[inline(always)]
fn odd(d: f32, s: u32, div: f32) -> f32 {
    d * (2 * s + 1) as f32 / div
}

/// IQ2_XS and IQ2_S: a 4-bit scale per 16 values, `d · (2s + 1) / 8`.
#[inline(always)]
fn iq2_scales(d: f16, scales: &[u8; QK_K / 32]) -> [ChunkScale; MAX_CHUNKS] {
    let d = d.to_f32();
    std::array::from_fn(|c| {
        let s = scales[c] as u32;
        ChunkScale {
            lo: odd(d, s & 15, 8.0),
            hi: odd(d, s >> 4, 8.0),
            off: 0.0,
            off_lo: 0.0,
        }
    })
}

/// The AVX2 and NEON chunk decoders of an i-quant: the block's `parts(c)` (codebook
/// entries, signs or shifts) put in registers by `x86::$decode` or `neon::$decode`.
macro_rules! simd_decoders {
    ($decode:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[inline(always)]
        unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
            let (g, s) = self.parts(c);
            // SAFETY: the caller guarantees AVX2.
            unsafe { x86::$decode(g, s) }
        }
        #[cfg(target_arch = "aarch64")]
        #[inline(always)]
        unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
            let (g, s) = self.parts(c);
            // SAFETY: the caller guarantees NEON.
            unsafe { neon::$decode(g, s) }
        }
    };
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ2XXS {
    const DTYPE: DType = DType::IQ2XXS;
    const GGML_ID: u32 = 16;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        std::array::from_fn(|c| {
            ChunkScale::uniform(odd(d, word(&self.qs, 8 * c + 4) >> 28, 8.0), 0.0)
        })
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let signs = word(&self.qs, 8 * c + 4);
        join8(std::array::from_fn(|l| {
            signed(
                g8(IQ2XXS_GRID[self.qs[8 * c + l] as usize]),
                signs7(signs >> (7 * l)),
            )
        }))
    }
    simd_decoders!(grid8);
}

impl BlockIQ2XXS {
    /// Chunk `c`'s four grid entries and their sign bytes.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u64; 4], [u8; 4]) {
        let signs = word(&self.qs, 8 * c + 4);
        (
            std::array::from_fn(|l| IQ2XXS_GRID[self.qs[8 * c + l] as usize]),
            std::array::from_fn(|l| signs7(signs >> (7 * l))),
        )
    }
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ2XS {
    const DTYPE: DType = DType::IQ2XS;
    const GGML_ID: u32 = 17;
    const BLOCK: usize = QK_K;
    const UNIFORM: bool = false;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        iq2_scales(self.d, &self.scales)
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        join8(std::array::from_fn(|l| {
            let w = half(&self.qs, 8 * c + 2 * l) as u32;
            signed(g8(IQ2XS_GRID[(w & 511) as usize]), signs7(w >> 9))
        }))
    }
    simd_decoders!(grid8);
}

impl BlockIQ2XS {
    /// Chunk `c`'s four grid entries and their sign bytes.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u64; 4], [u8; 4]) {
        let w: [u32; 4] = std::array::from_fn(|l| half(&self.qs, 8 * c + 2 * l) as u32);
        (
            w.map(|w| IQ2XS_GRID[(w & 511) as usize]),
            w.map(|w| signs7(w >> 9)),
        )
    }
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ2S {
    const DTYPE: DType = DType::IQ2S;
    const GGML_ID: u32 = 22;
    const BLOCK: usize = QK_K;
    const UNIFORM: bool = false;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        iq2_scales(self.d, &self.scales)
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let qh = self.qh[c] as usize;
        join8(std::array::from_fn(|l| {
            let idx = self.qs[4 * c + l] as usize | ((qh << (8 - 2 * l)) & 0x300);
            signed(g8(IQ2S_GRID[idx]), self.qs[32 + 4 * c + l])
        }))
    }
    simd_decoders!(grid8);
}

impl BlockIQ2S {
    /// Chunk `c`'s four grid entries and their sign bytes.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u64; 4], [u8; 4]) {
        let qh = self.qh[c] as usize;
        (
            std::array::from_fn(|l| {
                IQ2S_GRID[self.qs[4 * c + l] as usize | ((qh << (8 - 2 * l)) & 0x300)]
            }),
            std::array::from_fn(|l| self.qs[32 + 4 * c + l]),
        )
    }
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ3XXS {
    const DTYPE: DType = DType::IQ3XXS;
    const GGML_ID: u32 = 18;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        std::array::from_fn(|c| {
            ChunkScale::uniform(odd(d, word(&self.qs, 64 + 4 * c) >> 28, 4.0), 0.0)
        })
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let signs = word(&self.qs, 64 + 4 * c);
        join8(std::array::from_fn(|l| {
            let (a, b) = (
                self.qs[8 * c + 2 * l] as usize,
                self.qs[8 * c + 2 * l + 1] as usize,
            );
            let g = [g4(IQ3XXS_GRID[a]), g4(IQ3XXS_GRID[b])];
            signed(
                std::array::from_fn(|j| g[j / 4][j % 4]),
                signs7(signs >> (7 * l)),
            )
        }))
    }
    simd_decoders!(grid4);
}

impl BlockIQ3XXS {
    /// Chunk `c`'s eight grid entries and the sign bytes of their pairs.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u32; 8], [u8; 4]) {
        let signs = word(&self.qs, 64 + 4 * c);
        (
            std::array::from_fn(|k| IQ3XXS_GRID[self.qs[8 * c + k] as usize]),
            std::array::from_fn(|l| signs7(signs >> (7 * l))),
        )
    }
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ3S {
    const DTYPE: DType = DType::IQ3S;
    const GGML_ID: u32 = 21;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        std::array::from_fn(|c| {
            let s = (self.scales[c / 2] >> (4 * (c % 2))) & 15;
            ChunkScale::uniform(d * (1 + 2 * s as u32) as f32, 0.0)
        })
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let qh = self.qh[c] as usize;
        join8(std::array::from_fn(|l| {
            let a = self.qs[8 * c + 2 * l] as usize | ((qh << (8 - 2 * l)) & 256);
            let b = self.qs[8 * c + 2 * l + 1] as usize | ((qh << (7 - 2 * l)) & 256);
            let g = [g4(IQ3S_GRID[a]), g4(IQ3S_GRID[b])];
            signed(
                std::array::from_fn(|j| g[j / 4][j % 4]),
                self.signs[4 * c + l],
            )
        }))
    }
    simd_decoders!(grid4);
}

impl BlockIQ3S {
    /// Chunk `c`'s eight grid entries and the sign bytes of their pairs.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u32; 8], [u8; 4]) {
        let qh = self.qh[c] as usize;
        (
            std::array::from_fn(|k| {
                let (l, second) = (k / 2, k % 2);
                IQ3S_GRID[self.qs[8 * c + k] as usize | ((qh << (8 - 2 * l - second)) & 256)]
            }),
            std::array::from_fn(|l| self.signs[4 * c + l]),
        )
    }
}

/// IQ1 values `8·g ± 1` of grid entry `idx` (the shift `−1` when `neg`).
#[inline(always)]
fn iq1(idx: usize, neg: bool) -> [i8; 8] {
    let shift = if neg { -1 } else { 1 };
    g8(IQ1S_GRID[idx]).map(|g| 8 * (g as i8) + shift)
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ1S {
    const DTYPE: DType = DType::IQ1S;
    const GGML_ID: u32 = 19;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        std::array::from_fn(|c| {
            let h = half(&self.qh, 2 * c) as u32;
            ChunkScale::uniform(odd(d, (h >> 12) & 7, 8.0), 0.0)
        })
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let h = half(&self.qh, 2 * c) as usize;
        join8(std::array::from_fn(|l| {
            iq1(
                self.qs[4 * c + l] as usize | (((h >> (3 * l)) & 7) << 8),
                h & 0x8000 != 0,
            )
        }))
    }
    simd_decoders!(iq1);
}

impl BlockIQ1S {
    /// Chunk `c`'s four grid entries and whether each group's shift is negative.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u64; 4], [bool; 4]) {
        let h = half(&self.qh, 2 * c) as usize;
        (
            std::array::from_fn(|l| {
                IQ1S_GRID[self.qs[4 * c + l] as usize | (((h >> (3 * l)) & 7) << 8)]
            }),
            [h & 0x8000 != 0; 4],
        )
    }
}

impl BlockIQ1M {
    /// The f16 super-scale, from the top nibbles of the four scale words.
    fn d(&self) -> f16 {
        let sc = |i: usize| half(&self.scales, 2 * i);
        f16::from_bits(
            (sc(0) >> 12) | ((sc(1) >> 8) & 0x00f0) | ((sc(2) >> 4) & 0x0f00) | (sc(3) & 0xf000),
        )
    }
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read only `self` and the codebooks.
unsafe impl Block for BlockIQ1M {
    const DTYPE: DType = DType::IQ1M;
    const GGML_ID: u32 = 29;
    const BLOCK: usize = QK_K;
    const UNIFORM: bool = false;
    fn finite(&self) -> bool {
        self.d().is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d().to_f32();
        std::array::from_fn(|c| {
            let w = half(&self.scales, 2 * (c / 2)) as u32 >> (6 * (c % 2));
            ChunkScale {
                lo: odd(d, w & 7, 8.0),
                hi: odd(d, (w >> 3) & 7, 8.0),
                off: 0.0,
                off_lo: 0.0,
            }
        })
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let (h0, h1) = (self.qh[2 * c] as usize, self.qh[2 * c + 1] as usize);
        let q = |l: usize| self.qs[4 * c + l] as usize;
        join8([
            iq1(q(0) | ((h0 << 8) & 0x700), h0 & 0x08 != 0),
            iq1(q(1) | ((h0 << 4) & 0x700), h0 & 0x80 != 0),
            iq1(q(2) | ((h1 << 8) & 0x700), h1 & 0x08 != 0),
            iq1(q(3) | ((h1 << 4) & 0x700), h1 & 0x80 != 0),
        ])
    }
    simd_decoders!(iq1);
}

impl BlockIQ1M {
    /// Chunk `c`'s four grid entries and whether each group's shift is negative.
    #[inline(always)]
    fn parts(&self, c: usize) -> ([u64; 4], [bool; 4]) {
        let (h0, h1) = (self.qh[2 * c] as usize, self.qh[2 * c + 1] as usize);
        let q = |l: usize| self.qs[4 * c + l] as usize;
        let g = [
            IQ1S_GRID[q(0) | ((h0 << 8) & 0x700)],
            IQ1S_GRID[q(1) | ((h0 << 4) & 0x700)],
            IQ1S_GRID[q(2) | ((h1 << 8) & 0x700)],
            IQ1S_GRID[q(3) | ((h1 << 4) & 0x700)],
        ];
        let neg = [
            h0 & 0x08 != 0,
            h0 & 0x80 != 0,
            h1 & 0x08 != 0,
            h1 & 0x80 != 0,
        ];
        (g, neg)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `v` with byte `8l + j` negated where bit `j` of `signs[l]` is set.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply_signs(v: __m256i, signs: [u8; 4]) -> __m256i {
        let bytes = |s: u8| (s as u64).wrapping_mul(0x0101_0101_0101_0101) as i64;
        let spread = _mm256_set_epi64x(
            bytes(signs[3]),
            bytes(signs[2]),
            bytes(signs[1]),
            bytes(signs[0]),
        );
        let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        let neg = _mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel);
        // (v ^ m) − m negates where m is all ones.
        _mm256_sub_epi8(_mm256_xor_si256(v, neg), neg)
    }

    /// Four 8-byte grid entries, signed (IQ2).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn grid8(g: [u64; 4], signs: [u8; 4]) -> __m256i {
        let v = _mm256_set_epi64x(g[3] as i64, g[2] as i64, g[1] as i64, g[0] as i64);
        apply_signs(v, signs)
    }

    /// Eight 4-byte grid entries, signed per 8 values (IQ3).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn grid4(g: [u32; 8], signs: [u8; 4]) -> __m256i {
        let v = _mm256_setr_epi32(
            g[0] as i32,
            g[1] as i32,
            g[2] as i32,
            g[3] as i32,
            g[4] as i32,
            g[5] as i32,
            g[6] as i32,
            g[7] as i32,
        );
        apply_signs(v, signs)
    }

    /// IQ1: four entries of −1/0/1 bytes, as `8·g ± 1` (−1 for the groups in `neg`).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn iq1(g: [u64; 4], neg: [bool; 4]) -> __m256i {
        let v = _mm256_set_epi64x(g[3] as i64, g[2] as i64, g[1] as i64, g[0] as i64);
        // Doubling three times multiplies each byte by 8 without carries between bytes.
        let v8 = _mm256_add_epi8(v, v);
        let v8 = _mm256_add_epi8(v8, v8);
        let v8 = _mm256_add_epi8(v8, v8);
        let shift = |n: bool| if n { -1i64 } else { 0x0101_0101_0101_0101 };
        let d = _mm256_set_epi64x(shift(neg[3]), shift(neg[2]), shift(neg[1]), shift(neg[0]));
        _mm256_add_epi8(v8, d)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// Eight bytes of `lo` then eight of `hi`, as one register.
    #[inline]
    #[target_feature(enable = "neon")]
    fn pair(lo: u64, hi: u64) -> int8x16_t {
        vcombine_s8(vcreate_s8(lo), vcreate_s8(hi))
    }

    /// `v` with byte `8l + j` negated where bit `j` of `signs[l]` is set.
    #[inline]
    #[target_feature(enable = "neon")]
    fn apply_signs(v: [int8x16_t; 2], signs: [u8; 4]) -> int8x16x2_t {
        let sel = vreinterpretq_u8_u64(vdupq_n_u64(0x8040_2010_0804_0201));
        let one = |v: int8x16_t, s0: u8, s1: u8| {
            let spread = vcombine_u8(vdup_n_u8(s0), vdup_n_u8(s1));
            let neg = vreinterpretq_s8_u8(vtstq_u8(spread, sel));
            // (v ^ m) − m negates where m is all ones.
            vsubq_s8(veorq_s8(v, neg), neg)
        };
        int8x16x2_t(one(v[0], signs[0], signs[1]), one(v[1], signs[2], signs[3]))
    }

    /// Four 8-byte grid entries, signed (IQ2).
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn grid8(g: [u64; 4], signs: [u8; 4]) -> int8x16x2_t {
        apply_signs([pair(g[0], g[1]), pair(g[2], g[3])], signs)
    }

    /// Eight 4-byte grid entries, signed per 8 values (IQ3).
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn grid4(g: [u32; 8], signs: [u8; 4]) -> int8x16x2_t {
        let w = |k: usize| g[k] as u64 | (g[k + 1] as u64) << 32;
        apply_signs([pair(w(0), w(2)), pair(w(4), w(6))], signs)
    }

    /// IQ1: four entries of −1/0/1 bytes, as `8·g ± 1` (−1 for the groups in `neg`).
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn iq1(g: [u64; 4], neg: [bool; 4]) -> int8x16x2_t {
        let shift = |n: bool| if n { u64::MAX } else { 0x0101_0101_0101_0101 };
        let one = |a: usize| {
            let v = vshlq_n_s8::<3>(pair(g[a], g[a + 1]));
            vaddq_s8(v, pair(shift(neg[a]), shift(neg[a + 1])))
        };
        int8x16x2_t(one(0), one(2))
    }
}
