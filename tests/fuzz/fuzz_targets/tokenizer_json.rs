//! Any text as a `tokenizer.json`; what loads encodes and decodes a few strings and ids.
#![no_main]

use ingot::Tokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tok) = Tokenizer::from_json(text) else {
        return;
    };
    for s in ["", "Hello world", "  12 345\n\t<|im_start|>é😀", "a\u{0301}b"] {
        let ids = tok.encode(s, true);
        let _ = tok.decode(&ids);
    }
    let n = tok.vocab_size() as u32;
    let _ = tok.decode(&[0, n.saturating_sub(1), n, u32::MAX]);
});
