//! The cost of one parallel region, as a decode step meets it: serial work on the calling
//! thread (norms, quantization: `gap` µs), then a region of 2 tasks of `work` µs each.
//! `par/team/...` goes through `kernels::par::for_each_task` (the thread team);
//! `par/rayon/...` runs the same tasks with `rayon::into_par_iter` from inside a pool, as
//! the kernels did before. Time per iteration minus `gap + work` is the region's overhead.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rayon::prelude::*;

/// Busy work for `us` microseconds.
fn spin(us: u64) {
    let t = Instant::now();
    let mut x = 1.0f64;
    while t.elapsed() < Duration::from_micros(us) {
        x = black_box(x * 1.000_000_1 + 1e-9);
    }
}

fn bench(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("par");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (gap, work) in [(1u64, 3u64), (5, 15), (20, 15)] {
        let id = format!("gap{gap}us-work{work}us");
        // The timed loop runs inside the pool, as a forward pass did on rayon.
        let run = |team: bool, iters: u64| {
            pool.install(|| {
                let t = Instant::now();
                for _ in 0..iters {
                    spin(gap);
                    if team {
                        ingot::kernels::par::for_each_task(2, usize::MAX, |_| spin(work));
                    } else {
                        (0..2).into_par_iter().for_each(|_| spin(work));
                    }
                }
                t.elapsed()
            })
        };
        g.bench_function(BenchmarkId::new("team", &id), |b| {
            b.iter_custom(|iters| run(true, iters))
        });
        g.bench_function(BenchmarkId::new("rayon", &id), |b| {
            b.iter_custom(|iters| run(false, iters))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
