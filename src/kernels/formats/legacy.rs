//! ggml's 32-value formats: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (`ggml-common.h` layouts). Each
//! block is one chunk. The 4- and 5-bit formats pack element `j` in the low nibble of
//! `qs[j]` and element `j + 16` in the high one; Q5's fifth bits are bit `j` of `qh`.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::{Block, ChunkScale, DType, Quantize, MAX_CHUNKS, QK};

/// `x = d · q`, q in −128..=127 (ggml `block_q8_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 2 + QK);

/// `x = d · (q − 8)`, q in 0..=15 (ggml `block_q4_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 2 + QK / 2);

/// `x = d · q + m`, q in 0..=15 (ggml `block_q4_1`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 4 + QK / 2);

/// `x = d · (q − 16)`, q a 5-bit value (ggml `block_q5_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 2 + 4 + QK / 2);

/// `x = d · q + m`, q a 5-bit value (ggml `block_q5_1`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: f16,
    pub m: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 4 + 4 + QK / 2);

/// One chunk's scales in the first slot.
#[inline(always)]
fn one(s: ChunkScale) -> [ChunkScale; MAX_CHUNKS] {
    let mut v = [ChunkScale::default(); MAX_CHUNKS];
    v[0] = s;
    v
}

/// The 32 nibbles of `qs` in value order, minus `bias`.
#[inline(always)]
fn nibbles(qs: &[u8; QK / 2], bias: i8) -> [i8; QK] {
    std::array::from_fn(|i| {
        let b = qs[i % 16];
        (if i < 16 { b & 0x0f } else { b >> 4 }) as i8 - bias
    })
}

/// The 32 5-bit values of a Q5 block, minus `bias`.
#[inline(always)]
fn q5_values(qh: [u8; 4], qs: &[u8; QK / 2], bias: i8) -> [i8; QK] {
    let qh = u32::from_le_bytes(qh);
    let lo = nibbles(qs, 0);
    std::array::from_fn(|i| (lo[i] as u8 | ((((qh >> i) & 1) as u8) << 4)) as i8 - bias)
}

/// Bit `j` of `x` to bit `j / 2` (even `j`) or `16 + j / 2` (odd `j`): the even bits
/// in the low half, the odd ones in the high half (Hacker's Delight's outer unshuffle,
/// four swaps of bit fields).
fn unshuffle_bits(mut x: u32) -> u32 {
    for (mask, shift) in [
        (0x2222_2222, 1),
        (0x0c0c_0c0c, 2),
        (0x00f0_00f0, 4),
        (0x0000_ff00, 8),
    ] {
        let t = (x ^ (x >> shift)) & mask;
        x ^= t ^ (t << shift);
    }
    x
}

/// The inverse of `unshuffle_bits`: the same swaps in reverse order.
fn shuffle_bits(mut x: u32) -> u32 {
    for (mask, shift) in [
        (0x0000_ff00, 8),
        (0x00f0_00f0, 4),
        (0x0c0c_0c0c, 2),
        (0x2222_2222, 1),
    ] {
        let t = (x ^ (x >> shift)) & mask;
        x ^= t ^ (t << shift);
    }
    x
}

/// A Q5 block's tail in the split layout: `qh` unshuffled (value `2i + w`'s fifth bit at
/// bit `16w + i` for values 0..16, value `16 + 2i + w`'s at `8 + 16w + i`), inverted for
/// Q5_0 (`invert`), then `qs` as it is. `q5_split_tail_i16` then spreads the bits over
/// 16-bit lanes with one variable shift.
fn q5_split_tail(qh: [u8; 4], qs: &[u8; QK / 2], invert: bool, tail: &mut [u8]) {
    let h = unshuffle_bits(u32::from_le_bytes(qh)) ^ if invert { u32::MAX } else { 0 };
    tail[..4].copy_from_slice(&h.to_le_bytes());
    tail[4..4 + QK / 2].copy_from_slice(qs);
}

