//! The default pure-Rust crypto engine: `p256` for ECDSA, `sha2` and `hmac`.
//! The random source is supplied by the platform (OS RNG in the simulator).

use crate::platform::{CryptoEngine, CryptoError, PublicKey, SecretKey, Sha256State};
use aes_gcm::aead::{Aead, KeyInit as AeadKeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use alloc::vec::Vec;
use ecdsa::hazmat::{sign_prehashed_rfc6979, verify_prehashed};
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NistP256, NonZeroScalar, ProjectivePoint, PublicKey as P256Public};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;
use zeroize::Zeroizing;

/// A source of true random bytes.
pub trait EntropySource {
    /// Fills `out`; returns false on failure.
    fn fill(&mut self, out: &mut [u8]) -> bool;
}

/// No random source: an engine for verification only (signing and key generation fail).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEntropy;

impl EntropySource for NoEntropy {
    fn fill(&mut self, _out: &mut [u8]) -> bool {
        false
    }
}

/// A verification-only engine (tests check the card's verdicts with it; the
/// host and the authority verify with `host_driver::signature`).
pub fn verifier() -> SoftEngine<NoEntropy> {
    SoftEngine::new(NoEntropy)
}

/// The pure-Rust engine.
#[derive(Debug, Clone)]
pub struct SoftEngine<E> {
    entropy: E,
}

impl<E: EntropySource> SoftEngine<E> {
    /// An engine drawing randomness from `entropy`.
    pub fn new(entropy: E) -> Self {
        Self { entropy }
    }
}

/// Incremental SHA-256 of the soft engine.
#[derive(Debug, Clone, Default)]
pub struct SoftSha256(Sha256);

impl Sha256State for SoftSha256 {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

fn scalar(key: &SecretKey) -> Result<NonZeroScalar, CryptoError> {
    NonZeroScalar::from_repr(key.0.into()).into_option().ok_or(CryptoError::InvalidKey)
}

fn parse_public(key: &[u8]) -> Option<P256Public> {
    if key.len() != 65 || key.first() != Some(&0x04) {
        return None;
    }
    P256Public::from_sec1_bytes(key).ok()
}

impl<E: EntropySource> CryptoEngine for SoftEngine<E> {
    type Hasher = SoftSha256;

    fn sha256_start(&self) -> SoftSha256 {
        SoftSha256::default()
    }

    fn hmac_sha256(&self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => return [0u8; 32],
        };
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        if self.entropy.fill(out) { Ok(()) } else { Err(CryptoError::Rng) }
    }

    fn p256_generate(&mut self) -> Result<(SecretKey, PublicKey), CryptoError> {
        // Rejection sampling: a random 256-bit string is a valid scalar with
        // probability 1 - 2^-32; give up only on a broken RNG.
        for _ in 0..64 {
            let mut bytes = [0u8; 32];
            self.fill_random(&mut bytes)?;
            let candidate = NonZeroScalar::from_repr(bytes.into()).into_option();
            let secret = SecretKey(bytes);
            bytes.zeroize();
            if let Some(d) = candidate {
                let public = P256Public::from_secret_scalar(&d).to_sec1_point(false);
                let mut out = [0u8; 65];
                if public.as_bytes().len() != 65 {
                    return Err(CryptoError::InvalidKey);
                }
                out.copy_from_slice(public.as_bytes());
                return Ok((secret, out));
            }
        }
        Err(CryptoError::Rng)
    }

    fn p256_ecdsa_sign(&mut self, key: &SecretKey, digest: &[u8; 32]) -> Result<[u8; 64], CryptoError> {
        let d = scalar(key)?;
        let mut extra = [0u8; 32];
        self.fill_random(&mut extra)?;
        let (sig, _) = sign_prehashed_rfc6979::<NistP256, Sha256>(&d, digest, &extra);
        extra.zeroize();
        Ok(sig.to_bytes().into())
    }

    fn p256_ecdsa_verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        let Some(public) = parse_public(key) else { return false };
        let Ok(sig) = ecdsa::Signature::<NistP256>::from_slice(signature) else { return false };
        let point = ProjectivePoint::from(*public.as_affine());
        verify_prehashed::<NistP256>(&point, digest, &sig).is_ok()
    }

    fn p256_valid_public(&self, key: &[u8]) -> bool {
        parse_public(key).is_some()
    }

    fn p256_ecdh(&self, key: &SecretKey, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let d = scalar(key)?;
        let peer = parse_public(peer).ok_or(CryptoError::InvalidKey)?;
        let shared = (ProjectivePoint::from(*peer.as_affine()) * *d).to_affine();
        let encoded = shared.to_sec1_point(false);
        let x = encoded.as_bytes().get(1..33).ok_or(CryptoError::InvalidKey)?;
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(x);
        Ok(out)
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::InvalidKey)?;
        cipher.encrypt(&Nonce::from(*nonce), Payload { msg: plaintext, aad }).map_err(|_| CryptoError::InvalidKey)
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::InvalidKey)?;
        cipher
            .decrypt(&Nonce::from(*nonce), Payload { msg: sealed, aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Unauthentic)
    }
}
