//! ggml's K-quants (`ggml-common.h` layouts, `dequantize_row_q*_K` in ggml-quants.c): 256
//! values in a super-block of sub-blocks, each with its own 4- to 8-bit scale, themselves
//! scaled by the super-block's f16 `d` (and `dmin` for the minimums).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::{Block, ChunkScale, DType, MAX_CHUNKS, QK, QK_K};

/// 16 sub-blocks of 16 2-bit values, each `x = d·sc·q − dmin·m` with 4-bit `sc` (low
/// nibble of `scales[i]`) and `m` (high nibble) (ggml `block_q2_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: f16,
    pub dmin: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == QK_K / 16 + QK_K / 4 + 4);

/// 16 sub-blocks of 16 3-bit values, `x = d·(sc − 32)·(q − 4)` with 6-bit `sc` packed in
/// `scales`: low 2 bits of `q` in `qs`, the third in `hmask` (set means no −4) (ggml
/// `block_q3_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == QK_K / 8 + QK_K / 4 + 12 + 2);

/// 8 sub-blocks of 32 4-bit values, each `x = d·sc·q − dmin·m` with 6-bit `sc` and `m`
/// packed in `scales` (ggml `block_q4_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 4 + 12 + QK_K / 2);

/// As Q4_K with a fifth bit per value in `qh` (ggml `block_q5_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 4 + 12 + QK_K / 8 + QK_K / 2);

/// 16 sub-blocks of 16 6-bit values, `x = d·sc·(q − 32)` with signed 8-bit `sc`: low 4
/// bits in `ql`, high 2 in `qh` (ggml `block_q6_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2);

/// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K super-block (ggml
/// `get_scale_min_k4`): sub-blocks 0-3 in the low 6 bits of bytes 0-3 and 4-7; 4-7 split
/// between the low/high nibbles of bytes 8-11 and the top 2 bits of bytes 0-7.
#[inline]
pub(crate) fn scale_min(j: usize, s: &[u8; 12]) -> (f32, f32) {
    if j < 4 {
        ((s[j] & 63) as f32, (s[j + 4] & 63) as f32)
    } else {
        (
            ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4)) as f32,
            ((s[j + 4] >> 4) | ((s[j] >> 6) << 4)) as f32,
        )
    }
}

/// The 2-bit values of Q2_K / Q3_K chunk `c` = (half `n = c/4`, pair `j = c%4`): bits
/// `2j, 2j+1` of `qs[32n ..]`.
#[inline(always)]
fn two_bits(qs: &[u8; QK_K / 4], c: usize) -> [u8; QK] {
    let (n, j) = (c / 4, c % 4);
    std::array::from_fn(|l| (qs[32 * n + l] >> (2 * j)) & 3)
}

// SAFETY: the default AVX2 decoder reads only `self`.
unsafe impl Block for BlockQ2K {
    const DTYPE: DType = DType::Q2K;
    const GGML_ID: u32 = 10;
    const BLOCK: usize = QK_K;
    const UNIFORM: bool = false;
    const OFFSET: bool = true;
    const OFFSET_LO: bool = true;
    fn finite(&self) -> bool {
        self.d.is_finite() && self.dmin.is_finite()
    }
    /// Chunk `c`'s halves are sub-blocks `2c` and `2c + 1`.
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        std::array::from_fn(|c| {
            let (a, b) = (self.scales[2 * c], self.scales[2 * c + 1]);
            let (m_lo, m_hi) = (-dmin * (a >> 4) as f32, -dmin * (b >> 4) as f32);
            ChunkScale {
                lo: d * (a & 15) as f32,
                hi: d * (b & 15) as f32,
                off: m_hi,
                off_lo: m_lo - m_hi,
            }
        })
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scales8_avx2(&self) -> [std::arch::x86_64::__m256; 4] {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q2k_scales8(self.d.to_f32(), self.dmin.to_f32(), &self.scales) }
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        two_bits(&self.qs, c).map(|q| q as i8)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::two_bits(&self.qs, c) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON and c < 8.
        unsafe { neon::two_bits(&self.qs, c) }
    }
}

/// Q3_K's 16 signed 6-bit scales: low 4 bits from bytes 0..8 (nibbles), high 2 from bytes
/// 8..12 (ggml's `kmask` unpacking), minus 32.
#[inline(always)]
fn q3k_scales(s: &[u8; 12]) -> [i8; 16] {
    std::array::from_fn(|i| {
        let low = if i < 8 { s[i] & 15 } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        (low | (high << 4)) as i8 - 32
    })
}

