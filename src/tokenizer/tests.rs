//! Unit tests on a hand-made vocabulary; parity with Hugging Face on the real SmolLM2
//! vocabulary is in `tests/reference.rs`.

use super::*;

/// Vocabulary: 0 = `<|end|>` (control), 1..=256 = the 256 byte chars, then merges
/// h+e, l+l, he+ll, hell+o, Ġ+w.
fn tiny() -> Tokenizer {
    let bl = ByteLevel::default();
    let mut tokens = vec!["<|end|>".to_string()];
    tokens.extend((0..=255u8).map(|b| bl.char_of(b).to_string()));
    let merges: Vec<(String, String)> = [
        ("h", "e"),
        ("l", "l"),
        ("he", "ll"),
        ("hell", "o"),
        ("Ġ", "w"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for (a, b) in &merges {
        tokens.push(format!("{a}{b}"));
    }
    let mut types = vec![TokenType::Normal; tokens.len()];
    types[0] = TokenType::Control;
    let pre = PreTokenizer {
        prefix: pretokenize::Prefix::None,
        splits: vec![
            pretokenize::Split::chars(
                pretokenize::CharSet::Numeric,
                pretokenize::Behavior::Isolated,
            ),
            pretokenize::Split::regex(pretokenize::GPT2_PATTERN, pretokenize::Behavior::Isolated)
                .unwrap(),
        ],
    };
    Tokenizer::new(byte_level_spec(tokens, types, merges, pre, Some(0))).unwrap()
}

/// A byte-level BPE spec with no normalizer.
fn byte_level_spec(
    tokens: Vec<String>,
    types: Vec<TokenType>,
    merges: Vec<(String, String)>,
    pre_tokenizer: PreTokenizer,
    bos: Option<u32>,
) -> TokenizerSpec {
    TokenizerSpec {
        tokens,
        types,
        normalizer: None,
        pre_tokenizer,
        model: ModelSpec::Bpe {
            merges,
            byte_level: true,
            byte_fallback: false,
            fuse_unk: false,
            ignore_merges: false,
            whole_newlines: false,
        },
        decoder: DecoderSpec::ByteLevel,
        added: Vec::new(),
        unk: None,
        bos,
        eos: bos,
        add_bos: false,
        append: None,
    }
}

fn byte_id(b: u8) -> u32 {
    b as u32 + 1
}

#[test]
fn merges_and_special_tokens() {
    let t = tiny();
    let hello = 256 + 4;
    let gw = 256 + 5;
    assert_eq!(t.encode("hello", true), [hello]);
    assert_eq!(
        t.encode("hello world<|end|>x", true)[..3],
        [hello, gw, byte_id(b'o')]
    );
    let ids = t.encode("hello<|end|>hello", false);
    assert_eq!(ids, [hello, 0, hello]);
    assert_eq!(t.decode(&ids).unwrap(), "hello<|end|>hello");
    assert_eq!(t.encode("12", false), [byte_id(b'1'), byte_id(b'2')]);
    assert!(t.encode("", true).is_empty());
}

#[test]
fn decode_roundtrips_arbitrary_text() {
    let t = tiny();
    for s in ["héllo wörld 👍🏽", "  \t\n", "日本語", "a<|end|>"] {
        assert_eq!(t.decode(&t.encode(s, false)).unwrap(), s);
    }
    assert!(matches!(
        t.decode(&[9999]),
        Err(Error::TokenOutOfRange { id: 9999, .. })
    ));
}

#[test]
fn stream_decoder_never_splits_a_char() {
    let t = tiny();
    let ids = t.encode("a€b", false); // € is 3 bytes, so 3 byte tokens
    assert_eq!(ids.len(), 5);
    let mut d = StreamDecoder::new();
    let pieces: Vec<String> = ids.iter().map(|&i| d.push(&t, i).unwrap()).collect();
    assert_eq!(pieces, ["a", "", "", "€", "b"]);
    assert_eq!(d.finish(), "");
    // An invalid byte comes out as U+FFFD; a dangling lead byte too, at the end.
    let mut d = StreamDecoder::new();
    assert_eq!(d.push(&t, byte_id(0xFF)).unwrap(), "\u{FFFD}");
    assert_eq!(d.push(&t, byte_id(0xE2)).unwrap(), "");
    assert_eq!(d.finish(), "\u{FFFD}");
}

#[test]
fn bad_specs_are_errors() {
    let spec = |merges: Vec<(String, String)>, bos| {
        byte_level_spec(
            vec!["a".into(), "b".into()],
            vec![TokenType::Normal; 2],
            merges,
            PreTokenizer::regex(pretokenize::GPT2_PATTERN).unwrap(),
            bos,
        )
    };
    assert!(Tokenizer::new(spec(vec![("a".into(), "b".into())], None)).is_err()); // "ab" missing
    assert!(Tokenizer::new(spec(vec![], Some(7))).is_err());
    assert!(Tokenizer::new(spec(vec![], Some(1))).is_ok());
}

/// A tiny tokenizer.json: the 256 byte chars, "he" and "ll" merges, one special token.
fn tiny_json(pre: serde_json::Value, extra_model: serde_json::Value) -> String {
    let bl = ByteLevel::default();
    let mut vocab = serde_json::Map::new();
    for b in 0..=255u8 {
        vocab.insert(bl.char_of(b).to_string(), (b as u32).into());
    }
    vocab.insert("he".into(), 256.into());
    vocab.insert("ll".into(), 257.into());
    let mut model =
        serde_json::json!({"type": "BPE", "vocab": vocab, "merges": ["h e", ["l", "l"]]});
    for (k, v) in extra_model.as_object().unwrap() {
        model[k] = v.clone();
    }
    serde_json::json!({
        "normalizer": null,
        "pre_tokenizer": pre,
        "model": model,
        "added_tokens": [{"id": 258, "content": "<|end|>", "special": true, "lstrip": false, "rstrip": false, "normalized": false, "single_word": false}],
        "decoder": {"type": "ByteLevel"},
        "post_processor": null
    })
    .to_string()
}

#[test]
fn tokenizer_json_loads_and_encodes() {
    let pre = serde_json::json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]});
    let t = Tokenizer::from_json(&tiny_json(pre, serde_json::json!({}))).unwrap();
    assert_eq!(t.vocab_size(), 259);
    // Llama 3's layout: its Split regex, then ByteLevel without a regex.
    let llama3 = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pretokenize::LLAMA3_PATTERN}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
    let l3 = Tokenizer::from_json(&tiny_json(llama3, serde_json::json!({}))).unwrap();
    assert_eq!(
        l3.encode("12345", false),
        [
            b'1' as u32,
            b'2' as u32,
            b'3' as u32,
            b'4' as u32,
            b'5' as u32
        ]
    );
    assert_eq!(
        t.encode("hello<|end|>", false),
        [256, 257, b'o' as u32, 258]
    );
    assert_eq!(t.encode("12", false), [b'1' as u32, b'2' as u32]);
    assert_eq!(t.decode(&[256, 257, 258]).unwrap(), "hell<|end|>");
}

