//! GGUF `tokenizer.ggml.pre`: which pre-tokenizer a byte-level BPE vocabulary was trained
//! with, as llama.cpp's `src/llama-vocab.cpp` names them.
//!
//! Each row maps the names llama.cpp accepts to the regexes its `llm_tokenizer_bpe` splits
//! with, in order, and to the flags that go with them. Where llama.cpp rewrote a Hugging
//! Face pattern only because C++ `std::regex` lacks `\p{..}`, look-around or `(?i:..)`
//! (its comments keep the original), the original is used here: this engine has them, and
//! the original is what the model's `tokenizer.json` runs. Non-ASCII characters are
//! written `\x{..}`: several (Greek with oxia, the CJK compatibility block) change under
//! Unicode normalization, which an editor may apply.

use super::pretokenize::{
    Behavior, CharSet, PreTokenizer, Prefix, Split, LLAMA3_PATTERN, QWEN2_PATTERN,
};
use crate::error::{Error, Result};

/// The GPT-2 pattern as llama.cpp lists it (no final `\s+`: a lone white space char before
/// a non-space is then a gap, which is the same piece).
const GPT2_LLAMA: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

const QWEN35: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const DEEPSEEK_LETTERS: &str = r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+";

const DEEPSEEK3_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;

/// What a `pre` name means.
pub struct PreSpec {
    /// Regexes applied in order, each with isolated matches.
    pub patterns: &'static [&'static str],
    /// A pre-tokenized piece that is itself a token is emitted whole (Llama 3's
    /// `ignore_merges`).
    pub ignore_merges: bool,
    /// Text is put in Unicode NFC first (the model's `tokenizer.json` has an NFC
    /// normalizer).
    pub nfc: bool,
    /// Byte-level BPE (GPT-2's byte alphabet); else BPE over the text's characters with
    /// `▁` for spaces and `<0xNN>` byte fallback (Gemma 4).
    pub byte_level: bool,
    /// Whether BOS is added when the file does not say (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
}

const fn row(patterns: &'static [&'static str]) -> PreSpec {
    PreSpec {
        patterns,
        ignore_merges: false,
        nfc: false,
        byte_level: true,
        add_bos: false,
    }
}

const STARCODER: &[&str] = &[r"\p{N}", GPT2_LLAMA];

/// The spec of a `tokenizer.ggml.pre` value (`None` for a missing key means `default`).
pub fn lookup(pre: Option<&str>) -> Result<PreSpec> {
    let llama3 = PreSpec {
        ignore_merges: true,
        add_bos: true,
        ..row(&[LLAMA3_PATTERN])
    };
    Ok(match pre.unwrap_or("default") {
        "default" => row(&[
            r"[\p{P}\$\+<=>\^~\|]+",
            GPT2_LLAMA,
            r"\p{N}+",
            "[0-9][0-9][0-9]",
        ]),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => llama3,
        "minicpm5" => PreSpec {
            ignore_merges: true,
            ..row(&[
                r"\p{N}{1,3}",
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ])
        },
        "deepseek-llm" => row(&[
            r"[\r\n]",
            DEEPSEEK_LETTERS,
            r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+",
            r"\s+$",
            r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
            r"\p{N}+",
        ]),
        "deepseek-coder" => row(&[
            r"[\r\n]",
            r"\s?\p{L}+",
            r"\s?\p{P}+",
            r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
            r"\p{N}",
        ]),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => row(&[
            r"\p{N}{1,3}",
            r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
            DEEPSEEK3_MAIN,
        ]),
        "spark2_5" => row(&[
            r"\p{N}{1,3}",
            r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
            r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##,
            r"\p{N}",
        ]),
        "youtu" => PreSpec {
            ignore_merges: true,
            ..row(&[
                r"[\x{AC00}-\x{D7A3}\x{3131}-\x{318E}]+|[\x{FF01}\x{2026}\x{201C}\x{201D}\x{2018}\x{2019}\x{2014}\x{FF1A}\x{FF1B}\x{FF0C}\x{3001}-\x{303F}\x{FE30}-\x{FE4F}]+|[\x{3105}-\x{312F}]+|[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+",
                r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ])
        },
        "falcon" => row(&[r"[\p{P}\$\+<=>\^~\|`]+", GPT2_LLAMA, "[0-9][0-9][0-9]"]),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => row(STARCODER),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe"
        | "exaone4" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => {
            row(&[GPT2_LLAMA])
        }
        "jais-2" => row(&[
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}",
        ]),
        "gemma4" | "granite-embed-multi-311m" | "sarvam-moe" => PreSpec {
            byte_level: false,
            ..row(&[r"[^\n]+|[\n]+"])
        },
        // Qwen2's tokenizer.json normalizes to NFC (the DeepSeek-R1 distills of Qwen share it).
        "qwen2" | "deepseek-r1-qwen" => PreSpec {
            nfc: true,
            ..row(&[QWEN2_PATTERN])
        },
        "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan" | "solar-open" | "grok-2" => {
            row(&[QWEN2_PATTERN])
        }
        "qwen35" => row(&[QWEN35]),
        "dbrx" | "smaug-bpe" | "chatglm-bpe" => row(&[LLAMA3_PATTERN]),
        "glm4" | "glm5" => PreSpec {
            ignore_merges: true,
            ..row(&[LLAMA3_PATTERN])
        },
        "poro-chat" | "bloom" | "gpt3-finnish" => {
            row(&[r" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+"])
        }
        "viking" => row(&[
            r" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+",
            r"\p{N}",
        ]),
        "tekken" => PreSpec {
            ignore_merges: true,
            add_bos: true,
            ..row(&[
                r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ])
        },
        "exaone-moe" => row(&[
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+",
        ]),
        "chameleon" => PreSpec {
            add_bos: true,
            ..row(&[
                r"<sentinel:[0-9]+>",
                r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                r"([\t\n]|    |  )",
                r"\p{N}",
                r"[\p{P}!-/:-@\[-`{-~]",
                GPT2_LLAMA,
            ])
        },
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => row(&[GPT4O]),
        "granite-embed-multi-97m" => PreSpec {
            ignore_merges: true,
            ..row(&[
                r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ])
        },
        "tiny_aya" | "cohere2moe" => row(&[r"\d{1,3}(?=(?:\d{3})*\b)", GPT4O]),
        "superbpe" => row(&[r"\p{N}+", r"(?=(\d{3})+(?!\d))"]),
        "bailingmoe" | "bailingmoe2" | "llada-moe" => row(&[
            r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
        ]),
        "seed-coder" => row(&[
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]),
        "kimi-k2" => row(&[
            r"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]),
        "ufakzeka" => row(&[
            r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]),
        // llama.cpp splits AFMoE's digit runs with custom code: a leading group of 1-2 so
        // that the rest are groups of three. This regex does the same.
        "afmoe" => row(&[
            r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))",
            r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{8C48}-\x{FAFF}\x{3040}-\x{309F}\x{30A0}-\x{30FF}\x{FF65}-\x{FF9F}\x{2F00}-\x{2FDF}\x{E40}-\x{E7F}\x{E80}-\x{EFF}\x{1780}-\x{17FF}\x{1000}-\x{109F}\x{AA60}-\x{AA7F}\x{A9E0}-\x{A9FF}\x{AC00}-\x{D7AF}\x{1100}-\x{11FF}]+",
            DEEPSEEK3_MAIN,
        ]),
        "laguna" => row(&[r"[^\n]+|[\n]+", QWEN2_PATTERN]),
        "whitespace" => PreSpec {
            byte_level: false,
            ..row(&[])
        },
        other => {
            return Err(Error::Tokenizer(format!(
                "pre-tokenizer '{other}' (tokenizer.ggml.pre) is not one ingot knows"
            )))
        }
    })
}

