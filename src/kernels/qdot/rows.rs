//! The row loop of the integer matvec, dispatched once: `rows_fn(dtype, isa)` picks one
//! function for the format and the instruction set, and the whole loop over weight rows
//! and activation-row groups runs inside that `#[target_feature]` function, with the dot
//! kernel inlined into it (matrixmultiply's `detect` and gemm's cached function pointer
//! do the same). A `QWeights` keeps the `RowsKernel` chosen when it is made, so its
//! matmul does no format or ISA dispatch per row.

use super::split::SplitLayout;
#[cfg(target_arch = "x86_64")]
use super::split::SplitView;
use super::{dot_rows_scalar, QuantActs, MAX_ROWS};
use crate::kernels::cpu::Isa;
use crate::kernels::formats::{with_block, Block, DType, QK};

/// Where a matmul's results go: `dst (m, n)` row-major, written one column per weight
/// row, from several threads at disjoint columns.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    ptr: *mut f32,
    m: usize,
    n: usize,
}

// SAFETY: the row loops write element (i, r) only for the weight rows r of their task, and
// tasks own disjoint row ranges (`run_rows`' contract).
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

impl Out {
    /// `dst` as an `(m, n)` matrix.
    pub fn new(dst: &mut [f32], m: usize, n: usize) -> Out {
        assert_eq!(
            Some(dst.len()),
            m.checked_mul(n),
            "qmatmul: dst must be (m, n)"
        );
        Out {
            ptr: dst.as_mut_ptr(),
            m,
            n,
        }
    }

    /// Writes `o[t]` to element `(i + t, r)`.
    ///
    /// # Safety
    /// `i + R ≤ m` and `r < n`, and no other thread writes these elements now.
    #[inline(always)]
    unsafe fn put<const R: usize>(&self, i: usize, r: usize, o: [f32; R]) {
        for (t, v) in o.into_iter().enumerate() {
            // SAFETY: inside the (m, n) buffer by the caller's contract.
            unsafe { *self.ptr.add((i + t) * self.n + r) = v };
        }
    }
}

/// Weight rows `r0 .. r1` of the blocks in the bytes, against every activation row, into
/// `Out`.
///
/// # Safety
/// The bytes are `n` rows of `acts.nb · QK / BLOCK` blocks of the function's format,
/// aligned for it; `r1 ≤ n = out.n`; `acts.rows == out.m` and its arrays hold `rows × nb`
/// blocks; the CPU has the function's ISA; no other thread writes columns `r0 .. r1`.
type RowsFn = unsafe fn(&[u8], &QuantActs, usize, usize, Out);

/// The row loop of one format on one ISA: only `rows_kernel` makes one, so the format
/// and the ISA it was made for travel with the function.
#[derive(Clone, Copy, Debug)]
pub struct RowsKernel {
    dtype: DType,
    isa: Isa,
    /// Reads the split layout (`qdot::split`) rather than the blocks.
    split: bool,
    f: RowsFn,
}

impl RowsKernel {
    /// The ISA the row loop runs (`Isa::checked` of the one asked for).
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The format the row loop reads.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Whether the row loop reads the split layout.
    pub fn split(&self) -> bool {
        self.split
    }
}

/// The row loop of `dtype` on `isa` (or the best this CPU has, `Isa::checked`); `None`
/// for a float type.
pub fn rows_kernel(dtype: DType, isa: Isa) -> Option<RowsKernel> {
    let isa = isa.checked();
    let f = with_block!(dtype, B => rows_fn_of::<B>(isa), else => return None);
    Some(RowsKernel {
        dtype,
        isa,
        split: false,
        f,
    })
}

/// The row loop of `dtype` in the split layout on `isa` (checked): `None` unless the
/// format splits and the ISA has a split kernel (AVX2, and AVX-512 through it).
pub fn split_rows_kernel(dtype: DType, isa: Isa) -> Option<RowsKernel> {
    let isa = isa.checked();
    SplitLayout::new(dtype, 0)?;
    let f: Option<RowsFn> = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => with_block!(dtype, B => Some(rows_split_vnni::<B>), else => None),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => with_block!(dtype, B => Some(rows_split_avx2::<B>), else => None),
        _ => None,
    };
    f.map(|f| RowsKernel {
        dtype,
        isa,
        split: true,
        f,
    })
}

fn rows_fn_of<B: Block>(isa: Isa) -> RowsFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => rows_vnni::<B>,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => rows_avx2::<B>,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => rows_neon::<B>,
        _ => rows_scalar::<B>,
    }
}

/// Weight rows `r0 .. r1` of `bytes` (blocks of the kernel's format) against every
/// activation row, into `out`, after checking every shape the row loop relies on.
///
/// # Safety
/// No other thread writes columns `r0 .. r1` of `out` during the call (tasks of one
/// matmul own disjoint row ranges).
pub unsafe fn run_rows(
    kernel: RowsKernel,
    bytes: &[u8],
    acts: &QuantActs,
    (r0, r1): (usize, usize),
    out: Out,
) {
    let row_bytes = kernel
        .dtype
        .row_bytes(acts.nb * QK)
        .expect("qmatmul: k a multiple of the block size");
    let len = if kernel.split {
        let blocks = out.n * row_bytes / kernel.dtype.type_size();
        2 * SplitLayout::new(kernel.dtype, blocks)
            .expect("a split format")
            .len()
    } else {
        out.n * row_bytes
    };
    acts.check_blocks();
    assert!(
        r0 <= r1 && r1 <= out.n && bytes.len() == len && acts.rows == out.m,
        "qmatmul: weights, activations and output disagree in shape"
    );
    // SAFETY: shapes checked above; `kernel` came from `rows_kernel` for its format, with
    // an ISA this CPU has (`Isa::checked`); the row loop casts the bytes to that format's
    // blocks (checked, it panics if misaligned); the columns are ours (our contract).
    unsafe { (kernel.f)(bytes, acts, r0, r1, out) }
}

