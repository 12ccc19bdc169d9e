//! A small backtracking regex engine for pre-tokenizer patterns.
//!
//! Pre-tokenizers split text with Oniguruma-flavoured regexes (Hugging Face `tokenizers`
//! runs them through Oniguruma; llama.cpp lists them per `tokenizer.ggml.pre`). They need
//! what Rust's `regex` crate leaves out on purpose: look-ahead (`\s+(?!\S)`), possessive
//! quantifiers, and class intersection (`[\p{L}&&[^\p{Han}]]`). This engine implements the
//! subset those patterns use, with Perl's leftmost-first semantics, so that a split is the
//! one a backtracking engine gives:
//!
//! - literals and escapes (`\n \r \t \f \v \xHH \x{H..} \uHHHH`, escaped punctuation);
//! - `.`, classes `[...]` with ranges, negation, nested classes and `&&`;
//! - `\s \S \d \D \w \W`, `\p{..}`/`\P{..}` for general categories (`L`, `Lu`, `N`, `P`, ...)
//!   and the `Han` script;
//! - groups `(..)`, `(?:..)`, `(?i:..)`, `(?i)`; look-ahead `(?=..)`, `(?!..)`;
//! - `? * + {n} {n,} {n,m}`, each greedy, lazy (`?`) or possessive (`+`);
//! - `^ $ \A \z \Z \b \B`.
//!
//! Patterns come from model files, so the engine bounds its own work: a pattern that
//! compiles to more than `MAX_INSTS` instructions is refused, an unbounded repeat of
//! something that can match the empty string is refused, and a search stops (leaving the
//! rest of the text unmatched) after `STEPS_PER_CHAR` backtracking steps per character.

mod parse;
mod unicode;

use crate::error::Result;
use unicode::{cat_bits, other_case, HAN_BIT, WORD};

/// Largest compiled program (counted repeats are expanded).
const MAX_INSTS: usize = 1 << 16;
/// Backtracking budget of one `find_iter`, per character of the text.
const STEPS_PER_CHAR: u64 = 20_000;

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Regex {
    insts: Vec<Inst>,
    classes: Vec<Class>,
    /// Whether some class tests the Han script (the text's chars are then classified).
    uses_han: bool,
}

/// One character of the text with its category bits (`cat_bits`).
#[derive(Clone, Copy)]
struct Ch {
    c: char,
    bits: u32,
}

/// The text as characters, with the byte offset of each.
pub struct Haystack {
    chars: Vec<Ch>,
    /// Byte offset of each char, plus the text's length at the end.
    offsets: Vec<usize>,
}

impl Haystack {
    /// Classifies every char of `text` once (general category, white space, script).
    pub fn new(text: &str, han: bool) -> Haystack {
        let mut chars = Vec::with_capacity(text.len());
        let mut offsets = Vec::with_capacity(text.len() + 1);
        for (i, c) in text.char_indices() {
            offsets.push(i);
            chars.push(Ch {
                c,
                bits: cat_bits(c, han),
            });
        }
        offsets.push(text.len());
        Haystack { chars, offsets }
    }
}

/// A character class: the union of its items, intersected with each of `and`, maybe
/// negated.
#[derive(Clone, Debug, Default)]
struct Class {
    negated: bool,
    /// Inclusive char ranges.
    ranges: Vec<(char, char)>,
    /// Category bits (any of them matches).
    cats: u32,
    /// Nested classes (`[a[bc]]`, `\P{..}` inside a class).
    nested: Vec<Class>,
    /// `&&` operands.
    and: Vec<Class>,
    /// Case-insensitive: also try the other case of the char.
    fold: bool,
}

impl Class {
    fn matches(&self, ch: Ch) -> bool {
        let mut hit = self.union_has(ch);
        if !hit && self.fold {
            hit = other_case(ch.c).is_some_and(|c| {
                self.union_has(Ch {
                    c,
                    bits: cat_bits(c, true),
                })
            });
        }
        let hit = hit && self.and.iter().all(|a| a.matches(ch));
        hit != self.negated
    }

    fn union_has(&self, ch: Ch) -> bool {
        ch.bits & self.cats != 0
            || self.ranges.iter().any(|&(lo, hi)| lo <= ch.c && ch.c <= hi)
            || self.nested.iter().any(|n| n.matches(ch))
    }

