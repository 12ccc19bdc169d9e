//! Every tensor element format, one place each: the GGML block formats and the plain
//! floats (ggml's `type_traits[]` table, candle's `GgmlType`).
//!
//! A block format is a `#[repr(C)]` struct with ggml's byte layout (`ggml-common.h`) and a
//! compile-time size assertion, and one `Block` impl that carries everything about it:
//! its GGML id and name, the finiteness check of its scales, and its decoding into 32-value
//! **chunks** of small integers with per-half scales and an offset. The integer dot
//! products (`kernels::qdot`, one generic kernel per ISA), dequantization (derived from the
//! same chunks) and the GEMM's panel packing all read a format through that decoding, so a
//! new format is a struct, a `Block` impl and one line in `for_each_block!`.
//!
//! This module is a leaf: `tensor` and the kernels import it, it imports neither.
//!
//! A chunk `c` of a block holds values `32c .. 32c + 32`:
//!
//! ```text
//! w_i = s_lo · u_i + off + off_lo   (i < 16)
//! w_i = s_hi · u_i + off            (i ≥ 16)
//! ```
//!
//! with `u_i` a signed byte (`chunk_values`), `s_lo`/`s_hi`/`off`/`off_lo` from `scales`.
//! Formats whose sub-blocks are 16 long (Q6_K) have `s_lo ≠ s_hi`; formats with a minimum
//! (Q4_1, Q5_1, Q4_K, Q5_K) have `off`; biases such as Q4_0's −8 are folded into `u`.

use bytemuck::Pod;
use half::{bf16, f16};

mod iq_tables;
mod iquants;
mod legacy;
mod low_bit;
mod nonlinear;
mod quants_k;

pub use iquants::{
    BlockIQ1M, BlockIQ1S, BlockIQ2S, BlockIQ2XS, BlockIQ2XXS, BlockIQ3S, BlockIQ3XXS,
};
pub use legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0};
pub use low_bit::{BlockQ1_0, BlockQ2_0, BlockTQ1_0, BlockTQ2_0};
pub use nonlinear::{BlockIQ4NL, BlockIQ4XS, BlockMXFP4};
pub use quants_k::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K};

/// Values per block of the 32-wide formats, and per chunk of every format.
pub const QK: usize = 32;
/// Values per K-quant super-block.
pub const QK_K: usize = 256;
/// Most chunks in a block (the 256-value formats' 8).
pub const MAX_CHUNKS: usize = QK_K / QK;

/// Element type of a tensor. Quantized types store `block_size()` values in
/// `type_size()` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    IQ4NL,
    IQ4XS,
    IQ3S,
    IQ3XXS,
    IQ2XXS,
    IQ2XS,
    IQ2S,
    IQ1S,
    IQ1M,
    TQ1_0,
    TQ2_0,
    MXFP4,
    Q1_0,
    Q2_0,
}

/// The scales of one chunk: see the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChunkScale {
    /// Scale of values 0..16.
    pub lo: f32,
    /// Scale of values 16..32.
    pub hi: f32,
    /// Added to every value.
    pub off: f32,
    /// Added to values 0..16 only (formats whose minimums change every 16 values).
    pub off_lo: f32,
}

impl ChunkScale {
    /// One scale for the whole chunk, and an offset.
    #[inline(always)]
    pub fn uniform(s: f32, off: f32) -> ChunkScale {
        ChunkScale {
            lo: s,
            hi: s,
            off,
            off_lo: 0.0,
        }
    }
}

/// 32 signed bytes widened to 16 bits, as two registers (values 0..16, 16..32).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn widen_i8_avx2(
    b: std::arch::x86_64::__m256i,
) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees AVX2.
    unsafe {
        (
            _mm256_cvtepi8_epi16(_mm256_castsi256_si128(b)),
            _mm256_cvtepi8_epi16(_mm256_extracti128_si256(b, 1)),
        )
    }
}

