//! Integer dot products of the 5-bit formats (Q5_0, Q5_1) and the K-quants (Q4_K, Q5_K,
//! Q6_K) with the same 16-bit activations as `qdot` (`QuantActs`, blocks of 32).
//!
//! Every one of these formats cuts into chunks of 32 values that line up with the
//! activation blocks: one chunk per Q5 block, eight per K-quant super-block. Within a
//! chunk the weights are `w_i = s(i) · u_i + o` with small signed integers `u_i` (at
//! most 6 bits), a scale `s` constant over each half of 16 values (Q6_K's sub-blocks are
//! 16 long; the others use one scale for both halves) and an offset `o` (the minimum of
//! Q5_1, Q4_K, Q5_K; zero otherwise, the formats' biases being folded into `u`). Against
//! an activation block `x_i = d_a · q_i`:
//!
//! ```text
//! dot = d_a · (s_lo · Σ_{i<16} u_i q_i + s_hi · Σ_{i≥16} u_i q_i) + o · (d_a · Σ q)
//! ```
//!
//! The two integer half-sums come out of one `vpdpwssd` (its 16 lanes hold pairs 0..7 of
//! the first half and 8..15 of the second), or two `vpmaddwd` on AVX2, and are scaled by a
//! vector holding `s_lo` in the low lanes and `s_hi` in the high ones. ggml instead
//! quantizes activations to 8 bits per 256 (`block_q8_K`); 16 bits per 32 keep the
//! accuracy argument of `qdot` and let one activation layout serve every format.

use super::cpu::Isa;
use super::kquant::{q5_values, scale_min, BlockQ4K, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K};
use super::qdot::QuantActs;
use super::quant::{QuantBlock, QK};

/// A block format made of 32-value chunks with small-integer weights.
///
/// # Safety
/// `chunk_bytes` implementations read only inside `self`, and only for `c < CHUNKS`.
pub unsafe trait ChunkDot: QuantBlock {
    /// 32-value chunks per block (`BLOCK / 32`).
    const CHUNKS: usize;
    /// Chunk `c`'s integer weights `u` (signed, |u| ≤ 32).
    fn chunk_values(&self, c: usize) -> [i8; QK];
    /// Every chunk's `[s_lo, s_hi, o]` (the first `CHUNKS` entries), decoded once per
    /// block: the f16 super-scales are converted once, not once per chunk.
    fn scales(&self) -> [[f32; 3]; MAX_CHUNKS];
    /// `chunk_values` in a register, built with AVX2 byte operations.
    ///
    /// # Safety
    /// The CPU must support AVX2; `c < CHUNKS`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn chunk_bytes(&self, c: usize) -> std::arch::x86_64::__m256i;
}

/// Most chunks in a block (the K-quants' 8).
pub const MAX_CHUNKS: usize = 8;

/// `out[r] = w · a[row0 + r]` for `R` activation rows; `w` is one weight row.
#[inline]
pub fn dot_rows<B: ChunkDot, const R: usize>(
    isa: Isa,
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    assert!(
        w.len().checked_mul(B::CHUNKS) == Some(a.nb),
        "kdot::dot_rows: weight row and activations differ in length"
    );
    a.check_rows::<R>(row0);
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only selected when the CPU reports AVX-512 F/BW/VL,
        // VNNI, AVX2 and FMA; the shapes were checked above.
        Isa::Avx512 => unsafe { x86::dot_rows_vnni::<B, R>(w, a, row0, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only selected when the CPU reports AVX2 and FMA; the
        // shapes were checked above.
        Isa::Avx2 => unsafe { x86::dot_rows_avx2::<B, R>(w, a, row0, out) },
        _ => dot_rows_scalar::<B, R>(w, a, row0, out),
    }
}

/// The reference: exact integer half-sums per chunk, then the scales and offset.
pub fn dot_rows_scalar<B: ChunkDot, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    let nb = a.nb;
    *out = [0.0; R];
    for (j, wb) in w.iter().enumerate() {
        let scales = wb.scales();
        for (c, &[s_lo, s_hi, o]) in scales.iter().enumerate().take(B::CHUNKS) {
            let u = wb.chunk_values(c);
            for (r, acc) in out.iter_mut().enumerate() {
                let b = (row0 + r) * nb + j * B::CHUNKS + c;
                let q = &a.qs[b];
                let half = |h: usize| -> i32 {
                    (16 * h..16 * h + 16)
                        .map(|i| u[i] as i32 * q[i] as i32)
                        .sum()
                };
                *acc += a.d[b] * (s_lo * half(0) as f32 + s_hi * half(1) as f32) + o * a.ds[b];
            }
        }
    }
}

