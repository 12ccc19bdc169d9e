//! Normalizers: the first stage, text to text, run on each stretch of text between added
//! tokens (Hugging Face `normalizers`, SentencePiece's `normalizer_spec`).

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::regex::{Haystack, Regex};
use super::SPACE;

/// One normalization step.
#[derive(Clone, Debug)]
pub enum Normalizer {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    /// Each char to its lower case (char by char, as HF does: no final-sigma rule).
    Lowercase,
    /// Drops nonspacing marks (Mn); HF puts an NFD before it.
    StripAccents,
    Strip {
        left: bool,
        right: bool,
    },
    /// Every match of `pattern` becomes `content`.
    Replace {
        pattern: Regex,
        content: String,
    },
    /// `prepend` in front of non-empty text.
    Prepend(String),
    /// BERT's: control chars dropped and white space made a space (`clean_text`), a space
    /// on each side of CJK ideographs, accents stripped, lower case.
    Bert {
        clean_text: bool,
        chinese_chars: bool,
        strip_accents: bool,
        lowercase: bool,
    },
    /// SentencePiece's normalizer as llama.cpp runs it for Unigram vocabularies: the
    /// precompiled character map (longest match), then white space: runs merged
    /// (`remove_extra_whitespaces`), a space in front (`add_space_prefix`), spaces written
    /// `▁` (`escape_whitespaces`).
    SentencePiece {
        charsmap: Option<CharsMap>,
        add_space_prefix: bool,
        remove_extra_whitespaces: bool,
        escape_whitespaces: bool,
    },
    Sequence(Vec<Normalizer>),
}

impl Normalizer {
    /// The normalized text.
    pub fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self {
            Normalizer::Nfc => {
                if is_nfc_quick(text.chars()) == IsNormalized::Yes {
                    text.into()
                } else {
                    text.nfc().collect::<String>().into()
                }
            }
            Normalizer::Nfd => text.nfd().collect::<String>().into(),
            Normalizer::Nfkc => text.nfkc().collect::<String>().into(),
            Normalizer::Nfkd => text.nfkd().collect::<String>().into(),
            Normalizer::Lowercase => text
                .chars()
                .flat_map(char::to_lowercase)
                .collect::<String>()
                .into(),
            Normalizer::StripAccents => text
                .chars()
                .filter(|&c| c.general_category() != GeneralCategory::NonspacingMark)
                .collect::<String>()
                .into(),
            Normalizer::Strip { left, right } => {
                let mut t = text;
                if *left {
                    t = t.trim_start();
                }
                if *right {
                    t = t.trim_end();
                }
                t.into()
            }
            Normalizer::Replace { pattern, content } => {
                let hay = Haystack::new(text, pattern.uses_han());
                let mut m = Vec::new();
                pattern.find_iter(&hay, &mut m);
                if m.is_empty() {
                    return text.into();
                }
                let mut out = String::with_capacity(text.len());
                let mut prev = 0;
                for (s, e) in m {
                    out.push_str(&text[prev..hay.byte(s)]);
                    out.push_str(content);
                    prev = hay.byte(e);
                }
                out.push_str(&text[prev..]);
                out.into()
            }
            Normalizer::Prepend(p) if !text.is_empty() => format!("{p}{text}").into(),
            Normalizer::Prepend(_) => text.into(),
            Normalizer::Bert {
                clean_text,
                chinese_chars,
                strip_accents,
                lowercase,
            } => {
                let mut out = String::with_capacity(text.len());
                let chars: Box<dyn Iterator<Item = char>> = if *strip_accents {
                    Box::new(text.nfd())
                } else {
                    Box::new(text.chars())
                };
                for c in chars {
                    if *clean_text {
                        if c == '\0' || c == '\u{FFFD}' || bert_control(c) {
                            continue;
                        }
                        if bert_space(c) {
                            out.push(' ');
                            continue;
                        }
                    }
                    if *strip_accents && c.general_category() == GeneralCategory::NonspacingMark {
                        continue;
                    }
                    if *chinese_chars && is_chinese_char(c) {
                        out.push(' ');
                        out.push(c);
                        out.push(' ');
                        continue;
                    }
                    if *lowercase {
                        out.extend(c.to_lowercase());
                    } else {
                        out.push(c);
                    }
                }
                out.into()
            }
            Normalizer::SentencePiece {
                charsmap,
                add_space_prefix,
                remove_extra_whitespaces,
                escape_whitespaces,
            } => sentencepiece(
                text,
                charsmap.as_ref(),
                *add_space_prefix,
                *remove_extra_whitespaces,
                *escape_whitespaces,
            )
            .into(),
            Normalizer::Sequence(steps) => {
                let mut cur: Cow<'t, str> = text.into();
                for s in steps {
                    cur = match s.apply(&cur) {
                        Cow::Borrowed(_) => cur,
                        Cow::Owned(o) => o.into(),
                    };
                }
                cur
            }
        }
    }
}

/// BERT's control characters: Cc, Cf and Co except tab, newline and carriage return
/// (unassigned code points, Cn, are kept: HF's tables do not list them).
fn bert_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r')
        && matches!(
            c.general_category(),
            GeneralCategory::Control | GeneralCategory::Format | GeneralCategory::PrivateUse
        )
}

