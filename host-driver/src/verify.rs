//! Off-card verifiers: indicia and the audit chain.

use crate::signature::P256Verifier;
use apdu_specs::FormatError;
use apdu_specs::audit::{GENESIS, Head, Record};
use apdu_specs::indicium::{Indicium, IndiciumAlgorithm, IndiciumBody};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why an indicium or log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes do not decode.
    #[error("malformed: {0}")]
    Format(#[from] FormatError),
    /// The key given does not suit the indicium's algorithm.
    #[error("the indicium uses {0:?}, but another kind of key was given")]
    WrongKeyType(IndiciumAlgorithm),
    /// The public key is not a P-256 point.
    #[error("invalid public key")]
    BadKey,
    /// Signature or MAC does not match (a high-S signature never does).
    #[error("authenticator does not verify")]
    BadAuthenticator,
    /// The audit chain is broken at this record.
    #[error("audit chain broken at record {0}")]
    ChainBroken(u32),
}

/// The key that checks an indicium.
#[derive(Clone, Copy)]
pub enum IndiciumKey<'a> {
    /// The meter's postal public key (SEC1 uncompressed).
    Ecdsa(&'a [u8; 65]),
    /// The meter's diversified MAC key (from the authority's master key).
    Mac(&'a [u8; 32]),
}

/// Verifies an indicium and returns its fields.
pub fn verify_indicium(bytes: &[u8], key: IndiciumKey<'_>) -> Result<IndiciumBody, VerifyError> {
    let ind = Indicium::parse(bytes)?;
    match (ind.body.algorithm, key) {
        (IndiciumAlgorithm::EcdsaP256, IndiciumKey::Ecdsa(public)) => {
            // The card's own verify path: the same ECDSA and the same low-S rule.
            if !P256Verifier.valid_public(public) {
                return Err(VerifyError::BadKey);
            }
            let signature: &[u8; 64] = ind.authenticator.try_into().map_err(|_| VerifyError::BadAuthenticator)?;
            if !P256Verifier.verify_digest(public, &Sha256::digest(ind.signed).into(), signature) {
                return Err(VerifyError::BadAuthenticator);
            }
        }
        (IndiciumAlgorithm::HmacSha256, IndiciumKey::Mac(k)) => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(k).map_err(|_| VerifyError::BadKey)?;
            mac.update(ind.signed);
            let full = mac.finalize().into_bytes();
            let expected = full.get(..16).ok_or(VerifyError::BadAuthenticator)?;
            if !bool::from(expected.ct_eq(ind.authenticator)) {
                return Err(VerifyError::BadAuthenticator);
            }
        }
        (alg, _) => return Err(VerifyError::WrongKeyType(alg)),
    }
    Ok(ind.body)
}

/// Hash of an audit record.
pub fn record_hash(r: &Record) -> [u8; 32] {
    Sha256::digest(r.encode()).into()
}

/// Checks that `records` (consecutive, oldest first) chain to `head`. When
/// the first record is record 0 its predecessor must be the genesis hash.
pub fn verify_audit_chain(head: &Head, records: &[Record]) -> Result<(), VerifyError> {
    let mut prev: Option<[u8; 32]> = None;
    for r in records {
        if r.seq == 0 && r.prev_hash != GENESIS {
            return Err(VerifyError::ChainBroken(0));
        }
        if let Some(p) = prev
            && p != r.prev_hash
        {
            return Err(VerifyError::ChainBroken(r.seq));
        }
        prev = Some(record_hash(r));
    }
    let last_ok = match (records.last(), prev) {
        (Some(last), Some(h)) => last.seq.wrapping_add(1) == head.records && h == head.hash,
        _ => head.records == 0 || head.oldest == head.records,
    };
    if last_ok { Ok(()) } else { Err(VerifyError::ChainBroken(head.records)) }
}
