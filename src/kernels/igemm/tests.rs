//! Every integer GEMM kernel against the matvec's scalar reference (`dot_rows_scalar`),
//! for every block format, both weight layouts, edge shapes, and thread counts.

use std::marker::PhantomData;

use super::*;
use crate::kernels::cpu::supported_isas;
use crate::kernels::formats::tests::{random_blocks, random_bytes};
use crate::kernels::formats::{Block, BlockQ4_1};
use crate::kernels::gemm::{QuantRowsT, SplitRowsT};
use crate::kernels::qdot::split::{split, SplitLayout, SplitView};
use crate::kernels::qdot::{dot_rows_scalar, tests::h};

/// `m` rows of random activations, quantized.
fn acts(m: usize, k: usize, seed: u32) -> QuantActs {
    let x: Vec<f32> = random_bytes(m * k, seed)
        .iter()
        .enumerate()
        // An outlier every 97 values, as residual streams have.
        .map(|(i, &b)| (b as f32 - 127.5) / 50.0 * if i % 97 == 5 { 40.0 } else { 1.0 })
        .collect();
    let mut a = QuantActs::default();
    a.quantize(crate::kernels::cpu::isa(), &x, m, k);
    a
}

/// The reference: each output from `dot_rows_scalar`.
fn reference<B: Block>(w: &[B], a: &QuantActs, n: usize) -> Vec<f32> {
    let nb = w.len() / n;
    let mut out = vec![0.0; a.rows * n];
    for j in 0..n {
        for i in 0..a.rows {
            let mut o = [0.0f32; 1];
            dot_rows_scalar::<B, 1>(&w[j * nb..(j + 1) * nb], a, i, &mut o);
            out[i * n + j] = o[0];
        }
    }
    out
}

/// Within float rounding of the reference: the sums are the same exact integers, added
/// in another order, with offsets whose terms can cancel, so the bound scales with the
/// largest output.
fn close(got: &[f32], want: &[f32], what: &str) {
    let top = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (idx, (g, e)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - e).abs() <= 1e-5 * top,
            "{what} at {idx}: {g} vs {e} (largest {top})"
        );
    }
}

fn check<B: Block>(fix: impl Fn(&mut B, usize) + Copy) {
    let blocks_per_row: &[usize] = match B::CHUNKS {
        1 => &[1, 3, 18],
        _ => &[1, 3],
    };
    for &nb in blocks_per_row {
        let k = nb * B::BLOCK;
        // Row counts around MR (6 and 3) and column counts around NR (32, 16 and 8).
        for &(m, n) in &[(1, 1), (5, 7), (7, 33), (13, 40), (33, 70)] {
            let w = random_blocks::<B>(n * nb, (m * 31 + n + nb) as u32 + B::GGML_ID, fix);
            let a = acts(m, k, (m + n) as u32);
            let want = reference(&w, &a, n);
            let rows = QuantRowsT { blocks: &w, k, n };
            let split_buf = split(B::DTYPE, bytemuck::cast_slice(&w));
            for isa in supported_isas() {
                let mut got = vec![f32::NAN; m * n];
                if !igemm(isa, &a, &rows, &mut got) {
                    assert!(!supported(isa));
                    continue;
                }
                close(
                    &got,
                    &want,
                    &format!("{:?} {isa:?} ({m},{k},{n})", B::DTYPE),
                );
                // With AVX-VNNI, `igemm` ran its tiles: the plain AVX2 ones give the same
                // bits (the same exact i32 sums).
                #[cfg(target_arch = "x86_64")]
                if isa == crate::kernels::cpu::Isa::Avx2 && super::x86::avx_vnni() {
                    let mut plain = vec![f32::NAN; m * n];
                    if B::UNIFORM {
                        run::<super::x86::Avx2Uniform, _>(&a, &rows, &mut plain);
                    } else {
                        run::<super::x86::Avx2Split, _>(&a, &rows, &mut plain);
                    }
                    assert_eq!(
                        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{:?}: AVX-VNNI and AVX2 tiles differ",
                        B::DTYPE
                    );
                }
                if let Some(buf) = &split_buf {
                    let layout = SplitLayout::new(B::DTYPE, w.len()).expect("splits");
                    let view = SplitView::new(buf, layout, nb);
                    let sr = SplitRowsT::<B> {
                        view,
                        k,
                        n,
                        format: PhantomData,
                    };
                    let mut got_split = vec![f32::NAN; m * n];
                    assert!(igemm(isa, &a, &sr, &mut got_split));
                    assert_eq!(
                        got,
                        got_split,
                        "{:?} {isa:?}: split layout differs",
                        B::DTYPE
                    );
                }
            }
        }
    }
}

#[test]
fn every_format_and_isa_matches_the_scalar_reference() {
    crate::kernels::qdot::tests::for_every_format!(check);
}

/// The split over threads does not change a single bit.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (m, nb, n) = (37, 18, 200);
    let k = nb * 32;
    let w = random_blocks::<BlockQ4_1>(n * nb, 7, |b, i| (b.d, b.m) = (h(i, 0.05), h(i, -0.4)));
    let a = acts(m, k, 3);
    let rows = QuantRowsT { blocks: &w, k, n };
    for isa in supported_isas().into_iter().filter(|&i| supported(i)) {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            let mut out = vec![0.0; m * n];
            pool.install(|| igemm(isa, &a, &rows, &mut out));
            out
        };
        let one = run(1);
        for t in [2, 3] {
            assert_eq!(one, run(t), "{isa:?}: {t} threads differ from one");
        }
    }
}