/// A block format. See the module documentation for the chunk decomposition.
///
/// # Safety
/// The SIMD chunk decoders (`chunk_bytes_*`) read only inside `self`, and only for
/// `c < CHUNKS`; the kernels rely on it for their unchecked loads.
pub unsafe trait Block: Pod + Send + Sync {
    const DTYPE: DType;
    /// ggml's `enum ggml_type` value, as GGUF tensor infos store it.
    const GGML_ID: u32;
    /// Values per block.
    const BLOCK: usize;
    /// 32-value chunks per block.
    const CHUNKS: usize = Self::BLOCK / QK;
    /// `lo == hi` in every chunk (one scale per chunk).
    const UNIFORM: bool = true;
    /// `off` may be nonzero.
    const OFFSET: bool = false;
    /// `off_lo` may be nonzero.
    const OFFSET_LO: bool = false;
    /// One-chunk formats whose chunk scale is the f16 the block starts with (and, with
    /// `OFFSET`, whose offset is the f16 after it): the kernels then gather 16 blocks'
    /// scales into one register instead of calling `scales`.
    const HEAD_SCALE: bool = false;
    /// With `HEAD_SCALE`: the bytes of that head (the scale, and the offset with
    /// `OFFSET`), which the split layout (`qdot::split`) stores apart from the rest.
    const HEAD_BYTES: usize = 0;

    /// Whether every scale of the block is finite: if so, so is every value (the rest are
    /// small integers). Model loading checks it.
    fn finite(&self) -> bool;

    /// The scales of the first `CHUNKS` chunks, decoded together (the f16 super-scales
    /// are converted once per block, not once per chunk).
    fn scales(&self) -> [ChunkScale; MAX_CHUNKS];

    /// Chunk `c`'s integers `u` (|u| ≤ 127).
    fn chunk_values(&self, c: usize) -> [i8; QK];

