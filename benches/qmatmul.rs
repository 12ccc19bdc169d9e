//! Quantized projections, GFLOP/s (2·m·k·n per call): matrix-vector (decode, m = 1) and
//! 512 activation rows (prefill) for Q4_1 and Q8_0 weights at SmolLM2-135M's shapes, and
//! for Gemma 3 270M's Q5_0, Q4_K and Q6_K projections (`qmatmul/<fmt>/...` as well).
//!
//! `qmatmul/<fmt>/<m>x<k>x<n>` is what `kernels::matmul` runs for that shape (the integer
//! matvec path below `IGEMM_MIN_ROWS` rows, the integer GEMM above on x86; elsewhere the
//! packed f32 GEMM from `GEMM_MIN_ROWS` rows); the `-int`, `-gemm` (f32) and `-igemm`
//! ids force one path (`-igemm` quantizes the activations in the call), to show where
//! each wins. `quantize/<m>x<k>` times that quantization alone.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ingot::kernels::cpu::isa;
use ingot::kernels::formats::{
    BlockQ4K, BlockQ4_1, BlockQ5_0, BlockQ6K, BlockQ8_0, DType, Quantize,
};
use ingot::kernels::gemm::{sgemm, MatMut, MatRef, QuantRowsT};
use ingot::kernels::igemm::igemm;
use ingot::kernels::matmul::{matmul, MatmulScratch, WeightView};
use ingot::kernels::qdot::split::split;
use ingot::kernels::qdot::QuantActs;
use ingot::kernels::qmatmul::{qmatmul, QWeights};

fn data(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i % 1013) as f32 * 0.01).sin()).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("qmatmul");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let shapes = [
        (1, 576, 1536),
        (1, 1536, 576),
        (1, 576, 49152),
        (8, 576, 1536),
        (16, 576, 1536),
        (32, 576, 1536),
        (64, 576, 1536),
        (512, 576, 1536),
        (512, 1536, 576),
    ];
    for (m, k, n) in shapes {
        let x = data(m * k);
        let w = data(n * k);
        let q41: Vec<BlockQ4_1> = w.chunks_exact(32).map(BlockQ4_1::quantize).collect();
        let q80: Vec<BlockQ8_0> = w.chunks_exact(32).map(BlockQ8_0::quantize).collect();
        let mut out = vec![0.0f32; m * n];
        let (mut ws, mut acts) = (MatmulScratch::default(), QuantActs::default());
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let id = |f: &str| BenchmarkId::new(f, format!("{m}x{k}x{n}"));
        if n == 49152 {
            // The tied LM head is Q8_0.
            g.bench_function(id("q8_0"), |b| {
                b.iter(|| {
                    matmul(
                        isa(),
                        &mut ws,
                        &x,
                        WeightView::Quant(QWeights::of(&q80)),
                        &mut out,
                        m,
                        k,
                        n,
                    )
                })
            });
            continue;
        }
        g.bench_function(id("q4_1"), |b| {
            b.iter(|| {
                matmul(
                    isa(),
                    &mut ws,
                    &x,
                    WeightView::Quant(QWeights::of(&q41)),
                    &mut out,
                    m,
                    k,
                    n,
                )
            })
        });
        g.bench_function(id("q8_0"), |b| {
            b.iter(|| {
                matmul(
                    isa(),
                    &mut ws,
                    &x,
                    WeightView::Quant(QWeights::of(&q80)),
                    &mut out,
                    m,
                    k,
                    n,
                )
            })
        });
        if m == 1 {
            // What decode runs: the split layout the model makes at load.
            let split = split(DType::Q4_1, bytemuck::cast_slice(&q41)).expect("Q4_1 splits");
            let w = QWeights::of(&q41).with_split(&split);
            g.bench_function(id("q4_1-split"), |b| {
                b.iter(|| matmul(isa(), &mut ws, &x, WeightView::Quant(w), &mut out, m, k, n))
            });
        }
        if m > 1 {
            g.bench_function(id("q4_1-int"), |b| {
                b.iter(|| qmatmul(isa(), &mut acts, &x, &q41, &mut out, m, k, n))
            });
            g.bench_function(id("q4_1-gemm"), |b| {
                b.iter(|| {
                    sgemm(
                        isa(),
                        MatRef::row_major(&x, m, k),
                        &QuantRowsT { blocks: &q41, k, n },
                        MatMut::row_major(&mut out, m, n),
                    )
                })
            });
            g.bench_function(id("q4_1-igemm"), |b| {
                b.iter(|| {
                    acts.quantize(isa(), &x, m, k);
                    igemm(isa(), &acts, &QuantRowsT { blocks: &q41, k, n }, &mut out)
                })
            });
        }
    }
    g.finish();
}

