//! Integer dot products of quantized weight rows with 16-bit activations, for every block
//! format: one generic kernel per ISA over `formats::Block`.
//!
//! Activations are quantized once per matmul call into `QuantActs`: blocks of 32 `i16`
//! with an f32 scale `d_a`, like ggml's `block_q8_1` but with 16-bit values. A weight
//! block is read as 32-value chunks that line up with the activation blocks (chunk `c` of
//! block `j` meets activation block `j·CHUNKS + c`), each `w_i = s · u_i + off` with small
//! integers `u` (the `formats` module documentation has the full form). Then
//!
//! ```text
//! dot = d_a · (s_lo · Σ_{i<16} u_i q_i + s_hi · Σ_{i≥16} u_i q_i)
//!     + off · (d_a · Σ q) + off_lo · (d_a · Σ_{i<16} q)
//! ```
//!
//! The integer sums come from one `vpdpwssd` per chunk (AVX-512 VNNI: its 16 lanes hold
//! pairs 0..7 of the first half and 8..15 of the second) or two `vpmaddwd` (AVX2).
//!
//! Why 16-bit activations and not ggml's 8: SmolLM2's residual stream has outlier
//! dimensions, and with 8-bit activations a block's outlier leaves its other 31 values a
//! few levels each; the logits then move by up to 0.5 and greedy decoding leaves Hugging
//! Face's path within a few tokens. 16 bits keep logits within ~1e-3 at the same
//! instruction count: `vpdpwssd` multiplies 32 i16 pairs per instruction where `vpdpbusd`
//! on 256 bits multiplies 32 byte pairs. Measured per layer role on SmolLM2 Q4_1 (8-bit
//! activations in that role only, 16 elsewhere; largest |logit − HF| over the reference
//! prompts, tolerance 1e-2): q/k/v 0.32, attention output 0.076, gate/up 0.18, down 0.26,
//! LM head 0.14 (and greedy tokens change), all roles 0.41. No role can take 8 bits.
//! Gemma 3 270M Q4_K_M the same way (Q5_0 q/k/gate/up, Q8_0 v and LM head, Q4_K output,
//! Q6_K down; error on its first reference prompt, tolerance 2e-2, 16 bits everywhere
//! 1.9e-3): q/k/v 0.18, attention output 0.058, gate/up 0.28, down 0.16, LM head 0.21,
//! all roles 0.38 (and greedy tokens change). No role there either.
//!
//! The kernels go through a row 16 (AVX-512) or 8 (AVX2) chunks at a time: the chunks'
//! scales are decoded first and combined with the activation scales as vectors, so the
//! inner loop per chunk and row is one unpack (shared by the rows), one integer product
//! and one FMA. `R` activation rows share each decoded weight chunk.

use super::cpu::Isa;
use super::formats::{Block, QK};
use super::ops;
use super::par;

pub mod rows;
pub mod split;

/// One block of 32 quantized activations, on a cache line of its own: the matvec kernels
/// read it with 32-byte loads, and from a `Vec`'s 16-byte alignment every other one
/// straddled two lines. `cargo bench --bench qmatmul -- q4_1-split/1x576x1536` (weights
/// in L2), AVX2, Zen 3, one thread, alternating, medians of 9: 20.3 → 22.6 GOP/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct ActBlock(pub [i16; QK]);

impl std::ops::Deref for ActBlock {
    type Target = [i16; QK];
    fn deref(&self) -> &[i16; QK] {
        &self.0
    }
}

impl std::ops::DerefMut for ActBlock {
    fn deref_mut(&mut self) -> &mut [i16; QK] {
        &mut self.0
    }
}

