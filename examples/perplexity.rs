//! Perplexity of a text file: the token ids are split into consecutive windows of `--ctx`
//! tokens, each run from an empty cache, and every token after the first of each window
//! is scored; with `--llama-cpp`, as llama.cpp's `llama-perplexity` does (whole windows,
//! BOS first, the second half of each scored), so the two tools' figures compare
//! directly. Prints `perplexity: X` last.
//!
//! ```text
//! cargo run --release --example perplexity -- --file tests/reference/ppl_text.txt --ctx 256
//! ```

mod common;

use std::path::PathBuf;

use clap::Parser;
use ingot::ComputeMode;

#[derive(Parser)]
#[command(about = "Perplexity of a model on a text file")]
struct Args {
    /// Model: a GGUF file, or a Hugging Face folder (config.json, safetensors, tokenizer.json; a hub cache entry works). Default: weights/SmolLM2-135M-Instruct.Q4_1.gguf, fetched if missing.
    #[arg(long)]
    model: Option<PathBuf>,
    /// UTF-8 text file to score.
    #[arg(long)]
    file: PathBuf,
    /// Window length in tokens.
    #[arg(long, default_value_t = 512)]
    ctx: usize,
    /// Weight format at run time: native or f32.
    #[arg(long, default_value = "native")]
    dtype: ComputeMode,
    /// Score as llama.cpp's llama-perplexity does: whole windows only, BOS in place of each
    /// window's first token (when the model adds BOS), only the second half scored.
    #[arg(long)]
    llama_cpp: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        common::fail(e);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    common::set_threads(args.threads)?;
    let bytes = std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("{}: not valid UTF-8 ({e})", args.file.display()))?;
    if args.ctx < 2 {
        return Err(format!("--ctx {} must be at least 2", args.ctx).into());
    }
    let (model, _) = common::load(args.model, args.dtype)?;
    let ids = model.tokenizer().encode(&text, true);
    use ingot::model::perplexity::{perplexity_with, Scoring};
    let scoring = if args.llama_cpp {
        Scoring::SecondHalf
    } else {
        Scoring::EveryToken
    };
    let r = perplexity_with(&model, &ids, args.ctx, scoring)?;
    eprintln!(
        "{} tokens, {} windows of up to {}, {} scored",
        ids.len(),
        r.windows,
        args.ctx,
        r.scored
    );
    println!("perplexity: {:.4}", r.perplexity());
    Ok(())
}
