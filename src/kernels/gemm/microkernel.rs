//! GEMM micro-kernels: `C[MR×NR] (+)= A_panel · B_panel` over `kc` steps.
//!
//! Packed panels (see `pack.rs`): `a` holds `kc` columns of `MR` values, `b` holds `kc`
//! rows of `NR` values, both contiguous. Each step broadcasts the `MR` values of A and
//! multiplies them with the `NR` values of B into `MR × NR` accumulators held in
//! registers for the whole loop (an outer-product update, BLIS's micro-kernel).

use super::pack::{pack_a_panel, MatRef};

/// A register-tiled kernel for one ISA.
pub trait MicroKernel {
    /// Rows of C per call (values of A broadcast per step).
    const MR: usize;
    /// Columns of C per call (width of the B rows loaded per step).
    const NR: usize;
    /// Depth of a packed block: KC × NR floats of B (the micro-panel reused for a whole
    /// MC block of A) are sized to stay in L1. A multiple of 32 so that quantized weight
    /// blocks never straddle two depth blocks.
    const KC: usize;
    /// Rows of A packed at once: MC × KC floats sized to stay in L2.
    const MC: usize;
    /// Columns of B packed at once: KC × NC floats sized for a share of L3.
    const NC: usize;

    /// `C = A·B` (or `C += A·B` with `accumulate`) for one full `MR × NR` tile.
    ///
    /// # Safety
    /// `a` must point to `kc * MR` floats, `b` to `kc * NR` floats, and `c` to a tile whose
    /// element `(i, j)` is at `c + i * rsc + j` for `i < MR`, `j < NR`, all writable. The
    /// CPU must support the kernel's ISA.
    unsafe fn run(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        accumulate: bool,
    );

    /// Packs an A micro-panel for this kernel's `MR` (see `pack::pack_a_panel`).
    fn pack_a(a: &MatRef, i0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [f32]);
}

/// Portable kernel: plain arrays the compiler can vectorise for the baseline target.
pub struct Scalar;

impl MicroKernel for Scalar {
    const MR: usize = 4;
    const NR: usize = 8;
    const KC: usize = 256;
    const MC: usize = 256;
    const NC: usize = 2048;

    fn pack_a(a: &MatRef, i0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [f32]) {
        pack_a_panel::<4>(a, i0, rows, pc, kc, dst);
    }

    unsafe fn run(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        accumulate: bool,
    ) {
        const MR: usize = Scalar::MR;
        const NR: usize = Scalar::NR;
        // SAFETY: the caller guarantees the panel sizes.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, kc * MR),
                std::slice::from_raw_parts(b, kc * NR),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] += ap[i] * bp[j];
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: (i, j) is inside the tile the caller guarantees.
                unsafe {
                    let p = c.add(i * rsc + j);
                    *p = if accumulate { *p + v } else { v };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{pack_a_panel, MatRef, MicroKernel};

    /// AVX-512: 12 × 32 tile, 24 zmm accumulators; each step loads 2 vectors of B and
    /// broadcasts 12 values of A for 24 FMAs, so the two FMA pipes stay busy.
    pub struct Avx512;

    impl MicroKernel for Avx512 {
        const MR: usize = 12;
        const NR: usize = 32;
        // 256 × 32 × 4 B = 32 KB of B in the 48 KB L1, beside the streaming 12 KB A panel.
        const KC: usize = 256;
        // 504 × 256 × 4 B = 504 KB of A: half of the 1 MB L2.
        const MC: usize = 504;
        // 256 × 4096 × 4 B = 4 MB of B per thread in the shared 32 MB L3.
        const NC: usize = 4096;

        fn pack_a(a: &MatRef, i0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [f32]) {
            pack_a_panel::<12>(a, i0, rows, pc, kc, dst);
        }

        #[inline]
        unsafe fn run(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            rsc: usize,
            accumulate: bool,
        ) {
            // SAFETY: forwarded contract; `Avx512` is only chosen on CPUs with AVX-512F.
            unsafe { kernel_avx512(kc, a, b, c, rsc, accumulate) }
        }
    }

    #[target_feature(enable = "avx512f,fma")]
    unsafe fn kernel_avx512(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        accumulate: bool,
    ) {
        const MR: usize = 12;
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..kc {
            // SAFETY: p < kc, so rows p of both panels are inside them.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_ps(b.add(p * 32)),
                    _mm512_loadu_ps(b.add(p * 32 + 16)),
                )
            };
            for (i, acc_i) in acc.iter_mut().enumerate() {
                // SAFETY: p < kc and i < MR, inside the A panel.
                let ai = _mm512_set1_ps(unsafe { *a.add(p * MR + i) });
                acc_i[0] = _mm512_fmadd_ps(ai, b0, acc_i[0]);
                acc_i[1] = _mm512_fmadd_ps(ai, b1, acc_i[1]);
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            // SAFETY: row i < MR of the tile, 32 columns, as the caller guarantees.
            let row = unsafe { c.add(i * rsc) };
            let (mut v0, mut v1) = (acc_i[0], acc_i[1]);
            if accumulate {
                // SAFETY: the tile row holds NR = 32 floats from `row`.
                let (c0, c1) = unsafe { (_mm512_loadu_ps(row), _mm512_loadu_ps(row.add(16))) };
                (v0, v1) = (_mm512_add_ps(v0, c0), _mm512_add_ps(v1, c1));
            }
            // SAFETY: as above.
            unsafe { (_mm512_storeu_ps(row, v0), _mm512_storeu_ps(row.add(16), v1)) };
        }
    }

