//! The generation loop: prefill the prompt, then sample, stream and feed back one token
//! at a time until EOS, a stop string, the token limit or the end of the context.
//!
//! Stop strings are matched in the decoded text, across token boundaries: text that could
//! be the start of a stop string is held back until it is known not to be, and a stop
//! string itself is never yielded.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::model::Session;
use crate::sampling::Sampler;
use crate::tokenizer::StreamDecoder;

/// Options of one `Session::generate` call.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Keep going past end-of-sequence tokens (for benchmarks).
    pub ignore_eos: bool,
    /// Tokens that end generation; empty means the tokenizer's EOS.
    pub stop_tokens: Vec<u32>,
    /// Texts that end generation when they appear in the output (not yielded).
    pub stop_strings: Vec<String>,
    /// When the context window fills up, drop the older half of the tokens after the
    /// first `keep` and go on (llama.cpp's `--context-shift`) instead of stopping. The
    /// kept tokens are run again from an empty cache, since their keys carry their old
    /// positions.
    pub context_shift: bool,
    /// Tokens at the start (the system prompt, say) a context shift never drops.
    pub keep: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            ignore_eos: false,
            stop_tokens: Vec::new(),
            stop_strings: Vec::new(),
            context_shift: false,
            keep: 0,
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token (EOS) was sampled.
    Eos,
    /// A stop string appeared in the text.
    StopString,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
}

/// Token counts and timings of a generation.
#[derive(Clone, Debug, Default)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub prefill_time: Duration,
    /// Tokens sampled (a stop token included).
    pub generated_tokens: usize,
    /// Forward passes of generated tokens, and their time.
    pub decode_steps: usize,
    pub decode_time: Duration,
    pub stop: Option<StopReason>,
    /// Context shifts done (`GenerateOptions::context_shift`).
    pub shifts: usize,
}

impl GenerationStats {
    pub fn prefill_tok_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_time.as_secs_f64().max(1e-9)
    }
    pub fn decode_tok_per_s(&self) -> f64 {
        self.decode_steps as f64 / self.decode_time.as_secs_f64().max(1e-9)
    }
}

/// Iterator of generated text pieces; see `Session::generate`.
pub struct Generation<'s, 'm> {
    session: &'s mut Session<'m>,
    sampler: &'s mut Sampler,
    opts: GenerateOptions,
    prompt: Vec<u32>,
    /// Whether the prompt has run: from then on the session's logits predict the next
    /// token.
    prefilled: bool,
    decoder: StreamDecoder,
    /// Decoded text not yet yielded: it may be the start of a stop string.
    held: String,
    stats: GenerationStats,
    tokens: Vec<u32>,
    done: bool,
}

impl<'m> Session<'m> {
    /// Generates text after `prompt` (token ids, appended to what the session already
    /// holds). Yields decoded text pieces as they complete; control tokens are not
    /// printed. A prompt that does not fit in the context is an error on the first call.
    /// The prompt tokens are given to `sampler.accept` (repetition penalties see them).
    pub fn generate<'s>(
        &'s mut self,
        prompt: &[u32],
        sampler: &'s mut Sampler,
        opts: GenerateOptions,
    ) -> Generation<'s, 'm> {
        let mut opts = opts;
        if opts.stop_tokens.is_empty() {
            opts.stop_tokens.extend_from_slice(self.model().eos_ids());
        }
        opts.stop_strings.retain(|s| !s.is_empty());
        Generation {
            session: self,
            sampler,
            opts,
            prompt: prompt.to_vec(),
            prefilled: false,
            decoder: StreamDecoder::new(),
            held: String::new(),
            stats: GenerationStats::default(),
            tokens: Vec::new(),
            done: false,
        }
    }
}

impl Generation<'_, '_> {
    pub fn stats(&self) -> &GenerationStats {
        &self.stats
    }

    /// The token ids generated so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Runs one token: the prefill first, then sample, decode and feed back. Returns the
    /// token's text, or `None` when generation has ended (`stats.stop` says why).
    fn step(&mut self) -> Result<Option<String>> {
        if !self.prefilled {
            if self.prompt.is_empty() {
                return Err(Error::InvalidArgument("the prompt is empty".into()));
            }
            let needed = self.session.pos() + self.prompt.len();
            if needed > self.session.context_len() {
                return Err(Error::ContextOverflow {
                    needed,
                    context: self.session.context_len(),
                });
            }
            let t = Instant::now();
            self.session.forward(&self.prompt)?;
            self.stats.prefill_time = t.elapsed();
            self.stats.prompt_tokens = self.prompt.len();
            self.prompt.iter().for_each(|&t| self.sampler.accept(t));
            self.prefilled = true;
        }
        if self.tokens.len() >= self.opts.max_tokens {
            self.stats.stop = Some(StopReason::MaxTokens);
            return Ok(None);
        }
        let tok = self.sampler.sample(self.session.logits())?;
        self.sampler.accept(tok);
        self.tokens.push(tok);
        self.stats.generated_tokens += 1;
        if !self.opts.ignore_eos && self.opts.stop_tokens.contains(&tok) {
            self.stats.stop = Some(StopReason::Eos);
            return Ok(None);
        }
        let tokenizer = self.session.model().tokenizer();
        let piece = if tokenizer.is_control(tok) {
            String::new()
        } else {
            self.decoder.push(tokenizer, tok)?
        };
        let cached = self.session.pos();
        let keep = self.opts.keep.min(cached);
        if cached < self.session.context_len() {
            let t = Instant::now();
            self.session.forward(&[tok])?;
            self.stats.decode_time += t.elapsed();
            self.stats.decode_steps += 1;
        } else if self.opts.context_shift && cached - keep >= 2 {
            // Drop the older half after the kept start, then run what remains and the new
            // token from an empty cache.
            let mut tokens = self.session.tokens().to_vec();
            tokens.drain(keep..keep + (cached - keep) / 2);
            tokens.push(tok);
            let t = Instant::now();
            self.session.reset();
            self.session.forward(&tokens)?;
            self.stats.decode_time += t.elapsed();
            self.stats.decode_steps += 1;
            self.stats.shifts += 1;
        } else {
            self.stats.stop = Some(StopReason::ContextFull);
        }
        Ok(Some(piece))
    }

    /// Length of the longest tail of `held` that could begin a stop string.
    fn stop_prefix_len(&self) -> usize {
        let h = &self.held;
        self.opts
            .stop_strings
            .iter()
            .flat_map(|stop| {
                (1..stop.len().min(h.len() + 1))
                    .filter(move |&n| stop.is_char_boundary(n) && h.ends_with(&stop[..n]))
            })
            .max()
            .unwrap_or(0)
    }
}

impl Iterator for Generation<'_, '_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        while !self.done {
            let piece = match self.step() {
                Ok(p) => p,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let ended = piece.is_none() || self.stats.stop.is_some();
            self.held.push_str(&piece.unwrap_or_default());
            if ended {
                self.held.push_str(&self.decoder.finish());
            }
            let stop_at = self
                .opts
                .stop_strings
                .iter()
                .filter_map(|s| self.held.find(s.as_str()))
                .min();
            let out: String = if let Some(at) = stop_at {
                self.stats.stop = Some(StopReason::StopString);
                self.done = true;
                self.held.truncate(at);
                std::mem::take(&mut self.held)
            } else if ended {
                self.done = true;
                std::mem::take(&mut self.held)
            } else {
                let keep = self.stop_prefix_len();
                self.held.drain(..self.held.len() - keep).collect()
            };
            if !out.is_empty() {
                return Some(Ok(out));
            }
        }
        None
    }
}
