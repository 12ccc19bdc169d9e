//! Dot products of f32 activations with 16-bit float weights (F16, BF16), the weights
//! widened to f32 in registers: `vcvtph2ps` (F16C, AVX-512F) for F16, a 16-bit shift for
//! BF16 (its bits are the top half of an f32's). The products are then exact f32 FMAs, as
//! in f32 mode, so 16-bit weights run natively at half the memory of widening them at
//! load. (AVX-512 BF16's `vdpbf16ps` would round the activations to bf16 as well.)
//! `widen` converts whole slices the same way (an f16 KV cache's tiles).

use half::{bf16, f16};

use super::cpu::Isa;

/// A 16-bit float weight type.
pub trait HalfFloat: bytemuck::Pod + Send + Sync {
    /// Whether this is F16 (else BF16).
    const IS_F16: bool;
    fn widen(self) -> f32;
}

impl HalfFloat for f16 {
    const IS_F16: bool = true;
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

impl HalfFloat for bf16 {
    const IS_F16: bool = false;
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// `Σ x_i · w_i`.
#[inline]
pub fn dot<H: HalfFloat>(isa: Isa, x: &[f32], w: &[H]) -> f32 {
    assert_eq!(x.len(), w.len(), "dot: lengths differ");
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F and FMA; lengths checked above.
        Isa::Avx512 => unsafe { x86::dot_avx512(x, w) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2, FMA and F16C; lengths checked above.
        Isa::Avx2 => unsafe { x86::dot_avx2(x, w) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` implies NEON; lengths checked above.
        Isa::Neon => unsafe { neon::dot_neon(x, w) },
        _ => dot_scalar(x, w),
    }
}

/// `dst[i] = src[i]` widened to f32 (exact): an f16 KV cache's tile, converted once for
/// the f32 attention kernels. Panics if the lengths differ.
#[inline]
pub fn widen<H: HalfFloat>(isa: Isa, src: &[H], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "widen: lengths differ");
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F; lengths checked above.
        Isa::Avx512 => unsafe { x86::widen_avx512(src, dst) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and F16C; lengths checked above.
        Isa::Avx2 => unsafe { x86::widen_avx2(src, dst) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` implies NEON; lengths checked above.
        Isa::Neon => unsafe { neon::widen_neon(src, dst) },
        _ => src.iter().zip(dst).for_each(|(s, d)| *d = s.widen()),
    }
}

/// The reference: 16 partial sums, as `ops::dot`.
pub fn dot_scalar<H: HalfFloat>(x: &[f32], w: &[H]) -> f32 {
    let mut acc = [0.0f32; 16];
    let n = x.len() / 16 * 16;
    for (xs, ws) in x[..n].chunks_exact(16).zip(w[..n].chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += xs[i] * ws[i].widen();
        }
    }
    let tail: f32 = x[n..].iter().zip(&w[n..]).map(|(a, b)| a * b.widen()).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::HalfFloat;

    /// 16 weights at `p` widened to f32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn widen16<H: HalfFloat>(p: *const H) -> __m512 {
        // SAFETY: the caller guarantees 16 elements at `p`.
        let h = unsafe { _mm256_loadu_si256(p.cast()) };
        if H::IS_F16 {
            _mm512_cvtph_ps(h)
        } else {
            _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
        }
    }

    /// 8 weights at `p` widened to f32.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn widen8<H: HalfFloat>(p: *const H) -> __m256 {
        // SAFETY: the caller guarantees 8 elements at `p`.
        let h = unsafe { _mm_loadu_si128(p.cast()) };
        if H::IS_F16 {
            _mm256_cvtph_ps(h)
        } else {
            _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
        }
    }

