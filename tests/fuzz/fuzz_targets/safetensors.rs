//! A Hugging Face folder held in memory: `config.json` and `model.safetensors`. The first
//! byte chooses which one the fuzzer writes; the other is the seed model's. What parses
//! becomes a model and runs one forward pass.
#![no_main]

use ingot::model::hf::Folder;
use ingot::{ComputeMode, LoadOptions, Model, Tokenizer};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = include_str!("../seeds/config.json");
const WEIGHTS: &[u8] = include_bytes!("../seeds/model.safetensors");
const TOKENIZER: &str = include_str!("../seeds/tokenizer.json");

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let folder = if which & 1 == 0 {
        let Ok(cfg) = std::str::from_utf8(rest) else {
            return;
        };
        Folder::from_memory(cfg, WEIGHTS.to_vec())
    } else {
        Folder::from_memory(CONFIG, rest.to_vec())
    };
    let Ok(folder) = folder else {
        return;
    };
    // The seed tokenizer (320 tokens) is rebuilt per run: a model owns its tokenizer.
    let tok = Tokenizer::from_json(TOKENIZER).expect("the seed tokenizer parses");
    let mode = if which & 2 == 0 { ComputeMode::Native } else { ComputeMode::F32 };
    if let Ok(model) = Model::from_hf_parts(folder, tok, LoadOptions { mode }) {
        let ctx = model.config().seq_len.min(4);
        if let Ok(mut s) = model.session(ctx) {
            let _ = s.forward(&[1]);
        }
    }
});
