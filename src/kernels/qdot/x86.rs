//! The x86 kernels of `qdot`: AVX-512 VNNI and AVX2.

use std::arch::x86_64::*;

use super::split::SplitRow;
use super::{group_scales, QuantActs};
use crate::kernels::formats::Block;

/// Horizontal sum of 8 floats.
#[inline]
#[target_feature(enable = "avx")]
fn hsum256(v: __m256) -> f32 {
    let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)))
}

/// The f16 scales (and offsets) at the start of blocks `j0 .. j0 + 16` (lanes in
/// `mask`), converted: one gather of each block's first 4 bytes.
///
/// # Safety
/// AVX-512 F/BW and F16C; `B::HEAD_SCALE`; the masked-in blocks lie inside `w`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2,f16c")]
unsafe fn head_scales16<B: Block>(w: &[B], j0: usize, mask: __mmask16) -> (__m512, __m512) {
    const { assert!(!B::HEAD_SCALE || std::mem::size_of::<B>() >= 4) };
    let size = std::mem::size_of::<B>() as i32;
    let offsets = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(size),
    );
    // SAFETY: lanes in `mask` read the first 4 bytes of blocks inside `w` (each is at
    // least 4 bytes); masked-out lanes read nothing.
    let raw = unsafe {
        _mm512_mask_i32gather_epi32::<1>(
            _mm512_setzero_si512(),
            mask,
            offsets,
            w.as_ptr().add(j0).cast(),
        )
    };
    let d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
    let m = if B::OFFSET {
        _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(raw, 16)))
    } else {
        _mm512_setzero_ps()
    };
    (d, m)
}

/// `head_scales16` for blocks `j0 .. j0 + g` (`g ≤ 8`; lanes from `g` on are zero),
/// with AVX2: eight scalar loads inserted into one register. A `vpgatherdd` is
/// microcoded on AMD (Zen 3 and 4) and its latency showed in profiles as the kernel's
/// hottest instruction.
///
/// # Safety
/// AVX2 and F16C; `B::HEAD_SCALE`; blocks `j0 .. j0 + g` lie inside `w`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn head_scales8<B: Block>(w: &[B], j0: usize, g: usize) -> (__m256, __m256) {
    const { assert!(!B::HEAD_SCALE || std::mem::size_of::<B>() >= 4) };
    let head = |i: usize| -> i32 {
        if i < g {
            // SAFETY: block j0 + i lies inside `w` (i < g) and is at least 4 bytes.
            unsafe { std::ptr::read_unaligned(w.as_ptr().add(j0 + i).cast::<i32>()) }
        } else {
            0
        }
    };
    let raw = _mm256_setr_epi32(
        head(0),
        head(1),
        head(2),
        head(3),
        head(4),
        head(5),
        head(6),
        head(7),
    );
    // The low (d) or high (m) 16 bits of each lane, packed into 8 u16, converted.
    let half = |x: __m256i| {
        let p = _mm256_packus_epi32(x, x);
        _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b1000>(
            p,
        )))
    };
    let d = half(_mm256_and_si256(raw, _mm256_set1_epi32(0xffff)));
    let m = if B::OFFSET {
        half(_mm256_srli_epi32(raw, 16))
    } else {
        _mm256_setzero_ps()
    };
    (d, m)
}