// SAFETY: `chunk_bytes_avx2` reads 32 bytes of `qs` at 32·(c/4) ≤ 32 and the 32 of `hmask`.
unsafe impl Block for BlockQ3K {
    const DTYPE: DType = DType::Q3K;
    const GGML_ID: u32 = 11;
    const BLOCK: usize = QK_K;
    const UNIFORM: bool = false;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        let sc = q3k_scales(&self.scales);
        std::array::from_fn(|c| ChunkScale {
            lo: d * sc[2 * c] as f32,
            hi: d * sc[2 * c + 1] as f32,
            off: 0.0,
            off_lo: 0.0,
        })
    }
    /// Bit `c` of `hmask[l]` is value `l`'s third bit; when clear, the value is 4 lower.
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let low = two_bits(&self.qs, c);
        std::array::from_fn(|l| {
            let high = (self.hmask[l] >> c) & 1;
            low[l] as i8 - if high == 1 { 0 } else { 4 }
        })
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::q3k_chunk(&self.qs, &self.hmask, c) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON and c < 8.
        unsafe { neon::q3k_chunk(&self.qs, &self.hmask, c) }
    }
}

/// Q4_K / Q5_K chunk `c`: low (even c) or high (odd c) nibbles of `qs[32·(c/2)..]`, plus
/// bit `c` of each `qh` byte as the fifth bit for Q5_K.
#[inline(always)]
fn k_chunk(qs: &[u8; QK_K / 2], qh: Option<&[u8; 32]>, c: usize) -> [i8; QK] {
    let q = &qs[32 * (c / 2)..32 * (c / 2) + 32];
    std::array::from_fn(|l| {
        let nib = if c.is_multiple_of(2) {
            q[l] & 0x0f
        } else {
            q[l] >> 4
        };
        let high = qh.map_or(0, |h| ((h[l] >> c) & 1) << 4);
        (nib | high) as i8
    })
}

/// Q4_K / Q5_K chunk scales: `d·sc_c`, offset `−dmin·m_c`.
#[inline(always)]
fn k_scales(d: f16, dmin: f16, packed: &[u8; 12]) -> [ChunkScale; MAX_CHUNKS] {
    let (d, dmin) = (d.to_f32(), dmin.to_f32());
    std::array::from_fn(|c| {
        let (sc, m) = scale_min(c, packed);
        ChunkScale::uniform(d * sc, -dmin * m)
    })
}

// SAFETY: `chunk_bytes_avx2` reads 32 bytes of the 128-byte `qs` at 32·(c/2), c < 8.
unsafe impl Block for BlockQ4K {
    const DTYPE: DType = DType::Q4K;
    const GGML_ID: u32 = 12;
    const BLOCK: usize = QK_K;
    const OFFSET: bool = true;
    fn finite(&self) -> bool {
        self.d.is_finite() && self.dmin.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        k_scales(self.d, self.dmin, &self.scales)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scales8_avx2(&self) -> [std::arch::x86_64::__m256; 4] {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::k_scales8(self.d.to_f32(), self.dmin.to_f32(), &self.scales) }
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        k_chunk(&self.qs, None, c)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::k_chunk(&self.qs, None, c) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON and c < 8.
        unsafe { neon::k_chunk(&self.qs, None, c) }
    }
}

// SAFETY: as for Q4_K, plus the 32 bytes of `qh`.
unsafe impl Block for BlockQ5K {
    const DTYPE: DType = DType::Q5K;
    const GGML_ID: u32 = 13;
    const BLOCK: usize = QK_K;
    const OFFSET: bool = true;
    fn finite(&self) -> bool {
        self.d.is_finite() && self.dmin.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        k_scales(self.d, self.dmin, &self.scales)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scales8_avx2(&self) -> [std::arch::x86_64::__m256; 4] {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::k_scales8(self.d.to_f32(), self.dmin.to_f32(), &self.scales) }
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        k_chunk(&self.qs, Some(&self.qh), c)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::k_chunk(&self.qs, Some(&self.qh), c) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON and c < 8.
        unsafe { neon::k_chunk(&self.qs, Some(&self.qh), c) }
    }
}

