//! Tiny random-weight Hugging Face models, one per architecture, against transformers.
//!
//! `tests/reference/make_tiny_models.py` wrote the folders under `tests/reference/tiny/`
//! (llama, llama3 rope scaling in bf16, mistral sliding window in f16 with a head size of
//! its own, qwen2 in five shards, gemma3, gpt2, qwen3 QK-norm, phi3 fused projections and
//! LongRoPE, gemma2 attention soft-capping, smollm3 layers without RoPE) and the logits
//! transformers computes for every position of three token sequences, in f32.
//! `llama_cpp_converted.rs` runs the same models converted to GGUF by llama.cpp.

use std::path::{Path, PathBuf};

mod common;

use ingot::{ComputeMode, Error, LoadOptions, Model};

/// All ten models are small (64 wide, 2 to 6 layers), their logits a few units in size:
/// f32 summation-order differences stay near 1e-6, while a wrong RoPE pairing, window,
/// norm offset or scale moves them by 0.07 or more (the script measured each).
const TOL: f32 = 1e-4;

const MODELS: [&str; 10] = [
    "llama", "llama3", "mistral", "qwen2", "gemma3", "gpt2", "qwen3", "phi3", "gemma2", "smollm3",
];

#[test]
fn every_architecture_matches_transformers() {
    for name in MODELS {
        for mode in [ComputeMode::F32, ComputeMode::Native] {
            let model = Model::load(common::tiny_dir(name), LoadOptions { mode })
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            common::check_tiny_sequences(&model, name, &format!("{mode:?}"), usize::MAX, TOL);
        }
    }
}

#[test]
fn folder_settings_are_read() {
    let llama = Model::load(common::tiny_dir("llama"), LoadOptions::default()).unwrap();
    assert!(llama
        .chat_template()
        .is_some_and(|t| t.contains("im_start")));
    assert!(llama.eos_ids().contains(&2));
    let gemma = Model::load(common::tiny_dir("gemma3"), LoadOptions::default()).unwrap();
    let c = gemma.config();
    assert_eq!(c.sliding_window, Some(5));
    assert_eq!(c.sliding_layers, [true, true, true, true, true, false]);
    assert_eq!(c.final_softcap, Some(5.0));
    assert!((c.attn_scale - 24f32.powf(-0.5)).abs() < 1e-7);
    let mistral = Model::load(common::tiny_dir("mistral"), LoadOptions::default()).unwrap();
    assert_eq!(mistral.config().head_dim, 24);
}

/// A copy of a tiny model folder in a temporary directory, to break.
fn scratch_copy(name: &str, tag: &str) -> PathBuf {
    let dst = std::env::temp_dir().join(format!("ingot-hf-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(common::tiny_dir(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

fn load_err(dir: &Path) -> String {
    match Model::load(dir, LoadOptions::default()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_folders_name_what_is_wrong() {
    // A missing shard.
    let d = scratch_copy("qwen2", "shard");
    std::fs::remove_file(d.join("model-00003-of-00005.safetensors")).unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("model-00003-of-00005.safetensors") && e.contains("missing"),
        "{e}"
    );

    // An unknown model_type.
    let d = scratch_copy("llama", "arch");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(d.join("config.json"), cfg.replace("\"llama\"", "\"mamba\"")).unwrap();
    assert!(matches!(
        Model::load(&d, LoadOptions::default()),
        Err(Error::UnsupportedArchitecture(a)) if a == "mamba"
    ));

    // A config whose sizes disagree with the tensors: the tensor is named.
    std::fs::write(
        d.join("config.json"),
        cfg.replace("\"intermediate_size\": 128", "\"intermediate_size\": 96"),
    )
    .unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("model.layers.0.mlp.gate_proj.weight") && e.contains("[128, 64]"),
        "{e}"
    );

    // No weights, no config, a truncated safetensors file.
    std::fs::write(d.join("config.json"), &cfg).unwrap();
    let st = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &st[..st.len() / 2]).unwrap();
    let e = load_err(&d);
    assert!(e.contains("model.safetensors"), "{e}");
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    assert!(load_err(&d).contains("neither model.safetensors"));
    std::fs::remove_file(d.join("config.json")).unwrap();
    assert!(load_err(&d).contains("without config.json"));
}

#[test]
fn hub_cache_layout_resolves_to_its_snapshot() {
    let root = std::env::temp_dir().join(format!("ingot-hub-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let entry = root.join("models--tiny--llama");
    let snap = entry.join("snapshots").join("0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(entry.join("refs")).unwrap();
    std::fs::write(entry.join("refs/main"), "0123abcd\n").unwrap();
    for e in std::fs::read_dir(common::tiny_dir("llama")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), snap.join(e.file_name())).unwrap();
    }
    let a = Model::load(&entry, LoadOptions::default()).unwrap();
    let b = Model::load(&snap, LoadOptions::default()).unwrap();
    let la = a.session(8).unwrap().forward(&[5, 6, 7]).unwrap().to_vec();
    let lb = b.session(8).unwrap().forward(&[5, 6, 7]).unwrap().to_vec();
    assert_eq!(la, lb);
    let _ = std::fs::remove_dir_all(&root);
}
