//! Every quantization type of llama.cpp's `llama-quantize`, on the real models: the files
//! `benches/compare_quants.sh files` makes (SmolLM2-135M and Gemma 3 270M, each requantized
//! to 33 types) must load and run, and
//!
//! - every tensor, dequantized by ingot, equals gguf-py's dequantization of the same file
//!   (its sum, sum of squares and 256 spaced values, from
//!   `tests/reference/quants/fingerprint_quant_files.py`);
//! - greedy decoding in native mode (the integer kernels of every format in the file)
//!   gives the same tokens as f32 mode (everything dequantized at load), or parts from it
//!   only at a near-tie that native's small logit error explains.
//!
//! The files are made on the machine by llama.cpp's tools (its build takes ~15 minutes),
//! so this test is ignored by default:
//!
//! ```sh
//! benches/compare_quants.sh files
//! python3 tests/reference/quants/fingerprint_quant_files.py
//! cargo test --release --test quant_files -- --ignored --nocapture
//! ```
//!
//! (`INGOT_QUANT_FILES=DIR` checks the files of another folder.)
//!
//! CI checks every format's decoding on random blocks against gguf-py instead
//! (`tests/quants.rs`).

use std::path::PathBuf;

mod common;

use ingot::io::Gguf;
use ingot::{ComputeMode, GenerateOptions, LoadOptions, Model, Sampler, SamplerConfig};
use serde_json::Value;

fn files() -> Vec<PathBuf> {
    // INGOT_QUANT_FILES names another folder (a subset, say).
    let dir = std::env::var("INGOT_QUANT_FILES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/weights/quants").into());
    let dir = dir.as_str();
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}; run benches/compare_quants.sh files first"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".gguf") && !n.contains("imatrix")
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{dir} has no model files");
    v
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

#[test]
#[ignore = "needs the files of benches/compare_quants.sh and their fingerprints"]
fn every_tensor_equals_gguf_py() {
    let mut checked = 0;
    for f in files() {
        let fp = f.with_extension("fingerprint.json");
        let fp: Value =
            serde_json::from_str(&std::fs::read_to_string(&fp).unwrap_or_else(|e| {
                panic!("{}: {e}; run fingerprint_quant_files.py", fp.display())
            }))
            .unwrap();
        let g = Gguf::open(&f).unwrap();
        let tensors = fp["tensors"].as_object().unwrap();
        assert_eq!(tensors.len(), g.tensor_infos().len(), "{}", f.display());
        for (name, want) in tensors {
            let t = g.tensor(name).unwrap();
            assert_eq!(
                t.dtype().ggml_id() as u64,
                want["ggml_type"].as_u64().unwrap(),
                "{name}"
            );
            let v = t.to_f32();
            assert_eq!(v.len() as u64, want["n"].as_u64().unwrap());
            let sum: f64 = v.iter().map(|&x| x as f64).sum();
            let sq: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
            let what = format!("{} {name}", f.display());
            assert!(
                close(sum, want["sum"].as_f64().unwrap(), 1e-6),
                "{what}: sum {sum}"
            );
            assert!(
                close(sq, want["sum_sq"].as_f64().unwrap(), 1e-6),
                "{what}: sum of squares {sq}"
            );
            let step = want["step"].as_u64().unwrap() as usize;
            for (i, s) in want["samples"].as_array().unwrap().iter().enumerate() {
                let (got, w) = (v[i * step] as f64, s.as_f64().unwrap());
                assert!(
                    close(got, w, 1e-6),
                    "{what}: value {}: {got} vs {w}",
                    i * step
                );
            }
            checked += 1;
        }
    }
    eprintln!("{checked} tensors equal gguf-py's");
}

fn greedy(path: &PathBuf, mode: ComputeMode, prompt: &str) -> Vec<u32> {
    let m = Model::load(path, LoadOptions { mode }).unwrap();
    let ids = m.tokenizer().encode(prompt, true);
    let mut s = m.session(256).unwrap();
    let mut sampler = Sampler::new(SamplerConfig {
        temperature: 0.0,
        ..Default::default()
    })
    .unwrap();
    let opts = GenerateOptions {
        max_tokens: 32,
        ignore_eos: true,
        ..Default::default()
    };
    let mut gen = s.generate(&ids, &mut sampler, opts);
    for piece in gen.by_ref() {
        piece.unwrap();
    }
    gen.tokens().to_vec()
}

#[test]
#[ignore = "needs the files of benches/compare_quants.sh"]
fn native_greedy_equals_f32_greedy() {
    let mut differ = Vec::new();
    for f in files() {
        let prompt = "The history of the printing press begins";
        let (n, f32) = (
            greedy(&f, ComputeMode::Native, prompt),
            greedy(&f, ComputeMode::F32, prompt),
        );
        let same = n.iter().zip(&f32).take_while(|(a, b)| a == b).count();
        eprintln!("{}: {same} of {} greedy tokens equal", f.display(), n.len());
        if same < n.len() {
            // Where they part: how far native's logits are from f32's, and the f32 margin
            // between the two choices. A margin inside that difference is a near-tie the
            // 16-bit activations of the integer kernels may flip either way; the difference
            // itself must stay small (a wrong kernel moves logits by whole units). Files
            // that llama-quantize ruins (Gemma in Q2_0: perplexity ~4e11) have activations
            // so ill-conditioned that even the f32 kernels of two ISAs differ by 1e-3.
            let (diff, margin, top) = parting(&f, prompt, &f32[..same], (f32[same], n[same]));
            eprintln!(
                "  at token {same}: max |native - f32| logit {diff:.4} (of {top:.1}), \
                 f32 margin {margin:.4}"
            );
            if margin > diff || diff > 0.01 * top {
                differ.push(format!(
                    "{}: native and f32 part after {same} tokens: margin {margin}, logits \
                     differ by {diff}",
                    f.display()
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// At the position after `prompt` + `prefix`: the largest |native - f32| logit difference,
/// f32's margin between its choice and native's, `(f32 choice, native choice)`, and the
/// largest |logit|.
fn parting(path: &PathBuf, prompt: &str, prefix: &[u32], (a, b): (u32, u32)) -> (f32, f32, f32) {
    let logits = |mode| {
        let m = Model::load(path, LoadOptions { mode }).unwrap();
        let mut ids = m.tokenizer().encode(prompt, true);
        ids.extend_from_slice(prefix);
        let mut s = m.session(256).unwrap();
        s.forward(&ids).unwrap().to_vec()
    };
    let (native, f32) = (logits(ComputeMode::Native), logits(ComputeMode::F32));
    let diff = common::max_err(&native, &f32);
    let top = f32.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    (diff, f32[a as usize] - f32[b as usize], top)
}
