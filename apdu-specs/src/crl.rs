//! X.509 v2 certificate revocation lists (RFC 5280 §5) signed with
//! ECDSA-with-SHA-256: built by the authority, parsed and checked by hosts.

use crate::codec::FormatError;
use crate::der::{self, Der, tag};
use crate::oid;
use crate::x509::{self, SignatureCheck};
use alloc::vec::Vec;

/// ENUMERATED tag (CRL reason codes).
const ENUMERATED: u8 = 0x0A;

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

fn extension(id: &[u8], value: &[u8]) -> Vec<u8> {
    der::seq(&[&der::oid(id), &der::octets(value)])
}

impl CrlContent {
    /// The TBSCertList encoding to be signed.
    pub fn tbs(&self) -> Vec<u8> {
        let entries: Vec<Vec<u8>> = self
            .revoked
            .iter()
            .map(|r| {
                let reason = extension(oid::CRL_REASON, &der::tlv(ENUMERATED, &[r.reason]));
                der::seq(&[&der::unsigned(&r.serial), &der::x509_time(r.time), &der::seq(&[&reason])])
            })
            .collect();
        let aki = der::tlv(tag::SEQUENCE, &der::tlv(tag::implicit(0), &self.authority_key_id));
        let exts = der::seq(&[
            &extension(oid::AUTHORITY_KEY_ID, &aki),
            &extension(oid::CRL_NUMBER, &der::small_unsigned(self.number)),
        ]);
        let mut parts: Vec<Vec<u8>> = alloc::vec![
            der::small_unsigned(1),
            x509::ecdsa_sha256_algorithm(),
            self.issuer.clone(),
            der::x509_time(self.this_update),
            der::x509_time(self.next_update),
        ];
        if !entries.is_empty() {
            parts.push(der::seq(&entries.iter().map(Vec::as_slice).collect::<Vec<_>>()));
        }
        parts.push(der::tlv(tag::explicit(0), &exts));
        der::seq(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }
}

/// The CRL extensions PCMeter understands (a critical one outside these is refused).
const CRL_EXTENSIONS_UNDERSTOOD: [&[u8]; 2] = [oid::CRL_NUMBER, oid::AUTHORITY_KEY_ID];

/// Parses a DER CRL and checks its signature under `issuer_key`. Refuses
/// unknown critical CRL and CRL-entry extensions, and duplicates (RFC 5280
/// §5.2, §5.3). Freshness is the caller's: see [`CrlContent::current_at`].
pub fn parse_verified(
    bytes: &[u8],
    issuer_key: &[u8],
    crypto: &impl SignatureCheck,
) -> Result<CrlContent, FormatError> {
    let mut outer = Der::new(bytes);
    let mut list = outer.nested(tag::SEQUENCE, "CRL")?;
    outer.finish()?;
    let tbs_obj = list.object(tag::SEQUENCE, "TBSCertList")?;
    let mut alg = list.nested(tag::SEQUENCE, "signature algorithm")?;
    if alg.oid("signature algorithm")? != oid::ECDSA_WITH_SHA256 {
        return Err(FormatError::Invalid("signature algorithm"));
    }
    let signature = x509::ecdsa_raw_from_der(list.bits("signature")?)?;
    list.finish()?;
    if !crypto.verify(issuer_key, &crypto.sha256(&[tbs_obj.whole]), &signature) {
        return Err(FormatError::Invalid("CRL signature"));
    }
    let mut tbs = Der::new(tbs_obj.content);
    if tbs.small_unsigned("CRL version")? != 1 {
        return Err(FormatError::Invalid("CRL version"));
    }
    tbs.expect(tag::SEQUENCE, "signature algorithm")?;
    let issuer = x509::read_name(&mut tbs)?.to_vec();
    let this_update = tbs.time("thisUpdate")?;
    let next_update = tbs.time("nextUpdate")?;
    let mut revoked = Vec::new();
    if let Some(entries) = tbs.optional(tag::SEQUENCE)? {
        let mut entries = Der::new(entries.content);
        while !entries.is_empty() {
            let mut e = entries.nested(tag::SEQUENCE, "CRL entry")?;
            let serial = e.unsigned("revoked serial")?.to_vec();
            let time = e.time("revocation date")?;
            let mut reason = 0;
            if let Some(exts) = e.optional(tag::SEQUENCE)? {
                for x in x509::read_extensions(exts.content, &[oid::CRL_REASON])? {
                    if x.id == oid::CRL_REASON
                        && let [r] = Der::new(x.value).expect(ENUMERATED, "reason")?
                    {
                        reason = *r;
                    }
                }
            }
            e.finish()?;
            revoked.push(Revoked { serial, time, reason });
        }
    }
    let mut number = 0;
    let mut authority_key_id = Vec::new();
    if let Some(exts) = tbs.optional(tag::explicit(0))? {
        let mut outer = Der::new(exts.content);
        let list = outer.expect(tag::SEQUENCE, "CRL extensions")?;
        outer.finish()?;
        for x in x509::read_extensions(list, &CRL_EXTENSIONS_UNDERSTOOD)? {
            match x.id {
                oid::CRL_NUMBER => number = Der::new(x.value).small_unsigned("CRL number")?,
                oid::AUTHORITY_KEY_ID => {
                    let mut aki = Der::new(x.value).nested(tag::SEQUENCE, "authority key id")?;
                    if let Some(k) = aki.optional(tag::implicit(0))? {
                        authority_key_id = k.content.to_vec();
                    }
                }
                _ => {}
            }
        }
    }
    tbs.finish()?;
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
