//! Minimal BER-TLV (ISO/IEC 7816-4 §5.2): one- or two-byte tags, definite
//! lengths up to 65535 (`82 xx xx`). Used for FCI, personalization data and
//! the signed envelope.

use crate::codec::FormatError;
use alloc::vec::Vec;

/// Appends one data object.
pub fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let [hi, lo] = tag.to_be_bytes();
    if hi != 0 {
        out.push(hi);
    }
    out.push(lo);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let l = (len.min(0xFFFF) as u16).to_be_bytes();
        out.extend_from_slice(&[0x82, l[0], l[1]]);
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
    let (l0, rest) = rest.split_first().ok_or(FormatError::Truncated("length"))?;
    let (len, rest) = match *l0 {
        l if l < 0x80 => (usize::from(l), rest),
        0x81 => {
            let (l1, rest) = rest.split_first().ok_or(FormatError::Truncated("length"))?;
            if *l1 < 0x80 {
                return Err(FormatError::Invalid("length (not minimal)"));
            }
            (usize::from(*l1), rest)
        }
        0x82 => {
            let bytes = rest.get(..2).ok_or(FormatError::Truncated("length"))?;
            let len = usize::from(u16::from_be_bytes([*bytes.first().unwrap_or(&0), *bytes.get(1).unwrap_or(&0)]));
            if len < 0x100 {
                return Err(FormatError::Invalid("length (not minimal)"));
            }
            (len, rest.get(2..).unwrap_or(&[]))
        }
        _ => return Err(FormatError::Invalid("length")),
    };
    if rest.len() < len {
        return Err(FormatError::Truncated("value"));
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
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
    }
}
