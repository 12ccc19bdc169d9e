//! Helpers shared by the examples: model path, thread pool, loading.
#![allow(dead_code)] // each example uses a subset of these helpers

use std::path::PathBuf;
use std::time::Instant;

use ingot::{ComputeMode, LoadOptions, Model};

/// Most threads the examples accept: more than this is a typo, not a machine.
pub const MAX_THREADS: usize = 1024;

/// `--model`, or the default model (fetched by `weights/fetch.sh` if missing).
pub fn model_path(arg: Option<PathBuf>) -> ingot::Result<PathBuf> {
    match arg {
        Some(p) => Ok(p),
        None => ingot::fetch::default_model(),
    }
}

/// Sizes rayon's global pool. `None` keeps rayon's default (one thread per core).
pub fn set_threads(n: Option<usize>) -> Result<(), String> {
    if let Some(n) = n {
        if n == 0 || n > MAX_THREADS {
            return Err(format!("--threads {n} must be between 1 and {MAX_THREADS}"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Loads the model, returning it with the load time in seconds.
pub fn load(arg: Option<PathBuf>, mode: ComputeMode) -> ingot::Result<(Model, f64)> {
    let path = model_path(arg)?;
    let t = Instant::now();
    let model = Model::load(&path, LoadOptions { mode })?;
    Ok((model, t.elapsed().as_secs_f64()))
}

/// Prints `error: ...` and exits with status 1.
pub fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}
