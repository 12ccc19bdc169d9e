//! Writes the hostile corpus under `tests/hostile/` (run from the repository root:
//! `cargo run --manifest-path tests/fuzz/Cargo.toml --bin make_hostile`): model and
//! tokenizer files broken in one way each, and `tests/hostile/expected.json`, which names
//! for each the error kind (`ingot::Error::kind`) and a phrase of the message that loading
//! it must give. `tests/hostile.rs` checks them. The broken files start from the valid
//! fuzz seeds (`tests/fuzz/seeds/`), a tiny Llama as GGUF and as an HF folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "blocks.rs"]
mod blocks;

use ingot::io::bytes::FileBytes;
use ingot::io::{Gguf, GgufBuilder, Value};
use serde_json::json;

/// One broken input and what loading it must say.
struct Case {
    path: String,
    kind: &'static str,
    contains: &'static str,
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Where tensor `name`'s info starts after its name: (n_dims at, first dim at).
fn tensor_info(b: &[u8], name: &str) -> usize {
    // The info is `u64 len, name bytes, u32 n_dims, u64 dims..., u32 type, u64 offset`;
    // the name also appears nowhere else in these files.
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    find(b, &key) + key.len()
}

/// The GGUF `base` rebuilt with `edit` applied to each tensor (None drops it) and `kv`
/// to each metadata pair (None drops it).
fn rebuild(
    base: &Gguf,
    edit: impl Fn(&str, ingot::DType, Vec<usize>, Vec<u8>) -> Option<(ingot::DType, Vec<usize>, Vec<u8>)>,
    kv: impl Fn(&str, &Value) -> Option<Value>,
) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    for k in base.keys() {
        if let Some(v) = kv(k, base.get(k).unwrap()) {
            b = b.kv(k, v);
        }
    }
    for t in base.tensor_infos() {
        let tensor = base.tensor(&t.name).unwrap();
        if let Some((dt, shape, data)) = edit(&t.name, t.dtype, t.shape.clone(), tensor.bytes().to_vec()) {
            b = b.tensor(&t.name, dt, &shape, data);
        }
    }
    b.build()
}

/// `base` with its tokenizer keys replaced by `tok` (others kept), tensors unchanged.
fn with_tokenizer(base: &Gguf, tok: &[(&str, Value)]) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    for k in base.keys() {
        if !k.starts_with("tokenizer.") {
            b = b.kv(k, base.get(k).unwrap().clone());
        }
    }
    for (k, v) in tok {
        b = b.kv(k, v.clone());
    }
    for t in base.tensor_infos() {
        let tensor = base.tensor(&t.name).unwrap();
        b = b.tensor(&t.name, t.dtype, &t.shape, tensor.bytes().to_vec());
    }
    b.build()
}

fn keep(_: &str, dt: ingot::DType, s: Vec<usize>, d: Vec<u8>) -> Option<(ingot::DType, Vec<usize>, Vec<u8>)> {
    Some((dt, s, d))
}

