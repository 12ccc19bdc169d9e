//! f32 vector primitives (dot product, `y += a·x`) with one implementation per ISA.
//!
//! The scalar versions are the reference; they use 16 partial sums so the compiler can
//! keep them in vector registers, and the SIMD versions are tested against them.

use super::cpu::Isa;

/// `Σ a_i · b_i`.
#[inline]
pub fn dot(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F (see cpu.rs); equal lengths checked above.
        Isa::Avx512 => unsafe { x86::dot_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; equal lengths checked above.
        Isa::Avx2 => unsafe { x86::dot_avx2(a, b) },
        _ => super::ops::dot(a, b),
    }
}

/// `y += alpha · x`.
#[inline]
pub fn axpy(isa: Isa, y: &mut [f32], alpha: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len(), "axpy: lengths differ");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `dot`.
        Isa::Avx512 => unsafe { x86::axpy_avx512(y, alpha, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `dot`.
        Isa::Avx2 => unsafe { x86::axpy_avx2(y, alpha, x) },
        _ => {
            for (a, &b) in y.iter_mut().zip(x) {
                *a += alpha * b;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Callers guarantee `a.len() == b.len()`.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        // SAFETY (all loads): `i + 32 <= n` (or `i + 16`, or the masked tail) keeps every
        // lane inside both slices, which have length `n`.
        while i + 32 <= n {
            s0 = _mm512_fmadd_ps(
                unsafe { _mm512_loadu_ps(pa.add(i)) },
                unsafe { _mm512_loadu_ps(pb.add(i)) },
                s0,
            );
            s1 = _mm512_fmadd_ps(
                unsafe { _mm512_loadu_ps(pa.add(i + 16)) },
                unsafe { _mm512_loadu_ps(pb.add(i + 16)) },
                s1,
            );
            i += 32;
        }
        if i + 16 <= n {
            s0 = _mm512_fmadd_ps(
                unsafe { _mm512_loadu_ps(pa.add(i)) },
                unsafe { _mm512_loadu_ps(pb.add(i)) },
                s0,
            );
            i += 16;
        }
        if i < n {
            let m: __mmask16 = (1u16 << (n - i)) - 1;
            s1 = _mm512_fmadd_ps(
                unsafe { _mm512_maskz_loadu_ps(m, pa.add(i)) },
                unsafe { _mm512_maskz_loadu_ps(m, pb.add(i)) },
                s1,
            );
        }
        _mm512_reduce_add_ps(_mm512_add_ps(s0, s1))
    }

    /// Callers guarantee `y.len() == x.len()`.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn axpy_avx512(y: &mut [f32], alpha: f32, x: &[f32]) {
        let n = y.len();
        let (py, px) = (y.as_mut_ptr(), x.as_ptr());
        let a = _mm512_set1_ps(alpha);
        let mut i = 0;
        // SAFETY (all accesses): as in `dot_avx512`.
        while i + 16 <= n {
            let v = _mm512_fmadd_ps(a, unsafe { _mm512_loadu_ps(px.add(i)) }, unsafe {
                _mm512_loadu_ps(py.add(i))
            });
            unsafe { _mm512_storeu_ps(py.add(i), v) };
            i += 16;
        }
        if i < n {
            let m: __mmask16 = (1u16 << (n - i)) - 1;
            let v = _mm512_fmadd_ps(a, unsafe { _mm512_maskz_loadu_ps(m, px.add(i)) }, unsafe {
                _mm512_maskz_loadu_ps(m, py.add(i))
            });
            unsafe { _mm512_mask_storeu_ps(py.add(i), m, v) };
        }
    }

    /// Callers guarantee `a.len() == b.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        // SAFETY (all loads): `i + 16 <= n` / `i + 8 <= n` keep every lane in bounds.
        while i + 16 <= n {
            s0 = _mm256_fmadd_ps(
                unsafe { _mm256_loadu_ps(pa.add(i)) },
                unsafe { _mm256_loadu_ps(pb.add(i)) },
                s0,
            );
            s1 = _mm256_fmadd_ps(
                unsafe { _mm256_loadu_ps(pa.add(i + 8)) },
                unsafe { _mm256_loadu_ps(pb.add(i + 8)) },
                s1,
            );
            i += 16;
        }
        if i + 8 <= n {
            s0 = _mm256_fmadd_ps(
                unsafe { _mm256_loadu_ps(pa.add(i)) },
                unsafe { _mm256_loadu_ps(pb.add(i)) },
                s0,
            );
            i += 8;
        }
        let s = _mm256_add_ps(s0, s1);
        let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut sum = _mm_cvtss_f32(h);
        while i < n {
            // SAFETY: i < n.
            sum += unsafe { *pa.add(i) * *pb.add(i) };
            i += 1;
        }
        sum
    }

    /// Callers guarantee `y.len() == x.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy_avx2(y: &mut [f32], alpha: f32, x: &[f32]) {
        let n = y.len();
        let (py, px) = (y.as_mut_ptr(), x.as_ptr());
        let a = _mm256_set1_ps(alpha);
        let mut i = 0;
        // SAFETY (all accesses): `i + 8 <= n`, then `i < n`.
        while i + 8 <= n {
            let v = _mm256_fmadd_ps(a, unsafe { _mm256_loadu_ps(px.add(i)) }, unsafe {
                _mm256_loadu_ps(py.add(i))
            });
            unsafe { _mm256_storeu_ps(py.add(i), v) };
            i += 8;
        }
        while i < n {
            unsafe { *py.add(i) += alpha * *px.add(i) };
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;

    #[test]
    fn every_isa_matches_scalar_on_awkward_lengths() {
        for n in (0..=19).chain([31, 32, 33, 47, 64, 97, 128]) {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = dot(Isa::Scalar, &a, &b);
            let mut y0 = b.clone();
            axpy(Isa::Scalar, &mut y0, 0.75, &a);
            for isa in supported_isas() {
                let got = dot(isa, &a, &b);
                assert!((got - want).abs() < 1e-5, "{isa:?} n={n}: {got} vs {want}");
                let mut y = b.clone();
                axpy(isa, &mut y, 0.75, &a);
                for (p, q) in y.iter().zip(&y0) {
                    assert!((p - q).abs() < 1e-6, "{isa:?} axpy n={n}");
                }
            }
        }
    }
}
