//! The x86 micro-kernels of the integer GEMM: AVX-512 VNNI and AVX2.

// The tiles' loops index several per-row arrays (sums, accumulators, row pointers) by row.
#![allow(clippy::needless_range_loop)]

use std::arch::asm;
use std::arch::x86_64::*;

use super::{columns, pack_with, Dst, PanelOut, Tile, PAIRS};
use crate::kernels::formats::Block;
use crate::kernels::gemm::BlockRows;
use crate::kernels::qdot::QuantActs;

/// Pointers to chunk 0 of each of a tile's `R` activation rows: pairs, scales `d`, and
/// `d · Σ q` sums (`ds`, `ds_lo`).
struct Rows<const R: usize> {
    q: [*const i32; R],
    d: [*const f32; R],
    ds: [*const f32; R],
    ds_lo: [*const f32; R],
}

impl<const R: usize> Rows<R> {
    /// # Safety
    /// Rows `i0 .. i0 + R` exist in `a` (its arrays hold `rows × nb` blocks).
    #[inline(always)]
    unsafe fn new(a: &QuantActs, i0: usize) -> Self {
        let at = |i: usize| (i0 + i) * a.nb;
        // SAFETY: row i0 + i < a.rows, so its first block is inside every array.
        unsafe {
            Rows {
                q: std::array::from_fn(|i| a.qs.as_ptr().add(at(i)).cast()),
                d: std::array::from_fn(|i| a.d.as_ptr().add(at(i))),
                ds: std::array::from_fn(|i| a.ds.as_ptr().add(at(i))),
                ds_lo: std::array::from_fn(|i| a.ds_lo.as_ptr().add(at(i))),
            }
        }
    }
}

