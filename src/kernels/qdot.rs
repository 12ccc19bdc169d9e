//! Integer dot products of quantized weight rows with 16-bit activations.
//!
//! Activations are quantized once per matmul call into `BlockA16` (32 values as `i16`, an
//! f32 scale, and the scaled sum used by the formats' offset terms, like ggml's
//! `block_q8_1` but with 16-bit values). For one weight block and one activation block the
//! exact integer sum `isum = Σ u_i · a_i` is formed from the weights as small integers `u`;
//! then
//!
//! ```text
//! dot = d_w · d_a · isum + (d_a · Σa) · (m_w − BIAS · d_w)
//! ```
//!
//! with `u = q` for Q4_0 (`BIAS = 8`, since `w = q − 8`) and Q4_1 (`m_w` its minimum), and
//! `u = w` for Q8_0 (`BIAS = 0`).
//!
//! Why 16 bits and not ggml's 8: SmolLM2's residual stream has outlier dimensions, and
//! with 8-bit activations a block's outlier leaves its other 31 values a few levels each;
//! the logits then move by up to 0.5 and greedy decoding leaves Hugging Face's path within
//! a few tokens. 16-bit activations keep logits within ~1e-3 at the same instruction count:
//! `vpdpwssd` (AVX-512 VNNI) multiplies 32 i16 pairs per instruction where `vpdpbusd` on
//! 256 bits multiplies 32 byte pairs; AVX2 uses `vpmaddwd`.
//!
//! Each ISA has one generic kernel over the formats; `R` activation rows share each
//! decoded weight block.

use half::f16;

use super::cpu::Isa;
use super::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0, QuantBlock, QK};

/// 32 activations quantized to `round(x / d)`, `d = max|x| / 32767`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockA16 {
    pub d: f32,
    /// `d · Σ qs`.
    pub ds: f32,
    pub qs: [i16; QK],
}
const _: () = assert!(std::mem::size_of::<BlockA16>() == 8 + 2 * QK);

impl Default for BlockA16 {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// Quantizes `x` (a multiple of 32 values) into `out`.
pub fn quantize_row_a16(x: &[f32], out: &mut [BlockA16]) {
    debug_assert_eq!(x.len(), out.len() * QK);
    for (xb, b) in x.chunks_exact(QK).zip(out.iter_mut()) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 32767.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i16;
            sum += *q as i32;
        }
        b.d = d;
        b.ds = d * sum as f32;
    }
}

/// A weight block format with an integer dot product against `BlockA16`.
pub trait DotBlock: QuantBlock {
    /// 4-bit values packed two per byte (else one signed byte each).
    const NIBBLES: bool;
    /// Subtracted from the unsigned 4-bit values (8 for Q4_0).
    const BIAS: i32;
    /// The packed values: 16 bytes of nibbles, or 32 signed bytes.
    fn qs(&self) -> &[u8];
    fn d(&self) -> f16;
    /// The offset `m` (Q4_1), else zero.
    fn m(&self) -> f16 {
        f16::ZERO
    }
}

impl DotBlock for BlockQ4_0 {
    const NIBBLES: bool = true;
    const BIAS: i32 = 8;
    fn qs(&self) -> &[u8] {
        &self.qs
    }
    fn d(&self) -> f16 {
        self.d
    }
}

impl DotBlock for BlockQ4_1 {
    const NIBBLES: bool = true;
    const BIAS: i32 = 0;
    fn qs(&self) -> &[u8] {
        &self.qs
    }
    fn d(&self) -> f16 {
        self.d
    }
    fn m(&self) -> f16 {
        self.m
    }
}

impl DotBlock for BlockQ8_0 {
    const NIBBLES: bool = false;
    const BIAS: i32 = 0;
    fn qs(&self) -> &[u8] {
        bytemuck::cast_slice(&self.qs)
    }
    fn d(&self) -> f16 {
        self.d
    }
}

/// Most activation rows one kernel call handles.
pub const MAX_ROWS: usize = 4;

