//! Tokenizer parity with Hugging Face `tokenizers` on a 2,856-line corpus
//! (`tests/reference/tokenizers/`, written by `make_tokenizer_goldens.py`): prose in many
//! scripts, code, numbers, whitespace runs, emoji with ZWJ, special tokens in text.
//!
//! Three tokenizer.json files: SmolLM2's (byte-level BPE, Digits + ByteLevel), and a small
//! SentencePiece BPE in both layouts transformers writes (a Prepend/Replace normalizer, and
//! a Metaspace pre-tokenizer with `prepend_scheme: first`), both with byte fallback.
//! Every line must give exactly HF's ids and HF's decoded text; so must 200 random id
//! sequences per tokenizer (invalid UTF-8 included).

mod common;

use common::ids;
use ingot::Tokenizer;
use serde_json::Value;

fn dir() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/tokenizers")
}

/// A JSON file of the fixtures directory.
fn json(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/{file}", dir())).unwrap()).unwrap()
}

/// The corpus lines: split on "\n" only (lines may end in "\r").
fn corpus() -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/corpus.txt", dir())).unwrap();
    text.strip_suffix('\n')
        .unwrap_or(&text)
        .split('\n')
        .map(str::to_string)
        .collect()
}

fn check(name: &str) {
    let goldens = json("goldens.json");
    let g = &goldens[name];
    let tok =
        Tokenizer::from_json_file(format!("{}/{}", dir(), g["file"].as_str().unwrap())).unwrap();
    let lines = corpus();
    let cases = g["lines"].as_array().unwrap();
    assert_eq!(lines.len(), cases.len());
    assert!(lines.len() >= 2000);
    let mut failures = Vec::new();
    for (i, (line, case)) in lines.iter().zip(cases).enumerate() {
        let want = ids(&case["ids"]);
        let got = tok.encode(line, false);
        if got != want {
            failures.push(format!(
                "line {i} {line:?}: ids\n  ours {got:?}\n  HF   {want:?}"
            ));
            continue;
        }
        if let Some(w) = case.get("ids_with_special") {
            let got = tok.encode(line, true);
            if got != ids(w) {
                failures.push(format!("line {i} {line:?}: ids with special tokens differ"));
            }
        }
        let decoded = tok.decode(&want).unwrap();
        if decoded != case["decoded"].as_str().unwrap() {
            failures.push(format!(
                "line {i} {line:?}: decoded {decoded:?}, HF {:?}",
                case["decoded"]
            ));
        }
    }
    for (i, case) in g["decode_cases"].as_array().unwrap().iter().enumerate() {
        let got = tok.decode(&ids(&case["ids"])).unwrap();
        if got != case["decoded"].as_str().unwrap() {
            failures.push(format!(
                "decode case {i} {:?}: {got:?}, HF {:?}",
                case["ids"], case["decoded"]
            ));
        }
    }
    let shown: Vec<&String> = failures.iter().take(15).collect();
    assert!(
        failures.is_empty(),
        "{name}: {} mismatches of {} lines + decode cases:\n{:#?}",
        failures.len(),
        lines.len(),
        shown
    );
}

#[test]
fn smollm2_tokenizer_json_matches_hf() {
    check("smollm2");
}

#[test]
fn sentencepiece_normalizer_layout_matches_hf() {
    check("sp");
}

#[test]
fn sentencepiece_metaspace_layout_matches_hf() {
    check("sp_first");
}

#[test]
fn smollm2_gguf_tokenizer_matches_hf_too() {
    // The same corpus through the tokenizer read from the model file's metadata.
    let goldens = json("goldens.json");
    let model = ingot::Model::load(
        ingot::fetch::default_model().unwrap(),
        ingot::LoadOptions::default(),
    )
    .unwrap();
    let tok = model.tokenizer();
    let lines = corpus();
    let cases = goldens["smollm2"]["lines"].as_array().unwrap();
    let bad: Vec<usize> = lines
        .iter()
        .zip(cases)
        .enumerate()
        .filter(|(_, (l, c))| tok.encode(l, false) != ids(&c["ids"]))
        .map(|(i, _)| i)
        .collect();
    assert!(
        bad.is_empty(),
        "GGUF tokenizer differs from HF on lines {bad:?}"
    );
}

