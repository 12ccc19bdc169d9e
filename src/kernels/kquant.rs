//! The 5-bit formats (Q5_0, Q5_1) and the K-quants (Q4_K, Q5_K, Q6_K) of ggml, as
//! `#[repr(C)]` blocks with size assertions and dequantization (ggml-common.h layouts,
//! `dequantize_row_*` in ggml-quants.c).
//!
//! K-quants group 256 values into a super-block of 8 (Q4_K, Q5_K) or 16 (Q6_K)
//! sub-blocks, each with its own 6- or 8-bit scale, themselves scaled by the super-block's
//! f16 `d` (and `dmin` for the minimums).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::quant::{QuantBlock, QK};
use crate::tensor::DType;

/// Values per K-quant super-block.
pub const QK_K: usize = 256;

/// `x = d · (q − 16)`, q a 5-bit value: low 4 bits in `qs` (element j in the low nibble
/// of `qs[j]`, j + 16 in the high one), the fifth bit in bit j of `qh` (ggml `block_q5_0`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 2 + 4 + QK / 2);

/// `x = d · q + m`, q a 5-bit value laid out as in Q5_0 (ggml `block_q5_1`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: f16,
    pub m: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 4 + 4 + QK / 2);

/// The 5-bit values of a Q5 block, in order.
pub(super) fn q5_values(qh: [u8; 4], qs: &[u8; QK / 2]) -> [u8; QK] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0u8; QK];
    for j in 0..QK / 2 {
        q[j] = (qs[j] & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
        q[j + QK / 2] = (qs[j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
    }
    q
}

impl QuantBlock for BlockQ5_0 {
    const BLOCK: usize = QK;
    const DTYPE: DType = DType::Q5_0;
    fn f16_scales(&self) -> [f16; 2] {
        [self.d, f16::ZERO]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (o, q) in out[..QK].iter_mut().zip(q5_values(self.qh, &self.qs)) {
            *o = (q as i32 - 16) as f32 * d;
        }
    }
}

impl QuantBlock for BlockQ5_1 {
    const BLOCK: usize = QK;
    const DTYPE: DType = DType::Q5_1;
    fn f16_scales(&self) -> [f16; 2] {
        [self.d, self.m]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (o, q) in out[..QK].iter_mut().zip(q5_values(self.qh, &self.qs)) {
            *o = q as f32 * d + m;
        }
    }
}

/// 8 sub-blocks of 32 4-bit values, each `x = d·sc·q − dmin·m` with 6-bit `sc` and `m`
/// packed in `scales` (ggml `block_q4_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 4 + 12 + QK_K / 2);

/// As Q4_K with a fifth bit per value in `qh` (ggml `block_q5_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 4 + 12 + QK_K / 8 + QK_K / 2);

/// 16 sub-blocks of 16 6-bit values, `x = d·sc·(q − 32)` with signed 8-bit `sc`: low 4
/// bits in `ql`, high 2 in `qh` (ggml `block_q6_K`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2);

/// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K super-block (ggml
/// `get_scale_min_k4`): sub-blocks 0-3 in the low 6 bits of bytes 0-3 and 4-7; 4-7 split
/// between the low/high nibbles of bytes 8-11 and the top 2 bits of bytes 0-7.
#[inline]
pub(super) fn scale_min(j: usize, s: &[u8; 12]) -> (f32, f32) {
    if j < 4 {
        ((s[j] & 63) as f32, (s[j + 4] & 63) as f32)
    } else {
        (
            ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4)) as f32,
            ((s[j + 4] >> 4) | ((s[j] >> 6) << 4)) as f32,
        )
    }
}

