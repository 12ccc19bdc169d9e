//! GGUF `tokenizer.ggml.*` metadata → `TokenizerSpec`, mapped the way llama.cpp's
//! `llama_vocab::impl::load` reads it:
//!
//! | `tokenizer.ggml.model` | stages |
//! |---|---|
//! | `gpt2` | `pre` regexes (`ggml_pre`), byte-level BPE |
//! | `gemma4` (and BPE `pre`s without byte encoding) | spaces as `▁`, split at newlines, BPE over chars with `<0xNN>` fallback |
//! | `llama` | SentencePiece BPE: `▁` prefix and spaces, merges from piece scores, byte fallback |
//! | `bert` | BERT normalizer and pre-tokenizer, WordPiece (llama.cpp's converter writes word starts as `▁word` and continuations bare; they are turned back into `word` and `##piece`) |
//! | `t5` | SentencePiece normalizer (precompiled character map), Unigram |
//! | `whitespace` | split at white space, BPE over chars |

use super::ggml_pre;
use super::normalize::CharsMap;
use super::pretokenize::{Behavior, CharSet, Prefix, Split};
use super::regex::Regex;
use super::{
    spm, AddedFlags, DecoderSpec, ModelSpec, Normalizer, PreTokenizer, TokenType, TokenizerSpec,
    SPACE,
};
use crate::error::{Error, Result};
use crate::io::{Gguf, Value};

fn key_str<'g>(g: &'g Gguf, k: &str) -> Option<&'g str> {
    g.get(k).and_then(|v| v.as_str())
}

fn key_bool(g: &Gguf, k: &str) -> Option<bool> {
    g.get(k).and_then(|v| v.as_bool())
}

/// An array of strings.
fn strings(g: &Gguf, key: &str) -> Result<Vec<String>> {
    let arr = g
        .get(key)
        .and_then(|v| v.as_array())
        .ok_or_else(|| Error::metadata(key, "missing or not an array"))?;
    arr.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::metadata(key, format!("element {i} is not a string")))
        })
        .collect()
}

/// A token id key, if present.
fn id(g: &Gguf, key: &str) -> Result<Option<u32>> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|&x| x <= u32::MAX as u64)
            .map(|x| Some(x as u32))
            .ok_or_else(|| Error::metadata(key, format!("{v:?} is not a token id"))),
    }
}

/// One score per token.
fn scores(g: &Gguf, n: usize) -> Result<Vec<f32>> {
    let key = "tokenizer.ggml.scores";
    g.get(key)
        .and_then(|v| v.as_array())
        .filter(|a| a.len() == n)
        .ok_or_else(|| Error::metadata(key, "missing, or not one per token"))?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_f64()
                .map(|x| x as f32)
                .filter(|x| !x.is_nan())
                .ok_or_else(|| Error::metadata(key, format!("element {i} ({v:?}) is not a number")))
        })
        .collect()
}

fn merges(g: &Gguf) -> Result<Vec<(String, String)>> {
    strings(g, "tokenizer.ggml.merges")?
        .into_iter()
        .enumerate()
        // The first space after the first char separates the two (a token may be a space).
        .map(|(i, m)| {
            match m
                .char_indices()
                .nth(1)
                .and_then(|(k, _)| m[k..].find(' ').map(|p| k + p))
            {
                Some(p) => Ok((m[..p].to_string(), m[p + 1..].to_string())),
                None => Err(Error::metadata(
                    "tokenizer.ggml.merges",
                    format!("merge #{i} '{m}' is not two tokens separated by a space"),
                )),
            }
        })
        .collect()
}

/// `▁` for spaces, as a normalizer.
fn escape_spaces() -> Normalizer {
    Normalizer::Replace {
        pattern: Regex::new(" ").expect("a valid pattern"),
        content: SPACE.to_string(),
    }
}

