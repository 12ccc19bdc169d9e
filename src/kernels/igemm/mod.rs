//! Integer GEMM for prefill: `dst (m, n) = lhs (m, k) · Wᵀ` with `W` quantized and the
//! activations quantized to 16 bits (`QuantActs`), for many activation rows at once.
//!
//! The f32 GEMM (`gemm`) decodes every weight to f32 and multiplies 16 pairs per AVX-512
//! FMA. Here each weight is widened to i16 once per call and `vpdpwssd` multiplies 32
//! pairs per instruction into exact i32 sums (AVX2: `vpmaddwd` then `vpaddd`). At the end
//! of each 32-value chunk (16 values for formats with two scales per chunk) the sums
//! become floats and take the scales, as in the matvec kernels (`qdot`):
//!
//! ```text
//! C[i][j] += d_a[i,t] · s[j,t] · Σ u·q  +  off[j,t] · ds[i,t]  +  off_lo[j,t] · ds_lo[i,t]
//! ```
//!
//! so prefill and decode compute the same sums, up to the order of float additions.
//!
//! Layout of one weight panel (`NR` output features × all of `k`), packed once per call:
//!
//! ```text
//! q  (chunks, 16, NR) i32   pair p of chunk t of feature j: values 2p (low half), 2p + 1
//! sc (chunks, 4, NR)  f32   lo, hi, off, off_lo of chunk t of feature j
//! ```
//!
//! The activations are read in place: each step broadcasts one i16 pair of each of the
//! tile's `MR` rows. Loops, per thread, over its own contiguous range of panels:
//!
//! ```text
//! pack the range's panels          every weight decoded once per call
//! for ic over m by MC              MC activation rows (≈ 192 KB) stay in L2
//!   for each panel                 k × NR weights, from L2
//!     for i0 over MC by MR         micro-kernel: an MR × NR tile in registers over all k
//! ```
//!
//! Every output is computed by the same instructions whatever the split over threads, so
//! results do not depend on the thread count.
//!
//! x86 only. NEON's 16-bit multiply-accumulate (`smlal`) does 4 products per instruction,
//! as many as an f32 FMA, so on ARM the f32 GEMM stays the prefill path (`supported`
//! says which); the driver below is compiled there but has no kernel to run.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unreachable_code))]

use std::cell::RefCell;

use super::cpu::Isa;
use super::formats::{Block, QK};
use super::gemm::BlockRows;
use super::par;
use super::prod;
use super::qdot::QuantActs;

/// Pairs of i16 per 32-value chunk.
const PAIRS: usize = QK / 2;
/// Bytes of activation rows a row block (loop `ic`) aims to keep in L2.
const MC_BYTES: usize = 192 * 1024;

/// Whether `isa` (checked) has an integer GEMM; the others use the f32 GEMM.
pub fn supported(isa: Isa) -> bool {
    matches!(isa.checked(), Isa::Avx512 | Isa::Avx2)
}

/// `dst (m, n) = acts (m, k) · wᵀ`, with `acts` already quantized (`acts.rows == m`,
/// `acts.nb · 32 == k`). Returns `false`, and writes nothing, if `isa` has no integer
/// GEMM (`supported`).
pub fn igemm<W: BlockRows>(isa: Isa, acts: &QuantActs, w: &W, dst: &mut [f32]) -> bool {
    let (m, k, n) = (acts.rows, w.k(), w.n());
    assert_eq!(
        acts.nb * QK,
        k,
        "igemm: activations and weights differ in k"
    );
    assert_eq!(dst.len(), prod(m, n), "igemm: dst must be (m, n)");
    assert_eq!(k % W::B::BLOCK, 0, "igemm: k must be whole blocks");
    acts.check_blocks();
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => run::<x86::Vnni, W>(acts, w, dst),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => match (W::B::UNIFORM, x86::avx_vnni()) {
            (true, true) => run::<x86::Avx2VnniUniform, W>(acts, w, dst),
            (true, false) => run::<x86::Avx2Uniform, W>(acts, w, dst),
            (false, true) => run::<x86::Avx2VnniSplit, W>(acts, w, dst),
            (false, false) => run::<x86::Avx2Split, W>(acts, w, dst),
        },
        _ => return false,
    }
    true
}

/// A micro-kernel: an `R × NR` tile (`R ≤ MR`) over all of k.
pub(crate) trait Tile {
    /// Activation rows per tile.
    const MR: usize;
    /// Output features per tile (panel width).
    const NR: usize;

    /// The columns `j0 .. j1` (whole panels but for the last) of `dst`, run by one
    /// thread: `columns` inside a `#[target_feature]` function of the kernel's ISA.
    ///
    /// # Safety
    /// The CPU has the kernel's ISA; the shapes were checked by `igemm`; no other thread
    /// writes these columns.
    unsafe fn columns<W: BlockRows>(acts: &QuantActs, w: &W, dst: Dst, j0: usize, j1: usize);