/// The inverse of `q5_split_tail`: the block's `qh` and `qs` back in file order.
fn q5_join_tail(tail: &[u8], invert: bool, out: &mut [u8]) {
    let h = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
    let qh = shuffle_bits(h ^ if invert { u32::MAX } else { 0 });
    out[..4].copy_from_slice(&qh.to_le_bytes());
    out[4..4 + QK / 2].copy_from_slice(&tail[4..4 + QK / 2]);
}

// SAFETY: `chunk_bytes_avx2` reads the 32 bytes of `qs`.
unsafe impl Block for BlockQ8_0 {
    const HEAD_SCALE: bool = true;
    const HEAD_BYTES: usize = 2;
    const DTYPE: DType = DType::Q8_0;
    const GGML_ID: u32 = 8;
    const BLOCK: usize = QK;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(self.d.to_f32(), 0.0))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        self.qs
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: `qs` is 32 bytes.
        unsafe { std::arch::x86_64::_mm256_loadu_si256(self.qs.as_ptr().cast()) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        let qs: &[i8; QK] = bytemuck::from_bytes(&tail[..QK]);
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::widen_bytes(qs) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: `qs` is 32 bytes; the caller guarantees NEON.
        unsafe { std::arch::aarch64::vld1q_s8_x2(self.qs.as_ptr()) }
    }
}

// SAFETY: `chunk_bytes_avx2` reads the 16 bytes of `qs`.
unsafe impl Block for BlockQ4_0 {
    const HEAD_SCALE: bool = true;
    const HEAD_BYTES: usize = 2;
    const DTYPE: DType = DType::Q4_0;
    const GGML_ID: u32 = 2;
    const BLOCK: usize = QK;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(self.d.to_f32(), 0.0))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        nibbles(&self.qs, 8)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::nibbles(&self.qs, 8) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::nibbles_i16(tail[..QK / 2].try_into().expect("16 bytes"), 8) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::nibbles(&self.qs, 8) }
    }
}

// SAFETY: `chunk_bytes_avx2` reads the 16 bytes of `qs`.
unsafe impl Block for BlockQ4_1 {
    const HEAD_SCALE: bool = true;
    const HEAD_BYTES: usize = 4;
    const DTYPE: DType = DType::Q4_1;
    const GGML_ID: u32 = 3;
    const BLOCK: usize = QK;
    const OFFSET: bool = true;
    fn finite(&self) -> bool {
        self.d.is_finite() && self.m.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(self.d.to_f32(), self.m.to_f32()))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        nibbles(&self.qs, 0)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::nibbles(&self.qs, 0) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::nibbles_i16(tail[..QK / 2].try_into().expect("16 bytes"), 0) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::nibbles(&self.qs, 0) }
    }
}

// SAFETY: `chunk_bytes_avx2` reads the 16 bytes of `qs` and the 4 of `qh`.
unsafe impl Block for BlockQ5_0 {
    const HEAD_SCALE: bool = true;
    const HEAD_BYTES: usize = 2;
    const DTYPE: DType = DType::Q5_0;
    const GGML_ID: u32 = 6;
    const BLOCK: usize = QK;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(self.d.to_f32(), 0.0))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        q5_values(self.qh, &self.qs, 16)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5(&self.qs, self.qh, 16) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5_tail_i16(tail, 16) }
    }
    fn split_tail(&self, tail: &mut [u8]) {
        q5_split_tail(self.qh, &self.qs, true, tail);
    }
    fn join_tail(tail: &[u8], out: &mut [u8]) {
        q5_join_tail(tail, true, out);
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn split_tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5_split_tail_i16::<true>(tail) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::q5(&self.qs, self.qh, 16) }
    }
}

