//! X.509 v2 certificate revocation lists (RFC 5280 §5) signed with
//! ECDSA-with-SHA-256, on RustCrypto `x509-cert`: built by the authority,
//! parsed and checked by hosts.

use crate::asn1;
use crate::codec::FormatError;
use crate::oid;
use crate::x509::{self, SignatureCheck};
use alloc::vec::Vec;
use der::asn1::{AnyRef, OctetString};
use der::{Any, Decode, Tag, Tagged};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::AuthorityKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number magnitude.
    pub serial: Vec<u8>,
    /// Revocation time, Unix seconds.
    pub time: u64,
    /// CRL reason code.
    pub reason: u8,
}

/// What a CRL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlContent {
    /// Issuer Name encoding.
    pub issuer: Vec<u8>,
    /// thisUpdate.
    pub this_update: u64,
    /// nextUpdate.
    pub next_update: u64,
    /// CRL number.
    pub number: u64,
    /// Issuer key identifier.
    pub authority_key_id: Vec<u8>,
    /// Entries.
    pub revoked: Vec<Revoked>,
}

fn extension(id: der::asn1::ObjectIdentifier, value: &impl der::Encode) -> Result<Extension, FormatError> {
    let value = OctetString::new(asn1::encode(value, "CRL extension")?).map_err(asn1::der_error("CRL extension"))?;
    Ok(Extension { extn_id: id, critical: false, extn_value: value })
}

impl CrlContent {
    /// The TBSCertList encoding to be signed.
    pub fn tbs(&self) -> Result<Vec<u8>, FormatError> {
        let der_error = asn1::der_error("CRL");
        let mut entries: Vec<RevokedCert> = Vec::with_capacity(self.revoked.len());
        for r in &self.revoked {
            let reason = Any::new(Tag::Enumerated, [r.reason]).map_err(&der_error)?;
            entries.push(RevokedCert {
                serial_number: SerialNumber::new(&r.serial).map_err(&der_error)?,
                revocation_date: asn1::x509_time(r.time, "revocation date")?,
                crl_entry_extensions: Some(alloc::vec![extension(oid::CRL_REASON, &reason)?]),
            });
        }
        let tbs = TbsCertList {
            version: x509_cert::Version::V2,
            signature: x509::ecdsa_sha256(),
            issuer: Name::from_der(&self.issuer).map_err(&der_error)?,
            this_update: asn1::x509_time(self.this_update, "thisUpdate")?,
            next_update: Some(asn1::x509_time(self.next_update, "nextUpdate")?),
            revoked_certificates: (!entries.is_empty()).then_some(entries),
            crl_extensions: Some(alloc::vec![
                extension(oid::AUTHORITY_KEY_ID, &x509::authority_key_identifier(&self.authority_key_id)?)?,
                extension(oid::CRL_NUMBER, &self.number)?,
            ]),
        };
        asn1::encode(&tbs, "TBSCertList")
    }
}

/// The CRL extensions PCMeter understands (a critical one outside these is refused).
const CRL_EXTENSIONS_UNDERSTOOD: [der::asn1::ObjectIdentifier; 2] = [oid::CRL_NUMBER, oid::AUTHORITY_KEY_ID];

/// The reasonCode of a CRL entry's extensions (0, unspecified, when absent).
fn entry_reason(extensions: &[Extension]) -> Result<u8, FormatError> {
    x509::check_extension_list(extensions, &[oid::CRL_REASON])?;
    let Some(e) = extensions.iter().find(|e| e.extn_id == oid::CRL_REASON) else { return Ok(0) };
    let reason: AnyRef<'_> = asn1::decode_canonical(e.extn_value.as_bytes(), "reason")?;
    if reason.tag() != Tag::Enumerated {
        return Err(FormatError::Invalid("reason"));
    }
    Ok(match reason.value() {
        [code] => *code,
        _ => 0,
    })
}

/// Parses a DER CRL with `x509-cert` and checks its signature under
/// `issuer_key`, then PCMeter's profile: v2, ecdsa-with-SHA256, RFC 5280
/// times with a nextUpdate, and no duplicate or unknown critical CRL or
/// CRL-entry extension (RFC 5280 §5.2, §5.3). Freshness is the caller's: see
/// [`CrlContent::current_at`].
pub fn parse_verified(
    bytes: &[u8],
    issuer_key: &[u8],
    crypto: &impl SignatureCheck,
) -> Result<CrlContent, FormatError> {
    let list: CertificateList = asn1::decode(bytes, "CRL")?;
    x509::check_ecdsa_sha256(&list.signature_algorithm)?;
    let signature = x509::signature_bits(&list.signature)?;
    let tbs_der = x509::first_element(bytes, "CRL")?;
    if !crypto.verify(issuer_key, &crypto.sha256(&[tbs_der]), &signature) {
        return Err(FormatError::Invalid("CRL signature"));
    }
    let tbs = &list.tbs_cert_list;
    if tbs.version != x509_cert::Version::V2 {
        return Err(FormatError::Invalid("CRL version"));
    }
    x509::check_ecdsa_sha256(&tbs.signature)?;
    let issuer = x509::check_name_profile(&tbs.issuer)?;
    let this_update = asn1::unix_seconds(&tbs.this_update, "thisUpdate")?;
    let next_update =
        asn1::unix_seconds(tbs.next_update.as_ref().ok_or(FormatError::Missing("nextUpdate"))?, "nextUpdate")?;
    let mut revoked = Vec::new();
    for entry in tbs.revoked_certificates.iter().flatten() {
        revoked.push(Revoked {
            serial: x509::serial_magnitude(&entry.serial_number)?,
            time: asn1::unix_seconds(&entry.revocation_date, "revocation date")?,
            reason: entry_reason(entry.crl_entry_extensions.as_deref().unwrap_or(&[]))?,
        });
    }
    let extensions = tbs.crl_extensions.as_deref().unwrap_or(&[]);
    x509::check_extension_list(extensions, &CRL_EXTENSIONS_UNDERSTOOD)?;
    let mut number = 0;
    let mut authority_key_id = Vec::new();
    for e in extensions {
        let value = e.extn_value.as_bytes();
        match e.extn_id {
            oid::CRL_NUMBER => number = asn1::decode_canonical(value, "CRL number")?,
            oid::AUTHORITY_KEY_ID => {
                let aki: AuthorityKeyIdentifier = asn1::decode_canonical(value, "authority key id")?;
                authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
            }
            _ => {}
        }
    }
    asn1::check_canonical(&list, bytes, "CRL")?;
    Ok(CrlContent { issuer, this_update, next_update, number, authority_key_id, revoked })
}

/// Why a CRL is not current at a verification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// thisUpdate lies after the verification time.
    NotYetValid {
        /// thisUpdate, Unix seconds.
        this_update: u64,
    },
    /// nextUpdate lies before the verification time.
    Expired {
        /// nextUpdate, Unix seconds.
        next_update: u64,
    },
}

impl CrlContent {
    /// Checks that the CRL is current at `now`: thisUpdate ≤ now ≤ nextUpdate.
    pub fn current_at(&self, now: u64) -> Result<(), Staleness> {
        if self.this_update > now {
            Err(Staleness::NotYetValid { this_update: self.this_update })
        } else if self.next_update < now {
            Err(Staleness::Expired { next_update: self.next_update })
        } else {
            Ok(())
        }
    }

    /// True when the CRL lists `serial`.
    pub fn lists(&self, serial: &[u8]) -> bool {
        self.revoked.iter().any(|r| r.serial == serial)
    }
}
