//! A weight layout made once at load, for the one-chunk formats whose blocks start with
//! their f16 scale (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; `Block::HEAD_SCALE`): the scales of all
//! blocks in one array, the offsets (Q4_1, Q5_1) in a second, and the rest of every block
//! (its "tail") packed after them, in the blocks' order.
//!
//! ```text
//! d     (n·nb + 8) f16     block scales, then 8 zeros
//! m     (n·nb + 8) f16     block offsets, then 8 zeros (formats with an offset only)
//! tails  n·nb · (size − HEAD_BYTES) bytes
//! ```
//!
//! The AVX2 kernel then loads a group of 8 blocks' scales with one `vcvtph2ps`, where the
//! file's layout needs 8 scalar loads and inserts (a gather is microcoded on AMD). Rows
//! of 18–20 blocks (SmolLM2's and Gemma's widths) spend a fifth of their time there. The
//! layout holds the same bytes as the blocks, plus 16 or 32 of padding, and costs one pass
//! over the weights at load.

use std::ops::Range;

use half::f16;

use crate::kernels::formats::{with_block, Block, DType};

/// Zero entries after each scale array, so that a group's 8-wide load never runs past it.
const PAD: usize = 8;

/// Where the parts of a split matrix of `blocks` blocks lie, in `u16` units (`tails` in
/// bytes of the same buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitLayout {
    pub blocks: usize,
    /// Bytes of each block after its head.
    pub tail: usize,
    offsets: bool,
}

impl SplitLayout {
    /// The layout of `blocks` blocks of `dtype`, if it is a format that splits.
    pub fn new(dtype: DType, blocks: usize) -> Option<SplitLayout> {
        with_block!(dtype, B => SplitLayout::of::<B>(blocks), else => None)
    }

    fn of<B: Block>(blocks: usize) -> Option<SplitLayout> {
        let size = std::mem::size_of::<B>();
        // Tails of an even size keep every part 2-byte aligned in a `u16` buffer.
        (B::HEAD_SCALE && B::CHUNKS == 1 && B::HEAD_BYTES == 2 + 2 * usize::from(B::OFFSET))
            .then_some(SplitLayout {
                blocks,
                tail: size - B::HEAD_BYTES,
                offsets: B::OFFSET,
            })
            .filter(|l| l.tail.is_multiple_of(2))
    }

    /// The scales.
    pub fn d(&self) -> Range<usize> {
        0..self.blocks + PAD
    }

    /// The offsets (empty without them).
    pub fn m(&self) -> Range<usize> {
        let end = self.d().end;
        end..end + if self.offsets { self.blocks + PAD } else { 0 }
    }

    /// The tails, in bytes.
    pub fn tails(&self) -> Range<usize> {
        let start = 2 * self.m().end;
        start..start + self.blocks * self.tail
    }