/// Activations quantized to 16 bits: `rows` rows of `nb` blocks of 32 values, each block
/// `x ≈ d · q` with `d = max|x| / 32767`. Stored as arrays (not per-block structs) so that
/// kernels load 16 scales with one instruction.
#[derive(Clone, Debug, Default)]
pub struct QuantActs {
    pub rows: usize,
    /// Blocks per row.
    pub nb: usize,
    pub qs: Vec<ActBlock>, // (rows, nb)
    pub d: Vec<f32>,       // (rows, nb)
    /// `d · Σ q` per block, for the formats' offsets.
    pub ds: Vec<f32>, // (rows, nb)
    /// `d · Σ_{i<16} q` per block, for offsets that change every 16 values.
    pub ds_lo: Vec<f32>, // (rows, nb)
}

impl QuantActs {
    /// Panics unless rows `row0 .. row0 + R` exist (`R` at most `MAX_ROWS`) and the arrays
    /// hold `rows × nb` blocks: the SIMD kernels' unchecked reads rely on both.
    pub fn check_rows<const R: usize>(&self, row0: usize) {
        assert!(
            (1..=MAX_ROWS).contains(&R) && row0 + R <= self.rows,
            "dot_rows: rows out of range"
        );
        self.check_blocks();
    }

    /// Panics unless every array holds `rows × nb` blocks.
    pub fn check_blocks(&self) {
        let blocks = self.rows * self.nb;
        assert!(
            self.qs.len() >= blocks
                && self.d.len() >= blocks
                && self.ds.len() >= blocks
                && self.ds_lo.len() >= blocks,
            "dot_rows: QuantActs arrays shorter than rows × nb"
        );
    }

    /// Quantizes `x` (`rows × k`, `k` a multiple of 32), reusing this value's buffers.
    /// Many rows (prefill) are split over the threads; every ISA gives the same bits.
    pub fn quantize(&mut self, isa: Isa, x: &[f32], rows: usize, k: usize) {
        self.quantize_from(isa, ActsSource::Rows(x), rows, k)
    }

    /// Quantizes `rows × k` values made by `src`, as `quantize` does.
    pub fn quantize_from(&mut self, isa: Isa, src: ActsSource, rows: usize, k: usize) {
        let x = match src {
            ActsSource::Rows(x) => x,
            ActsSource::RmsNorm { x, weight, .. } => {
                assert_eq!(weight.len(), k, "QuantActs: the norm's weight must be (k)");
                x
            }
        };
        assert!(
            k.is_multiple_of(QK) && x.len() == rows * k,
            "QuantActs: x must be (rows, k) with k a multiple of {QK}"
        );
        let nb = k / QK;
        let n = rows * nb;
        (self.rows, self.nb) = (rows, nb);
        self.qs.resize(n, ActBlock::default());
        self.d.resize(n, 0.0);
        self.ds.resize(n, 0.0);
        self.ds_lo.resize(n, 0.0);
        let blocks: BlocksFn = match isa.checked() {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Avx2 => |x, q, d, ds, ds_lo| {
                // SAFETY: `Isa::checked` returned an x86 ISA with AVX2.
                unsafe { x86::quantize_blocks_avx2(x, q, d, ds, ds_lo) }
            },
            _ => quantize_blocks_scalar,
        };
        let out = ActsPtrs {
            qs: self.qs.as_mut_ptr(),
            d: self.d.as_mut_ptr(),
            ds: self.ds.as_mut_ptr(),
            ds_lo: self.ds_lo.as_mut_ptr(),
        };
        // Whole rows per task, one task per thread.
        let per_task = rows.div_ceil(rayon::current_num_threads()).max(1);
        par::for_each_task(rows.div_ceil(per_task), x.len(), |t| {
            let (r0, r1) = (t * per_task, ((t + 1) * per_task).min(rows));
            let (b0, b1) = (r0 * nb, r1 * nb);
            // SAFETY: blocks b0..b1 ≤ n lie inside the four arrays (resized above); tasks
            // own disjoint row ranges, so no two write the same block.
            let (q, d, ds, ds_lo) = unsafe { out.blocks(b0, b1) };
            let ActsSource::RmsNorm { weight, eps, .. } = src else {
                return blocks(&x[b0 * QK..b1 * QK], q, d, ds, ds_lo);
            };
            let mut piece = [0.0f32; NORM_PIECE]; // up to 8 blocks of one row, normed
            for (i, xr) in x[b0 * QK..b1 * QK].chunks_exact(k).enumerate() {
                let inv = ops::rms_inv(xr, eps);
                for p0 in (0..k).step_by(NORM_PIECE) {
                    let p1 = (p0 + NORM_PIECE).min(k);
                    let normed = &mut piece[..p1 - p0];
                    ops::rms_scale(normed, &xr[p0..p1], &weight[p0..p1], inv);
                    let j = i * nb + p0 / QK..i * nb + p1 / QK;
                    let (qj, dj) = (&mut q[j.clone()], &mut d[j.clone()]);
                    blocks(normed, qj, dj, &mut ds[j.clone()], &mut ds_lo[j]);
                }
            }
        });
    }
}

