//! PIN and PUK blocks in ISO 9564-1 format 2: `2N` then N BCD digits
//! (4 ≤ N ≤ 12), padded with `F` to 8 bytes.

use crate::codec::FormatError;
use core::fmt;

/// Length of a PIN block.
pub const PIN_BLOCK_LEN: usize = 8;
/// Shortest PIN.
pub const PIN_MIN_DIGITS: usize = 4;
/// Longest PIN.
pub const PIN_MAX_DIGITS: usize = 12;

/// A validated format-2 PIN block. Its `Debug` never shows the digits, and
/// its bytes are wiped on drop.
#[derive(Clone)]
pub struct PinBlock([u8; PIN_BLOCK_LEN]);

impl PinBlock {
    /// Builds a block from decimal digits.
    pub fn from_digits(digits: &str) -> Result<Self, FormatError> {
        let n = digits.len();
        if !(PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&n) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FormatError::Invalid("PIN digits"));
        }
        let mut nibbles = [0x0Fu8; 16];
        if let Some(first) = nibbles.get_mut(..2) {
            first.copy_from_slice(&[0x2, n as u8]);
        }
        for (slot, d) in nibbles.iter_mut().skip(2).zip(digits.bytes()) {
            *slot = d - b'0';
        }
        let mut block = [0u8; PIN_BLOCK_LEN];
        for (out, pair) in block.iter_mut().zip(nibbles.chunks_exact(2)) {
            if let [hi, lo] = pair {
                *out = (hi << 4) | lo;
            }
        }
        nibbles.fill(0);
        Ok(Self(block))
    }

    /// Validates 8 bytes as a format-2 block.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let block: [u8; PIN_BLOCK_LEN] = bytes.try_into().map_err(|_| FormatError::Invalid("PIN block length"))?;
        let control = block.first().copied().unwrap_or(0);
        let n = usize::from(control & 0x0F);
        if control >> 4 != 2 || !(PIN_MIN_DIGITS..=PIN_MAX_DIGITS).contains(&n) {
            return Err(FormatError::Invalid("PIN block control"));
        }
        let digits = block.iter().skip(1).flat_map(|b| [b >> 4, b & 0x0F]);
        for (i, nib) in digits.enumerate() {
            let ok = if i < n { nib <= 9 } else { nib == 0x0F };
            if !ok {
                return Err(FormatError::Invalid("PIN block digits"));
            }
        }
        Ok(Self(block))
    }

    /// The block bytes.
    pub fn as_bytes(&self) -> &[u8; PIN_BLOCK_LEN] {
        &self.0
    }
}

impl Drop for PinBlock {
    fn drop(&mut self) {
        // Volatile writes are not needed for correctness here; the card-side
        // copies use `zeroize`. This keeps the wire crate dependency-free.
        self.0.iter_mut().for_each(|b| *b = 0);
        core::hint::black_box(&self.0);
    }
}

impl fmt::Debug for PinBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinBlock(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_validates() {
        let b = PinBlock::from_digits("123456").unwrap();
        assert_eq!(b.as_bytes(), &[0x26, 0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(PinBlock::parse(b.as_bytes()).is_ok());
        assert!(PinBlock::parse(&[0x26, 0x12, 0x34, 0x5A, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(PinBlock::parse(&[0x23, 0x12, 0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(PinBlock::parse(&[0x24, 0x12, 0x34, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(PinBlock::from_digits("12a4").is_err());
        assert_eq!(alloc::format!("{:?}", b), "PinBlock(<redacted>)");
    }
}
