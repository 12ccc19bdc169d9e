//! Quantized matmul: `dst (m, n) = lhs (m, k) · Wᵀ` with `W` as `n` rows of quantized
//! blocks, the activations quantized once per call to 16 bits (`QuantActs`), and integer dot
//! products (`qdot`). Each decoded weight chunk serves up to `MAX_ROWS` activation rows.
//!
//! Work is split over weight rows, in a few large contiguous chunks (each thread streams
//! its own slice of the matrix). Every output is computed by the same kernel call whatever
//! the split, so the result does not depend on the thread count.

use super::cpu::{self, Isa};
use super::formats::{with_block, Block, DType, QK};
use super::par;
use super::prod;
use super::qdot::rows::{rows_kernel, run_rows, split_rows_kernel, Out, RowsKernel};
use super::qdot::split::{SplitLayout, SplitView};
use super::qdot::{ActsSource, QuantActs};

/// Weight rows per task when split: a multiple of 16 keeps chunks aligned to cache lines
/// of the output.
const ROW_GRAIN: usize = 16;

/// Quantized weights of one projection, `(n, k)` row-major in blocks of `dtype`, with the
/// row loop of their format for this CPU's ISA (`qdot::rows`), chosen when made.
#[derive(Clone, Copy, Debug)]
pub struct QWeights<'a> {
    dtype: DType,
    /// The blocks (what the GEMM path packs).
    bytes: &'a [u8],
    /// The same weights in the split layout, when made (`with_split`): what the integer
    /// row loop reads then.
    split: Option<&'a [u16]>,
    kernel: RowsKernel,
}

impl<'a> QWeights<'a> {
    /// `bytes` in `dtype`'s block layout; `None` for a float type, or bytes that are
    /// misaligned or not a whole number of blocks.
    pub fn new(dtype: DType, bytes: &'a [u8]) -> Option<Self> {
        let fits = with_block!(dtype, B => bytemuck::try_cast_slice::<u8, B>(bytes).is_ok(),
            else => false);
        let kernel = rows_kernel(dtype, cpu::isa()).filter(|_| fits)?;
        Some(QWeights {
            dtype,
            bytes,
            split: None,
            kernel,
        })
    }

    /// These weights with their split layout (`qdot::split::split` of the same bytes),
    /// which the integer row loop then reads; `self` unchanged when this CPU has no
    /// kernel for it. Panics if `split` is not the layout's length.
    pub fn with_split(self, split: &'a [u16]) -> Self {
        let Some(kernel) = split_rows_kernel(self.dtype, cpu::isa()) else {
            return self;
        };
        let blocks = self.bytes.len() / self.dtype.type_size();
        let layout = SplitLayout::new(self.dtype, blocks).expect("a split format");
        assert_eq!(split.len(), layout.len(), "QWeights: split layout length");
        QWeights {
            split: Some(split),
            kernel,
            ..self
        }
    }

    /// A typed slice of blocks.
    pub fn of<B: Block>(blocks: &'a [B]) -> Self {
        QWeights::new(B::DTYPE, bytemuck::cast_slice(blocks)).expect("a slice of blocks")
    }

    /// Weights whose row loop was chosen before (`row_loop()` of a `QWeights` made from
    /// the same bytes and split layout): a weight prepared at load keeps the kernel and
    /// assembles its `QWeights` per matmul without dispatching again. Panics if the kernel
    /// reads the split layout and none is given, or the other way round.
    pub fn with_kernel(kernel: RowsKernel, bytes: &'a [u8], split: Option<&'a [u16]>) -> Self {
        assert_eq!(
            kernel.split(),
            split.is_some(),
            "QWeights: kernel and layout differ"
        );
        QWeights {
            dtype: kernel.dtype(),
            bytes,
            split,
            kernel,
        }
    }

    /// The row loop chosen for these weights on this CPU.
    pub fn row_loop(&self) -> RowsKernel {
        self.kernel
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The split layout, as rows of `nb` blocks, when these weights carry one.
    pub fn split_view(&self, nb: usize) -> Option<SplitView<'a>> {
        let blocks = self.bytes.len() / self.dtype.type_size();
        let layout = SplitLayout::new(self.dtype, blocks)?;
        self.split.map(|buf| SplitView::new(buf, layout, nb))
    }

