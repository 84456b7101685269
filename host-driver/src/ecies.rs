//! The host side of the card's ECIES (layout and KDF inputs in
//! `apdu_specs::certs::ecies`): ephemeral P-256 ECDH, HKDF-SHA-256 with an
//! empty salt into an AES-256 key and a GCM nonce, then AES-256-GCM. A
//! sender encrypts to a slot key for DECRYPT; a receiver opens the key an
//! agent card delivered to it. Byte-compatible with the card in both
//! directions.

use crate::signature::parse_public;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use apdu_specs::certs::ecies;
use p256::ecdh::{SharedSecret, diffie_hellman};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why a blob could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EciesError {
    /// The recipient key is not an uncompressed P-256 point.
    #[error("the recipient key is not an uncompressed P-256 point")]
    InvalidKey,
    /// The OS random source failed.
    #[error("no OS randomness for the ephemeral key")]
    Randomness,
    /// The blob is too short, altered, or not for this key and context.
    #[error("the blob does not authenticate")]
    Unauthentic,
}

/// A P-256 key pair made on the host from the OS random source; its
/// secret is zeroized when dropped.
pub struct HostKeyPair {
    secret: SecretKey,
    /// Uncompressed SEC1 public key.
    pub public: [u8; 65],
}

impl HostKeyPair {
    /// A fresh key pair.
    pub fn generate() -> Result<Self, EciesError> {
        let secret = SecretKey::try_generate().map_err(|_| EciesError::Randomness)?;
        let public =
            secret.public_key().to_sec1_point(false).as_bytes().try_into().map_err(|_| EciesError::InvalidKey)?;
        Ok(Self { secret, public })
    }
}

/// The AES-256 key and GCM nonce both sides derive from a shared secret.
fn key_and_nonce(
    shared: &SharedSecret,
    ephemeral: &[u8],
    recipient: &[u8],
) -> Result<(Aes256Gcm, [u8; ecies::NONCE_LEN]), EciesError> {
    let mut okm = Zeroizing::new([0u8; ecies::KEY_LEN + ecies::NONCE_LEN]);
    shared
        .extract::<Sha256>(None)
        .expand(&ecies::info(ephemeral, recipient), &mut okm[..])
        .map_err(|_| EciesError::InvalidKey)?;
    let (key, nonce) = okm.split_at(ecies::KEY_LEN);
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| EciesError::InvalidKey)?;
    let nonce = nonce.try_into().map_err(|_| EciesError::InvalidKey)?;
    Ok((cipher, nonce))
}

/// Encrypts `plaintext` to `recipient` (uncompressed SEC1) under `aad`:
/// ephemeral public key ‖ ciphertext ‖ tag.
pub fn seal(recipient: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EciesError> {
    let peer = parse_public(recipient).ok_or(EciesError::InvalidKey)?;
    let ephemeral = HostKeyPair::generate()?;
    let shared = diffie_hellman(ephemeral.secret.to_nonzero_scalar(), peer.as_affine());
    let (cipher, nonce) = key_and_nonce(&shared, &ephemeral.public, recipient)?;
    let sealed =
        cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad }).map_err(|_| EciesError::InvalidKey)?;
    Ok([&ephemeral.public[..], &sealed].concat())
}

/// Decrypts a blob sealed to `key` under `aad`.
pub fn open(key: &HostKeyPair, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, EciesError> {
    if blob.len() < ecies::OVERHEAD {
        return Err(EciesError::Unauthentic);
    }
    let (ephemeral, sealed) = blob.split_at(ecies::EPHEMERAL_LEN);
    let peer: PublicKey = parse_public(ephemeral).ok_or(EciesError::Unauthentic)?;
    let shared = diffie_hellman(key.secret.to_nonzero_scalar(), peer.as_affine());
    let (cipher, nonce) = key_and_nonce(&shared, ephemeral, &key.public)?;
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| EciesError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_under_the_same_context() {
        let receiver = HostKeyPair::generate().unwrap();
        let blob = seal(&receiver.public, b"context", b"terms").unwrap();
        assert_eq!(blob.len(), b"terms".len() + ecies::OVERHEAD);
        assert_eq!(open(&receiver, b"context", &blob).unwrap().as_slice(), b"terms");
    }

    #[test]
    fn refuses_another_context_key_or_altered_blob() {
        let receiver = HostKeyPair::generate().unwrap();
        let blob = seal(&receiver.public, b"context", b"terms").unwrap();
        assert_eq!(open(&receiver, b"other", &blob).unwrap_err(), EciesError::Unauthentic);
        assert_eq!(open(&HostKeyPair::generate().unwrap(), b"context", &blob).unwrap_err(), EciesError::Unauthentic);
        let mut altered = blob.clone();
        if let Some(last) = altered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(open(&receiver, b"context", &altered).unwrap_err(), EciesError::Unauthentic);
        assert_eq!(open(&receiver, b"context", &blob[..ecies::OVERHEAD - 1]).unwrap_err(), EciesError::Unauthentic);
    }

    #[test]
    fn refuses_a_recipient_that_is_not_a_point() {
        assert_eq!(seal(&[4u8; 65], b"", b"x").unwrap_err(), EciesError::InvalidKey);
        assert_eq!(seal(&[4u8; 33], b"", b"x").unwrap_err(), EciesError::InvalidKey);
    }
}
