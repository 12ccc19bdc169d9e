//! Helpers shared by the golden-file tests of real models (`reference.rs` for SmolLM2,
//! `gemma3.rs`): the golden layout is the one `tests/reference/make_goldens.py` writes.
#![allow(dead_code)]

use ingot::model::perplexity::{log_sum_exp, perplexity};
use ingot::sampling::argmax;
use std::path::PathBuf;
use std::sync::OnceLock;

use ingot::{ComputeMode, KvType, LoadOptions, Model};
use serde_json::Value;

/// One loaded model per compute mode, shared by a test binary's tests: `cells` holds the
/// f32 and the native one, `path` fetches the file on first use.
pub fn cached_model(
    cells: &'static [OnceLock<Model>; 2],
    mode: ComputeMode,
    path: fn() -> ingot::Result<PathBuf>,
) -> &'static Model {
    let cell = match mode {
        ComputeMode::F32 => &cells[0],
        ComputeMode::Native => &cells[1],
    };
    cell.get_or_init(|| {
        let path = path().expect("fetch the model");
        Model::load(path, LoadOptions { mode }).expect("load the model")
    })
}

/// Reads a JSON file under `tests/reference/`.
pub fn load_json(rel: &str) -> Value {
    let path = format!("{}/tests/reference/{rel}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read goldens"))
        .expect("parse goldens")
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The case called `name` in `goldens[section]`.
pub fn case<'a>(goldens: &'a Value, section: &str, name: &str) -> &'a Value {
    goldens[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {section} golden '{name}'"))
}

/// Largest absolute difference between `logits` and the golden top-k, strided sample and
/// logsumexp of one prompt.
pub fn logit_error(logits: &[f32], c: &Value) -> f32 {
    let mut err = 0.0f32;
    for pair in c["top_k"].as_array().unwrap() {
        let (id, want) = (
            pair[0].as_u64().unwrap() as usize,
            pair[1].as_f64().unwrap() as f32,
        );
        err = err.max((logits[id] - want).abs());
    }
    let stride = c["stride"].as_u64().unwrap() as usize;
    for (i, want) in c["strided"].as_array().unwrap().iter().enumerate() {
        err = err.max((logits[i * stride] - want.as_f64().unwrap() as f32).abs());
    }
    err.max((log_sum_exp(logits) - c["logsumexp"].as_f64().unwrap()).abs() as f32)
}

/// Last-position logits of a golden prompt, with the model's default KV cache.
pub fn last_logits(m: &Model, c: &Value) -> Vec<f32> {
    last_logits_kv(m, c, m.default_kv())
}

/// `last_logits` with a KV cache of `kv` values.
pub fn last_logits_kv(m: &Model, c: &Value, kv: KvType) -> Vec<f32> {
    let prompt = ids(&c["ids"]);
    let logits = m
        .session_with(prompt.len() + 1, kv)
        .unwrap()
        .forward(&prompt)
        .unwrap()
        .to_vec();
    assert_eq!(logits.len(), m.config().vocab_size);
    logits
}

/// `n` greedy tokens after `prompt`, one decode step at a time through the KV cache.
pub fn greedy(m: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut s = m.session(prompt.len() + n + 1).unwrap();
    let mut logits = s.forward(prompt).unwrap().to_vec();
    let mut out = Vec::new();
    for _ in 0..n {
        let t = argmax(&logits);
        out.push(t);
        logits = s.forward(&[t]).unwrap().to_vec();
    }
    out
}

/// Perplexity of `tests/reference/ppl_text.txt` as a golden section describes it (window
/// size, BOS), checking the window and token counts; returns (ours, reference).
pub fn golden_perplexity(m: &Model, p: &Value) -> (f64, f64) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/ppl_text.txt"
    ))
    .unwrap();
    let ids = m.tokenizer().encode(&text, true);
    let r = perplexity(m, &ids, p["ctx"].as_u64().unwrap() as usize).unwrap();
    assert_eq!(r.scored as u64, p["n_scored"].as_u64().unwrap());
    assert_eq!(r.windows as u64, p["n_windows"].as_u64().unwrap());
    (r.perplexity(), p["perplexity"].as_f64().unwrap())
}

/// `tests/reference/tiny/NAME`: a tiny model's folder (or `gguf`, the converted files).
pub fn tiny_dir(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/tiny")
        .join(name)
}

/// Largest logit error against transformers of the tiny models with an f16 KV cache.
pub const F16_KV_TOL: f32 = 5e-3;

/// `tests/reference/tiny/goldens.json` (written by `make_tiny_models.py`), read once.
pub fn tiny_goldens() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| load_json("tiny/goldens.json"))
}

/// A golden `[[f32; vocab]; n]` as one `(n, vocab)` buffer.
pub fn rows(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

pub fn max_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Checks `model` (the tiny model `name`, from `source`) against transformers' logits of
/// each golden sequence, within `tol`, for the first `positions` positions: in one pass,
/// and (when every position counts) after a first pass token by token through the cache,
/// which crosses the sliding windows one position at a time. Phi-3's first pass must
/// outgrow LongRoPE's original context (8), as the full pass does, to rotate every key
/// with the long factors.
pub fn check_tiny_sequences(model: &Model, name: &str, source: &str, positions: usize, tol: f32) {
    let vocab = model.config().vocab_size;
    for seq in tiny_goldens()["models"][name]["sequences"]
        .as_array()
        .unwrap()
    {
        let ids = ids(&seq["ids"]);
        let n = ids.len().min(positions);
        let want = &rows(&seq["logits"])[..n * vocab];
        // An f32 KV cache: the kernels against transformers at `tol`.
        let got = model
            .session_with(64, KvType::F32)
            .unwrap()
            .forward_all(&ids)
            .unwrap()
            .to_vec();
        let err = max_err(&got[..n * vocab], want);
        let what = format!("{name} ({source}) {}", seq["name"]);
        println!(
            "{what}: {n} of {} positions, max |err| {err:.2e}",
            ids.len()
        );
        assert!(err < tol, "{what}: max |err| {err}");
        // The model's default cache (f16 in native mode): keys and values rounded to 11
        // significant bits.
        if model.default_kv() == KvType::F16 {
            let got16 = model
                .session(64)
                .unwrap()
                .forward_all(&ids)
                .unwrap()
                .to_vec();
            let err16 = max_err(&got16[..n * vocab], want);
            println!("{what}: f16 KV cache, max |err| {err16:.2e}");
            assert!(
                err16 < F16_KV_TOL,
                "{what}: f16 KV cache, max |err| {err16}"
            );
        }

        let split = if name == "phi3" { 10 } else { 3 };
        if ids.len() > split + 1 && n == ids.len() {
            let mut s = model.session_with(64, KvType::F32).unwrap();
            let mut stepped = s.forward_all(&ids[..split]).unwrap().to_vec();
            for &t in &ids[split..] {
                stepped.extend(s.forward(&[t]).unwrap().to_vec());
            }
            let err = max_err(&stepped, want);
            assert!(err < tol, "{what} stepped: max |err| {err}");
        }
    }
}
