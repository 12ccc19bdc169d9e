//! Compute kernels. They take slices, dimensions and strides, and know nothing of layers,
//! heads or models beyond the plain numbers they are given.

pub mod attention;
pub mod matmul;
pub mod ops;
pub mod quant;