    /// Two accumulators of 16 lanes; a masked tail.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn dot_avx512<H: HalfFloat>(x: &[f32], w: &[H]) -> f32 {
        let n = x.len();
        let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 ≤ n for both slices (equal lengths, checked by the caller).
            unsafe {
                a0 = _mm512_fmadd_ps(
                    _mm512_loadu_ps(x.as_ptr().add(i)),
                    widen16(w.as_ptr().add(i)),
                    a0,
                );
                a1 = _mm512_fmadd_ps(
                    _mm512_loadu_ps(x.as_ptr().add(i + 16)),
                    widen16(w.as_ptr().add(i + 16)),
                    a1,
                );
            }
            i += 32;
        }
        while i + 16 <= n {
            // SAFETY: i + 16 ≤ n.
            unsafe {
                a0 = _mm512_fmadd_ps(
                    _mm512_loadu_ps(x.as_ptr().add(i)),
                    widen16(w.as_ptr().add(i)),
                    a0,
                )
            };
            i += 16;
        }
        let mut s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for j in i..n {
            s += x[j] * w[j].widen();
        }
        s
    }

    /// 32 values per step (two conversions in flight), the rest one by one.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn widen_avx512<H: HalfFloat>(src: &[H], dst: &mut [f32]) {
        let n = src.len();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 ≤ n for both slices (equal lengths, checked by the caller).
            unsafe {
                let (a, b) = (
                    widen16(src.as_ptr().add(i)),
                    widen16(src.as_ptr().add(i + 16)),
                );
                _mm512_storeu_ps(dst.as_mut_ptr().add(i), a);
                _mm512_storeu_ps(dst.as_mut_ptr().add(i + 16), b);
            }
            i += 32;
        }
        for j in i..n {
            dst[j] = src[j].widen();
        }
    }

    /// 16 values per step, the rest one by one.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn widen_avx2<H: HalfFloat>(src: &[H], dst: &mut [f32]) {
        let n = src.len();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 ≤ n for both slices.
            unsafe {
                let (a, b) = (widen8(src.as_ptr().add(i)), widen8(src.as_ptr().add(i + 8)));
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), a);
                _mm256_storeu_ps(dst.as_mut_ptr().add(i + 8), b);
            }
            i += 16;
        }
        for j in i..n {
            dst[j] = src[j].widen();
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_avx2<H: HalfFloat>(x: &[f32], w: &[H]) -> f32 {
        let n = x.len();
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 ≤ n for both slices.
            unsafe {
                a0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(x.as_ptr().add(i)),
                    widen8(w.as_ptr().add(i)),
                    a0,
                );
                a1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(x.as_ptr().add(i + 8)),
                    widen8(w.as_ptr().add(i + 8)),
                    a1,
                );
            }
            i += 16;
        }
        let v = _mm256_add_ps(a0, a1);
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let mut s = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
        for j in i..n {
            s += x[j] * w[j].widen();
        }
        s
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::HalfFloat;

    /// 4 weights at `p` widened to f32.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn widen4<H: HalfFloat>(p: *const H) -> float32x4_t {
        // SAFETY: the caller guarantees 4 elements at `p`.
        let h = unsafe { vld1_u16(p.cast()) };
        if H::IS_F16 {
            // The exponent and mantissa shifted into an f32's places, times 2^112 to move
            // the bias from 15 to 127 (exact for normal and subnormal values; weights are
            // finite, checked at load), then the sign. The half-precision NEON conversion
            // intrinsics are not stable in Rust.
            let mag = vshll_n_u16::<13>(vand_u16(h, vdup_n_u16(0x7fff)));
            let v = vmulq_f32(
                vreinterpretq_f32_u32(mag),
                vdupq_n_f32(f32::from_bits(0x7780_0000)),
            );
            let sign = vshll_n_u16::<16>(vand_u16(h, vdup_n_u16(0x8000)));
            vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(v), sign))
        } else {
            vreinterpretq_f32_u32(vshll_n_u16::<16>(h))
        }
    }

    /// 8 values per step, the rest one by one (finite values: see `widen4`).
    #[target_feature(enable = "neon")]
    pub unsafe fn widen_neon<H: HalfFloat>(src: &[H], dst: &mut [f32]) {
        let n = src.len();
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n for both slices.
            unsafe {
                let (a, b) = (widen4(src.as_ptr().add(i)), widen4(src.as_ptr().add(i + 4)));
                vst1q_f32(dst.as_mut_ptr().add(i), a);
                vst1q_f32(dst.as_mut_ptr().add(i + 4), b);
            }
            i += 8;
        }
        for j in i..n {
            dst[j] = src[j].widen();
        }
    }

    #[target_feature(enable = "neon")]
    pub unsafe fn dot_neon<H: HalfFloat>(x: &[f32], w: &[H]) -> f32 {
        let n = x.len();
        let (mut a0, mut a1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n for both slices.
            unsafe {
                a0 = vfmaq_f32(a0, vld1q_f32(x.as_ptr().add(i)), widen4(w.as_ptr().add(i)));
                a1 = vfmaq_f32(
                    a1,
                    vld1q_f32(x.as_ptr().add(i + 4)),
                    widen4(w.as_ptr().add(i + 4)),
                );
            }
            i += 8;
        }
        let mut s = vaddvq_f32(vaddq_f32(a0, a1));
        for j in i..n {
            s += x[j] * w[j].widen();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;

    fn check<H: HalfFloat>(from: impl Fn(f32) -> H) {
        for n in [0usize, 1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 576] {
            let x: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
            let w: Vec<H> = (0..n).map(|i| from(((i as f32) * 0.11).cos())).collect();
            let want: f64 = x
                .iter()
                .zip(&w)
                .map(|(a, b)| *a as f64 * b.widen() as f64)
                .sum();
            for isa in supported_isas() {
                let got = dot(isa, &x, &w);
                assert!(
                    (got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{isa:?} n={n}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn every_isa_matches_f64() {
        check(f16::from_f32);
        check(bf16::from_f32);
    }

    #[test]
    fn every_isa_widens_exactly() {
        fn check<H: HalfFloat>(from: impl Fn(f32) -> H) {
            for n in [0usize, 1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 576] {
                // Normal and subnormal values of both signs, and zeros.
                let src: Vec<H> = (0..n)
                    .map(|i| from(((i as f32) * 0.7).sin() * 10f32.powi(i as i32 % 13 - 8)))
                    .collect();
                let want: Vec<u32> = src.iter().map(|h| h.widen().to_bits()).collect();
                for isa in supported_isas() {
                    let mut got = vec![f32::NAN; n];
                    widen(isa, &src, &mut got);
                    assert_eq!(
                        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        want,
                        "{isa:?} n={n}"
                    );
                }
            }
        }
        check(f16::from_f32);
        check(bf16::from_f32);
    }
}
