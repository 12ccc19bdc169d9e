//! Pre-tokenizers: cut normalized text into the pieces the model encodes one by one.
//!
//! A pre-tokenizer here is an optional text transform at the front (SentencePiece's `▁`
//! for spaces, or ByteLevel's prefix space) followed by splits applied in order, each one
//! to every piece the previous one left. That is the shape of Hugging Face's `Sequence` of
//! `Split`/`Digits`/`Punctuation`/`ByteLevel` pre-tokenizers and of llama.cpp's per-`pre`
//! regex lists (`src/tokenizer/ggml_pre.rs`) alike. A split finds the matches of a pattern
//! in a piece and keeps, drops or glues them to their neighbours (HF's
//! `SplitDelimiterBehavior`).

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::regex::{Haystack, Regex};
use super::SPACE;
use crate::error::Result;

/// The GPT-2 pattern (HF `ByteLevel` with `use_regex`, llama.cpp's `gpt-2`).
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's Split pattern.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama 3's with single digits.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// What a split does with the text it matched (HF `SplitDelimiterBehavior`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Matches are dropped.
    Removed,
    /// Every match and every gap is a piece.
    Isolated,
    /// A match is glued to the gap before it.
    MergedWithPrevious,
    /// A match is glued to the gap after it.
    MergedWithNext,
    /// Adjacent matches form one piece.
    Contiguous,
}

/// Single characters a split can match without a regex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharSet {
    /// Unicode white space.
    Space,
    /// Numeric characters (`char::is_numeric`: general categories N*; HF `Digits`).
    Numeric,
    /// ASCII punctuation or Unicode P* (HF `BertPreTokenizer` and `Punctuation`).
    Punctuation,
    /// One given char (SentencePiece's `▁`).
    Exactly(char),
}

impl CharSet {
    fn has(self, c: char) -> bool {
        match self {
            CharSet::Space => c.is_whitespace(),
            CharSet::Numeric => c.is_numeric(),
            CharSet::Punctuation => {
                c.is_ascii_punctuation()
                    || c.general_category_group() == GeneralCategoryGroup::Punctuation
            }
            CharSet::Exactly(x) => c == x,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Pattern {
    Regex(Regex),
    Chars(CharSet),
}

/// One split of every piece.
#[derive(Clone, Debug)]
pub struct Split {
    pub pattern: Pattern,
    pub behavior: Behavior,
    /// The pieces between matches play the part of the matches, and the other way round.
    pub invert: bool,
}

impl Split {
    pub fn regex(pattern: &str, behavior: Behavior) -> Result<Split> {
        Ok(Split {
            pattern: Pattern::Regex(Regex::new(pattern)?),
            behavior,
            invert: false,
        })
    }

    pub fn chars(set: CharSet, behavior: Behavior) -> Split {
        Split {
            pattern: Pattern::Chars(set),
            behavior,
            invert: false,
        }
    }
}

/// Where SentencePiece puts its `▁` prefix (HF `Metaspace` `prepend_scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepend {
    Never,
    /// Only before the first text segment (not after an added token).
    First,
    Always,
}

/// A transform of the whole segment before it is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    None,
    /// HF ByteLevel `add_prefix_space`: a space in front unless there is one.
    Space,
    /// HF `Metaspace`: spaces become `▁`, and a `▁` is put in front (as `prepend` says)
    /// unless the text starts with one.
    Metaspace(Prepend),
}

/// The whole pre-tokenizer: a front transform, then splits in order.
#[derive(Clone, Debug)]
pub struct PreTokenizer {
    pub prefix: Prefix,
    pub splits: Vec<Split>,
}

impl PreTokenizer {
    /// No splitting: each segment is one piece.
    pub fn none() -> PreTokenizer {
        PreTokenizer {
            prefix: Prefix::None,
            splits: Vec::new(),
        }
    }

    /// One regex with isolated matches (HF `Split` as Llama 3 and Qwen2 use it).
    pub fn regex(pattern: &str) -> Result<PreTokenizer> {
        Ok(PreTokenizer {
            prefix: Prefix::None,
            splits: vec![Split::regex(pattern, Behavior::Isolated)?],
        })
    }

    /// Whether some split tests the Han script.
    fn uses_han(&self) -> bool {
        self.splits
            .iter()
            .any(|s| matches!(&s.pattern, Pattern::Regex(r) if r.uses_han()))
    }