#[test]
fn ignore_merges_and_stripping_added_tokens() {
    let gpt2 =
        serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true});
    // "hell" is not a token, so merging "h e l l" gives he + ll either way; "he" alone is a
    // token: with ignore_merges it is taken whole without consulting the merges.
    let t = Tokenizer::from_json(&tiny_json(
        gpt2.clone(),
        serde_json::json!({"ignore_merges": true}),
    ))
    .unwrap();
    assert_eq!(t.encode("he hell", false), [256, b' ' as u32, 256, 257]);
    // <|end|> with lstrip and rstrip swallows the spaces around it.
    let mut j: serde_json::Value =
        serde_json::from_str(&tiny_json(gpt2, serde_json::json!({}))).unwrap();
    j["added_tokens"][0]["lstrip"] = true.into();
    j["added_tokens"][0]["rstrip"] = true.into();
    let s = Tokenizer::from_json(&j.to_string()).unwrap();
    assert_eq!(s.encode("he  <|end|>  he", false), [256, 258, 256]);
    j["added_tokens"][0]["lstrip"] = false.into();
    let s = Tokenizer::from_json(&j.to_string()).unwrap();
    assert_eq!(
        s.encode("he <|end|> he", false),
        [256, b' ' as u32, 258, 256]
    );
}