/// The 5-bit values of a Q5 block, minus `bias`.
fn q5_chunk(qh: [u8; 4], qs: &[u8; QK / 2], bias: i8) -> [i8; QK] {
    q5_values(qh, qs).map(|q| q as i8 - bias)
}

/// Q4_K / Q5_K chunk `c`: low (even c) or high (odd c) nibbles of `qs[32·(c/2)..]`, plus
/// bit `c` of each `qh` byte as the fifth bit for Q5_K.
fn k_chunk(qs: &[u8], qh: Option<&[u8; 32]>, c: usize) -> [i8; QK] {
    let q = &qs[32 * (c / 2)..32 * (c / 2) + 32];
    let mut u = [0i8; QK];
    for l in 0..QK {
        let nib = if c.is_multiple_of(2) {
            q[l] & 0x0f
        } else {
            q[l] >> 4
        };
        let high = qh.map_or(0, |h| ((h[l] >> c) & 1) << 4);
        u[l] = (nib | high) as i8;
    }
    u
}

/// Q4_K / Q5_K chunk scales: `d·sc_c` for both halves, offset `−dmin·m_c`.
#[inline(always)]
fn k_scales(d: f32, dmin: f32, packed: &[u8; 12]) -> [[f32; 3]; MAX_CHUNKS] {
    std::array::from_fn(|c| {
        let (sc, m) = scale_min(c, packed);
        [d * sc, d * sc, -dmin * m]
    })
}

// SAFETY: `chunk_bytes` reads the 16 bytes of `qs` and the 4 of `qh`.
unsafe impl ChunkDot for BlockQ5_0 {
    const CHUNKS: usize = 1;
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        q5_chunk(self.qh, &self.qs, 16)
    }
    #[inline(always)]
    fn scales(&self) -> [[f32; 3]; MAX_CHUNKS] {
        let d = self.d.to_f32();
        let mut s = [[0.0; 3]; MAX_CHUNKS];
        s[0] = [d, d, 0.0];
        s
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5_bytes(&self.qs, self.qh, 16) }
    }
}

// SAFETY: as for Q5_0.
unsafe impl ChunkDot for BlockQ5_1 {
    const CHUNKS: usize = 1;
    #[inline(always)]
    fn chunk_values(&self, _: usize) -> [i8; QK] {
        q5_chunk(self.qh, &self.qs, 0)
    }
    #[inline(always)]
    fn scales(&self) -> [[f32; 3]; MAX_CHUNKS] {
        let d = self.d.to_f32();
        let mut s = [[0.0; 3]; MAX_CHUNKS];
        s[0] = [d, d, self.m.to_f32()];
        s
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes(&self, _: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2.
        unsafe { x86::q5_bytes(&self.qs, self.qh, 0) }
    }
}

// SAFETY: `chunk_bytes` reads 32 bytes of the 128-byte `qs` at 32·(c/2), c < 8.
unsafe impl ChunkDot for BlockQ4K {
    const CHUNKS: usize = 8;
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        k_chunk(&self.qs, None, c)
    }
    #[inline(always)]
    fn scales(&self) -> [[f32; 3]; MAX_CHUNKS] {
        k_scales(self.d.to_f32(), self.dmin.to_f32(), &self.scales)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::k_bytes(&self.qs, None, c) }
    }
}

// SAFETY: as for Q4_K, plus the 32 bytes of `qh`.
unsafe impl ChunkDot for BlockQ5K {
    const CHUNKS: usize = 8;
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        k_chunk(&self.qs, Some(&self.qh), c)
    }
    #[inline(always)]
    fn scales(&self) -> [[f32; 3]; MAX_CHUNKS] {
        k_scales(self.d.to_f32(), self.dmin.to_f32(), &self.scales)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::k_bytes(&self.qs, Some(&self.qh), c) }
    }
}