/// `n` blocks of pseudo-random bytes with their f16 scales set by `fix` (the K-quants
/// have no quantizer here; a kernel's speed does not depend on the values).
fn random_blocks<B: bytemuck::Pod>(n: usize, fix: impl Fn(&mut B)) -> Vec<B> {
    let mut v = vec![B::zeroed(); n];
    for (i, b) in bytemuck::cast_slice_mut::<B, u8>(&mut v)
        .iter_mut()
        .enumerate()
    {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    v.iter_mut().for_each(fix);
    v
}

/// Gemma 3 270M's layer projections: gate/up (Q5_0, 640 → 2048), attention output (Q4_K,
/// 1024 → 640) and down (Q6_K, 2048 → 640), for decode and a 512-token prefill.
fn bench_kquants(c: &mut Criterion) {
    let mut g = c.benchmark_group("qmatmul");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let h = half::f16::from_f32;
    for m in [1usize, 512] {
        for (fmt, k, n) in [
            ("q5_0", 640, 2048),
            ("q4_k", 1024, 640),
            ("q6_k", 2048, 640),
        ] {
            let x = data(m * k);
            let mut out = vec![0.0f32; m * n];
            let mut ws = MatmulScratch::default();
            let (q50, q4k, q6k);
            let w = match fmt {
                "q5_0" => {
                    q50 = random_blocks::<BlockQ5_0>(n * k / 32, |b| b.d = h(0.01));
                    QWeights::of(&q50)
                }
                "q4_k" => {
                    q4k = random_blocks::<BlockQ4K>(n * k / 256, |b| {
                        (b.d, b.dmin) = (h(0.01), h(0.01))
                    });
                    QWeights::of(&q4k)
                }
                _ => {
                    q6k = random_blocks::<BlockQ6K>(n * k / 256, |b| b.d = h(0.001));
                    QWeights::of(&q6k)
                }
            };
            g.throughput(Throughput::Elements((2 * m * k * n) as u64));
            g.bench_function(BenchmarkId::new(fmt, format!("{m}x{k}x{n}")), |b| {
                b.iter(|| matmul(isa(), &mut ws, &x, WeightView::Quant(w), &mut out, m, k, n))
            });
            if fmt == "q5_0" && m == 1 {
                // What decode runs: the split layout the model makes at load.
                let split = split(DType::Q5_0, bytemuck::cast_slice(w.blocks::<BlockQ5_0>()))
                    .expect("Q5_0 splits");
                let w = w.with_split(&split);
                g.bench_function(
                    BenchmarkId::new("q5_0-split", format!("{m}x{k}x{n}")),
                    |b| {
                        b.iter(|| {
                            matmul(isa(), &mut ws, &x, WeightView::Quant(w), &mut out, m, k, n)
                        })
                    },
                );
            }
        }
    }
    g.finish();
}

/// The activations' 16-bit quantization before an integer matmul, at prefill's shapes
/// (values per second).
fn bench_quantize(c: &mut Criterion) {
    let mut g = c.benchmark_group("quantize");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for (m, k) in [(512, 576), (512, 1536)] {
        let x = data(m * k);
        let mut acts = QuantActs::default();
        g.throughput(Throughput::Elements((m * k) as u64));
        g.bench_function(format!("{m}x{k}"), |b| {
            b.iter(|| acts.quantize(isa(), &x, m, k))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_kquants, bench_quantize);
criterion_main!(benches);