impl QuantBlock for BlockQ4K {
    const BLOCK: usize = QK_K;
    const DTYPE: DType = DType::Q4K;
    fn f16_scales(&self) -> [f16; 2] {
        [self.d, self.dmin]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        // Each 64 values: 32 bytes of qs, low nibbles for sub-block 2i, high for 2i + 1.
        for (i, (o, q)) in out[..QK_K]
            .chunks_exact_mut(64)
            .zip(self.qs.chunks_exact(32))
            .enumerate()
        {
            let (sc1, m1) = scale_min(2 * i, &self.scales);
            let (sc2, m2) = scale_min(2 * i + 1, &self.scales);
            for l in 0..32 {
                o[l] = d * sc1 * (q[l] & 0x0f) as f32 - dmin * m1;
                o[l + 32] = d * sc2 * (q[l] >> 4) as f32 - dmin * m2;
            }
        }
    }
}

impl QuantBlock for BlockQ5K {
    const BLOCK: usize = QK_K;
    const DTYPE: DType = DType::Q5K;
    fn f16_scales(&self) -> [f16; 2] {
        [self.d, self.dmin]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (i, (o, q)) in out[..QK_K]
            .chunks_exact_mut(64)
            .zip(self.qs.chunks_exact(32))
            .enumerate()
        {
            let (sc1, m1) = scale_min(2 * i, &self.scales);
            let (sc2, m2) = scale_min(2 * i + 1, &self.scales);
            // The fifth bits of sub-blocks 2i and 2i + 1 are bits 2i and 2i + 1 of qh[l].
            let (u1, u2) = (1u8 << (2 * i), 1u8 << (2 * i + 1));
            for l in 0..32 {
                let h1 = if self.qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if self.qh[l] & u2 != 0 { 16 } else { 0 };
                o[l] = d * sc1 * ((q[l] & 0x0f) + h1) as f32 - dmin * m1;
                o[l + 32] = d * sc2 * ((q[l] >> 4) + h2) as f32 - dmin * m2;
            }
        }
    }
}

