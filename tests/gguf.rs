//! GGUF reader on files built in memory: a valid file round-trips, every malformed file
//! is an `Err` naming the problem (never a panic or a huge allocation), and a tiny
//! random-weight Llama built here loads and generates.

use std::sync::Arc;

use ingot::io::bytes::FileBytes;
use ingot::io::{Gguf, GgufBuilder, Value};
use ingot::kernels::formats::{BlockQ8_0, Quantize};
use ingot::{
    ComputeMode, DType, Error, GenerateOptions, LoadOptions, Model, Sampler, SamplerConfig,
};

fn parse(bytes: Vec<u8>) -> ingot::Result<Gguf> {
    Gguf::parse(Arc::new(FileBytes::from_vec(bytes)))
}

fn err_text(bytes: Vec<u8>) -> String {
    match parse(bytes) {
        Ok(_) => panic!("malformed file parsed"),
        Err(e) => e.to_string(),
    }
}

fn small() -> GgufBuilder {
    GgufBuilder::new()
        .kv("general.name", Value::String("tiny".into()))
        .kv("u8", Value::U8(7))
        .kv("i8", Value::I8(-7))
        .kv("u16", Value::U16(700))
        .kv("i16", Value::I16(-700))
        .kv("u32", Value::U32(70_000))
        .kv("i32", Value::I32(-70_000))
        .kv("f32", Value::F32(0.5))
        .kv("bool", Value::Bool(true))
        .kv("u64", Value::U64(1 << 40))
        .kv("i64", Value::I64(-(1 << 40)))
        .kv("f64", Value::F64(-0.25))
        .kv(
            "strings",
            Value::Array(vec![Value::String("a".into()), Value::String("bc".into())]),
        )
        .kv(
            "nested",
            Value::Array(vec![
                Value::Array(vec![Value::I32(1), Value::I32(2)]),
                Value::Array(vec![Value::I32(3)]),
            ]),
        )
        .tensor_f32("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .tensor_f32("b", &[5], &[0.5; 5])
}

#[test]
fn valid_file_round_trips() {
    let g = parse(small().build()).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.get("general.name").unwrap().as_str(), Some("tiny"));
    assert_eq!(g.get("i8"), Some(&Value::I8(-7)));
    assert_eq!(g.get("u64").unwrap().as_u64(), Some(1 << 40));
    assert_eq!(g.get("i64"), Some(&Value::I64(-(1 << 40))));
    assert_eq!(g.get("f64").unwrap().as_f64(), Some(-0.25));
    assert_eq!(g.get("bool").unwrap().as_bool(), Some(true));
    assert_eq!(g.get("strings").unwrap().as_array().unwrap().len(), 2);
    assert_eq!(
        g.get("nested").unwrap().as_array().unwrap()[0],
        Value::Array(vec![Value::I32(1), Value::I32(2)])
    );
    assert_eq!(g.keys().len(), 14);
    let w = g.tensor("w").unwrap();
    assert_eq!(w.shape(), [2, 3]);
    assert!(w.is_view());
    assert_eq!(w.to_f32(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(g.tensor("b").unwrap().to_f32(), [0.5; 5]);
    assert!(matches!(g.tensor("missing"), Err(Error::Tensor { .. })));
}

#[test]
fn bad_magic() {
    let mut b = small().build();
    b[0] = b'X';
    assert!(err_text(b).contains("magic"));
    assert!(err_text(b"not a model at all".to_vec()).contains("magic"));
}

#[test]
fn unsupported_version() {
    let mut b = small().build();
    b[4] = 1;
    assert!(err_text(b).contains("version 1"));
}

#[test]
fn every_truncation_is_an_error() {
    let b = small().build();
    // Cutting anywhere before the end of the last tensor's data must fail cleanly.
    for len in 0..b.len() - 1 {
        let r = parse(b[..len].to_vec());
        assert!(r.is_err(), "truncated at {len} of {} parsed", b.len());
    }
    assert!(err_text(b[..10].to_vec()).contains("truncated"));
}

/// Offset of the first byte after `needle` in `hay`.
fn after(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap() + needle.len()
}

#[test]
fn string_length_past_the_end() {
    let mut b = small().build();
    // The value of general.name is a string: type (u32 = 8), then its u64 length.
    let at = after(&b, b"general.name") + 4;
    b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = err_text(b);
    assert!(
        e.contains("string length") && e.contains("past the end"),
        "{e}"
    );
}

#[test]
fn tensor_past_the_end() {
    let mut b = small().build();
    // Tensor info of "w": name, n_dims (u32), 2 dims (u64), type (u32), offset (u64).
    let at = after(&b, b"\x01\x00\x00\x00\x00\x00\x00\x00w") + 4 + 16 + 4;
    b[at..at + 8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let e = err_text(b);
    assert!(
        e.contains("tensor 'w'") && e.contains("past the end"),
        "{e}"
    );
}

#[test]
fn unknown_dtype() {
    let mut b = small().build();
    let at = after(&b, b"\x01\x00\x00\x00\x00\x00\x00\x00w") + 4 + 16;
    b[at..at + 4].copy_from_slice(&999u32.to_le_bytes());
    match parse(b) {
        Err(Error::UnsupportedDType {
            type_id: 999,
            tensor,
        }) => assert_eq!(tensor, "w"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn absurd_array_length() {
    let mut b = small().build();
    // "strings": type 9 (array), element type 8 (string), then the u64 length.
    let at = after(&b, b"strings") + 8;
    b[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = err_text(b);
    assert!(
        e.contains("array length") && e.contains("impossible"),
        "{e}"
    );
}

#[test]
fn absurd_counts_in_the_header() {
    let mut b = small().build();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // tensor count
    assert!(err_text(b).contains("tensor count"));
    let mut b = small().build();
    b[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes()); // metadata count
    assert!(err_text(b).contains("metadata count"));
}

#[test]
fn misaligned_and_overlapping_tensors() {
    let mut b = small().build();
    let at = after(&b, b"\x01\x00\x00\x00\x00\x00\x00\x00b") + 4 + 8 + 4;
    b[at..at + 8].copy_from_slice(&3u64.to_le_bytes());
    assert!(err_text(b.clone()).contains("alignment"));
    b[at..at + 8].copy_from_slice(&0u64.to_le_bytes()); // same offset as "w"
    assert!(err_text(b).contains("overlap"));
}

#[test]
fn duplicate_names_and_bad_values() {
    let b = GgufBuilder::new()
        .kv("k", Value::U8(1))
        .kv("k", Value::U8(2))
        .build();
    assert!(err_text(b).contains("twice"));
    let mut b = GgufBuilder::new().kv("flag", Value::Bool(true)).build();
    let at = after(&b, b"flag") + 4;
    b[at] = 2;
    assert!(err_text(b).contains("bool"));
    let mut b = GgufBuilder::new().kv("x", Value::U8(1)).build();
    let at = after(&b, b"x");
    b[at..at + 4].copy_from_slice(&77u32.to_le_bytes());
    assert!(err_text(b).contains("unknown value type 77"));
}

// --- A tiny Llama, built here with random weights ---

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// dim 64, 2 layers, 4 heads (2 KV heads), FFN 96, a byte-level vocabulary of 256 + 1.
fn tiny_llama(embd_q8: bool) -> Vec<u8> {
    let (dim, hidden, n_layers, n_heads, n_kv, vocab) =
        (64usize, 96usize, 2usize, 4usize, 2usize, 257usize);
    let hd = dim / n_heads;
    let bl = ingot::tokenizer::byte_level::ByteLevel::default();
    let mut tokens: Vec<Value> = (0..=255u8)
        .map(|b| Value::String(bl.char_of(b).to_string()))
        .collect();
    tokens.push(Value::String("<|end|>".into()));
    let mut types = vec![Value::I32(1); 256];
    types.push(Value::I32(3));
    let mut r = Lcg(1);
    let mut b = GgufBuilder::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("llama.block_count", Value::U32(n_layers as u32))
        .kv("llama.embedding_length", Value::U32(dim as u32))
        .kv("llama.feed_forward_length", Value::U32(hidden as u32))
        .kv("llama.attention.head_count", Value::U32(n_heads as u32))
        .kv("llama.attention.head_count_kv", Value::U32(n_kv as u32))
        .kv("llama.context_length", Value::U32(128))
        .kv("llama.rope.freq_base", Value::F32(10000.0))
        .kv("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
        .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .kv("tokenizer.ggml.pre", Value::String("gpt-2".into()))
        .kv("tokenizer.ggml.tokens", Value::Array(tokens))
        .kv("tokenizer.ggml.token_type", Value::Array(types))
        .kv("tokenizer.ggml.merges", Value::Array(vec![]))
        .kv("tokenizer.ggml.eos_token_id", Value::U32(256));
    let embd = r.vec(vocab * dim);
    b = if embd_q8 {
        let blocks: Vec<BlockQ8_0> = embd.chunks_exact(32).map(BlockQ8_0::quantize).collect();
        b.tensor(
            "token_embd.weight",
            DType::Q8_0,
            &[vocab, dim],
            bytemuck::cast_slice(&blocks).to_vec(),
        )
    } else {
        b.tensor_f32("token_embd.weight", &[vocab, dim], &embd)
    };
    b = b.tensor_f32("output_norm.weight", &[dim], &vec![1.0; dim]);
    for l in 0..n_layers {
        let p = |s: &str| format!("blk.{l}.{s}");
        b = b
            .tensor_f32(&p("attn_norm.weight"), &[dim], &vec![1.0; dim])
            .tensor_f32(&p("attn_q.weight"), &[dim, dim], &r.vec(dim * dim))
            .tensor_f32(
                &p("attn_k.weight"),
                &[n_kv * hd, dim],
                &r.vec(n_kv * hd * dim),
            )
            .tensor_f32(
                &p("attn_v.weight"),
                &[n_kv * hd, dim],
                &r.vec(n_kv * hd * dim),
            )
            .tensor_f32(&p("attn_output.weight"), &[dim, dim], &r.vec(dim * dim))
            .tensor_f32(&p("ffn_norm.weight"), &[dim], &vec![1.0; dim])
            .tensor_f32(&p("ffn_gate.weight"), &[hidden, dim], &r.vec(hidden * dim))
            .tensor_f32(&p("ffn_up.weight"), &[hidden, dim], &r.vec(hidden * dim))
            .tensor_f32(&p("ffn_down.weight"), &[dim, hidden], &r.vec(dim * hidden));
    }
    b.build()
}

#[test]
fn tiny_llama_loads_and_generates() {
    for embd_q8 in [false, true] {
        let g = parse(tiny_llama(embd_q8)).unwrap();
        let native = Model::from_gguf(
            &g,
            LoadOptions {
                mode: ComputeMode::Native,
            },
        )
        .unwrap();
        let f32m = Model::from_gguf(
            &g,
            LoadOptions {
                mode: ComputeMode::F32,
            },
        )
        .unwrap();
        let prompt = native.tokenizer().encode("hello tiny model", true);
        assert_eq!(prompt.len(), 16);
        // An f32 KV cache, as f32 mode has (native mode's default rounds it to f16:
        // checked below).
        let a = native
            .session_with(128, ingot::KvType::F32)
            .unwrap()
            .forward(&prompt)
            .unwrap()
            .to_vec();
        let a16 = native
            .session(128)
            .unwrap()
            .forward(&prompt)
            .unwrap()
            .to_vec();
        let b = f32m
            .session(128)
            .unwrap()
            .forward(&prompt)
            .unwrap()
            .to_vec();
        assert_eq!(a.len(), 257);
        assert!(a.iter().all(|x| x.is_finite()));
        let err = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        // With f32 weights both modes run the same f32 kernels; a Q8_0 LM head in native
        // mode multiplies 8-bit activations (≈ 0.4% steps), so allow that much.
        let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let tol = if embd_q8 { 1e-2 * scale } else { 1e-5 };
        assert!(err < tol, "native vs f32: {err} (tolerance {tol})");
        // Keys and values rounded to f16 (11 significant bits) move the logits by a few
        // parts in 10^4 of their scale here.
        let err16 = a16
            .iter()
            .zip(&a)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            err16 > 0.0 && err16 < 2e-3 * scale,
            "f16 vs f32 KV cache: {err16} (scale {scale})"
        );

        let mut s = native.session(32).unwrap();
        let mut sampler = Sampler::new(SamplerConfig {
            temperature: 0.9,
            seed: 3,
            ..Default::default()
        })
        .unwrap();
        let opts = GenerateOptions {
            max_tokens: 100,
            ignore_eos: true,
            ..Default::default()
        };
        let mut gen = s.generate(&prompt, &mut sampler, opts);
        let text: String = gen.by_ref().map(|p| p.unwrap()).collect();
        // 16 prompt tokens in a 32-token context: 16 generated tokens fill the cache, and
        // the logits of the last one still give a 17th; then generation must stop.
        assert_eq!(gen.stats().stop, Some(ingot::StopReason::ContextFull));
        assert_eq!(gen.tokens().len(), 17);
        assert!(!text.is_empty());
        drop(gen);

        // With a context shift, generation goes on past the full window: the older half
        // after the first 4 tokens is dropped each time the cache fills.
        let mut s = native.session(32).unwrap();
        let opts = GenerateOptions {
            max_tokens: 100,
            ignore_eos: true,
            context_shift: true,
            keep: 4,
            ..Default::default()
        };
        let mut gen = s.generate(&prompt, &mut sampler, opts);
        let text: String = gen.by_ref().map(|p| p.unwrap()).collect();
        assert_eq!(gen.stats().stop, Some(ingot::StopReason::MaxTokens));
        assert_eq!(gen.tokens().len(), 100);
        assert!(gen.stats().shifts >= 5, "{} shifts", gen.stats().shifts);
        assert!(!text.is_empty());
        drop(gen);
        assert_eq!(s.tokens()[..4], prompt[..4]);
        assert!(s.pos() <= 32);
    }
}

#[test]
fn model_errors_name_the_problem() {
    let g = parse(tiny_llama(false)).unwrap();
    let m = Model::from_gguf(&g, LoadOptions::default()).unwrap();
    let mut s = m.session(8).unwrap();
    assert!(matches!(
        s.forward(&[1; 9]),
        Err(Error::ContextOverflow {
            needed: 9,
            context: 8
        })
    ));
    assert!(matches!(
        s.forward(&[999]),
        Err(Error::TokenOutOfRange { id: 999, .. })
    ));
    assert!(matches!(s.forward(&[]), Err(Error::InvalidArgument(_))));
    assert!(m.session(0).is_err() && m.session(129).is_err());
    let mut sampler = Sampler::new(SamplerConfig::default()).unwrap();
    let mut s = m.session(8).unwrap();
    let first = s
        .generate(&[1; 9], &mut sampler, GenerateOptions::default())
        .next();
    assert!(matches!(first, Some(Err(Error::ContextOverflow { .. }))));

    // A missing tensor, a wrong shape, and an unknown pre-tokenizer.
    let bytes = tiny_llama(false);
    let mut b = bytes.clone();
    let at = after(&b, b"blk.1.ffn_up") - 2;
    b[at..at + 2].copy_from_slice(b"XX");
    let e = Model::from_gguf(&parse(b).unwrap(), LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("blk.1.ffn_up.weight") && e.contains("missing"),
        "{e}"
    );
    let mut b = bytes.clone();
    let at = after(&b, b"gpt-2") - 5;
    b[at..at + 5].copy_from_slice(b"qwen9");
    let e = Model::from_gguf(&parse(b).unwrap(), LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("'qwen9'"), "{e}");
    let mut b = bytes;
    let at = after(&b, b"llama.embedding_length") + 4;
    b[at..at + 4].copy_from_slice(&48u32.to_le_bytes());
    assert!(Model::from_gguf(&parse(b).unwrap(), LoadOptions::default()).is_err());
}

#[test]
fn stop_strings_end_generation_across_token_boundaries() {
    let g = parse(tiny_llama(false)).unwrap();
    let m = Model::from_gguf(&g, LoadOptions::default()).unwrap();
    let prompt = m.tokenizer().encode("abc", true);
    let run = |stop: Vec<String>| {
        let mut s = m.session(64).unwrap();
        let mut sampler = Sampler::new(SamplerConfig {
            temperature: 1.0,
            seed: 9,
            ..Default::default()
        })
        .unwrap();
        let opts = GenerateOptions {
            max_tokens: 40,
            ignore_eos: true,
            stop_strings: stop,
            ..Default::default()
        };
        let mut gen = s.generate(&prompt, &mut sampler, opts);
        let pieces: Vec<String> = gen.by_ref().map(|p| p.unwrap()).collect();
        (pieces.concat(), gen.stats().stop, gen.tokens().len())
    };
    let (full, reason, n) = run(vec![]);
    assert_eq!((reason, n), (Some(ingot::StopReason::MaxTokens), 40));
    // Each token of this byte-level model is one byte: a 3-char stop string taken from the
    // middle of the text spans three tokens.
    let chars: Vec<char> = full.chars().collect();
    let stop: String = chars[10..13].iter().collect();
    let first = full.find(&stop).unwrap();
    let (text, reason, _) = run(vec![stop.clone(), "never appears \u{1F600}".into()]);
    assert_eq!(text, full[..first]);
    assert_eq!(reason, Some(ingot::StopReason::StopString));
    assert!(!text.contains(&stop));
}

#[test]
fn oversized_caches_and_bad_ids_are_errors() {
    let g = parse(tiny_llama(false)).unwrap();
    let m = Model::from_gguf(&g, LoadOptions::default()).unwrap();
    // A KV cache bigger than any machine: refused with its size, not an abort.
    let mut c = m.config().clone();
    c.n_layers = 1 << 20;
    c.n_kv_heads = 1 << 10;
    let e = ingot::model::transformer::KvCache::new(&c, 1 << 20, ingot::KvType::F32)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("KV cache"), "{e}");
    // Perplexity of ids outside the vocabulary (the last of a window is never run).
    let r = ingot::model::perplexity::perplexity(&m, &[1, 9999], 2);
    assert!(matches!(r, Err(Error::TokenOutOfRange { id: 9999, .. })));
    assert!(ingot::model::perplexity::perplexity(&m, &[1, 2, 3], 1000).is_err());
}

#[test]
fn llama_cpp_style_perplexity_scores_the_second_half_of_whole_windows() {
    use ingot::model::perplexity::{log_sum_exp, perplexity_with, Scoring};
    // The tiny Llama 3 as llama.cpp converts it: its tokenizer adds BOS (id 360).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/tiny/gguf/llama3.gguf"
    );
    let m = Model::load(path, LoadOptions::default()).unwrap();
    let bos = m
        .tokenizer()
        .bos()
        .filter(|_| m.tokenizer().add_bos())
        .unwrap();
    let ids: Vec<u32> = (0..37).map(|i| (i * 7 % 300) as u32).collect();
    // Windows of 8: four whole ones (the last 5 ids are dropped), 3 scored in each.
    let r = perplexity_with(&m, &ids, 8, Scoring::SecondHalf).unwrap();
    assert_eq!((r.windows, r.scored), (4, 4 * 3));
    // By hand: each window run from an empty cache with BOS first, rows 4..7 scored.
    let v = m.config().vocab_size;
    let mut nll = 0.0;
    for w in ids.chunks_exact(8) {
        let mut input = w[..7].to_vec();
        input[0] = bos;
        let all = m.session(8).unwrap().forward_all(&input).unwrap().to_vec();
        let tail = m
            .session(8)
            .unwrap()
            .forward_from(&input, 4)
            .unwrap()
            .to_vec();
        // The last layer carries only the rows asked for (so fewer rows through its
        // kernels): the same logits up to the order of float sums.
        let diff = tail
            .iter()
            .zip(&all[4 * v..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            tail.len() == all[4 * v..].len() && diff < 1e-4,
            "forward_from: {diff}"
        );
        for (row, &t) in tail.chunks_exact(v).zip(&w[5..]) {
            nll += log_sum_exp(row) - row[t as usize] as f64;
        }
    }
    assert!(
        (r.nll_sum - nll).abs() < 1e-6 * nll.abs(),
        "{} vs {nll}",
        r.nll_sum
    );
    assert!(m.session(8).unwrap().forward_from(&ids[..4], 4).is_err());
}
