//! Unigram language-model tokenization (Kudo 2018; SentencePiece's `unigram` model, GGUF
//! `tokenizer.ggml.model = "t5"`): of all ways to cut the normalized text into vocabulary
//! pieces, the one whose piece log-probabilities (scores) sum highest, found by Viterbi
//! over byte positions.

/// A byte trie of token strings, children of a node stored contiguously and sorted.
pub struct ByteTrie {
    /// Per node: index of its first child in `nodes`, and how many.
    first: Vec<u32>,
    count: Vec<u16>,
    /// The byte on the edge into each node.
    byte: Vec<u8>,
    /// The token a node spells, if any.
    value: Vec<Option<u32>>,
}

impl ByteTrie {
    /// Builds the trie of `(bytes, id)` pairs; for duplicate strings the first id wins.
    pub fn new(mut entries: Vec<(&[u8], u32)>) -> ByteTrie {
        entries.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        let mut t = ByteTrie {
            first: vec![0],
            count: vec![0],
            byte: vec![0],
            value: vec![None],
        };
        // Breadth first: (node, depth, range of `entries` below it).
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize, 0usize, entries.len())]);
        while let Some((node, depth, mut lo, hi)) = queue.pop_front() {
            if lo < hi && entries[lo].0.len() == depth {
                t.value[node] = Some(entries[lo].1);
                while lo < hi && entries[lo].0.len() == depth {
                    lo += 1;
                }
            }
            t.first[node] = t.byte.len() as u32;
            let mut i = lo;
            let mut children = 0u16;
            while i < hi {
                let b = entries[i].0[depth];
                let mut j = i;
                while j < hi && entries[j].0[depth] == b {
                    j += 1;
                }
                let child = t.byte.len();
                t.first.push(0);
                t.count.push(0);
                t.byte.push(b);
                t.value.push(None);
                queue.push_back((child, depth + 1, i, j));
                children += 1;
                i = j;
            }
            t.count[node] = children;
        }
        t
    }

    /// The child of `node` along byte `b`.
    pub fn child(&self, node: usize, b: u8) -> Option<usize> {
        let first = self.first[node] as usize;
        let kids = &self.byte[first..first + self.count[node] as usize];
        kids.binary_search(&b).ok().map(|i| first + i)
    }

    pub fn value(&self, node: usize) -> Option<u32> {
        self.value[node]
    }
}

/// The Unigram model.
pub struct Unigram {
    pub trie: ByteTrie,
    /// Score (log probability) of each token; user-defined pieces count 0.
    pub scores: Vec<f32>,
    pub unk: u32,
    /// Score of an unknown char: the lowest normal score minus 10 (SentencePiece's
    /// `kUnkPenalty`).
    pub unk_score: f64,
}

#[derive(Clone, Copy)]
struct Best {
    id: u32,
    start: usize,
    score: f64,
}

impl Unigram {
    /// Appends the best segmentation of `text` (already normalized); runs of unknown chars
    /// give one unknown token.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        let bytes = text.as_bytes();
        let n = bytes.len();
        if n == 0 {
            return;
        }
        let none = Best {
            id: self.unk,
            start: 0,
            score: f64::NEG_INFINITY,
        };
        let mut best = vec![none; n + 1];
        best[0].score = 0.0;
        let mut at = 0;
        while at < n {
            let char_len = text[at..].chars().next().map_or(1, char::len_utf8);
            let here = best[at].score;
            let mut whole_char = false;
            let mut node = 0;
            let mut end = at;
            while end < n {
                let Some(next) = self.trie.child(node, bytes[end]) else {
                    break;
                };
                node = next;
                end += 1;
                if let Some(id) = self.trie.value(node) {
                    // Only cuts at char boundaries are segmentations of the text.
                    if !text.is_char_boundary(end) {
                        continue;
                    }
                    whole_char |= end - at == char_len;
                    let score = here + self.scores[id as usize] as f64;
                    if score > best[end].score {
                        best[end] = Best {
                            id,
                            start: at,
                            score,
                        };
                    }
                }
            }
            if !whole_char {
                let end = at + char_len;
                let score = here + self.unk_score;
                if score > best[end].score {
                    best[end] = Best {
                        id: self.unk,
                        start: at,
                        score,
                    };
                }
            }
            at += char_len;
        }
        let mark = out.len();
        let mut end = n;
        let mut prev_unk = false;
        while end > 0 {
            let b = best[end];
            let unk = b.id == self.unk;
            if !(unk && prev_unk) {
                out.push(b.id);
            }
            prev_unk = unk;
            end = b.start;
        }
        out[mark..].reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viterbi_prefers_the_best_total() {
        let pieces: [&[u8]; 5] = [b"<unk>", b"a", b"b", b"ab", b"abc"];
        let trie = ByteTrie::new(
            pieces
                .iter()
                .enumerate()
                .map(|(i, p)| (*p, i as u32))
                .collect(),
        );
        let u = Unigram {
            trie,
            scores: vec![0.0, -1.0, -1.0, -1.5, -5.0],
            unk: 0,
            unk_score: -11.0,
        };
        let mut out = Vec::new();
        u.encode("ab", &mut out);
        assert_eq!(out, [3]);
        out.clear();
        u.encode("abab", &mut out);
        assert_eq!(out, [3, 3]);
        out.clear();
        // "c" alone is unknown; "abc" at -5 beats "ab" + unknown.
        u.encode("abc", &mut out);
        assert_eq!(out, [4]);
        out.clear();
        u.encode("xyab", &mut out);
        assert_eq!(out, [0, 3]);
    }
}