    /// Length of the buffer in `u16`.
    pub fn len(&self) -> usize {
        self.tails().end / 2
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The split layout of `bytes` (blocks of `dtype`); `None` for a format that does not
/// split or bytes that are not whole blocks.
pub fn split_layout(dtype: DType, bytes: &[u8]) -> Option<SplitLayout> {
    with_block!(dtype, B => SplitLayout::of::<B>(bytemuck::try_cast_slice::<u8, B>(bytes).ok()?.len()), else => None)
}

/// Writes `bytes` (blocks of `dtype`) in the split layout to `out`, every entry of it,
/// which the caller allocates (`split_layout(dtype, bytes)?.len()` values) where it wants
/// the copy to live; `None` if the format does not split or `out` is not that long.
pub fn split_into(dtype: DType, bytes: &[u8], out: &mut [u16]) -> Option<()> {
    with_block!(dtype, B => split_blocks::<B>(bytemuck::try_cast_slice(bytes).ok()?, out), else => None)
}

/// `bytes` in the split layout, on the heap (tests and tools).
pub fn split(dtype: DType, bytes: &[u8]) -> Option<Vec<u16>> {
    let mut buf = vec![0u16; split_layout(dtype, bytes)?.len()];
    split_into(dtype, bytes, &mut buf)?;
    Some(buf)
}

fn split_blocks<B: Block>(w: &[B], buf: &mut [u16]) -> Option<()> {
    let layout = SplitLayout::of::<B>(w.len())?;
    if buf.len() != layout.len() {
        return None;
    }
    let heads = |b: &B| -> [u16; 2] {
        let bytes = bytemuck::bytes_of(b);
        let h = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        [h(0), if B::OFFSET { h(2) } else { 0 }]
    };
    let (d, m) = (layout.d(), layout.m());
    // Every entry is written below but the zero padding after each scale array.
    buf[d.start + w.len()..d.end].fill(0);
    if B::OFFSET {
        buf[m.start + w.len()..m.end].fill(0);
    }
    for (i, b) in w.iter().enumerate() {
        let [hd, hm] = heads(b);
        buf[d.start + i] = hd;
        if B::OFFSET {
            buf[m.start + i] = hm;
        }
    }
    let tails = &mut bytemuck::cast_slice_mut::<u16, u8>(buf)[layout.tails()];
    for (dst, b) in tails.chunks_exact_mut(layout.tail).zip(w) {
        b.split_tail(dst);
    }
    Some(())
}

/// One weight row of a split matrix: the kernels' view.
#[derive(Clone, Copy, Debug)]
pub struct SplitRow<'a> {
    /// The row's scales, then at least `PAD` more (the next rows', or the padding).
    pub d: &'a [f16],
    /// Likewise its offsets (empty without them).
    pub m: &'a [f16],
    /// The row's tails.
    pub tails: &'a [u8],
}

/// A split matrix of `n` rows of `nb` blocks, borrowed from its buffer.
#[derive(Clone, Copy, Debug)]
pub struct SplitView<'a> {
    d: &'a [f16],
    m: &'a [f16],
    tails: &'a [u8],
    nb: usize,
    tail: usize,
}

