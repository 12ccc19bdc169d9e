//! f32 vector primitives (dot product, `y += a·x`) with one implementation per ISA.
//!
//! The scalar versions are the reference; they use 16 partial sums so the compiler can
//! keep them in vector registers, and the SIMD versions are tested against them.

use super::cpu::Isa;

/// `Σ a_i · b_i`.
#[inline]
pub fn dot(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `checked()` returns `Avx512` only on CPUs with AVX-512F; lengths checked above.
        Isa::Avx512 => unsafe { x86::dot_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; equal lengths checked above.
        Isa::Avx2 => unsafe { x86::dot_avx2(a, b) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` is only selected when the CPU has NEON; equal lengths checked.
        Isa::Neon => unsafe { neon::dot_neon(a, b) },
        _ => super::ops::dot(a, b),
    }
}

/// `y += alpha · x`.
#[inline]
pub fn axpy(isa: Isa, y: &mut [f32], alpha: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len(), "axpy: lengths differ");
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `dot`.
        Isa::Avx512 => unsafe { x86::axpy_avx512(y, alpha, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `dot`.
        Isa::Avx2 => unsafe { x86::axpy_avx2(y, alpha, x) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as in `dot`.
        Isa::Neon => unsafe { neon::axpy_neon(y, alpha, x) },
        _ => {
            for (a, &b) in y.iter_mut().zip(x) {
                *a += alpha * b;
            }
        }
    }
}

/// `out[t] = q · rows[t]` for the `out.len()` rows of `q.len()` values in `rows`.
#[inline]
pub fn dot_rows(isa: Isa, q: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = q.len();
    assert_eq!(
        rows.len(),
        out.len() * d,
        "dot_rows: rows must be (out.len(), q.len())"
    );
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F; shapes checked above.
        Isa::Avx512 if d.is_multiple_of(16) => unsafe { x86::dot_rows_avx512(q, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; shapes checked above.
        Isa::Avx2 if d.is_multiple_of(8) => unsafe { x86::dot_rows_avx2(q, rows, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` implies NEON; shapes checked above.
        Isa::Neon if d.is_multiple_of(4) => unsafe { neon::dot_rows_neon(q, rows, out) },
        _ => {
            for (o, r) in out.iter_mut().zip(rows.chunks_exact(d.max(1))) {
                *o = dot(isa, q, r);
            }
        }
    }
}

/// `acc += Σ_t p[t] · rows[t]` for the `p.len()` rows of `acc.len()` values in `rows`.
#[inline]
pub fn axpy_rows(isa: Isa, acc: &mut [f32], p: &[f32], rows: &[f32]) {
    let d = acc.len();
    assert_eq!(
        rows.len(),
        p.len() * d,
        "axpy_rows: rows must be (p.len(), acc.len())"
    );
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F; shapes checked above.
        Isa::Avx512 if d.is_multiple_of(64) => unsafe { x86::axpy_rows_avx512(acc, p, rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA; shapes checked above.
        Isa::Avx2 if d.is_multiple_of(32) => unsafe { x86::axpy_rows_avx2(acc, p, rows) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` implies NEON; shapes checked above.
        Isa::Neon if d.is_multiple_of(16) => unsafe { neon::axpy_rows_neon(acc, p, rows) },
        _ => {
            for (&pt, r) in p.iter().zip(rows.chunks_exact(d.max(1))) {
                axpy(isa, acc, pt, r);
            }
        }
    }
}

/// `x[i] = exp(x[i] - shift)` in place; returns `Σ x[i]` (softmax's numerator and sum).
#[inline]
pub fn exp_shift_sum(isa: Isa, x: &mut [f32], shift: f32) -> f32 {
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F.
        Isa::Avx512 => unsafe { x86::exp_shift_sum_avx512(x, shift) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA.
        Isa::Avx2 => unsafe { x86::exp_shift_sum_avx2(x, shift) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` implies NEON.
        Isa::Neon => unsafe { neon::exp_shift_sum_neon(x, shift) },
        _ => {
            let mut sum = 0.0;
            for v in x.iter_mut() {
                *v = (*v - shift).exp();
                sum += *v;
            }
            sum
        }
    }
}

/// `e^x` as every SIMD path computes it: `x = n·ln2 + r` with `ln2` split in a high part
/// exact in few bits and a low correction (Cody–Waite), then Cephes' `expf` polynomial for
/// `e^r` (~1 ulp): `1 + r + r²·(c0·r⁵ + c1·r⁴ + … + c5)`, coefficients highest first.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];
/// GELU-tanh's `2z = GELU_2K · (g + GELU_A · g³)` (see `Gate::GeluTanh`).
const GELU_2K: f32 = 2.0 * 0.797_884_6;
const GELU_A: f32 = 0.044715;

/// The gate of a gated FFN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// `silu(g) = g · sigmoid(g)` (SwiGLU).
    Silu,
    /// `gelu_tanh(g)` (GeGLU), computed as `g · sigmoid(2z)` with
    /// `z = sqrt(2/pi) (g + 0.044715 g^3)`, since `(1 + tanh z) / 2 = sigmoid(2z)`.
    GeluTanh,
}

/// `gate[i] = act(gate[i]) · up[i]`; with `up = None`, just `act(gate[i])` (GPT-2's MLP).
#[inline]
pub fn gated(isa: Isa, act: Gate, gate: &mut [f32], up: Option<&[f32]>) {
    if let Some(up) = up {
        assert_eq!(gate.len(), up.len(), "gated: gate and up differ in length");
    }
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` implies AVX-512F and FMA.
        Isa::Avx512 => unsafe { x86::gated_avx512(act, gate, up) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` implies AVX2 and FMA.
        Isa::Avx2 => unsafe { x86::gated_avx2(act, gate, up) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` implies NEON.
        Isa::Neon => unsafe { neon::gated_neon(act, gate, up) },
        _ => gated_scalar(act, gate, up),
    }
}

/// The reference for `gated`: the activations as `ops` defines them.
pub fn gated_scalar(act: Gate, gate: &mut [f32], up: Option<&[f32]>) {
    for (i, g) in gate.iter_mut().enumerate() {
        let a = match act {
            Gate::Silu => *g / (1.0 + (-*g).exp()),
            Gate::GeluTanh => super::ops::gelu_tanh(*g),
        };
        *g = a * up.map_or(1.0, |u| u[i]);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::supported_isas;

    #[test]
    fn gated_activations_match_the_scalar_reference() {
        for n in [0usize, 1, 15, 16, 17, 100] {
            // Values across both tails of the activations, including ones whose exponent
            // overflows (e^100) or underflows.
            let g: Vec<f32> = (0..n).map(|i| (i as f32 - 50.0) * 0.7 + 0.13).collect();
            let up: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            for act in [Gate::Silu, Gate::GeluTanh] {
                for with_up in [false, true] {
                    let u = with_up.then_some(up.as_slice());
                    let mut want = g.clone();
                    gated_scalar(act, &mut want, u);
                    for isa in supported_isas() {
                        let mut got = g.clone();
                        gated(isa, act, &mut got, u);
                        for (a, b) in got.iter().zip(&want) {
                            assert!(
                                (a - b).abs() <= 2e-6 * (1.0 + b.abs()),
                                "{act:?} {isa:?} n={n}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }

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
    #[test]
    fn row_kernels_and_exp_match_scalar() {
        for (n, d) in [
            (0usize, 64usize),
            (1, 64),
            (3, 64),
            (4, 64),
            (7, 128),
            (13, 16),
            (5, 24),
            (9, 64),
        ] {
            let q: Vec<f32> = (0..d).map(|i| (i as f32 * 0.21).sin()).collect();
            let rows: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.13).cos()).collect();
            let p: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
            let mut want = vec![0.0; n];
            dot_rows(Isa::Scalar, &q, &rows, &mut want);
            let mut acc0 = q.clone();
            axpy_rows(Isa::Scalar, &mut acc0, &p, &rows);
            for isa in supported_isas() {
                let mut got = vec![0.0; n];
                dot_rows(isa, &q, &rows, &mut got);
                let mut acc = q.clone();
                axpy_rows(isa, &mut acc, &p, &rows);
                for (g, w) in got.iter().zip(&want).chain(acc.iter().zip(&acc0)) {
                    assert!((g - w).abs() < 1e-4, "{isa:?} n={n} d={d}: {g} vs {w}");
                }
            }
        }
        let xs: Vec<f32> = (0..1000).map(|i| -100.0 + i as f32 * 0.1003).collect();
        for isa in supported_isas() {
            let mut e = xs.clone();
            let sum = exp_shift_sum(isa, &mut e, 1.5);
            let mut want_sum = 0.0f64;
            for (&x, &g) in xs.iter().zip(&e) {
                let w = ((x - 1.5) as f64).exp();
                want_sum += w;
                assert!(
                    (g as f64 - w).abs() <= 2e-7 * w + 1e-37,
                    "{isa:?} exp({x} - 1.5) = {g}, want {w}"
                );
            }
            assert!((sum as f64 / want_sum - 1.0).abs() < 1e-5);
        }
    }
}
