//! Writes the committed seed inputs under `tests/fuzz/seeds/` (run from the repository
//! root: `cargo run --manifest-path tests/fuzz/Cargo.toml --bin make_seeds`):
//!
//! - `config.json`, `model.safetensors`, `tokenizer.json`: a tiny Llama as an HF folder
//!   (16 wide, 1 layer, a 48-token byte-level BPE written here: small inputs run fast),
//!   the fixed half of the `safetensors` target's input;
//! - `gguf/`: the same model as GGUF with f32 weights, with Q8_0/Q4_0/Q4_1 weights, with
//!   SentencePiece, Unigram and WordPiece vocabularies, and as GPT-2 (LayerNorm biases,
//!   fused qkv, learned positions); `llama_formats.gguf`, 256 wide, holds every block
//!   format ingot reads, one per projection;
//! - `safetensors/`: a selector byte, then that config.json or model.safetensors;
//! - `tokenizer_json/`, `tokenize/`, `chat_template/`: small real inputs.
//!
//! Seeds are starting points for coverage, not tests; the fuzzers' findings that matter
//! become regression inputs under `tests/hostile/`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

#[path = "blocks.rs"]
mod blocks;

use ingot::io::{GgufBuilder, Value};
use ingot::kernels::formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, Quantize};
use ingot::DType;
use serde_json::json;

const DIM: usize = 16;
const HIDDEN: usize = 32;
const HEADS: usize = 2;
const KV_HEADS: usize = 1;
const HD: usize = DIM / HEADS;

/// Deterministic values in [-0.5, 0.5).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

fn quantized(dtype: DType, v: &[f32]) -> Vec<u8> {
    match dtype {
        DType::Q8_0 => bytemuck::cast_slice(&v.chunks_exact(32).map(BlockQ8_0::quantize).collect::<Vec<_>>()).to_vec(),
        DType::Q4_0 => bytemuck::cast_slice(&v.chunks_exact(32).map(BlockQ4_0::quantize).collect::<Vec<_>>()).to_vec(),
        DType::Q4_1 => bytemuck::cast_slice(&v.chunks_exact(32).map(BlockQ4_1::quantize).collect::<Vec<_>>()).to_vec(),
        _ => bytemuck::cast_slice(v).to_vec(),
    }
}

