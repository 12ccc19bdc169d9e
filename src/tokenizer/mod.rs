//! Byte-level BPE tokenizer (GPT-2 family: SmolLM2, Llama 3, Qwen2, ...).
//!
//! Independent of the model and of io's structs: `Tokenizer::new` takes plain vocab,
//! merges and settings; `from_gguf` just collects those from GGUF metadata.
//!
//! Encoding: special tokens (GGUF token types CONTROL and USER_DEFINED) are matched in the
//! text first, leftmost and longest; the text between them is split by the
//! pre-tokenizer, each piece's bytes are mapped to the byte-level alphabet, and BPE merges
//! them into tokens.

pub mod bpe;
pub mod byte_level;
pub mod chat;
mod chat_guard;
mod hf;
pub mod pretokenize;
mod spm;
mod stream;

use std::collections::HashMap;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::error::{Error, Result};
use crate::io::Gguf;
use bpe::Merges;
use byte_level::ByteLevel;
pub use pretokenize::PreTokenizer;
pub use stream::StreamDecoder;

/// Vocabulary limit: larger files are refused before anything is allocated per token.
pub(crate) const MAX_VOCAB: usize = 1 << 22;

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(v: i64) -> Option<TokenType> {
        Some(match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }

    /// Whether the token is matched verbatim in input text and kept out of BPE.
    fn is_special(self) -> bool {
        matches!(self, TokenType::Control | TokenType::UserDefined)
    }
}

/// How text becomes the symbols BPE merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    /// GPT-2 byte-level BPE: the text's bytes map to printable characters (`byte_level`),
    /// split first by a regex pre-tokenizer.
    ByteLevel(PreTokenizer),
    /// SentencePiece-style BPE (Llama 2, TinyLlama, Gemma): spaces are written `▁`, a `▁`
    /// is put in front (`prepend`), and a character with no token of its own becomes its
    /// UTF-8 bytes as `<0xNN>` tokens (byte fallback). Decoding turns `▁` back into spaces
    /// and drops the one leading space the prefix added.
    SentencePiece { prepend: Prepend },
}

/// Where SentencePiece puts its `▁` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepend {
    Never,
    /// Only before the first piece of text (HF Metaspace `prepend_scheme: "first"`).
    First,
    /// Before every piece of text between special tokens (a `Prepend` normalizer).
    Always,
}

/// The SentencePiece space marker, U+2581.
pub const SPACE: char = '\u{2581}';

/// Everything a tokenizer is made of, independent of the file it came from.
pub struct TokenizerSpec {
    /// Token strings in the byte-level alphabet (special tokens as plain text).
    pub tokens: Vec<String>,
    pub types: Vec<TokenType>,
    /// Merge rules in rank order, each as `(left, right)` token strings.
    pub merges: Vec<(String, String)>,
    pub kind: TokenizerKind,
    /// A pre-tokenized piece that is itself a token is emitted whole, without merging
    /// (Llama 3's `ignore_merges`).
    pub ignore_merges: bool,
    /// Text between special tokens is put in Unicode normal form C first (Qwen2's `NFC`
    /// normalizer).
    pub nfc: bool,
    /// `(id, lstrip, rstrip)` of added tokens that swallow the whitespace around them.
    pub strip: Vec<(u32, bool, bool)>,
    /// The unknown token, for characters with no token (SentencePiece without byte
    /// fallback); byte-level vocabularies cover every byte and need none.
    pub unk: Option<u32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
}

/// A token matched verbatim in input text.
struct Special {
    text: String,
    id: u32,
    /// Also swallow the whitespace before (`lstrip`) or after (`rstrip`) it in the text.
    lstrip: bool,
    rstrip: bool,
}

/// A byte-level BPE tokenizer.
pub struct Tokenizer {
    /// Decoded bytes of every token.
    token_bytes: Vec<Vec<u8>>,
    types: Vec<TokenType>,
    /// Byte-level token string → id, for the initial one-char symbols.
    char_ids: HashMap<char, u32>,
    merges: Merges,
    /// Special tokens by text, longest first, with their lstrip/rstrip flags.
    specials: Vec<Special>,
    /// Byte-level token string → id, for `ignore_merges` (else empty).
    whole_words: HashMap<String, u32>,
    nfc: bool,
    kind: TokenizerKind,
    byte_level: ByteLevel,
    /// SentencePiece: the `<0xNN>` token of each byte.
    byte_ids: Vec<Option<u32>>,
    unk: Option<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
}