/// AVX-512 VNNI. Chunks go in groups of 16: their scales times the rows' activation
/// scales are formed as vectors (and the offset terms accumulated against the
/// activation sums), then each chunk is unpacked once, widened to 32 i16, and
/// multiplied into each row with one `vpdpwssd` and one FMA. Two accumulators per row
/// (even and odd chunks) hide the FMA latency.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_rows_vnni<B: Block, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    if R == 1 {
        // One row (decode): the AVX2 kernel, 256 bits wide with its scales in
        // registers, decoded 7% more tokens/s on Zen 4 than a 512-bit one-row kernel
        // with per-block scalar scales (generate, alternating runs, medians 181.7 vs
        // 169.3).

        // SAFETY: this function's features include AVX2, FMA and F16C; same contract.
        unsafe { dot_rows_avx2::<B, R>(w, a, row0, out) };
        return;
    }
    let nb = a.nb;
    // Two accumulators per row, for even and odd chunks; indexed by constants only,
    // so that they stay in registers.
    let (mut acc0, mut acc1) = ([_mm512_setzero_ps(); R], [_mm512_setzero_ps(); R]);
    let mut corr = [_mm512_setzero_ps(); R];
    let (mut sc_lo, mut sc_hi) = ([[0.0f32; 16]; R], [[0.0f32; 16]; R]);
    // Each group's scales are decoded one group ahead: vector loads right after the
    // scalar stores that wrote them would stall on store forwarding.
    let mut next = if B::HEAD_SCALE {
        [[0.0; 16]; 4]
    } else {
        group_scales::<B, 16>(w, 0)
    };
    let mut t0 = 0;
    while t0 < nb {
        let g = (nb - t0).min(16);
        let mask: __mmask16 = if g == 16 { 0xffff } else { (1u16 << g) - 1 };
        let (lo, hi, off, off_lo) = if B::HEAD_SCALE {
            // SAFETY: t0 + g ≤ nb = w.len() (one chunk per block).
            let (d, m) = unsafe { head_scales16(w, t0, mask) };
            (d, d, m, _mm512_setzero_ps())
        } else {
            let [lo, hi, off, off_lo] = next;
            if t0 + g < nb {
                next = group_scales::<B, 16>(w, t0 + g);
            }
            // SAFETY: the arrays hold 16 floats.
            unsafe {
                (
                    _mm512_loadu_ps(lo.as_ptr()),
                    _mm512_loadu_ps(hi.as_ptr()),
                    _mm512_loadu_ps(off.as_ptr()),
                    _mm512_loadu_ps(off_lo.as_ptr()),
                )
            }
        };
        for r in 0..R {
            let b = (row0 + r) * nb + t0;
            // SAFETY: the caller checked rows row0..row0+R exist; lanes < g are inside.
            let da = unsafe { _mm512_maskz_loadu_ps(mask, a.d.as_ptr().add(b)) };
            // SAFETY: `sc_lo[r]`, `sc_hi[r]` hold 16 floats.
            unsafe {
                _mm512_storeu_ps(sc_lo[r].as_mut_ptr(), _mm512_mul_ps(lo, da));
                if !B::UNIFORM {
                    _mm512_storeu_ps(sc_hi[r].as_mut_ptr(), _mm512_mul_ps(hi, da));
                }
            }
            if B::OFFSET {
                // SAFETY: as for `da`.
                let ds = unsafe { _mm512_maskz_loadu_ps(mask, a.ds.as_ptr().add(b)) };
                corr[r] = _mm512_fmadd_ps(off, ds, corr[r]);
            }
            if B::OFFSET_LO {
                // SAFETY: as for `da`.
                let ds = unsafe { _mm512_maskz_loadu_ps(mask, a.ds_lo.as_ptr().add(b)) };
                corr[r] = _mm512_fmadd_ps(off_lo, ds, corr[r]);
            }
        }
        let chunk = |tt: usize, acc: &mut [__m512; R]| {
            let t = t0 + tt;
            // SAFETY: t < nb, so block t / CHUNKS < w.len() and t % CHUNKS < CHUNKS;
            // AVX2 is enabled here.
            let bytes = unsafe {
                w.get_unchecked(t / B::CHUNKS)
                    .chunk_bytes_avx2(t % B::CHUNKS)
            };
            let w16 = _mm512_cvtepi8_epi16(bytes);
            for r in 0..R {
                let b = (row0 + r) * nb + t;
                // SAFETY: block b exists (checked by the caller); `qs` blocks are 64 bytes.
                let av = unsafe { _mm512_loadu_si512(a.qs.as_ptr().add(b).cast()) };
                let p = _mm512_cvtepi32_ps(_mm512_dpwssd_epi32(_mm512_setzero_si512(), w16, av));
                let s = if B::UNIFORM {
                    _mm512_set1_ps(sc_lo[r][tt])
                } else {
                    _mm512_mask_blend_ps(
                        0xff00,
                        _mm512_set1_ps(sc_lo[r][tt]),
                        _mm512_set1_ps(sc_hi[r][tt]),
                    )
                };
                acc[r] = _mm512_fmadd_ps(p, s, acc[r]);
            }
        };
        let mut tt = 0;
        while tt + 1 < g {
            chunk(tt, &mut acc0);
            chunk(tt + 1, &mut acc1);
            tt += 2;
        }
        if tt < g {
            chunk(tt, &mut acc0);
        }
        t0 += g;
    }
    for r in 0..R {
        let sum = _mm512_add_ps(_mm512_add_ps(acc0[r], acc1[r]), corr[r]);
        out[r] = _mm512_reduce_add_ps(sum);
    }
}

