//! The x86 paths of the f32 vector kernels: AVX-512F and AVX2 with FMA.

use std::arch::x86_64::*;

use super::{EXP_POLY, GELU_2K, GELU_A, LN2_HI, LN2_LO};

// Bounds-checked loads and stores: the only unsafe code of the f32 kernels.

#[inline(always)]
fn load16(s: &[f32], i: usize) -> __m512 {
    let s = &s[i..i + 16];
    // SAFETY: `s` holds the 16 floats read; the callers run with AVX-512F enabled.
    unsafe { _mm512_loadu_ps(s.as_ptr()) }
}

#[inline(always)]
fn store16(s: &mut [f32], i: usize, v: __m512) {
    let s = &mut s[i..i + 16];
    // SAFETY: `s` holds the 16 floats written; AVX-512F as above.
    unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
}

/// The first `s.len() - i` (< 16) floats from `i`, zeros after.
#[inline(always)]
fn load_tail16(s: &[f32], i: usize) -> __m512 {
    let s = &s[i..];
    debug_assert!(s.len() < 16);
    // SAFETY: the mask enables exactly the `s.len()` lanes inside `s`.
    unsafe { _mm512_maskz_loadu_ps((1u16 << s.len()) - 1, s.as_ptr()) }
}

#[inline(always)]
fn store_tail16(s: &mut [f32], i: usize, v: __m512) {
    let s = &mut s[i..];
    debug_assert!(s.len() < 16);
    // SAFETY: the mask enables exactly the `s.len()` lanes inside `s`.
    unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr(), (1u16 << s.len()) - 1, v) }
}

#[inline(always)]
fn load8(s: &[f32], i: usize) -> __m256 {
    let s = &s[i..i + 8];
    // SAFETY: `s` holds the 8 floats read; the callers run with AVX enabled.
    unsafe { _mm256_loadu_ps(s.as_ptr()) }
}

#[inline(always)]
fn store8(s: &mut [f32], i: usize, v: __m256) {
    let s = &mut s[i..i + 8];
    // SAFETY: `s` holds the 8 floats written; AVX as above.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
}

#[target_feature(enable = "avx512f,fma")]
pub fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut s0, mut s1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n, so all 32 floats of each operand are inside it.
        let (a0, b0, a1, b1) = unsafe {
            (
                _mm512_loadu_ps(pa.add(i)),
                _mm512_loadu_ps(pb.add(i)),
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
            )
        };
        s0 = _mm512_fmadd_ps(a0, b0, s0);
        s1 = _mm512_fmadd_ps(a1, b1, s1);
        i += 32;
    }
    if i + 16 <= n {
        s0 = _mm512_fmadd_ps(load16(a, i), load16(b, i), s0);
        i += 16;
    }
    if i < n {
        s1 = _mm512_fmadd_ps(load_tail16(&a[..n], i), load_tail16(&b[..n], i), s1);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(s0, s1))
}

#[target_feature(enable = "avx512f,fma")]
pub fn axpy_avx512(y: &mut [f32], alpha: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let a = _mm512_set1_ps(alpha);
    let mut i = 0;
    while i + 16 <= n {
        let v = _mm512_fmadd_ps(a, load16(x, i), load16(y, i));
        store16(y, i, v);
        i += 16;
    }
    if i < n {
        let v = _mm512_fmadd_ps(a, load_tail16(&x[..n], i), load_tail16(&y[..n], i));
        store_tail16(&mut y[..n], i, v);
    }
}

