//! Hugging Face `tokenizer.json` → `TokenizerSpec`: the same tokenizer as from GGUF
//! metadata, from the other file format people hold.
//!
//! Supported: a BPE model over the byte-level alphabet with the pre-tokenizers the
//! GPT-2/SmolLM2 family uses (`ByteLevel` with its regex, optionally after
//! `Digits(individual_digits)`), and added tokens. Anything else is an error that names
//! the component, never a silent approximation.

use serde_json::Value;

use super::pretokenize::{LLAMA3_PATTERN, QWEN2_PATTERN};
use super::{PreTokenizer, Prepend, TokenType, TokenizerKind, TokenizerSpec, MAX_VOCAB};
use crate::error::{Error, Result};

fn bad(what: impl Into<String>) -> Error {
    Error::Tokenizer(format!("tokenizer.json: {}", what.into()))
}

/// Parses the text of a `tokenizer.json`.
pub fn spec_from_json(text: &str) -> Result<TokenizerSpec> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    let model = &root["model"];
    match model["type"].as_str() {
        Some("BPE") => {}
        other => {
            return Err(bad(format!(
                "model type {other:?} is not supported (ingot reads BPE)"
            )))
        }
    }
    if !(model["dropout"].is_null() || model["dropout"] == 0.0) {
        return Err(bad(format!(
            "BPE dropout ({}) is not supported",
            model["dropout"]
        )));
    }
    let ignore_merges = model["ignore_merges"] == true;
    let kind = tokenizer_kind(&root)?;

    // Vocabulary: token → id, with every id from 0 to n-1 present.
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| bad("model.vocab is missing or not an object"))?;
    let added = root["added_tokens"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let n = vocab.len().max(
        added
            .iter()
            .filter_map(|t| t["id"].as_u64())
            .map(|id| id as usize + 1)
            .max()
            .unwrap_or(0),
    );
    if n == 0 || n > MAX_VOCAB {
        return Err(bad(format!(
            "vocabulary size {n} is outside 1..={MAX_VOCAB}"
        )));
    }
    let mut tokens: Vec<Option<String>> = vec![None; n];
    for (tok, id) in vocab {
        let id = id
            .as_u64()
            .filter(|&i| (i as usize) < n)
            .ok_or_else(|| bad(format!("vocab entry '{tok}' has id {id}, outside 0..{n}")))?;
        tokens[id as usize] = Some(tok.clone());
    }
    let mut types = vec![TokenType::Normal; n];
    let mut strip = Vec::new();
    for t in added {
        let (Some(id), Some(content)) = (t["id"].as_u64(), t["content"].as_str()) else {
            return Err(bad(format!("added token {t} has no id or content")));
        };
        let id = id as usize;
        if id >= n {
            return Err(bad(format!(
                "added token '{content}' has id {id}, outside the vocabulary"
            )));
        }
        if t["single_word"] == true {
            return Err(bad(format!(
                "added token '{content}': the 'single_word' flag is not supported yet"
            )));
        }
        if t["normalized"] == true && !root["normalizer"].is_null() {
            return Err(bad(format!("added token '{content}' is matched after normalization, which is not supported yet")));
        }
        let (lstrip, rstrip) = (t["lstrip"] == true, t["rstrip"] == true);
        if lstrip || rstrip {
            strip.push((id as u32, lstrip, rstrip));
        }
        tokens[id] = Some(content.to_string());
        types[id] = if t["special"].as_bool() == Some(true) {
            TokenType::Control
        } else {
            TokenType::UserDefined
        };
    }
    let tokens = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| bad(format!("no token has id {i}"))))
        .collect::<Result<Vec<String>>>()?;

    let merges = model["merges"]
        .as_array()
        .ok_or_else(|| bad("model.merges is missing"))?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            merge_pair(m).ok_or_else(|| {
                bad(format!(
                    "merge #{i} {m} is neither \"a b\" nor [\"a\", \"b\"]"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let (bos, add_bos) = bos_from_post_processor(&root["post_processor"], &tokens)?;
    let unk = match model["unk_token"].as_str() {
        None => None,
        Some(u) => Some(
            tokens
                .iter()
                .position(|t| t == u)
                .ok_or_else(|| bad(format!("unk_token '{u}' is not in the vocabulary")))?
                as u32,
        ),
    };
    Ok(TokenizerSpec {
        tokens,
        types,
        merges,
        kind,
        ignore_merges,
        nfc: root["normalizer"]["type"] == "NFC",
        strip,
        unk,
        bos,
        eos: None,
        add_bos,
    })
}

/// Which kind of BPE the normalizer, pre-tokenizer, model and decoder describe.
fn tokenizer_kind(root: &Value) -> Result<TokenizerKind> {
    let (norm, pre, dec, model) = (
        &root["normalizer"],
        &root["pre_tokenizer"],
        &root["decoder"],
        &root["model"],
    );
    if model["byte_fallback"] != true {
        if !norm.is_null() && norm["type"] != "NFC" {
            return Err(bad(format!(
                "normalizer {norm} is not supported with a byte-level model"
            )));
        }
        match dec["type"].as_str() {
            Some("ByteLevel") | None => {}
            Some(other) => {
                return Err(bad(format!(
                    "decoder '{other}' is not supported with a byte-level model"
                )))
            }
        }
        return Ok(TokenizerKind::ByteLevel(pre_tokenizer(pre)?));
    }
    // SentencePiece-style: the space marker comes from a Prepend + Replace normalizer
    // (transformers' legacy Llama conversion) or a Metaspace pre-tokenizer.
    let replace_space = |n: &Value| {
        n["type"] == "Replace" && n["pattern"]["String"] == " " && n["content"] == "\u{2581}"
    };
    let prepend = match (norm["type"].as_str(), pre["type"].as_str()) {
        (Some("Sequence"), None) => match norm["normalizers"].as_array().map(Vec::as_slice) {
            Some([p, r])
                if p["type"] == "Prepend" && p["prepend"] == "\u{2581}" && replace_space(r) =>
            {
                Prepend::Always
            }
            Some([r]) if replace_space(r) => Prepend::Never,
            _ => return Err(bad(format!("normalizer {norm} is not supported"))),
        },
        (None, Some("Metaspace")) if pre["replacement"] == "\u{2581}" && pre["split"] == false => {
            match pre["prepend_scheme"].as_str() {
                Some("first") => Prepend::First,
                Some("never") => Prepend::Never,
                _ => return Err(bad(format!("pre_tokenizer {pre} is not supported"))),
            }
        }
        _ => {
            return Err(bad(format!(
            "normalizer {norm} with pre_tokenizer {pre} is not supported for a byte-fallback model"
        )))
        }
    };
    // The decoder must undo exactly that: ▁ → space, byte fallback, drop the prefix space.
    let steps = dec["decoders"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let replace = |r: &Value| {
        r["type"] == "Replace" && r["pattern"]["String"] == "\u{2581}" && r["content"] == " "
    };
    let standard = match steps {
        [r, b, f, s] => {
            replace(r)
                && b["type"] == "ByteFallback"
                && f["type"] == "Fuse"
                && s["type"] == "Strip"
                && s["content"] == " "
                && s["start"] == 1
                && s["stop"] == 0
        }
        [r, b, f] => {
            prepend == Prepend::Never
                && replace(r)
                && b["type"] == "ByteFallback"
                && f["type"] == "Fuse"
        }
        _ => false,
    };
    if !standard {
        return Err(bad(format!(
            "decoder {dec} is not supported for a byte-fallback model"
        )));
    }
    Ok(TokenizerKind::SentencePiece { prepend })
}

/// A merge rule: `"a b"` (tokenizers < 0.20) or `["a", "b"]`.
fn merge_pair(m: &Value) -> Option<(String, String)> {
    match m {
        Value::String(s) => s
            .split_once(' ')
            .map(|(a, b)| (a.to_string(), b.to_string())),
        Value::Array(p) if p.len() == 2 => {
            Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string()))
        }
        _ => None,
    }
}

/// Maps the pre-tokenizer config to ingot's implementations.
fn pre_tokenizer(cfg: &Value) -> Result<PreTokenizer> {
    let byte_level = |c: &Value| {
        c["type"] == "ByteLevel"
            && c["use_regex"].as_bool().unwrap_or(true)
            && c["add_prefix_space"].as_bool() != Some(true)
    };
    match cfg["type"].as_str() {
        Some("ByteLevel") if byte_level(cfg) => Ok(PreTokenizer::Gpt2),
        Some("Sequence") => {
            let steps = cfg["pretokenizers"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            match steps {
                [d, b]
                    if d["type"] == "Digits" && d["individual_digits"] == true && byte_level(b) =>
                {
                    Ok(PreTokenizer::SmolLm)
                }
                [b] if byte_level(b) => Ok(PreTokenizer::Gpt2),
                // A Split regex then ByteLevel without its own regex (Llama 3, Qwen2).
                [s, b]
                    if s["type"] == "Split"
                        && s["behavior"] == "Isolated"
                        && s["invert"] != true
                        && b["type"] == "ByteLevel"
                        && b["use_regex"] == false
                        && b["add_prefix_space"] != true =>
                {
                    match s["pattern"]["Regex"].as_str() {
                        Some(LLAMA3_PATTERN) => Ok(PreTokenizer::Llama3),
                        Some(QWEN2_PATTERN) => Ok(PreTokenizer::Qwen2),
                        _ => Err(bad(format!(
                            "Split pattern {} is not one ingot implements (Llama 3, Qwen2)",
                            s["pattern"]
                        ))),
                    }
                }
                _ => Err(bad(format!("pre_tokenizer {cfg} is not supported"))),
            }
        }
        _ => Err(bad(format!("pre_tokenizer {cfg} is not supported"))),
    }
}

/// BOS from a `TemplateProcessing` post-processor whose single-sequence template starts
/// with a special token (Llama-style), else none. `ByteLevel` processors add nothing.
fn bos_from_post_processor(cfg: &Value, tokens: &[String]) -> Result<(Option<u32>, bool)> {
    let first_special = |p: &Value| -> Option<String> {
        match p["type"].as_str()? {
            "TemplateProcessing" => p["single"].as_array()?.first()?["SpecialToken"]["id"]
                .as_str()
                .map(str::to_string),
            _ => None,
        }
    };
    let processors: Vec<&Value> = match cfg["type"].as_str() {
        Some("Sequence") => cfg["processors"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Some(_) => vec![cfg],
        None => vec![],
    };
    for p in processors {
        if let Some(name) = first_special(p) {
            let id = tokens.iter().position(|t| *t == name).ok_or_else(|| {
                bad(format!(
                    "post_processor adds '{name}', which is not in the vocabulary"
                ))
            })?;
            return Ok((Some(id as u32), true));
        }
    }
    Ok((None, false))
}