/// AVX2 on a weight row in the file's block layout: `dot_src_avx2`.
///
/// # Safety
/// AVX2, FMA and F16C; `w` holds `a.nb / B::CHUNKS` blocks; rows `row0 .. row0 + R`
/// exist in `a` (`QuantActs::check_rows`).
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_avx2<B: Block, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    // SAFETY: the same contract.
    unsafe { dot_src_avx2::<B, R, &[B]>(w, a, row0, out) }
}

/// AVX2 on a weight row in the split layout (`qdot::split`): `dot_src_avx2`.
///
/// Inlined into the row loops (`qdot::rows`), so a decode row pays no call and its
/// setup is hoisted: Gemma 3's and SmolLM2's rows are only 20 and 18 blocks.
/// `generate`, AVX2, alternating, medians of 7, decode tok/s from an empty context:
/// Gemma 3 116.0 → 122.9, SmolLM2 212.0 → 231.6 (AVX-512: 211.7 → 245.2; at depth 512,
/// AVX2: 160.3 → 172.8). The file layout's kernels (K-quants)
/// measured the same inlined or not (111.3 vs 110.2, medians of 9).
///
/// # Safety
/// AVX2, FMA and F16C; `B` splits; `w` is a row of `a.nb` blocks of a `SplitView`; rows
/// `row0 .. row0 + R` exist in `a`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_split_avx2<B: Block, const R: usize>(
    w: SplitRow,
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    debug_assert!(w.tails.len() == a.nb * (std::mem::size_of::<B>() - B::HEAD_BYTES));
    debug_assert!(w.d.len() >= a.nb + 8 && (!B::OFFSET || w.m.len() >= a.nb + 8));
    // SAFETY: the same contract.
    unsafe { dot_src_avx2::<B, R, SplitRow>(w, a, row0, out) }
}

/// How far ahead of its reads the one-row kernel prefetches a matrix's quants, in bytes
/// (the rows are contiguous, so this reaches into the next rows): decode streams every
/// weight from L3 or DRAM once per token, and the hardware prefetchers alone left the
/// kernel waiting. Measured with `generate`, alternating runs, medians of 7, decode
/// tok/s without → with. The split layout's quants, on Zen 5: SmolLM2 186.5 → 211.6
/// (AVX-512), 180.3 → 193.4 (AVX2), 173.6 → 195.3 at depth 512 (AVX-512); Gemma 3 84.4 →
/// 90.1 (AVX-512), 89.5 → 90.9 (AVX2); 1 KB and 4 KB measured like 2 KB. The K-quants'
/// blocks in the file layout, one prefetch per cache line of the block 2 KB ahead, each
/// group: nothing on Zen 5 (with a prefetch per chunk then), but on an Intel Xeon
/// (Sapphire Rapids class) Gemma 3 from an empty context 90.9 → 108.2 (AVX-512), 94.6
/// → 107.3 (AVX2); 1 KB 107.4 and 4 KB 108.0.
const ROW_PREFETCH: usize = 2048;

