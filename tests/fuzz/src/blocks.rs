//! Block data of any GGML format without a quantizer for it, shared by `make_seeds` and
//! `make_hostile`: deterministic bytes below 0x3C, so every f16 scale is finite and under
//! 1 in size, and every E8M0 scale (MXFP4) a small power of two. The integers between the
//! scales take whatever those bytes say, which is all a loader may assume of them.

use ingot::DType;

/// `n` values of `dtype` (a whole number of blocks) as block bytes; `seed` varies them.
pub fn block_bytes(dtype: DType, n: usize, seed: u64) -> Vec<u8> {
    let len = dtype.row_bytes(n).expect("whole blocks");
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % 0x3C) as u8
        })
        .collect()
}

/// Every block format ingot reads, in the order of `ingot::kernels::formats`.
pub const QUANTIZED: [DType; 24] = [
    DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
    DType::Q2K, DType::Q3K, DType::Q4K, DType::Q5K, DType::Q6K,
    DType::IQ4NL, DType::IQ4XS, DType::IQ3S, DType::IQ3XXS, DType::IQ2XXS,
    DType::IQ2XS, DType::IQ2S, DType::IQ1S, DType::IQ1M, DType::TQ1_0,
    DType::TQ2_0, DType::MXFP4, DType::Q1_0, DType::Q2_0,
];
