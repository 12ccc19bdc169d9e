//! Tokenizers as a pipeline of stages, the way Hugging Face `tokenizers` composes them
//! (`TokenizerImpl`):
//!
//! 1. **Added tokens** (special and user-defined tokens written in the text) are cut out
//!    first, by one Aho-Corasick automaton (`added`).
//! 2. **Normalizer** (`normalize`): each stretch of text between them is rewritten: NFC,
//!    BERT's cleaning and lower-casing, SentencePiece's character map, spaces as `▁`, ...
//! 3. **Pre-tokenizer** (`pretokenize`): the text is cut into pieces by regexes (GPT-2,
//!    Llama 3, Qwen2, DeepSeek, ...; `ggml_pre` lists llama.cpp's), digits, punctuation or
//!    white space.
//! 4. **Model**: each piece becomes ids: BPE merges (`bpe`: byte-level or over characters
//!    with byte fallback), WordPiece (`wordpiece`) or Unigram (`unigram`).
//! 5. **Decoder**: ids back to text (`stream`), never half a UTF-8 character.
//!
//! Both file formats fill the same stages: GGUF metadata (`gguf`, mapped as llama.cpp's
//! `llama-vocab.cpp` does) and Hugging Face `tokenizer.json` (`hf`). `TokenizerSpec` is
//! what they hand over.

mod added;
pub mod bpe;
pub mod byte_level;
pub mod chat;
mod chat_guard;
mod ggml_pre;
mod gguf;
mod hf;
pub mod normalize;
pub mod pretokenize;
pub mod regex;
mod spm;
mod stream;
mod unigram;
mod wordpiece;

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::io::Gguf;
use added::{Added, Segment, Splitter};
use bpe::{Bpe, Merges};
use byte_level::ByteLevel;
pub use normalize::Normalizer;
pub use pretokenize::{PreTokenizer, Prepend};
pub use stream::StreamDecoder;
use unigram::{ByteTrie, Unigram};
use wordpiece::WordPiece;

/// Vocabulary limit: larger files are refused before anything is allocated per token.
pub(crate) const MAX_VOCAB: usize = 1 << 22;

/// The SentencePiece space marker, U+2581.
pub const SPACE: char = '\u{2581}';

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

    /// Whether the token is matched verbatim in input text and kept out of the model.
    fn is_added(self) -> bool {
        matches!(
            self,
            TokenType::Control | TokenType::UserDefined | TokenType::Unknown
        )
    }
}

/// The model stage and what it needs.
#[derive(Clone, Debug)]
pub enum ModelSpec {
    Bpe {
        /// Merge rules in rank order, each as `(left, right)` token strings.
        merges: Vec<(String, String)>,
        /// Token strings are in GPT-2's byte alphabet, and pieces are mapped to it.
        byte_level: bool,
        /// Chars without a token become their `<0xNN>` byte tokens.
        byte_fallback: bool,
        /// Consecutive unknown chars give one unknown token.
        fuse_unk: bool,
        /// A piece that is itself a token is taken whole (Llama 3).
        ignore_merges: bool,
        /// A piece of newlines that is a token is taken whole (Gemma 4, in llama.cpp).
        whole_newlines: bool,
    },
    WordPiece {
        /// Prefix of word continuations in token strings (`##`).
        prefix: String,
        /// Longer words become the unknown token.
        max_chars: usize,
    },
    Unigram {
        /// One log probability per token.
        scores: Vec<f32>,
    },
}

/// How ids become text again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecoderSpec {
    /// GPT-2's byte alphabet.
    ByteLevel,
    /// `▁` stands for a space and `<0xNN>` tokens for bytes (SentencePiece, Gemma 4,
    /// Unigram); `strip_first_space` drops the one space a prefix `▁` put in front.
    Metaspace { strip_first_space: bool },
    /// WordPiece: continuations (`##…`) glue to the piece before, other tokens follow a
    /// space.
    WordPiece,
}

/// How an added token is matched (Hugging Face `AddedToken`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddedFlags {
    pub lstrip: bool,
    pub rstrip: bool,
    pub single_word: bool,
    /// Matched in the normalized text rather than the raw text.
    pub normalized: bool,
}

