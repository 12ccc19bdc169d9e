//! Prints the token ids of UTF-8 text read from stdin, separated by spaces, on one line.
//! Special tokens written in the text (`<|im_start|>`, ...) are recognised; BOS is put
//! first when the model asks for it.
//!
//! ```text
//! echo -n "Hello world" | cargo run --release --example tokenize
//! ```

mod common;

use std::io::Read;
use std::path::PathBuf;

use clap::Parser;
use ingot::ComputeMode;

#[derive(Parser)]
#[command(about = "Print the token ids of stdin's text")]
struct Args {
    /// Model: a GGUF file, or a Hugging Face folder (config.json, safetensors, tokenizer.json; a hub cache entry works). Default: weights/SmolLM2-135M-Instruct.Q4_1.gguf, fetched if missing.
    #[arg(long)]
    model: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        common::fail(format!("reading stdin: {e}"));
    }
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| common::fail(format!("stdin is not valid UTF-8 ({e})")));
    let (model, _) =
        common::load(args.model, ComputeMode::Native).unwrap_or_else(|e| common::fail(e));
    let ids = model.tokenizer().encode(&text, true);
    let line: Vec<String> = ids.iter().map(u32::to_string).collect();
    println!("{}", line.join(" "));
}
