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

/// Sums of eight AVX2 accumulators `a[r][j]` (row `r`, key `j` of a pair), as
/// `[r0j0, r0j1, r1j0, r1j1]` and `[r2j0, r2j1, r3j0, r3j1]`.
///
/// # Safety
/// AVX2.
#[inline(always)]
unsafe fn hsum_pairs(a: &[[__m256; 2]; RB]) -> [__m128; 2] {
    std::array::from_fn(|h| {
        let (x, y) = (&a[2 * h], &a[2 * h + 1]);
        // [x0 x1 … per 128-bit half], each step halving the lanes of four sums.
        let s = _mm256_hadd_ps(_mm256_hadd_ps(x[0], x[1]), _mm256_hadd_ps(y[0], y[1]));
        _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s))
    })
}

/// Writes two keys' sums (`hsum_pairs`) to columns `t`, `t + 1` of `out (RB, KT)`, or
/// the first key's only when `!both`.
///
/// # Safety
/// SSE; `t + 1 < KT`, or `t < KT` when `!both`.
#[inline(always)]
unsafe fn store_pairs(s: [__m128; 2], out: &mut [f32; RB * KT], t: usize, both: bool) {
    // SAFETY: rows r < RB, columns t (and t + 1 when `both`) < KT.
    unsafe {
        let o = out.as_mut_ptr();
        if both {
            _mm_storel_pd(o.add(t).cast(), _mm_castps_pd(s[0]));
            _mm_storeh_pd(o.add(KT + t).cast(), _mm_castps_pd(s[0]));
            _mm_storel_pd(o.add(2 * KT + t).cast(), _mm_castps_pd(s[1]));
            _mm_storeh_pd(o.add(3 * KT + t).cast(), _mm_castps_pd(s[1]));
        } else {
            *o.add(t) = _mm_cvtss_f32(s[0]);
            *o.add(KT + t) = _mm_cvtss_f32(_mm_movehl_ps(s[0], s[0]));
            *o.add(2 * KT + t) = _mm_cvtss_f32(s[1]);
            *o.add(3 * KT + t) = _mm_cvtss_f32(_mm_movehl_ps(s[1], s[1]));
        }
    }
}

/// The key loop of `tiles::scores_rows`: two keys at a time, `dots(k0, k1)` giving their
/// `RB × 2` dot products as 256-bit partial sums, finished horizontally and stored. A
/// last odd key pairs with itself; its second sum is dropped.
///
/// # Safety
/// AVX2; `keys` holds `n ≤ KT` rows of `hd`, and `dots` reads `hd` values from each
/// pointer it gets.
#[inline(always)]
unsafe fn score_pairs(
    keys: &[f32],
    hd: usize,
    n: usize,
    out: &mut [f32; RB * KT],
    mut dots: impl FnMut(*const f32, *const f32) -> [[__m256; 2]; RB],
) {
    out.fill(0.0);
    let mut t = 0;
    while t < n {
        let t1 = if t + 1 < n { t + 1 } else { t };
        // SAFETY: t ≤ t1 < n, so both rows lie inside `keys`; `store_pairs` writes columns
        // t (and t1 when it is a second key) < n ≤ KT; AVX2 by the caller.
        unsafe {
            let a = dots(keys.as_ptr().add(t * hd), keys.as_ptr().add(t1 * hd));
            store_pairs(hsum_pairs(&a), out, t, t1 > t);
        }
        t += 2;
    }
}

/// `tiles::scores_rows` with AVX2: `RB × 2` dot products in 8 registers, each key and
/// query value loaded once per pair of keys.
///
/// # Safety
/// AVX2 and FMA; every `q[r]` has `hd` values (a multiple of 16), `keys` holds `n ≤ KT`
/// rows of `hd`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn scores_rows_avx2(
    q: [&[f32]; RB],
    keys: &[f32],
    n: usize,
    out: &mut [f32; RB * KT],
) {
    let hd = q[0].len();
    // SAFETY: d + 8 ≤ hd, so every read is inside a query row or one of the two key rows
    // (`score_pairs`' contract); AVX2 is enabled here.
    unsafe {
        score_pairs(keys, hd, n, out, |k0, k1| {
            let mut a = [[_mm256_setzero_ps(); 2]; RB];
            for d in (0..hd).step_by(8) {
                let (x0, x1) = (_mm256_loadu_ps(k0.add(d)), _mm256_loadu_ps(k1.add(d)));
                for r in 0..RB {
                    let qv = _mm256_loadu_ps(q[r].as_ptr().add(d));
                    a[r][0] = _mm256_fmadd_ps(qv, x0, a[r][0]);
                    a[r][1] = _mm256_fmadd_ps(qv, x1, a[r][1]);
                }
            }
            a
        })
    }
}

/// `tiles::scores_rows` with AVX-512: as the AVX2 kernel, 16 dimensions per step, each
/// 512-bit sum folded to 256 bits before the horizontal adds.
///
/// # Safety
/// AVX-512F and AVX2; as `scores_rows_avx2`.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn scores_rows_avx512(
    q: [&[f32]; RB],
    keys: &[f32],
    n: usize,
    out: &mut [f32; RB * KT],
) {
    let hd = q[0].len();
    let fold = |x: __m512| {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)));
        _mm256_add_ps(_mm512_castps512_ps256(x), hi)
    };
    // SAFETY: as in `scores_rows_avx2`, with d + 16 ≤ hd.
    unsafe {
        score_pairs(keys, hd, n, out, |k0, k1| {
            let mut a = [[_mm512_setzero_ps(); 2]; RB];
            for d in (0..hd).step_by(16) {
                let (x0, x1) = (_mm512_loadu_ps(k0.add(d)), _mm512_loadu_ps(k1.add(d)));
                for r in 0..RB {
                    let qv = _mm512_loadu_ps(q[r].as_ptr().add(d));
                    a[r][0] = _mm512_fmadd_ps(qv, x0, a[r][0]);
                    a[r][1] = _mm512_fmadd_ps(qv, x1, a[r][1]);
                }
            }
            a.map(|[x0, x1]| [fold(x0), fold(x1)])
        })
    }
}
