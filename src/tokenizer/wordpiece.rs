//! WordPiece (BERT): each word is cut greedily into the longest vocabulary entries from the
//! left, continuations spelled with a `##` prefix (Hugging Face `models::WordPiece`).

use std::collections::HashMap;

/// The WordPiece model.
pub struct WordPiece {
    /// Token strings in Hugging Face's spelling (`word`, `##piece`) → id.
    pub ids: HashMap<String, u32>,
    pub unk: u32,
    /// Marks a piece that continues a word (`##`).
    pub prefix: String,
    /// Longer words become the unknown token whole.
    pub max_chars: usize,
    /// Length in bytes of the longest token string, to bound the search.
    pub max_len: usize,
}

impl WordPiece {
    /// Appends the tokens of one word (a pre-tokenized piece).
    pub fn encode(&self, word: &str, key: &mut String, out: &mut Vec<u32>) {
        if word.chars().count() > self.max_chars {
            out.push(self.unk);
            return;
        }
        let mark = out.len();
        let mut start = 0;
        while start < word.len() {
            // The longest entry from `start`, trying ends from the farthest char boundary.
            let mut found = None;
            let limit = (start + self.max_len).min(word.len());
            let mut end = limit;
            while end > start {
                if word.is_char_boundary(end) {
                    key.clear();
                    if start > 0 {
                        key.push_str(&self.prefix);
                    }
                    key.push_str(&word[start..end]);
                    if let Some(&id) = self.ids.get(key.as_str()) {
                        found = Some((id, end));
                        break;
                    }
                }
                end -= 1;
            }
            match found {
                Some((id, end)) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    // A word that cannot be covered is one unknown token.
                    out.truncate(mark);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_longest_first() {
        let ids: HashMap<String, u32> = ["[UNK]", "un", "##aff", "##able", "aff", "##a"]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let wp = WordPiece {
            ids,
            unk: 0,
            prefix: "##".into(),
            max_chars: 100,
            max_len: 6,
        };
        let mut out = Vec::new();
        let mut key = String::new();
        wp.encode("unaffable", &mut key, &mut out);
        assert_eq!(out, [1, 2, 3]);
        out.clear();
        wp.encode("unx", &mut key, &mut out);
        assert_eq!(out, [0]);
    }
}