// SAFETY: as for Q5_0.
unsafe impl Block for BlockQ5_1 {
    const HEAD_SCALE: bool = true;
    const HEAD_BYTES: usize = 4;
    const DTYPE: DType = DType::Q5_1;
    const GGML_ID: u32 = 7;
    const BLOCK: usize = QK;
    const OFFSET: bool = true;
    fn finite(&self) -> bool {
        self.d.is_finite() && self.m.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(self.d.to_f32(), self.m.to_f32()))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        q5_values(self.qh, &self.qs, 0)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5(&self.qs, self.qh, 0) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5_tail_i16(tail, 0) }
    }
    fn split_tail(&self, tail: &mut [u8]) {
        q5_split_tail(self.qh, &self.qs, false, tail);
    }
    fn join_tail(tail: &[u8], out: &mut [u8]) {
        q5_join_tail(tail, false, out);
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn split_tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5_split_tail_i16::<false>(tail) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::q5(&self.qs, self.qh, 0) }
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

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::widen_i8_avx2;
    use super::QK;

    /// The 32 nibbles of `qs` (values 0..16 low, 16..32 high), minus `bias`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn nibbles(qs: &[u8; 16], bias: i8) -> __m256i {
        // SAFETY: `qs` is 16 bytes.
        let x = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
        let m4 = _mm_set1_epi8(0x0f);
        let v = _mm256_set_m128i(
            _mm_and_si128(_mm_srli_epi16(x, 4), m4),
            _mm_and_si128(x, m4),
        );
        if bias == 0 {
            v
        } else {
            _mm256_sub_epi8(v, _mm256_set1_epi8(bias))
        }
    }

    /// The 32 nibbles of `qs` minus `bias`, widened to 16 bits: byte `i` zero-extended
    /// into lane `i` holds value `i` in its low nibble and `i + 16` in its high one, so
    /// one widening load, a mask and a shift give both halves in order.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn nibbles_i16(qs: &[u8; 16], bias: i16) -> (__m256i, __m256i) {
        // LLVM knows the lanes' high bytes are zero and rewrites the mask and the shift
        // as byte operations before two widenings: five instructions where three do,
        // two of them lane-crossing `vpmovzxbw` on the shift and shuffle pipes that bound
        // the decode kernels on Zen 3 (`opaque` stops it). `generate`, AVX2, Zen 3,
        // alternating, medians of 5, decode tok/s from an empty context: SmolLM2 193.9 →
        // 216.8, Gemma 3 88.0 → 91.3.
        // SAFETY: `qs` is 16 bytes.
        let x = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
        let x = crate::kernels::formats::x86::opaque(_mm256_cvtepu8_epi16(x));
        let m4 = _mm256_set1_epi16(0x0f);
        let (lo, hi) = (_mm256_and_si256(x, m4), _mm256_srli_epi16(x, 4));
        if bias == 0 {
            (lo, hi)
        } else {
            let b = _mm256_set1_epi16(bias);
            (_mm256_sub_epi16(lo, b), _mm256_sub_epi16(hi, b))
        }
    }

    /// A Q5 block's bytes after its head (`qh`, then `qs`) decoded as `q5` and widened to
    /// 16 bits (values 0..16, 16..32).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn q5_tail_i16(tail: &[u8], bias: i8) -> (__m256i, __m256i) {
        let (qh, qs) = tail[..4 + QK / 2].split_at(4);
        let qh: [u8; 4] = qh.try_into().expect("4 bytes");
        let b = q5(qs.try_into().expect("16 bytes"), qh, bias);
        // SAFETY: AVX2 is enabled here.
        unsafe { widen_i8_avx2(b) }
    }

    /// A Q5 tail as `q5_split_tail` stores it, decoded to 16-bit values (0..16, 16..32):
    /// the nibbles as `nibbles_i16`, and the fifth bits from one broadcast shifted right
    /// by `i` in dword `i`, which brings value `2i + w`'s bit to bit 0 of 16-bit lane
    /// `2i + w` and value `16 + 2i + w`'s to bit 8. `INVERTED` (Q5_0) stores the bits
    /// inverted: `q − 16 = nibble − 16·(1 − bit)` is then one subtraction.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn q5_split_tail_i16<const INVERTED: bool>(tail: &[u8]) -> (__m256i, __m256i) {
        let (qh, qs) = tail[..4 + QK / 2].split_at(4);
        let (lo, hi) = nibbles_i16(qs.try_into().expect("16 bytes"), 0);
        let h = i32::from_le_bytes(qh.try_into().expect("4 bytes"));
        let t = _mm256_srlv_epi32(
            _mm256_set1_epi32(h),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        let h0 = _mm256_slli_epi16(_mm256_and_si256(t, _mm256_set1_epi32(0x0001_0001)), 4);
        let h1 = _mm256_srli_epi16(_mm256_and_si256(t, _mm256_set1_epi32(0x0100_0100)), 4);
        if INVERTED {
            (_mm256_sub_epi16(lo, h0), _mm256_sub_epi16(hi, h1))
        } else {
            (_mm256_add_epi16(lo, h0), _mm256_add_epi16(hi, h1))
        }
    }

    /// 32 signed bytes widened to 16 bits, straight from memory.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn widen_bytes(qs: &[i8; 32]) -> (__m256i, __m256i) {
        // SAFETY: `qs` is 32 bytes.
        unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.as_ptr().cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.as_ptr().add(16).cast())),
            )
        }
    }

    /// 32 values of a Q5 block: nibbles, plus the fifth bits of `qh` spread one per byte,
    /// minus `bias`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn q5(qs: &[u8; 16], qh: [u8; 4], bias: i8) -> __m256i {
        let nib = nibbles(qs, 0);
        // Byte i gets byte i/8 of qh, then its bit i%8.
        let bits = _mm256_shuffle_epi8(
            _mm256_set1_epi32(i32::from_le_bytes(qh)),
            _mm256_setr_epi8(
                0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
                3, 3, 3, 3,
            ),
        );
        let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        let high = _mm256_and_si256(
            _mm256_cmpeq_epi8(_mm256_and_si256(bits, sel), sel),
            _mm256_set1_epi8(0x10),
        );
        _mm256_sub_epi8(_mm256_or_si256(nib, high), _mm256_set1_epi8(bias))
    }
}

