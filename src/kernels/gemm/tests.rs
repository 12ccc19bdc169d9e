use super::*;
use crate::kernels::cpu::supported_isas;
use crate::kernels::formats::{dequantize_blocks, BlockQ4_1, BlockQ8_0, Quantize};

fn data(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
}

/// f64 reference of `A · B` for strided views.
fn naive(a: &MatRef, b: &MatRef) -> Vec<f32> {
    let mut c = vec![0.0; a.rows * b.cols];
    for i in 0..a.rows {
        for j in 0..b.cols {
            let s: f64 = (0..a.cols)
                .map(|p| a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64)
                .sum();
            c[i * b.cols + j] = s as f32;
        }
    }
    c
}

fn close(got: &[f32], want: &[f32], k: usize, what: &str) {
    let tol = 1e-5 * (k as f32).sqrt().max(1.0) * 4.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

#[test]
fn awkward_shapes_every_isa() {
    let mut dims: Vec<usize> = (0..=19).collect();
    dims.extend([23, 31, 37, 65]);
    for isa in supported_isas() {
        for &m in &[0usize, 1, 2, 5, 11, 12, 13, 19, 37] {
            for &n in &dims {
                for &k in &[0usize, 1, 3, 17, 64, 193] {
                    let (av, bv) = (data(m * k, 1.0), data(k * n, 2.0));
                    let a = MatRef::row_major(&av, m, k);
                    let b = MatRef::row_major(&bv, k, n);
                    let mut c = vec![f32::NAN; m * n];
                    sgemm(isa, a, &b, MatMut::row_major(&mut c, m, n));
                    close(&c, &naive(&a, &b), k, &format!("{isa:?} {m}x{k}x{n}"));
                }
            }
        }
    }
}

#[test]
fn transposed_and_strided_operands() {
    let (m, k, n) = (29, 211, 45);
    // A stored transposed (k × m), B stored transposed (n × k), C column-major.
    let (at, bt) = (data(k * m, 3.0), data(n * k, 4.0));
    let a = MatRef::row_major(&at, k, m).t();
    let b = MatRef::row_major(&bt, n, k).t();
    let want = naive(&a, &b);
    for isa in supported_isas() {
        let mut c = vec![0.0; m * n];
        sgemm(
            isa,
            a,
            &b,
            MatMut {
                data: &mut c,
                rows: m,
                cols: n,
                rs: 1,
                cs: m,
            },
        );
        let row_major: Vec<f32> = (0..m * n).map(|x| c[(x % n) * m + x / n]).collect();
        close(&row_major, &want, k, &format!("{isa:?} transposed"));
    }
}

#[test]
fn quantized_weights_pack_like_their_dequantized_values() {
    let (m, k, n) = (37, 416, 70);
    let w = data(n * k, 5.0);
    let q: Vec<BlockQ4_1> = w.chunks_exact(32).map(BlockQ4_1::quantize).collect();
    let q8: Vec<BlockQ8_0> = w.chunks_exact(32).map(BlockQ8_0::quantize).collect();
    let mut wd = vec![0.0; n * k];
    dequantize_blocks(&q, &mut wd);
    let mut wd8 = vec![0.0; n * k];
    dequantize_blocks(&q8, &mut wd8);
    let av = data(m * k, 6.0);
    let a = MatRef::row_major(&av, m, k);
    for isa in supported_isas() {
        let mut c = vec![0.0; m * n];
        sgemm(
            isa,
            a,
            &QuantRowsT { blocks: &q, k, n },
            MatMut::row_major(&mut c, m, n),
        );
        let mut c_ref = vec![0.0; m * n];
        sgemm(
            isa,
            a,
            &MatRef::row_major(&wd, n, k).t(),
            MatMut::row_major(&mut c_ref, m, n),
        );
        assert_eq!(
            c, c_ref,
            "{isa:?}: Q4_1 packing must give the dequantized values exactly"
        );
        sgemm(
            isa,
            a,
            &QuantRowsT { blocks: &q8, k, n },
            MatMut::row_major(&mut c, m, n),
        );
        close(
            &c,
            &naive(&a, &MatRef::row_major(&wd8, n, k).t()),
            k,
            "Q8_0",
        );
    }
}

#[test]
fn same_bits_with_one_and_two_threads() {
    let (m, k, n) = (100, 600, 300);
    let (av, bv) = (data(m * k, 7.0), data(k * n, 8.0));
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut c = vec![0.0; m * n];
        pool.install(|| {
            sgemm(
                crate::kernels::cpu::isa(),
                MatRef::row_major(&av, m, k),
                &MatRef::row_major(&bv, k, n),
                MatMut::row_major(&mut c, m, n),
            )
        });
        c
    };
    assert_eq!(run(1), run(2));
}
