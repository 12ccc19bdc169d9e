//! Any bytes as a GGUF file: the reader (header, metadata, tensor infos), then, for what
//! parses, the tokenizer (byte-level BPE or SentencePiece vocabularies), the config and
//! weights of a model, and one forward pass. Every
//! step must return a value or an error: a panic, abort or runaway allocation is a bug.
#![no_main]

use std::sync::Arc;

use ingot::io::bytes::FileBytes;
use ingot::io::Gguf;
use ingot::{ComputeMode, LoadOptions, Model};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::parse(Arc::new(FileBytes::from_vec(data.to_vec()))) else {
        return;
    };
    // The tokenizer on its own (a model needs a valid config first).
    if let Ok(tok) = ingot::Tokenizer::from_gguf(&g) {
        let ids = tok.encode("Hi  there\n<|im_end|> 12 é", true);
        let _ = tok.decode(&ids);
    }
    // The first byte of the file picks the compute mode (it is the 'G' of the magic in a
    // valid file, so the mutations that keep a file valid flip it rarely: f32 mode, the
    // slower one, gets a share of the runs all the same).
    let mode = if data[0] & 1 == 0 { ComputeMode::F32 } else { ComputeMode::Native };
    let Ok(model) = Model::from_gguf(&g, LoadOptions { mode }) else {
        return;
    };
    if let Ok(mut s) = model.session(model.config().seq_len.min(2)) {
        let _ = s.forward(&[0]);
    }
    let _ = model.tokenizer().decode(&[0, 1, 2, 3]);
});
