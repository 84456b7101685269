//! The journal's on-disk layout: the file header, the records of format
//! versions 1 and 2, and how a record is recognized from its bytes.

use card_core::platform::{RecordId, WriteSet};
use sha2::{Digest, Sha256};

/// Magic bytes of a journal file.
pub const MAGIC: &[u8; 8] = b"PCMJRNL1";
/// Current journal format version.
pub const FORMAT_VERSION: u16 = 2;
/// Header length.
pub const HEADER_LEN: usize = 64;
/// The last byte of every version-2 record. It is not zero, so a record
/// whose last byte is zero on disk never reached the disk whole.
pub const END_MARK: u8 = 0xA5;

/// Length, sequence number and header check of a version-2 record.
const V2_HEAD: usize = 4 + 8 + 4;
/// Bytes a version-2 record adds to its payload: head, digest, end mark.
pub const V2_OVERHEAD: usize = V2_HEAD + 32 + 1;
/// Bytes a version-1 record adds to its payload: length, sequence, digest.
const V1_OVERHEAD: usize = 4 + 8 + 32;

/// The record layouts the journal reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `length u32 | seq u64 | payload | SHA-256`.
    V1,
    /// `length u32 | seq u64 | head check [4] | payload | SHA-256 | END_MARK`.
    V2,
}

impl Layout {
    /// The layout of a format version, if this build reads it.
    pub fn of_version(version: u16) -> Option<Self> {
        match version {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }
}

/// A record found valid at an offset.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// Sequence number.
    pub seq: u64,
    /// The encoded writes.
    pub payload: &'a [u8],
    /// Bytes the record occupies.
    pub total: usize,
}

/// The 64-byte file header of the current version.
pub fn header(generation: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    h.extend_from_slice(&generation.to_be_bytes());
    let digest = Sha256::digest(&h);
    h.extend_from_slice(&digest);
    h.resize(HEADER_LEN, 0);
    h
}

/// Encodes record writes as a payload: `count u16`, then `(id u16, length u32, bytes)`.
pub fn encode_payload(writes: &[(RecordId, &[u8])]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(writes.len() as u16).to_be_bytes());
    for (id, value) in writes {
        p.extend_from_slice(&id.0.to_be_bytes());
        p.extend_from_slice(&(value.len() as u32).to_be_bytes());
        p.extend_from_slice(value);
    }
    p
}

/// Decodes a payload; `None` when it is not exactly a list of writes.
pub fn decode_payload(payload: &[u8]) -> Option<WriteSet> {
    let count = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?);
    let mut rest = payload.get(2..)?;
    let mut set = WriteSet::new();
    for _ in 0..count {
        let id = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let len = u32::from_be_bytes(rest.get(2..6)?.try_into().ok()?) as usize;
        let value = rest.get(6..6usize.checked_add(len)?)?;
        set.put(RecordId(id), value.to_vec());
        rest = rest.get(6 + len..)?;
    }
    rest.is_empty().then_some(set)
}

/// The check that protects a record's length and sequence number on their own.
fn head_check(length: &[u8], seq: &[u8]) -> [u8; 4] {
    let digest = Sha256::new().chain_update(length).chain_update(seq).finalize();
    let mut check = [0u8; 4];
    check.copy_from_slice(&digest[..4]);
    check
}

/// Encodes a version-2 record.
pub fn encode_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(payload.len() + V2_OVERHEAD);
    let length = (payload.len() as u32).to_be_bytes();
    let seq = seq.to_be_bytes();
    r.extend_from_slice(&length);
    r.extend_from_slice(&seq);
    r.extend_from_slice(&head_check(&length, &seq));
    r.extend_from_slice(payload);
    let digest = Sha256::digest(&r);
    r.extend_from_slice(&digest);
    r.push(END_MARK);
    r
}

/// A version-2 record head that checks out: its sequence number and the
/// bytes the whole record occupies.
fn v2_head(file: &[u8], at: usize) -> Option<(u64, usize)> {
    let head = file.get(at..at.checked_add(V2_HEAD)?)?;
    let (length, rest) = head.split_at(4);
    let (seq, check) = rest.split_at(8);
    let len = u32::from_be_bytes(length.try_into().ok()?) as usize;
    if len == 0 || head_check(length, seq) != check {
        return None;
    }
    Some((u64::from_be_bytes(seq.try_into().ok()?), len.checked_add(V2_OVERHEAD)?))
}

/// The valid record at `at`, if there is one.
pub fn parse_record(layout: Layout, file: &[u8], at: usize) -> Option<Parsed<'_>> {
    let (body_start, seq, total, tail) = match layout {
        Layout::V1 => {
            let len = u32::from_be_bytes(file.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize;
            if len == 0 {
                return None;
            }
            let seq = u64::from_be_bytes(file.get(at + 4..at + 12)?.try_into().ok()?);
            (12, seq, len.checked_add(V1_OVERHEAD)?, 32)
        }
        Layout::V2 => {
            let (seq, total) = v2_head(file, at)?;
            (V2_HEAD, seq, total, 33)
        }
    };
    let rec = file.get(at..at.checked_add(total)?)?;
    let (body, end) = rec.split_at(total - tail);
    let (digest, mark) = end.split_at(32);
    if Sha256::digest(body).as_slice() != digest || mark.iter().any(|m| *m != END_MARK) {
        return None;
    }
    Some(Parsed { seq, payload: body.get(body_start..)?, total })
}

/// True when the bytes at `at` are what a power cut during the append of
/// record `expected_seq` leaves: its head intact (a torn write keeps a
/// prefix, and the head is the first 16 bytes of a record of at least 51),
/// and nothing on disk from its last byte on (`garbage_end` is one past the
/// last non-zero byte of the file). A record written whole that fails its
/// check is damage, not a tear: its append may have been acknowledged.
/// Version 1 records cannot tell the two apart; every invalid tail of a
/// version-1 file counts as torn, as that version did.
pub fn is_torn_append(layout: Layout, file: &[u8], at: usize, expected_seq: Option<u64>, garbage_end: usize) -> bool {
    match layout {
        Layout::V1 => true,
        Layout::V2 => v2_head(file, at).is_some_and(|(seq, total)| {
            expected_seq.is_none_or(|e| e == seq) && at.checked_add(total).is_some_and(|end| garbage_end < end)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_every_prefix_reads_as_torn() {
        let payload = encode_payload(&[(RecordId(7), b"value")]);
        let mut file = vec![0u8; 16];
        file.extend_from_slice(&encode_record(9, &payload));
        let end = file.len();
        file.resize(end + 64, 0);
        let parsed = parse_record(Layout::V2, &file, 16).unwrap();
        assert_eq!((parsed.seq, parsed.payload, parsed.total), (9, payload.as_slice(), end - 16));
        for keep in V2_HEAD..end - 16 {
            let mut torn = file.clone();
            torn[16 + keep..end].fill(0);
            assert!(parse_record(Layout::V2, &torn, 16).is_none());
            let garbage_end = torn.iter().rposition(|b| *b != 0).map_or(16, |i| i + 1);
            assert!(is_torn_append(Layout::V2, &torn, 16, Some(9), garbage_end), "prefix of {keep} bytes");
            assert!(!is_torn_append(Layout::V2, &torn, 16, Some(10), garbage_end), "another sequence number");
        }
        let mut flipped = file.clone();
        flipped[end - 10] ^= 1;
        assert!(parse_record(Layout::V2, &flipped, 16).is_none());
        assert!(!is_torn_append(Layout::V2, &flipped, 16, Some(9), end), "complete but damaged");
    }
}
