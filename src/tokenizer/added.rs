//! Added and special tokens found in input text, with one Aho-Corasick automaton
//! (Aho & Corasick 1975) over all their strings.
//!
//! Hugging Face's `AddedVocabulary` matches them leftmost-longest: of the tokens found in
//! the text, the one starting first, the longest of those starting there. The automaton
//! reads each byte of the text once. A match is final once no partial match that started
//! at or before it can still be growing (the current state's depth says how far back the
//! longest live partial match began); the scan then resumes after it.
//!
//! Llama 3 has 256 special tokens: trying each at every character (what this replaces)
//! costs 256 comparisons per character.

/// One token the splitter finds in text.
#[derive(Clone, Debug)]
pub struct Added {
    pub id: u32,
    pub text: String,
    /// Also swallow the white space before it.
    pub lstrip: bool,
    /// Also swallow the white space after it.
    pub rstrip: bool,
    /// Only where it is not inside a word (no word char on either side).
    pub single_word: bool,
}

/// A piece of input text: plain text, or an added token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'t> {
    Text(&'t str),
    Token(u32),
}

/// The automaton.
pub struct Splitter {
    tokens: Vec<Added>,
    /// Goto function: per state, its outgoing edges sorted by byte.
    edges: Vec<Vec<(u8, u32)>>,
    fail: Vec<u32>,
    depth: Vec<u32>,
    /// The longest token that ends in this state, following failure links (index into
    /// `tokens`); every match ending here is a suffix of it, so for leftmost-longest only
    /// the longest counts.
    out: Vec<Option<u32>>,
}

impl Splitter {
    pub fn new(tokens: Vec<Added>) -> Splitter {
        let mut s = Splitter {
            tokens: Vec::new(),
            edges: vec![Vec::new()],
            fail: vec![0],
            depth: vec![0],
            out: vec![None],
        };
        for (i, t) in tokens.iter().enumerate() {
            if t.text.is_empty() {
                continue;
            }
            let mut state = 0usize;
            for &b in t.text.as_bytes() {
                state = match s.edges[state].binary_search_by_key(&b, |e| e.0) {
                    Ok(k) => s.edges[state][k].1 as usize,
                    Err(k) => {
                        let new = s.edges.len();
                        s.edges[state].insert(k, (b, new as u32));
                        s.edges.push(Vec::new());
                        s.fail.push(0);
                        s.depth.push(s.depth[state] + 1);
                        s.out.push(None);
                        new
                    }
                };
            }
            // The first of duplicate strings wins.
            s.out[state].get_or_insert(i as u32);
        }
        // Failure links, breadth first.
        let mut queue: std::collections::VecDeque<usize> =
            s.edges[0].iter().map(|e| e.1 as usize).collect();
        while let Some(state) = queue.pop_front() {
            for k in 0..s.edges[state].len() {
                let (b, child) = s.edges[state][k];
                let child = child as usize;
                let mut f = s.fail[state] as usize;
                let target = loop {
                    if let Some(t) = s.step(f, b) {
                        break t;
                    }
                    if f == 0 {
                        break 0;
                    }
                    f = s.fail[f] as usize;
                };
                s.fail[child] = target as u32;
                if s.out[child].is_none() {
                    s.out[child] = s.out[target];
                }
                queue.push_back(child);
            }
        }
        s.tokens = tokens;
        s
    }