/// Where the AVX2 kernel reads one weight row of `nb` chunks.
trait RowSrc<B: Block>: Copy {
    /// Chunk `t0 + tt` widened to 16 bits, named by its group `t0` (a multiple of 8) and
    /// its place `tt` in it: for 8-chunk blocks the group is one block, so that with `tt`
    /// a constant of the unrolled group loop the block's address is found once per group
    /// and each chunk's bytes sit at a fixed offset from it. Safety: AVX2; `t0 + tt < nb`,
    /// `tt < 8`.
    unsafe fn chunk_i16(self, t0: usize, tt: usize) -> (__m256i, __m256i);
    /// Prefetches the weights `ROW_PREFETCH` bytes ahead of the group at `t0`, where the
    /// source does it per group (the split layout does it per chunk, in `chunk_i16`).
    /// Needs SSE.
    #[inline(always)]
    fn prefetch_group(self, _t0: usize) {}
    /// Scales and offsets of the one-chunk blocks `j0 .. j0 + g` (`g ≤ 8`); other lanes
    /// are finite. Safety: AVX2 and F16C; `B::HEAD_SCALE`; `j0 + g ≤ nb`.
    unsafe fn heads8(self, j0: usize, g: usize) -> (__m256, __m256);
    /// Scales of chunks `t0 .. t0 + 8` (zero past the row's end), as `group_scales`
    /// (lo, hi, off, off_lo). Safety: AVX2; `t0 < nb`.
    unsafe fn scales8(self, t0: usize) -> [__m256; 4];
}

impl<B: Block> RowSrc<B> for &[B] {
    #[inline(always)]
    unsafe fn chunk_i16(self, t0: usize, tt: usize) -> (__m256i, __m256i) {
        const { assert!(8 % B::CHUNKS == 0) };
        // CHUNKS divides 8 and so t0: chunk t0 + tt is chunk tt % CHUNKS of block
        // t0 / CHUNKS + tt / CHUNKS (for 8-chunk blocks, chunk tt of block t0 / 8).
        // SAFETY: t0 + tt < nb, so that block exists; AVX2 by the caller.
        unsafe {
            self.get_unchecked(t0 / B::CHUNKS + tt / B::CHUNKS)
                .chunk_i16_avx2(tt % B::CHUNKS)
        }
    }
    #[inline(always)]
    fn prefetch_group(self, t0: usize) {
        if B::CHUNKS == 8 {
            // The block `ROW_PREFETCH` bytes ahead of this group's, line by line.
            let size = std::mem::size_of::<B>();
            let ahead = self
                .as_ptr()
                .cast::<u8>()
                .wrapping_add(t0 / 8 * size + ROW_PREFETCH);
            let mut off = 0;
            while off < size {
                // SAFETY: SSE, implied by AVX2; a prefetch never faults, so an address past
                // the buffer's end is harmless.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(off).cast()) };
                off += 64;
            }
        }
    }
    #[inline(always)]
    unsafe fn heads8(self, j0: usize, g: usize) -> (__m256, __m256) {
        // SAFETY: blocks j0 .. j0 + g lie inside the row; features by the caller.
        unsafe { head_scales8(self, j0, g) }
    }
    #[inline(always)]
    unsafe fn scales8(self, t0: usize) -> [__m256; 4] {
        if B::CHUNKS == 8 {
            // A group is one whole block: t0 is a multiple of 8 and the row holds whole
            // blocks.
            // SAFETY: t0 < nb, so block t0 / 8 lies inside the row; AVX2 by the caller.
            return unsafe { self.get_unchecked(t0 / 8).scales8_avx2() };
        }
        let [lo, hi, off, off_lo] = group_scales::<B, 8>(self, t0);
        // SAFETY: the arrays hold 8 floats; AVX by the caller.
        unsafe {
            [
                _mm256_loadu_ps(lo.as_ptr()),
                _mm256_loadu_ps(hi.as_ptr()),
                _mm256_loadu_ps(off.as_ptr()),
                _mm256_loadu_ps(off_lo.as_ptr()),
            ]
        }
    }
}

