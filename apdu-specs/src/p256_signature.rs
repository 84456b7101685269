//! The low-S rule for raw ECDSA P-256 signatures (r‖s, 32 bytes each).
//!
//! For every valid signature (r, s) the pair (r, n − s) is valid too, so a
//! signed object would have a byte-different twin. PCMeter signs only the
//! low half (s ≤ (n − 1) / 2) and every verifier refuses the high half. This
//! module is the one place that rule lives: the card's crypto engine trait,
//! the authority's signer and the host's verifiers all call it.

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
