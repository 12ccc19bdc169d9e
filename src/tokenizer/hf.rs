//! Hugging Face `tokenizer.json` → `TokenizerSpec`: the same stages as from GGUF
//! metadata, from the other file format people hold.
//!
//! Read: normalizers (`NFC`/`NFD`/`NFKC`/`NFKD`, `Lowercase`, `StripAccents`, `Strip`,
//! `Replace`, `Prepend`, `BertNormalizer`, `Precompiled`, `Sequence`), pre-tokenizers
//! (`ByteLevel`, `Split`, `Digits`, `Metaspace` first, `BertPreTokenizer`, `Whitespace`,
//! `WhitespaceSplit`, `Punctuation`, `Sequence`), the `BPE`, `WordPiece` and `Unigram`
//! models, the decoders that undo them, added tokens with their flags, and BOS/EOS from
//! the post-processor. Anything else is an error that names the component, never a silent
//! approximation.

use serde_json::Value;

use super::normalize::CharsMap;
use super::pretokenize::{Behavior, CharSet, Prefix, Split, GPT2_PATTERN};
use super::regex::Regex;
use super::{
    AddedFlags, DecoderSpec, ModelSpec, Normalizer, PreTokenizer, Prepend, TokenType,
    TokenizerSpec, MAX_VOCAB, SPACE,
};
use crate::error::{Error, Result};

fn bad(what: impl Into<String>) -> Error {
    Error::Tokenizer(format!("tokenizer.json: {}", what.into()))
}