impl Tokenizer {
    pub fn new(spec: TokenizerSpec) -> Result<Tokenizer> {
        let n = spec.tokens.len();
        if n == 0 || n > MAX_VOCAB {
            return Err(Error::Tokenizer(format!(
                "vocabulary size {n} is outside 1..={MAX_VOCAB}"
            )));
        }
        if spec.types.len() != n {
            return Err(Error::Tokenizer(format!(
                "{} token types for {n} tokens",
                spec.types.len()
            )));
        }
        for (name, id) in [("bos", spec.bos), ("eos", spec.eos), ("unk", spec.unk)] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(Error::Tokenizer(format!(
                    "{name} token id {id} is outside the vocabulary of {n}"
                )));
            }
        }
        let byte_level = ByteLevel::default();
        let mut ids = HashMap::with_capacity(n);
        let mut token_bytes = Vec::with_capacity(n);
        let mut specials = Vec::new();
        let mut char_ids = HashMap::new();
        let mut byte_ids = vec![None; 256];
        let mut types = spec.types;
        let sentencepiece = matches!(spec.kind, TokenizerKind::SentencePiece { .. });
        for (i, (t, ty)) in spec.tokens.iter().zip(types.iter_mut()).enumerate() {
            let id = i as u32;
            ids.entry(t.as_str()).or_insert(id);
            if ty.is_special() {
                if !t.is_empty() {
                    let (lstrip, rstrip) = spec
                        .strip
                        .iter()
                        .find(|s| s.0 == id)
                        .map_or((false, false), |s| (s.1, s.2));
                    specials.push(Special {
                        text: t.clone(),
                        id,
                        lstrip,
                        rstrip,
                    });
                }
                token_bytes.push(t.as_bytes().to_vec());
                continue;
            }
            let mut cs = t.chars();
            if let (Some(c), None) = (cs.next(), cs.next()) {
                char_ids.entry(c).or_insert(id);
            }
            if sentencepiece {
                if let Some(b) = byte_token(t) {
                    *ty = TokenType::Byte;
                    byte_ids[b as usize].get_or_insert(id);
                    token_bytes.push(vec![b]);
                } else {
                    token_bytes.push(t.replace(SPACE, " ").into_bytes());
                }
                continue;
            }
            // Tokens outside the byte-level alphabet (rare; e.g. unused slots) decode to
            // their UTF-8 text.
            token_bytes.push(
                byte_level
                    .decode(t)
                    .unwrap_or_else(|| t.as_bytes().to_vec()),
            );
        }
        specials.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        let whole_words = if spec.ignore_merges {
            ids.iter().map(|(t, &id)| (t.to_string(), id)).collect()
        } else {
            HashMap::new()
        };

        let mut merges = Merges::with_capacity(spec.merges.len());
        for (rank, (a, b)) in spec.merges.iter().enumerate() {
            let id_of = |s: &str| ids.get(s).copied();
            let merged = format!("{a}{b}");
            match (id_of(a), id_of(b), id_of(&merged)) {
                (Some(l), Some(r), Some(m)) => {
                    merges.entry((l, r)).or_insert((rank as u32, m));
                }
                _ => {
                    return Err(Error::Tokenizer(format!(
                        "merge #{rank} '{a} {b}' names a token that is not in the vocabulary"
                    )))
                }
            }
        }
        Ok(Tokenizer {
            token_bytes,
            types,
            char_ids,
            merges,
            specials,
            whole_words,
            nfc: spec.nfc,
            kind: spec.kind,
            byte_level,
            byte_ids,
            unk: spec.unk,
            bos: spec.bos,
            eos: spec.eos,
            add_bos: spec.add_bos,
        })
    }

    /// Reads a Hugging Face `tokenizer.json` (its text).
    pub fn from_json(text: &str) -> Result<Tokenizer> {
        Tokenizer::new(hf::spec_from_json(text)?)
    }

    /// Reads a Hugging Face `tokenizer.json` file.
    pub fn from_json_file(path: impl AsRef<std::path::Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Tokenizer::from_json(&text).map_err(|e| match e {
            Error::Tokenizer(m) => Error::Tokenizer(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Reads the tokenizer from GGUF metadata (`tokenizer.ggml.*`).
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        let key_str = |k: &str| g.get(k).and_then(|v| v.as_str());
        let model = key_str("tokenizer.ggml.model")
            .ok_or_else(|| Error::metadata("tokenizer.ggml.model", "missing or not a string"))?;
        // Byte-level BPE ("gpt2") with a pre-tokenizer, or SentencePiece ("llama").
        let kind = match model {
            "gpt2" => {
                TokenizerKind::ByteLevel(match key_str("tokenizer.ggml.pre").unwrap_or("default") {
                    "smollm" => PreTokenizer::SmolLm,
                    "gpt-2" => PreTokenizer::Gpt2,
                    other => {
                        return Err(Error::Tokenizer(format!(
                            "pre-tokenizer '{other}' (tokenizer.ggml.pre) is not supported"
                        )))
                    }
                })
            }
            "llama" => TokenizerKind::SentencePiece {
                prepend: match g
                    .get("tokenizer.ggml.add_space_prefix")
                    .and_then(|v| v.as_bool())
                {
                    Some(false) => Prepend::Never,
                    _ => Prepend::Always,
                },
            },
            other => {
                return Err(Error::Tokenizer(format!(
                    "tokenizer model '{other}' is not supported (ingot reads 'gpt2' byte-level \
                     BPE and 'llama' SentencePiece BPE)"
                )))
            }
        };
        let strings = |key: &str| -> Result<Vec<String>> {
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
        };
        let mut tokens = strings("tokenizer.ggml.tokens")?;
        let mut types = match g
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.as_array())
        {
            None => vec![TokenType::Normal; tokens.len()],
            Some(arr) => arr
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let n = match v {
                        crate::io::Value::I32(x) => Some(*x as i64),
                        other => other.as_u64().map(|x| x as i64),
                    };
                    n.and_then(TokenType::from_gguf).ok_or_else(|| {
                        Error::metadata(
                            "tokenizer.ggml.token_type",
                            format!("element {i} ({v:?}) is not a token type"),
                        )
                    })
                })
                .collect::<Result<_>>()?,
        };
        let merges = match kind {
            TokenizerKind::SentencePiece { .. } if g.get("tokenizer.ggml.merges").is_none() => {
                let mut scores = g
                    .get("tokenizer.ggml.scores")
                    .and_then(|v| v.as_array())
                    .filter(|a| a.len() == tokens.len())
                    .ok_or_else(|| {
                        Error::metadata(
                            "tokenizer.ggml.scores",
                            "missing, or not one per token (SentencePiece needs them)",
                        )
                    })?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_f64()
                            .map(|x| x as f32)
                            .filter(|x| !x.is_nan())
                            .ok_or_else(|| {
                                Error::metadata(
                                    "tokenizer.ggml.scores",
                                    format!("element {i} ({v:?}) is not a number"),
                                )
                            })
                    })
                    .collect::<Result<Vec<f32>>>()?;
                if types.len() != tokens.len() {
                    return Err(Error::metadata(
                        "tokenizer.ggml.token_type",
                        format!("{} types for {} tokens", types.len(), tokens.len()),
                    ));
                }
                spm::restore_space_runs(&mut tokens, &mut types, &mut scores);
                spm::merges_from_scores(&tokens, &types, &scores)
            }
            _ => strings("tokenizer.ggml.merges")?
                .into_iter()
                .enumerate()
                .map(|(i, m)| match m.split_once(' ') {
                    Some((a, b)) => Ok((a.to_string(), b.to_string())),
                    None => Err(Error::metadata(
                        "tokenizer.ggml.merges",
                        format!("merge #{i} '{m}' is not two tokens separated by a space"),
                    )),
                })
                .collect::<Result<_>>()?,
        };
        let id = |key: &str| -> Result<Option<u32>> {
            match g.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|&x| x <= u32::MAX as u64)
                    .map(|x| Some(x as u32))
                    .ok_or_else(|| Error::metadata(key, format!("{v:?} is not a token id"))),
            }
        };
        Tokenizer::new(TokenizerSpec {
            tokens,
            types,
            merges,
            kind,
            ignore_merges: false,
            nfc: false,
            strip: Vec::new(),
            unk: id("tokenizer.ggml.unknown_token_id")?,
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            add_bos: g
                .get("tokenizer.ggml.add_bos_token")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }
    /// Whether `encode(.., true)` puts BOS first (GGUF `tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The id of a token given by its exact text (special tokens such as `<|im_end|>`).
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.specials.iter().find(|s| s.text == text).map(|s| s.id)
    }

    /// Whether `id` is a control token (BOS, EOS, chat markers), never printed as text.
    pub fn is_control(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&TokenType::Control)
    }

    /// Token ids of `text`. Special tokens written in the text are recognised. With
    /// `add_special`, BOS is put first when the model asks for it.
    pub fn encode(&self, text: &str, add_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let mut pieces = Vec::new();
        let mut symbols = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (plain, special) = self.next_special(rest);
            let first = plain.as_ptr() == text.as_ptr();
            match self.kind {
                TokenizerKind::ByteLevel(pre) => {
                    let normalized;
                    let plain = if self.nfc && !is_nfc_quick(plain.chars()).eq(&IsNormalized::Yes) {
                        normalized = plain.nfc().collect::<String>();
                        normalized.as_str()
                    } else {
                        plain
                    };
                    pieces.clear();
                    pre.split(plain, &mut pieces);
                    for &(a, b) in &pieces {
                        // ignore_merges: a piece that is itself a token needs no merging.
                        if !self.whole_words.is_empty() {
                            if let Some(&id) =
                                self.whole_words.get(&self.byte_level.encode(&plain[a..b]))
                            {
                                out.push(id);
                                continue;
                            }
                        }
                        symbols.clear();
                        // Characters missing from the vocabulary are dropped, as HF does
                        // with no unknown token; every byte-level vocabulary has all 256.
                        symbols.extend(plain[a..b].bytes().filter_map(|byte| {
                            self.char_ids.get(&self.byte_level.char_of(byte)).copied()
                        }));
                        bpe::merge(&symbols, &self.merges, &mut out);
                    }
                }
                TokenizerKind::SentencePiece { prepend } if !plain.is_empty() => {
                    symbols.clear();
                    // Metaspace's "first" scheme adds no marker to text that starts with a space.
                    let prefix = prepend == Prepend::Always
                        || (prepend == Prepend::First && first && !plain.starts_with(' '));
                    let spaced = plain.chars().map(|c| if c == ' ' { SPACE } else { c });
                    for c in prefix.then_some(SPACE).into_iter().chain(spaced) {
                        self.sp_symbols(c, &mut symbols);
                    }
                    bpe::merge(&symbols, &self.merges, &mut out);
                }
                TokenizerKind::SentencePiece { .. } => {}
            }
            match special {
                Some((id, end)) => {
                    out.push(id);
                    rest = &rest[end..];
                }
                None => rest = "",
            }
        }
        out
    }

    /// SentencePiece's initial symbol(s) for one character: its token, else its UTF-8
    /// bytes as `<0xNN>` tokens, else the unknown token (consecutive unknowns fused).
    fn sp_symbols(&self, c: char, symbols: &mut Vec<u32>) {
        if let Some(&id) = self.char_ids.get(&c) {
            symbols.push(id);
            return;
        }
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        if bytes.iter().all(|&b| self.byte_ids[b as usize].is_some()) {
            symbols.extend(bytes.iter().filter_map(|&b| self.byte_ids[b as usize]));
        } else if let Some(unk) = self.unk {
            if symbols.last() != Some(&unk) {
                symbols.push(unk);
            }
        }
    }

    /// Splits `text` at its first special token: the text before it (without the
    /// whitespace an `lstrip` token swallows), and the token's id with the bytes of `text`
    /// used up to its end (with the whitespace an `rstrip` token swallows).
    fn next_special<'t>(&self, text: &'t str) -> (&'t str, Option<(u32, usize)>) {
        if self.specials.is_empty() {
            return (text, None);
        }
        for (i, _) in text.char_indices() {
            let tail = &text[i..];
            if let Some(s) = self
                .specials
                .iter()
                .find(|s| tail.starts_with(s.text.as_str()))
            {
                let plain = if s.lstrip {
                    text[..i].trim_end()
                } else {
                    &text[..i]
                };
                let mut end = i + s.text.len();
                if s.rstrip {
                    end = text.len() - text[end..].trim_start().len();
                }
                return (plain, Some((s.id, end)));
            }
        }
        (text, None)
    }

    /// The raw bytes of a token (may be part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32) -> Result<&[u8]> {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .ok_or(Error::TokenOutOfRange {
                id,
                vocab_size: self.vocab_size(),
            })
    }

    /// Text of `ids`. Special tokens are written out (as Hugging Face's `decode` does by
    /// default); invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut d = StreamDecoder::new();
        let mut out = String::new();
        for &id in ids {
            out.push_str(&d.push(self, id)?);
        }
        out.push_str(&d.finish());
        Ok(out)
    }

    /// Whether this id is a `<0xNN>` byte-fallback token.
    pub(crate) fn is_byte_token(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&TokenType::Byte)
    }

    /// Whether this is a SentencePiece vocabulary (`▁` spaces, `<0xNN>` byte fallback).
    pub(crate) fn is_sentencepiece(&self) -> bool {
        matches!(self.kind, TokenizerKind::SentencePiece { .. })
    }

    /// Whether decoding drops the one space SentencePiece's prefix put in front.
    pub(crate) fn strips_leading_space(&self) -> bool {
        matches!(self.kind, TokenizerKind::SentencePiece { prepend } if prepend != Prepend::Never)
    }
}

/// The byte of a `<0xNN>` token.
fn byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests;
