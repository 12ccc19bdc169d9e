//! Integer dot products of quantized weight rows with 8-bit activations.
//!
//! Activations are quantized once per matmul call into `BlockQ8A` (32 signed bytes, an f32
//! scale, and the scaled sum used by the formats' offset terms, as ggml's `block_q8_1`).
//! For one weight block and one activation block the exact integer sum
//! `isum = Σ u_i · a_i` is formed from the weights as unsigned bytes `u`; then
//!
//! ```text
//! dot = d_w · d_a · isum + (d_a · Σa) · (m_w − BIAS · d_w)
//! ```
//!
//! with `u = q` for Q4_0 (`BIAS = 8`, since `w = q − 8`) and Q4_1 (`m_w` its minimum),
//! and for Q8_0 `u = |w|` against `a · sign(w)` (`BIAS = 0`, exact in signed bytes).
//!
//! Each ISA has one generic kernel over the formats. The multiply is `vpdpbusd` (AVX-512
//! VNNI, 4 byte products summed into an i32 lane) or `vpmaddubsw` + `vpmaddwd` (AVX2,
//! no overflow since `|u·a|` ≤ 128·127 per pair). `R` activation rows share each decoded
//! weight block.

use half::f16;

use super::cpu::Isa;
use super::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0, QuantBlock, QK};

/// 32 activations quantized to `round(x / d)`, `d = max|x| / 127`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8A {
    pub d: f32,
    /// `d · Σ qs`.
    pub ds: f32,
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8A>() == 8 + QK);

/// Quantizes `x` (a multiple of 32 values) into `out`.
pub fn quantize_row_q8a(x: &[f32], out: &mut [BlockQ8A]) {
    debug_assert_eq!(x.len(), out.len() * QK);
    for (xb, b) in x.chunks_exact(QK).zip(out.iter_mut()) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        b.d = d;
        b.ds = d * sum as f32;
    }
}

/// A weight block format with an integer dot product against `BlockQ8A`.
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
    a: &[BlockQ8A],
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
    a: &[BlockQ8A],
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

    use super::{BlockQ8A, DotBlock};

    #[inline(always)]
    fn f16_to_f32(h: half::f16) -> f32 {
        // SAFETY: only called from functions compiled with F16C enabled.
        unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32))) }
    }

    /// The block's weights as 32 unsigned bytes in activation order.
    #[inline(always)]
    unsafe fn load_u8<B: DotBlock>(b: &B) -> __m256i {
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

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    macro_rules! dot_rows_impl {
        ($name:ident, $features:literal, $mul:ident) => {
            #[target_feature(enable = $features)]
            pub unsafe fn $name<B: DotBlock, const R: usize>(
                w: &[B],
                a: &[BlockQ8A],
                stride: usize,
                out: &mut [f32; R],
            ) {
                let mut acc = [_mm256_setzero_ps(); R];
                let mut corr = [0.0f32; R];
                for (j, wb) in w.iter().enumerate() {
                    // SAFETY: `wb` is a whole block (see load_u8).
                    let u0 = unsafe { load_u8(wb) };
                    // Q8_0: |w| against a·sign(w), so the unsigned×signed multiply is exact.
                    let u = if B::NIBBLES {
                        u0
                    } else {
                        _mm256_sign_epi8(u0, u0)
                    };
                    let (dw, mw) = (f16_to_f32(wb.d()), f16_to_f32(wb.m()));
                    let off = mw - B::BIAS as f32 * dw;
                    for r in 0..R {
                        // SAFETY: the caller checked that row `r` has `w.len()` blocks.
                        let ab = unsafe { a.get_unchecked(r * stride + j) };
                        // SAFETY: `qs` is 32 bytes.
                        let av = unsafe { _mm256_loadu_si256(ab.qs.as_ptr() as *const __m256i) };
                        let av = if B::NIBBLES {
                            av
                        } else {
                            _mm256_sign_epi8(av, u0)
                        };
                        let p = $mul(u, av);
                        acc[r] = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(p),
                            _mm256_set1_ps(dw * ab.d),
                            acc[r],
                        );
                        corr[r] += ab.ds * off;
                    }
                }
                for r in 0..R {
                    // SAFETY: same target features as this function.
                    out[r] = unsafe { hsum(acc[r]) } + corr[r];
                }
            }
        };
    }

    /// Σ of 4 adjacent u8·i8 products per i32 lane (AVX-512 VNNI on 256-bit vectors).
    #[inline(always)]
    unsafe fn mul_vnni(u: __m256i, a: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, a)
    }

    /// The same with AVX2: pairs to i16 (no saturation for these ranges), then to i32.
    #[inline(always)]
    unsafe fn mul_avx2(u: __m256i, a: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1))
    }

    dot_rows_impl!(
        dot_rows_vnni,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        mul_vnni
    );
    dot_rows_impl!(dot_rows_avx2, "avx2,fma,f16c", mul_avx2);
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
            let mut a = vec![BlockQ8A::default(); 4 * nb];
            quantize_row_q8a(&data(4 * nb * QK, 2), &mut a);
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
    fn q8a_quantization() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let mut b = [BlockQ8A::default()];
        quantize_row_q8a(&x, &mut b);
        assert_eq!(b[0].d, 16.0 / 127.0);
        assert_eq!(b[0].qs[0], -127);
        assert_eq!(b[0].qs[16], 0);
        let sum: i32 = b[0].qs.iter().map(|&q| q as i32).sum();
        assert_eq!(b[0].ds, b[0].d * sum as f32);
        let mut z = [BlockQ8A::default()];
        quantize_row_q8a(&[0.0; 32], &mut z);
        assert_eq!((z[0].d, z[0].ds, z[0].qs), (0.0, 0.0, [0; 32]));
    }
}
