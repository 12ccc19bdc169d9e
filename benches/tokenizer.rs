//! Tokenizer throughput: encoding ~1 MB of English prose (the perplexity text repeated)
//! with SmolLM2's tokenizer, single-threaded, in bytes per second.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingot::{LoadOptions, Model};

fn bench(c: &mut Criterion) {
    let path = ingot::fetch::default_model().expect("default model");
    let model = Model::load(path, LoadOptions::default()).expect("load");
    let tok = model.tokenizer();
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/ppl_text.txt"
    ))
    .unwrap();
    let text = unit.repeat((1 << 20) / unit.len() + 1);
    let mut g = c.benchmark_group("tokenizer");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("encode/1MB", |b| b.iter(|| tok.encode(&text, false)));
    let ids = tok.encode(&text, false);
    g.bench_function("decode/1MB", |b| b.iter(|| tok.decode(&ids).unwrap()));
    // One 10,000-letter word without spaces: a single BPE piece (quadratic merging would
    // show here).
    let word: String = (0..10_000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    g.throughput(Throughput::Bytes(word.len() as u64));
    g.bench_function("encode/word-10k", |b| b.iter(|| tok.encode(&word, false)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
