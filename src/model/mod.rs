//! A loaded model (`Model`: config, weights, tokenizer; immutable, `Send + Sync`) and a
//! conversation with it (`Session`: the KV cache and scratch buffers).

pub mod config;
pub mod cost;
pub mod hf;
pub mod perplexity;
pub mod transformer;
pub mod weights;

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::Gguf;
use crate::tokenizer::chat::{ChatTemplate, Message, RenderOptions, CHATML_TEMPLATE};
use crate::tokenizer::Tokenizer;
pub use config::Config;
pub use transformer::KvType;
use transformer::{KvCache, Logits, Scratch};
pub use weights::ComputeMode;
use weights::{gguf_name, Weights};

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
    /// Tokens that end generation: the tokenizer's EOS and any the model's generation
    /// config adds.
    eos_ids: Vec<u32>,
    mode: ComputeMode,
}

impl Model {
    /// Loads a model: a GGUF file, or a Hugging Face folder (`config.json`, safetensors
    /// weights, `tokenizer.json`; a hub cache entry works too).
    pub fn load(path: impl AsRef<Path>, opts: LoadOptions) -> Result<Model> {
        let path = path.as_ref();
        if path.is_dir() {
            return Model::from_hf_dir(path, opts);
        }
        let gguf = Gguf::open(path)?;
        Model::from_gguf(&gguf, opts)
    }

    /// Loads a Hugging Face model folder.
    pub fn from_hf_dir(dir: &Path, opts: LoadOptions) -> Result<Model> {
        let folder = hf::Folder::open(dir)?;
        let tok_path = folder.tokenizer_path();
        if !tok_path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "{} is missing: the folder has no tokenizer",
                tok_path.display()
            )));
        }
        let tokenizer = Tokenizer::from_json_file(&tok_path)?
            .with_named_specials(folder.bos_token.as_deref(), folder.eos_token.as_deref());
        Model::from_hf_parts(folder, tokenizer, opts)
    }

    /// Builds a model from the parts of a Hugging Face folder (which may have been read
    /// from memory: `hf::Folder::from_memory`).
    pub fn from_hf_parts(
        folder: hf::Folder,
        tokenizer: Tokenizer,
        opts: LoadOptions,
    ) -> Result<Model> {
        let config = folder.config;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json has {} tokens, but config.json a vocabulary of {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let arch = config.arch;
        let weights = Weights::load(
            &folder.checkpoint,
            &|role, l| hf::hf_name(arch, role, l),
            &config,
            opts.mode,
        )?;
        let mut eos_ids: Vec<u32> = tokenizer.eos().into_iter().collect();
        for id in folder.eos_ids {
            if (id as usize) < config.vocab_size && !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        Ok(Model {
            config,
            weights,
            tokenizer,
            chat_template: folder.chat_template,
            eos_ids,
            mode: opts.mode,
        })
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
        let weights = Weights::load(gguf, &gguf_name, &config, opts.mode)?;
        let chat_template = gguf
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok(Model {
            config,
            weights,
            eos_ids: tokenizer.eos().into_iter().collect(),
            tokenizer,
            chat_template,
            mode: opts.mode,
        })
    }

    /// Tokens that end a generation.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
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
    /// if the file has none but the vocabulary has ChatML's markers) and its BOS/EOS token
    /// texts, as Hugging Face's
    /// `apply_chat_template(messages, add_generation_prompt=...)` does.
    pub fn apply_chat_template(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String> {
        // Without a template of its own, ChatML, but only for a vocabulary that has its
        // markers: a base model (Gemma 3 270M) has no chat format to guess.
        let source = match self.chat_template() {
            Some(t) => t,
            None if self.tokenizer.special_id("<|im_start|>").is_some() => CHATML_TEMPLATE,
            None => {
                return Err(Error::Template(
                    "the model has no chat template (a base model?): use a plain prompt".into(),
                ))
            }
        };
        let template = ChatTemplate::new(source)?;
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

    /// A new session with room for `context` tokens (prompt and generated text together),
    /// its KV cache of this model's default type (`default_kv`). `context` must be
    /// between 1 and the model's trained context length.
    pub fn session(&self, context: usize) -> Result<Session<'_>> {
        self.session_with(context, self.default_kv())
    }

    /// The KV cache type of `session`: f16 in native mode (half the memory, and half the
    /// bytes a decode step reads; llama.cpp's default), f32 in f32 mode (the reference
    /// path, nothing rounded).
    pub fn default_kv(&self) -> KvType {
        match self.mode {
            ComputeMode::Native => KvType::F16,
            ComputeMode::F32 => KvType::F32,
        }
    }

    /// `session` with a KV cache of `kv` values.
    pub fn session_with(&self, context: usize, kv: KvType) -> Result<Session<'_>> {
        if context == 0 || context > self.config.seq_len {
            return Err(Error::InvalidArgument(format!(
                "context length {context} must be between 1 and the model's {}",
                self.config.seq_len
            )));
        }
        Ok(Session {
            model: self,
            cache: KvCache::new(&self.config, context, kv)?,
            scratch: Scratch::default(),
            // As long as the cache, so that decoding never grows it.
            tokens: Vec::with_capacity(context),
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
    /// prefill; a single token is a decode step. The logits are lent from the session's
    /// workspace until the next call (copy them with `to_vec` to keep them): a warm
    /// decode step allocates nothing.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.run(tokens, Logits::Last)
    }

    /// Like `forward`, but returns the logits after every token: `(tokens.len(),
    /// vocab_size)`, row `i` predicting token `i + 1`.
    pub fn forward_all(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.run(tokens, Logits::All)
    }

    /// Like `forward_all`, but only the logits after tokens `first..`: `(tokens.len() -
    /// first, vocab_size)` (the LM head, a large share of a long prefill's work, runs for
    /// those rows only).
    pub fn forward_from(&mut self, tokens: &[u32], first: usize) -> Result<&[f32]> {
        if first >= tokens.len() {
            return Err(Error::InvalidArgument(format!(
                "logits from position {first} of a batch of {} tokens",
                tokens.len()
            )));
        }
        self.run(tokens, Logits::From(first))
    }

    /// The logits of the last `forward*` call (empty before the first, and after a call
    /// that failed its checks keeps the previous ones).
    pub fn logits(&self) -> &[f32] {
        &self.scratch.logits
    }

    /// Runs only the weight matmuls of one decode step (every projection and the LM
    /// head, on this session's buffers, whose contents it overwrites; the cache and the
    /// position are untouched). `benches/forward.rs` times it beside a real decode step:
    /// the difference is the step's time outside matmuls.
    pub fn decode_matmuls(&mut self) {
        let (c, w) = (&self.model.config, &self.model.weights);
        transformer::decode_matmuls(c, w, &mut self.scratch);
    }

    /// The last logits, to be overwritten in place (perplexity's log-sum-exp).
    pub(crate) fn logits_mut(&mut self) -> &mut [f32] {
        &mut self.scratch.logits
    }

    fn run(&mut self, tokens: &[u32], want: Logits) -> Result<&[f32]> {
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
        // The pass runs on the calling thread; the kernels' regions go to the thread
        // team (`kernels::par`), whose workers spin between regions. (Running it on a
        // rayon worker instead left one more runnable thread than cores: 8% slower.)
        transformer::forward(c, w, cache, scratch, tokens, pos0, want);
        self.tokens.extend_from_slice(tokens);
        Ok(self.logits())
    }
}
