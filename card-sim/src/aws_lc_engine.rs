//! The `aws-lc-rs` crypto engine (features `aws-lc`, `aws-lc-fips`): ECDSA,
//! ECDH, SHA-256, HMAC and AES-256-GCM from AWS-LC, byte-compatible with
//! `card-core`'s soft engine. Like the soft engine it takes the platform's
//! true random source for keys: a key drawn from the same source is the same
//! key on both engines. ECDSA nonces come from AWS-LC's own hedged DRBG.
//!
//! Importing a raw scalar into AWS-LC costs point multiplications (public
//! key and consistency check), more than a signature; the engine therefore
//! keeps the last few imported signing keys ([`KEY_CACHE`]), looked up by a
//! constant-time comparison and wiped on power loss and tamper
//! ([`AwsLcEngine::forget_keys`]).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::digest::{self, SHA256};
use aws_lc_rs::hmac;
use aws_lc_rs::signature::UnparsedPublicKey;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use card_core::platform::{CryptoEngine, CryptoError, PublicKey, SecretKey, Sha256State};
use card_core::soft_engine::EntropySource;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How many imported signing keys the engine keeps (a card has eight slot
/// keys and its device key).
pub const KEY_CACHE: usize = 16;

/// The `aws-lc-rs` engine drawing key material from `entropy`.
pub struct AwsLcEngine<E> {
    entropy: E,
    /// Imported signing keys, oldest first. `SecretKey` wipes itself on drop
    /// and AWS-LC clears the memory of a freed key.
    keys: Vec<(SecretKey, EcdsaKeyPair)>,
}

impl<E> fmt::Debug for AwsLcEngine<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsLcEngine").field("cached_keys", &self.keys.len()).finish_non_exhaustive()
    }
}

impl<E: EntropySource> AwsLcEngine<E> {
    /// An engine drawing keys and the signing gate from `entropy`.
    pub fn new(entropy: E) -> Self {
        Self { entropy, keys: Vec::new() }
    }
}

impl<E> AwsLcEngine<E> {
    /// True when AWS-LC runs as its FIPS 140-3 module (feature `aws-lc-fips`).
    pub fn fips_mode() -> bool {
        aws_lc_rs::try_fips_mode().is_ok()
    }

    /// Drops every imported signing key.
    pub fn forget_keys(&mut self) {
        self.keys.clear();
    }

    /// Where the imported key pair of `key` is cached, importing it on first
    /// use. Every cached key is compared, in constant time.
    fn key_index(&mut self, key: &SecretKey) -> Result<usize, CryptoError> {
        let mut hit = None;
        for (index, (cached, _)) in self.keys.iter().enumerate() {
            if bool::from(cached.0.ct_eq(&key.0)) {
                hit = Some(index);
            }
        }
        match hit {
            Some(index) => Ok(index),
            None => Ok(self.remember(key.clone(), import(key)?)),
        }
    }

    /// Caches an imported key, evicting the oldest when full; returns its index.
    fn remember(&mut self, key: SecretKey, pair: EcdsaKeyPair) -> usize {
        if self.keys.len() >= KEY_CACHE {
            self.keys.remove(0);
        }
        self.keys.push((key, pair));
        self.keys.len() - 1
    }
}

/// The P-256 `ECPrivateKey` (RFC 5915) of a raw scalar, without its public
/// key: AWS-LC computes and checks it on import.
fn rfc5915(key: &SecretKey) -> Zeroizing<Vec<u8>> {
    const HEAD: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    // [0] { OID prime256v1 }
    const CURVE: [u8; 12] = [0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    let mut der = Zeroizing::new(Vec::with_capacity(HEAD.len() + 32 + CURVE.len()));
    der.extend_from_slice(&HEAD);
    der.extend_from_slice(&key.0);
    der.extend_from_slice(&CURVE);
    der
}

/// Imports a raw scalar as an ECDSA key pair; zero or ≥ n is an invalid key.
fn import(key: &SecretKey) -> Result<EcdsaKeyPair, CryptoError> {
    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &rfc5915(key))
        .map_err(|_| CryptoError::InvalidKey)
}

