//! The x86 kernels of `tiles`: AVX-512 and AVX2.

// The tiles' loops index several per-row arrays (accumulators, query rows) by row.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::tiles::{KT, RB};

/// `tiles::scores` with AVX-512: the whole `RB × KT` tile in 16 registers.
///
/// # Safety
/// AVX-512F; every `q[r]` has `hd` values and `kt` holds `hd × KT`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn scores_avx512(q: [&[f32]; RB], kt: &[f32], out: &mut [f32; RB * KT]) {
    let hd = q[0].len();
    let mut acc = [[_mm512_setzero_ps(); KT / 16]; RB];
    // SAFETY: d < hd, so every read is inside a query row or inside `kt`; the stores
    // are inside `out` (RB × KT).
    unsafe {
        for d in 0..hd {
            let k = kt.as_ptr().add(d * KT);
            let kv: [__m512; KT / 16] = [
                _mm512_loadu_ps(k),
                _mm512_loadu_ps(k.add(16)),
                _mm512_loadu_ps(k.add(32)),
                _mm512_loadu_ps(k.add(48)),
            ];
            for r in 0..RB {
                let b = _mm512_set1_ps(*q[r].get_unchecked(d));
                for j in 0..KT / 16 {
                    acc[r][j] = _mm512_fmadd_ps(b, kv[j], acc[r][j]);
                }
            }
        }
        for r in 0..RB {
            for j in 0..KT / 16 {
                _mm512_storeu_ps(out.as_mut_ptr().add(r * KT + 16 * j), acc[r][j]);
            }
        }
    }
}

/// `tiles::values` with AVX-512: `RB` rows × `16·NV` dimensions of `acc` in registers
/// while the value rows stream by.
///
/// # Safety
/// AVX-512F; `acc` is `RB × hd` with `d0 + 16·NV ≤ hd`; `v` holds `n` rows of `hd`.
#[inline(always)]
unsafe fn values_block_avx512<const NV: usize>(
    p: &[f32; RB * KT],
    v: &[f32],
    n: usize,
    acc: &mut [f32],
    d0: usize,
) {
    let hd = acc.len() / RB;
    // SAFETY: the caller's contract keeps every access inside `acc`, `v` and `p`.
    unsafe {
        let mut a = [[_mm512_setzero_ps(); NV]; RB];
        for r in 0..RB {
            for j in 0..NV {
                a[r][j] = _mm512_loadu_ps(acc.as_ptr().add(r * hd + d0 + 16 * j));
            }
        }
        for t in 0..n {
            let mut x = [_mm512_setzero_ps(); NV];
            for j in 0..NV {
                x[j] = _mm512_loadu_ps(v.as_ptr().add(t * hd + d0 + 16 * j));
            }
            for r in 0..RB {
                let w = _mm512_set1_ps(*p.get_unchecked(r * KT + t));
                for j in 0..NV {
                    a[r][j] = _mm512_fmadd_ps(w, x[j], a[r][j]);
                }
            }
        }
        for r in 0..RB {
            for j in 0..NV {
                _mm512_storeu_ps(acc.as_mut_ptr().add(r * hd + d0 + 16 * j), a[r][j]);
            }
        }
    }
}

/// `tiles::values` with AVX-512: blocks of 64 dimensions, then 16 at a time.
///
/// # Safety
/// AVX-512F; `acc` is `RB × hd` with `hd` a multiple of 16; `v` holds `n ≤ KT` rows of
/// `hd`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn values_avx512(p: &[f32; RB * KT], v: &[f32], n: usize, acc: &mut [f32]) {
    let hd = acc.len() / RB;
    let mut d0 = 0;
    // SAFETY: every block lies inside `hd` (the caller's contract).
    unsafe {
        while d0 + 64 <= hd {
            values_block_avx512::<4>(p, v, n, acc, d0);
            d0 += 64;
        }
        while d0 + 16 <= hd {
            values_block_avx512::<1>(p, v, n, acc, d0);
            d0 += 16;
        }
    }
}

/// `tiles::scores` with AVX2: 16 keys at a time, an `RB × 16` tile in 8 registers.
///
/// # Safety
/// AVX2 and FMA; every `q[r]` has `hd` values and `kt` holds `hd × KT`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn scores_avx2(q: [&[f32]; RB], kt: &[f32], out: &mut [f32; RB * KT]) {
    let hd = q[0].len();
    // SAFETY: d < hd and t0 + 16 ≤ KT, so every read is inside a query row or `kt`; the
    // stores are inside `out`.
    unsafe {
        for t0 in (0..KT).step_by(16) {
            let mut acc = [[_mm256_setzero_ps(); 2]; RB];
            for d in 0..hd {
                let k = kt.as_ptr().add(d * KT + t0);
                let (k0, k1) = (_mm256_loadu_ps(k), _mm256_loadu_ps(k.add(8)));
                for r in 0..RB {
                    let b = _mm256_set1_ps(*q[r].get_unchecked(d));
                    acc[r][0] = _mm256_fmadd_ps(b, k0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(b, k1, acc[r][1]);
                }
            }
            for r in 0..RB {
                let o = out.as_mut_ptr().add(r * KT + t0);
                _mm256_storeu_ps(o, acc[r][0]);
                _mm256_storeu_ps(o.add(8), acc[r][1]);
            }
        }
    }
}

/// `tiles::values` with AVX2: 16 dimensions of `RB` rows (8 registers) at a time.
///
/// # Safety
/// AVX2 and FMA; `acc` is `RB × hd` with `hd` a multiple of 16; `v` holds `n ≤ KT` rows
/// of `hd`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn values_avx2(p: &[f32; RB * KT], v: &[f32], n: usize, acc: &mut [f32]) {
    let hd = acc.len() / RB;
    // SAFETY: d0 + 16 ≤ hd and t < n, so every access is inside `acc`, `v` and `p`.
    unsafe {
        for d0 in (0..hd).step_by(16) {
            let mut a = [[_mm256_setzero_ps(); 2]; RB];
            for r in 0..RB {
                let o = acc.as_ptr().add(r * hd + d0);
                a[r] = [_mm256_loadu_ps(o), _mm256_loadu_ps(o.add(8))];
            }
            for t in 0..n {
                let x = v.as_ptr().add(t * hd + d0);
                let (x0, x1) = (_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8)));
                for r in 0..RB {
                    let w = _mm256_set1_ps(*p.get_unchecked(r * KT + t));
                    a[r][0] = _mm256_fmadd_ps(w, x0, a[r][0]);
                    a[r][1] = _mm256_fmadd_ps(w, x1, a[r][1]);
                }
            }
            for r in 0..RB {
                let o = acc.as_mut_ptr().add(r * hd + d0);
                _mm256_storeu_ps(o, a[r][0]);
                _mm256_storeu_ps(o.add(8), a[r][1]);
            }
        }
    }
}