    /// `scales()` of a block of 8 chunks as four registers (lo, hi, off, off_lo; lane
    /// `c` is chunk `c`), to the same bits: what the AVX2 matvec kernel loads per group
    /// of 8 chunks. The default goes through `scales()` and the stack; the K-quants
    /// decode their packed scales with a few vector operations instead.
    ///
    /// # Safety
    /// The CPU must support AVX2; `CHUNKS == 8`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scales8_avx2(&self) -> [std::arch::x86_64::__m256; 4] {
        use std::arch::x86_64::_mm256_loadu_ps;
        let s = self.scales();
        let lanes = |f: fn(&ChunkScale) -> f32| -> [f32; 8] { std::array::from_fn(|c| f(&s[c])) };
        let (lo, hi, off, off_lo) = (
            lanes(|c| c.lo),
            lanes(|c| c.hi),
            lanes(|c| c.off),
            lanes(|c| c.off_lo),
        );
        // SAFETY: each array holds 8 floats; AVX by the caller.
        unsafe {
            [
                _mm256_loadu_ps(lo.as_ptr()),
                _mm256_loadu_ps(hi.as_ptr()),
                _mm256_loadu_ps(off.as_ptr()),
                _mm256_loadu_ps(off_lo.as_ptr()),
            ]
        }
    }

    /// `chunk_values` in a register, built with AVX2 byte operations. The default decodes
    /// with `chunk_values` and loads the result.
    ///
    /// # Safety
    /// The CPU must support AVX2; `c < CHUNKS`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes_avx2(&self, c: usize) -> std::arch::x86_64::__m256i {
        let v = self.chunk_values(c);
        // SAFETY: `v` is 32 bytes; the caller guarantees AVX2.
        unsafe { std::arch::x86_64::_mm256_loadu_si256(v.as_ptr().cast()) }
    }

    /// `chunk_values` widened to 16 bits, as two registers (values 0..16, 16..32): what
    /// the AVX2 kernel multiplies with `vpmaddwd`. The default widens `chunk_bytes_avx2`,
    /// or, for formats that split (`HEAD_BYTES > 0`), decodes the block's bytes after its
    /// head with `tail_i16_avx2`: one decoder serves both layouts.
    ///
    /// # Safety
    /// The CPU must support AVX2; `c < CHUNKS`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_i16_avx2(
        &self,
        c: usize,
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        if Self::HEAD_BYTES > 0 {
            // SAFETY: the caller guarantees AVX2; the slice is the block after its head.
            return unsafe { Self::tail_i16_avx2(&bytemuck::bytes_of(self)[Self::HEAD_BYTES..]) };
        }
        // SAFETY: the caller guarantees AVX2 and c < CHUNKS.
        unsafe { widen_i8_avx2(self.chunk_bytes_avx2(c)) }
    }

    /// Chunk 0 of the block whose bytes after its `HEAD_BYTES` are `tail`, widened as
    /// `chunk_i16_avx2` widens it, for layouts that store heads apart (`qdot::split`). The
    /// default rebuilds the block (with a zero head, which chunk values never read) and
    /// widens `chunk_bytes_avx2`; the formats that split read their tail in place.
    ///
    /// # Safety
    /// The CPU must support AVX2; `tail` holds at least `size_of::<Self>() - HEAD_BYTES`
    /// bytes.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        let mut b = Self::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut b);
        let n = bytes.len() - Self::HEAD_BYTES;
        bytes[Self::HEAD_BYTES..].copy_from_slice(&tail[..n]);
        // SAFETY: the caller guarantees AVX2; chunk 0 exists in every format.
        unsafe { widen_i8_avx2(b.chunk_bytes_avx2(0)) }
    }

    /// The block's bytes after its `HEAD_BYTES` as the split layout (`qdot::split`)
    /// stores them, into `tail` (`size_of::<Self>() - HEAD_BYTES` bytes). The default
    /// copies them; Q5_0 and Q5_1 rearrange their fifth bits for `split_tail_i16_avx2`.
    fn split_tail(&self, tail: &mut [u8]) {
        tail.copy_from_slice(&bytemuck::bytes_of(self)[Self::HEAD_BYTES..]);
    }

    /// The inverse of `split_tail`: the block's bytes after its head, from `tail`, into
    /// `out` (both `size_of::<Self>() - HEAD_BYTES` bytes).
    fn join_tail(tail: &[u8], out: &mut [u8]) {
        out.copy_from_slice(tail);
    }

    /// `tail_i16_avx2` of a tail as `split_tail` stores it: what the split layout's AVX2
    /// kernel decodes. The default is `tail_i16_avx2` (the tail is the block's bytes).
    ///
    /// # Safety
    /// As `tail_i16_avx2`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn split_tail_i16_avx2(
        tail: &[u8],
    ) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
        // SAFETY: the same contract.
        unsafe { Self::tail_i16_avx2(tail) }
    }

    /// `chunk_values` as two NEON registers (values 0..16, 16..32). The default decodes
    /// with `chunk_values` and loads the result.
    ///
    /// # Safety
    /// The CPU must support NEON; `c < CHUNKS`.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn chunk_bytes_neon(&self, c: usize) -> std::arch::aarch64::int8x16x2_t {
        let v = self.chunk_values(c);
        // SAFETY: `v` is 32 bytes; the caller guarantees NEON.
        unsafe { std::arch::aarch64::vld1q_s8_x2(v.as_ptr()) }
    }

    /// Writes the block's `BLOCK` values to `out`, from the chunk decoding: `s · u + off`
    /// rounded once per operation (no fused multiply-add, so that the SIMD version in
    /// `dequantize_blocks` gives the same bits).
    #[inline]
    fn dequantize(&self, out: &mut [f32]) {
        let scales = self.scales();
        for (c, (s, o)) in scales
            .iter()
            .zip(out[..Self::BLOCK].chunks_exact_mut(QK))
            .enumerate()
        {
            let u = self.chunk_values(c);
            let off_lo = s.off + s.off_lo;
            for i in 0..16 {
                o[i] = s.lo * u[i] as f32 + off_lo;
            }
            for i in 16..QK {
                o[i] = s.hi * u[i] as f32 + s.off;
            }
        }
    }
}

