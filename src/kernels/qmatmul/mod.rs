//! Quantized matmul: `dst (m, n) = lhs (m, k) · Wᵀ` with `W` as `n` rows of quantized
//! blocks, the activations quantized once per call to 16 bits (`QuantActs`), and integer dot
//! products (`qdot`). Each decoded weight chunk serves up to `MAX_ROWS` activation rows.
//!
//! Work is split over weight rows, in a few large contiguous chunks (each thread streams
//! its own slice of the matrix). Every output is computed by the same kernel call whatever
//! the split, so the result does not depend on the thread count.

use super::cpu::Isa;
use super::formats::{with_block, Block, DType, QK};
use super::par;
use super::prod;
use super::qdot::{self, QuantActs, MAX_ROWS};

/// Weight rows per task when split: a multiple of 16 keeps chunks aligned to cache lines
/// of the output.
const ROW_GRAIN: usize = 16;

/// A pointer that may be sent to the threads writing disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used to write disjoint elements from different threads (see `qmatmul`).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Quantized weights of one projection, `(n, k)` row-major in blocks of `dtype`.
#[derive(Clone, Copy, Debug)]
pub struct QWeights<'a> {
    dtype: DType,
    bytes: &'a [u8],
}

impl<'a> QWeights<'a> {
    /// `bytes` in `dtype`'s block layout; `None` for a float type, or bytes that are
    /// misaligned or not a whole number of blocks.
    pub fn new(dtype: DType, bytes: &'a [u8]) -> Option<Self> {
        with_block!(dtype, B => bytemuck::try_cast_slice::<u8, B>(bytes).ok().map(|_| QWeights { dtype, bytes }),
            else => None)
    }

    /// A typed slice of blocks.
    pub fn of<B: Block>(blocks: &'a [B]) -> Self {
        QWeights {
            dtype: B::DTYPE,
            bytes: bytemuck::cast_slice(blocks),
        }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
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

    fn rows(&self, isa: Isa, acts: &QuantActs, r0: usize, r1: usize, out: SendPtr, n: usize) {
        with_block!(self.dtype, B => rows::<B>(isa, self.blocks(), acts, r0, r1, out, n),
            else => unreachable!("QWeights holds a block format"))
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
    if m == 0 || n == 0 {
        return;
    }
    acts.quantize(lhs, m, k);
    let acts = &*acts;
    let out = SendPtr(dst.as_mut_ptr());
    split(m.saturating_mul(n).saturating_mul(k), n, |r0, r1| {
        rows(isa, w, acts, r0, r1, out, n)
    });
}

/// Several products of the same activations, `dst_j (m, n_j) = lhs (m, k) · W_jᵀ`, in one
/// parallel region: the activations are quantized once and the rows of all the matrices
/// are split together (q, k and v, or gate and up, cost one fork-join instead of three).
/// At most `MAX_JOBS` products.
pub fn qmatmul_many(
    isa: Isa,
    acts: &mut QuantActs,
    lhs: &[f32],
    m: usize,
    k: usize,
    jobs: &mut [(QWeights, &mut [f32])],
) {
    assert_eq!(k % QK, 0, "qmatmul: k must be a multiple of {QK}");
    assert_eq!(lhs.len(), prod(m, k), "qmatmul: lhs must be (m, k)");
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
    // (first global row, rows, weights, output) per job, on the stack.
    let mut table = [None; MAX_JOBS];
    let mut total = 0;
    for ((w, dst), slot) in jobs.iter_mut().zip(&mut table) {
        assert_eq!(w.values() % k, 0, "qmatmul: weights must be (n, k)");
        let n = w.values() / k;
        assert_eq!(dst.len(), prod(m, n), "qmatmul: dst must be (m, n)");
        *slot = Some((total, n, *w, SendPtr(dst.as_mut_ptr())));
        total += n;
    }
    acts.quantize(lhs, m, k);
    let acts = &*acts;
    split(
        m.saturating_mul(total).saturating_mul(k),
        total,
        |g0, g1| {
            for &(first, n, w, out) in table.iter().flatten() {
                let (r0, r1) = (g0.max(first), g1.min(first + n));
                if r0 < r1 {
                    w.rows(isa, acts, r0 - first, r1 - first, out, n);
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

/// Weight rows `r0 .. r1` of `w` against every activation row, into `dst (m, n)` at `out`.
fn rows<B: Block>(
    isa: Isa,
    w: &[B],
    acts: &QuantActs,
    r0: usize,
    r1: usize,
    out: SendPtr,
    n: usize,
) {
    let m = acts.rows;
    // Weight blocks per row.
    let nb = acts.nb * QK / B::BLOCK;
    assert!(
        r1 <= n && w.len() == n * nb,
        "qmatmul: weights must be (n, k)"
    );
    for r in r0..r1 {
        let wr = &w[r * nb..(r + 1) * nb];
        let mut i = 0;
        while i < m {
            match m - i {
                1 => group::<B, 1>(isa, wr, acts, i, out, n, r),
                2 => group::<B, 2>(isa, wr, acts, i, out, n, r),
                3 => group::<B, 3>(isa, wr, acts, i, out, n, r),
                _ => group::<B, 4>(isa, wr, acts, i, out, n, r),
            }
            i += (m - i).min(MAX_ROWS);
        }
    }
}

/// Computes weight row `r` against activation rows `i .. i + R` and writes the results to
/// column `r` of `dst` (`(m, n)` at `out`).
#[inline]
fn group<B: Block, const R: usize>(
    isa: Isa,
    wr: &[B],
    acts: &QuantActs,
    i: usize,
    out: SendPtr,
    n: usize,
    r: usize,
) {
    let mut o = [0.0f32; R];
    qdot::dot_rows::<B, R>(isa, wr, acts, i, &mut o);
    for (t, v) in o.into_iter().enumerate() {
        // Each column `r` belongs to exactly one task: no two threads write one element.
        // SAFETY: row i + t < m, column r < n: inside `dst` (m × n, checked on entry).
        unsafe { *out.0.add((i + t) * n + r) = v };
    }
}

#[cfg(test)]
mod tests;
