//! Pre-tokenizers: split text into the pieces BPE runs on.
//!
//! The GPT-2 split is the regex
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
//! implemented by hand here (Rust's `regex` crate has no look-ahead). Alternatives are
//! tried in order at each position, exactly as a backtracking engine (Oniguruma, used by
//! Hugging Face `tokenizers`) tries them. Letter and number classes are Unicode general
//! categories L* and N*, from the `unicode-properties` tables.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Which pre-tokenizer a vocabulary was trained with (GGUF `tokenizer.ggml.pre`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// The GPT-2 regex alone (`gpt-2`).
    Gpt2,
    /// SmolLM / StarCoder: every numeric char is its own piece, then the GPT-2 regex
    /// (Hugging Face `Sequence[Digits(individual_digits=True), ByteLevel]`).
    SmolLm,
    /// Llama 3's regex (`llama-bpe` in GGUF), numbers in runs of up to 3 digits:
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    Llama3,
    /// Qwen2's regex: Llama 3's with single digits (`\p{N}` for `\p{N}{1,3}`).
    Qwen2,
}

/// The Split regexes of the pre-tokenizers above, as they appear in tokenizer.json.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl PreTokenizer {
    /// Appends the pieces of `text` to `out`, as byte ranges of `text`.
    pub fn split(self, text: &str, out: &mut Vec<(usize, usize)>) {
        match self {
            PreTokenizer::Gpt2 => gpt2_split(text, 0, out),
            PreTokenizer::SmolLm => {
                let mut start = 0;
                for (i, c) in text.char_indices() {
                    if c.is_numeric() {
                        gpt2_split(&text[start..i], start, out);
                        out.push((i, i + c.len_utf8()));
                        start = i + c.len_utf8();
                    }
                }
                gpt2_split(&text[start..], start, out);
            }
            PreTokenizer::Llama3 => llama3_split(text, 3, out),
            PreTokenizer::Qwen2 => llama3_split(text, 1, out),
        }
    }
}