/// Values normed at a time on the stack by `ActsSource::RmsNorm`: 8 blocks, 1 KB.
const NORM_PIECE: usize = 8 * QK;

/// The rows a `QuantActs` is made from.
#[derive(Clone, Copy)]
pub enum ActsSource<'a> {
    /// `(rows, k)` values as they are.
    Rows(&'a [f32]),
    /// The RMSNorm of `x`'s `(rows, k)` rows by `weight` (`ops::rmsnorm`), normed a
    /// piece at a time on the stack as it is quantized: the same bits as quantizing
    /// `rmsnorm`'s output, without writing that copy and reading it back.
    RmsNorm {
        x: &'a [f32],
        weight: &'a [f32],
        eps: f32,
    },
}

/// Quantizes whole blocks of `x` into the four arrays (one entry per block).
type BlocksFn = fn(&[f32], &mut [ActBlock], &mut [f32], &mut [f32], &mut [f32]);

/// The arrays of a `QuantActs`, shared by the tasks of `quantize`, which write disjoint
/// blocks.
#[derive(Clone, Copy)]
struct ActsPtrs {
    qs: *mut ActBlock,
    d: *mut f32,
    ds: *mut f32,
    ds_lo: *mut f32,
}
impl ActsPtrs {
    /// Blocks `b0 .. b1` of the four arrays.
    ///
    /// # Safety
    /// The blocks lie inside the arrays, and nothing else reads or writes them while the
    /// slices live.
    #[allow(clippy::type_complexity)]
    unsafe fn blocks<'a>(
        self,
        b0: usize,
        b1: usize,
    ) -> (
        &'a mut [ActBlock],
        &'a mut [f32],
        &'a mut [f32],
        &'a mut [f32],
    ) {
        let len = b1 - b0;
        // SAFETY: the caller's contract.
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.qs.add(b0), len),
                std::slice::from_raw_parts_mut(self.d.add(b0), len),
                std::slice::from_raw_parts_mut(self.ds.add(b0), len),
                std::slice::from_raw_parts_mut(self.ds_lo.add(b0), len),
            )
        }
    }
}

// SAFETY: tasks write disjoint block ranges through it (`QuantActs::quantize`).
unsafe impl Send for ActsPtrs {}
// SAFETY: as above.
unsafe impl Sync for ActsPtrs {}

/// The reference quantizer: per block, `d = max|x| / 32767` and `q = round(x / d)`.
pub fn quantize_blocks_scalar(
    x: &[f32],
    qs: &mut [ActBlock],
    d: &mut [f32],
    ds: &mut [f32],
    ds_lo: &mut [f32],
) {
    for (i, xb) in x.chunks_exact(QK).enumerate() {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let di = amax / 32767.0;
        let id = if di != 0.0 { 1.0 / di } else { 0.0 };
        let (mut lo, mut hi) = (0i32, 0i32);
        for (j, (q, &v)) in qs[i].iter_mut().zip(xb).enumerate() {
            *q = round_i16(v * id);
            if j < 16 {
                lo += *q as i32;
            } else {
                hi += *q as i32;
            }
        }
        d[i] = di;
        ds[i] = di * (lo + hi) as f32;
        ds_lo[i] = di * lo as f32;
    }
}