impl<B: Block> RowSrc<B> for SplitRow<'_> {
    #[inline(always)]
    unsafe fn chunk_i16(self, t0: usize, tt: usize) -> (__m256i, __m256i) {
        let (t, tail) = (t0 + tt, std::mem::size_of::<B>() - B::HEAD_BYTES);
        // The weights `ROW_PREFETCH` bytes ahead.
        let ahead = self.tails.as_ptr().wrapping_add(t * tail + ROW_PREFETCH);
        // SAFETY: SSE, implied by AVX2; a prefetch never faults, so an address past the
        // buffer's end is harmless.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.cast()) };
        // SAFETY: t < nb and the row holds nb tails; AVX2 by the caller.
        unsafe { B::split_tail_i16_avx2(self.tails.get_unchecked(t * tail..(t + 1) * tail)) }
    }
    #[inline(always)]
    unsafe fn heads8(self, j0: usize, _: usize) -> (__m256, __m256) {
        // SAFETY: a split row's arrays run at least 8 entries past its nb blocks (the
        // next rows' heads, or the zero padding, all finite), and j0 < nb; F16C by the
        // caller.
        unsafe {
            let d = _mm256_cvtph_ps(_mm_loadu_si128(self.d.as_ptr().add(j0).cast()));
            let m = if B::OFFSET {
                _mm256_cvtph_ps(_mm_loadu_si128(self.m.as_ptr().add(j0).cast()))
            } else {
                _mm256_setzero_ps()
            };
            (d, m)
        }
    }
    #[inline(always)]
    unsafe fn scales8(self, _: usize) -> [__m256; 4] {
        unreachable!("only head-scale formats split, and their kernels read `heads8`")
    }
}

