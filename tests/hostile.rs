//! The committed hostile corpus (`tests/hostile/`, written by
//! `tests/fuzz/src/make_hostile.rs`): model and tokenizer files broken in one way each —
//! truncations inside every structure, absurd counts and lengths, offsets past the end,
//! overlapping tensors, unknown dtypes, shapes that disagree with the config, missing
//! tensors, NaN/Inf weights, wrong types for a role, broken tokenizers. Each must give
//! the error kind and message that `tests/hostile/expected.json` names: never a panic,
//! never a model.

use std::path::Path;

use ingot::{LoadOptions, Model, Tokenizer};

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile"))
}

#[test]
fn every_hostile_input_gives_its_error() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap())
            .unwrap();
    let cases = expected.as_array().unwrap();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for c in cases {
        let rel = c["path"].as_str().unwrap();
        let path = dir().join(rel);
        let result = if rel.starts_with("tokenizer/") {
            Tokenizer::from_json_file(&path).map(|_| ())
        } else {
            Model::load(&path, LoadOptions::default()).map(|_| ())
        };
        let (kind, contains) = (c["kind"].as_str().unwrap(), c["contains"].as_str().unwrap());
        match result {
            Ok(()) => wrong.push(format!("{rel}: loaded")),
            Err(e) => {
                println!("{rel}: {} error: {e}", e.kind());
                if e.kind() != kind || !e.to_string().contains(contains) {
                    wrong.push(format!(
                        "{rel}: {} error {e}; expected {kind} with {contains:?}",
                        e.kind()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// The seed GGUF (a tiny Llama with Q8_0 weights) cut at every byte length, and with
/// every bit of its header, metadata and tensor infos flipped in turn: each either loads
/// and runs a token or is refused with an error; none panics.
#[test]
fn every_truncation_and_header_bit_flip_is_an_error_or_a_working_model() {
    use std::sync::Arc;

    use ingot::io::bytes::FileBytes;
    use ingot::io::Gguf;

    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz/seeds/gguf/llama_q8_0.gguf"
    ))
    .unwrap();
    let try_load = |bytes: Vec<u8>| -> bool {
        let Ok(g) = Gguf::parse(Arc::new(FileBytes::from_vec(bytes))) else {
            return false;
        };
        let Ok(m) = Model::from_gguf(&g, LoadOptions::default()) else {
            return false;
        };
        if let Ok(mut s) = m.session(m.config().seq_len.min(2)) {
            let _ = s.forward(&[0]);
        }
        true
    };
    for len in 0..good.len() {
        assert!(
            !try_load(good[..len].to_vec()),
            "a {len}-byte prefix loaded"
        );
    }
    assert!(try_load(good.clone()));
    // The data of the first tensor starts after the infos: everything before it is
    // structure (header, metadata, tensor infos).
    let g = Gguf::parse(Arc::new(FileBytes::from_vec(good.clone()))).unwrap();
    let structure_end = g.tensor_infos().iter().map(|t| t.offset).min().unwrap();
    let (mut loaded, mut refused) = (0, 0);
    for byte in 0..structure_end {
        for bit in 0..8 {
            let mut b = good.clone();
            b[byte] ^= 1 << bit;
            if try_load(b) {
                loaded += 1;
            } else {
                refused += 1;
            }
        }
    }
    println!("{structure_end} structure bytes: {loaded} flips loaded, {refused} refused");
    assert!(refused > loaded);
}
