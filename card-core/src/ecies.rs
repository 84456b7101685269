//! ECIES over any [`CryptoEngine`]: ephemeral P-256 ECDH, HKDF-SHA-256 (RFC
//! 5869, built on the engine's HMAC) and AES-256-GCM. The blob layout and
//! KDF inputs are specified in `apdu_specs::certs::ecies`. The card uses it
//! to decrypt (DECRYPT) and to deliver agent-issued keys; the host has its
//! own implementation (`host_driver::ecies`), tested against this one.

use crate::platform::{CryptoEngine, CryptoError, SecretKey};
use alloc::vec::Vec;
use apdu_specs::certs::ecies;
use zeroize::{Zeroize, Zeroizing};

/// HKDF-SHA-256 with an empty salt, filling `out` (at most 255 blocks).
pub fn hkdf_sha256<C: CryptoEngine>(crypto: &C, ikm: &[u8], info: &[u8], out: &mut [u8]) {
    let prk = Zeroizing::new(crypto.hmac_sha256(&[0u8; 32], &[ikm]));
    let mut previous: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let counter = [(i as u8).wrapping_add(1)];
        let mut block = crypto.hmac_sha256(&prk[..], &[&previous, info, &counter]);
        chunk.copy_from_slice(block.get(..chunk.len()).unwrap_or(&[]));
        previous.clear();
        previous.extend_from_slice(&block);
        block.zeroize();
    }
}

fn key_and_nonce<C: CryptoEngine>(
    crypto: &C,
    shared: &[u8; 32],
    ephemeral: &[u8],
    recipient: &[u8],
) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let mut okm = Zeroizing::new([0u8; ecies::KEY_LEN + ecies::NONCE_LEN]);
    hkdf_sha256(crypto, shared, &ecies::info(ephemeral, recipient), &mut okm[..]);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = [0u8; 12];
    let (k, n) = okm.split_at(ecies::KEY_LEN);
    key.copy_from_slice(k);
    nonce.copy_from_slice(n);
    (key, nonce)
}

/// Encrypts `plaintext` to `recipient` (uncompressed SEC1) under `aad`.
pub fn seal<C: CryptoEngine>(
    crypto: &mut C,
    recipient: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if !crypto.p256_valid_public(recipient) {
        return Err(CryptoError::InvalidKey);
    }
    let (ephemeral_secret, ephemeral) = crypto.p256_generate()?;
    let shared = crypto.p256_ecdh(&ephemeral_secret, recipient)?;
    let (key, nonce) = key_and_nonce(crypto, &shared, &ephemeral, recipient);
    let sealed = crypto.aes256_gcm_seal(&key, &nonce, aad, plaintext)?;
    Ok([&ephemeral[..], &sealed].concat())
}

/// Decrypts a blob with the recipient's secret key.
pub fn open<C: CryptoEngine>(
    crypto: &C,
    secret: &SecretKey,
    recipient: &[u8],
    aad: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if blob.len() < ecies::OVERHEAD {
        return Err(CryptoError::Unauthentic);
    }
    let (ephemeral, sealed) = blob.split_at(ecies::EPHEMERAL_LEN);
    let shared = crypto.p256_ecdh(secret, ephemeral)?;
    let (key, nonce) = key_and_nonce(crypto, &shared, ephemeral, recipient);
    crypto.aes256_gcm_open(&key, &nonce, aad, sealed)
}
