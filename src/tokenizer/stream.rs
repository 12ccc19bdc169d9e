//! Streaming detokenization: tokens in, text out, never half a UTF-8 character.
//!
//! A byte-level token can end in the middle of a multi-byte character (emoji and CJK are
//! often split across tokens). The decoder holds back an incomplete tail until the next
//! token completes it; bytes that can never become valid UTF-8 come out as U+FFFD, as
//! `String::from_utf8_lossy` would write them (Hugging Face's `ByteLevel` decoder).
//!
//! SentencePiece byte-fallback tokens (`<0xNN>`) follow Hugging Face's `ByteFallback`
//! decoder instead: a run of them is held until the run ends and becomes its text if it is
//! valid UTF-8, else one U+FFFD per byte; and the first space of the output (from the `▁`
//! prefix) is dropped, as its `Strip` decoder does.

use super::Tokenizer;
use crate::error::Result;

/// Turns a stream of token ids into text pieces.
pub struct StreamDecoder {
    pending: Vec<u8>,
    /// Nothing has been written yet (for the SentencePiece leading-space strip).
    at_start: bool,
    /// `pending` holds a run of SentencePiece byte tokens.
    sentencepiece: bool,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder {
            pending: Vec::new(),
            at_start: true,
            sentencepiece: false,
        }
    }
}

impl StreamDecoder {
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    /// Adds one token; returns the text it completes (possibly empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        let bytes = tok.token_bytes(id)?;
        if !tok.is_sentencepiece() {
            self.pending.extend_from_slice(bytes);
            return Ok(self.drain(false));
        }
        self.sentencepiece = true;
        if !tok.strips_leading_space() {
            self.at_start = false;
        }
        if tok.is_byte_token(id) {
            self.pending.extend_from_slice(bytes);
            return Ok(String::new());
        }
        let mut out = self.flush_byte_run();
        out.push_str(&String::from_utf8_lossy(bytes));
        Ok(self.strip_start(out))
    }

    /// Whatever is held back, with an incomplete tail written as U+FFFD.
    pub fn finish(&mut self) -> String {
        if self.sentencepiece {
            let out = self.flush_byte_run();
            return self.strip_start(out);
        }
        self.drain(true)
    }

    /// A held run of byte tokens: its text if valid UTF-8, else U+FFFD per byte.
    fn flush_byte_run(&mut self) -> String {
        let run = std::mem::take(&mut self.pending);
        match String::from_utf8(run) {
            Ok(s) => s,
            Err(e) => char::REPLACEMENT_CHARACTER
                .to_string()
                .repeat(e.as_bytes().len()),
        }
    }

    /// Drops the SentencePiece prefix's space from the very start of the output.
    fn strip_start(&mut self, s: String) -> String {
        if !self.at_start || s.is_empty() {
            return s;
        }
        self.at_start = false;
        s.strip_prefix(' ').map(str::to_string).unwrap_or(s)
    }

    fn drain(&mut self, at_end: bool) -> String {
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = start + e.valid_up_to();
                    out.push_str(
                        std::str::from_utf8(&self.pending[start..valid]).expect("checked valid"),
                    );
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid + bad;
                        }
                        None if at_end => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = self.pending.len();
                            break;
                        }
                        None => {
                            // An incomplete character at the end: wait for more bytes.
                            start = valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }
}
