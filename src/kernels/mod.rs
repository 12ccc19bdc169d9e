//! Compute kernels. They take slices, dimensions and strides, and know nothing of layers,
//! heads or models beyond the plain numbers they are given.

pub mod attention;
pub mod cpu;
pub mod formats;
pub mod gemm;
pub mod halfdot;
pub mod igemm;
pub mod matmul;
pub mod ops;
pub mod par;
pub mod peak;
pub mod qdot;
pub mod qmatmul;
pub mod simd;

/// `a · b`, panicking (not wrapping) on overflow: kernels check slice lengths against
/// products of dimensions, and a wrapped product could pass such a check.
#[inline]
pub(crate) fn prod(a: usize, b: usize) -> usize {
    a.checked_mul(b).expect("kernel shape overflows usize")
}