#[test]
fn a_10000_character_word_tokenizes_and_round_trips() {
    // One pre-tokenized piece of 10,000 letters: the merge loop is O(n log n) (see
    // tokenizer/bpe.rs); `cargo bench --bench tokenizer -- word` times it.
    let tok = Tokenizer::from_json_file(format!("{}/smollm2_tokenizer.json", dir())).unwrap();
    let word: String = (0..10_000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let ids = tok.encode(&word, false);
    assert!(ids.len() > 1000 && ids.len() < 10_000);
    assert_eq!(tok.decode(&ids).unwrap(), word);
}

#[test]
fn llama3_and_qwen2_pre_tokenizers_split_like_hf() {
    use ingot::tokenizer::pretokenize::{LLAMA3_PATTERN, QWEN2_PATTERN};
    use ingot::tokenizer::PreTokenizer;
    let goldens = json("split_goldens.json");
    let lines = corpus();
    for (name, pattern) in [("llama3", LLAMA3_PATTERN), ("qwen2", QWEN2_PATTERN)] {
        let pre = PreTokenizer::regex(pattern).unwrap();
        let want = goldens[name].as_array().unwrap();
        assert_eq!(want.len(), lines.len());
        let mut bad = Vec::new();
        for (i, (line, w)) in lines.iter().zip(want).enumerate() {
            let mut ranges = Vec::new();
            pre.split(line, &mut ranges);
            let got: Vec<&str> = ranges.iter().map(|&(a, b)| &line[a..b]).collect();
            let w: Vec<&str> = w
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            if got != w {
                bad.push(format!("line {i} {line:?}:\n  ours {got:?}\n  HF   {w:?}"));
            }
        }
        assert!(
            bad.is_empty(),
            "{name}: {} of {} lines differ:\n{}",
            bad.len(),
            lines.len(),
            bad.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

#[test]
fn ignore_merges_and_stripping_added_tokens_match_hf() {
    // SmolLM2's tokenizer.json with Llama 3's ignore_merges and lstrip/rstrip added tokens
    // (the same edits make_variant_goldens.py makes).
    let mut j = json("smollm2_tokenizer.json");
    j["model"]["ignore_merges"] = true.into();
    for t in j["added_tokens"].as_array_mut().unwrap() {
        match t["content"].as_str().unwrap() {
            "<|im_end|>" => (t["lstrip"], t["rstrip"]) = (true.into(), true.into()),
            "<|im_start|>" => t["rstrip"] = true.into(),
            _ => {}
        }
    }
    let tok = Tokenizer::from_json(&j.to_string()).unwrap();
    let goldens = json("variant_goldens.json");
    let cases = goldens["cases"].as_array().unwrap();
    assert!(cases.len() > 300);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.encode(text, false), ids(&c["ids"]), "{text:?}");
    }
}

#[test]
fn qwen2_layout_nfc_and_split_match_hf() {
    // SmolLM2's vocabulary through Qwen2's normalizer and pre-tokenizer (make_variant_goldens.py).
    let goldens = json("variant_goldens.json");
    let mut j = json("smollm2_tokenizer.json");
    j["normalizer"] = goldens["qwen2_layout"]["normalizer"].clone();
    j["pre_tokenizer"] = goldens["qwen2_layout"]["pre_tokenizer"].clone();
    let tok = Tokenizer::from_json(&j.to_string()).unwrap();
    let cases = goldens["qwen2_cases"].as_array().unwrap();
    assert!(cases.len() > 700);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.encode(text, false), ids(&c["ids"]), "{text:?}");
    }
}

/// Found by the `tokenize` fuzz target: SmolLM2's vocabulary has no token for some bytes
/// (0x04, 0xF1, ...). HF `tokenizers` drops them, and so must ingot, which can leave the
/// rest of a character undecodable (ids and texts from HF `tokenizers` 0.23).
#[test]
fn bytes_without_a_token_are_dropped_as_hf_drops_them() {
    let tok = Tokenizer::from_json_file(format!("{}/smollm2_tokenizer.json", dir())).unwrap();
    assert_eq!(tok.encode("a\u{4}b", false), [81, 82]);
    assert_eq!(tok.decode(&[81, 82]).unwrap(), "ab");
    let ids = tok.encode("\0<s\u{70c30}er|>", false);
    assert_eq!(ids, [190, 44, 99, 125, 125, 125, 259, 108, 46]);
    assert_eq!(
        tok.decode(&ids).unwrap(),
        "\0<s\u{fffd}\u{fffd}\u{fffd}er|>"
    );
}
