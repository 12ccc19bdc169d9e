//! The tiny models of `hf_models.rs` as llama.cpp's own converter writes them.
//!
//! `tests/reference/convert_tiny_gguf.py` ran llama.cpp's `convert_hf_to_gguf.py` on the
//! folders under `tests/reference/tiny/` (each with its family's tokenizer settings: Llama 3's
//! and SmolLM3's regex and `ignore_merges`, Qwen's NFC and single digits, Phi-3's and Gemma's
//! SentencePiece models), so the tensor names, metadata keys and tokenizer keys below are what
//! real files of these families carry. Each GGUF must give transformers' logits and token ids.
//! Gemma 3 is left to the real Gemma GGUF (`gemma3.rs`): GGUF cannot express the tiny
//! model's `query_pre_attn_scalar`.

use std::path::PathBuf;

mod common;

use ingot::model::config::RopeScaling;
use ingot::{ComputeMode, LoadOptions, Model, Tokenizer};

/// As in `hf_models.rs`: summation-order noise is ~1e-5, a wrong feature moves logits by 0.05+.
const TOL: f32 = 1e-4;

const MODELS: [&str; 9] = [
    "llama", "llama3", "mistral", "qwen2", "gpt2", "qwen3", "phi3", "gemma2", "smollm3",
];

fn gguf(name: &str) -> PathBuf {
    common::tiny_dir("gguf").join(format!("{name}.gguf"))
}

#[test]
fn converted_models_match_transformers() {
    for name in MODELS {
        for mode in [ComputeMode::F32, ComputeMode::Native] {
            let model = Model::load(gguf(name), LoadOptions { mode })
                .unwrap_or_else(|e| panic!("{name}.gguf: {e}"));
            // llama.cpp's converter writes no sliding window for Mistral (as in real Mistral
            // files), so llama.cpp and ingot attend to everything: only the positions the
            // window of 5 does not cut can match transformers.
            let positions = if name == "mistral" { 5 } else { usize::MAX };
            let source = format!("{name}.gguf {mode:?}");
            common::check_tiny_sequences(&model, name, &source, positions, TOL);
        }
    }
}

#[test]
fn converted_vocabularies_encode_as_transformers() {
    for name in MODELS {
        let g = &common::tiny_goldens()["models"][name];
        let from_gguf = Tokenizer::from_gguf_file(gguf(name)).unwrap();
        let folder = Model::load(common::tiny_dir(name), LoadOptions::default()).unwrap();
        let cases = g["tokenizer_cases"].as_array().unwrap();
        let seqs = g["sequences"].as_array().unwrap();
        for case in cases.iter().chain(seqs) {
            let text = case["text"].as_str().unwrap();
            // A sequence's ids are cut to its length; `encoded` is the whole text.
            let want = common::ids(case.get("encoded").unwrap_or(&case["ids"]));
            for (source, tok) in [("gguf", &from_gguf), ("folder", folder.tokenizer())] {
                assert_eq!(tok.encode(text, true), want, "{name} {source}: {text:?}");
                if let Some(decoded) = case["decoded"].as_str() {
                    assert_eq!(
                        tok.decode(&want).unwrap(),
                        decoded,
                        "{name} {source}: {want:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn converted_metadata_is_read() {
    let load = |name: &str| Model::load(gguf(name), LoadOptions::default()).unwrap();
    let folder = |name: &str| Model::load(common::tiny_dir(name), LoadOptions::default()).unwrap();

    let phi3 = load("phi3");
    let c = phi3.config();
    match &c.rope.as_ref().unwrap().scaling {
        RopeScaling::LongRope {
            short,
            long,
            original_context,
            attn_factor,
        } => {
            assert_eq!((short.len(), long.len(), *original_context), (8, 8, 8));
            // sqrt(1 + ln(128 / 8) / ln(8)), as transformers computes it.
            assert!((attn_factor - (1.0 + 16f32.ln() / 8f32.ln()).sqrt()).abs() < 1e-6);
            assert_eq!(folder("phi3").config().rope, c.rope);
        }
        other => panic!("phi3 scaling {other:?}"),
    }
    assert_eq!(c.sliding_window, Some(6));

    let gemma2 = load("gemma2");
    let c = gemma2.config();
    assert_eq!((c.attn_softcap, c.final_softcap), (Some(1.5), Some(5.0)));
    assert_eq!(c.sliding_layers, [true, false, true, false]);
    assert_eq!(c.sliding_window, Some(5));

    let smollm3 = load("smollm3");
    assert_eq!(smollm3.config().rope_layers, [true, true, true, false]);
    assert_eq!(
        folder("smollm3").config().rope_layers,
        [true, true, true, false]
    );
    assert!(load("qwen3").config().qk_norm);
    assert!(matches!(
        load("llama3").config().rope.as_ref().unwrap().scaling,
        RopeScaling::Factors(_)
    ));

    // Chat templates and end-of-turn tokens travel through the converter unchanged.
    for name in ["llama3", "qwen3", "phi3", "gemma2", "smollm3"] {
        let (m, f) = (load(name), folder(name));
        assert_eq!(m.chat_template(), f.chat_template(), "{name}");
        assert!(m.chat_template().is_some(), "{name}");
        let eos = f
            .tokenizer()
            .eos()
            .unwrap_or_else(|| panic!("{name}: no eos"));
        assert!(
            m.eos_ids().contains(&eos),
            "{name}: {:?} lacks {eos}",
            m.eos_ids()
        );
    }
}
