//! f32 GEMM throughput: `sgemm/<m>x<k>x<n>`, reported as GFLOP/s (2·m·k·n per call).
//! Shapes: 1024³, and SmolLM2-135M's projections for a 512-token prefill.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ingot::kernels::cpu::isa;
use ingot::kernels::gemm::{sgemm, MatMut, MatRef};
use std::time::Duration;

fn data(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i % 1013) as f32 * 0.01).sin()).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let shapes = [
        (1024, 1024, 1024),
        (512, 576, 576),
        (512, 576, 192),
        (512, 576, 1536),
        (512, 1536, 576),
    ];
    for (m, k, n) in shapes {
        let (a, b) = (data(m * k), data(k * n));
        let mut cbuf = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        g.bench_function(BenchmarkId::from_parameter(format!("{m}x{k}x{n}")), |bch| {
            bch.iter(|| {
                sgemm(
                    isa(),
                    MatRef::row_major(&a, m, k),
                    &MatRef::row_major(&b, k, n),
                    MatMut::row_major(&mut cbuf, m, n),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