    /// The blocks, as the type of `dtype` (checked when `self` was made).
    pub fn blocks<B: Block>(&self) -> &'a [B] {
        assert_eq!(B::DTYPE, self.dtype, "QWeights: block type");
        bytemuck::cast_slice(self.bytes)
    }

    /// Number of values (blocks × block size).
    fn values(&self) -> usize {
        self.bytes.len() / self.dtype.type_size() * self.dtype.block_size()
    }

    /// The row loop for `isa`, and the bytes it reads: the one chosen when made, unless
    /// asked for another ISA (the split layout's when that ISA has a kernel for it).
    fn kernel(&self, isa: Isa) -> (RowsKernel, &'a [u8]) {
        let split = self.split.map(bytemuck::cast_slice);
        if isa.checked() == self.kernel.isa() {
            return (self.kernel, split.unwrap_or(self.bytes));
        }
        match (split, split_rows_kernel(self.dtype, isa)) {
            (Some(split), Some(k)) => (k, split),
            _ => (
                rows_kernel(self.dtype, isa).expect("QWeights holds a block format"),
                self.bytes,
            ),
        }
    }
}

/// Most products one `qmatmul_many` call takes (q, k and v; gate and up).
pub const MAX_JOBS: usize = 4;

/// `dst (m, n) = lhs (m, k) · w (n, k)ᵀ`; `acts` is the caller's buffer for the quantized
/// activations (reused across calls, so a warm one allocates nothing).
#[allow(clippy::too_many_arguments)]
pub fn qmatmul<B: Block>(
    isa: Isa,
    acts: &mut QuantActs,
    lhs: &[f32],
    w: &[B],
    dst: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(
        k % B::BLOCK,
        0,
        "qmatmul: k must be a multiple of {}",
        B::BLOCK
    );
    assert_eq!(lhs.len(), prod(m, k), "qmatmul: lhs must be (m, k)");
    assert_eq!(
        prod(w.len(), B::BLOCK),
        prod(n, k),
        "qmatmul: w must be (n, k)"
    );
    assert_eq!(dst.len(), prod(m, n), "qmatmul: dst must be (m, n)");
    if n == 0 {
        return;
    }
    let src = ActsSource::Rows(lhs);
    qmatmul_many(isa, acts, src, m, k, &mut [(QWeights::of(w), dst)]);
}

/// Several products of the same activations, `dst_j (m, n_j) = lhs (m, k) · W_jᵀ` with
/// `lhs` the rows `src` makes, in one parallel region: the activations are quantized once
/// and the rows of all the matrices are split together (q, k and v, or gate and up, cost
/// one fork-join instead of three). At most `MAX_JOBS` products.
pub fn qmatmul_many(
    isa: Isa,
    acts: &mut QuantActs,
    src: ActsSource,
    m: usize,
    k: usize,
    jobs: &mut [(QWeights, &mut [f32])],
) {
    assert_eq!(k % QK, 0, "qmatmul: k must be a multiple of {QK}");
    if let ActsSource::Rows(lhs) = src {
        assert_eq!(lhs.len(), prod(m, k), "qmatmul: lhs must be (m, k)");
    }
    if m == 0 {
        return;
    }
    let nb = k / QK;
    if nb == 0 {
        jobs.iter_mut().for_each(|(_, dst)| dst.fill(0.0));
        return;
    }
    assert!(
        jobs.len() <= MAX_JOBS,
        "qmatmul_many: more than {MAX_JOBS} products"
    );
    // (first global row, rows, weights, their row loop, output) per job, on the stack.
    let mut table = [None; MAX_JOBS];
    let mut total = 0;
    for ((w, dst), slot) in jobs.iter_mut().zip(&mut table) {
        assert_eq!(w.values() % k, 0, "qmatmul: weights must be (n, k)");
        let n = w.values() / k;
        let (kernel, bytes) = w.kernel(isa);
        *slot = Some((total, n, bytes, kernel, Out::new(dst, m, n)));
        total += n;
    }
    acts.quantize_from(isa, src, m, k);
    let acts = &*acts;
    split(
        m.saturating_mul(total).saturating_mul(k),
        total,
        |g0, g1| {
            for &(first, n, bytes, kernel, out) in table.iter().flatten() {
                let (r0, r1) = (g0.max(first), g1.min(first + n));
                if r0 < r1 {
                    // SAFETY: `split` hands each task its own global rows, so rows
                    // r0..r1 of this job are written by this task only.
                    unsafe { run_rows(kernel, bytes, acts, (r0 - first, r1 - first), out) };
                }
            }
        },
    );
}

/// Runs `job(r0, r1)` over `0..n` rows in one contiguous chunk per thread (each thread
/// streams its own slice of the matrix), through the kernels' one parallelism policy.
fn split(macs: usize, n: usize, job: impl Fn(usize, usize) + Sync) {
    let threads = rayon::current_num_threads();
    // One task per thread: 4 per thread (for balance) measured 5% slower end to end.
    let chunk = n.div_ceil(threads).next_multiple_of(ROW_GRAIN);
    par::for_each_task(n.div_ceil(chunk), macs, |c| {
        job(c * chunk, ((c + 1) * chunk).min(n))
    });
}

#[cfg(test)]
mod tests;
