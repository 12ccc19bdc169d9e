//! SmolLM2 from a Hugging Face folder (f32 safetensors, rotate-half RoPE) against the same
//! model from its GGUF (interleaved RoPE) and against transformers' goldens.
//!
//! The folder is written here from the GGUF, as transformers' `save_pretrained` would lay
//! it out: every tensor dequantized to f32 under its HF name, and the q/k rows put back in
//! HF's order (llama.cpp's converter permutes them so that GGML's interleaved RoPE pairs
//! dimensions `2i, 2i+1`; HF pairs `i, i + d/2`). If the loader applied the wrong RoPE
//! convention to either source, the logits would disagree by whole units.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::{ids, logit_error};
use ingot::io::Gguf;
use ingot::model::hf::hf_name;
use ingot::model::weights::{gguf_name, Role};
use ingot::{ComputeMode, LoadOptions, Model};

/// llama.cpp's q/k permutation undone: HF row `h·d + t·d/2 + i` is GGUF row `h·d + 2i + t`.
fn unpermute(rows: &[f32], n_rows: usize, cols: usize, head_dim: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows.len()];
    let half = head_dim / 2;
    for r in 0..n_rows {
        let (h, within) = (r / head_dim, r % head_dim);
        let (t, i) = (within / half, within % half);
        let src = h * head_dim + 2 * i + t;
        out[r * cols..(r + 1) * cols].copy_from_slice(&rows[src * cols..(src + 1) * cols]);
    }
    out
}

/// Writes SmolLM2 as an HF folder under the system temp dir; returns its path.
fn write_hf_folder(gguf_path: &std::path::Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ingot-smollm2-hf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let g = Gguf::open(gguf_path).unwrap();
    let c = ingot::Config::from_gguf(&g).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut add = |role: Role, l: usize, permuted: bool| {
        let t = g.tensor(&format!("{}.weight", gguf_name(role, l))).unwrap();
        let shape = t.shape().to_vec();
        let mut v = t.to_f32();
        if permuted {
            v = unpermute(&v, shape[0], shape[1], c.head_dim);
        }
        tensors.push((format!("{}.weight", hf_name(c.arch, role, l)), shape, v));
    };
    add(Role::TokenEmbd, 0, false);
    add(Role::OutputNorm, 0, false);
    for l in 0..c.n_layers {
        add(Role::Q, l, true);
        add(Role::K, l, true);
        for role in [
            Role::V,
            Role::AttnOut,
            Role::AttnNorm,
            Role::FfnNorm,
            Role::Gate,
            Role::Up,
            Role::Down,
        ] {
            add(role, l, false);
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, shape, v)| {
            let bytes: &[u8] = bytemuck::cast_slice(v);
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(
        views,
        None::<HashMap<String, String>>,
        &dir.join("model.safetensors"),
    )
    .unwrap();
    let rope_theta = c.rope.as_ref().unwrap().base;
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": c.dim,
        "intermediate_size": c.hidden_dim,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "max_position_embeddings": c.seq_len,
        "rms_norm_eps": c.norm_eps,
        "rope_parameters": {"rope_theta": rope_theta, "rope_type": "default"},
        "hidden_act": "silu",
        "tie_word_embeddings": true,
        "vocab_size": c.vocab_size,
        "bos_token_id": 1,
        "eos_token_id": 2,
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/reference/tokenizers/smollm2_tokenizer.json"
        ),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    dir
}

#[test]
fn hf_folder_matches_the_gguf_and_transformers() {
    let gguf_path = ingot::fetch::default_model().expect("default model");
    let dir = write_hf_folder(&gguf_path);
    let opts = LoadOptions {
        mode: ComputeMode::F32,
    };
    let hf = Model::load(&dir, opts).unwrap();
    let gguf = Model::load(&gguf_path, opts).unwrap();
    let goldens = common::load_json("smollm2.json");
    for c in goldens["logits"].as_array().unwrap() {
        let a = common::last_logits(&hf, c);
        let b = common::last_logits(&gguf, c);
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        let err = logit_error(&a, c);
        eprintln!(
            "{}: HF folder vs GGUF {diff:.2e}, vs transformers {err:.2e}",
            c["name"]
        );
        assert!(diff < 1e-4, "{}: HF folder vs GGUF {diff}", c["name"]);
        assert!(err < 1e-3, "{}: HF folder vs transformers {err}", c["name"]);
    }
    // The tokenizer comes from tokenizer.json, and encodes like the GGUF's.
    for c in goldens["tokenize"].as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        assert_eq!(
            hf.tokenizer().encode(text, true),
            ids(&c["ids"]),
            "{text:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