impl PreSpec {
    /// The pre-tokenizer: the regexes in order, each match isolated (`whitespace` splits at
    /// white space and drops it).
    pub fn pre_tokenizer(&self, whitespace: bool) -> Result<PreTokenizer> {
        let mut splits = self
            .patterns
            .iter()
            .map(|p| Split::regex(p, Behavior::Isolated))
            .collect::<Result<Vec<_>>>()?;
        if whitespace {
            splits.push(Split::chars(CharSet::Space, Behavior::Removed));
        }
        Ok(PreTokenizer {
            prefix: Prefix::None,
            splits,
        })
    }
}

/// Every name `lookup` knows, for tests (each must compile).
#[cfg(test)]
pub const NAMES: &[&str] = &[
    "default",
    "llama3",
    "llama-v3",
    "llama-bpe",
    "falcon3",
    "falcon-h1",
    "pixtral",
    "midm-2.0",
    "lfm2",
    "jina-v5-nano",
    "minicpm5",
    "deepseek-llm",
    "deepseek-coder",
    "deepseek-v3",
    "hunyuan-dense",
    "joyai-llm",
    "hy_v4",
    "spark2_5",
    "youtu",
    "falcon",
    "starcoder",
    "refact",
    "command-r",
    "smollm",
    "codeshell",
    "exaone",
    "minerva-7b",
    "mellum2",
    "gpt-2",
    "phi-2",
    "jina-es",
    "jina-de",
    "gigachat",
    "jina-v2-es",
    "jina-v2-de",
    "a.x-4.0",
    "mellum",
    "modern-bert",
    "jina-v1-en",
    "jina-v2-code",
    "roberta-bpe",
    "exaone4",
    "mpt",
    "olmo",
    "jais",
    "trillion",
    "granite-docling",
    "jais-2",
    "gemma4",
    "granite-embed-multi-311m",
    "sarvam-moe",
    "qwen2",
    "deepseek-r1-qwen",
    "kormo",
    "f2llmv2",
    "megrez",
    "stablelm2",
    "hunyuan",
    "solar-open",
    "grok-2",
    "qwen35",
    "dbrx",
    "smaug-bpe",
    "chatglm-bpe",
    "glm4",
    "glm5",
    "poro-chat",
    "bloom",
    "gpt3-finnish",
    "viking",
    "tekken",
    "exaone-moe",
    "chameleon",
    "gpt-4o",
    "llama4",
    "kanana2",
    "talkie",
    "minimax-m2",
    "granite-embed-multi-97m",
    "tiny_aya",
    "cohere2moe",
    "superbpe",
    "bailingmoe",
    "bailingmoe2",
    "llada-moe",
    "seed-coder",
    "kimi-k2",
    "ufakzeka",
    "afmoe",
    "laguna",
    "whitespace",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pre_name_compiles_and_splits() {
        let text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ \n\n  x";
        for name in NAMES {
            let spec = lookup(Some(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let pre = spec
                .pre_tokenizer(*name == "whitespace")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut pieces = Vec::new();
            pre.split(text, &mut pieces);
            // Pieces tile the text, except what a white-space split drops.
            let joined: String = pieces.iter().map(|&(a, b)| &text[a..b]).collect();
            if *name != "whitespace" {
                assert_eq!(joined, text, "{name}");
            }
        }
        assert!(lookup(Some("no-such-pre")).is_err());
    }
}
