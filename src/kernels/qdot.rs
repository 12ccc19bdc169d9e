//! Integer dot products of quantized weight rows with 16-bit activations.
//!
//! Activations are quantized once per matmul call into `QuantActs` (blocks of 32 `i16`, an
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
use super::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0, Quantize, QK};

/// Activations quantized to 16 bits: `rows` rows of `nb` blocks of 32 values, each block
/// `x ≈ d · q` with `d = max|x| / 32767`. Stored as arrays (not per-block structs) so that
/// kernels load 16 scales with one instruction.
#[derive(Clone, Debug, Default)]
pub struct QuantActs {
    pub rows: usize,
    /// Blocks per row.
    pub nb: usize,
    pub qs: Vec<[i16; QK]>, // (rows, nb)
    pub d: Vec<f32>,        // (rows, nb)
    /// `d · Σ q` per block, for the weight formats' offset terms.
    pub ds: Vec<f32>, // (rows, nb)
}

impl QuantActs {
    /// Panics unless rows `row0 .. row0 + R` exist (`R` at most `MAX_ROWS`) and the arrays
    /// hold `rows × nb` blocks: the SIMD kernels' unchecked reads rely on both.
    pub fn check_rows<const R: usize>(&self, row0: usize) {
        assert!(
            (1..=MAX_ROWS).contains(&R) && row0 + R <= self.rows,
            "dot_rows: rows out of range"
        );
        let blocks = self.rows * self.nb;
        assert!(
            self.qs.len() >= blocks && self.d.len() >= blocks && self.ds.len() >= blocks,
            "dot_rows: QuantActs arrays shorter than rows × nb"
        );
    }

    /// Quantizes `x` (`rows × k`, `k` a multiple of 32), reusing this value's buffers.
    pub fn quantize(&mut self, x: &[f32], rows: usize, k: usize) {
        assert!(
            k.is_multiple_of(QK) && x.len() == rows * k,
            "QuantActs: x must be (rows, k) with k a multiple of {QK}"
        );
        let n = rows * (k / QK);
        (self.rows, self.nb) = (rows, k / QK);
        self.qs.resize(n, [0; QK]);
        self.d.resize(n, 0.0);
        self.ds.resize(n, 0.0);
        for (i, xb) in x.chunks_exact(QK).enumerate() {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 32767.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in self.qs[i].iter_mut().zip(xb) {
                *q = (v * id).round() as i16;
                sum += *q as i32;
            }
            self.d[i] = d;
            self.ds[i] = d * sum as f32;
        }
    }
}

/// A weight block format with an integer dot product against `QuantActs`.
///
/// # Safety
/// The SIMD kernels read blocks through raw pointers, so an implementor must be at least
/// 4 bytes, start with its f16 scale `d` (then, for Q4_1, its f16 offset `m`: the AVX-512
/// kernel gathers the first 4 bytes of 16 blocks at once), and `qs()` must return 16
/// bytes when `NIBBLES` and 32 otherwise.
pub unsafe trait DotBlock: Quantize {
    /// 4-bit values packed two per byte (else one signed byte each).
    const NIBBLES: bool;
    /// Subtracted from the unsigned 4-bit values (8 for Q4_0).
    const BIAS: i32;
    /// Whether the block has an offset `m` after `d` (Q4_1).
    const HAS_MIN: bool = false;
    /// The packed values: 16 bytes of nibbles, or 32 signed bytes.
    fn qs(&self) -> &[u8];
    fn d(&self) -> f16;
    /// The offset `m` (Q4_1), else zero.
    fn m(&self) -> f16 {
        f16::ZERO
    }
}

// SAFETY: ggml's layout: `d` first, 16 nibble bytes (Q4) or 32 value bytes (Q8).
unsafe impl DotBlock for BlockQ4_0 {
    const NIBBLES: bool = true;
    const BIAS: i32 = 8;
    fn qs(&self) -> &[u8] {
        &self.qs
    }
    fn d(&self) -> f16 {
        self.d
    }
}

