//! Strict DER (ITU-T X.690) reading and writing, enough for X.509, PKCS#10,
//! CRLs and RFC 3161 / CMS. One implementation serves the card, the host and
//! the authority.
//!
//! The reader accepts only definite, minimal lengths and single-byte tags,
//! and never panics: every defect is a [`FormatError`].

use crate::codec::FormatError;
use crate::date::{civil_from_days, days_from_civil};
use alloc::vec::Vec;

/// Universal and context tags used by PCMeter's formats.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// UTF8String.
    pub const UTF8_STRING: u8 = 0x0C;
    /// PrintableString.
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// UTCTime.
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// SET.
    pub const SET: u8 = 0x31;

    /// Context-specific constructed tag `[n]`.
    pub const fn explicit(n: u8) -> u8 {
        0xA0 | n
    }

    /// Context-specific primitive tag `[n]`.
    pub const fn implicit(n: u8) -> u8 {
        0x80 | n
    }
}

/// 2050-01-01T00:00:00Z: X.509 times before it are UTCTime, from it GeneralizedTime.
const Y2050: u64 = 2_524_608_000;

/// Largest DER object PCMeter reads (16 MiB): three length bytes at most.
const MAX_LENGTH_BYTES: usize = 3;

/// A cursor over concatenated DER objects.
#[derive(Debug, Clone)]
pub struct Der<'a> {
    rest: &'a [u8],
}

/// One decoded object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The contents octets.
    pub content: &'a [u8],
    /// The whole encoding (tag, length and contents).
    pub whole: &'a [u8],
}

fn length(bytes: &[u8]) -> Result<(usize, usize), FormatError> {
    let first = *bytes.first().ok_or(FormatError::Truncated("DER length"))?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > MAX_LENGTH_BYTES {
        return Err(FormatError::Invalid("DER length form"));
    }
    let digits = bytes.get(1..1 + n).ok_or(FormatError::Truncated("DER length"))?;
    if digits.first() == Some(&0) {
        return Err(FormatError::Invalid("DER length not minimal"));
    }
    let len = digits.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    if len < 0x80 {
        return Err(FormatError::Invalid("DER length not minimal"));
    }
    Ok((len, 1 + n))
}

