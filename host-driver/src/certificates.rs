//! Certificate services around the typed API: the off-card postmark
//! verifier with CRL (Fig. 4), the off-card certificate path check, and the
//! ECIES helpers a receiver or a sender uses. Getting a slot certified is an
//! authority operation (`authority::certify`).

use crate::ecies::{self, EciesError, HostKeyPair};
use crate::meter::AgentIssued;
use crate::signature::P256Verifier;
use apdu_specs::FormatError;
use apdu_specs::crl;
use apdu_specs::path::{self, PathFault};
use apdu_specs::postmark::{self, Token, Verdict};
use apdu_specs::x509::Certificate;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A CA-signed CRL to consult, and the time the verification is made at.
#[derive(Debug, Clone, Copy)]
pub struct CrlAt<'a> {
    /// The CRL (DER).
    pub der: &'a [u8],
    /// The verification time, Unix seconds: the CRL must be current then.
    pub now: u64,
}

/// Why a CRL cannot be relied on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    /// Not a well-formed CRL signed by the CA key (or it carries an unknown critical extension).
    #[error("CRL refused: {0}")]
    Malformed(#[from] FormatError),
    /// thisUpdate lies after the verification time.
    #[error("CRL not yet valid: thisUpdate {this_update} is after the verification time {now}")]
    NotYetValid {
        /// thisUpdate, Unix seconds.
        this_update: u64,
        /// The verification time.
        now: u64,
    },
    /// nextUpdate lies before the verification time: a newer CRL should exist.
    #[error("CRL stale: nextUpdate {next_update} is before the verification time {now}")]
    Expired {
        /// nextUpdate, Unix seconds.
        next_update: u64,
        /// The verification time.
        now: u64,
    },
}

/// Why an off-card postmark check reached no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostmarkCheckError {
    /// The token does not parse.
    #[error("malformed postmark token: {0}")]
    Malformed(#[from] FormatError),
    /// The CRL given cannot be relied on.
    #[error(transparent)]
    Crl(#[from] CrlError),
}

/// Parses a CRL, checks its signature under the CA key, and checks that it is
/// current at `crl.now` (thisUpdate ≤ now ≤ nextUpdate).
pub fn verify_crl(crl: CrlAt<'_>, ca_key: &[u8]) -> Result<crl::CrlContent, CrlError> {
    let list = crl::parse_verified(crl.der, ca_key, &P256Verifier)?;
    let now = crl.now;
    list.current_at(now).map_err(|stale| match stale {
        crl::Staleness::NotYetValid { this_update } => CrlError::NotYetValid { this_update, now },
        crl::Staleness::Expired { next_update } => CrlError::Expired { next_update, now },
    })?;
    Ok(list)
}

/// Off-card postmark validation (Fig. 4): the signer certificate against the
/// CA key at the postmark time, then the CRL (when given; it must verify
/// under the CA key and be current at its verification time), then the
/// signature and attributes, then the digest.
pub fn verify_postmark(
    token: &[u8],
    message: &[u8],
    ca_key: &[u8],
    crl: Option<CrlAt<'_>>,
) -> Result<Verdict, PostmarkCheckError> {
    let token = Token::parse(token)?;
    let digest: [u8; 32] = Sha256::digest(message).into();
    let verdict = postmark::validate(&token, &digest, ca_key, &P256Verifier);
    if verdict == Verdict::CertificateInvalid {
        return Ok(verdict);
    }
    if let Some(crl) = crl {
        let list = verify_crl(crl, ca_key)?;
        if list.lists(&Certificate::parse(&token.certificate)?.serial) {
            return Ok(Verdict::Revoked);
        }
    }
    Ok(verdict)
}

/// Why a certificate path is not accepted off the card.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// A certificate does not parse.
    #[error("malformed certificate path: {0}")]
    Malformed(#[from] FormatError),
    /// The path breaks a rule (signature, validity, agent profile, path length, usage below an agent).
    #[error("certificate path refused: {0:?}")]
    Refused(PathFault),
}

/// Off-card certificate check (claims 13, 28), the card's VERIFY CERTIFICATE
/// rules: `certificates` (DER, anchor side first: CA → agent → certificate)
/// must chain to `ca_key`, be valid at `time`, and keep the agent profile
/// (issuers are agent certificates with pathLen 0; an agent issues signature
/// and encryption certificates only).
pub fn verify_certificate_path(certificates: &[&[u8]], ca_key: &[u8], time: u64) -> Result<(), PathError> {
    let parsed = certificates.iter().map(|der| Certificate::parse(der)).collect::<Result<Vec<_>, _>>()?;
    if parsed.is_empty() || parsed.len() > path::MAX_PATH_CERTIFICATES {
        return Err(PathError::Malformed(FormatError::Invalid("certificate path length")));
    }
    path::verify_path(ca_key, &parsed, time, &P256Verifier).map_err(PathError::Refused)
}

/// Encrypts `plaintext` to a slot's public key (for DECRYPT).
pub fn encrypt_to(recipient: &[u8; 65], plaintext: &[u8]) -> Result<Vec<u8>, EciesError> {
    ecies::seal(recipient, &[], plaintext)
}

/// A receiver's delivery key pair (generated on the host).
pub struct DeliveryKey {
    pair: HostKeyPair,
    /// Public key to put in the agent request.
    pub public: [u8; 65],
}

impl DeliveryKey {
    /// A fresh key pair from the OS random source.
    pub fn generate() -> Result<Self, EciesError> {
        let pair = HostKeyPair::generate()?;
        Ok(Self { public: pair.public, pair })
    }

    /// Opens an agent delivery: the receiver's 32-byte private key, bound to its certificate.
    pub fn open(&self, issued: &AgentIssued) -> Result<Zeroizing<Vec<u8>>, EciesError> {
        let aad: [u8; 32] = Sha256::digest(&issued.certificate).into();
        ecies::open(&self.pair, &aad, &issued.encrypted_key)
    }
}