/// Four keys at a time: four accumulators, then one combined horizontal sum.
/// For `q.len()` a multiple of 16 and `rows.len() == out.len() * q.len()`.
#[target_feature(enable = "avx512f,fma")]
pub fn dot_rows_avx512(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let (d, n) = (q.len(), out.len());
    assert!(d % 16 == 0 && rows.len() >= n * d);
    let (pq, pr) = (q.as_ptr(), rows.as_ptr());
    let mut t = 0;
    while t + 4 <= n {
        let mut acc = [_mm512_setzero_ps(); 4];
        for i in (0..d).step_by(16) {
            // SAFETY: i + 16 <= d (d is a multiple of 16) and rows t..t+4 < n exist
            // (asserted above), so every load is inside `q` or `rows`.
            let (qv, r0, r1, r2, r3) = unsafe {
                (
                    _mm512_loadu_ps(pq.add(i)),
                    _mm512_loadu_ps(pr.add(t * d + i)),
                    _mm512_loadu_ps(pr.add((t + 1) * d + i)),
                    _mm512_loadu_ps(pr.add((t + 2) * d + i)),
                    _mm512_loadu_ps(pr.add((t + 3) * d + i)),
                )
            };
            acc = [
                _mm512_fmadd_ps(qv, r0, acc[0]),
                _mm512_fmadd_ps(qv, r1, acc[1]),
                _mm512_fmadd_ps(qv, r2, acc[2]),
                _mm512_fmadd_ps(qv, r3, acc[3]),
            ];
        }
        // Pairwise interleave so one vector ends up holding the four sums.
        let t01 = _mm512_add_ps(
            _mm512_unpacklo_ps(acc[0], acc[1]),
            _mm512_unpackhi_ps(acc[0], acc[1]),
        );
        let t23 = _mm512_add_ps(
            _mm512_unpacklo_ps(acc[2], acc[3]),
            _mm512_unpackhi_ps(acc[2], acc[3]),
        );
        let (p01, p23) = (_mm512_castps_pd(t01), _mm512_castps_pd(t23));
        let u = _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(p01, p23)),
            _mm512_castpd_ps(_mm512_unpackhi_pd(p01, p23)),
        );
        let h = _mm256_add_ps(
            _mm512_castps512_ps256(u),
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1)),
        );
        let sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        let dst = &mut out[t..t + 4];
        // SAFETY: `dst` holds the 4 floats written.
        unsafe { _mm_storeu_ps(dst.as_mut_ptr(), sums) };
        t += 4;
    }
    for (t, o) in out.iter_mut().enumerate().skip(t) {
        *o = dot_avx512(q, &rows[t * d..(t + 1) * d]);
    }
}

/// The accumulator stays in registers, 64 values (4 zmm) at a time, while the rows
/// stream past. For `acc.len()` a multiple of 64 and `rows.len() == p.len() * acc.len()`.
#[target_feature(enable = "avx512f,fma")]
pub fn axpy_rows_avx512(acc: &mut [f32], p: &[f32], rows: &[f32]) {
    let d = acc.len();
    assert!(d.is_multiple_of(64) && rows.len() >= p.len() * d);
    let pr = rows.as_ptr();
    for i in (0..d).step_by(64) {
        let mut a = [
            load16(acc, i),
            load16(acc, i + 16),
            load16(acc, i + 32),
            load16(acc, i + 48),
        ];
        for (t, &pt) in p.iter().enumerate() {
            let w = _mm512_set1_ps(pt);
            let r = pr.wrapping_add(t * d + i);
            // SAFETY: row t < p.len() exists and i + 64 <= d, so the 64 floats from `r`
            // are inside `rows` (asserted above).
            let (r0, r1, r2, r3) = unsafe {
                (
                    _mm512_loadu_ps(r),
                    _mm512_loadu_ps(r.add(16)),
                    _mm512_loadu_ps(r.add(32)),
                    _mm512_loadu_ps(r.add(48)),
                )
            };
            a = [
                _mm512_fmadd_ps(w, r0, a[0]),
                _mm512_fmadd_ps(w, r1, a[1]),
                _mm512_fmadd_ps(w, r2, a[2]),
                _mm512_fmadd_ps(w, r3, a[3]),
            ];
        }
        for (j, aj) in a.iter().enumerate() {
            store16(acc, i + 16 * j, *aj);
        }
    }
}

/// `e^x` for 16 lanes: `x = n·ln2 + r` with |r| ≤ ln2/2, a degree-6 polynomial for
/// `e^r` (Cephes `expf` coefficients, ~1 ulp), then `scalef` by `2^n` (which also
/// flushes very negative inputs to 0).
#[inline]
#[target_feature(enable = "avx512f,fma")]
fn exp_avx512(x: __m512) -> __m512 {
    let x = _mm512_max_ps(x, _mm512_set1_ps(-104.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(EXP_POLY[0]);
    for c in &EXP_POLY[1..] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(*c));
    }
    let p = _mm512_fmadd_ps(
        p,
        _mm512_mul_ps(r, r),
        _mm512_add_ps(r, _mm512_set1_ps(1.0)),
    );
    _mm512_scalef_ps(p, n)
}