fn same(_: &str, v: &Value) -> Option<Value> {
    Some(v.clone())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seeds = root.join("tests/fuzz/seeds");
    let out = root.join("tests/hostile");
    let _ = fs::remove_dir_all(&out);
    for d in ["gguf", "hf", "tokenizer"] {
        fs::create_dir_all(out.join(d)).unwrap();
    }
    let mut cases: Vec<Case> = Vec::new();
    let mut gguf = |name: &str, bytes: Vec<u8>, kind: &'static str, contains: &'static str| {
        fs::write(out.join("gguf").join(name), bytes).unwrap();
        cases.push(Case { path: format!("gguf/{name}"), kind, contains });
    };

    let good = fs::read(seeds.join("gguf/llama_q8_0.gguf")).unwrap();
    let base = Gguf::parse(Arc::new(FileBytes::from_vec(good.clone()))).unwrap();
    // Cutting the last 64 bytes cuts into the last tensor's data.
    let data_start = good.len() - 64;

    // Header and structure.
    gguf("empty.gguf", vec![], "Format", "empty");
    let mut b = good.clone();
    b[3] = b'X';
    gguf("bad_magic.gguf", b, "Format", "magic");
    let mut b = good.clone();
    put_u32(&mut b, 4, 99);
    gguf("version_99.gguf", b, "Format", "version");
    gguf("truncated_in_header.gguf", good[..13].to_vec(), "Format", "");
    let key_at = find(&good, b"general.architecture");
    gguf("truncated_in_key.gguf", good[..key_at + 5].to_vec(), "Format", "");
    let tokens_at = find(&good, b"tokenizer.ggml.tokens");
    gguf("truncated_in_array.gguf", good[..tokens_at + 60].to_vec(), "Format", "");
    let info = tensor_info(&good, "token_embd.weight");
    gguf("truncated_in_tensor_info.gguf", good[..info + 6].to_vec(), "Format", "");
    gguf("truncated_in_data.gguf", good[..data_start].to_vec(), "Format", "past the end");

    // Counts and lengths far beyond the file.
    let mut b = good.clone();
    put_u64(&mut b, 8, u64::MAX);
    gguf("huge_tensor_count.gguf", b, "Format", "");
    let mut b = good.clone();
    put_u64(&mut b, 16, u64::MAX);
    gguf("huge_kv_count.gguf", b, "Format", "");
    let mut b = good.clone();
    put_u64(&mut b, key_at - 8, u64::MAX / 2);
    gguf("huge_key_length.gguf", b, "Format", "");
    let mut b = good.clone();
    // tokens: key, u32 type (array), u32 element type, u64 count.
    let count_at = tokens_at + "tokenizer.ggml.tokens".len() + 8;
    put_u64(&mut b, count_at, 1 << 40);
    gguf("huge_array_length.gguf", b, "Format", "");

    // Tensor infos.
    let mut b = good.clone();
    put_u32(&mut b, info, 9);
    gguf("too_many_dims.gguf", b, "Format", "");
    let mut b = good.clone();
    put_u64(&mut b, info + 4, u64::MAX / 3);
    gguf("dims_overflow.gguf", b, "Format", "impossible");
    let n_dims = 2;
    let type_at = info + 4 + 8 * n_dims;
    let mut b = good.clone();
    put_u32(&mut b, type_at, 99);
    gguf("unknown_dtype.gguf", b, "UnsupportedDType", "99");
    let mut b = good.clone();
    put_u64(&mut b, type_at + 4, 1 << 40);
    gguf("offset_past_end.gguf", b, "Format", "past the end");
    let q_info = tensor_info(&good, "blk.0.attn_q.weight");
    let q_off_at = q_info + 4 + 16 + 4;
    let first_off = u64::from_le_bytes(good[type_at + 4..type_at + 12].try_into().unwrap());
    let mut b = good.clone();
    put_u64(&mut b, q_off_at, first_off);
    gguf("overlapping_tensors.gguf", b, "Format", "overlap");

    // Well-formed files whose content is wrong for the model.
    let f32_bytes = |v: &[f32]| bytemuck::cast_slice(v).to_vec();
    gguf(
        "shape_mismatch.gguf",
        rebuild(&base, |n, dt, s, d| if n == "blk.0.attn_q.weight" { Some((dt, vec![8, 32], d)) } else { Some((dt, s, d)) }, same),
        "Tensor",
        "blk.0.attn_q.weight",
    );
    gguf(
        "missing_tensor.gguf",
        rebuild(&base, |n, dt, s, d| (n != "blk.0.ffn_down.weight").then_some((dt, s, d)), same),
        "Tensor",
        "blk.0.ffn_down.weight",
    );
    gguf(
        "nan_in_norm.gguf",
        rebuild(&base, |n, dt, s, d| {
            if n == "blk.0.attn_norm.weight" {
                let mut v = vec![1.0f32; s[0]];
                v[3] = f32::NAN;
                Some((dt, s, f32_bytes(&v)))
            } else {
                Some((dt, s, d))
            }
        }, same),
        "Tensor",
        "non-finite",
    );
    gguf(
        "inf_in_weights.gguf",
        rebuild(&base, |n, dt, s, mut d| {
            if n == "blk.0.attn_q.weight" {
                d[40..44].copy_from_slice(&f32::INFINITY.to_le_bytes());
            }
            Some((dt, s, d))
        }, same),
        "Tensor",
        "NaN or infinite",
    );
    gguf(
        "nan_block_scale.gguf",
        rebuild(&base, |n, dt, s, mut d| {
            if n == "blk.0.ffn_down.weight" {
                // A Q8_0 block starts with its f16 scale: 0x7e00 is a NaN.
                d[34..36].copy_from_slice(&0x7e00u16.to_le_bytes());
            }
            Some((dt, s, d))
        }, same),
        "Tensor",
        "NaN or infinite",
    );
    gguf(
        "quantized_norm.gguf",
        rebuild(&base, |n, dt, s, d| {
            if n == "blk.0.ffn_norm.weight" {
                // 16 values as half a Q8_0 block would not even be whole blocks: give the
                // vector its own 32-value Q8_0 block and the matching length.
                let _ = (dt, s, d);
                Some((ingot::DType::Q8_0, vec![32], vec![0; 34]))
            } else {
                Some((dt, s, d))
            }
        }, same),
        "Tensor",
        "blk.0.ffn_norm.weight",
    );
    gguf(
        "no_architecture.gguf",
        rebuild(&base, keep, |k, v| (k != "general.architecture").then(|| v.clone())),
        "Metadata",
        "general.architecture",
    );
    gguf(
        "unknown_architecture.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "general.architecture" { Value::String("mamba".into()) } else { v.clone() })),
        "UnsupportedArchitecture",
        "mamba",
    );
    gguf(
        "block_count_is_a_string.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "llama.block_count" { Value::String("1".into()) } else { v.clone() })),
        "Metadata",
        "llama.block_count",
    );
    gguf(
        "zero_heads.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "llama.attention.head_count" { Value::U32(0) } else { v.clone() })),
        "Metadata",
        "llama.attention.head_count",
    );
    gguf(
        "tokens_are_numbers.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "tokenizer.ggml.tokens" {
            Value::Array(v.as_array().unwrap().iter().enumerate().map(|(i, _)| Value::U32(i as u32)).collect())
        } else {
            v.clone()
        })),
        "Metadata",
        "tokenizer.ggml.tokens",
    );
    gguf(
        "merge_of_unknown_tokens.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "tokenizer.ggml.merges" {
            Value::Array(vec![Value::String("qq zz".into())])
        } else {
            v.clone()
        })),
        "Tokenizer",
        "qq zz",
    );
    // Tokenizer models and settings ingot does not know, or cannot trust.
    let n_vocab = base.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap().len();
    let strs = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    let tokens: Vec<String> = (0..n_vocab).map(|i| if i == 0 { "<unk>".into() } else { format!("\u{2581}t{i}") }).collect();
    let types = |unk: bool| Value::Array((0..n_vocab).map(|i| Value::I32(if i == 0 && unk { 2 } else { 1 })).collect());
    let scores = |bad: Option<usize>| {
        Value::Array((0..n_vocab).map(|i| Value::F32(if Some(i) == bad { f32::NAN } else { -(i as f32) })).collect())
    };
    let mut tok_kv = |name: &str, kv: Vec<(&str, Value)>, kind: &'static str, contains: &'static str| {
        gguf(name, with_tokenizer(&base, &kv), kind, contains);
    };
    let pre_of = |pre: &str| {
        let mut kv: Vec<(&str, Value)> = ["tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"]
            .into_iter()
            .filter_map(|k| base.get(k).map(|v| (k, v.clone())))
            .collect();
        kv.push(("tokenizer.ggml.pre", Value::String(pre.into())));
        kv
    };
    tok_kv("unknown_pre.gguf", pre_of("no-such-pre"), "Tokenizer", "no-such-pre");
    tok_kv(
        "unknown_tokenizer_model.gguf",
        vec![("tokenizer.ggml.model", Value::String("rwkv".into())), ("tokenizer.ggml.tokens", strs(tokens.clone()))],
        "Tokenizer",
        "rwkv",
    );
    let t5 = |bad_score: Option<usize>, charsmap: Option<Vec<u8>>| {
        let mut kv = vec![
            ("tokenizer.ggml.model", Value::String("t5".into())),
            ("tokenizer.ggml.tokens", strs(tokens.clone())),
            ("tokenizer.ggml.token_type", types(true)),
            ("tokenizer.ggml.scores", scores(bad_score)),
        ];
        if let Some(c) = charsmap {
            kv.push(("tokenizer.ggml.precompiled_charsmap", Value::Array(c.into_iter().map(Value::U8).collect())));
        }
        kv
    };
    tok_kv("unigram_nan_score.gguf", t5(Some(3), None), "Metadata", "tokenizer.ggml.scores");
    tok_kv("unigram_charsmap_too_short.gguf", t5(None, Some(vec![255, 255, 0, 0, 1, 2])), "Metadata", "precompiled_charsmap");
    tok_kv(
        "wordpiece_without_unknown.gguf",
        vec![
            ("tokenizer.ggml.model", Value::String("bert".into())),
            ("tokenizer.ggml.tokens", strs(tokens.clone())),
            ("tokenizer.ggml.token_type", types(false)),
        ],
        "Tokenizer",
        "unknown token",
    );
    gguf(
        "eos_out_of_range.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "tokenizer.ggml.eos_token_id" { Value::U32(1 << 20) } else { v.clone() })),
        "Tokenizer",
        "eos",
    );
    // The formats beyond the legacy ones, from the every-format seed cut to its first
    // layer, with layer 0's q projection in the format: a block of 0xFF bytes (its f16
    // scales NaN, MXFP4's E8M0 exponent infinite), and block data cut short.
    let formats = fs::read(seeds.join("gguf/llama_formats.gguf")).unwrap();
    let formats = Gguf::parse(Arc::new(FileBytes::from_vec(formats))).unwrap();
    let one_layer = |q: Vec<u8>, dt: ingot::DType| {
        let mut b = GgufBuilder::new();
        for k in formats.keys() {
            let v = formats.get(k).unwrap().clone();
            b = b.kv(k, if k == "llama.block_count" { Value::U32(1) } else { v });
        }
        for t in formats.tensor_infos() {
            let layer0 = !t.name.starts_with("blk.") || t.name.starts_with("blk.0.");
            if layer0 && t.name != "blk.0.attn_q.weight" {
                b = b.tensor(&t.name, t.dtype, &t.shape, formats.tensor(&t.name).unwrap().bytes().to_vec());
            }
        }
        // Last, so that cutting the file cuts its data.
        b.tensor("blk.0.attn_q.weight", dt, &[16, 256], q).build()
    };
    for &dt in &blocks::QUANTIZED[5..] {
        if matches!(dt, ingot::DType::Q4K | ingot::DType::Q5K | ingot::DType::Q6K) {
            continue; // read before this issue; nan_block_scale covers the legacy scales
        }
        let name = format!("{dt:?}").to_lowercase();
        let mut q = blocks::block_bytes(dt, 16 * 256, 3);
        q[..dt.type_size()].fill(0xFF);
        gguf(&format!("nan_scale_{name}.gguf"), one_layer(q, dt), "Tensor", "NaN or infinite");
        if matches!(dt, ingot::DType::Q3K | ingot::DType::IQ2XXS | ingot::DType::TQ1_0 | ingot::DType::MXFP4) {
            let mut file = one_layer(blocks::block_bytes(dt, 16 * 256, 3), dt);
            file.truncate(file.len() - dt.type_size() / 2);
            gguf(&format!("truncated_{name}.gguf"), file, "Format", "past the end");
        }
    }
    gguf(
        "vocab_disagrees_with_embeddings.gguf",
        rebuild(&base, keep, |k, v| Some(if k == "tokenizer.ggml.tokens" {
            let mut t = v.as_array().unwrap().to_vec();
            t.push(Value::String("extra".into()));
            Value::Array(t)
        } else if k == "tokenizer.ggml.token_type" {
            let mut t = v.as_array().unwrap().to_vec();
            t.push(Value::I32(1));
            Value::Array(t)
        } else {
            v.clone()
        })),
        "Tensor",
        "token_embd.weight",
    );

    // Hugging Face folders.
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(seeds.join("config.json")).unwrap()).unwrap();
    let st = fs::read(seeds.join("model.safetensors")).unwrap();
    let tok = fs::read_to_string(seeds.join("tokenizer.json")).unwrap();
    let mut hf = |name: &str, config: &serde_json::Value, st: &[u8], tok: &str, kind: &'static str, contains: &'static str| {
        let d: PathBuf = out.join("hf").join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("config.json"), serde_json::to_string_pretty(config).unwrap()).unwrap();
        if !st.is_empty() {
            fs::write(d.join("model.safetensors"), st).unwrap();
        }
        fs::write(d.join("tokenizer.json"), tok).unwrap();
        cases.push(Case { path: format!("hf/{name}"), kind, contains });
    };
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&st[8..8 + header_len]).unwrap().to_string();
    let with_header = |h: &str| {
        let mut h = h.to_string();
        while (h.len() + 8) % 8 != 0 {
            h.push(' ');
        }
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(&st[8 + header_len..]);
        b
    };
    let mut b = st.clone();
    put_u64(&mut b, 0, u64::MAX);
    hf("huge_header_length", &config, &b, &tok, "Format", "model.safetensors");
    hf("header_not_json", &config, &with_header(&"x".repeat(header_len)), &tok, "Format", "model.safetensors");
    hf("truncated_data", &config, &st[..st.len() - 100], &tok, "Format", "model.safetensors");
    let norm = "\"model.norm.weight\":{\"dtype\":\"F32\"";
    hf(
        "int_tensor",
        &config,
        &with_header(&header.replace(norm, "\"model.norm.weight\":{\"dtype\":\"I32\"")),
        &tok,
        "Tensor",
        "I32",
    );
    let mut c = config.clone();
    c["hidden_size"] = json!(32);
    hf("config_disagrees_with_shapes", &c, &st, &tok, "Tensor", "q_proj.weight");
    let mut c = config.clone();
    c.as_object_mut().unwrap().remove("num_hidden_layers");
    hf("config_missing_layers", &c, &st, &tok, "Metadata", "num_hidden_layers");
    let mut c = config.clone();
    c["model_type"] = json!("bert");
    hf("unknown_model_type", &c, &st, &tok, "UnsupportedArchitecture", "bert");
    let mut c = config.clone();
    c["hidden_act"] = json!("relu");
    hf("unknown_activation", &c, &st, &tok, "Metadata", "relu");
    hf("no_weights", &config, &[], &tok, "InvalidArgument", "model.safetensors");
    let mut c = config.clone();
    c["vocab_size"] = json!(8);
    hf("vocab_smaller_than_tokenizer", &c, &st, &tok, "Tokenizer", "vocabulary of 8");

    // tokenizer.json files.
    let tok_json: serde_json::Value = serde_json::from_str(&tok).unwrap();
    let mut tk = |name: &str, v: &serde_json::Value, kind: &'static str, contains: &'static str| {
        fs::write(out.join("tokenizer").join(name), serde_json::to_string(v).unwrap()).unwrap();
        cases.push(Case { path: format!("tokenizer/{name}"), kind, contains });
    };
    let mut t = tok_json.clone();
    t["model"]["merges"].as_array_mut().unwrap().push(json!(["qq", "zz"]));
    tk("merge_of_missing_tokens.json", &t, "Tokenizer", "qq");
    let mut t = tok_json.clone();
    t["model"]["vocab"]["a"] = json!(1 << 30);
    tk("id_out_of_range.json", &t, "Tokenizer", "outside");
    let mut t = tok_json.clone();
    t["added_tokens"][0]["id"] = json!(99999);
    tk("added_token_out_of_range.json", &t, "Tokenizer", "no token has id");
    let mut t = tok_json.clone();
    t["model"]["type"] = json!("WordPiece");
    tk("wordpiece.json", &t, "Tokenizer", "WordPiece");
    let mut t = tok_json.clone();
    t["pre_tokenizer"] = json!({"type": "UnicodeScripts"});
    tk("unknown_pre_tokenizer.json", &t, "Tokenizer", "UnicodeScripts");
    let mut t = tok_json.clone();
    t["pre_tokenizer"] = json!({"type": "Split", "pattern": {"Regex": "(a*)*b"}, "behavior": "Isolated", "invert": false});
    tk("split_regex_that_backtracks_forever.json", &t, "Tokenizer", "unbounded repeat");
    let mut t = tok_json.clone();
    t["pre_tokenizer"] = json!({"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": false});
    tk("split_regex_look_behind.json", &t, "Tokenizer", "look-behind");
    let mut t = tok_json.clone();
    t["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": "%%not base64%%"});
    tk("precompiled_not_base64.json", &t, "Tokenizer", "base64");
    let mut t = tok_json.clone();
    t["model"] = json!({"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", "high"]]});
    t["pre_tokenizer"] = json!(null);
    t["decoder"] = json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always"});
    tk("unigram_score_not_a_number.json", &t, "Tokenizer", "[piece, score]");
    tk("not_an_object.json", &json!([1, 2, 3]), "Tokenizer", "");
    fs::write(out.join("tokenizer/truncated.json"), &tok[..tok.len() / 2]).unwrap();
    cases.push(Case { path: "tokenizer/truncated.json".into(), kind: "Tokenizer", contains: "" });

    let expected: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| json!({"path": c.path, "kind": c.kind, "contains": c.contains}))
        .collect();
    fs::write(out.join("expected.json"), serde_json::to_string_pretty(&expected).unwrap() + "\n").unwrap();
    println!("{} hostile inputs written to {}", cases.len(), out.display());
}
