//! Text generation with a GGUF model or a Hugging Face folder, streamed to stdout.
//!
//! ```text
//! cargo run --release --example generate -- --prompt "Once upon a time"
//! cargo run --release --example generate -- --chat --prompt "What is the capital of France?"
//! ```
//! Only generated text goes to stdout; the final stderr line gives load time, token
//! counts, speeds and the kernels' instruction set:
//! `load: 0.10 s | prefill: 37 tok, 812.4 tok/s | decode: 64 tok, 151.2 tok/s | isa: avx512`.

mod common;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use ingot::tokenizer::chat::Message;
use ingot::{
    ComputeMode, GenerateOptions, GenerationStats, KvType, Model, Sampler, SamplerConfig, Session,
    StopReason, Tokenizer,
};

#[derive(Parser)]
#[command(
    about = "Generate text with a GGUF model or a Hugging Face folder (default: SmolLM2-135M-Instruct Q4_1, fetched on first use)"
)]
struct Args {
    /// Model: a GGUF file, or a Hugging Face folder (config.json, safetensors, tokenizer.json; a hub cache entry works). Default: weights/SmolLM2-135M-Instruct.Q4_1.gguf, fetched if missing.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt text.
    #[arg(long, conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// Read the prompt from a UTF-8 file.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Wrap the prompt as one user turn with the model's chat template (SmolLM2's adds its
    /// default system turn) and end generation at the end-of-turn token.
    #[arg(long)]
    chat: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Sampling temperature; 0 is greedy (always the most likely token). Default: 0 with
    /// --chat and --interactive (a 135M model answers questions best greedily), 0.7
    /// otherwise.
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
    /// KV cache type: f16 (half the memory and of the bytes a decode step reads) or f32;
    /// default f16 with --dtype native, f32 with --dtype f32.
    #[arg(long)]
    kv_cache: Option<KvType>,
    /// Chat on stdin: each line is one user turn (works over a pipe), rendered with the
    /// model's chat template; the KV cache is reused across turns. /reset clears the
    /// conversation; Ctrl-D ends it.
    #[arg(long, conflicts_with_all = ["prompt", "prompt_file", "chat"])]
    interactive: bool,
    /// Do not stop at end-of-sequence tokens (for benchmarking).
    #[arg(long)]
    ignore_eos: bool,
    /// When the context window is full, drop the older half of the text (after the
    /// first --keep tokens) and go on, instead of stopping.
    #[arg(long)]
    context_shift: bool,
    /// Tokens at the start of the prompt a --context-shift never drops.
    #[arg(long, default_value_t = 0)]
    keep: usize,
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

/// `prefill: N tok, X tok/s | decode: M tok, Y tok/s`.
fn speeds(s: &GenerationStats) -> String {
    format!(
        "prefill: {} tok, {:.1} tok/s | decode: {} tok, {:.1} tok/s",
        s.prompt_tokens,
        s.prefill_tok_per_s(),
        s.generated_tokens,
        s.decode_tok_per_s()
    )
}

/// The model's end-of-turn tokens: EOS, and the chat markers of common templates that
/// exist in its vocabulary.
fn chat_stop_tokens(tok: &Tokenizer) -> Vec<u32> {
    let markers = [
        "<|im_end|>",
        "<|eot_id|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
    ];
    let mut ids: Vec<u32> = tok
        .eos()
        .into_iter()
        .chain(markers.iter().filter_map(|m| tok.special_id(m)))
        .collect();
    ids.dedup();
    ids
}

/// A conversation on stdin: each line is a user turn, `/reset` starts over, end of input
/// (Ctrl-D) ends. Each turn renders the whole conversation with the chat template and
/// runs only the tokens after the longest prefix already in the KV cache.
fn interactive(
    model: &Model,
    session: &mut Session,
    sampler: &mut Sampler,
    opts: GenerateOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let tok = model.tokenizer();
    let mut messages: Vec<Message> = Vec::new();
    let mut out = std::io::stdout();
    let mut turn = 0;
    eprintln!("(one message per line; /reset clears the conversation; Ctrl-D ends)");
    for line in std::io::stdin().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let line = line.trim_end_matches('\r');
        if line == "/reset" {
            messages.clear();
            session.reset();
            turn = 0;
            eprintln!("(conversation cleared)");
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        turn += 1;
        messages.push(Message::new("user", line));
        let ids = tok.encode(&model.apply_chat_template(&messages, true)?, true);
        // Reuse the cached prefix; at least one token must run to get logits.
        let reused = session
            .tokens()
            .iter()
            .zip(&ids)
            .take_while(|(a, b)| a == b)
            .count()
            .min(ids.len() - 1);
        session.truncate(reused);
        let mut gen = session.generate(&ids[reused..], sampler, opts.clone());
        let mut answer = String::new();
        for piece in gen.by_ref() {
            let piece = piece?;
            out.write_all(piece.as_bytes())?;
            out.flush()?;
            answer.push_str(&piece);
        }
        writeln!(out)?;
        eprintln!(
            "turn {turn}: {} prompt tokens, {reused} reused from the cache | {}",
            ids.len(),
            speeds(gen.stats())
        );
        messages.push(Message::new("assistant", answer.trim()));
    }
    Ok(())
}

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
        .unwrap_or(if args.chat || args.interactive {
            0.0
        } else {
            0.7
        });
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
    let (model, load_s) = common::load(args.model.clone(), args.dtype)?;
    let tok = model.tokenizer();
    let mut opts = GenerateOptions {
        max_tokens: args.max_tokens,
        ignore_eos: args.ignore_eos,
        stop_tokens: Vec::new(),
        stop_strings: args.stop.clone(),
        context_shift: args.context_shift,
        keep: args.keep,
    };
    if args.chat || args.interactive {
        // A turn ends at the model's end-of-turn token, whatever the file's EOS is.
        opts.stop_tokens = chat_stop_tokens(tok);
    }
    let ctx = args.ctx.unwrap_or(model.config().seq_len.min(4096));
    let mut session = model.session_with(ctx, args.kv_cache.unwrap_or(model.default_kv()))?;
    if args.interactive {
        return interactive(&model, &mut session, &mut sampler, opts);
    }
    let prompt_text = if args.chat {
        model.apply_chat_template(&[Message::new("user", &text)], true)?
    } else {
        text
    };
    let prompt = tok.encode(&prompt_text, true);
    if prompt.is_empty() {
        return Err("the prompt is empty".into());
    }
    let mut gen = session.generate(&prompt, &mut sampler, opts);
    let mut out = std::io::stdout().lock();
    for piece in gen.by_ref() {
        out.write_all(piece?.as_bytes())?;
        out.flush()?;
    }
    writeln!(out)?;
    let s = gen.stats();
    if s.stop == Some(StopReason::ContextFull) {
        eprintln!("note: stopped because the context window of {ctx} tokens is full (raise --ctx, or add --context-shift)");
    }
    if s.shifts > 0 {
        eprintln!("note: the context window of {ctx} tokens filled up; {} context shifts dropped older text", s.shifts);
    }
    eprintln!(
        "load: {load_s:.2} s | {} | isa: {}",
        speeds(s),
        ingot::kernels::cpu::isa().name()
    );
    Ok(())
}
