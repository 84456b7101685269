//! Big-endian byte reader and writer used by every fixed layout on the wire.
//!
//! The reader never panics: every short read is a [`FormatError`].

use alloc::vec::Vec;

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The input ended before the field `0`.
    #[error("truncated input while reading {0}")]
    Truncated(&'static str),
    /// Bytes were left after the last field.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A field had a value outside its domain.
    #[error("invalid value in field {0}")]
    Invalid(&'static str),
    /// A required field was missing.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A field or list exceeded its documented maximum.
    #[error("field {0} is too large")]
    TooLarge(&'static str),
    /// Malformed DER (ITU-T X.690) in `what`, `position` bytes into the decoded input when known.
    #[error("malformed DER in {what}: {kind} (at byte {position:?})")]
    Der {
        /// The object being decoded.
        what: &'static str,
        /// What `der` found wrong.
        kind: der::ErrorKind,
        /// Offset of the defect in the decoded input.
        position: Option<u32>,
    },
}

/// A cursor over a byte slice that reads big-endian fields.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FormatError> {
        if self.rest.len() < n {
            return Err(FormatError::Truncated(field));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FormatError> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, FormatError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Reads an unsigned big-endian integer of `width` bytes (at most 8).
    pub fn uint(&mut self, width: usize, field: &'static str) -> Result<u64, FormatError> {
        if width > 8 {
            return Err(FormatError::Invalid(field));
        }
        let bytes = self.take(width, field)?;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Fails if any byte is left unread.
    pub fn finish(self) -> Result<(), FormatError> {
        if self.rest.is_empty() { Ok(()) } else { Err(FormatError::Trailing(self.rest.len())) }
    }
}

/// Big-endian field writers on a `Vec<u8>`.
pub trait Writer {
    /// Appends one byte.
    fn put_u8(&mut self, v: u8);
    /// Appends a big-endian u16.
    fn put_u16(&mut self, v: u16);
    /// Appends a big-endian u32.
    fn put_u32(&mut self, v: u32);
    /// Appends a big-endian u64.
    fn put_u64(&mut self, v: u64);
    /// Appends the low `width` bytes of `v`, big-endian (`width` at most 8).
    fn put_uint(&mut self, v: u64, width: usize);
    /// Appends raw bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_uint(&mut self, v: u64, width: usize) {
        let bytes = v.to_be_bytes();
        let start = 8usize.saturating_sub(width.min(8));
        self.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
    }
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// True when `v` fits in `width` bytes.
pub fn fits(v: u64, width: usize) -> bool {
    width >= 8 || v >> (8 * width) == 0
}
