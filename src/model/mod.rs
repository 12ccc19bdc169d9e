//! A loaded model (`Model`: config, weights, tokenizer; immutable, `Send + Sync`) and a
//! conversation with it (`Session`: the KV cache and scratch buffers).

pub mod config;
pub mod llama;
pub mod perplexity;
pub mod weights;

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::Gguf;
use crate::tokenizer::chat::{ChatTemplate, Message, RenderOptions, CHATML_TEMPLATE};
use crate::tokenizer::Tokenizer;
pub use config::Config;
use llama::{KvCache, Logits, Scratch};
pub use weights::ComputeMode;
use weights::Weights;

/// Options for `Model::load`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    pub mode: ComputeMode,
}

/// A model ready to run: hyperparameters, weights and tokenizer.
///
/// Weights in `ComputeMode::Native` are views into the memory-mapped file, which must not
/// be modified while the model is loaded.
pub struct Model {
    config: Config,
    weights: Weights,
    tokenizer: Tokenizer,
    chat_template: Option<String>,
    mode: ComputeMode,
}

impl Model {
    /// Loads a GGUF model file.
    pub fn load(path: impl AsRef<Path>, opts: LoadOptions) -> Result<Model> {
        let gguf = Gguf::open(path.as_ref())?;
        Model::from_gguf(&gguf, opts)
    }

    /// Builds a model from a parsed GGUF file (which may live in memory).
    pub fn from_gguf(gguf: &Gguf, opts: LoadOptions) -> Result<Model> {
        let config = Config::from_gguf(gguf)?;
        let tokenizer = Tokenizer::from_gguf(gguf)?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(Error::metadata(
                "tokenizer.ggml.tokens",
                format!(
                    "{} tokens, but the model has a vocabulary of {}",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            ));
        }
        let weights = Weights::from_gguf(gguf, &config, opts.mode)?;
        let chat_template = gguf
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok(Model {
            config,
            weights,
            tokenizer,
            chat_template,
            mode: opts.mode,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The Jinja chat template stored in the model file, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Renders a conversation as the model expects it, with its own chat template (ChatML
    /// if the file has none) and its BOS/EOS token texts, as Hugging Face's
    /// `apply_chat_template(messages, add_generation_prompt=...)` does.
    pub fn apply_chat_template(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = ChatTemplate::new(self.chat_template().unwrap_or(CHATML_TEMPLATE))?;
        let text = |id: Option<u32>| {
            id.and_then(|id| self.tokenizer.token_bytes(id).ok())
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let opts = RenderOptions {
            add_generation_prompt,
            bos_token: text(self.tokenizer.bos()),
            eos_token: text(self.tokenizer.eos()),
            ..Default::default()
        };
        template.render(messages, &opts)
    }

    pub fn mode(&self) -> ComputeMode {
        self.mode
    }

    /// A new session with room for `context` tokens (prompt and generated text together).
    /// `context` must be between 1 and the model's trained context length.
    pub fn session(&self, context: usize) -> Result<Session<'_>> {
        if context == 0 || context > self.config.seq_len {
            return Err(Error::InvalidArgument(format!(
                "context length {context} must be between 1 and the model's {}",
                self.config.seq_len
            )));
        }
        Ok(Session {
            model: self,
            cache: KvCache::new(&self.config, context)?,
            scratch: Scratch::default(),
            tokens: Vec::new(),
        })
    }
}

/// One sequence being processed: the KV cache of every token so far.
pub struct Session<'m> {
    model: &'m Model,
    cache: KvCache,
    scratch: Scratch,
    /// Tokens whose keys and values are in the cache, in order.
    tokens: Vec<u32>,
}

impl<'m> Session<'m> {
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Number of tokens in the cache (the position of the next token).
    pub fn pos(&self) -> usize {
        self.tokens.len()
    }

    /// The tokens processed so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Capacity of the cache in tokens.
    pub fn context_len(&self) -> usize {
        self.cache.max_seq
    }

    /// Forgets every token (the cache is overwritten by later calls).
    pub fn reset(&mut self) {
        self.tokens.clear();
    }

    /// Keeps only the first `len` tokens (no-op if there are fewer): later calls continue
    /// from there, as if the rest had never been run. Chat front-ends use it to reuse a
    /// shared prefix.
    pub fn truncate(&mut self, len: usize) {
        self.tokens.truncate(len);
    }

    /// Runs `tokens` after those already in the cache and returns the `(vocab_size)`
    /// logits that predict the token after the last one. A whole prompt in one call is a
    /// prefill; a single token is a decode step.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.run(tokens, Logits::Last)
    }

    /// Like `forward`, but returns the logits after every token: `(tokens.len(),
    /// vocab_size)`, row `i` predicting token `i + 1`.
    pub fn forward_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.run(tokens, Logits::All)
    }

    fn run(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument(
                "forward needs at least one token".into(),
            ));
        }
        let vocab_size = self.model.config.vocab_size;
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(Error::TokenOutOfRange { id, vocab_size });
        }
        let needed = self.pos() + tokens.len();
        if needed > self.cache.max_seq {
            return Err(Error::ContextOverflow {
                needed,
                context: self.cache.max_seq,
            });
        }
        let pos0 = self.pos();
        let (c, w) = (&self.model.config, &self.model.weights);
        let (cache, scratch) = (&mut self.cache, &mut self.scratch);
        // Run the whole pass on a rayon worker: the kernels' parallel regions then start
        // from inside the pool (a cheap fork) rather than from an outside thread, which
        // would have to wake the pool and sleep on a lock for each of ~250 regions.
        let logits = rayon::scope(|_| llama::forward(c, w, cache, scratch, tokens, pos0, want));
        self.tokens.extend_from_slice(tokens);
        Ok(logits)
    }
}