    /// AVX2: 6 × 16 tile, 12 ymm accumulators + 2 for B + 1 broadcast = 15 of 16 registers.
    pub struct Avx2;

    impl MicroKernel for Avx2 {
        const MR: usize = 6;
        const NR: usize = 16;
        // 512 × 16 × 4 B = 32 KB of B, an L1's worth, with A's 6-row micro-panel streamed
        // past it from L2: fewer passes over C than KC 256 (16 KB of B). `cargo bench
        // --bench gemm -- 1024x1024x1024`, INGOT_ISA=avx2 on Zen 4, alternating, medians
        // of 7: 177.6 (KC 256, MC 336) -> 184.8 GFLOP/s; KC 384 with MC 240 measured
        // 170.1 against 177.7; SmolLM2's prefill shapes (k = 576, 1536) alike.
        const KC: usize = 512;
        // 168 × 512 × 4 B = 336 KB of A in a 512 KB-1 MB L2.
        const MC: usize = 168;
        const NC: usize = 4096;

        fn pack_a(a: &MatRef, i0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [f32]) {
            pack_a_panel::<6>(a, i0, rows, pc, kc, dst);
        }

        #[inline]
        unsafe fn run(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            rsc: usize,
            accumulate: bool,
        ) {
            // SAFETY: forwarded contract; `Avx2` is only chosen on CPUs with AVX2 and FMA.
            unsafe { kernel_avx2(kc, a, b, c, rsc, accumulate) }
        }
    }

