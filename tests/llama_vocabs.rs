//! llama.cpp's own tokenizer test suite: every `models/ggml-vocab-*.gguf` vocabulary of the
//! llama-cpp-python source package must load, and every `.inp` text must encode to the ids
//! in its `.out` file (written by llama.cpp's `convert_hf_to_gguf_update.py` with Hugging
//! Face `tokenizers`, `encode(text, add_special_tokens=False)`).
//!
//! The folder comes from `weights/fetch.sh llama-vocabs` (the sdist from PyPI, sha256
//! checked), run on first use like the model files.

use std::path::{Path, PathBuf};

use ingot::io::Gguf;
use ingot::Tokenizer;

fn vocab_dir() -> PathBuf {
    ingot::fetch::llama_vocabs().expect("fetch llama.cpp's vocabularies")
}

/// The test texts of an `.inp` file and the ids of its `.out` file, in order.
fn vectors(gguf: &Path) -> Option<Vec<(String, Vec<u32>)>> {
    let inp = std::fs::read_to_string(format!("{}.inp", gguf.display())).ok()?;
    let out = std::fs::read_to_string(format!("{}.out", gguf.display())).expect("read .out");
    // The format of llama.cpp's tests/test-tokenizer-0.cpp: texts separated by
    // "\n__ggml_vocab_test__\n" (the last one may or may not be followed by it), one line of
    // ids per text.
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    if texts.last() == Some(&"") {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{}: texts and id lines",
        gguf.display()
    );
    Some(texts.into_iter().map(str::to_string).zip(ids).collect())
}

#[test]
fn every_llama_cpp_vocabulary_loads_and_passes_its_vectors() {
    let dir = vocab_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("ggml-vocab-") && name.ends_with(".gguf")
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 19, "vocabularies in {}", dir.display());
    let (mut loaded, mut passed, mut total) = (0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let tok = match Tokenizer::from_gguf_file(f) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: does not load: {e}"));
                continue;
            }
        };
        loaded += 1;
        let Some(cases) = vectors(f) else { continue };
        let mut bad = 0;
        for (text, want) in &cases {
            total += 1;
            let got = tok.encode(text, false);
            if &got == want {
                passed += 1;
            } else {
                bad += 1;
                if bad <= 3 {
                    failures.push(format!(
                        "{name}: {text:?}\n   want {want:?}\n    got {got:?}"
                    ));
                }
            }
        }
        if bad > 0 {
            failures.push(format!("{name}: {bad} of {} vectors fail", cases.len()));
        }
    }
    eprintln!(
        "{loaded} of {} vocabularies load; {passed} of {total} vectors pass",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// FNV-1a 64 over the ids as little-endian u32, with the hash after every `step` ids (the
/// layout `tests/reference/tokenizers/make_llama_vocab_goldens.py` writes).
fn fnv1a64(ids: &[u32], step: usize) -> (Vec<String>, String) {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let mut prefixes = Vec::new();
    for (i, x) in ids.iter().enumerate() {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01B3);
        }
        if (i + 1) % step == 0 {
            prefixes.push(format!("{h:016x}"));
        }
    }
    (prefixes, format!("{h:016x}"))
}

/// The whole 2,856-line tokenizer corpus, encoded as one text by every vocabulary, equals
/// llama.cpp's `llama-tokenize` (or HF where llama.cpp departs from it: Qwen2's NFC,
/// BERT's normalizer), as recorded by `make_llama_vocab_goldens.py`.
#[test]
fn every_vocabulary_encodes_the_corpus_like_the_reference() {
    let dir = vocab_dir();
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/tokenizers");
    let goldens: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{here}/llama_vocab_goldens.json")).unwrap(),
    )
    .unwrap();
    let corpus = std::fs::read_to_string(format!("{here}/corpus.txt")).unwrap();
    let step = goldens["step"].as_u64().unwrap() as usize;
    let vocabs = goldens["vocabs"].as_object().unwrap();
    assert_eq!(vocabs.len(), 19);
    let mut failures = Vec::new();
    for (name, want) in vocabs {
        let path = dir.join(format!("ggml-vocab-{name}.gguf"));
        let tok = Tokenizer::from_gguf(&Gguf::open(&path).unwrap()).unwrap();
        let ids = tok.encode(&corpus, false);
        let (prefixes, full) = fnv1a64(&ids, step);
        if full == want["fnv1a64"] && ids.len() as u64 == want["n_ids"] {
            continue;
        }
        // Where the two part: the first prefix of `step` ids whose hash differs.
        let wanted = want["prefix_fnv1a64"].as_array().unwrap();
        let k = prefixes
            .iter()
            .zip(wanted)
            .position(|(a, b)| a != b)
            .unwrap_or(prefixes.len().min(wanted.len()));
        failures.push(format!(
            "{name}: {} ids, reference ({}) {}; they part within ids {}..{}",
            ids.len(),
            want["reference"],
            want["n_ids"],
            k * step,
            (k + 1) * step
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
