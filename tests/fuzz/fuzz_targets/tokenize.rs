//! Real tokenizers on arbitrary input: the first byte picks one (SmolLM2's byte-level BPE,
//! a SentencePiece BPE with byte fallback in two layouts, then every llama.cpp test
//! vocabulary `weights/fetch.sh llama-vocabs` put in `weights/llama.cpp/models/`: WordPiece,
//! Unigram and 15 pre-tokenizer regex sets) and whether the rest is text to encode (lossily
//! made UTF-8, as a caller with bytes would) or ids to decode, which must round-trip when
//! they came from `encode`.
#![no_main]

use std::sync::OnceLock;

use ingot::Tokenizer;
use libfuzzer_sys::fuzz_target;

fn tokenizers() -> &'static [Tokenizer] {
    static T: OnceLock<Vec<Tokenizer>> = OnceLock::new();
    T.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../reference/tokenizers/");
        let mut t: Vec<Tokenizer> = ["smollm2_tokenizer.json", "sp_tokenizer.json", "sp_first_tokenizer.json"]
            .iter()
            .map(|f| Tokenizer::from_json_file(format!("{dir}{f}")).expect("fixture tokenizer"))
            .collect();
        let vocabs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../weights/llama.cpp/models");
        let mut files: Vec<_> = std::fs::read_dir(vocabs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
            .collect();
        files.sort();
        t.extend(files.iter().map(|p| Tokenizer::from_gguf_file(p).expect("llama.cpp vocabulary")));
        t
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let all = tokenizers();
    let which = (sel as usize / 2) % all.len();
    let tok = &all[which];
    if sel & 1 == 0 {
        let text = String::from_utf8_lossy(rest);
        let ids = tok.encode(&text, false);
        let back = tok.decode(&ids).expect("ids from encode are in the vocabulary");
        // Byte-level BPE gives the text back, except that bytes with no token are
        // dropped (SmolLM2's vocabulary lacks a few, e.g. 0x04 and 0xF1; HF drops them
        // too), which can leave a character's other bytes undecodable: so the whole text
        // must come back as its characters do one by one. SentencePiece normalises
        // spaces, so only the byte-level one is checked.
        if which == 0 {
            let one_by_one: String = text
                .chars()
                .map(|c| {
                    let ids = tok.encode(c.encode_utf8(&mut [0; 4]), false);
                    tok.decode(&ids).expect("ids from encode")
                })
                .collect();
            assert_eq!(back, one_by_one, "round trip");
        }
    } else {
        let ids: Vec<u32> = rest
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) % (tok.vocab_size() as u32 + 8))
            .collect();
        let _ = tok.decode(&ids);
        let mut stream = ingot::StreamDecoder::new();
        for &id in &ids {
            let _ = stream.push(tok, id);
        }
        let _ = stream.finish();
    }
});
