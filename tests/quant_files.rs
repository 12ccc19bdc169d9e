//! Every quantization type of llama.cpp's `llama-quantize`, on the real models: the files
//! `benches/compare_quants.sh files` makes (SmolLM2-135M and Gemma 3 270M, each requantized
//! to 33 types) must load and run, and
//!
//! - every tensor, dequantized by ingot, equals gguf-py's dequantization of the same file
//!   (its sum, sum of squares and 256 spaced values, from
//!   `tests/reference/quants/fingerprint_quant_files.py`);
//! - greedy decoding in native mode (the integer kernels of every format in the file)
//!   gives the same tokens as f32 mode (everything dequantized at load).
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
//! CI checks every format's decoding on random blocks against gguf-py instead
//! (`tests/quants.rs`).

use std::path::PathBuf;

use ingot::io::Gguf;
use ingot::{ComputeMode, GenerateOptions, LoadOptions, Model, Sampler, SamplerConfig};
use serde_json::Value;

fn files() -> Vec<PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/quants");
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
            differ.push(format!(
                "{}: native and f32 part after {same} tokens",
                f.display()
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
