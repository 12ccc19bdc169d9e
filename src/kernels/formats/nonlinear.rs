//! Non-linear 4-bit formats: each nibble indexes a table of 16 signed bytes. IQ4_NL (32
//! values, f16 scale), IQ4_XS (256 values, a 6-bit scale per 32) and MXFP4 (32 values of
//! FP4 E2M1, doubled to integers, with an E8M0 power-of-two scale).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::iq_tables::{KVALUES_IQ4NL, KVALUES_MXFP4};
use super::{Block, ChunkScale, DType, MAX_CHUNKS, QK, QK_K};

/// `x = d · K[q]`, `K` = `KVALUES_IQ4NL` (ggml `block_iq4_nl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ4NL {
    pub d: f16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIQ4NL>() == 2 + QK / 2);

/// 8 sub-blocks of 32, `x = d · (ls − 32) · K[q]` with 6-bit `ls`: low 4 bits in
/// `scales_l`, high 2 in `scales_h` (ggml `block_iq4_xs`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ4XS {
    pub d: f16,
    pub scales_h: [u8; 2],
    pub scales_l: [u8; QK_K / 64],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIQ4XS>() == 2 + 2 + QK_K / 64 + QK_K / 2);

/// `x = 2^(e − 128) · K[q]`, `K` = `KVALUES_MXFP4` (twice the E2M1 values) (ggml
/// `block_mxfp4`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockMXFP4 {
    pub e: u8,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockMXFP4>() == 1 + QK / 2);

/// The 32 table values of 16 nibble bytes (value `j` low nibble of `qs[j]`, `j + 16`
/// high).
#[inline(always)]
fn lookup(qs: &[u8], table: &[i8; 16]) -> [i8; QK] {
    std::array::from_fn(|i| {
        let b = qs[i % 16];
        table[(if i < 16 { b & 15 } else { b >> 4 }) as usize]
    })
}

/// ggml's `GGML_E8M0_TO_FP32_HALF`: `2^(e − 128)`, subnormal for `e < 2`.
#[inline(always)]
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        (e as u32 - 1) << 23
    };
    f32::from_bits(bits)
}

fn one(s: ChunkScale) -> [ChunkScale; MAX_CHUNKS] {
    let mut v = [ChunkScale::default(); MAX_CHUNKS];
    v[0] = s;
    v
}

// SAFETY: `chunk_bytes_avx2` reads the 16 bytes of `qs`.
unsafe impl Block for BlockIQ4NL {
    const DTYPE: DType = DType::IQ4NL;
    const GGML_ID: u32 = 20;
    const BLOCK: usize = QK;
    const HEAD_SCALE: bool = true;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(self.d.to_f32(), 0.0))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        lookup(&self.qs, &KVALUES_IQ4NL)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::lookup(&self.qs, &KVALUES_IQ4NL) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::lookup(&self.qs, &KVALUES_IQ4NL) }
    }
}

// SAFETY: `chunk_bytes_avx2` reads 16 bytes of `qs` at 16c ≤ 112.
unsafe impl Block for BlockIQ4XS {
    const DTYPE: DType = DType::IQ4XS;
    const GGML_ID: u32 = 23;
    const BLOCK: usize = QK_K;
    fn finite(&self) -> bool {
        self.d.is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        let d = self.d.to_f32();
        let h = u16::from_le_bytes(self.scales_h);
        std::array::from_fn(|ib| {
            let low = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 15;
            let high = ((h >> (2 * ib)) & 3) as u8;
            ChunkScale::uniform(d * ((low | (high << 4)) as i32 - 32) as f32, 0.0)
        })
    }
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        lookup(&self.qs[16 * c..16 * c + 16], &KVALUES_IQ4NL)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        let qs: &[u8; 16] = self.qs[16 * c..16 * c + 16].try_into().expect("16 bytes");
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::lookup(qs, &KVALUES_IQ4NL) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        let qs: &[u8; 16] = self.qs[16 * c..16 * c + 16].try_into().expect("16 bytes");
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::lookup(qs, &KVALUES_IQ4NL) }
    }
}

// SAFETY: `chunk_bytes_avx2` reads the 16 bytes of `qs`.
unsafe impl Block for BlockMXFP4 {
    const DTYPE: DType = DType::MXFP4;
    const GGML_ID: u32 = 39;
    const BLOCK: usize = QK;
    /// The E8M0 exponent reaches 2^127: its largest values overflow f32 (as in ggml and
    /// gguf-py, whose dequantization gives infinities there).
    fn finite(&self) -> bool {
        let max = self
            .qs
            .iter()
            .flat_map(|&b| [b & 15, b >> 4])
            .map(|i| KVALUES_MXFP4[i as usize].unsigned_abs())
            .max()
            .unwrap_or(0);
        (e8m0_half(self.e) * f32::from(max)).is_finite()
    }
    #[inline(always)]
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS] {
        one(ChunkScale::uniform(e8m0_half(self.e), 0.0))
    }
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        lookup(&self.qs, &KVALUES_MXFP4)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::lookup(&self.qs, &KVALUES_MXFP4) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, _: usize) -> std::arch::aarch64::int8x16x2_t {
        // SAFETY: the caller guarantees NEON.
        unsafe { neon::lookup(&self.qs, &KVALUES_MXFP4) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The table values of 16 nibble bytes: one `vpshufb` of the 16-entry table.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn lookup(qs: &[u8; 16], table: &[i8; 16]) -> __m256i {
        // SAFETY: both are 16 bytes.
        let (x, t) = unsafe {
            (
                _mm_loadu_si128(qs.as_ptr().cast()),
                _mm_loadu_si128(table.as_ptr().cast()),
            )
        };
        let m4 = _mm_set1_epi8(0x0f);
        let idx = _mm256_set_m128i(
            _mm_and_si128(_mm_srli_epi16(x, 4), m4),
            _mm_and_si128(x, m4),
        );
        _mm256_shuffle_epi8(_mm256_set_m128i(t, t), idx)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// The table values of 16 nibble bytes: one `tbl` per half.
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn lookup(qs: &[u8; 16], table: &[i8; 16]) -> int8x16x2_t {
        // SAFETY: both are 16 bytes.
        let (x, t) = unsafe { (vld1q_u8(qs.as_ptr()), vld1q_s8(table.as_ptr())) };
        int8x16x2_t(
            vqtbl1q_s8(t, vandq_u8(x, vdupq_n_u8(0x0f))),
            vqtbl1q_s8(t, vshrq_n_u8::<4>(x)),
        )
    }
}
