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
        let tok = match Gguf::open(f).and_then(|g| Tokenizer::from_gguf(&g)) {
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