/// Parses the text of a `tokenizer.json`.
pub fn spec_from_json(text: &str) -> Result<TokenizerSpec> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    let model = &root["model"];
    let kind = model["type"].as_str();
    if !matches!(kind, Some("BPE" | "WordPiece" | "Unigram")) {
        return Err(bad(format!(
            "model type {kind:?} is not supported (ingot reads BPE, WordPiece and Unigram)"
        )));
    }

    // Vocabulary: token → id, with every id from 0 to n-1 present.
    let added = root["added_tokens"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let (mut tokens, scores) = vocab(model)?;
    let n = tokens.len().max(
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
    tokens.resize(n, None);
    let mut types = vec![TokenType::Normal; n];
    let mut flags = Vec::new();
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
        let f = AddedFlags {
            lstrip: t["lstrip"] == true,
            rstrip: t["rstrip"] == true,
            single_word: t["single_word"] == true,
            normalized: t["normalized"] == true,
        };
        flags.push((id as u32, f));
        tokens[id] = Some(content.to_string());
        types[id] = if t["special"] == true {
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
    let id_of = |name: &str, what: &str| -> Result<u32> {
        tokens
            .iter()
            .position(|t| t == name)
            .map(|i| i as u32)
            .ok_or_else(|| bad(format!("{what} '{name}' is not in the vocabulary")))
    };

    let normalizer = match &root["normalizer"] {
        Value::Null => None,
        n => Some(normalizer(n)?),
    };
    let (pre_tokenizer, byte_level) = pre_tokenizer(&root["pre_tokenizer"])?;
    if byte_level && kind != Some("BPE") {
        return Err(bad(format!(
            "a ByteLevel pre-tokenizer needs a BPE model, not {}",
            kind.unwrap_or("?")
        )));
    }
    let mut unk = None;
    let model_spec = match kind {
        Some("BPE") => {
            if !(model["dropout"].is_null() || model["dropout"] == 0.0) {
                return Err(bad(format!(
                    "BPE dropout ({}) is not supported",
                    model["dropout"]
                )));
            }
            for k in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if model[k].as_str().is_some_and(|s| !s.is_empty()) {
                    return Err(bad(format!("BPE {k} ({}) is not supported", model[k])));
                }
            }
            if let Some(u) = model["unk_token"].as_str() {
                unk = Some(id_of(u, "unk_token")?);
            }
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
            ModelSpec::Bpe {
                merges,
                byte_level,
                byte_fallback: model["byte_fallback"] == true,
                fuse_unk: model["fuse_unk"] == true,
                ignore_merges: model["ignore_merges"] == true,
                whole_newlines: false,
            }
        }
        Some("WordPiece") => {
            let u = model["unk_token"].as_str().unwrap_or("[UNK]");
            unk = Some(id_of(u, "unk_token")?);
            ModelSpec::WordPiece {
                prefix: model["continuing_subword_prefix"]
                    .as_str()
                    .unwrap_or("##")
                    .to_string(),
                max_chars: model["max_input_chars_per_word"].as_u64().unwrap_or(100) as usize,
            }
        }
        _ => {
            if model["byte_fallback"] == true {
                return Err(bad("Unigram byte_fallback is not supported"));
            }
            unk = match model["unk_id"].as_u64() {
                Some(i) if (i as usize) < n => Some(i as u32),
                Some(i) => return Err(bad(format!("unk_id {i} is outside the vocabulary"))),
                None => None,
            };
            let mut scores = scores;
            scores.resize(n, 0.0);
            ModelSpec::Unigram { scores }
        }
    };
    let decoder = decoder(&root["decoder"], &model_spec, byte_level)?;
    let (bos, add_bos, append) = post_processor(&root["post_processor"], &tokens)?;
    Ok(TokenizerSpec {
        tokens,
        types,
        normalizer,
        pre_tokenizer,
        model: model_spec,
        decoder,
        added: flags,
        unk,
        bos,
        eos: None,
        add_bos,
        append,
    })
}

/// The model's vocabulary by id, with Unigram scores.
fn vocab(model: &Value) -> Result<(Vec<Option<String>>, Vec<f32>)> {
    match &model["vocab"] {
        // BPE, WordPiece: {"token": id}
        Value::Object(map) => {
            let n = map.len();
            let mut tokens = vec![None; n];
            for (tok, id) in map {
                let id = id.as_u64().filter(|&i| (i as usize) < n).ok_or_else(|| {
                    bad(format!("vocab entry '{tok}' has id {id}, outside 0..{n}"))
                })?;
                tokens[id as usize] = Some(tok.clone());
            }
            Ok((tokens, Vec::new()))
        }
        // Unigram: [["piece", score], ...]
        Value::Array(list) if list.len() <= MAX_VOCAB => {
            let mut tokens = Vec::with_capacity(list.len());
            let mut scores = Vec::with_capacity(list.len());
            for (i, e) in list.iter().enumerate() {
                match (e[0].as_str(), e[1].as_f64()) {
                    (Some(p), Some(s)) if s.is_finite() => {
                        tokens.push(Some(p.to_string()));
                        scores.push(s as f32);
                    }
                    _ => return Err(bad(format!("vocab entry #{i} {e} is not [piece, score]"))),
                }
            }
            Ok((tokens, scores))
        }
        _ => Err(bad("model.vocab is missing or not an object")),
    }
}

fn normalizer(n: &Value) -> Result<Normalizer> {
    let unsupported = || bad(format!("normalizer {n} is not supported"));
    Ok(match n["type"].as_str() {
        Some("NFC") => Normalizer::Nfc,
        Some("NFD") => Normalizer::Nfd,
        Some("NFKC") => Normalizer::Nfkc,
        Some("NFKD") => Normalizer::Nfkd,
        Some("Lowercase") => Normalizer::Lowercase,
        Some("StripAccents") => Normalizer::StripAccents,
        Some("Strip") => Normalizer::Strip {
            left: n["strip_left"] == true,
            right: n["strip_right"] == true,
        },
        Some("Prepend") => {
            Normalizer::Prepend(n["prepend"].as_str().ok_or_else(unsupported)?.to_string())
        }
        Some("Replace") => Normalizer::Replace {
            pattern: pattern(&n["pattern"])?,
            content: n["content"].as_str().ok_or_else(unsupported)?.to_string(),
        },
        Some("BertNormalizer") => {
            let lowercase = n["lowercase"] != false;
            Normalizer::Bert {
                clean_text: n["clean_text"] != false,
                chinese_chars: n["handle_chinese_chars"] != false,
                strip_accents: n["strip_accents"].as_bool().unwrap_or(lowercase),
                lowercase,
            }
        }
        Some("Precompiled") => {
            let b64 = n["precompiled_charsmap"].as_str().ok_or_else(unsupported)?;
            let blob =
                base64_decode(b64).ok_or_else(|| bad("Precompiled charsmap is not base64"))?;
            Normalizer::SentencePiece {
                charsmap: Some(
                    CharsMap::new(&blob).ok_or_else(|| bad("Precompiled charsmap is malformed"))?,
                ),
                add_space_prefix: false,
                remove_extra_whitespaces: false,
                escape_whitespaces: false,
            }
        }
        Some("Sequence") => Normalizer::Sequence(
            n["normalizers"]
                .as_array()
                .ok_or_else(unsupported)?
                .iter()
                .map(normalizer)
                .collect::<Result<_>>()?,
        ),
        _ => return Err(unsupported()),
    })
}

/// A `{"String": ..}` or `{"Regex": ..}` pattern.
fn pattern(p: &Value) -> Result<Regex> {
    if let Some(s) = p["String"].as_str() {
        let escaped: String = s
            .chars()
            .flat_map(|c| {
                let special = c.is_ascii_punctuation() || c == ' ';
                special.then_some('\\').into_iter().chain([c])
            })
            .collect();
        return Regex::new(&escaped);
    }
    match p["Regex"].as_str() {
        Some(r) => Regex::new(r),
        None => Err(bad(format!("pattern {p} is neither String nor Regex"))),
    }
}

fn behavior(v: &Value) -> Result<Behavior> {
    Ok(match v.as_str() {
        Some("Removed") => Behavior::Removed,
        Some("Isolated") => Behavior::Isolated,
        Some("MergedWithPrevious") => Behavior::MergedWithPrevious,
        Some("MergedWithNext") => Behavior::MergedWithNext,
        Some("Contiguous") => Behavior::Contiguous,
        _ => return Err(bad(format!("split behavior {v} is not supported"))),
    })
}

/// The pre-tokenizer, and whether it maps text to GPT-2's byte alphabet (a `ByteLevel`
/// step, which makes the BPE model byte-level).
fn pre_tokenizer(cfg: &Value) -> Result<(PreTokenizer, bool)> {
    let mut pre = PreTokenizer::none();
    let mut byte_level = false;
    let steps: Vec<&Value> = match cfg["type"].as_str() {
        None if cfg.is_null() => Vec::new(),
        Some("Sequence") => cfg["pretokenizers"]
            .as_array()
            .ok_or_else(|| bad(format!("pre_tokenizer {cfg} is not supported")))?
            .iter()
            .collect(),
        _ => vec![cfg],
    };
    for (i, s) in steps.iter().enumerate() {
        let unsupported = || bad(format!("pre_tokenizer {s} is not supported"));
        match s["type"].as_str() {
            Some("ByteLevel") => {
                byte_level = true;
                if s["add_prefix_space"] == true {
                    if i > 0 {
                        return Err(unsupported());
                    }
                    pre.prefix = Prefix::Space;
                }
                if s["use_regex"] != false {
                    pre.splits
                        .push(Split::regex(GPT2_PATTERN, Behavior::Isolated)?);
                }
            }
            Some("Split") => {
                let mut split = Split {
                    pattern: super::pretokenize::Pattern::Regex(pattern(&s["pattern"])?),
                    behavior: behavior(&s["behavior"])?,
                    invert: false,
                };
                split.invert = s["invert"] == true;
                pre.splits.push(split);
            }
            Some("Digits") => pre.splits.push(Split::chars(
                CharSet::Numeric,
                if s["individual_digits"] == true {
                    Behavior::Isolated
                } else {
                    Behavior::Contiguous
                },
            )),
            Some("Punctuation") => pre.splits.push(Split::chars(
                CharSet::Punctuation,
                if s["behavior"].is_null() {
                    Behavior::Isolated
                } else {
                    behavior(&s["behavior"])?
                },
            )),
            Some("WhitespaceSplit") => pre
                .splits
                .push(Split::chars(CharSet::Space, Behavior::Removed)),
            Some("Whitespace") => {
                let mut split = Split::regex(r"\w+|[^\w\s]+", Behavior::Removed)?;
                split.invert = true;
                pre.splits.push(split);
            }
            Some("BertPreTokenizer") => {
                pre.splits
                    .push(Split::chars(CharSet::Space, Behavior::Removed));
                pre.splits
                    .push(Split::chars(CharSet::Punctuation, Behavior::Isolated));
            }
            // The `▁` transform applies to the whole text, so only as the first step.
            Some("Metaspace") if i == 0 && s["replacement"] == "\u{2581}" => {
                let prepend = match s["prepend_scheme"].as_str() {
                    Some("first") => Prepend::First,
                    Some("never") => Prepend::Never,
                    Some("always") => Prepend::Always,
                    None if s["add_prefix_space"] == false => Prepend::Never,
                    None => Prepend::Always,
                    _ => return Err(unsupported()),
                };
                pre.prefix = Prefix::Metaspace(prepend);
                if s["split"] != false {
                    pre.splits.push(Split::chars(
                        CharSet::Exactly(SPACE),
                        Behavior::MergedWithNext,
                    ));
                }
            }
            _ => return Err(unsupported()),
        }
    }
    Ok((pre, byte_level))
}

/// The decoder must undo what the model and pre-tokenizer did.
fn decoder(dec: &Value, model: &ModelSpec, byte_level: bool) -> Result<DecoderSpec> {
    let unsupported = || {
        let m = match model {
            ModelSpec::Bpe { .. } if byte_level => "a byte-level BPE",
            ModelSpec::Bpe { .. } => "a BPE",
            ModelSpec::WordPiece { .. } => "a WordPiece",
            ModelSpec::Unigram { .. } => "a Unigram",
        };
        bad(format!("decoder {dec} is not supported with {m} model"))
    };
    if byte_level {
        return match dec["type"].as_str() {
            Some("ByteLevel") | None => Ok(DecoderSpec::ByteLevel),
            _ => Err(unsupported()),
        };
    }
    let replace = |r: &Value| {
        r["type"] == "Replace" && r["pattern"]["String"] == "\u{2581}" && r["content"] == " "
    };
    Ok(match (model, dec["type"].as_str()) {
        (ModelSpec::WordPiece { .. }, Some("WordPiece")) => DecoderSpec::WordPiece,
        (ModelSpec::WordPiece { .. }, _) => return Err(unsupported()),
        (_, Some("Metaspace")) if dec["replacement"] == "\u{2581}" => DecoderSpec::Metaspace {
            strip_first_space: dec["prepend_scheme"] != "never" && dec["add_prefix_space"] != false,
        },
        (_, Some("Sequence")) => {
            let steps = dec["decoders"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let strip = |s: &Value| {
                s["type"] == "Strip" && s["content"] == " " && s["start"] == 1 && s["stop"] == 0
            };
            match steps {
                [r, b, f, s]
                    if replace(r)
                        && b["type"] == "ByteFallback"
                        && f["type"] == "Fuse"
                        && strip(s) =>
                {
                    DecoderSpec::Metaspace {
                        strip_first_space: true,
                    }
                }
                [r, b, f] if replace(r) && b["type"] == "ByteFallback" && f["type"] == "Fuse" => {
                    DecoderSpec::Metaspace {
                        strip_first_space: false,
                    }
                }
                _ => return Err(unsupported()),
            }
        }
        _ => return Err(unsupported()),
    })
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

/// BOS and the token put last, from the post-processor: a `TemplateProcessing` whose
/// single-sequence template starts (ends) with a special token, or BERT/RoBERTa's
/// `cls`/`sep`. `ByteLevel` processors add nothing.
fn post_processor(cfg: &Value, tokens: &[String]) -> Result<(Option<u32>, bool, Option<u32>)> {
    let id = |name: &str| -> Result<u32> {
        tokens
            .iter()
            .position(|t| t == name)
            .map(|i| i as u32)
            .ok_or_else(|| {
                bad(format!(
                    "post_processor adds '{name}', which is not in the vocabulary"
                ))
            })
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
        match p["type"].as_str() {
            Some("TemplateProcessing") => {
                let single = p["single"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                fn special(v: Option<&Value>) -> Option<&str> {
                    v.and_then(|v| v["SpecialToken"]["id"].as_str())
                }
                let first = special(single.first()).map(id).transpose()?;
                let last = if single.len() > 1 {
                    special(single.last()).map(id).transpose()?
                } else {
                    None
                };
                if first.is_some() || last.is_some() {
                    return Ok((first, first.is_some(), last));
                }
            }
            Some("BertProcessing" | "RobertaProcessing") => {
                let name = |k: &str| p[k][0].as_str().map(str::to_string);
                let cls = name("cls").map(|c| id(&c)).transpose()?;
                let sep = name("sep").map(|s| id(&s)).transpose()?;
                return Ok((cls, cls.is_some(), sep));
            }
            _ => {}
        }
    }
    Ok((None, false, None))
}

/// Standard base64 (with or without padding); `None` on any other character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