/// BERT's white space: tab, newline, carriage return, and Unicode white space.
fn bert_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// The CJK ideograph blocks BERT isolates (HF's table, including its 0x2B920 start).
fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// SentencePiece's precompiled normalization rules (`precompiled_charsmap`): a trie over
/// UTF-8 bytes stored as an XOR-compressed compact double array (Kanda 2018), whose leaves
/// point into a block of NUL-terminated replacement strings.
///
/// Layout: a little-endian u32 with the trie's size in bytes, the trie (u32 entries: BASE
/// in bits 10..31 shifted left by 8 when bit 9 is set, LCHECK in bits 0..8 with bit 31,
/// LEAF in bit 8; a leaf's value is its entry without bit 31), then the strings.
#[derive(Clone, Debug)]
pub struct CharsMap {
    trie: Vec<u32>,
    strings: Vec<u8>,
}

impl CharsMap {
    /// Parses the blob; `None` when its header does not fit.
    pub fn new(blob: &[u8]) -> Option<CharsMap> {
        let size = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        if !size.is_multiple_of(4) || 4 + size > blob.len() {
            return None;
        }
        let trie = blob[4..4 + size]
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")))
            .collect();
        Some(CharsMap {
            trie,
            strings: blob[4 + size..].to_vec(),
        })
    }

    fn node(&self, i: usize) -> Option<u32> {
        self.trie.get(i).copied()
    }

    /// The longest rule matching the start of `input`: bytes consumed and the replacement.
    /// A rule pointing outside the blob is ignored.
    pub fn longest_prefix(&self, input: &[u8]) -> Option<(usize, &[u8])> {
        let base = |n: u32| (n >> 10) << ((n & (1 << 9)) >> 6);
        let mut index = base(self.node(0)?) as usize;
        let mut best = None;
        for (i, &c) in input.iter().enumerate() {
            if c == 0 {
                break;
            }
            index ^= c as usize;
            let Some(n) = self.node(index) else { break };
            if n & ((1 << 31) | 0xFF) != c as u32 {
                break;
            }
            let leaf = (n >> 8) & 1 == 1;
            index ^= base(n) as usize;
            if leaf {
                let Some(v) = self.node(index) else { break };
                let start = (v & ((1 << 31) - 1)) as usize;
                let rest = self.strings.get(start..).unwrap_or(&[]);
                if let Some(len) = rest.iter().position(|&b| b == 0) {
                    best = Some((i + 1, &rest[..len]));
                }
            }
        }
        best
    }
}

/// llama.cpp's `llm_tokenizer_ugm_session::normalize` (SentencePiece's normalizer).
fn sentencepiece(
    text: &str,
    charsmap: Option<&CharsMap>,
    add_space_prefix: bool,
    merge_spaces: bool,
    escape: bool,
) -> String {
    let space = if escape { SPACE } else { ' ' };
    let mut out = String::with_capacity(text.len() + 8);
    let mut bytes_out: Vec<u8> = Vec::with_capacity(text.len() + 8);
    let mut prepended = false;
    let mut in_word = false;
    let input = text.as_bytes();
    let mut at = 0;
    let mut push = |chunk: &[u8], bytes_out: &mut Vec<u8>| {
        for &b in chunk {
            if b != b' ' {
                if !in_word {
                    in_word = true;
                    if (add_space_prefix && !prepended) || merge_spaces {
                        let mut buf = [0; 4];
                        bytes_out.extend_from_slice(space.encode_utf8(&mut buf).as_bytes());
                        prepended = true;
                    }
                }
                bytes_out.push(b);
            } else {
                in_word = false;
                if !merge_spaces {
                    let mut buf = [0; 4];
                    bytes_out.extend_from_slice(space.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    };
    while at < input.len() {
        if let Some((n, rep)) = charsmap.and_then(|m| m.longest_prefix(&input[at..])) {
            push(rep, &mut bytes_out);
            at += n;
            continue;
        }
        let len = text[at..].chars().next().map_or(1, char::len_utf8);
        push(&input[at..at + len], &mut bytes_out);
        at += len;
    }
    // Replacement strings are UTF-8 in a well-formed map; anything else becomes U+FFFD.
    out.push_str(&String::from_utf8_lossy(&bytes_out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bert_normalizer() {
        let b = Normalizer::Bert {
            clean_text: true,
            chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        };
        assert_eq!(
            b.apply("Héllo\tWörld\u{200B}中文\0!"),
            "hello world 中  文 !"
        );
    }

    #[test]
    fn sentencepiece_whitespace() {
        let n = |prefix, merge| Normalizer::SentencePiece {
            charsmap: None,
            add_space_prefix: prefix,
            remove_extra_whitespaces: merge,
            escape_whitespaces: true,
        };
        assert_eq!(n(true, true).apply("  a   b  "), "▁a▁b");
        assert_eq!(n(true, false).apply("a  b "), "▁a▁▁b▁");
        assert_eq!(n(false, false).apply(" a"), "▁a");
    }

    #[test]
    fn charsmap_rejects_bad_blobs() {
        assert!(CharsMap::new(&[]).is_none());
        assert!(CharsMap::new(&[8, 0, 0, 0, 1, 2]).is_none());
        // A trie whose root points nowhere matches nothing and does not panic.
        let m = CharsMap::new(&[4, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
        assert!(m.longest_prefix(b"abc").is_none());
    }
}
