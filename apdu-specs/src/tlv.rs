//! Minimal BER-TLV (ISO/IEC 7816-4 §5.2): one- or two-byte tags, definite
//! lengths up to 65535 (`82 xx xx`). Used for FCI, personalization data and
//! the signed envelope. The length octets are `der`'s [`Length`] (minimal
//! form, as X.690 DER); only the ISO two-byte tags are read here.

use crate::asn1::der_error;
use crate::codec::FormatError;
use alloc::vec::Vec;
use der::{Decode, Encode, Length, Reader, SliceReader};

/// Longest value a data object may carry (`82 FF FF`).
pub const MAX_VALUE_LEN: usize = 0xFFFF;

/// Appends one data object. Every producer keeps values within
/// [`MAX_VALUE_LEN`] (commands and responses are far smaller); a longer value
/// is cut there, so the object stays well formed.
pub fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let [hi, lo] = tag.to_be_bytes();
    if hi != 0 {
        out.push(hi);
    }
    out.push(lo);
    let value = value.get(..MAX_VALUE_LEN).unwrap_or(value);
    // A length below 2^16 always encodes (at most `82 xx xx`).
    let length = Length::try_from(value.len()).unwrap_or(Length::ZERO);
    if length.encode_to_vec(out).is_err() {
        out.push(0);
        return;
    }
    out.extend_from_slice(value);
}

/// Encodes one data object.
pub fn encode(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 4);
    put(&mut out, tag, value);
    out
}

/// Iterates over a flat sequence of data objects.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
}

/// Iterates over the data objects in `data`.
pub fn iter(data: &[u8]) -> Iter<'_> {
    Iter { rest: data }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<(u16, &'a [u8]), FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = take_one(self.rest);
        match parsed {
            Ok((tag, value, rest)) => {
                self.rest = rest;
                Some(Ok((tag, value)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn take_one(data: &[u8]) -> Result<(u16, &[u8], &[u8]), FormatError> {
    let (first, rest) = data.split_first().ok_or(FormatError::Truncated("tag"))?;
    let (tag, rest) = if first & 0x1F == 0x1F {
        let (second, rest) = rest.split_first().ok_or(FormatError::Truncated("tag"))?;
        if second & 0x80 != 0 {
            return Err(FormatError::Invalid("tag (more than two bytes)"));
        }
        (u16::from_be_bytes([*first, *second]), rest)
    } else {
        (u16::from(*first), rest)
    };
    let (len, rest) = length(rest)?;
    if rest.len() < len {
        return Err(FormatError::Truncated("value"));
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

/// Reads the length octets with `der` (minimal form only) and refuses a value
/// longer than [`MAX_VALUE_LEN`].
fn length(data: &[u8]) -> Result<(usize, &[u8]), FormatError> {
    let mut reader = SliceReader::new(data).map_err(der_error("length"))?;
    let length = Length::decode(&mut reader).map_err(der_error("length"))?;
    let len = usize::try_from(u32::from(length)).map_err(|_| FormatError::Invalid("length"))?;
    if len > MAX_VALUE_LEN {
        return Err(FormatError::Invalid("length"));
    }
    let read = usize::try_from(u32::from(reader.position())).map_err(|_| FormatError::Invalid("length"))?;
    Ok((len, data.get(read..).unwrap_or(&[])))
}

/// Parses all objects; fails on any malformed object or duplicate tag.
pub fn parse_unique(data: &[u8]) -> Result<Vec<(u16, &[u8])>, FormatError> {
    let mut out: Vec<(u16, &[u8])> = Vec::new();
    for item in iter(data) {
        let (tag, value) = item?;
        if out.iter().any(|(t, _)| *t == tag) {
            return Err(FormatError::Invalid("duplicate tag"));
        }
        out.push((tag, value));
    }
    Ok(out)
}

/// Finds the first object with `tag` in a flat list (malformed input finds nothing).
pub fn find(data: &[u8], tag: u16) -> Option<&[u8]> {
    iter(data).map_while(Result::ok).find(|(t, _)| *t == tag).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 4000] {
            let value = alloc::vec![0xAB; len];
            let enc = encode(0x5F37, &value);
            let parsed = parse_unique(&enc).unwrap();
            assert_eq!(parsed, alloc::vec![(0x5F37, value.as_slice())]);
        }
    }

    #[test]
    fn rejects_truncation_and_non_minimal_lengths() {
        assert!(parse_unique(&[0x80, 0x05, 1, 2]).is_err());
        assert!(parse_unique(&[0x80, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err());
        assert!(parse_unique(&[0x80, 0x83, 0, 0, 1]).is_err());
        assert!(parse_unique(&[0x80, 0x00, 0x80, 0x00]).is_err());
        assert!(parse_unique(&[0x80, 0x82, 0x00, 0xFF]).is_err(), "82 form for a length below 256");
        assert!(parse_unique(&[0x80, 0x80]).is_err(), "indefinite length");
        assert!(parse_unique(&[0x80, 0x83, 0x01, 0x00, 0x00]).is_err(), "a value longer than 65535");
    }

    #[test]
    fn length_octets_are_minimal() {
        for (len, octets) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x81, 0x80]),
            (255, &[0x81, 0xFF]),
            (256, &[0x82, 0x01, 0x00]),
            (65535, &[0x82, 0xFF, 0xFF]),
        ] {
            let enc = encode(0x80, &alloc::vec![0; len]);
            assert_eq!(&enc[1..1 + octets.len()], octets, "{len}");
        }
    }
}
