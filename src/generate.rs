//! The generation loop: prefill the prompt, then sample, stream and feed back one token
//! at a time until EOS, the token limit or the end of the context.

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
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            ignore_eos: false,
            stop_tokens: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token (EOS) was sampled.
    Eos,
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
    logits: Option<Vec<f32>>,
    decoder: StreamDecoder,
    stats: GenerationStats,
    tokens: Vec<u32>,
    done: bool,
}

impl<'m> Session<'m> {
    /// Generates text after `prompt` (token ids, appended to what the session already
    /// holds). Yields decoded text pieces as they complete; control tokens are not
    /// printed. A prompt that does not fit in the context is an error on the first call.
    pub fn generate<'s>(
        &'s mut self,
        prompt: &[u32],
        sampler: &'s mut Sampler,
        opts: GenerateOptions,
    ) -> Generation<'s, 'm> {
        let mut opts = opts;
        if opts.stop_tokens.is_empty() {
            opts.stop_tokens.extend(self.model().tokenizer().eos());
        }
        Generation {
            session: self,
            sampler,
            opts,
            prompt: prompt.to_vec(),
            logits: None,
            decoder: StreamDecoder::new(),
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

    fn finish(&mut self, reason: StopReason) -> Option<Result<String>> {
        self.done = true;
        self.stats.stop = Some(reason);
        let rest = self.decoder.finish();
        (!rest.is_empty()).then_some(Ok(rest))
    }

    fn step(&mut self) -> Result<Option<String>> {
        let logits = match self.logits.take() {
            Some(l) => l,
            None => {
                // First call: prefill.
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
                let l = self.session.forward(&self.prompt)?;
                self.stats.prefill_time = t.elapsed();
                self.stats.prompt_tokens = self.prompt.len();
                l
            }
        };
        if self.tokens.len() >= self.opts.max_tokens {
            return Ok(None);
        }
        let tok = self.sampler.sample(&logits);
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
        if self.session.pos() < self.session.context_len() {
            let t = Instant::now();
            self.logits = Some(self.session.forward(&[tok])?);
            self.stats.decode_time += t.elapsed();
            self.stats.decode_steps += 1;
        } else {
            self.stats.stop = Some(StopReason::ContextFull);
        }
        Ok(Some(piece))
    }
}

impl Iterator for Generation<'_, '_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        while !self.done {
            match self.step() {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Some(piece)) => {
                    if let Some(reason) = self.stats.stop {
                        // Context full: this piece is the last.
                        let rest = self.finish(reason).and_then(Result::ok).unwrap_or_default();
                        return Some(Ok(piece + &rest));
                    }
                    if !piece.is_empty() {
                        return Some(Ok(piece));
                    }
                }
                Ok(None) => {
                    let reason = self.stats.stop.unwrap_or(StopReason::MaxTokens);
                    return self.finish(reason);
                }
            }
        }
        None
    }
}
