//! ggml's ternary and binary formats: TQ1_0 and TQ2_0 (BitNet b1.58 style, values in
//! {−1, 0, 1} times an f16 scale per 256) and Q1_0, Q2_0 (one or two bits per value, an
//! f16 scale per 128 or 64). Each value is already a small integer `u`; the chunk scale
//! is the block's `d`.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::{Block, ChunkScale, DType, MAX_CHUNKS, QK, QK_K};

/// 256 ternary values: 240 packed five to a byte in base 3 in `qs`, 16 four to a byte in
/// `qh` (ggml `block_tq1_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockTQ1_0 {
    pub qs: [u8; 48],
    pub qh: [u8; 4],
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockTQ1_0>() == 48 + 4 + 2);

/// 256 values of 2 bits, `x = d·(q − 1)` (ggml `block_tq2_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockTQ2_0 {
    pub qs: [u8; QK_K / 4],
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockTQ2_0>() == QK_K / 4 + 2);

/// 128 values of 1 bit, `x = ±d` (ggml `block_q1_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ1_0 {
    pub d: f16,
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ1_0>() == 2 + 16);

/// 64 values of 2 bits, `x = d·(q − 1)`, value `j` in bits `2(j%4)` of byte `j/4` (ggml
/// `block_q2_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ2_0 {
    pub d: f16,
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ2_0>() == 2 + 16);

/// Every chunk scaled by `d`.
#[inline(always)]
fn all(d: f16) -> [ChunkScale; MAX_CHUNKS] {
    [ChunkScale::uniform(d.to_f32(), 0.0); MAX_CHUNKS]
}

/// Digit `k` of a base-3 byte as ggml stores them: the byte times `3^k` (mod 256) is a
/// fixed-point fraction whose first base-3 digit is the value.
#[inline(always)]
fn trit(b: u8, pow: u8) -> i8 {
    ((b.wrapping_mul(pow) as u16 * 3) >> 8) as i8
}

const POW3: [u8; 5] = [1, 3, 9, 27, 81];

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read the 48 bytes of `qs` and the 4
// of `qh`.
unsafe impl Block for BlockTQ1_0 {
    const DTYPE: DType = DType::TQ1_0;
    const GGML_ID: u32 = 34;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        all(self.d)
    }
    /// Chunks 0-4: digit `c` of `qs[0..32]`; 5 and 6: digits 0-1 and 2-3 of `qs[32..48]`;
    /// 7: digit 4 of `qs[32..48]`, then digit `n` of `qh[j]` at `16 + 4n + j`.
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let q: [u8; QK] = std::array::from_fn(|l| match c {
            0..=4 => trit(self.qs[l], POW3[c]) as u8,
            5 | 6 => trit(self.qs[32 + l % 16], POW3[2 * (c - 5) + l / 16]) as u8,
            _ if l < 16 => trit(self.qs[32 + l], POW3[4]) as u8,
            _ => trit(self.qh[(l - 16) % 4], POW3[(l - 16) / 4]) as u8,
        });
        q.map(|t| t as i8 - 1)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::tq1(self, c) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON and c < 8.
        unsafe { neon::tq1(self, c) }
    }
}

// SAFETY: `chunk_bytes_avx2` reads 32 bytes of `qs` at 32·(c/4) ≤ 32.
unsafe impl Block for BlockTQ2_0 {
    const DTYPE: DType = DType::TQ2_0;
    const GGML_ID: u32 = 35;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        all(self.d)
    }
    /// Chunk `c`: bits `2(c%4)` of `qs[32·(c/4) ..]`, minus 1.
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        std::array::from_fn(|m| ((self.qs[32 * (c / 4) + m] >> (2 * (c % 4))) & 3) as i8 - 1)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        // SAFETY: c < 8: 32·(c/4) + 32 ≤ 64; the caller guarantees AVX2.
        unsafe {
            let q = _mm256_loadu_si256(self.qs.as_ptr().add(32 * (c / 4)).cast());
            let v = _mm256_and_si256(
                _mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * (c % 4) as i32)),
                _mm256_set1_epi8(3),
            );
            _mm256_sub_epi8(v, _mm256_set1_epi8(1))
        }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        use std::arch::aarch64::*;
        // SAFETY: c < 8: 32·(c/4) + 32 ≤ 64; the caller guarantees NEON.
        unsafe {
            let q = vld1q_u8_x2(self.qs.as_ptr().add(32 * (c / 4)));
            let sh = vdupq_n_s8(-2 * (c % 4) as i8);
            let v = |x: uint8x16_t| {
                vsubq_s8(
                    vreinterpretq_s8_u8(vandq_u8(vshlq_u8(x, sh), vdupq_n_u8(3))),
                    vdupq_n_s8(1),
                )
            };
            int8x16x2_t(v(q.0), v(q.1))
        }
    }
}