/// Q6_K chunk `c` = (half `n = c/4`, quarter `k = c%4`): low (k < 2) or high nibbles of
/// `ql[64n + 32·(k%2) ..]`, with bits `2k, 2k+1` of `qh[32n ..]` on top, minus 32.
// SAFETY: `chunk_bytes` reads 32 bytes of `ql` at 64n + 32(k%2) ≤ 96 and of `qh` at 32n.
unsafe impl ChunkDot for BlockQ6K {
    const CHUNKS: usize = 8;
    #[inline(always)]
    fn chunk_values(&self, c: usize) -> [i8; QK] {
        let (n, k) = (c / 4, c % 4);
        let ql = &self.ql[64 * n + 32 * (k % 2)..][..32];
        let qh = &self.qh[32 * n..][..32];
        let mut u = [0i8; QK];
        for l in 0..QK {
            let nib = if k < 2 { ql[l] & 0x0f } else { ql[l] >> 4 };
            u[l] = (nib | (((qh[l] >> (2 * k)) & 3) << 4)) as i8 - 32;
        }
        u
    }
    #[inline(always)]
    fn scales(&self) -> [[f32; 3]; MAX_CHUNKS] {
        // Chunk c = (n, k) uses sub-block scales 8n + 2k and 8n + 2k + 1: in order.
        let d = self.d.to_f32();
        std::array::from_fn(|c| {
            [
                d * self.scales[2 * c] as f32,
                d * self.scales[2 * c + 1] as f32,
                0.0,
            ]
        })
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn chunk_bytes(&self, c: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller guarantees AVX2 and c < 8.
        unsafe { x86::q6k_bytes(&self.ql, &self.qh, c) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{ChunkDot, QuantActs};

    /// 32 values of a Q5 block: nibbles (values 0..16 low, 16..32 high) and the fifth bits
    /// of `qh` spread one per byte, minus `bias`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn q5_bytes(qs: &[u8; 16], qh: [u8; 4], bias: i8) -> __m256i {
        // SAFETY: `qs` is 16 bytes.
        let x = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
        let m4 = _mm_set1_epi8(0x0f);
        let nib = _mm256_set_m128i(
            _mm_and_si128(_mm_srli_epi16(x, 4), m4),
            _mm_and_si128(x, m4),
        );
        // Byte i gets byte i/8 of qh, then its bit i%8.
        let bits = _mm256_shuffle_epi8(
            _mm256_set1_epi32(i32::from_le_bytes(qh)),
            _mm256_setr_epi8(
                0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
                3, 3, 3, 3,
            ),
        );
        let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        let high = _mm256_and_si256(
            _mm256_cmpeq_epi8(_mm256_and_si256(bits, sel), sel),
            _mm256_set1_epi8(0x10),
        );
        _mm256_sub_epi8(_mm256_or_si256(nib, high), _mm256_set1_epi8(bias))
    }

    /// Q4_K / Q5_K chunk `c` (see `k_chunk`).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn k_bytes(qs: &[u8; 128], qh: Option<&[u8; 32]>, c: usize) -> __m256i {
        // SAFETY: c < 8, so 32·(c/2) + 32 ≤ 128.
        let q = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * (c / 2)) as *const __m256i) };
        let m4 = _mm256_set1_epi8(0x0f);
        let nib = if c.is_multiple_of(2) {
            _mm256_and_si256(q, m4)
        } else {
            _mm256_and_si256(_mm256_srli_epi16(q, 4), m4)
        };
        match qh {
            None => nib,
            Some(h) => {
                // SAFETY: `h` is 32 bytes.
                let h = unsafe { _mm256_loadu_si256(h.as_ptr() as *const __m256i) };
                let bit = _mm256_set1_epi8((1u8 << c) as i8);
                let high = _mm256_and_si256(
                    _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit),
                    _mm256_set1_epi8(0x10),
                );
                _mm256_or_si256(nib, high)
            }
        }
    }

    /// Q6_K chunk `c` (see `BlockQ6K::chunk_values`).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn q6k_bytes(ql: &[u8; 128], qh: &[u8; 64], c: usize) -> __m256i {
        let (n, k) = (c / 4, c % 4);
        // SAFETY: c < 8: 64n + 32(k%2) + 32 ≤ 128 and 32n + 32 ≤ 64.
        let (l, h) = unsafe {
            (
                _mm256_loadu_si256(ql.as_ptr().add(64 * n + 32 * (k % 2)) as *const __m256i),
                _mm256_loadu_si256(qh.as_ptr().add(32 * n) as *const __m256i),
            )
        };
        let m4 = _mm256_set1_epi8(0x0f);
        let nib = if k < 2 {
            _mm256_and_si256(l, m4)
        } else {
            _mm256_and_si256(_mm256_srli_epi16(l, 4), m4)
        };
        // Shifting 16-bit lanes by 2k ≤ 6 keeps each byte's own bits 2k, 2k+1 at 0, 1.
        let hb = _mm256_and_si256(
            _mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * k as i32)),
            _mm256_set1_epi8(3),
        );
        _mm256_sub_epi8(
            _mm256_or_si256(nib, _mm256_slli_epi16(hb, 4)),
            _mm256_set1_epi8(32),
        )
    }

    /// AVX-512 VNNI: per chunk, the values widened to 32 i16, one `vpdpwssd` per row and
    /// one FMA by the lane scales `[s_lo·d_a ×8, s_hi·d_a ×8]`. Two accumulators per row
    /// (even and odd chunks) hide the FMA latency.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub unsafe fn dot_rows_vnni<B: ChunkDot, const R: usize>(
        w: &[B],
        a: &QuantActs,
        row0: usize,
        out: &mut [f32; R],
    ) {
        let nb = a.nb;
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let mut corr = [0.0f32; R];
        for (j, wb) in w.iter().enumerate() {
            let scales = wb.scales();
            for (c, &[s_lo, s_hi, o]) in scales.iter().enumerate().take(B::CHUNKS) {
                // SAFETY: AVX2 is enabled here; c < CHUNKS.
                let w16 = _mm512_cvtepi8_epi16(unsafe { wb.chunk_bytes(c) });
                let s = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(s_lo), _mm512_set1_ps(s_hi));
                for r in 0..R {
                    let b = (row0 + r) * nb + j * B::CHUNKS + c;
                    // SAFETY: block b exists (checked by the caller); `qs` blocks are 64 bytes.
                    let (av, da, ds) = unsafe {
                        (
                            _mm512_loadu_si512(a.qs.as_ptr().add(b) as *const _),
                            *a.d.get_unchecked(b),
                            *a.ds.get_unchecked(b),
                        )
                    };
                    let p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, av);
                    let acc_r = &mut acc[r][c & 1];
                    *acc_r = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(p),
                        _mm512_mul_ps(s, _mm512_set1_ps(da)),
                        *acc_r,
                    );
                    corr[r] += o * ds;
                }
            }
        }
        for r in 0..R {
            out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1])) + corr[r];
        }
    }

    /// AVX2: each half of a chunk widened to 16 i16, `vpmaddwd` against the activations,
    /// one FMA per half by its scale.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows_avx2<B: ChunkDot, const R: usize>(
        w: &[B],
        a: &QuantActs,
        row0: usize,
        out: &mut [f32; R],
    ) {
        let nb = a.nb;
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let mut corr = [0.0f32; R];
        for (j, wb) in w.iter().enumerate() {
            let scales = wb.scales();
            for (c, &[s_lo, s_hi, o]) in scales.iter().enumerate().take(B::CHUNKS) {
                // SAFETY: AVX2 is enabled here; c < CHUNKS.
                let bytes = unsafe { wb.chunk_bytes(c) };
                let w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(bytes));
                let w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(bytes, 1));
                for r in 0..R {
                    let b = (row0 + r) * nb + j * B::CHUNKS + c;
                    // SAFETY: block b exists (checked by the caller); `qs` blocks are 64 bytes.
                    let (a0, a1, da, ds) = unsafe {
                        let p = a.qs.as_ptr().add(b) as *const __m256i;
                        (
                            _mm256_loadu_si256(p),
                            _mm256_loadu_si256(p.add(1)),
                            *a.d.get_unchecked(b),
                            *a.ds.get_unchecked(b),
                        )
                    };
                    let p0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(w0, a0));
                    let p1 = _mm256_cvtepi32_ps(_mm256_madd_epi16(w1, a1));
                    acc[r][0] = _mm256_fmadd_ps(p0, _mm256_set1_ps(s_lo * da), acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(p1, _mm256_set1_ps(s_hi * da), acc[r][1]);
                    corr[r] += o * ds;
                }
            }
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
    use half::f16;

    /// Deterministic pseudo-random bytes.
    fn bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(7);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 11) as u8
            })
            .collect()
    }

    /// Random blocks of format `B` with every byte random except the f16 scales, which are
    /// set to modest values by `fix`.
    fn blocks<B: ChunkDot>(n: usize, seed: u32, fix: impl Fn(&mut B, usize)) -> Vec<B> {
        let raw = bytes(n * std::mem::size_of::<B>(), seed);
        let mut v = vec![B::zeroed(); n];
        bytemuck::cast_slice_mut::<B, u8>(&mut v).copy_from_slice(&raw);
        v.iter_mut().enumerate().for_each(|(i, b)| fix(b, i));
        v
    }

    fn h(i: usize, k: f32) -> f16 {
        f16::from_f32(k * (1.0 + (i % 7) as f32 * 0.1))
    }

    /// The chunk decomposition reproduces `dequantize` exactly (up to f32 rounding), and
    /// every ISA's kernel matches the scalar reference on row counts 1..=4 and block counts
    /// around the unroll.
    fn check<B: ChunkDot>(fix: impl Fn(&mut B, usize) + Copy) {
        for nblocks in [1usize, 2, 3, 5] {
            let w = blocks::<B>(nblocks, nblocks as u32, fix);
            let mut deq = vec![0.0; nblocks * B::BLOCK];
            crate::kernels::quant::dequantize_blocks(&w, &mut deq);
            for (j, wb) in w.iter().enumerate() {
                for c in 0..B::CHUNKS {
                    let (u, [s_lo, s_hi, o]) = (wb.chunk_values(c), wb.scales()[c]);
                    for i in 0..QK {
                        let s = if i < 16 { s_lo } else { s_hi };
                        let want = deq[j * B::BLOCK + c * QK + i];
                        let got = s * u[i] as f32 + o;
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{:?} block {j} chunk {c} value {i}: {got} vs {want}",
                            B::DTYPE
                        );
                    }
                }
            }
            let k = nblocks * B::BLOCK;
            let x: Vec<f32> = bytes(4 * k, 99)
                .iter()
                .map(|&b| (b as f32 - 127.5) / 50.0)
                .collect();
            let mut a = QuantActs::default();
            a.quantize(&x, 4, k);
            // The scalar kernel against f64 on the dequantized weights.
            let mut want = [0.0f32; 4];
            dot_rows_scalar::<B, 4>(&w, &a, 0, &mut want);
            for (r, &got) in want.iter().enumerate() {
                let exact: f64 = (0..k)
                    .map(|i| {
                        let b = r * a.nb + i / QK;
                        a.qs[b][i % QK] as f64 * a.d[b] as f64 * deq[i] as f64
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
                dot_rows::<B, 1>(isa, &w, &a, 3, &mut got1);
                let mut got3 = [0.0f32; 3];
                dot_rows::<B, 3>(isa, &w, &a, 1, &mut got3);
                let pairs = got4
                    .iter()
                    .zip(&want)
                    .chain([(&got1[0], &want[3])])
                    .chain(got3.iter().zip(&want[1..]));
                for (g, e) in pairs {
                    assert!(
                        (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{:?} {isa:?} blocks {nblocks}: {g} vs {e}",
                        B::DTYPE
                    );
                }
            }
        }
    }

    #[test]
    fn every_isa_matches_the_scalar_reference() {
        check::<BlockQ5_0>(|b, i| b.d = h(i, 0.01));
        check::<BlockQ5_1>(|b, i| (b.d, b.m) = (h(i, 0.01), h(i, -0.1)));
        check::<BlockQ4K>(|b, i| (b.d, b.dmin) = (h(i, 0.002), h(i, 0.003)));
        check::<BlockQ5K>(|b, i| (b.d, b.dmin) = (h(i, 0.001), h(i, 0.002)));
        check::<BlockQ6K>(|b, i| b.d = h(i, 0.0005));
    }
}