impl QuantBlock for BlockQ6K {
    const BLOCK: usize = QK_K;
    const DTYPE: DType = DType::Q6K;
    fn f16_scales(&self) -> [f16; 2] {
        [self.d, f16::ZERO]
    }
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        // Each half (128 values) uses 64 bytes of ql, 32 of qh and 8 scales.
        for (h, o) in out[..QK_K].chunks_exact_mut(128).enumerate() {
            let (ql, qh, sc) = (
                &self.ql[64 * h..64 * h + 64],
                &self.qh[32 * h..32 * h + 32],
                &self.scales[8 * h..8 * h + 8],
            );
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                o[l] = d * sc[is] as f32 * q1 as f32;
                o[l + 32] = d * sc[is + 2] as f32 * q2 as f32;
                o[l + 64] = d * sc[is + 4] as f32 * q3 as f32;
                o[l + 96] = d * sc[is + 6] as f32 * q4 as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(x: f32) -> f16 {
        f16::from_f32(x)
    }

    #[test]
    fn q5_hand_blocks() {
        // Element 0: low nibble 3, fifth bit set -> q = 19; element 16: nibble 0xA, no bit
        // -> 10; element 31: nibble 0xF and bit 31 -> 31.
        let mut qs = [0u8; 16];
        qs[0] = 0xA3;
        qs[15] = 0xF0;
        let qh = (1u32 | (1 << 31)).to_le_bytes();
        let b0 = BlockQ5_0 { d: h(0.5), qh, qs };
        let mut out = [0.0; 32];
        b0.dequantize(&mut out);
        assert_eq!(
            (out[0], out[16], out[31], out[1]),
            (
                (19.0 - 16.0) * 0.5,
                (10.0 - 16.0) * 0.5,
                (31.0 - 16.0) * 0.5,
                -8.0
            )
        );
        let b1 = BlockQ5_1 {
            d: h(0.5),
            m: h(-1.0),
            qh,
            qs,
        };
        b1.dequantize(&mut out);
        assert_eq!((out[0], out[16], out[31], out[1]), (8.5, 4.0, 14.5, -1.0));
    }

    #[test]
    fn k_scale_min_unpacking() {
        // Sub-blocks 0-3: low 6 bits of bytes 0-3 (scales) and 4-7 (mins).
        let mut s = [0u8; 12];
        s[1] = 0b11_000101; // scale 1 = 5; top bits 3 -> scale 5's high bits
        s[5] = 0b10_000111; // min 1 = 7; top bits 2 -> min 5's high bits
        s[9] = 0x4C; // scale 5 low nibble 0xC, min 5 low nibble 0x4
        assert_eq!(scale_min(1, &s), (5.0, 7.0));
        assert_eq!(
            scale_min(5, &s),
            ((0xC | (3 << 4)) as f32, (0x4 | (2 << 4)) as f32)
        );
    }

    #[test]
    fn q4_k_hand_block() {
        let mut scales = [0u8; 12];
        scales[0] = 2; // sub-block 0: scale 2
        scales[4] = 3; // sub-block 0: min 3
        scales[1] = 1; // sub-block 1: scale 1, min 0
        let mut qs = [0u8; 128];
        qs[0] = 0x5A; // value 0: 0xA (sub-block 0), value 32: 0x5 (sub-block 1)
        let b = BlockQ4K {
            d: h(0.5),
            dmin: h(0.25),
            scales,
            qs,
        };
        let mut out = [0.0; 256];
        b.dequantize(&mut out);
        assert_eq!(out[0], 0.5 * 2.0 * 10.0 - 0.25 * 3.0);
        assert_eq!(out[1], -0.75);
        assert_eq!(out[32], 0.5 * 1.0 * 5.0);
        assert_eq!(out[64], 0.0); // sub-block 2: scale and min 0
    }

    #[test]
    fn q5_k_hand_block() {
        let mut scales = [0u8; 12];
        scales[2] = 4; // sub-block 2 (values 64..96): scale 4, min 0
        scales[3] = 1; // sub-block 3 (values 96..128): scale 1
        scales[7] = 2; // sub-block 3: min 2
        let mut qs = [0u8; 128];
        qs[32] = 0x73; // value 64: 3, value 96: 7
        let mut qh = [0u8; 32];
        qh[0] = 0b0000_1100; // fifth bits of sub-blocks 2 and 3 for l = 0
        let b = BlockQ5K {
            d: h(1.0),
            dmin: h(0.5),
            scales,
            qh,
            qs,
        };
        let mut out = [0.0; 256];
        b.dequantize(&mut out);
        assert_eq!(out[64], 4.0 * 19.0);
        assert_eq!(out[96], 1.0 * 23.0 - 0.5 * 2.0);
        assert_eq!(out[97], -1.0);
    }

    #[test]
    fn q6_k_hand_block() {
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        let mut scales = [0i8; 16];
        scales[0] = 2; // values 0..16
        scales[2] = -1; // values 32..48
        scales[4] = 3; // values 64..80
        scales[14] = 1; // second half, values 224..240
        ql[0] = 0x21; // value 0 low 1, value 64 low 2
        qh[0] = 0b00_11_00_10; // value 0 high 2, value 64 high 3
        ql[32] = 0x0F; // value 32 low 0xF
        ql[64 + 32] = 0x50; // second half: value 128+96 = 224 low 5
        qh[32] = 0b01_00_00_00; // value 224 high 1
        let b = BlockQ6K {
            ql,
            qh,
            scales,
            d: h(0.5),
        };
        let mut out = [0.0; 256];
        b.dequantize(&mut out);
        assert_eq!(out[0], 0.5 * 2.0 * ((1 | (2 << 4)) - 32) as f32);
        assert_eq!(out[64], 0.5 * 3.0 * ((2 | (3 << 4)) - 32) as f32);
        assert_eq!(out[32], -0.5 * (15 - 32) as f32); // d · sc[2] = 0.5 · -1
        assert_eq!(out[224], 0.5 * 1.0 * ((5 | (1 << 4)) - 32) as f32);
    }
}
