//! The sampler on vocabulary-sized logits: SmolLM2's 49,152 and Gemma 3's 262,144 entries.
//! `sampling/{vocab}/plain`: temperature only (no sort at all); `top_p`: nucleus 0.95;
//! `top_k`: 40 best. The logits have a few likely tokens over a flat tail, as a model's do.
//! Throughput is in tokens sampled.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingot::sampling::Rng;
use ingot::{Sampler, SamplerConfig};

fn logits(n: usize) -> Vec<f32> {
    let mut rng = Rng::new(1);
    (0..n)
        .map(|_| {
            let u = rng.next_f64() as f32;
            if u > 0.9995 {
                10.0 + 5.0 * u
            } else {
                12.0 * u - 6.0
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sampling");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for vocab in [49_152, 262_144] {
        let l = logits(vocab);
        let base = SamplerConfig {
            temperature: 0.8,
            ..Default::default()
        };
        for (name, cfg) in [
            ("plain", base.clone()),
            (
                "top_p",
                SamplerConfig {
                    top_p: 0.95,
                    ..base.clone()
                },
            ),
            (
                "top_k",
                SamplerConfig {
                    top_k: 40,
                    ..base.clone()
                },
            ),
        ] {
            let mut s = Sampler::new(cfg).unwrap();
            g.bench_function(format!("{vocab}/{name}"), |b| {
                b.iter(|| s.sample(&l).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
