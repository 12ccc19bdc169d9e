//! Loops that run one instruction as fast as the core allows, for measuring the machine's
//! ceilings (`crate::roofline`): f32 FMA, the 16-bit integer dot product the quantized
//! kernels use, and a streaming read.
//!
//! Each loop keeps enough independent accumulators to cover the instruction's latency
//! (12 chains: a 4-cycle FMA on two pipes needs 8) and returns a value derived from all of
//! them, so the compiler can drop none.

use super::cpu::Isa;

/// Independent accumulator chains per loop.
const CHAINS: usize = 12;

/// Runs `iters` rounds of `CHAINS` vector FMAs on `isa`'s widest f32 vectors. Returns a
/// value to keep, and the FLOPs done (2 per multiply-add).
pub fn fma(isa: Isa, iters: usize) -> (f32, u64) {
    let lanes: usize = match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `checked()` returns `Avx512` only on CPUs with AVX-512F.
        Isa::Avx512 => return (unsafe { x86::fma_avx512(iters) }, flops(iters, 16)),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA.
        Isa::Avx2 => return (unsafe { x86::fma_avx2(iters) }, flops(iters, 8)),
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` is only selected when the CPU has NEON.
        Isa::Neon => return (unsafe { neon::fma_neon(iters) }, flops(iters, 4)),
        _ => 1,
    };
    let mut acc = [0f32; CHAINS];
    for _ in 0..iters {
        for a in &mut acc {
            *a = *a * 0.999_999 + 1e-3;
        }
        std::hint::black_box(&mut acc);
    }
    (acc.iter().sum(), flops(iters, lanes))
}

/// Runs `iters` rounds of `CHAINS` 16-bit integer dot products (`vpdpwssd` on AVX-512,
/// `vpmaddwd` + `vpaddd` on AVX2, `smlal` on NEON), the instructions of `qdot`. Returns a
/// value to keep, and the integer ops done (2 per multiply-add).
pub fn int16_dot(isa: Isa, iters: usize) -> (i32, u64) {
    let lanes: usize = match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `checked()` returns `Avx512` only on CPUs with AVX-512F/BW and VNNI.
        Isa::Avx512 => return (unsafe { x86::idot_avx512(iters) }, flops(iters, 32)),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2.
        Isa::Avx2 => return (unsafe { x86::idot_avx2(iters) }, flops(iters, 16)),
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as in `fma`.
        Isa::Neon => return (unsafe { neon::idot_neon(iters) }, flops(iters, 8)),
        _ => 1,
    };
    let mut acc = [0i32; CHAINS];
    for _ in 0..iters {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_mul(3).wrapping_add(j as i32);
        }
        std::hint::black_box(&mut acc);
    }
    (
        acc.iter().fold(0, |s, &a| s.wrapping_add(a)),
        flops(iters, lanes),
    )
}

fn flops(iters: usize, lanes: usize) -> u64 {
    (iters as u64) * (CHAINS * lanes * 2) as u64
}

/// `Σ x`: every byte of `x` read once, in order, with the widest loads of `isa`.
pub fn read_sum(isa: Isa, x: &[f32]) -> f32 {
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `fma`; the kernel reads only inside `x`.
        Isa::Avx512 => unsafe { x86::sum_avx512(x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `fma`; the kernel reads only inside `x`.
        Isa::Avx2 => unsafe { x86::sum_avx2(x) },
        _ => {
            let mut s = [0f32; 16];
            let mut chunks = x.chunks_exact(16);
            for c in &mut chunks {
                for (a, &b) in s.iter_mut().zip(c) {
                    *a += b;
                }
            }
            s.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::CHAINS;

    #[target_feature(enable = "avx512f,fma")]
    pub fn fma_avx512(iters: usize) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-3));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        _mm512_reduce_add_ps(
            acc.iter()
                .fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v)),
        )
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn fma_avx2(iters: usize) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-3));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut out = [0f32; 8];
        let s = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v));
        // SAFETY: `out` holds the 8 floats stored.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub fn idot_avx512(iters: usize) -> i32 {
        let b = _mm512_set1_epi16(-2);
        let mut acc = [_mm512_set1_epi32(1); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                // Multiplies the chain's own value, so no product is loop-invariant (with
                // constant operands LLVM hoists the product and the loop measures
                // `vpaddd`), written out so that LLVM cannot split it into `vpmaddwd` +
                // `vpaddd` either: this is the instruction `igemm` runs.

                // SAFETY: the function's target features include AVX-512 VNNI; the
                // instruction touches registers only.
                unsafe {
                    std::arch::asm!(
                        "vpdpwssd {acc}, {acc}, {b}",
                        acc = inout(zmm_reg) *v,
                        b = in(zmm_reg) b,
                        options(pure, nomem, nostack, preserves_flags),
                    )
                };
            }
        }
        _mm512_reduce_add_epi32(
            acc.iter()
                .fold(_mm512_setzero_si512(), |s, &v| _mm512_add_epi32(s, v)),
        )
    }

    #[target_feature(enable = "avx2")]
    pub fn idot_avx2(iters: usize) -> i32 {
        let b = _mm256_set1_epi16(-2);
        let mut acc = [_mm256_set1_epi32(1); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                // Multiplies the chain's own value, so no product is loop-invariant.
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(*v, b));
            }
        }
        let mut out = [0i32; 8];
        let s = acc
            .iter()
            .fold(_mm256_setzero_si256(), |s, &v| _mm256_add_epi32(s, v));
        // SAFETY: `out` holds the 8 ints stored.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), s) };
        out.iter().fold(0, |s, &v| s.wrapping_add(v))
    }

    #[target_feature(enable = "avx512f")]
    pub fn sum_avx512(x: &[f32]) -> f32 {
        let mut acc = [_mm512_setzero_ps(); 8];
        let mut chunks = x.chunks_exact(128);
        for c in &mut chunks {
            for (j, v) in acc.iter_mut().enumerate() {
                // SAFETY: `c` holds 128 floats; this reads 16 of them from 16·j.
                *v = _mm512_add_ps(*v, unsafe { _mm512_loadu_ps(c.as_ptr().add(16 * j)) });
            }
        }
        let s = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v));
        _mm512_reduce_add_ps(s) + chunks.remainder().iter().sum::<f32>()
    }

    #[target_feature(enable = "avx2")]
    pub fn sum_avx2(x: &[f32]) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut chunks = x.chunks_exact(64);
        for c in &mut chunks {
            for (j, v) in acc.iter_mut().enumerate() {
                // SAFETY: `c` holds 64 floats; this reads 8 of them from 8·j.
                *v = _mm256_add_ps(*v, unsafe { _mm256_loadu_ps(c.as_ptr().add(8 * j)) });
            }
        }
        let mut out = [0f32; 8];
        let s = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v));
        // SAFETY: `out` holds the 8 floats stored.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::CHAINS;

    #[target_feature(enable = "neon")]
    pub fn fma_neon(iters: usize) -> f32 {
        let (a, b) = (vdupq_n_f32(0.999_999), vdupq_n_f32(1e-3));
        let mut acc = [vdupq_n_f32(0.0); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = vfmaq_f32(b, *v, a);
            }
        }
        acc.iter().map(|&v| vaddvq_f32(v)).sum()
    }

    #[target_feature(enable = "neon")]
    pub fn idot_neon(iters: usize) -> i32 {
        let (a, b) = (vdupq_n_s16(3), vdupq_n_s16(-2));
        let mut acc = [vdupq_n_s32(0); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = vmlal_s16(*v, vget_low_s16(a), vget_low_s16(b));
                *v = vmlal_high_s16(*v, a, b);
            }
        }
        acc.iter().fold(0, |s, &v| s.wrapping_add(vaddvq_s32(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;

    #[test]
    fn every_path_counts_the_same_work_and_sums_alike() {
        let x: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let want: f32 = x.iter().sum();
        for isa in supported_isas() {
            assert_eq!(read_sum(isa, &x), want, "{isa:?}");
            let (v, n) = fma(isa, 10);
            assert!(v.is_finite() && v > 0.0, "{isa:?}");
            assert!(n >= 10 * CHAINS as u64 * 2, "{isa:?}");
            let (_, n) = int16_dot(isa, 10);
            assert!(n >= 10 * CHAINS as u64 * 2, "{isa:?}");
        }
    }
}