    /// The tile's rows of C are prefetched first: the kernel reads them (`accumulate`) or
    /// writes them only after its `kc` steps, and a tile of a large C is in no cache by
    /// then. The k loop is unrolled by 4. `cargo bench --bench gemm`, INGOT_ISA=avx2 on
    /// Zen 3, alternating, medians of 9–11: 1024³ 101.5 GFLOP/s → 123.7 with the prefetch
    /// → 135.2 with the unroll too (120.6 against it in 11 more rounds); 512×1536×576
    /// 82.1 → 102.4, 512×576×1536 100.8 → 122.2.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel_avx2(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        accumulate: bool,
    ) {
        const MR: usize = 6;
        // Each row's first and last float: its 16 floats span two lines unless aligned.
        for i in 0..MR {
            let row = c.wrapping_add(i * rsc);
            _mm_prefetch::<_MM_HINT_T0>(row.cast());
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(15).cast());
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        macro_rules! step {
            ($p:expr) => {{
                let p = $p;
                // SAFETY: p < kc, so rows p of both panels are inside them.
                let (b0, b1) = unsafe {
                    (
                        _mm256_loadu_ps(b.add(p * 16)),
                        _mm256_loadu_ps(b.add(p * 16 + 8)),
                    )
                };
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    // SAFETY: p < kc and i < MR, inside the A panel.
                    let ai = _mm256_set1_ps(unsafe { *a.add(p * MR + i) });
                    acc_i[0] = _mm256_fmadd_ps(ai, b0, acc_i[0]);
                    acc_i[1] = _mm256_fmadd_ps(ai, b1, acc_i[1]);
                }
            }};
        }
        let mut p = 0;
        while p + 4 <= kc {
            step!(p);
            step!(p + 1);
            step!(p + 2);
            step!(p + 3);
            p += 4;
        }
        while p < kc {
            step!(p);
            p += 1;
        }
        for (i, acc_i) in acc.iter().enumerate() {
            // SAFETY: row i < MR of the tile, 16 columns, as the caller guarantees.
            let row = unsafe { c.add(i * rsc) };
            let (mut v0, mut v1) = (acc_i[0], acc_i[1]);
            if accumulate {
                // SAFETY: the tile row holds NR = 16 floats from `row`.
                let (c0, c1) = unsafe { (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))) };
                (v0, v1) = (_mm256_add_ps(v0, c0), _mm256_add_ps(v1, c1));
            }
            // SAFETY: as above.
            unsafe { (_mm256_storeu_ps(row, v0), _mm256_storeu_ps(row.add(8), v1)) };
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub use neon::Neon;

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::{pack_a_panel, MatRef, MicroKernel};

    /// NEON: 8 × 12 tile, 24 q-register accumulators + 3 for B + 2 for A of the 32; each
    /// step multiplies the B row by each A value with `fmla` by lane.
    pub struct Neon;

    impl MicroKernel for Neon {
        const MR: usize = 8;
        const NR: usize = 12;
        // 256 × 12 × 4 B = 12 KB of B in a 64 KB L1.
        const KC: usize = 256;
        // 256 × 256 × 4 B = 256 KB of A in L2.
        const MC: usize = 256;
        const NC: usize = 2048;

        #[inline]
        unsafe fn run(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            rsc: usize,
            accumulate: bool,
        ) {
            // SAFETY: forwarded contract; `Neon` is only chosen on CPUs with NEON.
            unsafe { kernel_neon(kc, a, b, c, rsc, accumulate) }
        }

        fn pack_a(a: &MatRef, i0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [f32]) {
            pack_a_panel::<8>(a, i0, rows, pc, kc, dst);
        }
    }

    #[target_feature(enable = "neon")]
    unsafe fn kernel_neon(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        accumulate: bool,
    ) {
        let mut acc = [[vdupq_n_f32(0.0); 3]; 8];
        for p in 0..kc {
            // SAFETY: p < kc, so rows p of both panels are inside them.
            let (b0, b1, b2) = unsafe {
                (
                    vld1q_f32(b.add(p * 12)),
                    vld1q_f32(b.add(p * 12 + 4)),
                    vld1q_f32(b.add(p * 12 + 8)),
                )
            };
            // SAFETY: as above.
            let (a0, a1) = unsafe { (vld1q_f32(a.add(p * 8)), vld1q_f32(a.add(p * 8 + 4))) };
            macro_rules! row {
                ($i:expr, $a:ident, $lane:literal) => {
                    acc[$i][0] = vfmaq_laneq_f32::<$lane>(acc[$i][0], b0, $a);
                    acc[$i][1] = vfmaq_laneq_f32::<$lane>(acc[$i][1], b1, $a);
                    acc[$i][2] = vfmaq_laneq_f32::<$lane>(acc[$i][2], b2, $a);
                };
            }
            row!(0, a0, 0);
            row!(1, a0, 1);
            row!(2, a0, 2);
            row!(3, a0, 3);
            row!(4, a1, 0);
            row!(5, a1, 1);
            row!(6, a1, 2);
            row!(7, a1, 3);
        }
        for (i, acc_i) in acc.iter().enumerate() {
            for (j, &v) in acc_i.iter().enumerate() {
                // SAFETY: row i < MR, columns 4j..4j+4 < NR of the tile the caller guarantees.
                let p = unsafe { c.add(i * rsc + 4 * j) };
                let v = if accumulate {
                    // SAFETY: as above.
                    vaddq_f32(v, unsafe { vld1q_f32(p) })
                } else {
                    v
                };
                // SAFETY: as above.
                unsafe { vst1q_f32(p, v) };
            }
        }
    }
}