    fn step(&self, state: usize, b: u8) -> Option<usize> {
        let e = &self.edges[state];
        e.binary_search_by_key(&b, |e| e.0)
            .ok()
            .map(|k| e[k].1 as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.edges[0].is_empty()
    }

    /// The token with exactly this text.
    pub fn find(&self, text: &str) -> Option<&Added> {
        self.tokens.iter().find(|t| t.text == text)
    }

    /// The leftmost-longest match starting at or after byte `from`: `(start, end, token)`.
    fn next_match(&self, text: &[u8], from: usize) -> Option<(usize, usize, usize)> {
        let mut state = 0usize;
        let mut best: Option<(usize, usize, usize)> = None;
        for (i, &b) in text.iter().enumerate().skip(from) {
            state = loop {
                if let Some(t) = self.step(state, b) {
                    break t;
                }
                if state == 0 {
                    break 0;
                }
                state = self.fail[state] as usize;
            };
            if let Some(k) = self.out[state] {
                let len = self.tokens[k as usize].text.len();
                let start = i + 1 - len;
                if best.is_none_or(|(s, e, _)| start < s || (start == s && i + 1 > e)) {
                    best = Some((start, i + 1, k as usize));
                }
            }
            // No partial match that began at or before the best one is still alive.
            if let Some((s, _, _)) = best {
                if i + 1 - self.depth[state] as usize > s {
                    return best;
                }
            }
        }
        best
    }

    /// Cuts `text` into plain text and added tokens, in order, honouring `lstrip`,
    /// `rstrip` and `single_word`.
    pub fn split<'t>(&self, text: &'t str, out: &mut Vec<Segment<'t>>) {
        let bytes = text.as_bytes();
        let mut plain_start = 0;
        let mut from = 0;
        while let Some((s, e, k)) = (!self.is_empty())
            .then(|| self.next_match(bytes, from))
            .flatten()
        {
            let t = &self.tokens[k];
            if t.single_word {
                let before = text[..s].chars().next_back().is_some_and(is_word_char);
                let after = text[e..].chars().next().is_some_and(is_word_char);
                if before || after {
                    // Not a match here; look again from the next char.
                    from = s + text[s..].chars().next().map_or(1, char::len_utf8);
                    continue;
                }
            }
            let mut plain_end = s;
            if t.lstrip {
                plain_end = plain_start + text[plain_start..s].trim_end().len();
            }
            if plain_end > plain_start {
                out.push(Segment::Text(&text[plain_start..plain_end]));
            }
            out.push(Segment::Token(t.id));
            let mut end = e;
            if t.rstrip {
                end = text.len() - text[e..].trim_start().len();
            }
            plain_start = end;
            from = end;
        }
        if plain_start < text.len() {
            out.push(Segment::Text(&text[plain_start..]));
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(id: u32, text: &str) -> Added {
        Added {
            id,
            text: text.into(),
            lstrip: false,
            rstrip: false,
            single_word: false,
        }
    }

    fn split(s: &Splitter, text: &str) -> Vec<String> {
        let mut v = Vec::new();
        s.split(text, &mut v);
        v.iter()
            .map(|seg| match seg {
                Segment::Text(t) => format!("'{t}'"),
                Segment::Token(id) => format!("#{id}"),
            })
            .collect()
    }

    #[test]
    fn leftmost_longest() {
        let s = Splitter::new(vec![
            tok(1, "<a>"),
            tok(2, "<a><b>"),
            tok(3, "b><c"),
            tok(4, "x"),
        ]);
        assert_eq!(split(&s, "<a><b>"), ["#2"]);
        assert_eq!(split(&s, "q<a><c"), ["'q'", "#1", "'<c'"]);
        // "b><c" starts before "<c" could; leftmost wins even if a longer one starts later.
        assert_eq!(split(&s, "<ab><c>x"), ["'<a'", "#3", "'>'", "#4"]);
        assert_eq!(split(&s, "plain"), ["'plain'"]);
        assert_eq!(split(&s, ""), Vec::<String>::new());
        let s = Splitter::new(vec![tok(1, "ab"), tok(2, "abcd"), tok(3, "bc")]);
        assert_eq!(split(&s, "abce"), ["#1", "'ce'"]);
        assert_eq!(split(&s, "xabcd"), ["'x'", "#2"]);
    }

    #[test]
    fn strip_and_single_word() {
        let mut t = tok(7, "<m>");
        t.lstrip = true;
        t.rstrip = true;
        let mut w = tok(8, "ok");
        w.single_word = true;
        let s = Splitter::new(vec![t, w]);
        assert_eq!(split(&s, "a  <m>  b"), ["'a'", "#7", "'b'"]);
        assert_eq!(split(&s, "book ok!"), ["'book '", "#8", "'!'"]);
    }
}