/// `x.round() as i16` for |x| ≤ 32767 (half away from zero), without the libm call that
/// `f32::round` is on baseline x86-64: truncate, then step by the exact fraction. The
/// compiler vectorizes it.
#[inline(always)]
fn round_i16(x: f32) -> i16 {
    let t = x as i32;
    let f = x - t as f32; // exact: |x| < 2^23
    (t + i32::from(f >= 0.5) - i32::from(f <= -0.5)) as i16
}

/// Most activation rows one kernel call handles.
pub const MAX_ROWS: usize = 4;

/// `out[r] = w · a[row0 + r]` for `R` activation rows; `w` is one weight row.
#[inline]
pub fn dot_rows<B: Block, const R: usize>(
    isa: Isa,
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    assert!(
        w.len().checked_mul(B::CHUNKS) == Some(a.nb),
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
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Isa::Neon` is only selected when the CPU reports NEON; the shapes were
        // checked above.
        Isa::Neon => unsafe { neon::dot_rows_neon::<B, R>(w, a, row0, out) },
        _ => dot_rows_scalar::<B, R>(w, a, row0, out),
    }
}

/// The reference: exact integer half-sums per chunk, then the scales and offsets.
pub fn dot_rows_scalar<B: Block, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    let nb = a.nb;
    *out = [0.0; R];
    for (j, wb) in w.iter().enumerate() {
        let scales = wb.scales();
        for (c, s) in scales.iter().enumerate().take(B::CHUNKS) {
            let u = wb.chunk_values(c);
            for (r, acc) in out.iter_mut().enumerate() {
                let b = (row0 + r) * nb + j * B::CHUNKS + c;
                let q = &a.qs[b];
                let half = |h: usize| -> i32 {
                    (16 * h..16 * h + 16)
                        .map(|i| u[i] as i32 * q[i] as i32)
                        .sum()
                };
                *acc += a.d[b] * (s.lo * half(0) as f32 + s.hi * half(1) as f32)
                    + s.off * a.ds[b]
                    + s.off_lo * a.ds_lo[b];
            }
        }
    }
}

/// The scales of chunks `t0 .. t0 + G` of a row (global chunk indices; `t0` a multiple of
/// `CHUNKS`), as four arrays; lanes past the row's end are zero.
#[inline(always)]
#[cfg(target_arch = "x86_64")]
fn group_scales<B: Block, const G: usize>(w: &[B], t0: usize) -> [[f32; G]; 4] {
    let mut s = [[0.0f32; G]; 4];
    let first = t0 / B::CHUNKS;
    let blocks = G.div_ceil(B::CHUNKS).min(w.len() - first);
    for jj in 0..blocks {
        // SAFETY: first + jj < w.len().
        let sc = unsafe { w.get_unchecked(first + jj) }.scales();
        for (c, sc) in sc.iter().enumerate().take(B::CHUNKS.min(G)) {
            let t = jj * B::CHUNKS + c;
            if t < G {
                (s[0][t], s[1][t], s[2][t], s[3][t]) = (sc.lo, sc.hi, sc.off, sc.off_lo);
            }
        }
    }
    s
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod round_tests {
    #[test]
    fn round_i16_is_f32_round() {
        let mut x = -32767.0f32;
        while x <= 32767.0 {
            assert_eq!(super::round_i16(x), x.round() as i16, "{x}");
            x += 0.123_456_7;
        }
        for x in [
            0.5f32,
            -0.5,
            1.5,
            -1.5,
            0.499_999_97,
            -0.499_999_97,
            2.5,
            32766.5,
            -32766.5,
            0.0,
            -0.0,
        ] {
            assert_eq!(super::round_i16(x), x.round() as i16, "{x}");
        }
    }
}