/// Texts llama.cpp treats as control tokens whatever type the file gives them (end of
/// turn/generation and fill-in-the-middle markers; its `llama_vocab::impl::load`), a
/// workaround for files whose converter marked them normal.
const CONTROL_LOOKING: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "[e~[",
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<PRE>",
    "\u{2581}<PRE>",
    "<\u{ff5c}fim\u{2581}begin\u{ff5c}>",
    "<|code_prefix|>",
    "<|prefix|>",
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<SUF>",
    "\u{2581}<SUF>",
    "<\u{ff5c}fim\u{2581}hole\u{ff5c}>",
    "<|code_suffix|>",
    "<|suffix|>",
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<MID>",
    "\u{2581}<MID>",
    "<\u{ff5c}fim\u{2581}end\u{ff5c}>",
    "<|code_middle|>",
    "<|middle|>",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "<|fim_repo|>",
    "<fim-repo>",
    "<fim_repo>",
    "<REPO>",
    "<reponame>",
    "<|repo_name|>",
    "<|file_sep|>",
];

/// llama.cpp's by-text fixes of token types: control-looking normal tokens become control,
/// except `<|end|>` beside `<|return|>`/`<|call|>` (or `<|calls|>`/`<|flush|>`), which
/// stays plain text, and `</s>` beside Gemma 4's or PLaMo's own end markers, which stays
/// normal.
fn fix_types(tokens: &[String], types: &mut [TokenType]) {
    let has = |t: &str| tokens.iter().any(|x| x == t);
    let end_is_text =
        (has("<|return|>") || has("<|flush|>")) && (has("<|call|>") || has("<|calls|>"));
    let s_is_normal = has("<|tool_response>") || has("<|plamo:eos|>");
    for (t, ty) in tokens.iter().zip(types.iter_mut()) {
        if *ty != TokenType::Normal || !CONTROL_LOOKING.contains(&t.as_str()) {
            continue;
        }
        if (t == "<|end|>" && end_is_text) || (t == "</s>" && s_is_normal) {
            continue;
        }
        *ty = TokenType::Control;
    }
}

/// llama.cpp's per-model matching flags, which GGUF does not store: Phi-3's special tokens
/// swallow the white space after them (but `<unk>`, `<s>` and `<|endoftext|>`), and the
/// mask token of some embedding models the white space before it.
fn model_flags(g: &Gguf, tokens: &[String], types: &[TokenType]) -> Vec<(u32, AddedFlags)> {
    let name = key_str(g, "general.name").unwrap_or("").to_lowercase();
    let arch = key_str(g, "general.architecture").unwrap_or("");
    let pre = key_str(g, "tokenizer.ggml.pre").unwrap_or("");
    let find = |t: &str| tokens.iter().position(|x| x == t).map(|i| i as u32);
    let lstrip = AddedFlags {
        lstrip: true,
        ..AddedFlags::default()
    };
    let rstrip = AddedFlags {
        rstrip: true,
        ..AddedFlags::default()
    };
    if ["jina-v2-de", "jina-v2-es", "jina-v2-code"]
        .iter()
        .any(|p| pre.contains(p))
        || ["nomic-bert-moe", "jina-bert-v3"]
            .iter()
            .any(|a| arch.contains(a))
    {
        return find("<mask>").map(|i| (i, lstrip)).into_iter().collect();
    }
    if name.contains("phi-3") || name.contains("phi3") {
        return tokens
            .iter()
            .zip(types)
            .enumerate()
            .filter(|(_, (t, ty))| {
                (ty.is_added() || t.as_str() == "</s>")
                    && !matches!(t.as_str(), "<unk>" | "<s>" | "<|endoftext|>")
            })
            .map(|(i, _)| (i as u32, rstrip))
            .collect();
    }
    if name.contains("modern-bert") {
        return find("[MASK]").map(|i| (i, lstrip)).into_iter().collect();
    }
    Vec::new()
}