/// Q6_K chunk `c` = (half `n = c/4`, quarter `k = c%4`): low (k < 2) or high nibbles of
/// `ql[64n + 32·(k%2) ..]`, with bits `2k, 2k+1` of `qh[32n ..]` on top, minus 32; its two
/// halves are sub-blocks `2c` and `2c + 1`.
// SAFETY: `chunk_bytes_avx2` reads 32 bytes of `ql` at 64n + 32(k%2) ≤ 96 and of `qh` at
// 32n ≤ 32.
unsafe impl Block for BlockQ6K {
    const DTYPE: DType = DType::Q6K;
    const GGML_ID: u32 = 14;
    const BLOCK: usize = QK_K;
    const UNIFORM: bool = false;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        std::array::from_fn(|c| ChunkScale {
            lo: d * self.scales[2 * c] as f32,
            hi: d * self.scales[2 * c + 1] as f32,
            off: 0.0,
            off_lo: 0.0,
        })
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scales8_avx2(&self) -> [std::arch::x86_64::__m256; 4] {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q6k_scales8(self.d.to_f32(), &self.scales) }
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let (n, k) = (c / 4, c % 4);
        let ql = &self.ql[64 * n + 32 * (k % 2)..][..32];
        let qh = &self.qh[32 * n..][..32];
        std::array::from_fn(|l| {
            let nib = if k < 2 { ql[l] & 0x0f } else { ql[l] >> 4 };
            (nib | (((qh[l] >> (2 * k)) & 3) << 4)) as i8 - 32
        })
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::q6k_chunk(&self.ql, &self.qh, c) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON and c < 8.
        unsafe { neon::q6k_chunk(&self.ql, &self.qh, c) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Q4_K / Q5_K's chunk scales as `k_scales` makes them (`d·sc`, `−dmin·m`), from the
    /// 12 packed bytes as three 32-bit words: chunks 0..4 take the low 6 bits of words 0
    /// (scales) and 1 (minimums); chunks 4..8 take the nibbles of word 2 with the top 2
    /// bits of words 0 and 1 above them (`scale_min`).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn k_scales8(d: f32, dmin: f32, packed: &[u8; 12]) -> [__m256; 4] {
        let word = |i: usize| {
            u32::from_le_bytes([
                packed[4 * i],
                packed[4 * i + 1],
                packed[4 * i + 2],
                packed[4 * i + 3],
            ])
        };
        let (a, b, c) = (word(0), word(1), word(2));
        let (low6, low4, top2) = (0x3f3f_3f3f, 0x0f0f_0f0f, 0x0303_0303);
        let sc = [a & low6, (c & low4) | (((a >> 6) & top2) << 4)];
        let m = [b & low6, ((c >> 4) & low4) | (((b >> 6) & top2) << 4)];
        // Eight bytes (chunks 0..8) zero-extended to eight exact floats.
        let floats = |w: [u32; 2]| {
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32(
                w[0] as i32,
                w[1] as i32,
                0,
                0,
            )))
        };
        let scale = _mm256_mul_ps(_mm256_set1_ps(d), floats(sc));
        let off = _mm256_mul_ps(_mm256_set1_ps(-dmin), floats(m));
        [scale, scale, off, _mm256_setzero_ps()]
    }

    /// Q6_K's chunk scales (`d·scales[2c]` for the low half, `d·scales[2c + 1]` for the
    /// high): the even bytes, then the odd ones, sign-extended to floats.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn q6k_scales8(d: f32, scales: &[i8; 16]) -> [__m256; 4] {
        // SAFETY: `scales` is 16 bytes.
        let v = unsafe { _mm_loadu_si128(scales.as_ptr().cast()) };
        let evens_odds = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        let p = _mm_shuffle_epi8(v, evens_odds);
        let dv = _mm256_set1_ps(d);
        let lo = _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(p)));
        let hi = _mm256_mul_ps(
            dv,
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(p, 8))),
        );
        [lo, hi, _mm256_setzero_ps(), _mm256_setzero_ps()]
    }

    /// Q2_K's chunk scales (`BlockQ2K::scales`): per half, the low nibble scales by `d`
    /// and the high one is a minimum by `dmin`; `off` is the high half's minimum and
    /// `off_lo` the low half's minus it.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn q2k_scales8(d: f32, dmin: f32, scales: &[u8; 16]) -> [__m256; 4] {
        // SAFETY: `scales` is 16 bytes.
        let v = unsafe { _mm_loadu_si128(scales.as_ptr().cast()) };
        let evens_odds = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        let p = _mm_shuffle_epi8(v, evens_odds);
        let m4 = _mm_set1_epi8(0x0f);
        let (sc, mn) = (
            _mm_and_si128(p, m4),
            _mm_and_si128(_mm_srli_epi16(p, 4), m4),
        );
        // Bytes 0..8 (a = the even, low-half sub-blocks) or 8..16 (b) as floats.
        let floats = |x: __m128i, high: bool| {
            let x = if high { _mm_srli_si128(x, 8) } else { x };
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(x))
        };
        let (dv, mv) = (_mm256_set1_ps(d), _mm256_set1_ps(-dmin));
        let (m_lo, m_hi) = (
            _mm256_mul_ps(mv, floats(mn, false)),
            _mm256_mul_ps(mv, floats(mn, true)),
        );
        [
            _mm256_mul_ps(dv, floats(sc, false)),
            _mm256_mul_ps(dv, floats(sc, true)),
            m_hi,
            _mm256_sub_ps(m_lo, m_hi),
        ]
    }

    /// Q2_K / Q3_K chunk `c`'s 2-bit values (see `two_bits`). `c < 8`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn two_bits(qs: &[u8; 64], c: usize) -> __m256i {
        let (n, j) = (c / 4, c % 4);
        // SAFETY: c < 8: 32n + 32 ≤ 64.
        let q = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * n).cast()) };
        // Shifting 16-bit lanes by 2j ≤ 6 keeps each byte's own bits 2j, 2j+1 at 0, 1.
        _mm256_and_si256(
            _mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j as i32)),
            _mm256_set1_epi8(3),
        )
    }

    /// Q3_K chunk `c`: the 2-bit values, minus 4 where bit `c` of `hmask` is clear.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn q3k_chunk(qs: &[u8; 64], hmask: &[u8; 32], c: usize) -> __m256i {
        // SAFETY: as for `two_bits`; `hmask` is 32 bytes.
        let (low, h) = unsafe { (two_bits(qs, c), _mm256_loadu_si256(hmask.as_ptr().cast())) };
        let bit = _mm256_set1_epi8((1u8 << c) as i8);
        let clear = _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), _mm256_setzero_si256());
        _mm256_sub_epi8(low, _mm256_and_si256(clear, _mm256_set1_epi8(4)))
    }

    /// Q4_K / Q5_K chunk `c` (see `k_chunk`). `c < 8`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn k_chunk(qs: &[u8; 128], qh: Option<&[u8; 32]>, c: usize) -> __m256i {
        // SAFETY: c < 8, so 32·(c/2) + 32 ≤ 128.
        let q = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * (c / 2)).cast()) };
        let m4 = _mm256_set1_epi8(0x0f);
        let nib = if c.is_multiple_of(2) {
            _mm256_and_si256(q, m4)
        } else {
            _mm256_and_si256(_mm256_srli_epi16(q, 4), m4)
        };
        match qh {
            None => nib,
            Some(h) => {
                // SAFETY: `h` is 32 bytes.
                let h = unsafe { _mm256_loadu_si256(h.as_ptr().cast()) };
                let bit = _mm256_set1_epi8((1u8 << c) as i8);
                let high = _mm256_and_si256(
                    _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit),
                    _mm256_set1_epi8(0x10),
                );
                _mm256_or_si256(nib, high)
            }
        }
    }

    /// Q6_K chunk `c` (see `BlockQ6K::chunk_values`). `c < 8`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn q6k_chunk(ql: &[u8; 128], qh: &[u8; 64], c: usize) -> __m256i {
        let (n, k) = (c / 4, c % 4);
        // SAFETY: c < 8: 64n + 32(k%2) + 32 ≤ 128 and 32n + 32 ≤ 64.
        let (l, h) = unsafe {
            (
                _mm256_loadu_si256(ql.as_ptr().add(64 * n + 32 * (k % 2)).cast()),
                _mm256_loadu_si256(qh.as_ptr().add(32 * n).cast()),
            )
        };
        let m4 = _mm256_set1_epi8(0x0f);
        let nib = if k < 2 {
            _mm256_and_si256(l, m4)
        } else {
            _mm256_and_si256(_mm256_srli_epi16(l, 4), m4)
        };
        // Shifting 16-bit lanes by 2k ≤ 6 keeps each byte's own bits 2k, 2k+1 at 0, 1.
        let hb = _mm256_and_si256(
            _mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * k as i32)),
            _mm256_set1_epi8(3),
        );
        _mm256_sub_epi8(
            _mm256_or_si256(nib, _mm256_slli_epi16(hb, 4)),
            _mm256_set1_epi8(32),
        )
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// 32 bytes at `p` as two registers.
    ///
    /// # Safety
    /// 32 readable bytes at `p`.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn load32(p: *const u8) -> uint8x16x2_t {
        // SAFETY: the caller guarantees 32 bytes.
        unsafe { vld1q_u8_x2(p) }
    }

    /// Each byte of `v` shifted right by `k` (a run-time count).
    #[inline]
    #[target_feature(enable = "neon")]
    fn shr(v: uint8x16_t, k: usize) -> uint8x16_t {
        vshlq_u8(v, vdupq_n_s8(-(k as i8)))
    }

    fn s8(a: uint8x16_t, b: uint8x16_t) -> int8x16x2_t {
        // SAFETY: bit casts.
        unsafe { int8x16x2_t(vreinterpretq_s8_u8(a), vreinterpretq_s8_u8(b)) }
    }

    /// Q4_K / Q5_K chunk `c`. `c < 8`.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn k_chunk(qs: &[u8; 128], qh: Option<&[u8; 32]>, c: usize) -> int8x16x2_t {
        // SAFETY: c < 8: 32·(c/2) + 32 ≤ 128.
        let q = unsafe { load32(qs.as_ptr().add(32 * (c / 2))) };
        let m4 = vdupq_n_u8(0x0f);
        let (mut a, mut b) = if c.is_multiple_of(2) {
            (vandq_u8(q.0, m4), vandq_u8(q.1, m4))
        } else {
            (vshrq_n_u8::<4>(q.0), vshrq_n_u8::<4>(q.1))
        };
        if let Some(h) = qh {
            // SAFETY: `h` is 32 bytes.
            let h = unsafe { load32(h.as_ptr()) };
            let bit = vdupq_n_u8(1 << c);
            let sixteen = vdupq_n_u8(0x10);
            a = vorrq_u8(a, vandq_u8(vtstq_u8(h.0, bit), sixteen));
            b = vorrq_u8(b, vandq_u8(vtstq_u8(h.1, bit), sixteen));
        }
        s8(a, b)
    }

    /// Q6_K chunk `c`. `c < 8`.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn q6k_chunk(ql: &[u8; 128], qh: &[u8; 64], c: usize) -> int8x16x2_t {
        let (n, k) = (c / 4, c % 4);
        // SAFETY: c < 8: 64n + 32(k%2) + 32 ≤ 128 and 32n + 32 ≤ 64.
        let (l, h) = unsafe {
            (
                load32(ql.as_ptr().add(64 * n + 32 * (k % 2))),
                load32(qh.as_ptr().add(32 * n)),
            )
        };
        let m4 = vdupq_n_u8(0x0f);
        let nib = |v: uint8x16_t| {
            if k < 2 {
                vandq_u8(v, m4)
            } else {
                vshrq_n_u8::<4>(v)
            }
        };
        let high = |v: uint8x16_t| vshlq_n_u8::<4>(vandq_u8(shr(v, 2 * k), vdupq_n_u8(3)));
        let v = |a: uint8x16_t, b: uint8x16_t| {
            vsubq_s8(
                vreinterpretq_s8_u8(vorrq_u8(nib(a), high(b))),
                vdupq_n_s8(32),
            )
        };
        int8x16x2_t(v(l.0, h.0), v(l.1, h.1))
    }

    /// Q2_K / Q3_K chunk `c`'s 2-bit values. `c < 8`.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn two_bits(qs: &[u8; 64], c: usize) -> int8x16x2_t {
        let (n, j) = (c / 4, c % 4);
        // SAFETY: c < 8: 32n + 32 ≤ 64.
        let q = unsafe { load32(qs.as_ptr().add(32 * n)) };
        let three = vdupq_n_u8(3);
        s8(
            vandq_u8(shr(q.0, 2 * j), three),
            vandq_u8(shr(q.1, 2 * j), three),
        )
    }

    /// Q3_K chunk `c`: the 2-bit values minus 4 where bit `c` of `hmask` is clear.
    #[inline]
    #[target_feature(enable = "neon")]
    pub unsafe fn q3k_chunk(qs: &[u8; 64], hmask: &[u8; 32], c: usize) -> int8x16x2_t {
        // SAFETY: as for `two_bits`; `hmask` is 32 bytes.
        let (low, h) = unsafe { (two_bits(qs, c), load32(hmask.as_ptr())) };
        let bit = vdupq_n_u8(1 << c);
        let four = vdupq_n_u8(4);
        let sub = |v: int8x16_t, h: uint8x16_t| {
            let clear = vbicq_u8(four, vtstq_u8(h, bit));
            vsubq_s8(v, vreinterpretq_s8_u8(clear))
        };
        int8x16x2_t(sub(low.0, h.0), sub(low.1, h.1))
    }
}