/// `acc + Σ pairs of w × the pair at p`, broadcast: one `vpdpwssd` with its memory
/// operand broadcast. Written out because LLVM's machine combiner otherwise splits the
/// intrinsic into `vpmaddwd` + `vpaddd` (two instructions where one does) whenever it
/// sees a chain of them.
///
/// # Safety
/// AVX-512 F and VNNI; `p` is readable for 4 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn dpwssd_bcast(acc: __m512i, w: __m512i, p: *const i32) -> __m512i {
    let mut acc = acc;
    // SAFETY: the caller guarantees the features and that `p` is readable.
    unsafe {
        asm!(
            "vpdpwssd {acc}, {w}, dword ptr [{p}]{{1to16}}",
            acc = inout(zmm_reg) acc,
            w = in(zmm_reg) w,
            p = in(reg) p,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    acc
}

/// AVX-512 VNNI: a 6 × 32 tile, 12 i32 accumulators for the chunk's integer sums and 12
/// f32 accumulators for the result. Each pair step loads 2 vectors of the panel and runs
/// 12 `vpdpwssd` with the rows' pairs broadcast from memory.
pub(super) struct Vnni;

impl Tile for Vnni {
    const MR: usize = 6;
    const NR: usize = 32;

    #[inline(always)]
    unsafe fn pack<W: BlockRows>(w: &W, out: PanelOut) {
        // SAFETY: the caller guarantees the kernel's ISA, which includes AVX2.
        unsafe { pack_avx2(w, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    unsafe fn columns<W: BlockRows>(acts: &QuantActs, w: &W, dst: Dst, j0: usize, j1: usize) {
        // SAFETY: the caller's contract is `columns`'.
        unsafe { columns::<Self, W>(acts, w, dst, j0, j1) }
    }

    #[inline(always)]
    unsafe fn tile<B: Block>(
        rows: usize,
        a: &QuantActs,
        i0: usize,
        q: *const i32,
        sc: *const f32,
        c: *mut f32,
        rsc: usize,
    ) {
        // SAFETY: the caller's contract, for each row count.
        unsafe {
            match rows {
                6 => tile_vnni::<B, 6>(a, i0, q, sc, c, rsc),
                5 => tile_vnni::<B, 5>(a, i0, q, sc, c, rsc),
                4 => tile_vnni::<B, 4>(a, i0, q, sc, c, rsc),
                3 => tile_vnni::<B, 3>(a, i0, q, sc, c, rsc),
                2 => tile_vnni::<B, 2>(a, i0, q, sc, c, rsc),
                1 => tile_vnni::<B, 1>(a, i0, q, sc, c, rsc),
                _ => unreachable!("igemm: at most MR rows per tile"),
            }
        }
    }
}

/// # Safety
/// AVX-512 F/BW/VNNI and FMA; `Tile::tile`'s contract with `rows == R`.
#[inline(always)]
unsafe fn tile_vnni<B: Block, const R: usize>(
    a: &QuantActs,
    i0: usize,
    q: *const i32,
    sc: *const f32,
    c: *mut f32,
    rsc: usize,
) {
    const NR: usize = Vnni::NR;
    // Pairs per integer sum: the whole chunk, or each half when its halves scale apart.
    let span = if B::UNIFORM { PAIRS } else { PAIRS / 2 };
    // SAFETY: rows i0 .. i0 + R exist (the caller's contract); every read below is inside
    // the panel (chunks × 16 × NR pairs, chunks × 4 × NR scales) or inside a row's
    // `nb` blocks, and every write inside the R × NR tile of `c`.
    unsafe {
        let r = Rows::<R>::new(a, i0);
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for t in 0..a.nb {
            let qt = q.add(t * PAIRS * NR);
            let st = sc.add(t * 4 * NR);
            for h in 0..PAIRS / span {
                let p0 = h * span;
                let mut sum = [[_mm512_setzero_si512(); 2]; R];
                let w0 = _mm512_loadu_si512(qt.add(p0 * NR).cast());
                let w1 = _mm512_loadu_si512(qt.add(p0 * NR + 16).cast());
                for i in 0..R {
                    let x = _mm512_set1_epi32(*r.q[i].add(t * PAIRS + p0));
                    sum[i] = [_mm512_madd_epi16(w0, x), _mm512_madd_epi16(w1, x)];
                }
                for p in p0 + 1..p0 + span {
                    let w0 = _mm512_loadu_si512(qt.add(p * NR).cast());
                    let w1 = _mm512_loadu_si512(qt.add(p * NR + 16).cast());
                    for (i, s) in sum.iter_mut().enumerate() {
                        let x = r.q[i].add(t * PAIRS + p);
                        s[0] = dpwssd_bcast(s[0], w0, x);
                        s[1] = dpwssd_bcast(s[1], w1, x);
                    }
                }
                let s0 = _mm512_loadu_ps(st.add(h * NR));
                let s1 = _mm512_loadu_ps(st.add(h * NR + 16));
                // (No closures here: they would not inherit the caller's target features,
                // and the intrinsics in them would become calls.)
                for i in 0..R {
                    let da = _mm512_set1_ps(*r.d[i].add(t));
                    let f0 = _mm512_cvtepi32_ps(sum[i][0]);
                    let f1 = _mm512_cvtepi32_ps(sum[i][1]);
                    acc[i][0] = _mm512_fmadd_ps(f0, _mm512_mul_ps(s0, da), acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(f1, _mm512_mul_ps(s1, da), acc[i][1]);
                }
            }
            if B::OFFSET {
                let (o0, o1) = (
                    _mm512_loadu_ps(st.add(2 * NR)),
                    _mm512_loadu_ps(st.add(2 * NR + 16)),
                );
                for i in 0..R {
                    let x = _mm512_set1_ps(*r.ds[i].add(t));
                    acc[i] = [
                        _mm512_fmadd_ps(o0, x, acc[i][0]),
                        _mm512_fmadd_ps(o1, x, acc[i][1]),
                    ];
                }
            }
            if B::OFFSET_LO {
                let (o0, o1) = (
                    _mm512_loadu_ps(st.add(3 * NR)),
                    _mm512_loadu_ps(st.add(3 * NR + 16)),
                );
                for i in 0..R {
                    let x = _mm512_set1_ps(*r.ds_lo[i].add(t));
                    acc[i] = [
                        _mm512_fmadd_ps(o0, x, acc[i][0]),
                        _mm512_fmadd_ps(o1, x, acc[i][1]),
                    ];
                }
            }
        }
        for (i, v) in acc.iter().enumerate() {
            _mm512_storeu_ps(c.add(i * rsc), v[0]);
            _mm512_storeu_ps(c.add(i * rsc + 16), v[1]);
        }
    }
}

/// AVX2: an `MR × 8·V` tile, `MR·V` i32 accumulators for the chunk's integer sums and
/// `MR·V` f32 accumulators for the result. Each pair step loads `V` vectors of the panel,
/// broadcasts each row's pair once, and runs `MR·V` `vpmaddwd` + `vpaddd`. AVX2 has 16
/// registers, so `MR·V ≤ 7`; `igemm` picks the shape per format (`Avx2Uniform`,
/// `Avx2Split`).
pub(super) struct Avx2<const MR: usize, const V: usize, const VNNI: bool>;

/// The shape for formats with one scale per chunk: 3 × 16. Two panel vectors per
/// broadcast; 6 + 6 accumulators. `cargo bench --bench qmatmul` at 512 rows, AVX2,
/// medians of 3 against 4 × 8: Q5_0 248 -> 284 GFLOP/s, Q4_K 217 -> 243, Q4_1 222 -> 245,
/// Q8_0 247 -> 277.
pub(super) type Avx2Uniform = Avx2<3, 2, false>;
/// The shape for formats whose chunks scale in halves (Q6_K, Q2_K, Q3_K): 6 × 8. Each
/// half-chunk ends in a scale step, and 6 rows share its panel load; Q6_K 180 -> 196
/// GFLOP/s against 4 × 8 (3 × 16: 183).
pub(super) type Avx2Split = Avx2<6, 1, false>;
/// The same tiles with AVX-VNNI (Intel from Alder Lake, AMD from Zen 5): its 256-bit
/// `vpdpwssd` multiplies and accumulates in one instruction where AVX2 takes `vpmaddwd`
/// + `vpaddd`. The i32 sums are the same, so are the results.
pub(super) type Avx2VnniUniform = Avx2<3, 2, true>;
pub(super) type Avx2VnniSplit = Avx2<6, 1, true>;

/// Whether this CPU has AVX-VNNI (std caches the answer).
pub(super) fn avx_vnni() -> bool {
    is_x86_feature_detected!("avxvnni")
}

/// `acc + Σ pairs of w × x` by AVX-VNNI's 256-bit `vpdpwssd`: the exact i32 sums that
/// `vpmaddwd` + `vpaddd` give (both wrap alike). Written out, as `dpwssd_bcast` is, so
/// that LLVM does not split it back into the two.
///
/// # Safety
/// AVX2 and AVX-VNNI.
#[inline]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn dpwssd_ymm(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
    let mut acc = acc;
    // SAFETY: the caller guarantees the features; registers only.
    unsafe {
        asm!(
            "{{vex}} vpdpwssd {acc}, {w}, {x}",
            acc = inout(ymm_reg) acc,
            w = in(ymm_reg) w,
            x = in(ymm_reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

impl<const MR: usize, const V: usize, const VNNI: bool> Tile for Avx2<MR, V, VNNI> {
    const MR: usize = MR;
    const NR: usize = 8 * V;

    #[inline(always)]
    unsafe fn pack<W: BlockRows>(w: &W, out: PanelOut) {
        // SAFETY: the caller guarantees the kernel's ISA, which includes AVX2.
        unsafe { pack_avx2(w, out) }
    }

    #[inline(always)]
    unsafe fn columns<W: BlockRows>(acts: &QuantActs, w: &W, dst: Dst, j0: usize, j1: usize) {
        // SAFETY: the caller's contract is `columns`'; `igemm` picks a `VNNI` tile only
        // where the CPU has AVX-VNNI.
        unsafe {
            if VNNI {
                columns_avx2_vnni::<Self, W>(acts, w, dst, j0, j1)
            } else {
                columns_avx2::<Self, W>(acts, w, dst, j0, j1)
            }
        }
    }

    #[inline(always)]
    unsafe fn tile<B: Block>(
        rows: usize,
        a: &QuantActs,
        i0: usize,
        q: *const i32,
        sc: *const f32,
        c: *mut f32,
        rsc: usize,
    ) {
        const {
            assert!(
                MR * V <= 7 && MR <= 6,
                "igemm: an AVX2 tile fits 16 registers"
            )
        };
        debug_assert!(rows <= MR, "igemm: at most MR rows per tile");
        // SAFETY: the caller's contract, for each row count.
        unsafe {
            match rows {
                6 => tile_avx2::<B, 6, V, VNNI>(a, i0, q, sc, c, rsc),
                5 => tile_avx2::<B, 5, V, VNNI>(a, i0, q, sc, c, rsc),
                4 => tile_avx2::<B, 4, V, VNNI>(a, i0, q, sc, c, rsc),
                3 => tile_avx2::<B, 3, V, VNNI>(a, i0, q, sc, c, rsc),
                2 => tile_avx2::<B, 2, V, VNNI>(a, i0, q, sc, c, rsc),
                1 => tile_avx2::<B, 1, V, VNNI>(a, i0, q, sc, c, rsc),
                _ => unreachable!("igemm: at most 6 rows per AVX2 tile"),
            }
        }
    }
}

/// The loop nest of an AVX2 tile without AVX-VNNI, compiled for AVX2 and FMA.
///
/// # Safety
/// As `Tile::columns`, on a CPU with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn columns_avx2<K: Tile, W: BlockRows>(
    acts: &QuantActs,
    w: &W,
    dst: Dst,
    j0: usize,
    j1: usize,
) {
    // SAFETY: the caller's contract.
    unsafe { columns::<K, W>(acts, w, dst, j0, j1) }
}

/// The loop nest of an AVX2 tile with AVX-VNNI, compiled for AVX2, FMA and AVX-VNNI.
///
/// # Safety
/// As `Tile::columns`, on a CPU with AVX2, FMA and AVX-VNNI.
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn columns_avx2_vnni<K: Tile, W: BlockRows>(
    acts: &QuantActs,
    w: &W,
    dst: Dst,
    j0: usize,
    j1: usize,
) {
    // SAFETY: the caller's contract.
    unsafe { columns::<K, W>(acts, w, dst, j0, j1) }
}

/// # Safety
/// AVX2 and FMA (and AVX-VNNI if `VNNI`); `Tile::tile`'s contract with `rows == R` and
/// `NR == 8 · V`.
#[inline(always)]
unsafe fn tile_avx2<B: Block, const R: usize, const V: usize, const VNNI: bool>(
    a: &QuantActs,
    i0: usize,
    q: *const i32,
    sc: *const f32,
    c: *mut f32,
    rsc: usize,
) {
    let nr = 8 * V;
    let span = if B::UNIFORM { PAIRS } else { PAIRS / 2 };
    // SAFETY: as in `tile_vnni`.
    unsafe {
        let r = Rows::<R>::new(a, i0);
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        for t in 0..a.nb {
            let qt = q.add(t * PAIRS * nr);
            let st = sc.add(t * 4 * nr);
            for h in 0..PAIRS / span {
                let p0 = h * span;
                let mut sum = [[_mm256_setzero_si256(); V]; R];
                let mut w = [_mm256_setzero_si256(); V];
                for p in p0..p0 + span {
                    for (v, x) in w.iter_mut().enumerate() {
                        *x = _mm256_loadu_si256(qt.add(p * nr + 8 * v).cast());
                    }
                    for i in 0..R {
                        let x = _mm256_set1_epi32(*r.q[i].add(t * PAIRS + p));
                        for v in 0..V {
                            // The first pair starts the sum (no add of zero).
                            sum[i][v] = if p == p0 {
                                _mm256_madd_epi16(w[v], x)
                            } else if VNNI {
                                dpwssd_ymm(sum[i][v], w[v], x)
                            } else {
                                _mm256_add_epi32(sum[i][v], _mm256_madd_epi16(w[v], x))
                            };
                        }
                    }
                }
                for v in 0..V {
                    let s = _mm256_loadu_ps(st.add(h * nr + 8 * v));
                    for i in 0..R {
                        let da = _mm256_set1_ps(*r.d[i].add(t));
                        acc[i][v] = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(sum[i][v]),
                            _mm256_mul_ps(s, da),
                            acc[i][v],
                        );
                    }
                }
            }
            if B::OFFSET {
                for v in 0..V {
                    let o = _mm256_loadu_ps(st.add(2 * nr + 8 * v));
                    for i in 0..R {
                        acc[i][v] = _mm256_fmadd_ps(o, _mm256_set1_ps(*r.ds[i].add(t)), acc[i][v]);
                    }
                }
            }
            if B::OFFSET_LO {
                for v in 0..V {
                    let o = _mm256_loadu_ps(st.add(3 * nr + 8 * v));
                    for i in 0..R {
                        acc[i][v] =
                            _mm256_fmadd_ps(o, _mm256_set1_ps(*r.ds_lo[i].add(t)), acc[i][v]);
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                _mm256_storeu_ps(c.add(i * rsc + 8 * v), *x);
            }
        }
    }
}

/// `pack_with`, with chunks decoded by the formats' AVX2 decoders (`chunk_i16_avx2`).
///
/// # Safety
/// AVX2.
#[inline(always)]
unsafe fn pack_avx2<W: BlockRows>(w: &W, out: PanelOut) {
    // (A plain function, not a closure, so that the intrinsics inline.)
    #[inline(always)]
    fn pairs<B: Block>(block: &B, c: usize) -> [i32; PAIRS] {
        let mut out = [0i32; PAIRS];
        // SAFETY: the caller of `pack_avx2` guarantees AVX2; c < CHUNKS; `out` holds
        // 16 i32 = 32 i16 (values 0..16, then 16..32: pairs in order).
        unsafe {
            let (lo, hi) = block.chunk_i16_avx2(c);
            _mm256_storeu_si256(out.as_mut_ptr().cast(), lo);
            _mm256_storeu_si256(out.as_mut_ptr().add(8).cast(), hi);
        }
        out
    }
    pack_with(w, out, pairs::<W::B>)
}