// SAFETY: ggml's layout: `d` first, 16 nibble bytes (Q4) or 32 value bytes (Q8).
unsafe impl DotBlock for BlockQ4_1 {
    const NIBBLES: bool = true;
    const BIAS: i32 = 0;
    const HAS_MIN: bool = true;
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

// SAFETY: ggml's layout: `d` first, 16 nibble bytes (Q4) or 32 value bytes (Q8).
unsafe impl DotBlock for BlockQ8_0 {
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

/// `out[r] = w · a[row0 + r]` for `R` activation rows.
#[inline]
pub fn dot_rows<B: DotBlock, const R: usize>(
    isa: Isa,
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    assert!(
        w.len() == a.nb,
        "dot_rows: weight row and activations differ in length"
    );
    a.check_rows::<R>(row0);
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only selected when the CPU reports AVX-512 F/BW/VL,
        // VNNI, AVX2, FMA and F16C; the shapes were checked above.
        Isa::Avx512 => unsafe { x86::dot_rows_vnni::<B, R>(w, a, row0, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only selected when the CPU reports AVX2, FMA and F16C;
        // the shapes were checked above.
        Isa::Avx2 => unsafe { x86::dot_rows_avx2::<B, R>(w, a, row0, out) },
        _ => dot_rows_scalar::<B, R>(w, a, row0, out),
    }
}

/// The reference: exact integer sums per block, then the scale and offset terms.
pub fn dot_rows_scalar<B: DotBlock, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    let nb = a.nb;
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
            let b = (row0 + r) * nb + j;
            let isum: i32 = u.iter().zip(&a.qs[b]).map(|(&x, &y)| x * y as i32).sum();
            *o += isum as f32 * (dw * a.d[b]) + a.ds[b] * (mw - B::BIAS as f32 * dw);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{DotBlock, QuantActs};

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

    /// AVX-512 VNNI. Blocks go in groups of 16: one gather fetches the 16 scales (and
    /// Q4_1 offsets), converted to f32 together, so the per-block loop is only the
    /// unpack, `vpdpwssd` (32 i16 products summed in pairs into 16 i32 lanes) and one FMA
    /// by the block's combined scale. Two accumulators per row hide the FMA latency.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub unsafe fn dot_rows_vnni<B: DotBlock, const R: usize>(
        w: &[B],
        a: &QuantActs,
        row0: usize,
        out: &mut [f32; R],
    ) {
        let nb = w.len();
        let size = std::mem::size_of::<B>() as i32;
        let offsets = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(size),
        );
        let (mut acc0, mut acc1) = ([_mm512_setzero_ps(); R], [_mm512_setzero_ps(); R]);
        let mut corr = [_mm512_setzero_ps(); R];
        let mut scale = [[0.0f32; 16]; R];
        let mut j0 = 0;
        while j0 < nb {
            let g = (nb - j0).min(16);
            let mask: __mmask16 = if g == 16 { 0xffff } else { (1u16 << g) - 1 };
            // SAFETY: lanes < g read the first 4 bytes of blocks j0..j0+g, all inside `w`
            // (every block is at least 18 bytes); masked lanes read nothing.
            let raw = unsafe {
                _mm512_mask_i32gather_epi32::<1>(
                    _mm512_setzero_si512(),
                    mask,
                    offsets,
                    w.as_ptr().add(j0) as *const i32,
                )
            };
            let dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
            let mw = if B::HAS_MIN {
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(raw, 16)))
            } else {
                _mm512_setzero_ps()
            };
            let off = _mm512_fnmadd_ps(_mm512_set1_ps(B::BIAS as f32), dw, mw);
            for r in 0..R {
                let b = (row0 + r) * nb + j0;
                // SAFETY: the caller checked rows row0..row0+R exist; lanes < g are inside.
                let (da, ds) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(mask, a.d.as_ptr().add(b)),
                        _mm512_maskz_loadu_ps(mask, a.ds.as_ptr().add(b)),
                    )
                };
                // SAFETY: `scale[r]` holds 16 floats.
                unsafe { _mm512_storeu_ps(scale[r].as_mut_ptr(), _mm512_mul_ps(dw, da)) };
                if B::HAS_MIN || B::BIAS != 0 {
                    corr[r] = _mm512_fmadd_ps(ds, off, corr[r]);
                }
            }
            // Blocks in pairs, one accumulator each (constant indices keep them in registers).
            let block = |jj: usize, acc: &mut [__m512; R]| {
                // SAFETY: j0 + jj < nb.
                let bytes = unsafe { load_bytes(w.get_unchecked(j0 + jj)) };
                let w16 = if B::NIBBLES {
                    _mm512_cvtepu8_epi16(bytes)
                } else {
                    _mm512_cvtepi8_epi16(bytes)
                };
                for r in 0..R {
                    // SAFETY: block (row0 + r, j0 + jj) exists; `qs` blocks are 64 bytes.
                    let av = unsafe {
                        _mm512_loadu_si512(a.qs.as_ptr().add((row0 + r) * nb + j0 + jj) as *const _)
                    };
                    let p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, av);
                    acc[r] = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(p),
                        _mm512_set1_ps(scale[r][jj]),
                        acc[r],
                    );
                }
            };
            let mut jj = 0;
            while jj + 1 < g {
                block(jj, &mut acc0);
                block(jj + 1, &mut acc1);
                jj += 2;
            }
            if jj < g {
                block(jj, &mut acc0);
            }
            j0 += g;
        }
        for r in 0..R {
            out[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0[r], acc1[r]), corr[r]));
        }
    }

    /// AVX2: the weights widened to i16 in two ymm, `vpmaddwd` against the activations;
    /// scales converted 8 blocks at a time.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows_avx2<B: DotBlock, const R: usize>(
        w: &[B],
        a: &QuantActs,
        row0: usize,
        out: &mut [f32; R],
    ) {
        let nb = w.len();
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let mut corr = [0.0f32; R];
        let mut j0 = 0;
        while j0 < nb {
            let g = (nb - j0).min(8);
            let (mut dbits, mut mbits) = ([0u16; 8], [0u16; 8]);
            for jj in 0..g {
                // SAFETY: j0 + jj < nb.
                let wb = unsafe { w.get_unchecked(j0 + jj) };
                dbits[jj] = wb.d().to_bits();
                mbits[jj] = wb.m().to_bits();
            }
            // SAFETY: 8 u16 = 16 bytes each.
            let (dv, mv) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(dbits.as_ptr() as *const _)),
                    _mm256_cvtph_ps(_mm_loadu_si128(mbits.as_ptr() as *const _)),
                )
            };
            let (mut dw, mut off) = ([0.0f32; 8], [0.0f32; 8]);
            // SAFETY: 8 floats each.
            unsafe {
                _mm256_storeu_ps(dw.as_mut_ptr(), dv);
                _mm256_storeu_ps(
                    off.as_mut_ptr(),
                    _mm256_fnmadd_ps(_mm256_set1_ps(B::BIAS as f32), dv, mv),
                );
            }
            for jj in 0..g {
                // SAFETY: j0 + jj < nb.
                let bytes = unsafe { load_bytes(w.get_unchecked(j0 + jj)) };
                let (b0, b1) = (
                    _mm256_castsi256_si128(bytes),
                    _mm256_extracti128_si256(bytes, 1),
                );
                let (w0, w1) = if B::NIBBLES {
                    (_mm256_cvtepu8_epi16(b0), _mm256_cvtepu8_epi16(b1))
                } else {
                    (_mm256_cvtepi8_epi16(b0), _mm256_cvtepi8_epi16(b1))
                };
                for r in 0..R {
                    let b = (row0 + r) * nb + j0 + jj;
                    // SAFETY: block b exists (checked by the caller); `qs` blocks are 64 bytes.
                    let (a0, a1) = unsafe {
                        let p = a.qs.as_ptr().add(b) as *const __m256i;
                        (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
                    };
                    let s = _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
                    // SAFETY: b < rows * nb.
                    let (da, ds) = unsafe { (*a.d.get_unchecked(b), *a.ds.get_unchecked(b)) };
                    let acc_r = &mut acc[r][jj & 1];
                    *acc_r =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw[jj] * da), *acc_r);
                    corr[r] += ds * off[jj];
                }
            }
            j0 += g;
        }
        for r in 0..R {
            let v = _mm256_add_ps(acc[r][0], acc[r][1]);
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
        // 16 and 17 blocks straddle the AVX-512 kernel's groups of 16; 9 the AVX2 groups of 8.
        for nb in [1usize, 2, 3, 7, 9, 16, 17, 18, 48] {
            let w: Vec<B> = data(nb * QK, 1).chunks_exact(QK).map(B::quantize).collect();
            let mut a = QuantActs::default();
            a.quantize(&data(4 * nb * QK, 2), 4, nb * QK);
            // Exactness of the integer path: the scalar kernel against f64 on dequantized data.
            let mut wd = vec![0.0; nb * QK];
            crate::kernels::quant::dequantize_blocks(&w, &mut wd);
            let mut want = [0.0f32; 4];
            dot_rows_scalar::<B, 4>(&w, &a, 0, &mut want);
            for (r, &got) in want.iter().enumerate() {
                let exact: f64 = (0..nb * QK)
                    .map(|i| {
                        a.qs[r * nb + i / QK][i % QK] as f64
                            * a.d[r * nb + i / QK] as f64
                            * wd[i] as f64
                    })
                    .sum();
                assert!(
                    (got as f64 - exact).abs() < 1e-3 * (1.0 + exact.abs()),
                    "{:?}: {got} vs {exact}",
                    B::DTYPE
                );
            }
            for isa in supported_isas() {
                let mut got4 = [0.0f32; 4];
                dot_rows::<B, 4>(isa, &w, &a, 0, &mut got4);
                let mut got1 = [0.0f32; 1];
                dot_rows::<B, 1>(isa, &w, &a, 1, &mut got1);
                let mut got2 = [0.0f32; 2];
                dot_rows::<B, 2>(isa, &w, &a, 2, &mut got2);
                let pairs = got4.iter().zip(&want).chain([
                    (&got1[0], &want[1]),
                    (&got2[0], &want[2]),
                    (&got2[1], &want[3]),
                ]);
                for (g, e) in pairs {
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
    #[should_panic(expected = "QuantActs arrays shorter")]
    fn inconsistent_activations_are_refused() {
        let w = [BlockQ4_1::quantize(&[0.5; 32])];
        let a = QuantActs {
            rows: 1,
            nb: 1,
            ..Default::default()
        };
        let mut out = [0.0f32; 1];
        dot_rows::<BlockQ4_1, 1>(crate::kernels::cpu::isa(), &w, &a, 0, &mut out);
    }

    #[test]
    fn a16_quantization() {
        let mut x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        x.extend([0.0; 32]);
        let mut a = QuantActs::default();
        a.quantize(&x, 1, 64);
        assert_eq!((a.rows, a.nb), (1, 2));
        assert_eq!(a.d[0], 16.0 / 32767.0);
        assert_eq!(a.qs[0][0], -32767);
        assert_eq!(a.qs[0][16], 0);
        let sum: i32 = a.qs[0].iter().map(|&q| q as i32).sum();
        assert_eq!(a.ds[0], a.d[0] * sum as f32);
        assert_eq!((a.d[1], a.ds[1], a.qs[1]), (0.0, 0.0, [0; 32]));
    }
}