/// An uncompressed SEC1 point, as the soft engine accepts it (no compressed form).
fn uncompressed(key: &[u8]) -> bool {
    key.len() == 65 && key.first() == Some(&0x04)
}

fn sha256_digest(digest: &[u8; 32]) -> Result<digest::Digest, CryptoError> {
    digest::Digest::import_less_safe(digest, &SHA256).map_err(|_| CryptoError::InvalidKey)
}

/// Incremental SHA-256 of the aws-lc-rs engine.
pub struct AwsLcSha256(digest::Context);

impl fmt::Debug for AwsLcSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AwsLcSha256")
    }
}

impl Sha256State for AwsLcSha256 {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

impl<E: EntropySource> CryptoEngine for AwsLcEngine<E> {
    type Hasher = AwsLcSha256;

    fn sha256_start(&self) -> AwsLcSha256 {
        AwsLcSha256(digest::Context::new(&SHA256))
    }

    fn hmac_sha256(&self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        let mut context = hmac::Context::with_key(&key);
        for part in parts {
            context.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }

    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        if self.entropy.fill(out) { Ok(()) } else { Err(CryptoError::Rng) }
    }

    fn p256_generate(&mut self) -> Result<(SecretKey, PublicKey), CryptoError> {
        // The soft engine's rejection sampling, draw for draw: the same
        // random stream gives the same key on both engines.
        for _ in 0..64 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            self.fill_random(bytes.as_mut())?;
            let secret = SecretKey(*bytes);
            let Ok(pair) = import(&secret) else { continue };
            let public: PublicKey = pair.public_key().as_ref().try_into().map_err(|_| CryptoError::InvalidKey)?;
            self.remember(secret.clone(), pair);
            return Ok((secret, public));
        }
        Err(CryptoError::Rng)
    }

    fn p256_ecdsa_sign(&mut self, key: &SecretKey, digest: &[u8; 32]) -> Result<[u8; 64], CryptoError> {
        // AWS-LC hedges the nonce with its own DRBG. The platform's true
        // random source is still drawn after the key check, as the soft
        // engine draws it, so that a failed source refuses the signature on
        // either engine and the platform's random stream stays the same on both.
        let index = self.key_index(key)?;
        let mut gate = Zeroizing::new([0u8; 32]);
        self.fill_random(gate.as_mut())?;
        let digest = sha256_digest(digest)?;
        let (_, pair) = self.keys.get(index).ok_or(CryptoError::InvalidKey)?;
        let signature = pair.sign_digest(&digest).map_err(|_| CryptoError::InvalidKey)?;
        signature.as_ref().try_into().map_err(|_| CryptoError::InvalidKey)
    }

    fn p256_ecdsa_verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        if !uncompressed(key) {
            return false;
        }
        let Ok(digest) = sha256_digest(digest) else { return false };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key).verify_digest(&digest, signature).is_ok()
    }

    fn p256_valid_public(&self, key: &[u8]) -> bool {
        uncompressed(key) && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key).parse().is_ok()
    }

    fn p256_ecdh(&self, key: &SecretKey, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if !uncompressed(peer) {
            return Err(CryptoError::InvalidKey);
        }
        let private =
            agreement::PrivateKey::from_private_key(&ECDH_P256, &key.0).map_err(|_| CryptoError::InvalidKey)?;
        agreement::agree(
            &private,
            agreement::UnparsedPublicKey::new(&ECDH_P256, peer),
            CryptoError::InvalidKey,
            |shared| {
                let mut out = Zeroizing::new([0u8; 32]);
                if shared.len() != out.len() {
                    return Err(CryptoError::InvalidKey);
                }
                out.copy_from_slice(shared);
                Ok(out)
            },
        )
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = gcm_key(key)?;
        let mut sealed = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut sealed)
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(sealed)
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key = gcm_key(key)?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let len = key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buffer.as_mut_slice())
            .map_err(|_| CryptoError::Unauthentic)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

fn gcm_key(key: &[u8; 32]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key).map(LessSafeKey::new).map_err(|_| CryptoError::InvalidKey)
}