    fn uses_han(&self) -> bool {
        self.cats & HAN_BIT != 0
            || self.nested.iter().any(Class::uses_han)
            || self.and.iter().any(Class::uses_han)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Assert {
    LineStart,
    LineEnd,
    TextStart,
    TextEnd,
    /// `\Z`: the end, or before a final newline.
    TextEndNewline,
    WordBoundary,
    NotWordBoundary,
}

#[derive(Clone, Copy, Debug)]
enum Inst {
    Char(char),
    /// Matches the char in either case.
    CharFold(char),
    Class(u32),
    /// `.`: any char but a newline.
    Any,
    /// Try the first target, and on failure the second.
    Split(u32, u32),
    Jmp(u32),
    Assert(Assert),
    /// Run the sub-program that follows (it ends in `Match`) at this position; go on at
    /// `next` if it matched (or, `negate`d, if it did not), consuming nothing.
    Look {
        negate: bool,
        next: u32,
    },
    /// Run the sub-program that follows; go on at `next` from where its first match ended,
    /// never backtracking into it (possessive quantifiers).
    Atomic {
        next: u32,
    },
    Match,
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex> {
        let (insts, classes) = parse::compile(pattern)?;
        let uses_han = classes.iter().any(Class::uses_han);
        Ok(Regex {
            insts,
            classes,
            uses_han,
        })
    }

    /// Whether the text must be classified by script (`Haystack::new(text, true)`).
    pub fn uses_han(&self) -> bool {
        self.uses_han
    }

    /// The matches in `hay`, as `(start, end)` char indices, leftmost-first and
    /// non-overlapping; an empty match right where the previous one ended is skipped (as
    /// Oniguruma's and Rust's `find_iter` do).
    pub fn find_iter(&self, hay: &Haystack, out: &mut Vec<(usize, usize)>) {
        self.find_iter_in(hay, 0, hay.len(), out)
    }

    /// `find_iter` on the chars `[s, e)` of `hay` as if they were the whole text (anchors
    /// and look-ahead stop at its ends); indices are those of `hay`.
    pub fn find_iter_in(&self, hay: &Haystack, s: usize, e: usize, out: &mut Vec<(usize, usize)>) {
        let chars = &hay.chars[s..e];
        let n = chars.len();
        let mut budget = STEPS_PER_CHAR * (n as u64 + 1);
        let mut stack = Vec::new();
        let mut at = 0;
        let mut last_end = None;
        while at <= n {
            let Some((ms, me)) = self.search(chars, at, &mut budget, &mut stack) else {
                return;
            };
            if ms == me && last_end == Some(me) {
                at = ms + 1;
                continue;
            }
            out.push((s + ms, s + me));
            last_end = Some(me);
            at = me;
        }
    }

    /// The first match starting at or after `at`.
    fn search(
        &self,
        chars: &[Ch],
        at: usize,
        budget: &mut u64,
        stack: &mut Vec<(u32, u32)>,
    ) -> Option<(usize, usize)> {
        for start in at..=chars.len() {
            if let Some(end) = self.run(chars, 0, start, budget, stack) {
                return Some((start, end));
            }
            if *budget == 0 {
                return None;
            }
        }
        None
    }

    /// Runs the program from `pc` at char `pos`; the end of the first match found.
    fn run(
        &self,
        chars: &[Ch],
        pc: u32,
        pos: usize,
        budget: &mut u64,
        stack: &mut Vec<(u32, u32)>,
    ) -> Option<usize> {
        let base = stack.len();
        stack.push((pc, pos as u32));
        let mut result = None;
        'threads: while stack.len() > base {
            let (mut pc, pos32) = stack.pop().expect("above base");
            let mut pos = pos32 as usize;
            loop {
                if *budget == 0 {
                    break 'threads;
                }
                *budget -= 1;
                match self.insts[pc as usize] {
                    Inst::Char(c) => {
                        if chars.get(pos).is_some_and(|ch| ch.c == c) {
                            pos += 1;
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::CharFold(c) => {
                        let hit = chars
                            .get(pos)
                            .is_some_and(|ch| ch.c == c || other_case(ch.c) == Some(c));
                        if hit {
                            pos += 1;
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Class(k) => {
                        if chars
                            .get(pos)
                            .is_some_and(|&ch| self.classes[k as usize].matches(ch))
                        {
                            pos += 1;
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Any => {
                        if chars.get(pos).is_some_and(|ch| ch.c != '\n') {
                            pos += 1;
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Split(a, b) => {
                        stack.push((b, pos as u32));
                        pc = a;
                    }
                    Inst::Jmp(a) => pc = a,
                    Inst::Assert(a) => {
                        if assert(a, chars, pos) {
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Look { negate, next } => {
                        let hit = self.run(chars, pc + 1, pos, budget, stack).is_some();
                        if hit != negate {
                            pc = next;
                        } else {
                            break;
                        }
                    }
                    Inst::Atomic { next } => match self.run(chars, pc + 1, pos, budget, stack) {
                        Some(end) => {
                            pos = end;
                            pc = next;
                        }
                        None => break,
                    },
                    Inst::Match => {
                        result = Some(pos);
                        break 'threads;
                    }
                }
            }
        }
        stack.truncate(base);
        result
    }
}

fn assert(a: Assert, chars: &[Ch], pos: usize) -> bool {
    let word = |i: usize| chars.get(i).is_some_and(|ch| ch.bits & WORD != 0);
    let n = chars.len();
    match a {
        Assert::LineStart => pos == 0 || chars[pos - 1].c == '\n',
        Assert::LineEnd => pos == n || chars[pos].c == '\n',
        Assert::TextStart => pos == 0,
        Assert::TextEnd => pos == n,
        Assert::TextEndNewline => pos == n || (pos + 1 == n && chars[pos].c == '\n'),
        Assert::WordBoundary | Assert::NotWordBoundary => {
            let before = pos > 0 && word(pos - 1);
            (before != word(pos)) == (a == Assert::WordBoundary)
        }
    }
}

impl Haystack {
    /// Byte offset of char index `i` (the text's length for `i == len`).
    pub fn byte(&self, i: usize) -> usize {
        self.offsets[i]
    }
    pub fn len(&self) -> usize {
        self.chars.len()
    }
    /// The char at index `i`.
    pub fn char(&self, i: usize) -> char {
        self.chars[i].c
    }
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(p: &str, text: &str) -> Vec<String> {
        let re = Regex::new(p).unwrap();
        let hay = Haystack::new(text, re.uses_han());
        let mut m = Vec::new();
        re.find_iter(&hay, &mut m);
        m.iter()
            .map(|&(s, e)| text[hay.byte(s)..hay.byte(e)].to_string())
            .collect()
    }

    #[test]
    fn gpt2_pattern() {
        let p = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
        assert_eq!(find(p, "Hello world"), ["Hello", " world"]);
        assert_eq!(find(p, "a  b"), ["a", " ", " b"]);
        assert_eq!(find(p, "a \n\n b  "), ["a", " \n\n", " b", "  "]);
        assert_eq!(find(p, "I'm 42!?"), ["I", "'m", " 42", "!?"]);
    }

    #[test]
    fn case_insensitive_groups_and_lookahead() {
        let p = r"(?i:'s|'re)|\p{L}+";
        assert_eq!(find(p, "IT'S we'RE"), ["IT", "'S", "we", "'RE"]);
        assert_eq!(
            find(r"\d{1,3}(?=(?:\d{3})*\b)", "1234567"),
            ["1", "234", "567"]
        );
        assert_eq!(
            find(r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))", "12345"),
            ["12", "345"]
        );
        // Empty matches where a digit run splits into groups of three from the right.
        assert_eq!(find(r"(?=(\d{3})+(?!\d))", "1234567").len(), 2);
    }

    #[test]
    fn classes_intersection_and_han() {
        let p = r"[\p{Han}]+|[\p{L}&&[^\p{Han}]]+";
        assert_eq!(find(p, "abc漢字def"), ["abc", "漢字", "def"]);
        assert_eq!(find(r"[A-Za-zµÀ-Ö]+", "xµÀ1Öy"), ["xµÀ", "Öy"]);
        assert_eq!(find(r"[!-/:-~]+", "1!/2a"), ["!/", "a"]);
        assert_eq!(find(r"[\r\n]", "a\r\nb"), ["\r", "\n"]);
        assert_eq!(find(r"[^\n]+|[\n]+", "ab\n\ncd"), ["ab", "\n\n", "cd"]);
    }

    #[test]
    fn possessive_and_lazy() {
        assert_eq!(find(r"a++a", "aaaa"), Vec::<String>::new());
        assert_eq!(find(r"a+?", "aaa"), ["a", "a", "a"]);
        assert_eq!(find(r"\s+$", "ab  "), ["  "]);
    }

    #[test]
    fn hostile_patterns_are_refused_or_bounded() {
        assert!(Regex::new("(a*)*").is_err());
        assert!(Regex::new("(?<=a)b").is_err());
        assert!(Regex::new("[a").is_err());
        assert!(Regex::new("a{5,2}").is_err());
        assert!(Regex::new("(a{1000}){1000}").is_err());
        // Exponential backtracking is cut off by the step budget.
        let re = Regex::new("(a|aa)+b").unwrap();
        let text = "a".repeat(200);
        let hay = Haystack::new(&text, false);
        let mut m = Vec::new();
        re.find_iter(&hay, &mut m);
        assert!(m.is_empty());
    }
}