/// A format ingot can also write (tests and benches build weights with it).
pub trait Quantize: Block {
    /// Quantizes `BLOCK` values (round to nearest, as ggml's reference quantizers).
    fn quantize(x: &[f32]) -> Self;
}

/// Calls `$m! { $args; Variant => BlockType, ... }` with every block format, once. The
/// one list of formats: dispatch on `DType` goes through it (`with_block!`).
#[macro_export]
#[doc(hidden)]
macro_rules! for_each_block {
    ($($m:ident)::+; $($args:tt)*) => {
        $($m)::+! { $($args)*;
            Q8_0 => BlockQ8_0,
            Q4_0 => BlockQ4_0,
            Q4_1 => BlockQ4_1,
            Q5_0 => BlockQ5_0,
            Q5_1 => BlockQ5_1,
            Q2K => BlockQ2K,
            Q3K => BlockQ3K,
            Q4K => BlockQ4K,
            Q5K => BlockQ5K,
            Q6K => BlockQ6K,
            IQ4NL => BlockIQ4NL,
            IQ4XS => BlockIQ4XS,
            IQ3S => BlockIQ3S,
            IQ3XXS => BlockIQ3XXS,
            IQ2XXS => BlockIQ2XXS,
            IQ2XS => BlockIQ2XS,
            IQ2S => BlockIQ2S,
            IQ1S => BlockIQ1S,
            IQ1M => BlockIQ1M,
            TQ1_0 => BlockTQ1_0,
            TQ2_0 => BlockTQ2_0,
            MXFP4 => BlockMXFP4,
            Q1_0 => BlockQ1_0,
            Q2_0 => BlockQ2_0,
        }
    };
}

/// `with_block!(dtype, B => expr, else => other)`: `expr` with the type `B` bound to
/// `dtype`'s block struct (monomorphic code per format), or `other` for the float types.
#[macro_export]
#[doc(hidden)]
macro_rules! with_block {
    ($dtype:expr, $b:ident => $e:expr, else => $other:expr) => {
        $crate::for_each_block!($crate::__with_block_arms; $dtype, $b, $e, $other)
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __with_block_arms {
    ($dtype:expr, $b:ident, $e:expr, $other:expr; $($v:ident => $t:ident,)*) => {
        match $dtype {
            $($crate::kernels::formats::DType::$v => {
                #[allow(unused)]
                type $b = $crate::kernels::formats::$t;
                $e
            })*
            _ => $other,
        }
    };
}

pub use crate::with_block;

impl DType {
    /// The type of a GGML type id (`enum ggml_type`), if ingot reads it.
    pub fn from_ggml_id(id: u32) -> Option<DType> {
        macro_rules! find {
            ($id:expr; $($v:ident => $t:ident,)*) => {
                match $id {
                    0 => DType::F32,
                    1 => DType::F16,
                    30 => DType::BF16,
                    $(x if x == <$t as Block>::GGML_ID => DType::$v,)*
                    _ => return None,
                }
            };
        }
        Some(for_each_block!(find; id))
    }

    pub fn ggml_id(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::BF16 => 30,
            q => with_block!(q, B => B::GGML_ID, else => unreachable!()),
        }
    }

    /// Values per block (1 for plain float types).
    pub fn block_size(self) -> usize {
        with_block!(self, B => B::BLOCK, else => 1)
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            q => with_block!(q, B => std::mem::size_of::<B>(), else => unreachable!()),
        }
    }

    /// Bytes needed for a row of `n` values, or `None` if `n` is not a whole number of
    /// blocks or the size overflows.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_size()) {
            return None;
        }
        (n / self.block_size()).checked_mul(self.type_size())
    }

    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }
}