impl<'a> Der<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next tag, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next object, whatever its tag.
    pub fn any(&mut self) -> Result<Object<'a>, FormatError> {
        let tag = *self.rest.first().ok_or(FormatError::Truncated("DER tag"))?;
        if tag & 0x1F == 0x1F {
            return Err(FormatError::Invalid("DER multi-byte tag"));
        }
        let after_tag = self.rest.get(1..).ok_or(FormatError::Truncated("DER length"))?;
        let (len, len_len) = length(after_tag)?;
        let header = 1 + len_len;
        let end = header.checked_add(len).ok_or(FormatError::TooLarge("DER object"))?;
        let whole = self.rest.get(..end).ok_or(FormatError::Truncated("DER contents"))?;
        let content = whole.get(header..).ok_or(FormatError::Truncated("DER contents"))?;
        self.rest = self.rest.get(end..).unwrap_or(&[]);
        Ok(Object { tag, content, whole })
    }

    /// Reads the next object, which must carry `tag`.
    pub fn object(&mut self, tag: u8, what: &'static str) -> Result<Object<'a>, FormatError> {
        match self.peek_tag() {
            Some(t) if t == tag => self.any(),
            Some(_) => Err(FormatError::Invalid(what)),
            None => Err(FormatError::Missing(what)),
        }
    }

    /// Contents of the next object, which must carry `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], FormatError> {
        self.object(tag, what).map(|o| o.content)
    }

    /// A reader over the contents of the next object, which must carry `tag`.
    pub fn nested(&mut self, tag: u8, what: &'static str) -> Result<Der<'a>, FormatError> {
        self.expect(tag, what).map(Der::new)
    }

    /// The next object if it carries `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Object<'a>>, FormatError> {
        if self.peek_tag() == Some(tag) { self.any().map(Some) } else { Ok(None) }
    }

    /// A non-negative INTEGER: its magnitude without the sign octet.
    pub fn unsigned(&mut self, what: &'static str) -> Result<&'a [u8], FormatError> {
        let c = self.expect(tag::INTEGER, what)?;
        match c {
            [] => Err(FormatError::Invalid(what)),
            [first, ..] if *first & 0x80 != 0 => Err(FormatError::Invalid(what)),
            [0, second, ..] if *second & 0x80 == 0 => Err(FormatError::Invalid(what)),
            [0, rest @ ..] if !rest.is_empty() => Ok(rest),
            _ => Ok(c),
        }
    }

    /// A small non-negative INTEGER.
    pub fn small_unsigned(&mut self, what: &'static str) -> Result<u64, FormatError> {
        let m = self.unsigned(what)?;
        if m.len() > 8 {
            return Err(FormatError::TooLarge(what));
        }
        Ok(m.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// An OBJECT IDENTIFIER's contents.
    pub fn oid(&mut self, what: &'static str) -> Result<&'a [u8], FormatError> {
        self.expect(tag::OID, what)
    }

    /// A BIT STRING with no unused bits: its bytes.
    pub fn bits(&mut self, what: &'static str) -> Result<&'a [u8], FormatError> {
        match self.expect(tag::BIT_STRING, what)? {
            [0, rest @ ..] => Ok(rest),
            _ => Err(FormatError::Invalid(what)),
        }
    }

    /// An OCTET STRING's contents.
    pub fn octets(&mut self, what: &'static str) -> Result<&'a [u8], FormatError> {
        self.expect(tag::OCTET_STRING, what)
    }

    /// A BOOLEAN (DER: FF or 00).
    pub fn boolean(&mut self, what: &'static str) -> Result<bool, FormatError> {
        match self.expect(tag::BOOLEAN, what)? {
            [0xFF] => Ok(true),
            [0x00] => Ok(false),
            _ => Err(FormatError::Invalid(what)),
        }
    }

    /// A BIT STRING holding a named bit list (X.690 §11.2.2, as keyUsage):
    /// its bytes. DER: the unused bits are zero and the encoding is minimal
    /// (the last byte is non-zero and its lowest set bit is the last used one).
    /// An empty list is `03 01 00`.
    pub fn named_bits(&mut self, what: &'static str) -> Result<&'a [u8], FormatError> {
        let c = self.expect(tag::BIT_STRING, what)?;
        match c {
            [0] => Ok(&[]),
            [unused, .., last] if *last != 0 && u32::from(*unused) == last.trailing_zeros() => {
                c.get(1..).ok_or(FormatError::Invalid(what))
            }
            _ => Err(FormatError::Invalid(what)),
        }
    }

    /// An X.509 Time in the `Z` form, as Unix seconds. RFC 5280 §4.1.2.5:
    /// UTCTime through 2049, GeneralizedTime from 2050 on, never the other.
    pub fn time(&mut self, what: &'static str) -> Result<u64, FormatError> {
        let o = self.any()?;
        match o.tag {
            tag::UTC_TIME => parse_time(o.content, 2, what),
            tag::GENERALIZED_TIME => match parse_time(o.content, 4, what)? {
                t if t >= Y2050 => Ok(t),
                _ => Err(FormatError::Invalid(what)),
            },
            _ => Err(FormatError::Invalid(what)),
        }
    }

    /// A GeneralizedTime in the `Z` form without fractions, as Unix seconds
    /// (RFC 3161 genTime).
    pub fn generalized_time(&mut self, what: &'static str) -> Result<u64, FormatError> {
        parse_time(self.expect(tag::GENERALIZED_TIME, what)?, 4, what)
    }

    /// Fails unless everything was read.
    pub fn finish(self) -> Result<(), FormatError> {
        if self.rest.is_empty() { Ok(()) } else { Err(FormatError::Trailing(self.rest.len())) }
    }
}

fn digits(bytes: &[u8], what: &'static str) -> Result<u32, FormatError> {
    bytes.iter().try_fold(0u32, |acc, b| {
        if b.is_ascii_digit() { Ok(acc * 10 + u32::from(b - b'0')) } else { Err(FormatError::Invalid(what)) }
    })
}

/// `YYMMDDHHMMSSZ` (UTCTime, years 1950–2049) or `YYYYMMDDHHMMSSZ`.
fn parse_time(c: &[u8], year_digits: usize, what: &'static str) -> Result<u64, FormatError> {
    if c.len() != year_digits + 11 || c.last() != Some(&b'Z') {
        return Err(FormatError::Invalid(what));
    }
    let field =
        |from: usize, n: usize| c.get(from..from + n).ok_or(FormatError::Invalid(what)).and_then(|b| digits(b, what));
    let mut year = field(0, year_digits)?;
    if year_digits == 2 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let (month, day) = (field(year_digits, 2)?, field(year_digits + 2, 2)?);
    let (h, m, s) = (field(year_digits + 4, 2)?, field(year_digits + 6, 2)?, field(year_digits + 8, 2)?);
    if !(1..=12).contains(&month) || day == 0 || h > 23 || m > 59 || s > 59 || year < 1970 {
        return Err(FormatError::Invalid(what));
    }
    let days = days_from_civil(i64::from(year), month, day);
    if civil_from_days(days) != (i64::from(year), month, day) {
        return Err(FormatError::Invalid(what));
    }
    let secs = days * 86_400 + i64::from(h * 3600 + m * 60 + s);
    u64::try_from(secs).map_err(|_| FormatError::Invalid(what))
}

// ---------------------------------------------------------------- writing

/// Encodes one object from its tag and contents.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 5);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A constructed object whose contents are `parts` in order.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A SEQUENCE of `parts`.
pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    constructed(tag::SEQUENCE, parts)
}

/// A SET OF `elements`, sorted by encoding as DER requires.
pub fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    tlv(tag::SET, &elements.concat())
}

/// A non-negative INTEGER from a big-endian magnitude.
pub fn unsigned(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let m = magnitude.get(skip..).unwrap_or(&[]);
    let mut content = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(m);
    tlv(tag::INTEGER, &content)
}

/// A non-negative INTEGER.
pub fn small_unsigned(v: u64) -> Vec<u8> {
    unsigned(&v.to_be_bytes())
}

/// An OBJECT IDENTIFIER from its encoded contents.
pub fn oid(contents: &[u8]) -> Vec<u8> {
    tlv(tag::OID, contents)
}

/// An OCTET STRING.
pub fn octets(content: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, content)
}

/// A BIT STRING with no unused bits.
pub fn bits(content: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(content.len() + 1);
    c.push(0);
    c.extend_from_slice(content);
    tlv(tag::BIT_STRING, &c)
}

/// A BOOLEAN.
pub fn boolean(v: bool) -> Vec<u8> {
    tlv(tag::BOOLEAN, &[if v { 0xFF } else { 0x00 }])
}

/// A UTF8String.
pub fn utf8(s: &str) -> Vec<u8> {
    tlv(tag::UTF8_STRING, s.as_bytes())
}

fn push_two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn time_text(secs: u64, four_digit_year: bool) -> Vec<u8> {
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = (secs % 86_400) as u32;
    let mut out = Vec::with_capacity(15);
    let y = y.clamp(0, 9999) as u32;
    if four_digit_year {
        push_two(&mut out, y / 100);
    }
    push_two(&mut out, y % 100);
    for v in [mo, d, rem / 3600, rem / 60 % 60, rem % 60] {
        push_two(&mut out, v);
    }
    out.push(b'Z');
    out
}

/// A GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub fn generalized_time(secs: u64) -> Vec<u8> {
    tlv(tag::GENERALIZED_TIME, &time_text(secs, true))
}

/// An X.509 `Time`: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
pub fn x509_time(secs: u64) -> Vec<u8> {
    if secs < Y2050 { tlv(tag::UTC_TIME, &time_text(secs, false)) } else { generalized_time(secs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_and_must_be_minimal() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 70_000] {
            let content = alloc::vec![7u8; len];
            let enc = tlv(tag::OCTET_STRING, &content);
            let mut r = Der::new(&enc);
            assert_eq!(r.octets("x").unwrap(), &content[..]);
            r.finish().unwrap();
        }
        assert!(Der::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).any().is_err());
        assert!(Der::new(&[0x04, 0x80, 0x00, 0x00]).any().is_err());
        assert!(Der::new(&[0x04, 0x82, 0x00, 0x81]).any().is_err());
        assert!(Der::new(&[0x04, 0x05, 1]).any().is_err());
        assert!(Der::new(&[0x1F, 0x01, 0x00]).any().is_err());
    }

    #[test]
    fn integers_are_minimal_and_non_negative() {
        assert_eq!(small_unsigned(0), [2, 1, 0]);
        assert_eq!(small_unsigned(0x80), [2, 2, 0, 0x80]);
        assert_eq!(Der::new(&small_unsigned(0x1234)).small_unsigned("x").unwrap(), 0x1234);
        assert_eq!(Der::new(&[2, 2, 0, 0x80]).unsigned("x").unwrap(), [0x80]);
        assert!(Der::new(&[2, 2, 0, 0x10]).unsigned("x").is_err());
        assert!(Der::new(&[2, 1, 0x80]).unsigned("x").is_err());
        assert!(Der::new(&[2, 0]).unsigned("x").is_err());
    }

    #[test]
    fn times_round_trip() {
        for t in [0u64, 1_795_435_200, 2_524_607_999, 2_524_608_000, 4_102_444_800] {
            assert_eq!(Der::new(&x509_time(t)).time("t").unwrap(), t);
            assert_eq!(Der::new(&generalized_time(t)).generalized_time("t").unwrap(), t);
            // RFC 5280: an X.509 Time before 2050 is UTCTime, never GeneralizedTime.
            assert_eq!(Der::new(&generalized_time(t)).time("t").is_ok(), t >= Y2050);
        }
        assert!(Der::new(&x509_time(1_795_435_200)).generalized_time("t").is_err());
        assert_eq!(&x509_time(1_795_435_200)[2..], b"261123120000Z");
        assert!(Der::new(&tlv(tag::UTC_TIME, b"261131080000Z")).time("t").is_err());
        assert!(Der::new(&tlv(tag::UTC_TIME, b"2611230800Z")).time("t").is_err());
    }

    #[test]
    fn named_bit_lists_are_der() {
        assert_eq!(Der::new(&[3, 2, 6, 0xC0]).named_bits("ku").unwrap(), [0xC0]);
        assert_eq!(Der::new(&[3, 2, 1, 0x86]).named_bits("ku").unwrap(), [0x86]);
        assert_eq!(Der::new(&[3, 3, 7, 0x80, 0x80]).named_bits("ku").unwrap(), [0x80, 0x80]);
        assert_eq!(Der::new(&[3, 1, 0]).named_bits("ku").unwrap(), [0u8; 0]);
        for bad in [
            &[3, 2, 6, 0xC1][..], // a padding bit set
            &[3, 2, 5, 0xC0],     // a trailing zero bit counted as used
            &[3, 2, 7, 0xC0],     // a used bit inside the padding
            &[3, 2, 0, 0x00],     // a trailing zero byte
            &[3, 3, 0, 0x80, 0],  // likewise
            &[3, 2, 8, 0x00],     // eight unused bits
            &[3, 1, 3],           // unused bits without bytes
        ] {
            assert!(Der::new(bad).named_bits("ku").is_err(), "{bad:02X?}");
        }
    }

    #[test]
    fn sets_are_sorted() {
        let s = set_of(alloc::vec![alloc::vec![0x30, 2, 5, 5], alloc::vec![0x30, 1, 9]]);
        assert_eq!(s, [0x31, 7, 0x30, 1, 9, 0x30, 2, 5, 5]);
    }
}
