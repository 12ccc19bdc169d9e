//! Attention kernels at SmolLM2-135M's shapes (9 query heads, 3 KV heads, head size 64):
//! a 512-token prefill (causal, from an empty cache) and one decode step with 128 or 512
//! cached positions; and a 512-token prefill and decode at Gemma 3 270M's (4 query heads
//! on one KV head of size 256), from an f32 and an f16 cache. Throughput counts the multiply-adds of QKᵀ and PV as 2 FLOPs each.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use half::f16;
use ingot::kernels::attention::{attention, AttnScratch, AttnShape, Kv};
use ingot::kernels::cpu::isa;

fn data(n: usize, seed: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i % 997) as f32 * 0.37 + seed).sin())
        .collect()
}

fn bench(c: &mut Criterion) {
    let (n_heads, n_kv, hd, max_seq) = (9, 3, 64, 1024);
    let s = AttnShape {
        n_heads,
        n_kv_heads: n_kv,
        head_dim: hd,
        max_seq,
        scale: 1.0 / (hd as f32).sqrt(),
        softcap: None,
        window: None,
    };
    let k = data(n_kv * max_seq * hd, 1.0);
    let v = data(n_kv * max_seq * hd, 2.0);
    let mut g = c.benchmark_group("attention");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut ws = AttnScratch::default();
    let n_q = 512;
    let q = data(n_q * n_heads * hd, 3.0);
    let mut out = vec![0.0; q.len()];
    // Σ over queries of (i + 1) keys, × heads × head size × 2 products × 2 FLOPs.
    let flops = (n_q * (n_q + 1) / 2) * n_heads * hd * 4;
    g.throughput(Throughput::Elements(flops as u64));
    g.bench_function("prefill/512", |b| {
        b.iter(|| attention(isa(), &mut ws, &q, Kv::F32(&k), Kv::F32(&v), &mut out, 0, s))
    });

    let q1 = data(n_heads * hd, 4.0);
    let mut out1 = vec![0.0; q1.len()];
    for depth in [128, 512] {
        g.throughput(Throughput::Elements(
            ((depth + 1) * n_heads * hd * 4) as u64,
        ));
        g.bench_function(format!("decode/{depth}"), |b| {
            b.iter(|| {
                attention(
                    isa(),
                    &mut ws,
                    &q1,
                    Kv::F32(&k),
                    Kv::F32(&v),
                    &mut out1,
                    depth,
                    s,
                )
            })
        });
    }

    // Gemma 3 270M: 4 query heads on one KV head of size 256.
    let gs = AttnShape {
        n_heads: 4,
        n_kv_heads: 1,
        head_dim: 256,
        max_seq: k.len() / 256,
        scale: 1.0 / 16.0,
        ..s
    };
    let gq = data(4 * 256, 5.0);
    let mut gout = vec![0.0; gq.len()];
    let gq512 = data(n_q * 4 * 256, 6.0);
    let mut gout512 = vec![0.0; gq512.len()];
    g.throughput(Throughput::Elements(
        ((n_q * (n_q + 1) / 2) * 4 * 256 * 4) as u64,
    ));
    g.bench_function("gemma3/prefill/512", |b| {
        b.iter(|| {
            attention(
                isa(),
                &mut ws,
                &gq512,
                Kv::F32(&k),
                Kv::F32(&v),
                &mut gout512,
                0,
                gs,
            )
        })
    });
    // An f16 cache (native mode's default) holding the same values, rounded.
    let half = |x: &[f32]| x.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
    let (k16, v16) = (half(&k), half(&v));
    for depth in [128, 512] {
        g.throughput(Throughput::Elements(((depth + 1) * 4 * 256 * 4) as u64));
        for (name, kc, vc) in [
            ("decode", Kv::F32(&k), Kv::F32(&v)),
            ("decode-f16", Kv::F16(&k16), Kv::F16(&v16)),
        ] {
            g.bench_function(format!("gemma3/{name}/{depth}"), |b| {
                b.iter(|| attention(isa(), &mut ws, &gq, kc, vc, &mut gout, depth, gs))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
