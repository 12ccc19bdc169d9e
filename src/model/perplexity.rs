//! Perplexity over consecutive windows (the evaluation behind `examples/perplexity.rs`
//! and the reference tests).

use crate::error::{Error, Result};
use crate::kernels::par::for_each_chunk_mut;
use crate::kernels::{cpu::isa, simd::exp_shift_sum};
use crate::model::Model;

/// Summed negative log-likelihood of a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerplexityResult {
    /// Sum over scored tokens of `-ln p(token | window prefix)`, in f64.
    pub nll_sum: f64,
    pub scored: usize,
    pub windows: usize,
}

impl PerplexityResult {
    pub fn perplexity(&self) -> f64 {
        (self.nll_sum / self.scored as f64).exp()
    }
}

/// Which tokens of a text are scored, and how its windows start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    /// Every token after the first of each window; a last, shorter window is kept if it
    /// has at least 2 tokens (as Hugging Face's strided evaluation with no overlap).
    EveryToken,
    /// As llama.cpp's `llama-perplexity`: whole windows only, each run with BOS in place
    /// of its first token when the tokenizer adds one, and only the second half of each
    /// scored (every scored token has at least `ctx / 2` tokens of context). Its figures
    /// are comparable with llama.cpp's on the same file and text.
    SecondHalf,
}

/// Splits `ids` into consecutive windows of `ctx` tokens, runs each from an empty cache and
/// scores every token after the first of its window (`Scoring::EveryToken`).
pub fn perplexity(model: &Model, ids: &[u32], ctx: usize) -> Result<PerplexityResult> {
    perplexity_with(model, ids, ctx, Scoring::EveryToken)
}

/// Perplexity over consecutive windows of `ctx` tokens, scored as `scoring` says.
pub fn perplexity_with(
    model: &Model,
    ids: &[u32],
    ctx: usize,
    scoring: Scoring,
) -> Result<PerplexityResult> {
    if ctx < 2 {
        return Err(Error::InvalidArgument(format!(
            "perplexity window {ctx} must be at least 2 tokens"
        )));
    }
    let vocab = model.config().vocab_size;
    if let Some(&id) = ids.iter().find(|&&t| t as usize >= vocab) {
        return Err(Error::TokenOutOfRange {
            id,
            vocab_size: vocab,
        });
    }
    // A window of ctx tokens runs ctx - 1 of them; the session checks that against the
    // model's context length.
    let mut session = model.session(ctx - 1)?;
    let mut r = PerplexityResult {
        nll_sum: 0.0,
        scored: 0,
        windows: 0,
    };
    let tok = model.tokenizer();
    let bos = tok.bos().filter(|_| tok.add_bos());
    let (min_len, first) = match scoring {
        Scoring::EveryToken => (2, 0),
        Scoring::SecondHalf => (ctx, ctx / 2),
    };
    let mut input = Vec::with_capacity(ctx); // (ctx)
    for window in ids.chunks(ctx).filter(|w| w.len() >= min_len) {
        input.clear();
        input.extend_from_slice(&window[..window.len() - 1]);
        if let (Scoring::SecondHalf, Some(b)) = (scoring, bos) {
            input[0] = b;
        }
        session.reset();
        session.forward_from(&input, first)?;
        // Rows in parallel, each with its own NLL; summed in order: the same result on any
        // number of threads.
        let targets = &window[1 + first..];
        let mut rows: Vec<(&mut [f32], f64)> = session
            .logits_mut()
            .chunks_exact_mut(vocab)
            .map(|row| (row, 0.0))
            .collect(); // (len - 1 - first) rows of vocab logits, and their NLL
        let bytes = targets.len() * vocab * std::mem::size_of::<f32>();
        for_each_chunk_mut(&mut rows, 1, bytes, |i, one| {
            let (row, nll) = &mut one[0];
            let t = row[targets[i] as usize] as f64;
            *nll = log_sum_exp_in_place(row) - t;
        });
        r.nll_sum += rows.iter().map(|(_, nll)| nll).sum::<f64>();
        r.scored += rows.len();
        r.windows += 1;
    }
    if r.scored == 0 {
        return Err(Error::InvalidArgument(format!(
            "{} tokens are too few to score",
            ids.len()
        )));
    }
    Ok(r)
}

/// `ln Σ exp(x)` with the SIMD exponentials of the attention kernel, summed in f32 over
/// runs of 1024 and in f64 across them (within 1e-6 of `log_sum_exp` on a 262,144-token
/// vocabulary). Overwrites `x` with the exponentials.
fn log_sum_exp_in_place(x: &mut [f32]) -> f64 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let isa = isa();
    let sum: f64 = x
        .chunks_mut(1024)
        .map(|c| exp_shift_sum(isa, c, max) as f64)
        .sum();
    max as f64 + sum.ln()
}

/// `ln Σ exp(x)`, in f64.
pub fn log_sum_exp(x: &[f32]) -> f64 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    max + x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log_sum_exp_matches_f64() {
        for (n, spread) in [(1, 1.0), (49_152, 8.0), (262_144, 30.0)] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i as f32 * 0.618).fract() - 0.5) * spread)
                .collect();
            let want = log_sum_exp(&x);
            let got = log_sum_exp_in_place(&mut x.clone());
            assert!(
                (got - want).abs() < 1e-6 * want.abs().max(1.0),
                "{n}: {got} vs {want}"
            );
        }
    }
}