impl<'a> SplitView<'a> {
    /// `buf` as `layout` lays it out, in rows of `nb` blocks. Panics if the buffer is not
    /// that layout's length or `nb` does not divide its blocks.
    pub fn new(buf: &'a [u16], layout: SplitLayout, nb: usize) -> SplitView<'a> {
        assert!(buf.len() == layout.len(), "split weights: buffer length");
        assert!(
            nb > 0 && layout.blocks.is_multiple_of(nb),
            "split weights: row length"
        );
        let halves: &[f16] = bytemuck::cast_slice(buf);
        SplitView {
            d: &halves[layout.d()],
            m: &halves[layout.m()],
            tails: &bytemuck::cast_slice(buf)[layout.tails()],
            nb,
            tail: layout.tail,
        }
    }

    /// `buf` as the split layout of `rows` rows of `nb` blocks of `dtype`; `None` if the
    /// format does not split or the buffer is not that layout's length.
    pub fn of(dtype: DType, buf: &'a [u16], rows: usize, nb: usize) -> Option<SplitView<'a>> {
        let layout = SplitLayout::new(dtype, rows.checked_mul(nb)?)?;
        (buf.len() == layout.len() && nb > 0).then(|| SplitView::new(buf, layout, nb))
    }

    /// Row `r` decoded to floats (`out` holds `nb` blocks of values), as `dtype`'s blocks
    /// would be. Panics if `dtype` is not the split format or `r` is past the last row.
    pub fn dequantize_row(&self, dtype: DType, r: usize, out: &mut [f32]) {
        with_block!(dtype, B => {
            for (j, o) in out.chunks_exact_mut(B::BLOCK).take(self.nb).enumerate() {
                self.block::<B>(r * self.nb + j).dequantize(o);
            }
        }, else => panic!("split: {dtype:?} is not a block format"))
    }

    /// Blocks per row.
    pub fn nb(&self) -> usize {
        self.nb
    }

    /// Block `i` (counting across rows) put back together, for the paths that decode
    /// whole blocks (the GEMM's panel packing, the embedding lookup). Panics past the
    /// last block, or if `B` is not the format the buffer was split from (by size).
    #[inline]
    pub fn block<B: Block>(&self, i: usize) -> B {
        assert_eq!(
            std::mem::size_of::<B>() - B::HEAD_BYTES,
            self.tail,
            "split: block type"
        );
        let mut b = B::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut b);
        bytes[..2].copy_from_slice(&self.d[i].to_bits().to_le_bytes());
        if B::OFFSET {
            bytes[2..4].copy_from_slice(&self.m[i].to_bits().to_le_bytes());
        }
        B::join_tail(
            &self.tails[i * self.tail..(i + 1) * self.tail],
            &mut bytes[B::HEAD_BYTES..],
        );
        b
    }

    /// Row `r`. Panics past the last row.
    #[inline(always)]
    pub fn row(&self, r: usize) -> SplitRow<'a> {
        let b = r * self.nb;
        SplitRow {
            d: &self.d[b..],
            m: if self.m.is_empty() {
                self.m
            } else {
                &self.m[b..]
            },
            tails: &self.tails[b * self.tail..(b + self.nb) * self.tail],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::formats::{BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, Quantize};

    #[test]
    fn splits_heads_from_tails_and_back() {
        let x: Vec<f32> = (0..6 * 32)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let w: Vec<BlockQ4_1> = x.chunks(32).map(BlockQ4_1::quantize).collect();
        let buf = split(DType::Q4_1, bytemuck::cast_slice(&w)).unwrap();
        // `split_into` writes every entry, the padding included, whatever `out` held.
        let mut dirty = vec![u16::MAX; buf.len()];
        split_into(DType::Q4_1, bytemuck::cast_slice(&w), &mut dirty).unwrap();
        assert_eq!(dirty, buf);
        let layout = SplitLayout::new(DType::Q4_1, 6).unwrap();
        assert_eq!((layout.tail, layout.len()), (16, 2 * (6 + PAD) + 6 * 8));
        let view = SplitView::new(&buf, layout, 3);
        for r in 0..2 {
            let row = view.row(r);
            for j in 0..3 {
                let b = &w[r * 3 + j];
                assert_eq!((row.d[j], row.m[j]), (b.d, b.m));
                assert_eq!(&row.tails[j * 16..][..16], &b.qs);
            }
        }
        assert!(
            view.row(1).d[3..].iter().all(|&h| h == f16::ZERO),
            "padding"
        );
        for (i, b) in w.iter().enumerate() {
            assert_eq!(
                bytemuck::bytes_of(&view.block::<BlockQ4_1>(i)),
                bytemuck::bytes_of(b)
            );
        }
        // Q5's tails are rearranged (`Block::split_tail`) and put back together exactly.
        fn round_trip<B: Block>() {
            let w = crate::kernels::formats::tests::random_blocks::<B>(6, 5, |_, _| {});
            let buf = split(B::DTYPE, bytemuck::cast_slice(&w)).unwrap();
            let layout = SplitLayout::new(B::DTYPE, w.len()).unwrap();
            let view = SplitView::new(&buf, layout, 2);
            for (i, b) in w.iter().enumerate() {
                assert_eq!(
                    bytemuck::bytes_of(&view.block::<B>(i)),
                    bytemuck::bytes_of(b)
                );
            }
        }
        round_trip::<BlockQ5_0>();
        round_trip::<BlockQ5_1>();
        // No offsets for Q8_0; K-quants and float types do not split.
        let q8: Vec<BlockQ8_0> = x.chunks(32).map(BlockQ8_0::quantize).collect();
        let l8 = SplitLayout::new(DType::Q8_0, 6).unwrap();
        assert!(l8.m().is_empty() && l8.tail == 32);
        assert_eq!(
            split(DType::Q8_0, bytemuck::cast_slice(&q8)).unwrap().len(),
            l8.len()
        );
        assert!(
            SplitLayout::new(DType::Q4K, 1).is_none() && SplitLayout::new(DType::F32, 1).is_none()
        );
    }
}