/// `out[r] = w · a_r` for `R` activation rows: `a` holds `R` rows of `w.len()` blocks each,
/// `row_stride` blocks apart.
#[inline]
pub fn dot_rows<B: DotBlock, const R: usize>(
    isa: Isa,
    w: &[B],
    a: &[BlockA16],
    row_stride: usize,
    out: &mut [f32; R],
) {
    assert!(R >= 1 && R <= MAX_ROWS);
    assert!(
        a.len() >= (R - 1) * row_stride + w.len(),
        "dot_rows: activation rows out of bounds"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only selected when the CPU reports AVX-512 F/BW/VL,
        // VNNI, AVX2, FMA and F16C; the bounds of `a` were checked above.
        Isa::Avx512 => unsafe { x86::dot_rows_vnni::<B, R>(w, a, row_stride, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only selected when the CPU reports AVX2, FMA and F16C;
        // the bounds of `a` were checked above.
        Isa::Avx2 => unsafe { x86::dot_rows_avx2::<B, R>(w, a, row_stride, out) },
        _ => dot_rows_scalar::<B, R>(w, a, row_stride, out),
    }
}

/// The reference: exact integer sums per block, then the scale and offset terms.
pub fn dot_rows_scalar<B: DotBlock, const R: usize>(
    w: &[B],
    a: &[BlockA16],
    row_stride: usize,
    out: &mut [f32; R],
) {
    let mut u = [0i32; QK];
    *out = [0.0; R];
    for (j, wb) in w.iter().enumerate() {
        let q = wb.qs();
        if B::NIBBLES {
            for i in 0..QK / 2 {
                u[i] = (q[i] & 0x0f) as i32;
                u[i + QK / 2] = (q[i] >> 4) as i32;
            }
        } else {
            for i in 0..QK {
                u[i] = q[i] as i8 as i32;
            }
        }
        let (dw, mw) = (wb.d().to_f32(), wb.m().to_f32());
        for (r, o) in out.iter_mut().enumerate() {
            let ab = &a[r * row_stride + j];
            let isum: i32 = u.iter().zip(&ab.qs).map(|(&x, &y)| x * y as i32).sum();
            *o += isum as f32 * (dw * ab.d) + ab.ds * (mw - B::BIAS as f32 * dw);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{BlockA16, DotBlock};

    #[inline(always)]
    fn f16_to_f32(h: half::f16) -> f32 {
        // SAFETY: only called from functions compiled with F16C enabled.
        unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32))) }
    }

    /// The block's 32 weights as small integers, in activation order, as bytes: unsigned
    /// nibbles (Q4_0/Q4_1) or signed bytes (Q8_0).
    #[inline(always)]
    unsafe fn load_bytes<B: DotBlock>(b: &B) -> __m256i {
        let q = b.qs().as_ptr();
        if B::NIBBLES {
            // SAFETY: nibble formats hold 16 bytes of `qs`.
            let x = unsafe { _mm_loadu_si128(q as *const __m128i) };
            let mask = _mm_set1_epi8(0x0f);
            let lo = _mm_and_si128(x, mask);
            let hi = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
            _mm256_set_m128i(hi, lo)
        } else {
            // SAFETY: byte formats hold 32 bytes of `qs`.
            unsafe { _mm256_loadu_si256(q as *const __m256i) }
        }
    }

    /// AVX-512 VNNI: the 32 weights widened to i16 in one zmm; `vpdpwssd` multiplies them
    /// with the 32 i16 activations and sums pairs into 16 i32 lanes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub unsafe fn dot_rows_vnni<B: DotBlock, const R: usize>(
        w: &[B],
        a: &[BlockA16],
        stride: usize,
        out: &mut [f32; R],
    ) {
        let mut acc = [_mm512_setzero_ps(); R];
        let mut corr = [0.0f32; R];
        for (j, wb) in w.iter().enumerate() {
            // SAFETY: `wb` is a whole block.
            let bytes = unsafe { load_bytes(wb) };
            let w16 = if B::NIBBLES {
                _mm512_cvtepu8_epi16(bytes)
            } else {
                _mm512_cvtepi8_epi16(bytes)
            };
            let (dw, mw) = (f16_to_f32(wb.d()), f16_to_f32(wb.m()));
            let off = mw - B::BIAS as f32 * dw;
            for r in 0..R {
                // SAFETY: the caller checked that row `r` has `w.len()` blocks; `qs` is 64 bytes.
                let ab = unsafe { a.get_unchecked(r * stride + j) };
                let av = unsafe { _mm512_loadu_si512(ab.qs.as_ptr() as *const _) };
                let p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, av);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(dw * ab.d), acc[r]);
                corr[r] += ab.ds * off;
            }
        }
        for r in 0..R {
            out[r] = _mm512_reduce_add_ps(acc[r]) + corr[r];
        }
    }

    /// AVX2: the weights widened to i16 in two ymm, `vpmaddwd` against the activations.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows_avx2<B: DotBlock, const R: usize>(
        w: &[B],
        a: &[BlockA16],
        stride: usize,
        out: &mut [f32; R],
    ) {
        let mut acc = [_mm256_setzero_ps(); R];
        let mut corr = [0.0f32; R];
        for (j, wb) in w.iter().enumerate() {
            // SAFETY: `wb` is a whole block.
            let bytes = unsafe { load_bytes(wb) };
            let (b0, b1) = (
                _mm256_castsi256_si128(bytes),
                _mm256_extracti128_si256(bytes, 1),
            );
            let (w0, w1) = if B::NIBBLES {
                (_mm256_cvtepu8_epi16(b0), _mm256_cvtepu8_epi16(b1))
            } else {
                (_mm256_cvtepi8_epi16(b0), _mm256_cvtepi8_epi16(b1))
            };
            let (dw, mw) = (f16_to_f32(wb.d()), f16_to_f32(wb.m()));
            let off = mw - B::BIAS as f32 * dw;
            for r in 0..R {
                // SAFETY: as in the VNNI kernel; `qs` is 64 bytes.
                let ab = unsafe { a.get_unchecked(r * stride + j) };
                let p = ab.qs.as_ptr() as *const __m256i;
                let (a0, a1) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
                let s = _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * ab.d), acc[r]);
                corr[r] += ab.ds * off;
            }
        }
        for r in 0..R {
            let v = acc[r];
            let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
            out[r] = _mm_cvtss_f32(h) + corr[r];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 4.0
            })
            .collect()
    }

    fn check<B: DotBlock>() {
        for nb in [1usize, 2, 3, 7, 18] {
            let w: Vec<B> = data(nb * QK, 1).chunks_exact(QK).map(B::quantize).collect();
            let mut a = vec![BlockA16::default(); 4 * nb];
            quantize_row_a16(&data(4 * nb * QK, 2), &mut a);
            // Exactness of the integer path: the scalar kernel against f64 on dequantized data.
            let mut wd = vec![0.0; nb * QK];
            crate::kernels::quant::dequantize_blocks(&w, &mut wd);
            let mut want = [0.0f32; 4];
            dot_rows_scalar::<B, 4>(&w, &a, nb, &mut want);
            for (r, &got) in want.iter().enumerate() {
                let exact: f64 = a[r * nb..(r + 1) * nb]
                    .iter()
                    .flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64))
                    .zip(&wd)
                    .map(|(x, &y)| x * y as f64)
                    .sum();
                assert!(
                    (got as f64 - exact).abs() < 1e-3 * (1.0 + exact.abs()),
                    "{:?}: {got} vs {exact}",
                    B::DTYPE
                );
            }
            for isa in supported_isas() {
                let mut got4 = [0.0f32; 4];
                dot_rows::<B, 4>(isa, &w, &a, nb, &mut got4);
                let mut got1 = [0.0f32; 1];
                dot_rows::<B, 1>(isa, &w, &a[nb..], nb, &mut got1);
                for (g, e) in got4.iter().zip(&want).chain([(&got1[0], &want[1])]) {
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{:?} {isa:?} nb={nb}: {g} vs {e}",
                        B::DTYPE
                    );
                }
            }
        }
    }

    #[test]
    fn every_isa_matches_the_scalar_reference() {
        check::<BlockQ4_0>();
        check::<BlockQ4_1>();
        check::<BlockQ8_0>();
    }

    #[test]
    fn a16_quantization() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let mut b = [BlockA16::default()];
        quantize_row_a16(&x, &mut b);
        assert_eq!(b[0].d, 16.0 / 32767.0);
        assert_eq!(b[0].qs[0], -32767);
        assert_eq!(b[0].qs[16], 0);
        let sum: i32 = b[0].qs.iter().map(|&q| q as i32).sum();
        assert_eq!(b[0].ds, b[0].d * sum as f32);
        let mut z = [BlockA16::default()];
        quantize_row_a16(&[0.0; 32], &mut z);
        assert_eq!((z[0].d, z[0].ds, z[0].qs), (0.0, 0.0, [0; 32]));
    }
}
