//! The seam between the applet and the device it runs on: crypto engine,
//! secure clock and transactional persistent store. `card-sim` implements it
//! on a PC; a secure element port implements it on its own hardware.

use alloc::vec::Vec;
use apdu_specs::p256_signature;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A P-256 private scalar, big-endian. Wiped on drop; never leaves the card.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(pub [u8; 32]);

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The per-meter indicium MAC key (claim 21). Wiped on drop. It is neither
/// `Copy` nor `PartialEq`: it cannot be duplicated into a plain buffer by
/// accident, nor compared other than in constant time, and the engine only
/// borrows it.
///
/// ```
/// let mut raw = [7u8; 32];
/// let key = card_core::platform::MacKey::take_from(&mut raw);
/// assert_eq!((raw, key.expose()[0]), ([0u8; 32], 7));
/// ```
///
/// ```compile_fail
/// fn duplicate(key: &card_core::platform::MacKey) -> card_core::platform::MacKey {
///     *key // no implicit copy
/// }
/// ```
///
/// ```compile_fail
/// fn compare(a: &card_core::platform::MacKey, b: &card_core::platform::MacKey) -> bool {
///     a == b // no PartialEq
/// }
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MacKey([u8; 32]);

impl MacKey {
    /// Moves the key out of `source` and wipes `source`.
    pub fn take_from(source: &mut [u8; 32]) -> Self {
        let key = Self(*source);
        source.zeroize();
        key
    }

    /// The key bytes, borrowed for the MAC engine or the store.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// An uncompressed SEC1 P-256 public key (`04 || X || Y`).
pub type PublicKey = [u8; 65];

/// Failure inside the crypto engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key or point was not valid.
    #[error("invalid key")]
    InvalidKey,
    /// The random source failed.
    #[error("random source failure")]
    Rng,
    /// Authenticated decryption failed.
    #[error("ciphertext does not authenticate")]
    Unauthentic,
}

/// Incremental SHA-256.
pub trait Sha256State {
    /// Absorbs bytes.
    fn update(&mut self, data: &[u8]);
    /// Returns the digest.
    fn finish(self) -> [u8; 32];
}

/// The crypto engine: hashing, MAC, P-256 and randomness.
pub trait CryptoEngine {
    /// Incremental hasher type.
    type Hasher: Sha256State;

    /// Starts an incremental SHA-256.
    fn sha256_start(&self) -> Self::Hasher;

    /// SHA-256 over the concatenation of `parts`.
    fn sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = self.sha256_start();
        for p in parts {
            h.update(p);
        }
        h.finish()
    }

    /// HMAC-SHA-256 over the concatenation of `parts`.
    fn hmac_sha256(&self, key: &[u8], parts: &[&[u8]]) -> [u8; 32];

    /// Fills `out` from the true random source.
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError>;

    /// Generates a P-256 key pair on the card.
    fn p256_generate(&mut self) -> Result<(SecretKey, PublicKey), CryptoError>;

    /// The engine's raw ECDSA: signs a SHA-256 digest (hedged: RFC 6979 with
    /// fresh randomness) and returns r‖s with either s. Callers use
    /// [`Self::p256_sign_digest`], which applies the low-S rule.
    fn p256_ecdsa_sign(&mut self, key: &SecretKey, digest: &[u8; 32]) -> Result<[u8; 64], CryptoError>;

    /// The engine's raw ECDSA check of r‖s over a SHA-256 digest, either s.
    /// Callers use [`Self::p256_verify_digest`], which applies the low-S rule.
    fn p256_ecdsa_verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool;

    /// Signs a SHA-256 digest; returns raw r‖s in low-S form
    /// ([`apdu_specs::p256_signature`]), so no signed output has a twin.
    fn p256_sign_digest(&mut self, key: &SecretKey, digest: &[u8; 32]) -> Result<[u8; 64], CryptoError> {
        self.p256_ecdsa_sign(key, digest).map(|s| p256_signature::to_low_s(&s))
    }

    /// Verifies raw r‖s over a SHA-256 digest; a high-S signature is refused.
    fn p256_verify_digest(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        p256_signature::is_low_s(signature) && self.p256_ecdsa_verify(key, digest, signature)
    }

    /// Checks that `key` is a valid uncompressed point on P-256.
    fn p256_valid_public(&self, key: &[u8]) -> bool;

    /// P-256 Diffie-Hellman: the x-coordinate of `key · peer`.
    fn p256_ecdh(&self, key: &SecretKey, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError>;

    /// AES-256-GCM encryption; returns ciphertext ‖ 16-byte tag.
    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// AES-256-GCM decryption of ciphertext ‖ tag; fails when it does not authenticate.
    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// Adapts any crypto engine to the verifier interface of `apdu-specs`
/// (certificates, postmarks, CRLs): the card, the host and the authority all
/// verify through it, under the low-S rule of [`CryptoEngine::p256_verify_digest`].
pub struct EngineCheck<'a, C>(pub &'a C);

impl<C: CryptoEngine> apdu_specs::x509::SignatureCheck for EngineCheck<'_, C> {
    fn sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.0.sha256(parts)
    }

    fn verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        self.0.p256_verify_digest(key, digest, signature)
    }
}

/// Identifier of a persistent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub u16);

/// Why the store could not read or commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The medium failed (I/O error, power cut in a fault test).
    #[error("store I/O failure")]
    Io,
    /// The store is full.
    #[error("store full")]
    Full,
    /// Stored data failed its integrity check.
    #[error("store corrupted")]
    Corrupt,
}

/// A set of record writes committed atomically.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteSet {
    writes: Vec<(RecordId, Vec<u8>)>,
}

impl WriteSet {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a record write.
    pub fn put(&mut self, id: RecordId, value: Vec<u8>) {
        if let Some(slot) = self.writes.iter_mut().find(|(i, _)| *i == id) {
            slot.1 = value;
        } else {
            self.writes.push((id, value));
        }
    }

    /// The writes in order.
    pub fn writes(&self) -> &[(RecordId, Vec<u8>)] {
        &self.writes
    }

    /// True when nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

impl Drop for WriteSet {
    /// Records may hold key material: wipe them once committed or dropped.
    fn drop(&mut self) {
        for (_, value) in self.writes.iter_mut() {
            value.zeroize();
        }
    }
}

/// The transactional persistent store. `commit` is all-or-nothing: after a
/// power cut at any point the store holds either every write of the set or
/// none, and `Ok` means the writes are durable.
pub trait Store {
    /// Reads a committed record.
    fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError>;
    /// Atomically and durably applies every write of `set`.
    fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError>;
    /// Removes every overwritten or deleted value from the medium, so that
    /// only the committed state remains (after tamper, no old key or PIN
    /// byte may survive). Atomic like `commit`; a store that keeps no
    /// history has nothing to do.
    fn discard_history(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Everything the applet needs from its device.
pub trait Platform {
    /// Crypto engine.
    type Crypto: CryptoEngine;
    /// Persistent store.
    type Store: Store;

    /// The crypto engine.
    fn crypto(&mut self) -> &mut Self::Crypto;
    /// The persistent store.
    fn store(&mut self) -> &mut Self::Store;
    /// Current time from the platform clock, Unix seconds (`None` if unavailable).
    fn now(&self) -> Option<u64>;
}