/// AVX2: groups of 8 chunks; each chunk's halves widened to 16 i16 and multiplied
/// with `vpmaddwd`, one FMA per half by its scale. The group's scales times the
/// activation scales stay in registers, and each chunk picks its lane with a permute:
/// a round trip through the stack would stall on store forwarding. The scales of
/// one-chunk formats are loaded one group ahead, so their latency hides behind the
/// current group's work.
///
/// # Safety
/// AVX2, FMA and F16C; `w` holds `a.nb` chunks; rows `row0 .. row0 + R` exist in `a`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_src_avx2<B: Block, const R: usize, W: RowSrc<B>>(
    w: W,
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    let nb = a.nb;
    debug_assert!(nb.is_multiple_of(B::CHUNKS), "a row holds whole blocks");
    // Two accumulators per row (even and odd chunks, or low and high halves), indexed
    // by constants only, so that they stay in registers.
    let (mut acc0, mut acc1) = ([_mm256_setzero_ps(); R], [_mm256_setzero_ps(); R]);
    let mut corr = [_mm256_setzero_ps(); R];
    let (mut sc_lo, mut sc_hi) = ([_mm256_setzero_ps(); R], [_mm256_setzero_ps(); R]);
    // Lanes past the row's end read nothing: a mask for partial groups.
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask_at = |t0: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32((nb - t0).min(8) as i32), lanes);
    // Scales decoded one group ahead, as in the AVX-512 kernel.
    let mut next = if B::HEAD_SCALE || nb == 0 {
        [_mm256_setzero_ps(); 4]
    } else {
        // SAFETY: 0 < nb; AVX2 is enabled here.
        unsafe { w.scales8(0) }
    };
    let mut next_head = if B::HEAD_SCALE {
        // SAFETY: blocks 0..min(nb, 8) lie inside `w` (one chunk each).
        unsafe { w.heads8(0, nb.min(8)) }
    } else {
        (_mm256_setzero_ps(), _mm256_setzero_ps())
    };
    let mut t0 = 0;
    while t0 < nb {
        // A group of an 8-chunk format is one whole block (a row holds whole blocks): a
        // constant length lets the group's chunk loop unroll with constant chunk indices.
        let g = if B::CHUNKS == 8 { 8 } else { (nb - t0).min(8) };
        w.prefetch_group(t0);
        let mask = mask_at(t0);
        let (lo, hi, off, off_lo) = if B::HEAD_SCALE {
            let (d, m) = next_head;
            if t0 + g < nb {
                // SAFETY: as above, for the next group.
                next_head = unsafe { w.heads8(t0 + g, (nb - t0 - g).min(8)) };
            }
            (d, d, m, _mm256_setzero_ps())
        } else {
            let [lo, hi, off, off_lo] = next;
            if t0 + g < nb {
                // SAFETY: t0 + g < nb; AVX2 is enabled here.
                next = unsafe { w.scales8(t0 + g) };
            }
            (lo, hi, off, off_lo)
        };
        for r in 0..R {
            let b = (row0 + r) * nb + t0;
            // SAFETY: rows row0..row0+R exist; masked lanes (≥ g) are not read.
            let da = unsafe { _mm256_maskload_ps(a.d.as_ptr().add(b), mask) };
            sc_lo[r] = _mm256_mul_ps(lo, da);
            if !B::UNIFORM {
                sc_hi[r] = _mm256_mul_ps(hi, da);
            }
            if B::OFFSET {
                // SAFETY: as for `da`.
                let ds = unsafe { _mm256_maskload_ps(a.ds.as_ptr().add(b), mask) };
                corr[r] = _mm256_fmadd_ps(off, ds, corr[r]);
            }
            if B::OFFSET_LO {
                // SAFETY: as for `da`.
                let ds = unsafe { _mm256_maskload_ps(a.ds_lo.as_ptr().add(b), mask) };
                corr[r] = _mm256_fmadd_ps(off_lo, ds, corr[r]);
            }
        }
        // Chunk `tt` into `a0` (and, for two scales per chunk, its high half into `a1`).
        let chunk = |tt: usize, a0: &mut [__m256; R], a1: &mut [__m256; R]| {
            let t = t0 + tt;
            // SAFETY: t < nb, tt < 8, t0 is a multiple of 8; AVX2 is enabled here.
            let (w0, w1) = unsafe { w.chunk_i16(t0, tt) };
            for r in 0..R {
                let b = (row0 + r) * nb + t;
                // SAFETY: block b exists (checked by the caller); `qs` blocks are 64 bytes.
                let (x0, x1) = unsafe {
                    let p = a.qs.as_ptr().add(b) as *const __m256i;
                    (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
                };
                let lane = _mm256_set1_epi32(tt as i32);
                if B::UNIFORM {
                    let p = _mm256_add_epi32(_mm256_madd_epi16(w0, x0), _mm256_madd_epi16(w1, x1));
                    a0[r] = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(p),
                        _mm256_permutevar8x32_ps(sc_lo[r], lane),
                        a0[r],
                    );
                } else {
                    let p0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(w0, x0));
                    let p1 = _mm256_cvtepi32_ps(_mm256_madd_epi16(w1, x1));
                    let (s0, s1) = (
                        _mm256_permutevar8x32_ps(sc_lo[r], lane),
                        _mm256_permutevar8x32_ps(sc_hi[r], lane),
                    );
                    a0[r] = _mm256_fmadd_ps(p0, s0, a0[r]);
                    a1[r] = _mm256_fmadd_ps(p1, s1, a1[r]);
                }
            }
        };
        if B::UNIFORM {
            let mut tt = 0;
            while tt + 1 < g {
                chunk(tt, &mut acc0, &mut acc1);
                chunk(tt + 1, &mut acc1, &mut acc0);
                tt += 2;
            }
            if tt < g {
                chunk(tt, &mut acc0, &mut acc1);
            }
        } else {
            for tt in 0..g {
                chunk(tt, &mut acc0, &mut acc1);
            }
        }
        t0 += g;
    }
    for r in 0..R {
        out[r] = hsum256(_mm256_add_ps(_mm256_add_ps(acc0[r], acc1[r]), corr[r]));
    }
}