#[test]
fn unsupported_tokenizer_json_is_an_error_naming_the_part() {
    let gpt2 =
        serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true});
    let cases = [
        (
            serde_json::json!({"type": "UnicodeScripts"}),
            serde_json::json!({}),
            "pre_tokenizer",
        ),
        (gpt2.clone(), serde_json::json!({"dropout": 0.1}), "dropout"),
        (
            gpt2.clone(),
            serde_json::json!({"type": "Unigram"}),
            "Unigram",
        ),
        (
            gpt2,
            serde_json::json!({"merges": ["h e", "x y"]}),
            "merge #1",
        ),
    ];
    for (pre, model, want) in cases {
        let e = Tokenizer::from_json(&tiny_json(pre, model))
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains(want), "{e} should name {want}");
    }
    assert!(Tokenizer::from_json("{not json").is_err());
}

/// A tiny SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte tokens, then
/// ▁ h e l o and merges up to "▁hello".
fn tiny_sp(prepend: Prepend) -> Tokenizer {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    tokens.extend(["▁", "h", "e", "l", "o"].iter().map(|s| s.to_string()));
    let merges: Vec<(String, String)> = [
        ("▁", "h"),
        ("▁h", "e"),
        ("l", "l"),
        ("▁he", "ll"),
        ("▁hell", "o"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    tokens.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
    let mut types = vec![TokenType::Normal; tokens.len()];
    types[..3].fill(TokenType::Control);
    // `Always`: the legacy Llama layout, a Prepend + Replace normalizer; `First`: a
    // Metaspace pre-tokenizer.
    let (normalizer, pre_tokenizer) = match prepend {
        Prepend::Always => (
            Some(Normalizer::Sequence(vec![
                Normalizer::Prepend(SPACE.to_string()),
                Normalizer::Replace {
                    pattern: regex::Regex::new(" ").unwrap(),
                    content: SPACE.to_string(),
                },
            ])),
            PreTokenizer::none(),
        ),
        _ => (
            None,
            PreTokenizer {
                prefix: pretokenize::Prefix::Metaspace(prepend),
                splits: Vec::new(),
            },
        ),
    };
    Tokenizer::new(TokenizerSpec {
        tokens,
        types,
        normalizer,
        pre_tokenizer,
        model: ModelSpec::Bpe {
            merges,
            byte_level: false,
            byte_fallback: true,
            fuse_unk: true,
            ignore_merges: false,
            whole_newlines: false,
        },
        decoder: DecoderSpec::Metaspace {
            strip_first_space: prepend != Prepend::Never,
        },
        added: Vec::new(),
        unk: Some(0),
        bos: Some(1),
        eos: Some(2),
        add_bos: true,
        append: None,
    })
    .unwrap()
}

#[test]
fn sentencepiece_encoding() {
    let (sp, h, e, o) = (259, 260, 261, 263);
    let (ll, hello) = (266, 268);
    let t = tiny_sp(Prepend::Always);
    assert_eq!(t.encode("hello hello", true), [1, hello, hello]);
    // é has no token: its UTF-8 bytes C3 A9 as byte tokens (ids 3 + byte).
    assert_eq!(t.encode("hé", false), [sp + 5, 3 + 0xC3, 3 + 0xA9]);
    assert_eq!(t.encode(" hello", false), [sp, hello]); // the normalizer prepends anyway
    assert_eq!(t.encode("<s>hello", false), [1, hello]);
    let f = tiny_sp(Prepend::First);
    assert_eq!(f.encode(" hello", false), [hello]); // already starts with ▁
    assert_eq!(f.encode("<s>hello", false), [1, h, e, ll, o]); // not at the start
}

#[test]
fn sentencepiece_decoding_follows_hf() {
    let hello = 268;
    let t = tiny_sp(Prepend::Always);
    assert_eq!(t.decode(&[hello, hello]).unwrap(), "hello hello"); // prefix space dropped
    assert_eq!(t.decode(&[1, hello]).unwrap(), "<s> hello"); // only at the very start
    assert_eq!(t.decode(&[3 + 0xC3, 3 + 0xA9]).unwrap(), "é");
    // An invalid run of byte tokens: one U+FFFD per byte (HF ByteFallback), not per run.
    assert_eq!(
        t.decode(&[3 + 0xC3, 3 + 0xC3, 264]).unwrap(),
        "\u{FFFD}\u{FFFD} h"
    );
    let mut d = StreamDecoder::new();
    let pieces: Vec<String> = [hello, 3 + 0xC3, 3 + 0xA9, hello]
        .iter()
        .map(|&i| d.push(&t, i).unwrap())
        .collect();
    assert_eq!(pieces, ["hello", "", "", "é hello"]);
    assert_eq!(d.finish(), "");
}