#[cfg(target_arch = "aarch64")]
pub(super) mod neon {
    use std::arch::aarch64::*;

    /// The 32 nibbles of `qs` (values 0..16 low, 16..32 high), minus `bias`.
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn nibbles(qs: &[u8; 16], bias: i8) -> int8x16x2_t {
        // SAFETY: `qs` is 16 bytes.
        let x = unsafe { vld1q_u8(qs.as_ptr()) };
        let b = vdupq_n_s8(bias);
        int8x16x2_t(
            vsubq_s8(vreinterpretq_s8_u8(vandq_u8(x, vdupq_n_u8(0x0f))), b),
            vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(x)), b),
        )
    }

    /// 16 bytes, each all ones where bit `i % 8` of byte `i / 8` of `bits` is set.
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn bit_mask(bits: u16) -> uint8x16_t {
        let lo = vdup_n_u8(bits as u8);
        let hi = vdup_n_u8((bits >> 8) as u8);
        let sel = vcreate_u8(0x8040_2010_0804_0201);
        vcombine_u8(vtst_u8(lo, sel), vtst_u8(hi, sel))
    }

    /// 32 values of a Q5 block: nibbles plus the fifth bits of `qh`, minus `bias`.
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn q5(qs: &[u8; 16], qh: [u8; 4], bias: i8) -> int8x16x2_t {
        let n = nibbles(qs, 0);
        let h = u32::from_le_bytes(qh);
        let sixteen = vdupq_n_u8(0x10);
        let hi0 = vreinterpretq_s8_u8(vandq_u8(bit_mask(h as u16), sixteen));
        let hi1 = vreinterpretq_s8_u8(vandq_u8(bit_mask((h >> 16) as u16), sixteen));
        let b = vdupq_n_s8(bias);
        int8x16x2_t(
            vsubq_s8(vorrq_s8(n.0, hi0), b),
            vsubq_s8(vorrq_s8(n.1, hi1), b),
        )
    }
}

#[cfg(test)]
mod bit_tests {
    use super::{shuffle_bits, unshuffle_bits};

    #[test]
    fn unshuffle_puts_even_bits_low_and_odd_bits_high() {
        for j in 0..32 {
            let want = if j % 2 == 0 { j / 2 } else { 16 + j / 2 };
            assert_eq!(unshuffle_bits(1 << j), 1 << want, "bit {j}");
        }
        for x in [0u32, u32::MAX, 0x1234_5678, 0xdead_beef, 0x8000_0001] {
            assert_eq!(shuffle_bits(unshuffle_bits(x)), x);
        }
    }
}
