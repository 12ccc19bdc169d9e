//! Every architecture from GGUF too: the tiny Hugging Face models of `tests/hf_models.rs`
//! converted here to GGUF the way llama.cpp's `convert_hf_to_gguf.py` does (its metadata
//! keys and tensor names; Llama q/k rows permuted for interleaved RoPE; Llama 3's scaling
//! as a `rope_freqs` tensor; GPT-2's Conv1D matrices transposed), then loaded and checked
//! against transformers' logits. Gemma 3 is left to the real Gemma GGUF (`gemma3.rs`):
//! GGUF cannot express the tiny model's `query_pre_attn_scalar`.

use std::path::Path;
use std::sync::Arc;

use ingot::io::bytes::FileBytes;
use ingot::io::safetensors::Checkpoint;
use ingot::io::{Gguf, GgufBuilder, Value};
use ingot::model::hf::hf_name;
use ingot::model::weights::{gguf_name, Role};
use ingot::{ComputeMode, LoadOptions, Model};
use serde_json::Value as Json;

fn tiny(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/tiny")
        .join(name)
}

/// llama.cpp's `LlamaModel.permute`: within each head, HF row `t·d/2 + i` becomes row
/// `2i + t`.
fn permute(w: &[f32], rows: usize, cols: usize, head_dim: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    let half = head_dim / 2;
    for r in 0..rows {
        let (h, within) = (r / head_dim, r % head_dim);
        let (t, i) = (within / half, within % half);
        let dst = h * head_dim + 2 * i + t;
        out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[r * cols..(r + 1) * cols]);
    }
    out
}

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = w[r * cols + c];
        }
    }
    out
}

