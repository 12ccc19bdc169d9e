//! SentencePiece BPE vocabularies stored as pieces and scores (GGUF
//! `tokenizer.ggml.model = "llama"`), without a merge list.
//!
//! SentencePiece's BPE merges, at each step, the adjacent pair whose concatenation is the
//! piece with the highest score. That is ordinary rank-ordered BPE once every piece that
//! splits into two pieces is listed as a merge, ranked by its score: this is how Hugging
//! Face converts such a vocabulary to `tokenizer.json` (`SentencePieceExtractor`), and
//! what `Tokenizer::new` then runs.

use std::collections::HashMap;

use super::{TokenType, SPACE};

/// llama.cpp's converter writes SentencePiece pieces made only of `▁` (Gemma's runs of
/// spaces, user-defined in the original model) with plain spaces and as USER_DEFINED.
/// Hugging Face's tokenizers treat them as ordinary pieces spelled with `▁`, with the
/// score user-defined pieces have in a SentencePiece model (0, above every learned
/// piece), so runs of spaces merge before anything else: this turns them back.
pub fn restore_space_runs(tokens: &mut [String], types: &mut [TokenType], scores: &mut [f32]) {
    for ((t, ty), score) in tokens
        .iter_mut()
        .zip(types.iter_mut())
        .zip(scores.iter_mut())
    {
        if *ty == TokenType::UserDefined && !t.is_empty() && t.chars().all(|c| c == ' ') {
            *t = t.replace(' ', &SPACE.to_string());
            *ty = TokenType::Normal;
            *score = 0.0;
        }
    }
}

/// The merges `(left, right)` of every normal piece that is the concatenation of two
/// pieces, highest score first; ties in vocabulary order of the merged piece, then by the
/// ids of the left and right pieces (the order of HF's stable sort).
pub fn merges_from_scores(
    tokens: &[String],
    types: &[TokenType],
    scores: &[f32],
) -> Vec<(String, String)> {
    let ids: HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .rev() // the first of duplicate pieces wins
        .collect();
    // (score, left id, right id, split point, merged id)
    let mut found: Vec<(f32, u32, u32, usize, u32)> = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        if types[id] != TokenType::Normal {
            continue;
        }
        for (split, _) in t.char_indices().skip(1) {
            if let (Some(&l), Some(&r)) = (ids.get(&t[..split]), ids.get(&t[split..])) {
                found.push((scores[id], l, r, split, id as u32));
            }
        }
    }
    found.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.4.cmp(&b.4))
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    found
        .into_iter()
        .map(|(_, _, _, split, id)| {
            let t = &tokens[id as usize];
            (t[..split].to_string(), t[split..].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_that_split_become_merges_by_score() {
        let tokens: Vec<String> = ["a", "b", "c", "ab", "bc", "abc", "<s>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut types = vec![TokenType::Normal; 7];
        types[6] = TokenType::Control;
        // "bc" scores higher than "ab"; "abc" splits as a+bc and ab+c.
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, -3.0, 0.0];
        let m = merges_from_scores(&tokens, &types, &scores);
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(m, [s("b", "c"), s("a", "b"), s("a", "bc"), s("ab", "c")]);
    }
}