/// `act(g)` for 16 lanes: `g / (1 + e^(-k·g))` with `k = 1` (SiLU) or the GELU form.
#[inline]
#[target_feature(enable = "avx512f,fma")]
fn act_avx512(act: super::Gate, g: __m512) -> __m512 {
    let t = match act {
        super::Gate::Silu => g,
        // 2z = 2·sqrt(2/pi)·(g + 0.044715 g^3)
        super::Gate::GeluTanh => {
            let g3 = _mm512_mul_ps(_mm512_mul_ps(g, g), g);
            _mm512_mul_ps(
                _mm512_set1_ps(GELU_2K),
                _mm512_fmadd_ps(_mm512_set1_ps(GELU_A), g3, g),
            )
        }
    };
    let e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), t));
    _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0), e))
}

#[target_feature(enable = "avx512f,fma")]
pub fn gated_avx512(act: super::Gate, gate: &mut [f32], up: Option<&[f32]>) {
    let n = gate.len();
    let mut i = 0;
    while i + 16 <= n {
        let mut v = act_avx512(act, load16(gate, i));
        if let Some(u) = up {
            v = _mm512_mul_ps(v, load16(u, i));
        }
        store16(gate, i, v);
        i += 16;
    }
    if i < n {
        let mut v = act_avx512(act, load_tail16(gate, i));
        if let Some(u) = up {
            v = _mm512_mul_ps(v, load_tail16(u, i));
        }
        store_tail16(gate, i, v);
    }
}

#[target_feature(enable = "avx512f,fma")]
pub fn exp_shift_sum_avx512(x: &mut [f32], shift: f32) -> f32 {
    let n = x.len();
    let sh = _mm512_set1_ps(shift);
    let mut sum = _mm512_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        let v = exp_avx512(_mm512_sub_ps(load16(x, i), sh));
        store16(x, i, v);
        sum = _mm512_add_ps(sum, v);
        i += 16;
    }
    if i < n {
        let m: __mmask16 = (1u16 << (n - i)) - 1;
        let v = _mm512_maskz_mov_ps(m, exp_avx512(_mm512_sub_ps(load_tail16(x, i), sh)));
        store_tail16(x, i, v);
        sum = _mm512_add_ps(sum, v);
    }
    _mm512_reduce_add_ps(sum)
}

#[target_feature(enable = "avx2,fma")]
pub fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        s0 = _mm256_fmadd_ps(load8(a, i), load8(b, i), s0);
        s1 = _mm256_fmadd_ps(load8(a, i + 8), load8(b, i + 8), s1);
        i += 16;
    }
    if i + 8 <= n {
        s0 = _mm256_fmadd_ps(load8(a, i), load8(b, i), s0);
        i += 8;
    }
    let s = _mm256_add_ps(s0, s1);
    let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    _mm_cvtss_f32(h)
        + a[i..n]
            .iter()
            .zip(&b[i..n])
            .map(|(x, y)| x * y)
            .sum::<f32>()
}

/// `e^x` for 8 lanes, as `exp_avx512` but building `2^n` from its exponent bits
/// (AVX2 has no `scalef`): inputs are clamped to [-87, 88], where that stays a normal
/// float, so very negative inputs give ~1e-38 rather than 0.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp_avx2(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
        _mm256_set1_ps(88.0),
    );
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    let mut p = _mm256_set1_ps(EXP_POLY[0]);
    for c in &EXP_POLY[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
    }
    let p = _mm256_fmadd_ps(
        p,
        _mm256_mul_ps(r, r),
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
        23,
    ));
    _mm256_mul_ps(p, pow2n)
}

/// `act(g)` for 8 lanes (see `act_avx512`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn act_avx2(act: super::Gate, g: __m256) -> __m256 {
    let t = match act {
        super::Gate::Silu => g,
        super::Gate::GeluTanh => {
            let g3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
            _mm256_mul_ps(
                _mm256_set1_ps(GELU_2K),
                _mm256_fmadd_ps(_mm256_set1_ps(GELU_A), g3, g),
            )
        }
    };
    let e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), t));
    _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0), e))
}