/// Whether every value of `bytes` (whole blocks of `dtype`) is finite: the floats
/// themselves, or each block's scales.
pub fn all_finite(dtype: DType, bytes: &[u8]) -> bool {
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
        q => with_block!(q, B => bytes
            .chunks_exact(std::mem::size_of::<B>())
            .all(|b| bytemuck::pod_read_unaligned::<B>(b).finite()),
            else => unreachable!()),
    }
}

/// Dequantizes a run of blocks: `out.len()` values from `blocks`. Uses the AVX2 chunk
/// decoders when the CPU has AVX2 (same bits as `Block::dequantize`).
pub fn dequantize_blocks<B: Block>(blocks: &[B], out: &mut [f32]) {
    assert_eq!(blocks.len() * B::BLOCK, out.len(), "dequantize: lengths");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected; the lengths were checked.
        unsafe { x86::dequantize_blocks(blocks, out) };
        return;
    }
    dequantize_blocks_scalar(blocks, out);
}

/// `dequantize_blocks` without SIMD.
pub fn dequantize_blocks_scalar<B: Block>(blocks: &[B], out: &mut [f32]) {
    assert_eq!(blocks.len() * B::BLOCK, out.len(), "dequantize: lengths");
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(B::BLOCK)) {
        b.dequantize(o);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::{Block, QK};

    /// `v`, hidden from LLVM by an empty `asm`: it cannot see which constant or which
    /// zero-extended bytes the register holds, so it keeps the instruction written
    /// after it instead of "simplifying" it into several (`qdot` and `nibbles_i16` say
    /// where that mattered). Costs no instruction.
    #[inline]
    #[target_feature(enable = "avx")]
    pub fn opaque(mut v: __m256i) -> __m256i {
        // SAFETY: the template is empty: it reads and writes only `v`'s register.
        unsafe {
            std::arch::asm!("/* {v} */", v = inout(ymm_reg) v, options(pure, nomem, nostack, preserves_flags))
        };
        v
    }

    /// Each chunk's bytes widened to f32 eight at a time, times the half's scale, plus its
    /// offset (multiply, then add: as the scalar code rounds).
    ///
    /// # Safety
    /// AVX2; `out.len() == blocks.len() * B::BLOCK`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dequantize_blocks<B: Block>(blocks: &[B], out: &mut [f32]) {
        for (j, b) in blocks.iter().enumerate() {
            let scales = b.scales();
            for (c, s) in scales.iter().enumerate().take(B::CHUNKS) {
                // SAFETY: c < CHUNKS; AVX2 is enabled here.
                let v = unsafe { b.chunk_bytes_avx2(c) };
                let halves = [_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)];
                for (h, bytes) in halves.into_iter().enumerate() {
                    let (scale, off) = if h == 0 {
                        (s.lo, s.off + s.off_lo)
                    } else {
                        (s.hi, s.off)
                    };
                    let (sv, ov) = (_mm256_set1_ps(scale), _mm256_set1_ps(off));
                    for q in 0..2 {
                        let eight = if q == 0 {
                            bytes
                        } else {
                            _mm_srli_si128::<8>(bytes)
                        };
                        let f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight));
                        let y = _mm256_add_ps(_mm256_mul_ps(f, sv), ov);
                        let at = j * B::BLOCK + c * QK + h * 16 + q * 8;
                        // SAFETY: at + 8 ≤ out.len() (checked by the caller).
                        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(at), y) };
                    }
                }
            }
        }
    }
}

/// Converts `bytes` (in `dtype`'s layout, `out.len()` values) to f32.
///
/// Panics if `bytes` has the wrong length or alignment for `out.len()` values; tensors
/// check both when they are created.
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
        q => with_block!(q, B => dequantize_blocks::<B>(bytemuck::cast_slice(bytes), out),
            else => unreachable!()),
    }
}

#[cfg(test)]
pub(crate) mod tests;
