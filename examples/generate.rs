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
    /// Keep only the K most likely tokens (0: off).
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches P (1: off).
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    top_p: f32,
    /// Drop tokens less likely than P times the most likely one (0: off).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    min_p: f32,
    /// Locally typical sampling with mass P (1: off).
    #[arg(long = "typical", default_value_t = 1.0, allow_negative_numbers = true)]
    typical_p: f32,
    /// Penalise repeats of the last --repeat-last-n tokens (1: off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    repeat_penalty: f32,
    /// How many recent tokens the penalties consider (prompt included).
    #[arg(long, default_value_t = 64)]
    repeat_last_n: usize,
    /// Subtract this from the logit of every token in the window (0: off).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    presence_penalty: f32,
    /// Subtract this times its count from the logit of every token in the window (0: off).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    frequency_penalty: f32,
    /// Add a bias to a token's logit: TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 2-inf bans
    /// token 2). Repeatable.
    #[arg(long, value_parser = parse_logit_bias)]
    logit_bias: Vec<(u32, f32)>,
    /// Stop when this text appears (it is not printed). Repeatable.
    #[arg(long)]
    stop: Vec<String>,
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

/// `ID+BIAS`, `ID-BIAS` or `ID=BIAS`, BIAS a number or `inf`.
fn parse_logit_bias(s: &str) -> Result<(u32, f32), String> {
    let at = s
        .find(['+', '-', '='])
        .ok_or_else(|| format!("'{s}' is not TOKEN_ID+BIAS or TOKEN_ID-BIAS"))?;
    let id: u32 = s[..at]
        .parse()
        .map_err(|_| format!("'{}' is not a token id", &s[..at]))?;
    let (sign, rest) = match &s[at..at + 1] {
        "-" => (-1.0, &s[at + 1..]),
        "+" => (1.0, &s[at + 1..]),
        _ => (1.0, &s[at + 1..]),
    };
    let bias: f32 = rest
        .parse()
        .map_err(|_| format!("'{rest}' is not a bias"))?;
    if bias.is_nan() {
        return Err("the bias is NaN".into());
    }
    Ok((id, sign * bias))
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
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        typical_p: args.typical_p,
        repeat_penalty: args.repeat_penalty,
        frequency_penalty: args.frequency_penalty,
        presence_penalty: args.presence_penalty,
        repeat_last_n: args.repeat_last_n,
        logit_bias: args.logit_bias.clone(),
        seed: args.seed,
    })?;
    let (model, load_s) = common::load(args.model, args.dtype)?;
    let tok = model.tokenizer();
    let mut opts = GenerateOptions {
        max_tokens: args.max_tokens,
        ignore_eos: args.ignore_eos,
        stop_tokens: Vec::new(),
        stop_strings: args.stop.clone(),
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
