//! Packing operands into micro-panels: the layout the micro-kernels stream through.
//!
//! An A micro-panel is `kc` columns of `MR` rows, stored column after column; a B
//! micro-panel is `kc` rows of `NR` columns, row after row. Rows or columns past the edge
//! of the matrix are zero, so edge tiles run the same kernel as full ones.

use std::marker::PhantomData;
use std::ops::Range;

use crate::kernels::formats::Block;
use crate::kernels::qdot::split::SplitView;

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (a view; nothing is copied).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Whether every element lies inside `data`.
    pub fn in_bounds(&self) -> bool {
        view_in_bounds(self.data.len(), self.rows, self.cols, self.rs, self.cs)
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// Whether every element `(i, j)` of a `rows × cols` view with strides `rs, cs` lies below
/// `len` (with overflow checked: a wrapped offset must not pass).
pub fn view_in_bounds(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    matches!(last, Some(l) if l < len)
}

/// Packs rows `i0 .. i0 + rows` (≤ `MR`), columns `pc .. pc + kc` of `a` into one A
/// micro-panel `dst` (`kc * MR` floats), zero past the last row.
pub fn pack_a_panel<const MR: usize>(
    a: &MatRef,
    i0: usize,
    rows: usize,
    pc: usize,
    kc: usize,
    dst: &mut [f32],
) {
    debug_assert!(rows <= MR);
    let dst = &mut dst[..kc * MR];
    if a.cs == 1 && rows == MR {
        // The common case: MR whole rows of a row-major matrix, read in parallel streams
        // and written as one contiguous panel.
        let src: [&[f32]; MR] = std::array::from_fn(|ii| &a.data[(i0 + ii) * a.rs + pc..][..kc]);
        for (kk, d) in dst.chunks_exact_mut(MR).enumerate() {
            for ii in 0..MR {
                d[ii] = src[ii][kk];
            }
        }
        return;
    }
    for (kk, d) in dst.chunks_exact_mut(MR).enumerate() {
        for (ii, v) in d.iter_mut().enumerate() {
            *v = if ii < rows {
                a.at(i0 + ii, pc + kk)
            } else {
                0.0
            };
        }
    }
}

/// A right-hand operand (`k × n`) that can be packed into B micro-panels.
pub trait PackB: Sync {
    /// Rows (the shared dimension `k`).
    fn k(&self) -> usize;
    /// Columns (`n`).
    fn n(&self) -> usize;
    /// Packs rows `depth` and `columns` (at most `nr` of them) into one B micro-panel
    /// `dst` (`depth.len() * nr` floats), zero beyond the last column. `scratch` is a
    /// reusable buffer for formats that decode first.
    fn pack_panel(
        &self,
        depth: Range<usize>,
        columns: Range<usize>,
        nr: usize,
        dst: &mut [f32],
        scratch: &mut Vec<f32>,
    );
    /// Packs rows `depth` and `columns` into consecutive B micro-panels of `nr` columns
    /// each (`depth.len() * nr` floats apiece; the last zero beyond the last column).
    fn pack_block(
        &self,
        depth: Range<usize>,
        columns: Range<usize>,
        nr: usize,
        dst: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        pack_by_panels(self, depth, columns, nr, dst, scratch)
    }
    /// Depth blocks must start at multiples of this (a quantized format's block size).
    fn depth_align(&self) -> usize {
        1
    }
}

impl PackB for MatRef<'_> {
    fn k(&self) -> usize {
        self.rows
    }
    fn n(&self) -> usize {
        self.cols
    }
    /// A row-major matrix is packed row by row: each of B's rows is read once, front to
    /// back, and dealt out to the panels. Panel by panel, every `nr`-float piece came from
    /// a new row 4 KB or more away (one `memmove` call and one cache miss each): 7% of
    /// `sgemm/1024x1024x1024` on Zen 3.
    fn pack_block(
        &self,
        depth: Range<usize>,
        columns: Range<usize>,
        nr: usize,
        dst: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let (pc, kc, j0, n) = (depth.start, depth.len(), columns.start, columns.len());
        if self.cs != 1 || !nr.is_multiple_of(8) {
            return pack_by_panels(self, depth, columns, nr, dst, scratch);
        }
        let panel = kc * nr; // (kc, nr) per panel, n.div_ceil(nr) panels in dst
        for kk in 0..kc {
            let mut pieces = self.data[(pc + kk) * self.rs + j0..][..n].chunks_exact(nr);
            let mut outs = dst.chunks_mut(panel).map(|p| &mut p[kk * nr..][..nr]);
            for (src, out) in pieces.by_ref().zip(&mut outs) {
                // Eight floats at a time, a length the compiler sees (no `memmove` call).
                for (o, s) in out.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
                    let s: [f32; 8] = s.try_into().expect("chunks of 8");
                    o.copy_from_slice(&s);
                }
            }
            let tail = pieces.remainder();
            if !tail.is_empty() {
                let out = outs.next().expect("dst holds a panel for the last columns");
                out[..tail.len()].copy_from_slice(tail);
                out[tail.len()..].fill(0.0);
            }
        }
    }
    fn pack_panel(
        &self,
        depth: Range<usize>,
        columns: Range<usize>,
        nr: usize,
        dst: &mut [f32],
        _: &mut Vec<f32>,
    ) {
        let (pc, kc, j0, cols) = (depth.start, depth.len(), columns.start, columns.len());
        for kk in 0..kc {
            let out = &mut dst[kk * nr..(kk + 1) * nr];
            if self.cs == 1 {
                out[..cols].copy_from_slice(&self.data[(pc + kk) * self.rs + j0..][..cols]);
            } else {
                for (jj, o) in out[..cols].iter_mut().enumerate() {
                    *o = self.at(pc + kk, j0 + jj);
                }
            }
            out[cols..].fill(0.0);
        }
    }
}