// SAFETY: `chunk_bytes_avx2` reads 4 bytes of `qs` at 4c ≤ 12; `chunk_bytes_neon` reads
// the 16 bytes of `qs`.
unsafe impl Block for BlockQ1_0 {
    const DTYPE: DType = DType::Q1_0;
    const GGML_ID: u32 = 41;
    const BLOCK: usize = 128;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        all(self.d)
    }
    /// Bit `i % 8` of `qs[4c + i/8]`: set is +1, clear −1.
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        std::array::from_fn(|i| 2 * ((self.qs[4 * c + i / 8] >> (i % 8)) & 1) as i8 - 1)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let bits = u32::from_le_bytes(self.qs[4 * c..4 * c + 4].try_into().expect("4 bytes"));
        // SAFETY: the caller guarantees AVX2.
        unsafe {
            // Byte i gets byte i/8 of the word, then its bit i%8: all ones where set.
            let spread = _mm256_shuffle_epi8(
                _mm256_set1_epi32(bits as i32),
                _mm256_setr_epi8(
                    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                    3, 3, 3, 3, 3, 3,
                ),
            );
            let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
            let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel);
            // set: −1 → +1 via (set & 2) − 1.
            _mm256_sub_epi8(
                _mm256_and_si256(set, _mm256_set1_epi8(2)),
                _mm256_set1_epi8(1),
            )
        }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        use std::arch::aarch64::*;
        // SAFETY: c < 4: 4c + 4 ≤ 16 (16 bytes loaded, the table indexes 4c..4c+4); the
        // caller guarantees NEON.
        unsafe {
            // Byte i gets byte 4c + i/8, then its bit i%8: all ones where set, then
            // (set & 2) − 1.
            let q = vld1q_u8(self.qs.as_ptr());
            let sel: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
            let sel = vld1q_u8(sel.as_ptr());
            let pairs: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
            let pairs = vld1q_u8(pairs.as_ptr());
            let half = |i: usize| {
                let idx = vaddq_u8(pairs, vdupq_n_u8((4 * c + i) as u8));
                let set = vtstq_u8(vqtbl1q_u8(q, idx), sel);
                vsubq_s8(
                    vreinterpretq_s8_u8(vandq_u8(set, vdupq_n_u8(2))),
                    vdupq_n_s8(1),
                )
            };
            int8x16x2_t(half(0), half(2))
        }
    }
}

// SAFETY: `chunk_bytes_avx2` and `chunk_bytes_neon` read 8 bytes of `qs` at 8c ≤ 8.
unsafe impl Block for BlockQ2_0 {
    const DTYPE: DType = DType::Q2_0;
    const GGML_ID: u32 = 42;
    const BLOCK: usize = 64;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        all(self.d)
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        std::array::from_fn(|i| {
            let j = 32 * c + i;
            ((self.qs[j / 4] >> (2 * (j % 4))) & 3) as i8 - 1
        })
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let bits = u64::from_le_bytes(self.qs[8 * c..8 * c + 8].try_into().expect("8 bytes"));
        // SAFETY: the caller guarantees AVX2.
        unsafe {
            // Byte i gets source byte i/4; then its low and high bit of pair i%4, each as
            // all ones where set: q − 1 = −1 − lo − 2·hi with lo, hi ∈ {0, −1}.
            let spread = _mm256_shuffle_epi8(
                _mm256_set1_epi64x(bits as i64),
                _mm256_setr_epi8(
                    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6,
                    6, 6, 7, 7, 7, 7,
                ),
            );
            let lo_bit = _mm256_set1_epi32(0x4010_0401);
            let hi_bit = _mm256_set1_epi32(0x8020_0802u32 as i32);
            let lo = _mm256_cmpeq_epi8(_mm256_and_si256(spread, lo_bit), lo_bit);
            let hi = _mm256_cmpeq_epi8(_mm256_and_si256(spread, hi_bit), hi_bit);
            let r = _mm256_sub_epi8(_mm256_set1_epi8(-1), lo);
            _mm256_sub_epi8(_mm256_sub_epi8(r, hi), hi)
        }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        use std::arch::aarch64::*;
        // SAFETY: c < 2: 8c + 8 ≤ 16; the caller guarantees NEON.
        unsafe {
            // Byte i gets source byte i/4, shifted right by 2·(i%4), masked to 2 bits.
            let q = vld1_u8(self.qs.as_ptr().add(8 * c));
            let shifts: [i8; 16] = [0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6];
            let sh = vld1q_s8(shifts.as_ptr());
            let half = |idx: [u8; 16]| {
                let spread = vqtbl1q_u8(vcombine_u8(q, q), vld1q_u8(idx.as_ptr()));
                let v = vandq_u8(vshlq_u8(spread, sh), vdupq_n_u8(3));
                vsubq_s8(vreinterpretq_s8_u8(v), vdupq_n_s8(1))
            };
            int8x16x2_t(
                half([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]),
                half([4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7]),
            )
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::BlockTQ1_0;

    /// Digit `pow` (as `3^k`) of each byte of `v`: `(v · 3^k mod 256) · 3 >> 8`, on the even
    /// and odd bytes of each 16-bit lane separately.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn trits(v: __m256i, pow: __m256i) -> __m256i {
        let lo8 = _mm256_set1_epi16(0x00ff);
        let even = _mm256_and_si256(_mm256_mullo_epi16(_mm256_and_si256(v, lo8), pow), lo8);
        let odd = _mm256_and_si256(_mm256_mullo_epi16(_mm256_srli_epi16(v, 8), pow), lo8);
        let three = _mm256_set1_epi16(3);
        let even = _mm256_srli_epi16(_mm256_mullo_epi16(even, three), 8);
        let odd = _mm256_srli_epi16(_mm256_mullo_epi16(odd, three), 8);
        _mm256_or_si256(even, _mm256_slli_epi16(odd, 8))
    }

