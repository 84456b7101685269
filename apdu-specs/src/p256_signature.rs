//! The low-S rule for raw ECDSA P-256 signatures (r‖s, 32 bytes each).
//!
//! For every valid signature (r, s) the pair (r, n − s) is valid too, so a
//! signed object would have a byte-different twin. PCMeter signs only the
//! low half (s ≤ (n − 1) / 2) and every verifier refuses the high half. This
//! module is the one place that rule lives: the card's crypto engine trait,
//! the authority's signer and the host's verifiers all call it.
//!
//! It also converts between raw r‖s and the DER ECDSA-Sig-Value that
//! X.509, PKCS#10, CRLs and CMS carry.

use crate::asn1;
use crate::codec::FormatError;
use alloc::vec::Vec;
use der::Sequence;
use der::asn1::UintRef;

/// ECDSA-Sig-Value (RFC 5480 / SEC 1): `SEQUENCE { r INTEGER, s INTEGER }`,
/// both non-negative and minimally encoded (DER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Converts an ECDSA-Sig-Value to raw r‖s (each at most 32 bytes).
pub fn raw_from_der(der: &[u8]) -> Result<[u8; 64], FormatError> {
    let value: EcdsaSigValue<'_> = asn1::decode_canonical(der, "ECDSA signature")?;
    let mut raw = [0u8; 64];
    for (half, integer) in raw.chunks_exact_mut(32).zip([value.r, value.s]) {
        let magnitude = integer.as_bytes();
        let pad = 32usize.checked_sub(magnitude.len()).ok_or(FormatError::Invalid("ECDSA signature"))?;
        half.get_mut(pad..).ok_or(FormatError::Invalid("ECDSA signature"))?.copy_from_slice(magnitude);
    }
    Ok(raw)
}

/// Converts raw r‖s to an ECDSA-Sig-Value.
pub fn der_from_raw(raw: &[u8; 64]) -> Result<Vec<u8>, FormatError> {
    let (r, s) = raw.split_at(32);
    let integer = |half| UintRef::new(half).map_err(asn1::der_error("ECDSA signature"));
    asn1::encode(&EcdsaSigValue { r: integer(r)?, s: integer(s)? }, "ECDSA signature")
}

/// The order n of the P-256 group, big-endian.
pub const ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA,
    0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// (n − 1) / 2: the largest s of a low-S signature, big-endian.
pub const HALF_ORDER: [u8; 32] = [
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xDE, 0x73, 0x7D,
    0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
];

fn s_of(signature: &[u8; 64]) -> [u8; 32] {
    let mut s = [0u8; 32];
    s.iter_mut().zip(signature.iter().skip(32)).for_each(|(d, b)| *d = *b);
    s
}

/// True when the signature's s lies in the low half (s ≤ (n − 1) / 2).
/// Big-endian arrays of equal length compare like the numbers they encode.
pub fn is_low_s(signature: &[u8; 64]) -> bool {
    s_of(signature) <= HALF_ORDER
}

/// The malleated twin r‖(n − s) of a signature: valid whenever the
/// signature is, and on the other side of the low-S rule. (For s = 0, which
/// no verifier accepts, the result is r‖n, which none accepts either.)
pub fn twin(signature: &[u8; 64]) -> [u8; 64] {
    let s = s_of(signature);
    let mut out = *signature;
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let (n, si) = (ORDER.get(i).copied().unwrap_or(0), s.get(i).copied().unwrap_or(0));
        let diff = u16::from(n).wrapping_sub(u16::from(si)).wrapping_sub(borrow);
        if let Some(d) = out.get_mut(32 + i) {
            *d = diff as u8;
        }
        borrow = u16::from(u16::from(n) < u16::from(si) + borrow);
    }
    out
}

/// The low-S form of a signature: itself when already low, else its twin.
pub fn to_low_s(signature: &[u8; 64]) -> [u8; 64] {
    if is_low_s(signature) { *signature } else { twin(signature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_s(s: [u8; 32]) -> [u8; 64] {
        let mut sig = [0x11u8; 64];
        sig[32..].copy_from_slice(&s);
        sig
    }

    #[test]
    fn signature_values_convert_both_ways_and_must_be_der() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80;
        raw[40] = 0x01;
        let der = der_from_raw(&raw).unwrap();
        // r needs a sign octet, s loses its eight leading zeros.
        assert_eq!(der[..5], [0x30, 0x3D, 0x02, 0x21, 0x00]);
        assert_eq!(raw_from_der(&der).unwrap(), raw);
        assert!(raw_from_der(&der[..der.len() - 1]).is_err());
        // A negative r, a non-minimal s, a 33-byte magnitude.
        assert!(raw_from_der(&[0x30, 6, 2, 1, 0x80, 2, 1, 1]).is_err());
        assert!(raw_from_der(&[0x30, 7, 2, 1, 1, 2, 2, 0, 1]).is_err());
        let mut long = alloc::vec![0x30, 38, 2, 33, 1];
        long.extend_from_slice(&[0; 32]);
        long.extend_from_slice(&[2, 1, 1]);
        assert!(raw_from_der(&long).is_err());
    }

    #[test]
    fn the_boundary_is_half_the_order() {
        assert!(is_low_s(&with_s(HALF_ORDER)));
        let mut just_above = HALF_ORDER;
        just_above[31] += 1;
        assert!(!is_low_s(&with_s(just_above)));
        assert!(is_low_s(&with_s([0; 32])));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(is_low_s(&with_s(one)));
        assert!(!is_low_s(&with_s(ORDER)));
    }

    #[test]
    fn twins_mirror_around_half_the_order() {
        // n − (n−1)/2 = (n+1)/2, the smallest high s.
        let mut smallest_high = HALF_ORDER;
        smallest_high[31] += 1;
        assert_eq!(twin(&with_s(HALF_ORDER)), with_s(smallest_high));
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut n_minus_one = ORDER;
        n_minus_one[31] -= 1;
        assert_eq!(twin(&with_s(one)), with_s(n_minus_one));
        for s in [one, HALF_ORDER, smallest_high, n_minus_one, [0x42; 32]] {
            let sig = with_s(s);
            assert_eq!(twin(&twin(&sig)), sig, "twin is an involution");
            assert_eq!(twin(&sig)[..32], sig[..32], "r is untouched");
            assert!(is_low_s(&to_low_s(&sig)));
            assert!(is_low_s(&sig) != is_low_s(&twin(&sig)));
        }
    }
}