/// Everything a tokenizer is made of, independent of the file it came from.
pub struct TokenizerSpec {
    /// Token strings as the model spells them (byte-level alphabet, `▁` pieces, `##`
    /// continuations; added tokens as plain text).
    pub tokens: Vec<String>,
    pub types: Vec<TokenType>,
    pub normalizer: Option<Normalizer>,
    pub pre_tokenizer: PreTokenizer,
    pub model: ModelSpec,
    pub decoder: DecoderSpec,
    /// Matching flags of added tokens (control, user-defined and unknown tokens are
    /// matched in the raw text without flags unless listed here).
    pub added: Vec<(u32, AddedFlags)>,
    pub unk: Option<u32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
    /// The token `encode(.., true)` puts last: EOS of Unigram embedding models, BERT's
    /// `[SEP]`.
    pub append: Option<u32>,
}

enum Model {
    Bpe(Box<Bpe>),
    WordPiece(WordPiece),
    Unigram(Unigram),
}

/// A tokenizer: its stages and vocabulary.
pub struct Tokenizer {
    /// Token string as stored → id (the first of duplicates).
    ids: HashMap<String, u32>,
    /// What each token decodes to.
    token_bytes: Vec<Vec<u8>>,
    types: Vec<TokenType>,
    /// Added tokens matched in the raw text, and those matched after normalization.
    added: Splitter,
    added_normalized: Splitter,
    normalizer: Option<Normalizer>,
    pre: PreTokenizer,
    model: Model,
    decoder: DecoderSpec,
    unk: Option<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    append: Option<u32>,
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
        for (name, id) in [
            ("bos", spec.bos),
            ("eos", spec.eos),
            ("unk", spec.unk),
            ("appended", spec.append),
        ] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(Error::Tokenizer(format!(
                    "{name} token id {id} is outside the vocabulary of {n}"
                )));
            }
        }
        if let Some(&(id, _)) = spec.added.iter().find(|a| a.0 as usize >= n) {
            return Err(Error::Tokenizer(format!(
                "added token id {id} is outside the vocabulary of {n}"
            )));
        }
        let mut types = spec.types;
        let tokens = spec.tokens;
        let mut ids = HashMap::with_capacity(n);
        for (i, t) in tokens.iter().enumerate() {
            ids.entry(t.clone()).or_insert(i as u32);
        }

        // Added tokens: by type, with the flags the spec gives.
        let flags: HashMap<u32, AddedFlags> = spec.added.iter().copied().collect();
        let (mut raw, mut normalized) = (Vec::new(), Vec::new());
        for (i, (t, ty)) in tokens.iter().zip(&types).enumerate() {
            let f = flags.get(&(i as u32));
            if t.is_empty() || !(ty.is_added() || f.is_some()) {
                continue;
            }
            let f = f.copied().unwrap_or_default();
            let a = Added {
                id: i as u32,
                text: t.clone(),
                lstrip: f.lstrip,
                rstrip: f.rstrip,
                single_word: f.single_word,
            };
            if f.normalized && spec.normalizer.is_some() {
                normalized.push(a);
            } else {
                raw.push(a);
            }
        }
        // Longest first, so that `special_id` and duplicates resolve as before.
        raw.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));

        let byte_level = ByteLevel::default();
        let (model, token_bytes) = match spec.model {
            ModelSpec::Bpe {
                merges,
                byte_level: bl,
                byte_fallback,
                fuse_unk,
                ignore_merges,
                whole_newlines,
            } => {
                let mut char_ids = HashMap::new();
                let mut byte_ids = Box::new([None; 256]);
                for (i, (t, ty)) in tokens.iter().zip(types.iter_mut()).enumerate() {
                    if ty.is_added() {
                        continue;
                    }
                    let mut cs = t.chars();
                    if let (Some(c), None) = (cs.next(), cs.next()) {
                        char_ids.entry(c).or_insert(i as u32);
                    }
                    if !bl {
                        if let Some(b) = byte_token(t) {
                            *ty = TokenType::Byte;
                            byte_ids[b as usize].get_or_insert(i as u32);
                        }
                    }
                }
                let mut table = Merges::with_capacity(merges.len());
                for (rank, (a, b)) in merges.iter().enumerate() {
                    let id_of = |s: &str| ids.get(s).copied();
                    let merged = format!("{a}{b}");
                    match (id_of(a), id_of(b), id_of(&merged)) {
                        (Some(l), Some(r), Some(m)) => {
                            table.entry((l, r)).or_insert((rank as u32, m));
                        }
                        _ => {
                            return Err(Error::Tokenizer(format!(
                            "merge #{rank} '{a} {b}' names a token that is not in the vocabulary"
                        )))
                        }
                    }
                }
                let bytes = decoded_bytes(&tokens, &types, spec.decoder, &byte_level);
                let model = Model::Bpe(Box::new(Bpe {
                    merges: table,
                    char_ids,
                    byte_level: bl.then(ByteLevel::default),
                    byte_ids: byte_fallback.then_some(byte_ids),
                    unk: spec.unk,
                    fuse_unk,
                    ignore_merges,
                    whole_newlines,
                }));
                (model, bytes)
            }
            ModelSpec::WordPiece { prefix, max_chars } => {
                let unk = spec
                    .unk
                    .ok_or_else(|| Error::Tokenizer("WordPiece needs an unknown token".into()))?;
                let max_len = tokens.iter().map(String::len).max().unwrap_or(0);
                let bytes = decoded_bytes(&tokens, &types, spec.decoder, &byte_level)
                    .into_iter()
                    .zip(&tokens)
                    .map(|(b, t)| match t.strip_prefix(prefix.as_str()) {
                        Some(rest) if !prefix.is_empty() => rest.as_bytes().to_vec(),
                        _ => [b" ".as_slice(), &b].concat(),
                    })
                    .collect();
                let model = Model::WordPiece(WordPiece {
                    ids: ids.clone(),
                    unk,
                    prefix,
                    max_chars,
                    max_len,
                });
                (model, bytes)
            }
            ModelSpec::Unigram { scores } => {
                if scores.len() != n {
                    return Err(Error::Tokenizer(format!(
                        "{} scores for {n} tokens",
                        scores.len()
                    )));
                }
                if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
                    return Err(Error::Tokenizer(format!(
                        "score of token {i} is {}, not a number",
                        scores[i]
                    )));
                }
                let unk = spec
                    .unk
                    .ok_or_else(|| Error::Tokenizer("Unigram needs an unknown token".into()))?;
                for (t, ty) in tokens.iter().zip(types.iter_mut()) {
                    if *ty == TokenType::Normal && byte_token(t).is_some() {
                        *ty = TokenType::Byte;
                    }
                }
                let mut min = f32::INFINITY;
                let mut entries = Vec::new();
                let mut scores = scores;
                for (i, (t, ty)) in tokens.iter().zip(&types).enumerate() {
                    match ty {
                        TokenType::Normal => min = min.min(scores[i]),
                        // User-defined pieces win over learned ones (llama.cpp, as
                        // SentencePiece scores them).
                        TokenType::UserDefined => scores[i] = 0.0,
                        _ => {}
                    }
                    if matches!(
                        ty,
                        TokenType::Normal | TokenType::UserDefined | TokenType::Unused
                    ) {
                        entries.push((t.as_bytes(), i as u32));
                    }
                }
                let bytes = decoded_bytes(&tokens, &types, spec.decoder, &byte_level);
                let model = Model::Unigram(Unigram {
                    trie: ByteTrie::new(entries),
                    scores,
                    unk,
                    unk_score: if min.is_finite() {
                        min as f64 - 10.0
                    } else {
                        -10.0
                    },
                });
                (model, bytes)
            }
        };
        Ok(Tokenizer {
            ids,
            token_bytes,
            types,
            added: Splitter::new(raw),
            added_normalized: Splitter::new(normalized),
            normalizer: spec.normalizer,
            pre: spec.pre_tokenizer,
            model,
            decoder: spec.decoder,
            unk: spec.unk,
            bos: spec.bos,
            eos: spec.eos,
            add_bos: spec.add_bos,
            append: spec.append,
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

    /// Reads the tokenizer from GGUF metadata (`tokenizer.ggml.*`). A vocabulary-only file
    /// (no tensors, as llama.cpp's `ggml-vocab-*.gguf`) is enough.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        Tokenizer::new(gguf::spec_from_gguf(g)?)
    }

    /// Reads the tokenizer of a GGUF file (a model, or a vocabulary alone).
    ///
    /// ```no_run
    /// let tok = ingot::Tokenizer::from_gguf_file("ggml-vocab-llama-bpe.gguf")?;
    /// let ids = tok.encode("Hello world", false);
    /// assert_eq!(tok.decode(&ids)?, "Hello world");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn from_gguf_file(path: impl AsRef<std::path::Path>) -> Result<Tokenizer> {
        Tokenizer::from_gguf(&Gguf::open(path.as_ref())?)
    }

    /// Names BOS and EOS by their text, as a Hugging Face `tokenizer_config.json` does
    /// (`tokenizer.json` alone does not say which tokens they are). A name that is not a
    /// token of the vocabulary is ignored; whether BOS is added stays as the file says.
    pub fn with_named_specials(mut self, bos: Option<&str>, eos: Option<&str>) -> Tokenizer {
        let id = |t: Option<&str>| t.and_then(|t| self.special_id(t).or(self.token_id(t)));
        let (b, e) = (id(bos), id(eos));
        self.bos = b.or(self.bos);
        self.eos = e.or(self.eos);
        self
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
    pub fn unk(&self) -> Option<u32> {
        self.unk
    }
    /// Whether `encode(.., true)` puts BOS first (GGUF `tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The id of an added token given by its exact text (special tokens such as
    /// `<|im_end|>`).
    pub fn special_id(&self, text: &str) -> Option<u32> {
        self.added
            .find(text)
            .or_else(|| self.added_normalized.find(text))
            .map(|a| a.id)
    }

    /// The id of a token given as the vocabulary spells it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Whether `id` is a control token (BOS, EOS, chat markers), never printed as text.
    pub fn is_control(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&TokenType::Control)
    }

    /// Token ids of `text`. Added and special tokens written in the text are recognised.
    /// With `add_special`, BOS is put first (and EOS or `[SEP]` last) when the model asks
    /// for them.
    pub fn encode(&self, text: &str, add_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let mut segments = Vec::new();
        self.added.split(text, &mut segments);
        let mut scratch = Scratch::default();
        for (i, seg) in segments.iter().enumerate() {
            match *seg {
                Segment::Token(id) => out.push(id),
                Segment::Text(t) => {
                    let first = i == 0;
                    let normalized = match &self.normalizer {
                        Some(n) => n.apply(t),
                        None => t.into(),
                    };
                    if self.added_normalized.is_empty() {
                        self.encode_text(&normalized, first, &mut scratch, &mut out);
                        continue;
                    }
                    let mut inner = Vec::new();
                    self.added_normalized.split(&normalized, &mut inner);
                    for (j, s) in inner.into_iter().enumerate() {
                        match s {
                            Segment::Token(id) => out.push(id),
                            Segment::Text(t) => {
                                self.encode_text(t, first && j == 0, &mut scratch, &mut out)
                            }
                        }
                    }
                }
            }
        }
        if add_special {
            out.extend(self.append);
        }
        out
    }

    /// Pre-tokenizes normalized text and runs the model on each piece.
    fn encode_text(&self, text: &str, first: bool, s: &mut Scratch, out: &mut Vec<u32>) {
        let text = self.pre.prepare(text, first);
        s.pieces.clear();
        self.pre.split(&text, &mut s.pieces);
        for &(a, b) in &s.pieces {
            let piece = &text[a..b];
            match &self.model {
                Model::Bpe(bpe) => bpe.encode(piece, &self.ids, &mut s.symbols, out),
                Model::WordPiece(wp) => wp.encode(piece, &mut s.key, out),
                Model::Unigram(u) => u.encode(piece, out),
            }
        }
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

    /// Whether tokens decode piece by piece with byte-token runs (everything but
    /// byte-level BPE).
    pub(crate) fn is_sentencepiece(&self) -> bool {
        self.decoder != DecoderSpec::ByteLevel
    }

    /// Whether decoding drops the first space of the output.
    pub(crate) fn strips_leading_space(&self) -> bool {
        matches!(
            self.decoder,
            DecoderSpec::Metaspace {
                strip_first_space: true
            } | DecoderSpec::WordPiece
        )
    }
}

/// Buffers reused across the pieces of one `encode`.
#[derive(Default)]
struct Scratch {
    pieces: Vec<(usize, usize)>,
    symbols: Vec<u32>,
    key: String,
}

/// What each token decodes to under `decoder` (WordPiece's spaces are added by the
/// caller).
fn decoded_bytes(
    tokens: &[String],
    types: &[TokenType],
    decoder: DecoderSpec,
    byte_level: &ByteLevel,
) -> Vec<Vec<u8>> {
    tokens
        .iter()
        .zip(types)
        .map(|(t, ty)| {
            if ty.is_added() {
                return t.as_bytes().to_vec();
            }
            match decoder {
                // Tokens outside the byte-level alphabet (rare; e.g. unused slots) decode
                // to their UTF-8 text.
                DecoderSpec::ByteLevel => byte_level
                    .decode(t)
                    .unwrap_or_else(|| t.as_bytes().to_vec()),
                DecoderSpec::Metaspace { .. } => match (ty, byte_token(t)) {
                    (TokenType::Byte, Some(b)) => vec![b],
                    _ => t.replace(SPACE, " ").into_bytes(),
                },
                DecoderSpec::WordPiece => t.as_bytes().to_vec(),
            }
        })
        .collect()
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