    /// TQ1_0 chunk `c` (see `chunk_values`): the chunk's 32 source bytes and their
    /// multipliers gathered into registers, then one `trits`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn tq1(b: &BlockTQ1_0, c: usize) -> __m256i {
        const P: [i16; 5] = [1, 3, 9, 27, 81];
        let (src, pow) = match c {
            0..=4 => (
                // SAFETY: `qs` holds 48 bytes.
                unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) },
                _mm256_set1_epi16(P[c]),
            ),
            5 | 6 => {
                // SAFETY: bytes 32..48 of `qs`.
                let tail = unsafe { _mm_loadu_si128(b.qs.as_ptr().add(32).cast()) };
                let k = 2 * (c - 5);
                (
                    _mm256_set_m128i(tail, tail),
                    _mm256_set_m128i(_mm_set1_epi16(P[k + 1]), _mm_set1_epi16(P[k])),
                )
            }
            _ => {
                // SAFETY: bytes 32..48 of `qs`.
                let tail = unsafe { _mm_loadu_si128(b.qs.as_ptr().add(32).cast()) };
                let h = u32::from_le_bytes(b.qh);
                // Bytes 16..32: qh[(l − 16) % 4] for digit (l − 16) / 4.
                let hv = _mm_set1_epi32(h as i32);
                let pow_hi = _mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27);
                (
                    _mm256_set_m128i(hv, tail),
                    _mm256_set_m128i(pow_hi, _mm_set1_epi16(P[4])),
                )
            }
        };
        _mm256_sub_epi8(trits(src, pow), _mm256_set1_epi8(1))
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::{BlockTQ1_0, POW3};

    /// TQ1_0 chunk `c` (see `chunk_values`): the two halves of the chunk's source bytes,
    /// each multiplied by its digit's power of 3, then the digit extracted.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn tq1(b: &BlockTQ1_0, c: usize) -> int8x16x2_t {
        // Digit `pow` of each byte, less 1: `(v · pow mod 256) · 3 >> 8`, then − 1.
        let trits = |v: uint8x16_t, pow: uint8x16_t| {
            let t = vmulq_u8(v, pow);
            let lo = vshrn_n_u16::<8>(vmull_u8(vget_low_u8(t), vdup_n_u8(3)));
            let hi = vshrn_n_u16::<8>(vmull_high_u8(t, vdupq_n_u8(3)));
            vsubq_s8(vreinterpretq_s8_u8(vcombine_u8(lo, hi)), vdupq_n_s8(1))
        };
        // SAFETY (each load): 16 bytes at 0, 16 or 32 of the 48 in `qs`.
        let at = |i: usize| unsafe { vld1q_u8(b.qs.as_ptr().add(i)) };
        let ((lo, lo_pow), (hi, hi_pow)) = match c {
            0..=4 => {
                let pow = vdupq_n_u8(POW3[c]);
                ((at(0), pow), (at(16), pow))
            }
            5 | 6 => {
                let k = 2 * (c - 5);
                let tail = at(32);
                ((tail, vdupq_n_u8(POW3[k])), (tail, vdupq_n_u8(POW3[k + 1])))
            }
            _ => {
                // Values 16..32: qh[(l − 16) % 4] for digit (l − 16) / 4.
                let h = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(b.qh)));
                let pow = vcombine_u8(
                    vcreate_u8(0x0303_0303_0101_0101),
                    vcreate_u8(0x1b1b_1b1b_0909_0909),
                );
                ((at(32), vdupq_n_u8(POW3[4])), (h, pow))
            }
        };
        int8x16x2_t(trits(lo, lo_pow), trits(hi, hi_pow))
    }
}
