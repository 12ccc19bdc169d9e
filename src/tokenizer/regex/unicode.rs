//! Character classification for the regex engine: general categories and white space as
//! bits (so a class test is a mask), the Han script, and `\p{..}` names.

use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};

// Bits 0..30: one per general category (`cat_index`); then white space and Han.
pub(super) const SPACE_BIT: u32 = 1 << 30;
pub(super) const HAN_BIT: u32 = 1 << 31;

pub(super) fn cat_index(g: G) -> u32 {
    match g {
        G::UppercaseLetter => 0,
        G::LowercaseLetter => 1,
        G::TitlecaseLetter => 2,
        G::ModifierLetter => 3,
        G::OtherLetter => 4,
        G::NonspacingMark => 5,
        G::SpacingMark => 6,
        G::EnclosingMark => 7,
        G::DecimalNumber => 8,
        G::LetterNumber => 9,
        G::OtherNumber => 10,
        G::ConnectorPunctuation => 11,
        G::DashPunctuation => 12,
        G::OpenPunctuation => 13,
        G::ClosePunctuation => 14,
        G::InitialPunctuation => 15,
        G::FinalPunctuation => 16,
        G::OtherPunctuation => 17,
        G::MathSymbol => 18,
        G::CurrencySymbol => 19,
        G::ModifierSymbol => 20,
        G::OtherSymbol => 21,
        G::SpaceSeparator => 22,
        G::LineSeparator => 23,
        G::ParagraphSeparator => 24,
        G::Control => 25,
        G::Format => 26,
        G::Surrogate => 27,
        G::PrivateUse => 28,
        G::Unassigned => 29,
    }
}

const fn bits(lo: u32, hi: u32) -> u32 {
    ((1u32 << (hi + 1)) - 1) & !((1u32 << lo) - 1)
}
pub(super) const LETTER: u32 = bits(0, 4);
pub(super) const MARK: u32 = bits(5, 7);
pub(super) const NUMBER: u32 = bits(8, 10);
pub(super) const PUNCT: u32 = bits(11, 17);
pub(super) const SYMBOL: u32 = bits(18, 21);
pub(super) const SEPARATOR: u32 = bits(22, 24);
pub(super) const OTHER: u32 = bits(25, 29);
/// `\w`: letters, marks, numbers and connector punctuation (Oniguruma's Unicode `\w`).
pub(super) const WORD: u32 = LETTER | MARK | NUMBER | (1 << 11);

/// The category bits of a char.
pub(super) fn cat_bits(c: char, han: bool) -> u32 {
    let mut b = 1 << cat_index(c.general_category());
    if c.is_whitespace() {
        b |= SPACE_BIT;
    }
    if han && is_han(c) {
        b |= HAN_BIT;
    }
    b
}

/// The Han script (Unicode `Scripts.txt`, 16.0).
pub(super) fn is_han(c: char) -> bool {
    pub(super) const HAN: &[(u32, u32)] = &[
        (0x2E80, 0x2E99),
        (0x2E9B, 0x2EF3),
        (0x2F00, 0x2FD5),
        (0x3005, 0x3005),
        (0x3007, 0x3007),
        (0x3021, 0x3029),
        (0x3038, 0x303B),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xF900, 0xFA6D),
        (0xFA70, 0xFAD9),
        (0x16FE2, 0x16FE3),
        (0x16FF0, 0x16FF1),
        (0x20000, 0x2A6DF),
        (0x2A700, 0x2B739),
        (0x2B740, 0x2B81D),
        (0x2B820, 0x2CEA1),
        (0x2CEB0, 0x2EBE0),
        (0x2EBF0, 0x2EE5D),
        (0x2F800, 0x2FA1D),
        (0x30000, 0x3134A),
        (0x31350, 0x323AF),
    ];
    let c = c as u32;
    HAN.binary_search_by(|&(lo, hi)| {
        if hi < c {
            std::cmp::Ordering::Less
        } else if lo > c {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    })
    .is_ok()
}

/// The simple other-case mapping of a char, if it has a one-char one.
pub(super) fn other_case(c: char) -> Option<char> {
    let mut l = c.to_lowercase();
    let lower = l.next().filter(|_| l.next().is_none())?;
    if lower != c {
        return Some(lower);
    }
    let mut u = c.to_uppercase();
    let upper = u.next().filter(|_| u.next().is_none())?;
    (upper != c).then_some(upper)
}

/// Category bits of a `\p{..}` name.
pub(super) fn property(name: &str) -> Option<u32> {
    let one = |g| 1u32 << cat_index(g);
    Some(match name {
        "L" | "Letter" => LETTER,
        "Lu" => one(G::UppercaseLetter),
        "Ll" => one(G::LowercaseLetter),
        "Lt" => one(G::TitlecaseLetter),
        "Lm" => one(G::ModifierLetter),
        "Lo" => one(G::OtherLetter),
        "M" | "Mark" => MARK,
        "Mn" => one(G::NonspacingMark),
        "Mc" => one(G::SpacingMark),
        "Me" => one(G::EnclosingMark),
        "N" | "Number" => NUMBER,
        "Nd" => one(G::DecimalNumber),
        "Nl" => one(G::LetterNumber),
        "No" => one(G::OtherNumber),
        "P" | "Punctuation" => PUNCT,
        "Pc" => one(G::ConnectorPunctuation),
        "Pd" => one(G::DashPunctuation),
        "Ps" => one(G::OpenPunctuation),
        "Pe" => one(G::ClosePunctuation),
        "Pi" => one(G::InitialPunctuation),
        "Pf" => one(G::FinalPunctuation),
        "Po" => one(G::OtherPunctuation),
        "S" | "Symbol" => SYMBOL,
        "Sm" => one(G::MathSymbol),
        "Sc" => one(G::CurrencySymbol),
        "Sk" => one(G::ModifierSymbol),
        "So" => one(G::OtherSymbol),
        "Z" | "Separator" => SEPARATOR,
        "Zs" => one(G::SpaceSeparator),
        "Zl" => one(G::LineSeparator),
        "Zp" => one(G::ParagraphSeparator),
        "C" | "Other" => OTHER,
        "Cc" => one(G::Control),
        "Cf" => one(G::Format),
        "Co" => one(G::PrivateUse),
        "Cn" => one(G::Unassigned),
        "Han" | "Hani" => HAN_BIT,
        _ => return None,
    })
}