    /// The segment after the front transform (`first`: no added token precedes it).
    pub fn prepare<'t>(&self, text: &'t str, first: bool) -> std::borrow::Cow<'t, str> {
        match self.prefix {
            Prefix::None => text.into(),
            Prefix::Space if !text.is_empty() && !text.starts_with(' ') => {
                format!(" {text}").into()
            }
            Prefix::Space => text.into(),
            Prefix::Metaspace(prepend) => {
                let mut s = String::with_capacity(text.len() + 3);
                let add = match prepend {
                    Prepend::Always => true,
                    Prepend::First => first,
                    Prepend::Never => false,
                };
                if add && !text.is_empty() && !text.starts_with(' ') {
                    s.push(SPACE);
                }
                s.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));
                s.into()
            }
        }
    }

    /// Appends the pieces of `text` (already `prepare`d) to `out`, as byte ranges.
    pub fn split(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        if text.is_empty() {
            return;
        }
        if self.splits.is_empty() {
            out.push((0, text.len()));
            return;
        }
        let hay = Haystack::new(text, self.uses_han());
        let mut pieces = vec![(0, hay.len())];
        let mut next = Vec::new();
        let mut matches = Vec::new();
        for split in &self.splits {
            next.clear();
            for &(s, e) in &pieces {
                matches.clear();
                match &split.pattern {
                    Pattern::Regex(re) => re.find_iter_in(&hay, s, e, &mut matches),
                    Pattern::Chars(set) => {
                        for i in s..e {
                            if set.has(hay.char(i)) {
                                matches.push((i, i + 1));
                            }
                        }
                    }
                }
                apply(split, s, e, &matches, &mut next);
            }
            std::mem::swap(&mut pieces, &mut next);
        }
        out.extend(
            pieces
                .into_iter()
                .filter(|&(s, e)| s < e)
                .map(|(s, e)| (hay.byte(s), hay.byte(e))),
        );
    }
}

