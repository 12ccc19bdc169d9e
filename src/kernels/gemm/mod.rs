//! f32 GEMM, BLIS-style (Van Zee & van de Geijn 2015): `C (m × n) = A (m × k) · B (k × n)`.
//!
//! The loops, outermost first, each cutting the problem for one level of the memory
//! hierarchy (constants are per micro-kernel, see `microkernel.rs`):
//!
//! ```text
//! loop 4  pc over k by KC   the depth of every packed block; all of A's rows for it are
//!                           packed once, by all threads together, and shared
//! loop 5  jc over n by NC   a KC × NC block of B, packed, for a share of L3
//! loop 3  ic over m by MC   MC × KC of the packed A, read from L2
//! loop 2  jr over NC by NR  one KC × NR micro-panel of B, reused from L1
//! loop 1  ir over MC by MR  one MR × KC micro-panel of A against it
//!         micro-kernel      an MR × NR tile of C in registers
//! ```
//!
//! (Loop 4 sits outside loop 5 so that the packed A can be shared: packing it once per
//! thread cost 10% at 1024³ on two threads.) Threads split the columns into contiguous
//! ranges (whole NR panels): each packs and decodes only its own part of B, which is what
//! matters when B is a quantized weight matrix decoded during packing. Every element of C is summed in the same order
//! whatever the split, so results do not depend on the thread count. A and B are read
//! through strides, so transposed operands cost nothing beyond packing.

pub mod microkernel;
pub mod pack;

use std::cell::RefCell;

use super::cpu::Isa;
use super::par;
pub use microkernel::MicroKernel;
use microkernel::Scalar;
pub use pack::{BlockRows, HalfRowsT, MatRef, PackB, QuantRowsT, SplitRowsT};

/// A writable strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatMut<'a> {
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        MatMut {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
}

/// `C = A · B` with the micro-kernel for `isa`. Panics if shapes disagree or a view runs
/// past its slice.
pub fn sgemm(isa: Isa, a: MatRef, b: &dyn PackB, c: MatMut) {
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => gemm::<microkernel::Avx512>(a, b, c),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => gemm::<microkernel::Avx2>(a, b, c),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => gemm::<microkernel::Neon>(a, b, c),
        _ => gemm::<Scalar>(a, b, c),
    }
}

/// A pointer to C that threads writing disjoint tiles may share.
#[derive(Clone, Copy)]
struct CPtr {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
}
// SAFETY: threads write disjoint column ranges of C through it (see `gemm`).
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

thread_local! {
    /// Per-thread packing buffers (B block, decode scratch), reused across calls.
    static BUFFERS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The calling thread's buffer for the packed A block that all threads read.
    static SHARED_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The BLIS loop nest for micro-kernel `K` (which `sgemm` chose for this CPU).
fn gemm<K: MicroKernel>(a: MatRef, b: &dyn PackB, c: MatMut) {
    let (m, k, n) = (a.rows, a.cols, b.n());
    assert_eq!(b.k(), k, "gemm: A is {m}×{k} but B has {} rows", b.k());
    assert!(
        c.rows == m && c.cols == n,
        "gemm: C is {}×{}, expected {m}×{n}",
        c.rows,
        c.cols
    );
    assert!(a.in_bounds(), "gemm: A view runs past its data");
    assert!(
        pack::view_in_bounds(c.data.len(), c.rows, c.cols, c.rs, c.cs),
        "gemm: C view runs past its data"
    );
    // Threads write disjoint columns of C; with strides under which two elements share an
    // address (e.g. `cs == 0`), they must not run at the same time.
    let disjoint = (c.cs >= 1 && c.rs >= c.cols.saturating_mul(c.cs))
        || (c.rs >= 1 && c.cs >= c.rows.saturating_mul(c.rs))
        || c.rows <= 1
        || c.cols <= 1;
    if m == 0 || n == 0 {
        return;
    }
    let cp = CPtr {
        ptr: c.data.as_mut_ptr(),
        rs: c.rs,
        cs: c.cs,
    };
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                c.data[i * c.rs + j * c.cs] = 0.0;
            }
        }
        return;
    }
    let panels = n.div_ceil(K::NR);
    let threads = rayon::current_num_threads();
    let macs = m.saturating_mul(n).saturating_mul(k);
    // Column ranges, one per thread; `par` runs them serially when the product is small.
    let parts = if disjoint { threads.min(panels) } else { 1 };
    let range = |p: usize| {
        let (p0, p1) = (p * panels / parts, (p + 1) * panels / parts);
        (p0 * K::NR, (p1 * K::NR).min(n))
    };
    // Depth blocks of equal size (a multiple of 32, at most KC): k = 576 runs as 3 × 192
    // rather than 256 + 256 + 64, whose short last block wastes the kernel's start-up.
    // Quantized B needs whole blocks (K-quants: 256, which KC is a multiple of).
    let align = b.depth_align().max(32);
    let kc_step = k
        .div_ceil(k.div_ceil(K::KC))
        .next_multiple_of(align)
        .min(K::KC.next_multiple_of(align));
    let a_panels = m.div_ceil(K::MR);
    let a_len = a_panels * K::MR * kc_step.min(k);
    // The packed A of one depth block is shared by all threads: reuse this thread's buffer
    // unless a nested call on this thread holds it.
    SHARED_A.with(|cell| {
        let mut own;
        let mut guard = cell.try_borrow_mut();
        let abuf: &mut Vec<f32> = match guard.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => {
                own = Vec::new();
                &mut own
            }
        };
        abuf.resize(a_len.max(abuf.len()), 0.0);
        // Loop 4 (outermost here): depth blocks of KC. Threads share A's packing for the
        // block, then each runs loops 5, 3, 2, 1 over its own columns.
        for pc in (0..k).step_by(kc_step) {
            let kc = kc_step.min(k - pc);
            let pack = |ip: usize, dst: &mut [f32]| {
                let i0 = ip * K::MR;
                K::pack_a(&a, i0, K::MR.min(m - i0), pc, kc, dst);
            };
            let packed = &mut abuf[..a_panels * K::MR * kc];
            let pack_work = if parts == 1 { 0 } else { packed.len() };
            par::for_each_chunk_mut(packed, K::MR * kc, pack_work, pack);
            let packed: &[f32] = packed;
            let block = Depth { pc, kc, a: packed };
            par::for_each_task(parts, macs, |p| {
                let (j0, j1) = range(p);
                gemm_columns::<K>(m, b, cp, j0, j1, &block);
            });
        }
    })
}

