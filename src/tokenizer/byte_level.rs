//! GPT-2's byte-level alphabet: every byte maps to a printable character, so BPE
//! vocabularies can be stored as text (Radford et al. 2019, `bytes_to_unicode` in
//! openai/gpt-2 `encoder.py`). Printable Latin-1 bytes map to themselves; the other 68
//! (control characters, space, 0x7F-0xA0, 0xAD) map to U+0100 onwards, in byte order.

/// Both directions of the byte ↔ char mapping.
#[derive(Clone)]
pub struct ByteLevel {
    to_char: [char; 256],
    /// Indexed by code point; every mapped char is below U+0144.
    from_char: [Option<u8>; 0x144],
}

impl Default for ByteLevel {
    fn default() -> Self {
        let mut to_char = ['\0'; 256];
        let mut from_char = [None; 0x144];
        let mut next = 0x100u32;
        for b in 0..=255u8 {
            let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            let c = if printable {
                b as char
            } else {
                next += 1;
                char::from_u32(next - 1).expect("U+0100..U+0143 are chars")
            };
            to_char[b as usize] = c;
            from_char[c as usize] = Some(b);
        }
        ByteLevel { to_char, from_char }
    }
}

impl ByteLevel {
    /// The char that stands for `b`.
    pub fn char_of(&self, b: u8) -> char {
        self.to_char[b as usize]
    }

    /// The byte a char stands for, or `None` for a char outside the alphabet.
    pub fn byte_of(&self, c: char) -> Option<u8> {
        self.from_char.get(c as usize).copied().flatten()
    }

    /// Maps text's bytes to the alphabet.
    pub fn encode(&self, text: &str) -> String {
        text.bytes().map(|b| self.char_of(b)).collect()
    }

    /// Maps a byte-level string back to bytes; `None` if a char is outside the alphabet.
    pub fn decode(&self, s: &str) -> Option<Vec<u8>> {
        s.chars().map(|c| self.byte_of(c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_mappings_and_inverse() {
        let bl = ByteLevel::default();
        assert_eq!(bl.char_of(b' '), 'Ġ'); // U+0120
        assert_eq!(bl.char_of(b'\n'), 'Ċ'); // U+010A
        assert_eq!(bl.char_of(b'a'), 'a');
        assert_eq!(bl.char_of(0), 'Ā');
        for b in 0..=255u8 {
            assert_eq!(bl.byte_of(bl.char_of(b)), Some(b));
        }
        assert_eq!(bl.byte_of('€'), None);
        assert_eq!(
            bl.decode(&bl.encode("héllo wörld\n")).unwrap(),
            "héllo wörld\n".as_bytes()
        );
    }
}