/// `PackB::pack_block` panel by panel, through `pack_panel`.
fn pack_by_panels<P: PackB + ?Sized>(
    b: &P,
    depth: Range<usize>,
    columns: Range<usize>,
    nr: usize,
    dst: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let panel = depth.len() * nr; // (kc, nr) per panel
    for (jp, j0) in columns.clone().step_by(nr).enumerate() {
        let cols = nr.min(columns.end - j0);
        let out = &mut dst[jp * panel..][..panel];
        b.pack_panel(depth.clone(), j0..j0 + cols, nr, out, scratch);
    }
}

/// The transpose of weights stored as `n` rows of `k` quantized values: element `(kk, j)`
/// is weight `kk` of output feature `j`. Packing decodes each weight block once per pack.
pub struct QuantRowsT<'a, B> {
    pub blocks: &'a [B],
    pub k: usize,
    pub n: usize,
}

/// `QuantRowsT` for weights in the split layout (`qdot::split`): each block is put back
/// together, then decoded as the block layout's are.
pub struct SplitRowsT<'a, B> {
    pub view: SplitView<'a>,
    pub k: usize,
    pub n: usize,
    pub format: PhantomData<B>,
}

/// A quantized weight matrix as the GEMM reads it: `n` rows of `k` values in blocks of
/// `B`, block `i` counting across rows. Its `PackB` decodes blocks into panels; the
/// integer GEMM (`igemm`) packs from it too.
pub trait BlockRows: Sync {
    type B: Block;
    fn k(&self) -> usize;
    fn n(&self) -> usize;
    fn block(&self, i: usize) -> Self::B;
}

impl<B: Block> BlockRows for QuantRowsT<'_, B> {
    type B = B;
    fn k(&self) -> usize {
        self.k
    }
    fn n(&self) -> usize {
        self.n
    }
    fn block(&self, i: usize) -> B {
        self.blocks[i]
    }
}

impl<B: Block> BlockRows for SplitRowsT<'_, B> {
    type B = B;
    fn k(&self) -> usize {
        self.k
    }
    fn n(&self) -> usize {
        self.n
    }
    fn block(&self, i: usize) -> B {
        self.view.block(i)
    }
}

impl<T: BlockRows> PackB for T {
    fn k(&self) -> usize {
        BlockRows::k(self)
    }
    fn depth_align(&self) -> usize {
        T::B::BLOCK
    }
    fn n(&self) -> usize {
        BlockRows::n(self)
    }
    /// Each weight row's slice of the depth block decoded into `scratch`, then scattered
    /// down the panel's column.
    fn pack_panel(
        &self,
        depth: Range<usize>,
        columns: Range<usize>,
        nr: usize,
        dst: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let (pc, kc, j0, cols) = (depth.start, depth.len(), columns.start, columns.len());
        let (k, bs) = (BlockRows::k(self), T::B::BLOCK);
        assert!(pc.is_multiple_of(bs) && (kc.is_multiple_of(bs) || pc + kc == k));
        let nb = k / bs;
        scratch.resize(kc.next_multiple_of(bs), 0.0);
        for jj in 0..nr {
            if jj >= cols {
                for kk in 0..kc {
                    dst[kk * nr + jj] = 0.0;
                }
                continue;
            }
            let first = (j0 + jj) * nb + pc / bs;
            for (i, out) in (first..first + kc.div_ceil(bs)).zip(scratch.chunks_exact_mut(bs)) {
                self.block(i).dequantize(out);
            }
            for (kk, &v) in scratch[..kc].iter().enumerate() {
                dst[kk * nr + jj] = v;
            }
        }
    }
}

/// The transpose of 16-bit float weights stored as `n` rows of `k`: packing widens each
/// value once per pack.
pub struct HalfRowsT<'a, H> {
    pub rows: &'a [H],
    pub k: usize,
    pub n: usize,
}

impl<H: crate::kernels::halfdot::HalfFloat> PackB for HalfRowsT<'_, H> {
    fn k(&self) -> usize {
        self.k
    }
    fn n(&self) -> usize {
        self.n
    }
    fn pack_panel(
        &self,
        depth: Range<usize>,
        columns: Range<usize>,
        nr: usize,
        dst: &mut [f32],
        _: &mut Vec<f32>,
    ) {
        let (pc, kc, j0, cols) = (depth.start, depth.len(), columns.start, columns.len());
        for jj in 0..nr {
            if jj >= cols {
                for kk in 0..kc {
                    dst[kk * nr + jj] = 0.0;
                }
                continue;
            }
            let row = &self.rows[(j0 + jj) * self.k + pc..][..kc];
            for (kk, &v) in row.iter().enumerate() {
                dst[kk * nr + jj] = v.widen();
            }
        }
    }
}