/// A 48-token byte-level BPE as `tokenizer.json`: three special tokens, the bytes of
/// lowercase letters, digits, space, newline and a few punctuation marks in GPT-2's
/// byte-to-character map, and merges that build " the" and "in".
fn tiny_tokenizer() -> serde_json::Value {
    let bl = ingot::tokenizer::byte_level::ByteLevel::default();
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"].iter().enumerate() {
        vocab.insert(t.to_string(), json!(i));
    }
    let mut next = 3u32;
    let mut add = |t: String, vocab: &mut serde_json::Map<String, serde_json::Value>| {
        vocab.insert(t, json!(next));
        next += 1;
    };
    for b in b"abcdefghijklmnopqrstuvwxyz0123456789 \n.,<>|_" {
        add(bl.char_of(*b).to_string(), &mut vocab);
    }
    let sp = bl.char_of(b' ').to_string();
    let merges = [(sp.clone(), "t".to_string()), ("h".into(), "e".into()), (format!("{sp}t"), "he".into()), ("i".into(), "n".into())];
    for (a, b) in &merges {
        add(format!("{a}{b}"), &mut vocab);
    }
    let added: Vec<serde_json::Value> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()}
    })
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = root.join("seeds");
    for d in ["gguf", "safetensors", "tokenizer_json", "tokenize", "chat_template"] {
        fs::create_dir_all(seeds.join(d)).unwrap();
    }
    let tok = tiny_tokenizer();
    let tok_text = serde_json::to_string_pretty(&tok).unwrap();
    let vocab = tok["model"]["vocab"].as_object().unwrap().len();

    // The HF folder.
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        ("model.embed_tokens.weight".into(), vec![vocab, DIM], values(vocab * DIM, 1)),
        ("model.norm.weight".into(), vec![DIM], vec![1.0; DIM]),
    ];
    let layer = [
        ("input_layernorm", vec![DIM]),
        ("post_attention_layernorm", vec![DIM]),
        ("self_attn.q_proj", vec![HEADS * HD, DIM]),
        ("self_attn.k_proj", vec![KV_HEADS * HD, DIM]),
        ("self_attn.v_proj", vec![KV_HEADS * HD, DIM]),
        ("self_attn.o_proj", vec![DIM, HEADS * HD]),
        ("mlp.gate_proj", vec![HIDDEN, DIM]),
        ("mlp.up_proj", vec![HIDDEN, DIM]),
        ("mlp.down_proj", vec![DIM, HIDDEN]),
    ];
    for (i, (name, shape)) in layer.iter().enumerate() {
        let n = shape.iter().product();
        let v = if shape.len() == 1 { vec![1.0; n] } else { values(n, 10 + i as u64) };
        tensors.push((format!("model.layers.0.{name}.weight"), shape.clone(), v));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, v)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), bytemuck::cast_slice(v)).unwrap();
            (n.clone(), view)
        })
        .collect();
    let st = safetensors::serialize(views, None::<HashMap<String, String>>).unwrap();
    let config = json!({
        "model_type": "llama", "hidden_size": DIM, "intermediate_size": HIDDEN,
        "num_hidden_layers": 1, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "hidden_act": "silu",
        "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
        "tie_word_embeddings": true, "vocab_size": vocab, "bos_token_id": 1, "eos_token_id": 2
    });
    let config = serde_json::to_string_pretty(&config).unwrap();
    fs::write(seeds.join("config.json"), &config).unwrap();
    fs::write(seeds.join("model.safetensors"), &st).unwrap();
    fs::write(seeds.join("tokenizer.json"), &tok_text).unwrap();
    fs::write(seeds.join("safetensors/config"), [&[0u8][..], config.as_bytes()].concat()).unwrap();
    fs::write(seeds.join("safetensors/weights"), [&[1u8][..], &st[..]].concat()).unwrap();
    fs::write(seeds.join("safetensors/weights_f32"), [&[3u8][..], &st[..]].concat()).unwrap();

    // The same model as GGUF, in three weight formats, and a GPT-2.
    let mut tokens = vec![String::new(); vocab];
    for (t, id) in tok["model"]["vocab"].as_object().unwrap().iter() {
        tokens[id.as_u64().unwrap() as usize] = t.clone();
    }
    let mut types = vec![Value::I32(1); vocab];
    for a in tok["added_tokens"].as_array().unwrap() {
        let id = a["id"].as_u64().unwrap() as usize;
        tokens[id] = a["content"].as_str().unwrap().into();
        types[id] = Value::I32(3);
    }
    let merges: Vec<Value> = tok["model"]["merges"].as_array().unwrap().iter()
        .map(|m| Value::String(format!("{} {}", m[0].as_str().unwrap(), m[1].as_str().unwrap())))
        .collect();
    let base = |arch: &str| {
        let k = |s: &str| format!("{arch}.{s}");
        GgufBuilder::new()
            .kv("general.architecture", Value::String(arch.into()))
            .kv(&k("block_count"), Value::U32(1))
            .kv(&k("context_length"), Value::U32(64))
            .kv(&k("embedding_length"), Value::U32(DIM as u32))
            .kv(&k("feed_forward_length"), Value::U32(HIDDEN as u32))
            .kv(&k("attention.head_count"), Value::U32(HEADS as u32))
            .kv(&k("attention.head_count_kv"), Value::U32(KV_HEADS as u32))
            .kv(&k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5))
            .kv(&k("attention.layer_norm_epsilon"), Value::F32(1e-5))
            .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
            .kv("tokenizer.ggml.pre", Value::String("gpt-2".into()))
            .kv("tokenizer.ggml.tokens", Value::Array(tokens.iter().cloned().map(Value::String).collect()))
            .kv("tokenizer.ggml.token_type", Value::Array(types.clone()))
            .kv("tokenizer.ggml.merges", Value::Array(merges.clone()))
            .kv("tokenizer.ggml.bos_token_id", Value::U32(1))
            .kv("tokenizer.ggml.eos_token_id", Value::U32(2))
    };
    for dtype in [DType::F32, DType::Q8_0, DType::Q4_0, DType::Q4_1] {
        let mut b = base("llama")
            .tensor_f32("token_embd.weight", &[vocab, DIM], &values(vocab * DIM, 1))
            .tensor_f32("output_norm.weight", &[DIM], &[1.0; DIM]);
        for (name, shape, seed) in [
            ("attn_norm", vec![DIM], 0), ("ffn_norm", vec![DIM], 0),
            ("attn_q", vec![HEADS * HD, DIM], 2), ("attn_k", vec![KV_HEADS * HD, DIM], 3),
            ("attn_v", vec![KV_HEADS * HD, DIM], 4), ("attn_output", vec![DIM, HEADS * HD], 5),
            ("ffn_gate", vec![HIDDEN, DIM], 6), ("ffn_up", vec![HIDDEN, DIM], 7),
            ("ffn_down", vec![DIM, HIDDEN], 8),
        ] {
            let n: usize = shape.iter().product();
            let full = format!("blk.0.{name}.weight");
            b = if seed == 0 {
                b.tensor_f32(&full, &shape, &vec![1.0; n])
            } else {
                // Rows of 16 are not whole 32-value blocks: quantize only the 32-wide ones.
                let dt = if shape[1] % 32 == 0 { dtype } else { DType::F32 };
                b.tensor(&full, dt, &shape, quantized(dt, &values(n, seed)))
            };
        }
        fs::write(seeds.join(format!("gguf/llama_{dtype:?}.gguf").to_lowercase()), b.build()).unwrap();
    }
    // The llama model with a SentencePiece vocabulary of the same size (Gemma's layout:
    // pieces and scores, no merges, <0xNN> byte pieces, user-defined runs of spaces).
    let sp_tokens: Vec<String> = {
        let mut t: Vec<String> = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x20>", "<0xC3>", "<0xA9>", "  ", "\u{2581}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for c in "abcdefghijklmnopqrstuvwxyz".chars() {
            t.push(c.to_string());
        }
        for p in ["\u{2581}t", "he", "\u{2581}the", "in", "\u{2581}a", "an", "er", "on", "re", "at", "en", "or", "es", "is", "\u{2581}i", "ou"] {
            t.push(p.to_string());
        }
        t.truncate(vocab);
        t
    };
    let sp_types: Vec<Value> = (0..vocab)
        .map(|i| Value::I32(match i { 0 => 2, 1 | 2 => 3, 3..=6 => 6, 7 => 4, _ => 1 }))
        .collect();
    let sp_scores: Vec<Value> = (0..vocab).map(|i| Value::F32(-(i as f32))).collect();
    let llama = fs::read(seeds.join("gguf/llama_f32.gguf")).unwrap();
    let g = ingot::io::Gguf::parse(std::sync::Arc::new(ingot::io::bytes::FileBytes::from_vec(llama))).unwrap();
    let mut b = GgufBuilder::new();
    for k in g.keys() {
        let v = match k.as_str() {
            "tokenizer.ggml.model" => Value::String("llama".into()),
            "tokenizer.ggml.tokens" => Value::Array(sp_tokens.iter().cloned().map(Value::String).collect()),
            "tokenizer.ggml.token_type" => Value::Array(sp_types.clone()),
            "tokenizer.ggml.merges" | "tokenizer.ggml.pre" => continue,
            _ => g.get(k).unwrap().clone(),
        };
        b = b.kv(k, v);
    }
    b = b
        .kv("tokenizer.ggml.scores", Value::Array(sp_scores))
        .kv("tokenizer.ggml.add_bos_token", Value::Bool(true))
        .kv("tokenizer.ggml.add_space_prefix", Value::Bool(false));
    for t in g.tensor_infos() {
        b = b.tensor(&t.name, t.dtype, &t.shape, g.tensor(&t.name).unwrap().bytes().to_vec());
    }
    fs::write(seeds.join("gguf/llama_sentencepiece.gguf"), b.build()).unwrap();

    // The same model with the other tokenizer models llama.cpp writes: Unigram (`t5`, with a
    // precompiled character map of one rule, "Ａ" → "A") and WordPiece (`bert`, its
    // converter's `▁word` / bare-continuation spelling).
    let charsmap = {
        // A one-rule XCDA trie: root 0 → byte 0xEF → 0xBC → 0xA1 (leaf) → string 0.
        let mut trie = vec![0u32; 1024];
        let node = |base: u32, check: u32, leaf: bool| (base << 10) | check | ((leaf as u32) << 8);
        trie[0] = node(1, 0, false);
        let a = 1 ^ 0xEF;
        trie[a] = node(300, 0xEF, false);
        let b2 = (a as u32 ^ 300) as usize ^ 0xBC;
        trie[b2] = node(600, 0xBC, false);
        let c = (b2 as u32 ^ 600) as usize ^ 0xA1;
        trie[c] = node(900, 0xA1, true);
        let leaf = (c as u32 ^ 900) as usize;
        trie[leaf] = 0; // offset of "A\0" in the strings
        let mut blob = ((trie.len() * 4) as u32).to_le_bytes().to_vec();
        blob.extend(trie.iter().flat_map(|x| x.to_le_bytes()));
        blob.extend(b"A\0");
        blob
    };
    for (name, model, extra) in [
        (
            "gguf/llama_unigram.gguf",
            "t5",
            vec![
                ("tokenizer.ggml.scores", Value::Array((0..vocab).map(|i| Value::F32(-(i as f32))).collect())),
                ("tokenizer.ggml.precompiled_charsmap", Value::Array(charsmap.iter().map(|&b| Value::U8(b)).collect())),
                ("tokenizer.ggml.add_space_prefix", Value::Bool(true)),
                ("tokenizer.ggml.remove_extra_whitespaces", Value::Bool(true)),
            ],
        ),
        ("gguf/llama_wordpiece.gguf", "bert", vec![]),
    ] {
        let mut b = GgufBuilder::new();
        for k in g.keys() {
            let v = match k.as_str() {
                "tokenizer.ggml.model" => Value::String(model.into()),
                "tokenizer.ggml.tokens" => Value::Array(sp_tokens.iter().cloned().map(Value::String).collect()),
                "tokenizer.ggml.token_type" => Value::Array(sp_types.clone()),
                "tokenizer.ggml.merges" | "tokenizer.ggml.pre" => continue,
                _ => g.get(k).unwrap().clone(),
            };
            b = b.kv(k, v);
        }
        for (k, v) in extra {
            b = b.kv(k, v);
        }
        for t in g.tensor_infos() {
            b = b.tensor(&t.name, t.dtype, &t.shape, g.tensor(&t.name).unwrap().bytes().to_vec());
        }
        fs::write(seeds.join(name), b.build()).unwrap();
    }

    let mut b = base("gpt2")
        .tensor_f32("token_embd.weight", &[vocab, DIM], &values(vocab * DIM, 1))
        .tensor_f32("position_embd.weight", &[64, DIM], &values(64 * DIM, 2))
        .tensor_f32("output_norm.weight", &[DIM], &[1.0; DIM])
        .tensor_f32("output_norm.bias", &[DIM], &[0.0; DIM]);
    for (name, rows, cols) in [("attn_qkv", 3 * DIM, DIM), ("attn_output", DIM, DIM), ("ffn_up", HIDDEN, DIM), ("ffn_down", DIM, HIDDEN)] {
        b = b.tensor_f32(&format!("blk.0.{name}.weight"), &[rows, cols], &values(rows * cols, 3))
            .tensor_f32(&format!("blk.0.{name}.bias"), &[rows], &values(rows, 4));
    }
    for name in ["attn_norm", "ffn_norm"] {
        b = b.tensor_f32(&format!("blk.0.{name}.weight"), &[DIM], &[1.0; DIM])
            .tensor_f32(&format!("blk.0.{name}.bias"), &[DIM], &[0.0; DIM]);
    }
    fs::write(seeds.join("gguf/gpt2.gguf"), b.build()).unwrap();

    // Every block format, one per row-256 projection (q, k, v, gate, up) over five layers
    // of a model 256 wide with one 16-wide head: the widest blocks (256 values) fit a row.
    let (dim, hd) = (256usize, 16usize);
    let k = |s: &str| format!("llama.{s}");
    let mut b = GgufBuilder::new();
    for key in g.keys() {
        if key.starts_with("tokenizer.") {
            b = b.kv(key, g.get(key).unwrap().clone());
        }
    }
    b = b
        .kv("general.architecture", Value::String("llama".into()))
        .kv(&k("block_count"), Value::U32(5))
        .kv(&k("context_length"), Value::U32(64))
        .kv(&k("embedding_length"), Value::U32(dim as u32))
        .kv(&k("feed_forward_length"), Value::U32(hd as u32))
        .kv(&k("attention.head_count"), Value::U32(1))
        .kv(&k("attention.head_count_kv"), Value::U32(1))
        .kv(&k("attention.key_length"), Value::U32(hd as u32))
        .kv(&k("attention.value_length"), Value::U32(hd as u32))
        .kv(&k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5))
        .tensor("token_embd.weight", DType::Q8_0, &[vocab, dim], blocks::block_bytes(DType::Q8_0, vocab * dim, 1))
        .tensor_f32("output_norm.weight", &[dim], &[1.0; 256]);
    let mut formats = blocks::QUANTIZED.iter().cycle();
    for l in 0..5 {
        let blk = |s: &str| format!("blk.{l}.{s}.weight");
        for name in ["attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"] {
            let dt = *formats.next().unwrap();
            b = b.tensor(&blk(name), dt, &[hd, dim], blocks::block_bytes(dt, hd * dim, l as u64 * 8 + 2));
        }
        // Rows of 16 are not whole blocks: F16 and BF16.
        for (name, dt) in [("attn_output", DType::F16), ("ffn_down", DType::BF16)] {
            b = b.tensor(&blk(name), dt, &[dim, hd], blocks::block_bytes(dt, dim * hd, l as u64 + 40));
        }
        for name in ["attn_norm", "ffn_norm"] {
            b = b.tensor_f32(&blk(name), &[dim], &[1.0; 256]);
        }
    }
    fs::write(seeds.join("gguf/llama_formats.gguf"), b.build()).unwrap();

    // Tokenizer and template inputs.
    fs::write(seeds.join("tokenizer_json/tiny.json"), &tok_text).unwrap();
    for (i, text) in ["Hello world", "  12 345\n\t<|im_start|>é😀 ñ", "def f(x):\n    return x**2\n"].iter().enumerate() {
        for sel in [0u8, 2, 4] {
            fs::write(seeds.join(format!("tokenize/text_{i}_{sel}")), [&[sel][..], text.as_bytes()].concat()).unwrap();
        }
    }
    fs::write(seeds.join("tokenize/ids"), [1u8, 5, 0, 0, 0, 200, 1, 0, 0, 255, 255, 0, 0]).unwrap();
    // Found by the fuzzer: a byte SmolLM2's vocabulary lacks (0x04), and a character one
    // of whose bytes it lacks (0xF1), which HF drops as ingot does.
    fs::write(seeds.join("tokenize/missing_byte"), [0u8, 0, 0x82, 0x32, 0x04]).unwrap();
    fs::write(
        seeds.join("tokenize/missing_byte_in_char"),
        [0u8, 0, 0x3c, 0x73, 0xf1, 0xb0, 0xb0, 0xb0, 0xb0, 0x65, 0x72, 0x7c, 0x3e, 0xa2],
    )
    .unwrap();
    // Found by the fuzzer: a lazily repeated 20M-item list concatenated into a string
    // (gigabytes before src/tokenizer/chat_guard.rs).
    fs::write(
        seeds.join("chat_template/lazy_repeat_concat"),
        "  {{- o[55~6*messages*1111000+00000666666666.] }}e1}meJ\0\0\0",
    )
    .unwrap();
    for e in fs::read_dir(root.join("../reference/chat_templates")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jinja") {
            fs::copy(&p, seeds.join("chat_template").join(p.file_name().unwrap())).unwrap();
        }
    }
    println!("seeds written to {}", seeds.display());
}
