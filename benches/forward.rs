//! The whole model: SmolLM2-135M-Instruct Q4_1 (fetched by `weights/fetch.sh` if missing),
//! native mode. `forward/prefill/128`: a 128-token prompt from an empty cache;
//! `forward/decode/128` and `forward/decode/512`: one token after 128 or 512 cached;
//! `forward/decode_matmuls`: only the weight matmuls of a decode step
//! (`Session::decode_matmuls`). Throughput is in tokens.
//!
//! Then it prints, per depth, the per-token time outside matmuls: the median decode step
//! minus the median matmuls-only step, over alternating samples (attention, norms, RoPE,
//! the cache write, and the overhead between kernels).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingot::{LoadOptions, Model};

fn bench(c: &mut Criterion) {
    let path = ingot::fetch::default_model().expect("default model");
    let model = Model::load(path, LoadOptions::default()).expect("load");
    // Digits are one token each for SmolLM2's tokenizer: an exact prompt length.
    let tokens = |n: usize| -> Vec<u32> {
        let text: String = (0..n)
            .map(|i| char::from(b'0' + (i * 7 % 10) as u8))
            .collect();
        let ids = model.tokenizer().encode(&text, true);
        assert_eq!(ids.len(), n);
        ids
    };
    let mut g = c.benchmark_group("forward");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    let prompt = tokens(128);
    let mut session = model.session(1024).unwrap();
    g.throughput(Throughput::Elements(128));
    g.bench_function("prefill/128", |b| {
        b.iter(|| {
            session.reset();
            session.forward(&prompt).unwrap()[0]
        })
    });

    for depth in [128, 512] {
        let ctx = tokens(depth);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("decode/{depth}"), |b| {
            session.reset();
            session.forward(&ctx).unwrap();
            b.iter(|| {
                // Decode one token, then drop it so every step runs at the same depth.
                let logit = session.forward(&[42]).unwrap()[0];
                session.truncate(depth);
                logit
            })
        });
    }
    g.bench_function("decode_matmuls", |b| b.iter(|| session.decode_matmuls()));
    g.finish();

    for depth in [128, 512] {
        session.reset();
        session.forward(&tokens(depth)).unwrap();
        let (mut step, mut mm) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            let t = Instant::now();
            session.forward(&[42]).unwrap();
            step.push(t.elapsed().as_secs_f64());
            session.truncate(depth);
            let t = Instant::now();
            session.decode_matmuls();
            mm.push(t.elapsed().as_secs_f64());
        }
        let (step, mm) = (median(step), median(mm));
        println!(
            "forward/decode/{depth}: step {:.3} ms, matmuls {:.3} ms, outside matmuls {:.3} ms ({:.0}%)",
            step * 1e3,
            mm * 1e3,
            (step - mm) * 1e3,
            100.0 * (step - mm) / step
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

criterion_group!(benches, bench);
criterion_main!(benches);