/// The pieces of `[s, e)` given the matches in it, as `split.behavior` says.
fn apply(
    split: &Split,
    s: usize,
    e: usize,
    matches: &[(usize, usize)],
    out: &mut Vec<(usize, usize)>,
) {
    // Every stretch of the piece, in order, with whether it counts as a match.
    let mut parts: Vec<((usize, usize), bool)> = Vec::with_capacity(2 * matches.len() + 1);
    let mut prev = s;
    for &(ms, me) in matches {
        if prev != ms {
            parts.push(((prev, ms), split.invert));
        }
        parts.push(((ms, me), !split.invert));
        prev = me;
    }
    if prev != e || parts.is_empty() {
        parts.push(((prev, e), split.invert));
    }
    match split.behavior {
        Behavior::Isolated => out.extend(parts.iter().map(|p| p.0)),
        Behavior::Removed => out.extend(parts.iter().filter(|p| !p.1).map(|p| p.0)),
        Behavior::Contiguous => {
            let start = out.len();
            let mut prev_match = None;
            for &((a, b), m) in &parts {
                if prev_match == Some(m) && out.len() > start {
                    out.last_mut().expect("a piece").1 = b;
                } else {
                    out.push((a, b));
                }
                prev_match = Some(m);
            }
        }
        Behavior::MergedWithPrevious => {
            let start = out.len();
            let mut prev_match = false;
            for &((a, b), m) in &parts {
                if m && !prev_match && out.len() > start {
                    out.last_mut().expect("a piece").1 = b;
                } else {
                    out.push((a, b));
                }
                prev_match = m;
            }
        }
        Behavior::MergedWithNext => {
            let start = out.len();
            let mut prev_match = false;
            for &((a, b), m) in parts.iter().rev() {
                if m && !prev_match && out.len() > start {
                    out.last_mut().expect("a piece").0 = a;
                } else {
                    out.push((a, b));
                }
                prev_match = m;
            }
            out[start..].reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: &PreTokenizer, s: &str) -> Vec<String> {
        let text = p.prepare(s, true);
        let mut v = Vec::new();
        p.split(&text, &mut v);
        v.iter().map(|&(a, b)| text[a..b].to_string()).collect()
    }

    fn one(split: Split) -> PreTokenizer {
        PreTokenizer {
            prefix: Prefix::None,
            splits: vec![split],
        }
    }

    #[test]
    fn gpt2_regex_cases() {
        let g = PreTokenizer::regex(GPT2_PATTERN).unwrap();
        assert_eq!(pieces(&g, "Hello world"), ["Hello", " world"]);
        assert_eq!(
            pieces(&g, "I'm here, they'll"),
            ["I", "'m", " here", ",", " they", "'ll"]
        );
        assert_eq!(pieces(&g, "a  b"), ["a", " ", " b"]);
        assert_eq!(pieces(&g, "a \n\n b  "), ["a", " \n\n", " b", "  "]);
        assert_eq!(pieces(&g, "x\n\ny"), ["x", "\n", "\n", "y"]);
        assert_eq!(pieces(&g, "abc123 ?!x"), ["abc", "123", " ?!", "x"]);
        assert_eq!(pieces(&g, "'x 'S"), ["'", "x", " '", "S"]);
        assert_eq!(pieces(&g, "naïve café"), ["naïve", " café"]);
        assert!(pieces(&g, "").is_empty());
    }

    #[test]
    fn digits_then_gpt2() {
        let s = PreTokenizer {
            prefix: Prefix::None,
            splits: vec![
                Split::chars(CharSet::Numeric, Behavior::Isolated),
                Split::regex(GPT2_PATTERN, Behavior::Isolated).unwrap(),
            ],
        };
        assert_eq!(
            pieces(&s, "year 2024!"),
            ["year", " ", "2", "0", "2", "4", "!"]
        );
        assert_eq!(pieces(&s, "3.14"), ["3", ".", "1", "4"]);
    }

    /// The behaviours, each checked against HF `tokenizers` (`pre_tokenize_str`) on the
    /// same inputs.
    #[test]
    fn split_behaviours_match_hf() {
        let cases: [(Behavior, bool, [&[&str]; 2]); 10] = [
            (Behavior::Removed, false, [&["a", "b", "c"], &["x"]]),
            (Behavior::Removed, true, [&["-", "-", "-", "-"], &["-"]]),
            (
                Behavior::Isolated,
                false,
                [&["a", "-", "-", "b", "-", "c", "-"], &["-", "x"]],
            ),
            (
                Behavior::Isolated,
                true,
                [&["a", "-", "-", "b", "-", "c", "-"], &["-", "x"]],
            ),
            (
                Behavior::MergedWithPrevious,
                false,
                [&["a-", "-", "b-", "c-"], &["-", "x"]],
            ),
            (
                Behavior::MergedWithPrevious,
                true,
                [&["a", "-", "-b", "-c", "-"], &["-x"]],
            ),
            (
                Behavior::MergedWithNext,
                false,
                [&["a", "-", "-b", "-c", "-"], &["-x"]],
            ),
            (
                Behavior::MergedWithNext,
                true,
                [&["a-", "-", "b-", "c-"], &["-", "x"]],
            ),
            (
                Behavior::Contiguous,
                false,
                [&["a", "--", "b", "-", "c", "-"], &["-", "x"]],
            ),
            (
                Behavior::Contiguous,
                true,
                [&["a", "--", "b", "-", "c", "-"], &["-", "x"]],
            ),
        ];
        for (behavior, invert, want) in cases {
            let mut split = Split::regex("-", behavior).unwrap();
            split.invert = invert;
            let p = one(split);
            assert_eq!(pieces(&p, "a--b-c-"), want[0], "{behavior:?} {invert}");
            assert_eq!(pieces(&p, "-x"), want[1], "{behavior:?} {invert}");
        }
        let p = one(Split::regex(r"(?=(\d{3})+(?!\d))", Behavior::Isolated).unwrap());
        assert_eq!(pieces(&p, "1234567 12"), ["1", "234", "567 12"]);
    }

    #[test]
    fn metaspace_and_bert() {
        let m = PreTokenizer {
            prefix: Prefix::Metaspace(Prepend::First),
            splits: vec![Split::chars(
                CharSet::Exactly(SPACE),
                Behavior::MergedWithNext,
            )],
        };
        assert_eq!(pieces(&m, " hello  world"), ["▁hello", "▁", "▁world"]);
        assert_eq!(pieces(&m, "hi"), ["▁hi"]);
        let bert = PreTokenizer {
            prefix: Prefix::None,
            splits: vec![
                Split::chars(CharSet::Space, Behavior::Removed),
                Split::chars(CharSet::Punctuation, Behavior::Isolated),
            ],
        };
        assert_eq!(
            pieces(&bert, "Hello, world!! $5+3 été"),
            ["Hello", ",", "world", "!", "!", "$", "5", "+", "3", "été"]
        );
    }
}