#[target_feature(enable = "avx2,fma")]
pub fn gated_avx2(act: super::Gate, gate: &mut [f32], up: Option<&[f32]>) {
    let n = gate.len();
    let mut i = 0;
    while i + 8 <= n {
        let mut v = act_avx2(act, load8(gate, i));
        if let Some(u) = up {
            v = _mm256_mul_ps(v, load8(u, i));
        }
        store8(gate, i, v);
        i += 8;
    }
    super::gated_scalar(act, &mut gate[i..], up.map(|u| &u[i..]));
}

#[target_feature(enable = "avx2,fma")]
pub fn exp_shift_sum_avx2(x: &mut [f32], shift: f32) -> f32 {
    let n = x.len();
    let sh = _mm256_set1_ps(shift);
    let mut sum = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        let v = exp_avx2(_mm256_sub_ps(load8(x, i), sh));
        store8(x, i, v);
        sum = _mm256_add_ps(sum, v);
        i += 8;
    }
    let mut lanes = [0.0f32; 8];
    store8(&mut lanes, 0, sum);
    let mut total = lanes.iter().sum::<f32>();
    for v in &mut x[i..] {
        *v = (*v - shift).exp();
        total += *v;
    }
    total
}

#[target_feature(enable = "avx2,fma")]
pub fn axpy_avx2(y: &mut [f32], alpha: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let a = _mm256_set1_ps(alpha);
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_fmadd_ps(a, load8(x, i), load8(y, i));
        store8(y, i, v);
        i += 8;
    }
    for (yv, &xv) in y[i..n].iter_mut().zip(&x[i..n]) {
        *yv += alpha * xv;
    }
}

/// `out[t] = q · rows[t]` with AVX2, four rows at a time: four accumulators share each
/// load of `q`, and one interleaved reduction turns them into four sums (no horizontal
/// sum per row). `q.len()` a multiple of 8.
#[target_feature(enable = "avx2,fma")]
pub fn dot_rows_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let (d, n) = (q.len(), out.len());
    assert!(d.is_multiple_of(8) && rows.len() >= n * d);
    let mut t = 0;
    while t + 4 <= n {
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..d).step_by(8) {
            let qv = load8(q, i);
            for (j, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(qv, load8(rows, (t + j) * d + i), *a);
            }
        }
        // hadd pairs twice: lanes 0..3 (and 4..7) hold partial sums of rows 0..3.
        let h01 = _mm256_hadd_ps(acc[0], acc[1]);
        let h23 = _mm256_hadd_ps(acc[2], acc[3]);
        let h = _mm256_hadd_ps(h01, h23);
        let sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        let dst = &mut out[t..t + 4];
        // SAFETY: `dst` holds the 4 floats written.
        unsafe { _mm_storeu_ps(dst.as_mut_ptr(), sums) };
        t += 4;
    }
    for (t, o) in out.iter_mut().enumerate().skip(t) {
        *o = dot_avx2(q, &rows[t * d..(t + 1) * d]);
    }
}

/// `acc += Σ_t p[t] · rows[t]` with AVX2: 32 floats of `acc` at a time stay in four
/// registers across all rows. `acc.len()` a multiple of 32.
#[target_feature(enable = "avx2,fma")]
pub fn axpy_rows_avx2(acc: &mut [f32], p: &[f32], rows: &[f32]) {
    let d = acc.len();
    assert!(d.is_multiple_of(32) && rows.len() >= p.len() * d);
    for i in (0..d).step_by(32) {
        let mut a = [
            load8(acc, i),
            load8(acc, i + 8),
            load8(acc, i + 16),
            load8(acc, i + 24),
        ];
        for (t, &pt) in p.iter().enumerate() {
            let w = _mm256_set1_ps(pt);
            for (j, aj) in a.iter_mut().enumerate() {
                *aj = _mm256_fmadd_ps(w, load8(rows, t * d + i + 8 * j), *aj);
            }
        }
        for (j, aj) in a.into_iter().enumerate() {
            store8(acc, i + 8 * j, aj);
        }
    }
}
