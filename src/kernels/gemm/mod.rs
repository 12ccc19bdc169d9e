//! f32 GEMM, BLIS-style (Van Zee & van de Geijn 2015): `C (m × n) = A (m × k) · B (k × n)`.
//!
//! The loops, outermost first, each cutting the problem for one level of the memory
//! hierarchy (constants are per micro-kernel, see `microkernel.rs`):
//!
//! ```text
//! loop 5  jc over n by NC   a KC × NC block of B, packed, for a share of L3
//! loop 4  pc over k by KC   the depth of every packed block
//! loop 3  ic over m by MC   an MC × KC block of A, packed, in L2
//! loop 2  jr over NC by NR  one KC × NR micro-panel of B, reused from L1
//! loop 1  ir over MC by MR  one MR × KC micro-panel of A against it
//!         micro-kernel      an MR × NR tile of C in registers
//! ```
//!
//! Threads split loop 5's columns into contiguous ranges (whole NR panels): each thread
//! packs and decodes only its own part of B, which is what matters when B is a quantized
//! weight matrix decoded during packing. Every element of C is summed in the same order
//! whatever the split, so results do not depend on the thread count. A and B are read
//! through strides, so transposed operands cost nothing beyond packing.

pub mod microkernel;
pub mod pack;

use std::cell::RefCell;

use rayon::prelude::*;

use super::cpu::Isa;
pub use microkernel::MicroKernel;
use microkernel::Scalar;
pub use pack::{MatRef, PackB, QuantRowsT};

/// Below this many multiply-adds the product runs on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 18;

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
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => gemm::<microkernel::Avx512>(a, b, c),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => gemm::<microkernel::Avx2>(a, b, c),
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
    /// Per-thread packing buffers (A block, B block, decode scratch), reused across calls.
    static BUFFERS: RefCell<(Vec<f32>, Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// The BLIS loop nest for micro-kernel `K`.
pub fn gemm<K: MicroKernel>(a: MatRef, b: &dyn PackB, c: MatMut) {
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
        c.rows == 0 || c.cols == 0 || (c.rows - 1) * c.rs + (c.cols - 1) * c.cs < c.data.len(),
        "gemm: C view runs past its data"
    );
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
    let parts = if m * n * k < PARALLEL_MIN_MACS {
        1
    } else {
        threads.min(panels)
    };
    let range = |p: usize| {
        let (p0, p1) = (p * panels / parts, (p + 1) * panels / parts);
        (p0 * K::NR, (p1 * K::NR).min(n))
    };
    if parts == 1 {
        gemm_columns::<K>(&a, b, cp, 0, n);
    } else {
        (0..parts).into_par_iter().for_each(|p| {
            let (j0, j1) = range(p);
            gemm_columns::<K>(&a, b, cp, j0, j1);
        });
    }
}

/// Loops 5 to 1 over the columns `j_begin .. j_end` of C.
fn gemm_columns<K: MicroKernel>(a: &MatRef, b: &dyn PackB, c: CPtr, j_begin: usize, j_end: usize) {
    let (m, k) = (a.rows, a.cols);
    let (mr, nr) = (K::MR, K::NR);
    BUFFERS.with_borrow_mut(|(abuf, bbuf, scratch)| {
        abuf.resize(K::MC.next_multiple_of(mr) * K::KC, 0.0);
        bbuf.resize(K::NC.next_multiple_of(nr) * K::KC, 0.0);
        let mut tile = vec![0.0f32; mr * nr];
        // Loop 5: blocks of NC columns.
        for jc in (j_begin..j_end).step_by(K::NC) {
            let nc = K::NC.min(j_end - jc);
            // Loop 4: depth blocks of KC.
            for pc in (0..k).step_by(K::KC) {
                let kc = K::KC.min(k - pc);
                let accumulate = pc > 0;
                let b_panels = nc.div_ceil(nr);
                for jp in 0..b_panels {
                    let j0 = jc + jp * nr;
                    let cols = nr.min(jc + nc - j0);
                    b.pack_panel(
                        pc..pc + kc,
                        j0..j0 + cols,
                        nr,
                        &mut bbuf[jp * kc * nr..][..kc * nr],
                        scratch,
                    );
                }
                // Loop 3: blocks of MC rows of A.
                for ic in (0..m).step_by(K::MC) {
                    let mc = K::MC.min(m - ic);
                    let a_panels = mc.div_ceil(mr);
                    for ip in 0..a_panels {
                        let i0 = ic + ip * mr;
                        pack::pack_a_panel(
                            a,
                            i0,
                            mr.min(ic + mc - i0),
                            pc,
                            kc,
                            mr,
                            &mut abuf[ip * kc * mr..][..kc * mr],
                        );
                    }
                    // Loop 2: B micro-panels; loop 1: A micro-panels.
                    for jp in 0..b_panels {
                        let j0 = jc + jp * nr;
                        let cols = nr.min(jc + nc - j0);
                        let bp = bbuf[jp * kc * nr..].as_ptr();
                        for ip in 0..a_panels {
                            let i0 = ic + ip * mr;
                            let rows = mr.min(ic + mc - i0);
                            let ap = abuf[ip * kc * mr..].as_ptr();
                            if rows == mr && cols == nr && c.cs == 1 {
                                // SAFETY: the packed panels hold kc*mr and kc*nr floats; the
                                // tile (i0.., j0..) of MR×NR lies inside C (checked in
                                // `gemm`), in this thread's column range; the kernel was
                                // chosen for this CPU in `sgemm`.
                                unsafe {
                                    K::run(kc, ap, bp, c.ptr.add(i0 * c.rs + j0), c.rs, accumulate)
                                };
                            } else {
                                // Edge tile: the same kernel into a local tile, then copy
                                // the part inside C.
                                for ii in 0..rows {
                                    for jj in 0..cols {
                                        // SAFETY: (i0+ii, j0+jj) is inside C, in this
                                        // thread's columns.
                                        tile[ii * nr + jj] = if accumulate {
                                            unsafe {
                                                *c.ptr.add((i0 + ii) * c.rs + (j0 + jj) * c.cs)
                                            }
                                        } else {
                                            0.0
                                        };
                                    }
                                }
                                // SAFETY: `tile` is MR×NR with row stride NR.
                                unsafe { K::run(kc, ap, bp, tile.as_mut_ptr(), nr, true) };
                                for ii in 0..rows {
                                    for jj in 0..cols {
                                        // SAFETY: as above.
                                        unsafe {
                                            *c.ptr.add((i0 + ii) * c.rs + (j0 + jj) * c.cs) =
                                                tile[ii * nr + jj]
                                        };
                                    }
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
