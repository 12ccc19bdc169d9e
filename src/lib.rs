//! # ingot
//!
//! A from-scratch, pure-Rust transformer inference library for CPUs.
//!
//! ```no_run
//! use ingot::{GenerateOptions, LoadOptions, Model, Sampler, SamplerConfig};
//!
//! let model = Model::load("weights/SmolLM2-135M-Instruct.Q4_1.gguf", LoadOptions::default())?;
//! let prompt = model.tokenizer().encode("Once upon a time", true);
//! let mut session = model.session(2048)?;
//! let mut sampler = Sampler::new(SamplerConfig { temperature: 0.8, seed: 7, ..Default::default() })?;
//! for piece in session.generate(&prompt, &mut sampler, GenerateOptions { max_tokens: 64, ..Default::default() }) {
//!     print!("{}", piece?);
//! }
//! # Ok::<(), ingot::Error>(())
//! ```
//!
//! ## Streaming to another thread
//!
//! `Session::generate` is an iterator of text pieces (never half a UTF-8 character). A
//! `Model` is `Send + Sync`, so generation can run on one thread while another consumes
//! the pieces, e.g. through a channel:
//!
//! ```no_run
//! use std::sync::mpsc;
//! use ingot::tokenizer::chat::Message;
//! use ingot::{GenerateOptions, LoadOptions, Model, Sampler, SamplerConfig};
//!
//! let model = Model::load("weights/SmolLM2-135M-Instruct.Q4_1.gguf", LoadOptions::default())?;
//! let chat = model.apply_chat_template(&[Message::new("user", "Tell me a joke.")], true)?;
//! let prompt = model.tokenizer().encode(&chat, true);
//! let (tx, rx) = mpsc::channel::<ingot::Result<String>>();
//! let (model, prompt) = (&model, &prompt);
//! std::thread::scope(|s| -> ingot::Result<()> {
//!     // The producer owns the sender: when it finishes, the consumer's loop ends.
//!     s.spawn(move || -> ingot::Result<()> {
//!         let mut session = model.session(1024)?;
//!         let mut sampler = Sampler::new(SamplerConfig { temperature: 0.7, seed: 1, ..Default::default() })?;
//!         let opts = GenerateOptions { max_tokens: 128, stop_strings: vec!["\n\n".into()], ..Default::default() };
//!         for piece in session.generate(&prompt, &mut sampler, opts) {
//!             if tx.send(piece).is_err() {
//!                 break; // the consumer hung up
//!             }
//!         }
//!         Ok(())
//!     });
//!     for piece in rx {
//!         print!("{}", piece?);
//!     }
//!     Ok(())
//! })?;
//! # Ok::<(), ingot::Error>(())
//! ```
//!
//! Layers, with arrows pointing one way: `io` (GGUF) and `tokenizer` feed `model` (config,
//! weights, the Llama forward pass, KV cache), which calls `kernels` (matmul, quantized
//! blocks, attention, norms, RoPE) over `tensor` storage.

pub mod error;
pub mod fetch;
pub mod generate;
pub mod io;
pub mod kernels;
pub mod model;
pub mod roofline;
pub mod sampling;
pub mod tensor;
pub mod tokenizer;

pub use error::{Error, Result};
pub use generate::{GenerateOptions, Generation, GenerationStats, StopReason};
pub use model::{ComputeMode, Config, KvType, LoadOptions, Model, Session};
pub use sampling::{Sampler, SamplerConfig};
pub use tensor::{DType, Tensor};
pub use tokenizer::{StreamDecoder, Tokenizer};
