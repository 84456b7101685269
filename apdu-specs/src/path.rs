//! Certificate paths under the CA anchor, as the card (VERIFY CERTIFICATE)
//! and the host check them: `CA → certificate` or `CA → agent → certificate`.
//!
//! Each certificate must be signed by the one above it (the anchor key for
//! the first) and valid at the time of the check. A certificate that issues
//! another must be an agent certificate (cA with pathLen 0 and keyCertSign),
//! every path length constraint is enforced, and a certificate issued by an
//! agent must be a signature or encryption certificate.

use crate::asn1;
use crate::codec::FormatError;
use crate::x509::{Certificate, CertificateFault, SignatureCheck, Usage};
use alloc::vec::Vec;
use der::{Reader, SliceReader};

/// Most certificates a path may hold (longer paths are malformed input).
pub const MAX_PATH_CERTIFICATES: usize = 4;

/// Why a path is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathFault {
    /// A certificate is not signed by the key above it (unknown CA, altered, or names that do not chain).
    NotSignedByIssuer,
    /// A certificate is outside its validity period.
    OutsideValidity,
    /// An issuing certificate is not an agent certificate (cA, pathLen 0, keyCertSign).
    IssuerNotAnAgent,
    /// More certificates below an issuer than its path length constraint allows.
    PathTooLong,
    /// A certificate below an agent is not a signature or encryption certificate.
    UsageNotAllowed,
}

impl From<CertificateFault> for PathFault {
    fn from(f: CertificateFault) -> Self {
        match f {
            CertificateFault::NotSignedByIssuer => Self::NotSignedByIssuer,
            CertificateFault::OutsideValidity => Self::OutsideValidity,
        }
    }
}

/// Splits concatenated DER certificates (anchor side first) and parses each.
pub fn parse_path(bytes: &[u8]) -> Result<Vec<Certificate<'_>>, FormatError> {
    let mut r = SliceReader::new(bytes).map_err(asn1::der_error("certificate path"))?;
    let mut path = Vec::new();
    while !r.is_finished() {
        if path.len() == MAX_PATH_CERTIFICATES {
            return Err(FormatError::TooLarge("certificate path"));
        }
        path.push(Certificate::parse(r.tlv_bytes().map_err(asn1::der_error("certificate path"))?)?);
    }
    if path.is_empty() {
        return Err(FormatError::Missing("certificate"));
    }
    Ok(path)
}

/// Checks the profile rules of `path` (anchor side first), then each
/// signature from the anchor down and each validity at `time`.
pub fn verify_path(
    anchor_key: &[u8],
    path: &[Certificate<'_>],
    time: u64,
    crypto: &impl SignatureCheck,
) -> Result<(), PathFault> {
    check_profiles(path)?;
    let mut issuer_key = anchor_key;
    let mut issuer_name: Option<&[u8]> = None;
    for cert in path {
        if issuer_name.is_some_and(|name| name != cert.issuer.as_slice()) {
            return Err(PathFault::NotSignedByIssuer);
        }
        cert.check(issuer_key, time, crypto)?;
        issuer_key = &cert.public_key;
        issuer_name = Some(&cert.subject);
    }
    Ok(())
}

/// The rules that need no signature: issuers are agents within their path
/// length, and what an agent issued is a signature or encryption certificate.
fn check_profiles(path: &[Certificate<'_>]) -> Result<(), PathFault> {
    let Some((leaf, issuers)) = path.split_last() else { return Err(PathFault::NotSignedByIssuer) };
    for (i, issuer) in issuers.iter().enumerate() {
        let below = issuers.len() - 1 - i;
        match issuer.extensions.ca {
            Some(Some(limit)) if (below as u64) > limit => return Err(PathFault::PathTooLong),
            None => return Err(PathFault::IssuerNotAnAgent),
            _ => {}
        }
        if !Usage::Agent.allowed_by(&issuer.extensions) {
            return Err(PathFault::IssuerNotAnAgent);
        }
    }
    let below_an_agent = !issuers.is_empty();
    if below_an_agent && !Usage::ALL.into_iter().any(|u| u.issuable_by_agent() && u.allowed_by(&leaf.extensions)) {
        return Err(PathFault::UsageNotAllowed);
    }
    Ok(())
}
