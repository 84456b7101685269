//! The signed envelope used for every signed message between the card and
//! its authorities (personalization profile, rate table, orders, recharge,
//! inspection, credit):
//!
//! ```text
//! 70 L body            -- the message body
//! 5F37 40 r || s       -- ECDSA P-256 signature, raw big-endian r and s
//! ```
//!
//! The signature covers `SHA-256(domain || 00 || body)`, where `domain` names
//! the message kind, so a signature over one kind can never be replayed as
//! another.

use crate::codec::FormatError;
use crate::tlv;
use alloc::vec::Vec;

/// Tag of the body.
pub const TAG_BODY: u16 = 0x70;
/// Tag of the signature (ISO 7816-4 "digital signature").
pub const TAG_SIGNATURE: u16 = 0x5F37;

/// Domain label of rate tables.
pub const DOMAIN_RATE_TABLE: &[u8] = b"PCMeter rate table v1";
/// Domain label of personalization profiles.
pub const DOMAIN_PERSONALIZATION: &[u8] = b"PCMeter personalization v1";

/// A parsed envelope borrowing its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// The signed body.
    pub body: &'a [u8],
    /// Raw r || s.
    pub signature: [u8; 64],
}

impl<'a> Signed<'a> {
    /// Parses an envelope; anything but exactly body + signature is an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let mut items = tlv::iter(bytes);
        let (tag, body) = items.next().ok_or(FormatError::Missing("body"))??;
        if tag != TAG_BODY {
            return Err(FormatError::Missing("body"));
        }
        let (tag, sig) = items.next().ok_or(FormatError::Missing("signature"))??;
        if tag != TAG_SIGNATURE {
            return Err(FormatError::Missing("signature"));
        }
        if items.next().is_some() {
            return Err(FormatError::Invalid("envelope (extra objects)"));
        }
        let signature: [u8; 64] = sig.try_into().map_err(|_| FormatError::Invalid("signature length"))?;
        Ok(Self { body, signature })
    }

    /// The three parts hashed for the signature, in order.
    pub fn signing_input<'b>(domain: &'b [u8], body: &'b [u8]) -> [&'b [u8]; 3] {
        [domain, &[0u8], body]
    }
}

/// Length of the envelope around a body of `body_len` bytes (DER lengths:
/// short form below 128, then `81 xx`, then `82 xx xx`).
pub const fn envelope_len(body_len: usize) -> usize {
    let length_octets = if body_len < 0x80 {
        1
    } else if body_len < 0x100 {
        2
    } else {
        3
    };
    1 + length_octets + body_len + 2 + 1 + 64
}

/// Encodes an envelope.
pub fn encode(body: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 72);
    tlv::put(&mut out, TAG_BODY, body);
    tlv::put(&mut out, TAG_SIGNATURE, signature);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_len_matches_the_encoding_at_every_length_form() {
        for n in [0usize, 1, 127, 128, 255, 256, 1000] {
            assert_eq!(encode(&alloc::vec![7u8; n], &[1; 64]).len(), envelope_len(n), "{n}");
        }
    }
}