    /// Packs one panel of `w` (`pack_with`, chunks decoded with the kernel's ISA).
    ///
    /// # Safety
    /// The CPU has the kernel's ISA.
    unsafe fn pack<W: BlockRows>(w: &W, out: PanelOut);

    /// Rows `i0 .. i0 + rows` (`rows ≤ MR`) against one packed panel, into `c` (row
    /// stride `rsc`, `NR` columns).
    ///
    /// # Safety
    /// As `columns`; `q` and `sc` hold one panel of `acts.nb` chunks; rows `i0 ..
    /// i0 + rows` exist in `acts`; `c` has `rows` writable rows of `NR`.
    unsafe fn tile<B: Block>(
        rows: usize,
        acts: &QuantActs,
        i0: usize,
        q: *const i32,
        sc: *const f32,
        c: *mut f32,
        rsc: usize,
    );
}

/// `dst` as a pointer that the threads, writing disjoint columns, share.
#[derive(Clone, Copy)]
pub(crate) struct Dst {
    ptr: *mut f32,
    n: usize,
}
// SAFETY: threads write disjoint column ranges through it (`run`).
unsafe impl Send for Dst {}
// SAFETY: as above.
unsafe impl Sync for Dst {}

thread_local! {
    /// This thread's packed panels (q, sc), reused across calls.
    static PANELS: RefCell<(Vec<i32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Column ranges per thread, taken by the threads as they come free: on a shared machine
/// one core often runs slower than the other for a while, and with one range each the
/// other waited at the end of every product (11% of a Gemma 3 prefill profile on Zen 3).
/// `generate`, prefill 512, AVX2, Zen 3, alternating, medians, 1 → 3 ranges per thread:
/// Gemma 3 471.6 → 490.5 tok/s (10 runs; 422.2 → 453.3 in 8 others, 2 ranges 436.6),
/// SmolLM2 414.9 → 445.3 (8 runs). Each range packs only its own panels, so no work is
/// repeated; the activations are read once more per range, from L2 or L3.
const PARTS_PER_THREAD: usize = 3;

/// Splits the panels over the threads and runs each range through `K::columns`.
fn run<K: Tile, W: BlockRows>(acts: &QuantActs, w: &W, dst: &mut [f32]) {
    let (m, k, n) = (acts.rows, w.k(), w.n());
    if m == 0 || n == 0 {
        return;
    }
    let d = Dst {
        ptr: dst.as_mut_ptr(),
        n,
    };
    let panels = n.div_ceil(K::NR);
    let parts = (PARTS_PER_THREAD * rayon::current_num_threads()).min(panels);
    let macs = m.saturating_mul(n).saturating_mul(k);
    par::for_each_task(parts, macs, |p| {
        let (p0, p1) = (p * panels / parts, (p + 1) * panels / parts);
        // SAFETY: `igemm` checked the shapes and chose `K` for this CPU; each task owns
        // its own columns.
        unsafe { K::columns(acts, w, d, p0 * K::NR, (p1 * K::NR).min(n)) };
    });
}

/// The loop nest of one thread (see the module documentation), for `K::columns` to
/// inline into its `#[target_feature]` function.
///
/// # Safety
/// As `Tile::columns`.
#[inline(always)]
pub(crate) unsafe fn columns<K: Tile, W: BlockRows>(
    acts: &QuantActs,
    w: &W,
    c: Dst,
    j0: usize,
    j1: usize,
) {
    let (m, chunks) = (acts.rows, acts.nb);
    let (mr, nr) = (K::MR, K::NR);
    let panels = (j1 - j0).div_ceil(nr);
    let (q_len, sc_len) = (chunks * PAIRS * nr, chunks * 4 * nr);
    // This thread's buffers, taken out of the thread-local for the call (a nested call
    // on this thread finds them empty and allocates its own). The loops stay outside any
    // closure: a closure would not inherit the caller's target features.
    let (mut qbuf, mut scbuf) = PANELS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => std::mem::take(&mut *bufs),
        Err(_) => Default::default(),
    });
    let qv = aligned(&mut qbuf, panels * q_len); // (panels, chunks, 16, NR) pairs
    let sv = aligned(&mut scbuf, panels * sc_len); // (panels, chunks, 4, NR) scales
    for p in 0..panels {
        let jp = j0 + p * nr;
        let out = PanelOut {
            j0: jp,
            cols: nr.min(j1 - jp),
            nr,
            q: &mut qv[p * q_len..][..q_len],
            sc: &mut sv[p * sc_len..][..sc_len],
        };
        // SAFETY: the caller guarantees the kernel's ISA.
        unsafe { K::pack(w, out) };
    }
    let mc = (MC_BYTES / (2 * QK * chunks).max(1))
        .max(mr)
        .next_multiple_of(mr);
    let mut tile = [0.0f32; 256]; // (MR, NR), for the narrower last panel
    assert!(mr * nr <= tile.len(), "igemm: tile larger than its buffer");
    for ic in (0..m).step_by(mc) {
        for p in 0..panels {
            let jp = j0 + p * nr;
            let cols = nr.min(j1 - jp);
            let (q, sc) = (qv[p * q_len..].as_ptr(), sv[p * sc_len..].as_ptr());
            for i0 in (ic..(ic + mc).min(m)).step_by(mr) {
                let rows = mr.min(m - i0);
                if cols == nr {
                    // SAFETY: rows i0..i0 + rows and columns jp..jp + NR are inside dst
                    // and this thread's; the panel holds `chunks` chunks.
                    unsafe {
                        K::tile::<W::B>(rows, acts, i0, q, sc, c.ptr.add(i0 * c.n + jp), c.n)
                    };
                } else {
                    // SAFETY: `tile` holds MR rows of NR. (The last, narrower panel goes
                    // into this local tile, then the part inside dst is copied out.)
                    unsafe { K::tile::<W::B>(rows, acts, i0, q, sc, tile.as_mut_ptr(), nr) };
                    for (ii, t) in tile.chunks_exact(nr).take(rows).enumerate() {
                        for (jj, &v) in t[..cols].iter().enumerate() {
                            // SAFETY: (i0 + ii, jp + jj) is inside dst, in this thread's
                            // columns.
                            unsafe { *c.ptr.add((i0 + ii) * c.n + jp + jj) = v };
                        }
                    }
                }
            }
        }
    }
    PANELS.with(|cell| {
        if let Ok(mut bufs) = cell.try_borrow_mut() {
            *bufs = (qbuf, scbuf);
        }
    });
}