/// One depth block: rows `pc .. pc + kc` of B against A's packed panels for them.
struct Depth<'a> {
    pc: usize,
    kc: usize,
    /// `ceil(m / MR)` A micro-panels of `kc × MR`.
    a: &'a [f32],
}

/// Loops 5, 3, 2 and 1 over the columns `j_begin .. j_end` of C for one depth block.
fn gemm_columns<K: MicroKernel>(
    m: usize,
    b: &dyn PackB,
    c: CPtr,
    j_begin: usize,
    j_end: usize,
    depth: &Depth,
) {
    let (mr, nr) = (K::MR, K::NR);
    let Depth { pc, kc, a: apacked } = *depth;
    let accumulate = pc > 0;
    BUFFERS.with(|cell| {
        // This thread's buffers, unless a nested call (a `PackB` that multiplies, or a job
        // stolen while waiting) holds them.
        let mut own = (Vec::new(), Vec::new());
        let mut guard = cell.try_borrow_mut();
        let (bbuf, scratch) = match guard.as_deref_mut() {
            Ok((b, s)) => (b, s),
            Err(_) => (&mut own.0, &mut own.1),
        };
        bbuf.resize(K::NC.next_multiple_of(nr) * K::KC, 0.0);
        let mut tile = vec![0.0f32; mr * nr];
        // Loop 5: blocks of NC columns, packed into B micro-panels.
        for jc in (j_begin..j_end).step_by(K::NC) {
            let nc = K::NC.min(j_end - jc);
            let b_panels = nc.div_ceil(nr);
            b.pack_block(
                pc..pc + kc,
                jc..jc + nc,
                nr,
                &mut bbuf[..b_panels * kc * nr],
                scratch,
            );
            // Loop 3: blocks of MC rows, whose packed panels stay in L2.
            for ic in (0..m).step_by(K::MC) {
                let mc = K::MC.min(m - ic);
                // Loop 2: B micro-panels (in L1); loop 1: A micro-panels.
                for jp in 0..b_panels {
                    let j0 = jc + jp * nr;
                    let cols = nr.min(jc + nc - j0);
                    let bp = bbuf[jp * kc * nr..].as_ptr();
                    for i0 in (ic..ic + mc).step_by(mr) {
                        let rows = mr.min(m - i0);
                        let ap = apacked[(i0 / mr) * kc * mr..].as_ptr();
                        if rows == mr && cols == nr && c.cs == 1 {
                            // SAFETY: the MR×NR tile at (i0, j0) is inside C (checked in
                            // `gemm`) and in this thread's columns; the kernel was chosen
                            // for this CPU by `sgemm`; panels hold kc·MR, kc·NR.
                            unsafe {
                                K::run(kc, ap, bp, c.ptr.add(i0 * c.rs + j0), c.rs, accumulate)
                            };
                        } else {
                            // Edge tile: the same kernel into a local tile, then copy the
                            // part inside C.
                            for ii in 0..rows {
                                for jj in 0..cols {
                                    let at = (i0 + ii) * c.rs + (j0 + jj) * c.cs;
                                    tile[ii * nr + jj] = if accumulate {
                                        // SAFETY: (i0+ii, j0+jj) is inside C, in this
                                        // thread's columns.
                                        unsafe { *c.ptr.add(at) }
                                    } else {
                                        0.0
                                    };
                                }
                            }
                            // SAFETY: `tile` is MR×NR with row stride NR.
                            unsafe { K::run(kc, ap, bp, tile.as_mut_ptr(), nr, true) };
                            for ii in 0..rows {
                                for jj in 0..cols {
                                    let at = (i0 + ii) * c.rs + (j0 + jj) * c.cs;
                                    // SAFETY: (i0+ii, j0+jj) is inside C, in this thread's columns.
                                    unsafe { *c.ptr.add(at) = tile[ii * nr + jj] };
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