/// The loop every `RowsFn` runs: each weight row against groups of up to `MAX_ROWS`
/// activation rows, with `$dot::<B, R>` for the group.
macro_rules! row_loop {
    ($bytes:ident, $a:ident, $r0:ident, $r1:ident, $out:ident, $($dot:ident)::+) => {{
        let w: &[B] = bytemuck::cast_slice($bytes);
        let nb = $a.nb * QK / B::BLOCK;
        // SAFETY: r < n and w holds n rows of nb blocks (the caller's contract).
        row_loop!(|r| unsafe { w.get_unchecked(r * nb..(r + 1) * nb) }, $a, $r0, $r1, $out, $($dot)::+)
    }};
    ($row:expr, $a:ident, $r0:ident, $r1:ident, $out:ident, $($dot:ident)::+) => {{
        let m = $a.rows;
        let row = $row;
        for r in $r0..$r1 {
            let wr = row(r);
            let mut i = 0;
            while i < m {
                match m - i {
                    1 => {
                        let mut o = [0.0; 1];
                        // SAFETY: rows i..i + 1 ≤ m exist in `$a` and `$out`; column r is
                        // this task's (the caller's contract).
                        unsafe {
                            $($dot)::+::<B, 1>(wr, $a, i, &mut o);
                            $out.put(i, r, o);
                        }
                    }
                    2 => {
                        let mut o = [0.0; 2];
                        // SAFETY: rows i..i + 2 ≤ m exist in `$a` and `$out`; column r is
                        // this task's (the caller's contract).
                        unsafe {
                            $($dot)::+::<B, 2>(wr, $a, i, &mut o);
                            $out.put(i, r, o);
                        }
                    }
                    3 => {
                        let mut o = [0.0; 3];
                        // SAFETY: rows i..i + 3 ≤ m exist in `$a` and `$out`; column r is
                        // this task's (the caller's contract).
                        unsafe {
                            $($dot)::+::<B, 3>(wr, $a, i, &mut o);
                            $out.put(i, r, o);
                        }
                    }
                    _ => {
                        let mut o = [0.0; 4];
                        // SAFETY: rows i..i + 4 ≤ m exist in `$a` and `$out`; column r is
                        // this task's (the caller's contract).
                        unsafe {
                            $($dot)::+::<B, 4>(wr, $a, i, &mut o);
                            $out.put(i, r, o);
                        }
                    }
                }
                i += (m - i).min(MAX_ROWS);
            }
        }
    }};
}

/// The scalar reference's dot as an `unsafe fn`, so that `row_loop` treats all alike.
///
/// # Safety
/// None beyond `dot_rows_scalar`'s own checks.
#[inline(always)]
unsafe fn dot_scalar<B: Block, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    dot_rows_scalar::<B, R>(w, a, row0, out)
}

/// # Safety
/// As `RowsFn`.
unsafe fn rows_scalar<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    row_loop!(bytes, a, r0, r1, out, dot_scalar)
}

/// # Safety
/// As `RowsFn`, on a CPU with AVX-512 F/BW/VL, VNNI, AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_vnni<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    row_loop!(bytes, a, r0, r1, out, super::x86::dot_rows_vnni)
}

/// # Safety
/// As `RowsFn`, on a CPU with AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_avx2<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    row_loop!(bytes, a, r0, r1, out, super::x86::dot_rows_avx2)
}

/// # Safety
/// As `RowsFn`, on a CPU with NEON.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn rows_neon<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    row_loop!(bytes, a, r0, r1, out, super::neon::dot_rows_neon)
}

/// The split layout's row loop, shared by the AVX2 and AVX-512 entry points: the AVX2
/// kernel for every row count (its one-row form is the decode kernel on both ISAs).
///
/// # Safety
/// As `RowsFn`, with the bytes in the split layout of `n` rows, on a CPU with AVX2, FMA
/// and F16C.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_split<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    let layout = SplitLayout::new(B::DTYPE, out.n * a.nb).expect("a split format");
    let view = SplitView::new(bytemuck::cast_slice(bytes), layout, a.nb);
    row_loop!(
        |r| view.row(r),
        a,
        r0,
        r1,
        out,
        super::x86::dot_rows_split_avx2
    )
}

/// # Safety
/// As `rows_split`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_split_avx2<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    // SAFETY: the same contract; the features are enabled here.
    unsafe { rows_split::<B>(bytes, a, r0, r1, out) }
}

/// # Safety
/// As `rows_split`, on a CPU with AVX-512 F/BW/VL, VNNI, AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_split_vnni<B: Block>(bytes: &[u8], a: &QuantActs, r0: usize, r1: usize, out: Out) {
    // SAFETY: the same contract; the features are enabled here.
    unsafe { rows_split::<B>(bytes, a, r0, r1, out) }
}