/// Llama 3's RoPE scaling as llama.cpp writes it: a divisor per frequency.
fn llama3_factors(p: &Json, head_dim: usize) -> Vec<f32> {
    let f = |k: &str| p[k].as_f64().unwrap();
    let (base, factor, low, high, old) = (
        f("rope_theta"),
        f("factor"),
        f("low_freq_factor"),
        f("high_freq_factor"),
        f("original_max_position_embeddings"),
    );
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / base.powf(2.0 * i as f64 / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            if wavelen < old / high {
                1.0
            } else if wavelen > old / low {
                factor
            } else {
                let smooth = (old / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .map(|x| x as f32)
        .collect()
}

/// The tiny model `name` as a GGUF image.
fn to_gguf(name: &str) -> Vec<u8> {
    let dir = tiny(name);
    let cfg: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let c = ingot::model::hf::config_from_json(&cfg).unwrap();
    let ckpt = Checkpoint::open_dir(&dir).unwrap();
    let gpt2 = c.arch == ingot::model::config::Arch::Gpt2;
    let arch = if gpt2 {
        "gpt2"
    } else if c.qkv_bias {
        "qwen2"
    } else {
        "llama"
    };
    let tok: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer.json")).unwrap())
            .unwrap();
    let vocab = tok["model"]["vocab"].as_object().unwrap();
    let mut tokens = vec![String::new(); c.vocab_size];
    for (t, id) in vocab {
        tokens[id.as_u64().unwrap() as usize] = t.clone();
    }
    let mut types = vec![Value::I32(1); c.vocab_size];
    for a in tok["added_tokens"].as_array().unwrap() {
        let id = a["id"].as_u64().unwrap() as usize;
        tokens[id] = a["content"].as_str().unwrap().to_string();
        types[id] = Value::I32(3);
    }
    let merges: Vec<Value> = tok["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            Value::String(format!(
                "{} {}",
                m[0].as_str().unwrap(),
                m[1].as_str().unwrap()
            ))
        })
        .collect();
    let k = |s: &str| format!("{arch}.{s}");
    let u = |x: usize| Value::U32(x as u32);
    let mut b = GgufBuilder::new()
        .kv("general.architecture", Value::String(arch.into()))
        .kv(&k("block_count"), u(c.n_layers))
        .kv(&k("context_length"), u(c.seq_len))
        .kv(&k("embedding_length"), u(c.dim))
        .kv(&k("feed_forward_length"), u(c.hidden_dim))
        .kv(&k("attention.head_count"), u(c.n_heads))
        .kv(&k("attention.head_count_kv"), u(c.n_kv_heads))
        .kv(&k("attention.key_length"), u(c.head_dim))
        .kv(&k("attention.value_length"), u(c.head_dim))
        .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .kv("tokenizer.ggml.pre", Value::String("gpt-2".into()))
        .kv(
            "tokenizer.ggml.tokens",
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        )
        .kv("tokenizer.ggml.token_type", Value::Array(types))
        .kv("tokenizer.ggml.merges", Value::Array(merges));
    b = if gpt2 {
        b.kv(&k("attention.layer_norm_epsilon"), Value::F32(c.norm_eps))
    } else {
        let rope = c.rope.as_ref().unwrap();
        b.kv(
            &k("attention.layer_norm_rms_epsilon"),
            Value::F32(c.norm_eps),
        )
        .kv(&k("rope.freq_base"), Value::F32(rope.base))
    };
    if let Some(w) = c.sliding_window {
        b = b.kv(&k("attention.sliding_window"), u(w));
    }
    if cfg["rope_parameters"]["rope_type"] == "llama3" {
        let f = llama3_factors(&cfg["rope_parameters"], c.head_dim);
        b = b.tensor_f32("rope_freqs.weight", &[f.len()], &f);
    }
    let put = |b: GgufBuilder, role: Role, l: usize, suffix: &str| -> GgufBuilder {
        let hf = format!("{}.{suffix}", hf_name(c.arch, role, l));
        if !ckpt.has_tensor(&hf) {
            return b;
        }
        let t = ckpt.tensor(&hf).unwrap();
        let mut shape = t.shape().to_vec();
        let mut v = t.to_f32();
        if gpt2
            && suffix == "weight"
            && matches!(role, Role::Qkv | Role::AttnOut | Role::Up | Role::Down)
        {
            v = transpose(&v, shape[0], shape[1]);
            shape.reverse();
        }
        if arch == "llama" && suffix == "weight" && matches!(role, Role::Q | Role::K) {
            v = permute(&v, shape[0], shape[1], c.head_dim);
        }
        b.tensor_f32(&format!("{}.{suffix}", gguf_name(role, l)), &shape, &v)
    };
    for role in [
        Role::TokenEmbd,
        Role::PosEmbd,
        Role::OutputNorm,
        Role::Output,
    ] {
        b = put(b, role, 0, "weight");
        b = put(b, role, 0, "bias");
    }
    for l in 0..c.n_layers {
        for role in [
            Role::AttnNorm,
            Role::Q,
            Role::K,
            Role::V,
            Role::Qkv,
            Role::AttnOut,
            Role::FfnNorm,
            Role::Gate,
            Role::Up,
            Role::Down,
        ] {
            b = put(b, role, l, "weight");
            b = put(b, role, l, "bias");
        }
    }
    b.build()
}

#[test]
fn tiny_models_converted_to_gguf_match_transformers() {
    let goldens: Json =
        serde_json::from_str(&std::fs::read_to_string(tiny("goldens.json")).unwrap()).unwrap();
    for name in ["llama", "llama3", "mistral", "qwen2", "gpt2"] {
        let g = Gguf::parse(Arc::new(FileBytes::from_vec(to_gguf(name)))).unwrap();
        for mode in [ComputeMode::F32, ComputeMode::Native] {
            let m = Model::from_gguf(&g, LoadOptions { mode })
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            for seq in goldens["models"][name]["sequences"].as_array().unwrap() {
                let ids: Vec<u32> = seq["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect();
                let want: Vec<f32> = seq["logits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| {
                        r.as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_f64().unwrap() as f32)
                    })
                    .collect();
                let got = m.session(64).unwrap().forward_all(&ids).unwrap();
                let err = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(err < 1e-4, "{name} {mode:?} {}: {err}", seq["name"]);
                // The tokenizer converted to GGUF encodes like tokenizer.json.
                if let Some(text) = seq["text"].as_str() {
                    let hf = ingot::Tokenizer::from_json_file(tiny(name).join("tokenizer.json"))
                        .unwrap();
                    assert_eq!(m.tokenizer().encode(text, true), hf.encode(text, true));
                }
            }
        }
    }
}
