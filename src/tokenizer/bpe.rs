//! Byte-pair-encoding merges (Sennrich et al. 2016) over one pre-tokenized piece.
//!
//! The piece starts as one symbol per character; the adjacent pair with the lowest merge
//! rank is merged, leftmost first on ties, until no pair has a rank. A heap of candidate
//! pairs and a linked list of symbols make this O(n log n) in the piece length (the naive
//! rescan is quadratic, and a 10,000-char word without spaces is a real input).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::byte_level::ByteLevel;

/// Merge table: `(left id, right id) → (rank, merged id)`.
pub type Merges = HashMap<(u32, u32), (u32, u32)>;

/// The BPE model: how a piece becomes its first symbols, and the merges.
pub struct Bpe {
    pub merges: Merges,
    /// The token of each one-char token string (a byte-level char, or a text char).
    pub char_ids: HashMap<char, u32>,
    /// Pieces are bytes mapped through GPT-2's byte alphabet; else they are text chars.
    pub byte_level: Option<ByteLevel>,
    /// The `<0xNN>` token of each byte, for chars without a token (byte fallback).
    pub byte_ids: Option<Box<[Option<u32>; 256]>>,
    /// For chars no token or byte token covers (dropped when `None`, as HF does).
    pub unk: Option<u32>,
    /// Consecutive unknown chars give one unknown token.
    pub fuse_unk: bool,
    /// A piece that is itself a token is emitted whole, unmerged (Llama 3).
    pub ignore_merges: bool,
    /// A piece of newlines only that is a token is emitted whole (llama.cpp's Gemma 4
    /// rule: its merges do not build the newline runs its vocabulary has).
    pub whole_newlines: bool,
}

impl Bpe {
    /// Appends the tokens of one piece; `ids` maps token strings (as stored) to ids,
    /// `symbols` is scratch.
    pub fn encode(
        &self,
        piece: &str,
        ids: &HashMap<String, u32>,
        symbols: &mut Vec<u32>,
        out: &mut Vec<u32>,
    ) {
        let whole = self.ignore_merges
            || (self.whole_newlines && !piece.is_empty() && piece.bytes().all(|b| b == b'\n'));
        if whole {
            let key = match &self.byte_level {
                Some(bl) => std::borrow::Cow::Owned(bl.encode(piece)),
                None => std::borrow::Cow::Borrowed(piece),
            };
            if let Some(&id) = ids.get(key.as_ref()) {
                out.push(id);
                return;
            }
        }
        symbols.clear();
        match &self.byte_level {
            // Characters missing from the vocabulary are dropped, as HF does with no
            // unknown token; every byte-level vocabulary has all 256.
            Some(bl) => symbols.extend(
                piece
                    .bytes()
                    .filter_map(|b| self.char_ids.get(&bl.char_of(b)).copied()),
            ),
            None => {
                for c in piece.chars() {
                    self.symbols_of(c, symbols);
                }
            }
        }
        merge(symbols, &self.merges, out);
    }

    /// The first symbol(s) of one text char: its token, else its UTF-8 bytes as `<0xNN>`
    /// tokens, else the unknown token.
    fn symbols_of(&self, c: char, symbols: &mut Vec<u32>) {
        if let Some(&id) = self.char_ids.get(&c) {
            symbols.push(id);
            return;
        }
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        if let Some(byte_ids) = &self.byte_ids {
            if bytes.iter().all(|&b| byte_ids[b as usize].is_some()) {
                symbols.extend(bytes.iter().filter_map(|&b| byte_ids[b as usize]));
                return;
            }
        }
        if let Some(unk) = self.unk {
            if !(self.fuse_unk && symbols.last() == Some(&unk)) {
                symbols.push(unk);
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: usize,
    next: usize,
    alive: bool,
}

const NONE: usize = usize::MAX;

/// Applies `merges` to the symbol ids `ids` (one per character), appending the result.
pub fn merge(ids: &[u32], merges: &Merges, out: &mut Vec<u32>) {
    if ids.len() < 2 {
        out.extend_from_slice(ids);
        return;
    }
    let n = ids.len();
    let mut sym: Vec<Symbol> = (0..n)
        .map(|i| Symbol {
            id: ids[i],
            prev: if i == 0 { NONE } else { i - 1 },
            next: if i + 1 == n { NONE } else { i + 1 },
            alive: true,
        })
        .collect();
    // Candidates (rank, left position, left id, right id); stale ones are skipped on pop.
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<_>, sym: &[Symbol], left: usize| {
        let right = sym[left].next;
        if right != NONE {
            if let Some(&(rank, _)) = merges.get(&(sym[left].id, sym[right].id)) {
                heap.push(Reverse((rank, left, sym[left].id, sym[right].id)));
            }
        }
    };
    for i in 0..n - 1 {
        push(&mut heap, &sym, i);
    }
    while let Some(Reverse((_, left, lid, rid))) = heap.pop() {
        let right = sym[left].next;
        if !sym[left].alive || right == NONE || sym[left].id != lid || sym[right].id != rid {
            continue;
        }
        let (_, merged) = merges[&(lid, rid)];
        sym[left].id = merged;
        sym[right].alive = false;
        let after = sym[right].next;
        sym[left].next = after;
        if after != NONE {
            sym[after].prev = left;
        }
        if sym[left].prev != NONE {
            push(&mut heap, &sym, sym[left].prev);
        }
        push(&mut heap, &sym, left);
    }
    let mut i = 0;
    while i != NONE {
        out.push(sym[i].id);
        i = sym[i].next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_rank_first_and_leftmost_on_ties() {
        // Symbols a=0 b=1 c=2; merges: (b,c)->bc=3 rank 0, (a,b)->ab=4 rank 1, (a,bc)->abc=5 rank 2.
        let merges: Merges = [((1, 2), (0, 3)), ((0, 1), (1, 4)), ((0, 3), (2, 5))]
            .into_iter()
            .collect();
        let mut out = Vec::new();
        merge(&[0, 1, 2], &merges, &mut out);
        assert_eq!(out, [5]);
        out.clear();
        merge(&[0, 1, 0, 1], &merges, &mut out);
        assert_eq!(out, [4, 4]);
        out.clear();
        // "aaa" with (a,a)->aa: the leftmost pair merges first.
        let merges: Merges = [((0, 0), (0, 7))].into_iter().collect();
        merge(&[0, 0, 0], &merges, &mut out);
        assert_eq!(out, [7, 0]);
    }

    #[test]
    fn long_word_merges_completely() {
        // 100,000 symbols: a quadratic merge loop would take minutes here; this is fast.
        let merges: Merges = [((0, 0), (0, 1)), ((1, 1), (1, 2))].into_iter().collect();
        let ids = vec![0u32; 100_000];
        let mut out = Vec::new();
        merge(&ids, &merges, &mut out);
        assert_eq!(out, vec![2; 25_000]);
    }
}
