//! The host's P-256 ECDSA check, under the card's rules: an uncompressed
//! SEC1 key, raw r‖s over a SHA-256 digest, and a high-S signature refused.
//! The off-card verifiers and the authority check signatures through it.

use apdu_specs::p256_signature;
use apdu_specs::x509::SignatureCheck;
use ecdsa::hazmat::verify_prehashed;
use p256::{NistP256, ProjectivePoint, PublicKey};
use sha2::{Digest, Sha256};

/// Verifies P-256 signatures as the card does (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct P256Verifier;

/// Parses an uncompressed SEC1 P-256 point (65 bytes, `04 ‖ x ‖ y`).
pub(crate) fn parse_public(key: &[u8]) -> Option<PublicKey> {
    if key.len() != 65 || key.first() != Some(&0x04) {
        return None;
    }
    PublicKey::from_sec1_bytes(key).ok()
}

impl P256Verifier {
    /// True when `key` is an uncompressed SEC1 point on P-256.
    pub fn valid_public(&self, key: &[u8]) -> bool {
        parse_public(key).is_some()
    }

    /// True when raw r‖s is a low-S P-256 signature of `digest` under `key`.
    pub fn verify_digest(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        if !p256_signature::is_low_s(signature) {
            return false;
        }
        let Some(public) = parse_public(key) else { return false };
        let Ok(signature) = ecdsa::Signature::<NistP256>::from_slice(signature) else { return false };
        verify_prehashed::<NistP256>(&ProjectivePoint::from(*public.as_affine()), digest, &signature).is_ok()
    }

    /// SHA-256 over the concatenation of `parts`.
    pub fn sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
        }
        hash.finalize().into()
    }
}

impl SignatureCheck for P256Verifier {
    fn sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        P256Verifier::sha256(self, parts)
    }

    fn verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        self.verify_digest(key, digest, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    fn key_pair() -> (SigningKey, [u8; 65]) {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let public: [u8; 65] = signing.verifying_key().to_sec1_point(false).as_bytes().try_into().unwrap();
        (signing, public)
    }

    fn sign(signing: &SigningKey, digest: &[u8; 32]) -> [u8; 64] {
        let signature: ecdsa::Signature<NistP256> = signing.sign_prehash(digest).unwrap();
        p256_signature::to_low_s(&signature.to_bytes().into())
    }

    #[test]
    fn accepts_a_low_s_signature_and_refuses_its_high_s_twin() {
        let (signing, public) = key_pair();
        let digest = P256Verifier.sha256(&[b"postmark", b" body"]);
        let low = sign(&signing, &digest);
        assert!(P256Verifier.verify_digest(&public, &digest, &low));
        assert!(!P256Verifier.verify_digest(&public, &digest, &p256_signature::twin(&low)));
    }

    #[test]
    fn refuses_another_digest_and_malformed_keys() {
        let (signing, public) = key_pair();
        let digest = P256Verifier.sha256(&[b"one"]);
        let signature = sign(&signing, &digest);
        assert!(!P256Verifier.verify_digest(&public, &P256Verifier.sha256(&[b"two"]), &signature));
        let compressed = signing.verifying_key().to_sec1_point(true);
        assert!(!P256Verifier.valid_public(compressed.as_bytes()));
        assert!(!P256Verifier.verify_digest(compressed.as_bytes(), &digest, &signature));
        let mut off_curve = public;
        off_curve[64] ^= 1;
        assert!(!P256Verifier.valid_public(&off_curve));
        assert!(P256Verifier.valid_public(&public));
    }

    #[test]
    fn hashes_the_concatenation_of_its_parts() {
        let whole: [u8; 32] = Sha256::digest(b"abcdef").into();
        assert_eq!(P256Verifier.sha256(&[b"ab", b"", b"cdef"]), whole);
    }
}
