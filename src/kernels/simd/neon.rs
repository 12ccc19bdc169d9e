//! The NEON paths of the f32 vector kernels.

use std::arch::aarch64::*;

use super::{EXP_POLY, GELU_2K, GELU_A, LN2_HI, LN2_LO};

#[inline(always)]
fn load4(s: &[f32], i: usize) -> float32x4_t {
    let s = &s[i..i + 4];
    // SAFETY: `s` holds the 4 floats read; the callers run with NEON enabled.
    unsafe { vld1q_f32(s.as_ptr()) }
}

#[target_feature(enable = "neon")]
pub fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut s = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (j, sj) in s.iter_mut().enumerate() {
            *sj = vfmaq_f32(*sj, load4(a, i + 4 * j), load4(b, i + 4 * j));
        }
        i += 16;
    }
    while i + 4 <= n {
        s[0] = vfmaq_f32(s[0], load4(a, i), load4(b, i));
        i += 4;
    }
    let sum = vaddvq_f32(vaddq_f32(vaddq_f32(s[0], s[1]), vaddq_f32(s[2], s[3])));
    sum + a[i..n]
        .iter()
        .zip(&b[i..n])
        .map(|(x, y)| x * y)
        .sum::<f32>()
}

#[target_feature(enable = "neon")]
pub fn axpy_neon(y: &mut [f32], alpha: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let mut i = 0;
    while i + 4 <= n {
        let v = vfmaq_n_f32(load4(y, i), load4(x, i), alpha);
        let dst = &mut y[i..i + 4];
        // SAFETY: `dst` holds the 4 floats written; NEON as above.
        unsafe { vst1q_f32(dst.as_mut_ptr(), v) };
        i += 4;
    }
    for (yv, &xv) in y[i..n].iter_mut().zip(&x[i..n]) {
        *yv += alpha * xv;
    }
}

#[inline(always)]
fn store4(s: &mut [f32], i: usize, v: float32x4_t) {
    let s = &mut s[i..i + 4];
    // SAFETY: `s` holds the 4 floats written; the callers run with NEON enabled.
    unsafe { vst1q_f32(s.as_mut_ptr(), v) }
}

/// `e^x` for 4 lanes: the polynomial of `exp_avx2` (Cephes), with `2^n` built from its
/// exponent bits; inputs clamped to [-87, 88] so that it stays a normal float.
#[inline]
#[target_feature(enable = "neon")]
fn exp_neon(x: float32x4_t) -> float32x4_t {
    let x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0)), vdupq_n_f32(88.0));
    // Round to nearest, ties to even (as `_mm256_round_ps` with NEAREST_INT).
    let n = vrndnq_f32(vmulq_n_f32(x, std::f32::consts::LOG2_E));
    let r = vfmsq_f32(x, n, vdupq_n_f32(LN2_HI));
    let r = vfmsq_f32(r, n, vdupq_n_f32(LN2_LO));
    let mut p = vdupq_n_f32(EXP_POLY[0]);
    for c in &EXP_POLY[1..] {
        p = vfmaq_f32(vdupq_n_f32(*c), p, r);
    }
    let p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0)), p, vmulq_f32(r, r));
    let pow2n = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(
        vcvtnq_s32_f32(n),
        vdupq_n_s32(127),
    )));
    vmulq_f32(p, pow2n)
}

/// `act(g)` for 4 lanes: `g / (1 + e^(-t))` with `t = g` (SiLU) or GELU's `2z`.
#[inline]
#[target_feature(enable = "neon")]
fn act_neon(act: super::Gate, g: float32x4_t) -> float32x4_t {
    let t = match act {
        super::Gate::Silu => g,
        super::Gate::GeluTanh => {
            let g3 = vmulq_f32(vmulq_f32(g, g), g);
            vmulq_n_f32(vfmaq_f32(g, vdupq_n_f32(GELU_A), g3), GELU_2K)
        }
    };
    let e = exp_neon(vnegq_f32(t));
    vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0), e))
}

#[target_feature(enable = "neon")]
pub fn gated_neon(act: super::Gate, gate: &mut [f32], up: Option<&[f32]>) {
    let n = gate.len();
    let mut i = 0;
    while i + 4 <= n {
        let mut v = act_neon(act, load4(gate, i));
        if let Some(u) = up {
            v = vmulq_f32(v, load4(u, i));
        }
        store4(gate, i, v);
        i += 4;
    }
    super::gated_scalar(act, &mut gate[i..], up.map(|u| &u[i..]));
}

#[target_feature(enable = "neon")]
pub fn exp_shift_sum_neon(x: &mut [f32], shift: f32) -> f32 {
    let n = x.len();
    let sh = vdupq_n_f32(shift);
    let mut sum = vdupq_n_f32(0.0);
    let mut i = 0;
    while i + 4 <= n {
        let v = exp_neon(vsubq_f32(load4(x, i), sh));
        store4(x, i, v);
        sum = vaddq_f32(sum, v);
        i += 4;
    }
    let mut total = vaddvq_f32(sum);
    for v in &mut x[i..] {
        *v = (*v - shift).exp();
        total += *v;
    }
    total
}

/// `out[t] = q · rows[t]`, four rows at a time (each row's products summed in its own
/// vector, then the four reduced pairwise into one). `q.len()` a multiple of 4.
#[target_feature(enable = "neon")]
pub fn dot_rows_neon(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let (d, n) = (q.len(), out.len());
    assert!(d.is_multiple_of(4) && rows.len() >= n * d);
    let mut t = 0;
    while t + 4 <= n {
        let mut acc = [vdupq_n_f32(0.0); 4];
        for i in (0..d).step_by(4) {
            let qv = load4(q, i);
            for (j, a) in acc.iter_mut().enumerate() {
                *a = vfmaq_f32(*a, qv, load4(rows, (t + j) * d + i));
            }
        }
        let sums = vpaddq_f32(vpaddq_f32(acc[0], acc[1]), vpaddq_f32(acc[2], acc[3]));
        store4(out, t, sums);
        t += 4;
    }
    for (t, o) in out.iter_mut().enumerate().skip(t) {
        *o = dot_neon(q, &rows[t * d..(t + 1) * d]);
    }
}

/// `acc += Σ_t p[t] · rows[t]`, with `acc` held in registers across four rows at a time.
/// `acc.len()` a multiple of 16.
#[target_feature(enable = "neon")]
pub fn axpy_rows_neon(acc: &mut [f32], p: &[f32], rows: &[f32]) {
    let d = acc.len();
    assert!(d.is_multiple_of(16) && rows.len() >= p.len() * d);
    for c in (0..d).step_by(16) {
        let mut a = [
            load4(acc, c),
            load4(acc, c + 4),
            load4(acc, c + 8),
            load4(acc, c + 12),
        ];
        for (t, &pt) in p.iter().enumerate() {
            let base = t * d + c;
            for (j, aj) in a.iter_mut().enumerate() {
                *aj = vfmaq_n_f32(*aj, load4(rows, base + 4 * j), pt);
            }
        }
        for (j, aj) in a.into_iter().enumerate() {
            store4(acc, c + 4 * j, aj);
        }
    }
}
