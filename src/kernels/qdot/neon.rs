//! The NEON kernel of `qdot`.

use std::arch::aarch64::*;

use super::QuantActs;
use crate::kernels::formats::Block;

/// NEON: per chunk, the bytes widened to i16 and multiplied into the activations with
/// widening multiply-accumulates (`smlal`, i16 × i16 → i32, 4 lanes), one i32 vector
/// per half; the halves scaled by their scales times the activation scale into f32
/// accumulators. Chunk scales are decoded once per block.
#[target_feature(enable = "neon")]
pub unsafe fn dot_rows_neon<B: Block, const R: usize>(
    w: &[B],
    a: &QuantActs,
    row0: usize,
    out: &mut [f32; R],
) {
    let nb = a.nb;
    let mut acc = [vdupq_n_f32(0.0); R];
    let mut corr = [0.0f32; R];
    for (j, wb) in w.iter().enumerate() {
        let scales = wb.scales();
        for (c, s) in scales.iter().enumerate().take(B::CHUNKS) {
            // SAFETY: c < CHUNKS; NEON is enabled here.
            let v = unsafe { wb.chunk_bytes_neon(c) };
            let w16 = [
                vmovl_s8(vget_low_s8(v.0)),
                vmovl_high_s8(v.0),
                vmovl_s8(vget_low_s8(v.1)),
                vmovl_high_s8(v.1),
            ];
            for r in 0..R {
                let b = (row0 + r) * nb + j * B::CHUNKS + c;
                // SAFETY: block b exists (checked by the caller); `qs` blocks hold 32 i16.
                let (x, da) = unsafe {
                    let p = a.qs.as_ptr().add(b) as *const i16;
                    (
                        [
                            vld1q_s16(p),
                            vld1q_s16(p.add(8)),
                            vld1q_s16(p.add(16)),
                            vld1q_s16(p.add(24)),
                        ],
                        *a.d.get_unchecked(b),
                    )
                };
                let half = |k: usize| {
                    let mut t = vmull_s16(vget_low_s16(w16[k]), vget_low_s16(x[k]));
                    t = vmlal_high_s16(t, w16[k], x[k]);
                    t = vmlal_s16(t, vget_low_s16(w16[k + 1]), vget_low_s16(x[k + 1]));
                    vmlal_high_s16(t, w16[k + 1], x[k + 1])
                };
                let (lo, hi) = (vcvtq_f32_s32(half(0)), vcvtq_f32_s32(half(2)));
                acc[r] = vfmaq_n_f32(acc[r], lo, s.lo * da);
                acc[r] = vfmaq_n_f32(acc[r], hi, s.hi * da);
                if B::OFFSET {
                    // SAFETY: as above.
                    corr[r] += s.off * unsafe { *a.ds.get_unchecked(b) };
                }
                if B::OFFSET_LO {
                    // SAFETY: as above.
                    corr[r] += s.off_lo * unsafe { *a.ds_lo.get_unchecked(b) };
                }
            }
        }
    }
    for r in 0..R {
        out[r] = vaddvq_f32(acc[r]) + corr[r];
    }
}