/// Splits with the Llama 3 regex (`max_digits` = 3) or Qwen2's (1); alternatives are
/// tried in order at each position, as a backtracking engine does.
fn llama3_split(text: &str, max_digits: usize, out: &mut Vec<(usize, usize)>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let ch = |i: usize| chars.get(i).map(|&(_, c)| c);
    let cls = |i: usize| ch(i).map(class);
    let newline = |c: char| c == '\r' || c == '\n';
    let run = |mut i: usize, c: Class| {
        while cls(i) == Some(c) {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        let end = 'm: {
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c == '\'' {
                let lower = |k: usize| ch(i + k).map(|c| c.to_ascii_lowercase());
                match (lower(1), lower(2)) {
                    (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => {
                        break 'm i + 3
                    }
                    (Some('s' | 't' | 'm' | 'd'), _) => break 'm i + 2,
                    _ => {}
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if cls(i) == Some(Class::Letter) {
                break 'm run(i, Class::Letter);
            }
            if !newline(c) && cls(i) != Some(Class::Number) && cls(i + 1) == Some(Class::Letter) {
                break 'm run(i + 1, Class::Letter);
            }
            // \p{N}{1,max_digits}
            if cls(i) == Some(Class::Number) {
                break 'm (i..(i + max_digits).min(n))
                    .take_while(|&k| cls(k) == Some(Class::Number))
                    .last()
                    .unwrap()
                    + 1;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let other_from = if c == ' ' { i + 1 } else { i };
            if cls(other_from) == Some(Class::Other) {
                let mut e = run(other_from, Class::Other);
                while ch(e).is_some_and(newline) {
                    e += 1;
                }
                break 'm e;
            }
            // \s*[\r\n]+: through the last newline of the whitespace run, if it has one.
            let ws_end = run(i, Class::Space);
            if let Some(last_nl) = (i..ws_end).rev().find(|&k| newline(chars[k].1)) {
                break 'm last_nl + 1;
            }
            // \s+(?!\S) leaves the run's last char to the next piece; else \s+.
            if ws_end < n && ws_end - i > 1 {
                ws_end - 1
            } else {
                ws_end
            }
        };
        out.push((byte_at(i), byte_at(end)));
        i = end;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        return Class::Space;
    }
    match c.general_category_group() {
        GeneralCategoryGroup::Letter => Class::Letter,
        GeneralCategoryGroup::Number => Class::Number,
        _ => Class::Other,
    }
}

/// Splits `text` with the GPT-2 regex; ranges are offset by `base`.
fn gpt2_split(text: &str, base: usize, out: &mut Vec<(usize, usize)>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let class_at = |i: usize| chars.get(i).map(|&(_, c)| class(c));
    // End (char index) of the run of `cls` starting at `i`.
    let run = |mut i: usize, cls: Class| {
        while class_at(i) == Some(cls) {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let end = if let Some(n) = contraction(&chars[i..]) {
            i + n
        } else {
            // ` ?X+` for X in letters, numbers, others: an optional leading space.
            let (first, after_space) = if c == ' ' {
                (class_at(i + 1), i + 1)
            } else {
                (Some(class(c)), i)
            };
            match first {
                Some(cls @ (Class::Letter | Class::Number | Class::Other)) => run(after_space, cls),
                _ => {
                    // Whitespace: `\s+(?!\S)` takes the run but leaves its last char when
                    // a non-space follows, so that char can lead the next piece; a lone
                    // whitespace char before a non-space falls to `\s+`.
                    let e = run(i, Class::Space);
                    if e < chars.len() && e - i > 1 {
                        e - 1
                    } else {
                        e
                    }
                }
            }
        };
        out.push((base + byte_at(i), base + byte_at(end)));
        i = end;
    }
}

/// Length in chars of a contraction (`'s 't 're 've 'm 'll 'd`, case-sensitive) at the
/// start of `chars`.
fn contraction(chars: &[(usize, char)]) -> Option<usize> {
    if chars.first()?.1 != '\'' {
        return None;
    }
    let c1 = chars.get(1).map(|x| x.1);
    let c2 = chars.get(2).map(|x| x.1);
    match (c1, c2) {
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => Some(3),
        (Some('s' | 't' | 'm' | 'd'), _) => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: PreTokenizer, s: &str) -> Vec<&str> {
        let mut v = Vec::new();
        p.split(s, &mut v);
        v.iter().map(|&(a, b)| &s[a..b]).collect()
    }

    #[test]
    fn gpt2_regex_cases() {
        let g = PreTokenizer::Gpt2;
        assert_eq!(pieces(g, "Hello world"), ["Hello", " world"]);
        assert_eq!(
            pieces(g, "I'm here, they'll"),
            ["I", "'m", " here", ",", " they", "'ll"]
        );
        assert_eq!(pieces(g, "a  b"), ["a", " ", " b"]);
        assert_eq!(pieces(g, "a \n\n b  "), ["a", " \n\n", " b", "  "]);
        assert_eq!(pieces(g, "x\n\ny"), ["x", "\n", "\n", "y"]);
        assert_eq!(pieces(g, "abc123 ?!x"), ["abc", "123", " ?!", "x"]);
        assert_eq!(pieces(g, "'x 'S"), ["'", "x", " '", "S"]);
        assert_eq!(pieces(g, "naïve café"), ["naïve", " café"]);
        assert_eq!(pieces(g, ""), Vec::<&str>::new());
    }

    #[test]
    fn smollm_isolates_digits() {
        let s = PreTokenizer::SmolLm;
        assert_eq!(
            pieces(s, "year 2024!"),
            ["year", " ", "2", "0", "2", "4", "!"]
        );
        assert_eq!(pieces(s, "3.14"), ["3", ".", "1", "4"]);
    }
}