pub fn spec_from_gguf(g: &Gguf) -> Result<TokenizerSpec> {
    let model = key_str(g, "tokenizer.ggml.model")
        .ok_or_else(|| Error::metadata("tokenizer.ggml.model", "missing or not a string"))?;
    let mut tokens = strings(g, "tokenizer.ggml.tokens")?;
    let n = tokens.len();
    let mut types = match g
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.as_array())
    {
        None => vec![TokenType::Normal; n],
        Some(arr) => arr
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let t = match v {
                    Value::I32(x) => Some(*x as i64),
                    other => other.as_u64().map(|x| x as i64),
                };
                t.and_then(TokenType::from_gguf).ok_or_else(|| {
                    Error::metadata(
                        "tokenizer.ggml.token_type",
                        format!("element {i} ({v:?}) is not a token type"),
                    )
                })
            })
            .collect::<Result<_>>()?,
    };
    if types.len() != n {
        return Err(Error::metadata(
            "tokenizer.ggml.token_type",
            format!("{} types for {n} tokens", types.len()),
        ));
    }
    fix_types(&tokens, &mut types);
    let added = model_flags(g, &tokens, &types);
    let pre = key_str(g, "tokenizer.ggml.pre");
    let mut unk = id(g, "tokenizer.ggml.unknown_token_id")?;
    let bos = id(g, "tokenizer.ggml.bos_token_id")?;
    let eos = id(g, "tokenizer.ggml.eos_token_id")?;
    let add_bos_key = key_bool(g, "tokenizer.ggml.add_bos_token");
    let add_eos = key_bool(g, "tokenizer.ggml.add_eos_token");
    let add_space_prefix = key_bool(g, "tokenizer.ggml.add_space_prefix");
    let none = PreTokenizer::none();

    let (normalizer, pre_tokenizer, model_spec, decoder, bos, add_bos, append) = match model {
        "gpt2" | "gemma4" | "whitespace" => {
            let pre = if model == "gemma4" {
                Some("gemma4")
            } else {
                pre
            };
            let spec = ggml_pre::lookup(pre)?;
            let whitespace = model == "whitespace";
            let mut pre_tokenizer = spec.pre_tokenizer(whitespace)?;
            let byte_level = spec.byte_level && !whitespace;
            let mut steps = Vec::new();
            if spec.nfc {
                steps.push(Normalizer::Nfc);
            }
            if whitespace
                && key_bool(g, "tokenizer.ggml.normalizer.lowercase")
                    .unwrap_or(pre != Some("whitespace"))
            {
                steps.push(Normalizer::Lowercase);
            }
            if !byte_level && !whitespace {
                // SentencePiece-style BPE: `▁` for spaces, as a prefix too if asked.
                if add_space_prefix == Some(true) {
                    pre_tokenizer.prefix = Prefix::Metaspace(super::Prepend::Always);
                } else {
                    steps.push(escape_spaces());
                }
            }
            let normalizer = match steps.len() {
                0 => None,
                1 => steps.pop(),
                _ => Some(Normalizer::Sequence(steps)),
            };
            let decoder = if byte_level {
                DecoderSpec::ByteLevel
            } else {
                DecoderSpec::Metaspace {
                    strip_first_space: add_space_prefix == Some(true),
                }
            };
            let model_spec = ModelSpec::Bpe {
                merges: merges(g)?,
                byte_level,
                byte_fallback: !byte_level,
                fuse_unk: false,
                ignore_merges: spec.ignore_merges,
                whole_newlines: !byte_level && !whitespace,
            };
            // llama.cpp forces BOS for Gemma 4, whatever the file says.
            let add_bos = if pre == Some("gemma4") {
                true
            } else {
                add_bos_key.unwrap_or(spec.add_bos)
            };
            let append = if add_eos == Some(true) { eos } else { None };
            (
                normalizer,
                pre_tokenizer,
                model_spec,
                decoder,
                bos,
                add_bos,
                append,
            )
        }
        "llama" => {
            let merges = if g.get("tokenizer.ggml.merges").is_some() {
                merges(g)?
            } else {
                let mut scores = scores(g, n)?;
                spm::restore_space_runs(&mut tokens, &mut types, &mut scores);
                spm::merges_from_scores(&tokens, &types, &scores)
            };
            let prefix = add_space_prefix.unwrap_or(true);
            let normalizer = if prefix {
                Normalizer::Sequence(vec![
                    Normalizer::Prepend(SPACE.to_string()),
                    escape_spaces(),
                ])
            } else {
                escape_spaces()
            };
            let model_spec = ModelSpec::Bpe {
                merges,
                byte_level: false,
                byte_fallback: true,
                fuse_unk: true,
                ignore_merges: false,
                whole_newlines: false,
            };
            let decoder = DecoderSpec::Metaspace {
                strip_first_space: prefix,
            };
            let append = if add_eos == Some(true) { eos } else { None };
            (
                Some(normalizer),
                none,
                model_spec,
                decoder,
                bos,
                add_bos_key.unwrap_or(true),
                append,
            )
        }
        "bert" => {
            // Back to Hugging Face's spelling: `▁word` starts a word, a bare piece
            // continues one (`##piece`); control tokens stay as they are.
            for (t, ty) in tokens.iter_mut().zip(&types) {
                if *ty == TokenType::Control {
                    continue;
                }
                *t = match t.strip_prefix(SPACE) {
                    Some(word) => word.to_string(),
                    None => format!("##{t}"),
                };
            }
            let lowercase = key_bool(g, "tokenizer.ggml.normalizer.lowercase").unwrap_or(true);
            let strip_accents =
                key_bool(g, "tokenizer.ggml.normalizer.strip_accents").unwrap_or(lowercase);
            let normalizer = Normalizer::Bert {
                clean_text: true,
                chinese_chars: true,
                strip_accents,
                lowercase,
            };
            let pre = PreTokenizer {
                prefix: Prefix::None,
                splits: vec![
                    Split::chars(CharSet::Space, Behavior::Removed),
                    Split::chars(CharSet::Punctuation, Behavior::Isolated),
                ],
            };
            let model_spec = ModelSpec::WordPiece {
                prefix: "##".into(),
                max_chars: 100,
            };
            unk = unk.or_else(|| {
                types
                    .iter()
                    .position(|&t| t == TokenType::Unknown)
                    .map(|i| i as u32)
            });
            let cls = id(g, "tokenizer.ggml.cls_token_id")?.or(bos);
            let sep = id(g, "tokenizer.ggml.seperator_token_id")?;
            let append = if key_bool(g, "tokenizer.ggml.add_sep_token").unwrap_or(true) {
                sep
            } else {
                None
            };
            let add_bos = add_bos_key.unwrap_or(true);
            (
                Some(normalizer),
                pre,
                model_spec,
                DecoderSpec::WordPiece,
                cls,
                add_bos,
                append,
            )
        }
        "t5" => {
            let charsmap = match g.get("tokenizer.ggml.precompiled_charsmap") {
                None => None,
                Some(v) => {
                    let bytes = v
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|x| x.as_u64().map(|b| b as u8))
                                .collect::<Option<Vec<u8>>>()
                        })
                        .ok_or_else(|| {
                            Error::metadata(
                                "tokenizer.ggml.precompiled_charsmap",
                                "not an array of bytes",
                            )
                        })?;
                    Some(CharsMap::new(&bytes).ok_or_else(|| {
                        Error::metadata(
                            "tokenizer.ggml.precompiled_charsmap",
                            "its trie size does not fit in it",
                        )
                    })?)
                }
            };
            let normalizer = Normalizer::SentencePiece {
                charsmap,
                add_space_prefix: add_space_prefix.unwrap_or(false),
                remove_extra_whitespaces: key_bool(g, "tokenizer.ggml.remove_extra_whitespaces")
                    .unwrap_or(false),
                escape_whitespaces: true,
            };
            unk = unk.or_else(|| {
                types
                    .iter()
                    .position(|&t| t == TokenType::Unknown)
                    .map(|i| i as u32)
            });
            let model_spec = ModelSpec::Unigram {
                scores: scores(g, n)?,
            };
            let decoder = DecoderSpec::Metaspace {
                strip_first_space: true,
            };
            let append = if add_eos.unwrap_or(true) { eos } else { None };
            (
                Some(normalizer),
                none,
                model_spec,
                decoder,
                bos,
                add_bos_key.unwrap_or(false),
                append,
            )
        }
        other => {
            return Err(Error::Tokenizer(format!(
                "tokenizer model '{other}' (tokenizer.ggml.model) is not one ingot knows \
                 (gpt2, gemma4, llama, bert, t5, whitespace)"
            )))
        }
    };
    Ok(TokenizerSpec {
        tokens,
        types,
        normalizer,
        pre_tokenizer,
        model: model_spec,
        decoder,
        added,
        unk,
        bos,
        eos,
        add_bos: add_bos && bos.is_some(),
        append,
    })
}
