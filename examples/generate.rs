//! Text generation with a GGUF model, streamed to stdout.
//!
//! ```text
//! cargo run --release --example generate -- --prompt "Once upon a time"
//! cargo run --release --example generate -- --chat --prompt "What is the capital of France?"
//! ```
//! Only generated text goes to stdout; the final stderr line gives load time, token
//! counts and speeds: `load: 0.10 s | prefill: 37 tok, 812.4 tok/s | decode: 64 tok, 151.2 tok/s`.

mod common;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use ingot::tokenizer::chat;
use ingot::{ComputeMode, GenerateOptions, Sampler, SamplerConfig, StopReason};

#[derive(Parser)]
#[command(
    about = "Generate text with a GGUF model (default: SmolLM2-135M-Instruct Q4_1, fetched on first use)"
)]
struct Args {
    /// Model file (GGUF). Default: weights/SmolLM2-135M-Instruct.Q4_1.gguf, fetched if missing.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt text.
    #[arg(long, conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// Read the prompt from a UTF-8 file.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Wrap the prompt as one user turn of a ChatML conversation (with SmolLM2's default
    /// system turn) and end generation at <|im_end|>.
    #[arg(long)]
    chat: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Sampling temperature; 0 is greedy (always the most likely token). Default: 0 with
    /// --chat (a 135M model answers questions best greedily), 0.7 otherwise.
    #[arg(long, allow_negative_numbers = true)]
    temperature: Option<f32>,
    /// Random seed for sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Weight format at run time: native (quantized weights, decoded on the fly) or f32
    /// (dequantized at load).
    #[arg(long, default_value = "native")]
    dtype: ComputeMode,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Context window in tokens (prompt plus generated); default 4096, at most the model's.
    #[arg(long)]
    ctx: Option<usize>,
    /// Do not stop at end-of-sequence tokens (for benchmarking).
    #[arg(long)]
    ignore_eos: bool,
}

const DEFAULT_PROMPT: &str = "Once upon a time, there was a little";

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        common::fail(e);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    common::set_threads(args.threads)?;
    let text = match (&args.prompt, &args.prompt_file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => {
            let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            String::from_utf8(bytes)
                .map_err(|e| format!("{}: not valid UTF-8 ({e})", f.display()))?
        }
        (None, None) => DEFAULT_PROMPT.to_string(),
    };
    let temperature = args
        .temperature
        .unwrap_or(if args.chat { 0.0 } else { 0.7 });
    let mut sampler = Sampler::new(SamplerConfig {
        temperature,
        seed: args.seed,
    })?;
    let (model, load_s) = common::load(args.model, args.dtype)?;
    let tok = model.tokenizer();
    let mut opts = GenerateOptions {
        max_tokens: args.max_tokens,
        ignore_eos: args.ignore_eos,
        stop_tokens: Vec::new(),
    };
    let prompt_text = if args.chat {
        // ChatML turns end with <|im_end|>; it ends the answer whatever the file's EOS is.
        opts.stop_tokens
            .extend(tok.special_id("<|im_end|>").or(tok.eos()));
        chat::chatml(chat::SMOLLM2_SYSTEM, &text)
    } else {
        text
    };
    let prompt = tok.encode(&prompt_text, true);
    if prompt.is_empty() {
        return Err("the prompt is empty".into());
    }
    let ctx = args.ctx.unwrap_or(model.config().seq_len.min(4096));
    let mut session = model.session(ctx)?;

    let mut gen = session.generate(&prompt, &mut sampler, opts);
    let mut out = std::io::stdout().lock();
    for piece in gen.by_ref() {
        out.write_all(piece?.as_bytes())?;
        out.flush()?;
    }
    writeln!(out)?;
    let s = gen.stats();
    if s.stop == Some(StopReason::ContextFull) {
        eprintln!("note: stopped because the context window of {ctx} tokens is full (raise --ctx)");
    }
    eprintln!(
        "load: {load_s:.2} s | prefill: {} tok, {:.1} tok/s | decode: {} tok, {:.1} tok/s",
        s.prompt_tokens,
        s.prefill_tok_per_s(),
        s.generated_tokens,
        s.decode_tok_per_s()
    );
    Ok(())
}