/// `quantize_blocks_scalar` with AVX2, to the same bits: the same maximum, the same
/// `x · (1/d)` product, and the same rounding (truncate, then step by the exact fraction).
///
/// Eight blocks at a time: their maxima transposed into one vector, so that the two
/// divisions, the sums and the stores of `d`, `ds` and `ds_lo` are one vector operation
/// for all eight instead of a scalar chain per block. `cargo bench --bench qmatmul --
/// quantize`, alternating, medians of 5: 512×576 3.71 → 5.30 Gelem/s (a prefill of
/// 512 tokens measured the same end to end: SmolLM2, AVX-512, 1143.7 vs 1144.3 tok/s).
///
/// # Safety
/// AVX2. The arrays hold at least `x.len() / 32` entries.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_blocks_avx2(
    x: &[f32],
    qs: &mut [super::ActBlock],
    d: &mut [f32],
    ds: &mut [f32],
    ds_lo: &mut [f32],
) {
    let blocks = x.len() / 32;
    assert!(qs.len() >= blocks && d.len() >= blocks && ds.len() >= blocks && ds_lo.len() >= blocks);
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut i = 0;
    // SAFETY: blocks i .. i + 8 ≤ blocks exist in `x` and in the four arrays.
    unsafe {
        while i + 8 <= blocks {
            let p = x.as_ptr().add(32 * i);
            let v: [[__m256; 4]; 8] = std::array::from_fn(|b| {
                std::array::from_fn(|j| _mm256_loadu_ps(p.add(32 * b + 8 * j)))
            });
            let m: [__m256; 8] = std::array::from_fn(|b| {
                let a = |j: usize| _mm256_and_ps(v[b][j], abs);
                _mm256_max_ps(_mm256_max_ps(a(0), a(1)), _mm256_max_ps(a(2), a(3)))
            });
            // Lane b: block b's maximum.
            let amax = max8x8(m);
            let di = _mm256_div_ps(amax, _mm256_set1_ps(32767.0));
            let nonzero = _mm256_cmp_ps::<_CMP_NEQ_OQ>(di, _mm256_setzero_ps());
            let id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0), di), nonzero);
            let mut lo = [_mm256_setzero_si256(); 8];
            let mut hi = [_mm256_setzero_si256(); 8];
            for b in 0..8 {
                let idb = _mm256_permutevar8x32_ps(id, _mm256_set1_epi32(b as i32));
                let q = round4(v[b], idb);
                lo[b] = _mm256_add_epi32(q[0], q[1]);
                hi[b] = _mm256_add_epi32(q[2], q[3]);
                store_q(q, qs.get_unchecked_mut(i + b));
            }
            let (lo, hi) = (sum8x8(lo), sum8x8(hi));
            _mm256_storeu_ps(d.as_mut_ptr().add(i), di);
            let all = _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi));
            _mm256_storeu_ps(ds.as_mut_ptr().add(i), _mm256_mul_ps(di, all));
            _mm256_storeu_ps(
                ds_lo.as_mut_ptr().add(i),
                _mm256_mul_ps(di, _mm256_cvtepi32_ps(lo)),
            );
            i += 8;
        }
    }
    for (i, xb) in x.chunks_exact(32).enumerate().skip(i) {
        // SAFETY: `xb` holds 32 floats; `qs[i]` 32 i16.
        unsafe {
            let p = xb.as_ptr();
            let v = [
                _mm256_loadu_ps(p),
                _mm256_loadu_ps(p.add(8)),
                _mm256_loadu_ps(p.add(16)),
                _mm256_loadu_ps(p.add(24)),
            ];
            let m = _mm256_max_ps(
                _mm256_max_ps(_mm256_and_ps(v[0], abs), _mm256_and_ps(v[1], abs)),
                _mm256_max_ps(_mm256_and_ps(v[2], abs), _mm256_and_ps(v[3], abs)),
            );
            let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
            let di = amax / 32767.0;
            let id = _mm256_set1_ps(if di != 0.0 { 1.0 / di } else { 0.0 });
            let q = round4(v, id);
            let lo = sum8(_mm256_add_epi32(q[0], q[1]));
            let hi = sum8(_mm256_add_epi32(q[2], q[3]));
            store_q(q, qs.get_unchecked_mut(i));
            *d.get_unchecked_mut(i) = di;
            *ds.get_unchecked_mut(i) = di * (lo + hi) as f32;
            *ds_lo.get_unchecked_mut(i) = di * lo as f32;
        }
    }
}

