//! Compute kernels. They take slices, dimensions and strides, and know nothing of layers,
//! heads or models beyond the plain numbers they are given.

pub mod attention;
pub mod cpu;
pub mod gemm;
pub mod matmul;
pub mod ops;
pub mod qdot;
pub mod qmatmul;
pub mod quant;
pub mod simd;