/// `len` entries of `buf` (grown to fit) from a 64-byte boundary: the tiles read a panel
/// with 32-byte loads, and from a `Vec`'s 16-byte alignment every other one straddled two
/// cache lines. `cargo bench --bench qmatmul`, AVX2, Zen 3, alternating, medians of 5, two
/// threads: Q5_0 512×640×2048 114.9 → 130.4 GOP/s, Q4_K 512×1024×640 130.3 → 141.1, Q6_K
/// 512×2048×640 104.8 → 105.3; one thread: Q5_0 66.5 → 75.4, Q4_K 69.3 → 71.7.
/// (`align_offset` may answer "impossible"; the window then starts at the slack's end,
/// unaligned but in bounds.)
fn aligned<T: Copy + Default>(buf: &mut Vec<T>, len: usize) -> &mut [T] {
    let slack = 64 / std::mem::size_of::<T>().max(1);
    buf.resize(len + slack, T::default());
    let off = buf.as_ptr().align_offset(64).min(slack);
    &mut buf[off..off + len]
}

/// One panel to pack: features `j0 .. j0 + cols` (`cols ≤ nr`) of the weights, into `q`
/// and `sc` laid out as the module documentation says, `nr` features wide.
pub(crate) struct PanelOut<'a> {
    pub j0: usize,
    pub cols: usize,
    pub nr: usize,
    pub q: &'a mut [i32],
    pub sc: &'a mut [f32],
}

/// Packs one panel of `w`, with `pairs(block, c)` decoding chunk `c` of a block into its
/// 16 pairs; features past `cols` are zero.
#[inline(always)]
pub(crate) fn pack_with<W: BlockRows>(
    w: &W,
    out: PanelOut,
    pairs: impl Fn(&W::B, usize) -> [i32; PAIRS],
) {
    let PanelOut {
        j0,
        cols,
        nr,
        q,
        sc,
    } = out;
    let chunks_per_block = W::B::CHUNKS;
    let nb = w.k() / W::B::BLOCK;
    let chunks = nb * chunks_per_block;
    assert!(q.len() >= chunks * PAIRS * nr && sc.len() >= chunks * 4 * nr);
    for jj in 0..nr {
        if jj >= cols {
            for t in 0..chunks {
                for p in 0..PAIRS {
                    q[(t * PAIRS + p) * nr + jj] = 0;
                }
                for s in 0..4 {
                    sc[(t * 4 + s) * nr + jj] = 0.0;
                }
            }
            continue;
        }
        for b in 0..nb {
            let block = w.block((j0 + jj) * nb + b);
            let scales = block.scales();
            for (c, s) in scales.iter().enumerate().take(chunks_per_block) {
                let t = b * chunks_per_block + c;
                for (p, v) in pairs(&block, c).into_iter().enumerate() {
                    q[(t * PAIRS + p) * nr + jj] = v;
                }
                for (i, v) in [s.lo, s.hi, s.off, s.off_lo].into_iter().enumerate() {
                    sc[(t * 4 + i) * nr + jj] = v;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