/// One block's 32 values times `id`, rounded half away from zero, as 4 × 8 i32.
#[inline]
#[target_feature(enable = "avx2")]
fn round4(v: [__m256; 4], id: __m256) -> [__m256i; 4] {
    let (half, neg_half) = (_mm256_set1_ps(0.5), _mm256_set1_ps(-0.5));
    v.map(|vj| {
        let y = _mm256_mul_ps(vj, id);
        let t = _mm256_cvttps_epi32(y);
        let f = _mm256_sub_ps(y, _mm256_cvtepi32_ps(t));
        // Compare masks are -1 where true: t + (f ≥ 0.5) − (f ≤ −0.5).
        let up = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(f, half));
        let down = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(f, neg_half));
        _mm256_add_epi32(_mm256_sub_epi32(t, up), down)
    })
}

/// Stores one block's rounded values as 32 i16.
#[inline]
#[target_feature(enable = "avx2")]
fn store_q(q: [__m256i; 4], out: &mut [i16; 32]) {
    // `packs` interleaves 128-bit halves; the permute puts them back in order.
    let q01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0b11_01_10_00);
    let q23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0b11_01_10_00);
    // SAFETY: `out` holds 32 i16, two 256-bit stores.
    unsafe {
        _mm256_storeu_si256(out.as_mut_ptr().cast(), q01);
        _mm256_storeu_si256(out.as_mut_ptr().add(16).cast(), q23);
    }
}

/// Lane `b`: the maximum of `m[b]`'s 8 lanes (a transpose by unpacks and shuffles, one
/// `max` per step).
#[inline]
#[target_feature(enable = "avx2")]
fn max8x8(m: [__m256; 8]) -> __m256 {
    // Per pair (a, b), per 128-bit half: [a02, b02, a13, b13] (aij = max(a_i, a_j)).
    let pair =
        |a: __m256, b: __m256| _mm256_max_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    // Per quad, per half: [a, b, c, d], each the maximum of that half.
    let quad = |ab: __m256, cd: __m256| {
        _mm256_max_ps(
            _mm256_shuffle_ps::<0b01_00_01_00>(ab, cd),
            _mm256_shuffle_ps::<0b11_10_11_10>(ab, cd),
        )
    };
    let q0 = quad(pair(m[0], m[1]), pair(m[2], m[3]));
    let q1 = quad(pair(m[4], m[5]), pair(m[6], m[7]));
    _mm256_max_ps(
        _mm256_permute2f128_ps::<0x20>(q0, q1),
        _mm256_permute2f128_ps::<0x31>(q0, q1),
    )
}

/// Lane `b`: the sum of `s[b]`'s 8 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn sum8x8(s: [__m256i; 8]) -> __m256i {
    let h = |a, b| _mm256_hadd_epi32(a, b);
    let q0 = h(h(s[0], s[1]), h(s[2], s[3]));
    let q1 = h(h(s[4], s[5]), h(s[6], s[7]));
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(q0, q1),
        _mm256_permute2x128_si256::<0x31>(q0, q1),
    )
}

/// Horizontal sum of 8 i32.
#[inline]
#[target_feature(enable = "avx2")]
fn sum8(a: __m256i) -> i32 {
    let h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b01_00_11_10));
    _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32(h, 0b10_11_00_01)))
}
