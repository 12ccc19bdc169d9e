//! Perplexity over consecutive windows (the evaluation behind `examples/perplexity.rs`
//! and the reference tests).

use crate::error::{Error, Result};
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

/// Splits `ids` into consecutive windows of `ctx` tokens (a last, shorter window is kept
/// if it has at least 2), runs each from an empty cache and scores every token after the
/// first of its window.
pub fn perplexity(model: &Model, ids: &[u32], ctx: usize) -> Result<PerplexityResult> {
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
    for window in ids.chunks(ctx).filter(|w| w.len() >= 2) {
        session.reset();
        let logits = session.forward_all(&window[..window.len() - 1])?;
        for (row, &target) in logits.chunks_exact(vocab).zip(&window[1..]) {
            r.nll_sum += log_sum_exp(row) - row[target as usize] as f64;
        }
        r.scored += window.len() - 1;
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

/// `ln Σ exp(x)`, in f64.
pub fn log_sum_exp(x: &[f32]) -> f64 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    max + x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln()
}
