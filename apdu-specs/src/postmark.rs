//! Cryptographic postmarks as RFC 3161 TimeStampTokens.
//!
//! The card builds the DER of the TSTInfo and of the signed attributes
//! (contentType, messageDigest, signingCertificateV2) and signs the
//! attributes with the postmark slot key. The host wraps the three parts and
//! the slot certificate into CMS SignedData ([`wrap_token`]). Validation
//! ([`validate`]) is shared by the card (charged service) and the host.

use crate::codec::FormatError;
use crate::der::{self, Der, tag};
use crate::oid;
use crate::x509::{self, Certificate, SignatureCheck, Usage};
use alloc::vec::Vec;

/// What the card stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Postmark {
    /// SHA-256 of the message.
    pub digest: [u8; 32],
    /// Card time, Unix seconds.
    pub time: u64,
    /// Postmark serial (never repeats on a meter).
    pub serial: u64,
    /// Meter ID.
    pub meter_id: [u8; 12],
}

fn sha256_algorithm() -> Vec<u8> {
    der::seq(&[&der::oid(oid::SHA256), &der::tlv(tag::NULL, &[])])
}

/// Reads an AlgorithmIdentifier that must be SHA-256 (parameters absent or NULL).
fn read_sha256_algorithm(r: &mut Der<'_>, what: &'static str) -> Result<(), FormatError> {
    let mut alg = r.nested(tag::SEQUENCE, what)?;
    if alg.oid(what)? != oid::SHA256 {
        return Err(FormatError::Invalid(what));
    }
    if alg.optional(tag::NULL)?.is_some_and(|null| !null.content.is_empty()) {
        return Err(FormatError::Invalid(what));
    }
    alg.finish()
}

impl Postmark {
    /// The TSTInfo encoding. `tsa_name` is the signer certificate's subject
    /// (verifiers match the two); the meter ID travels in a non-critical
    /// extension under PCMeter's arc.
    pub fn tst_info(&self, tsa_name: &[u8]) -> Vec<u8> {
        let imprint = der::seq(&[&sha256_algorithm(), &der::octets(&self.digest)]);
        let accuracy = der::seq(&[&der::small_unsigned(1)]);
        let tsa = der::tlv(tag::explicit(0), &der::tlv(tag::explicit(4), tsa_name));
        let meter = der::seq(&[&der::oid(oid::METER_ID_EXTENSION), &der::octets(&der::octets(&self.meter_id))]);
        let extensions = der::tlv(tag::explicit(1), &meter);
        der::seq(&[
            &der::small_unsigned(1),
            &der::oid(oid::POSTMARK_POLICY),
            &imprint,
            &der::small_unsigned(self.serial),
            &der::generalized_time(self.time),
            &accuracy,
            &tsa,
            &extensions,
        ])
    }
}

fn attribute(id: &[u8], value: &[u8]) -> Vec<u8> {
    der::seq(&[&der::oid(id), &der::set_of(alloc::vec![value.to_vec()])])
}

/// The signed attributes, SET-tagged as they are signed (RFC 5652 §5.4):
/// contentType id-ct-TSTInfo, messageDigest of the TSTInfo, and
/// signingCertificateV2 with the SHA-256 of the signer certificate.
pub fn signed_attributes(tst_info_digest: &[u8; 32], certificate_digest: &[u8; 32]) -> Vec<u8> {
    let ess_cert_id = der::seq(&[&der::octets(certificate_digest)]);
    let signing_certificate = der::seq(&[&der::seq(&[&ess_cert_id])]);
    der::set_of(alloc::vec![
        attribute(oid::CONTENT_TYPE, &der::oid(oid::TST_INFO)),
        attribute(oid::MESSAGE_DIGEST, &der::octets(tst_info_digest)),
        attribute(oid::SIGNING_CERTIFICATE_V2, &signing_certificate),
    ])
}

/// The card's POSTMARK response: TSTInfo ‖ signed attributes ‖ OCTET STRING (raw r‖s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedParts<'a> {
    /// TSTInfo encoding.
    pub tst_info: &'a [u8],
    /// Signed attributes, SET-tagged.
    pub signed_attributes: &'a [u8],
    /// Raw r‖s over SHA-256 of `signed_attributes`.
    pub signature: [u8; 64],
}

impl<'a> SignedParts<'a> {
    /// Encodes the response.
    pub fn encode(tst_info: &[u8], signed_attributes: &[u8], signature: &[u8; 64]) -> Vec<u8> {
        [tst_info, signed_attributes, &der::octets(signature)].concat()
    }

    /// Parses the response.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let mut r = Der::new(bytes);
        let tst_info = r.object(tag::SEQUENCE, "TSTInfo")?.whole;
        let signed_attributes = r.object(tag::SET, "signed attributes")?.whole;
        let signature = r.octets("signature")?.try_into().map_err(|_| FormatError::Invalid("signature"))?;
        r.finish()?;
        Ok(Self { tst_info, signed_attributes, signature })
    }
}

/// Wraps the card's parts and the signer certificate into an RFC 3161
/// TimeStampToken (CMS ContentInfo with SignedData).
pub fn wrap_token(parts: &SignedParts<'_>, certificate: &[u8]) -> Result<Vec<u8>, FormatError> {
    let cert = Certificate::parse(certificate)?;
    let implicit_attrs = {
        let mut a = parts.signed_attributes.to_vec();
        if let Some(first) = a.first_mut() {
            *first = tag::explicit(0);
        }
        a
    };
    let sid = der::seq(&[cert.issuer, &der::unsigned(cert.serial)]);
    let signer_info = der::seq(&[
        &der::small_unsigned(1),
        &sid,
        &sha256_algorithm(),
        &implicit_attrs,
        &x509::ecdsa_sha256_algorithm(),
        &der::octets(&x509::ecdsa_der_from_raw(&parts.signature)),
    ]);
    let encap = der::seq(&[&der::oid(oid::TST_INFO), &der::tlv(tag::explicit(0), &der::octets(parts.tst_info))]);
    let signed_data = der::seq(&[
        &der::small_unsigned(3),
        &der::set_of(alloc::vec![sha256_algorithm()]),
        &encap,
        &der::tlv(tag::explicit(0), certificate),
        &der::set_of(alloc::vec![signer_info]),
    ]);
    Ok(der::seq(&[&der::oid(oid::SIGNED_DATA), &der::tlv(tag::explicit(0), &signed_data)]))
}

/// The fields of a TSTInfo a verifier needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TstInfo {
    /// The message imprint (SHA-256).
    pub digest: [u8; 32],
    /// Serial number (PCMeter serials fit 64 bits).
    pub serial: u64,
    /// genTime, Unix seconds.
    pub time: u64,
}

impl TstInfo {
    /// Parses a TSTInfo encoding; the policy must be PCMeter's postmark policy.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut outer = Der::new(bytes);
        let mut t = outer.nested(tag::SEQUENCE, "TSTInfo")?;
        outer.finish()?;
        if t.small_unsigned("TSTInfo version")? != 1 {
            return Err(FormatError::Invalid("TSTInfo version"));
        }
        if t.oid("policy")? != oid::POSTMARK_POLICY {
            return Err(FormatError::Invalid("policy"));
        }
        let mut imprint = t.nested(tag::SEQUENCE, "message imprint")?;
        read_sha256_algorithm(&mut imprint, "imprint algorithm")?;
        let digest = imprint.octets("imprint")?.try_into().map_err(|_| FormatError::Invalid("imprint"))?;
        imprint.finish()?;
        let serial = t.small_unsigned("TSTInfo serial")?;
        let time = t.generalized_time("genTime")?;
        Ok(Self { digest, serial, time })
    }
}

/// A parsed TimeStampToken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    /// The TSTInfo encoding.
    pub tst_info: &'a [u8],
    /// Its fields.
    pub info: TstInfo,
    /// The first certificate carried (the signer's).
    pub certificate: &'a [u8],
    /// Signed attributes as carried (`[0]`-tagged).
    pub signed_attributes: &'a [u8],
    /// messageDigest attribute value.
    pub message_digest: [u8; 32],
    /// signingCertificateV2 certificate hash.
    pub certificate_digest: [u8; 32],
    /// Signature, raw r‖s.
    pub signature: [u8; 64],
}

fn read_attributes(content: &[u8]) -> Result<([u8; 32], [u8; 32]), FormatError> {
    let mut attrs = Der::new(content);
    let (mut content_type, mut message_digest, mut cert_digest) = (false, None, None);
    let mut seen: Vec<&[u8]> = Vec::new();
    while !attrs.is_empty() {
        let mut a = attrs.nested(tag::SEQUENCE, "attribute")?;
        let id = a.oid("attribute type")?;
        // RFC 5652 §5.3: an attribute type appears once among the signed attributes.
        if seen.contains(&id) {
            return Err(FormatError::Invalid("duplicate signed attribute"));
        }
        seen.push(id);
        let mut values = a.nested(tag::SET, "attribute values")?;
        a.finish()?;
        match id {
            oid::CONTENT_TYPE => content_type = values.oid("content type")? == oid::TST_INFO,
            oid::MESSAGE_DIGEST => message_digest = values.octets("message digest")?.try_into().ok(),
            oid::SIGNING_CERTIFICATE_V2 => {
                let mut sc = values.nested(tag::SEQUENCE, "signing certificate")?;
                let mut certs = sc.nested(tag::SEQUENCE, "ESS certificate ids")?;
                let mut id = certs.nested(tag::SEQUENCE, "ESS certificate id")?;
                if let Some(alg) = id.optional(tag::SEQUENCE)?
                    && Der::new(alg.content).oid("ESS hash algorithm")? != oid::SHA256
                {
                    return Err(FormatError::Invalid("ESS hash algorithm"));
                }
                cert_digest = id.octets("certificate hash")?.try_into().ok();
            }
            _ => continue,
        }
        values.finish()?;
    }
    match (content_type, message_digest, cert_digest) {
        (true, Some(m), Some(c)) => Ok((m, c)),
        _ => Err(FormatError::Missing("signed attribute")),
    }
}

impl<'a> Token<'a> {
    /// Parses a TimeStampToken (ContentInfo / SignedData with one signer),
    /// strictly: digestAlgorithms and the SignerInfo both exactly SHA-256, the
    /// signer identifier naming the certificate carried, PCMeter's policy,
    /// each signed attribute type once.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let mut outer = Der::new(bytes);
        let mut ci = outer.nested(tag::SEQUENCE, "content info")?;
        outer.finish()?;
        if ci.oid("content type")? != oid::SIGNED_DATA {
            return Err(FormatError::Invalid("content type"));
        }
        let mut explicit = ci.nested(tag::explicit(0), "signed data")?;
        ci.finish()?;
        let mut sd = explicit.nested(tag::SEQUENCE, "signed data")?;
        explicit.finish()?;
        sd.small_unsigned("signed data version")?;
        // digestAlgorithms: exactly SHA-256, the one the SignerInfo must name too.
        let mut digest_algorithms = sd.nested(tag::SET, "digest algorithms")?;
        read_sha256_algorithm(&mut digest_algorithms, "digest algorithms")?;
        digest_algorithms.finish()?;
        let mut encap = sd.nested(tag::SEQUENCE, "encapsulated content")?;
        if encap.oid("encapsulated content type")? != oid::TST_INFO {
            return Err(FormatError::Invalid("encapsulated content type"));
        }
        let tst_info = encap.nested(tag::explicit(0), "TSTInfo")?.octets("TSTInfo")?;
        encap.finish()?;
        let mut certs = sd.nested(tag::explicit(0), "certificates")?;
        let certificate = certs.object(tag::SEQUENCE, "certificate")?.whole;
        sd.optional(tag::explicit(1))?;
        let mut infos = sd.nested(tag::SET, "signer infos")?;
        sd.finish()?;
        let mut si = infos.nested(tag::SEQUENCE, "signer info")?;
        infos.finish()?;
        // Version 1: the signer is named by issuer and serial, which must be the certificate's.
        if si.small_unsigned("signer info version")? != 1 {
            return Err(FormatError::Invalid("signer info version"));
        }
        let signer = Certificate::parse(certificate)?;
        let mut sid = si.nested(tag::SEQUENCE, "signer identifier")?;
        let (issuer, serial) = (x509::read_name(&mut sid)?, sid.unsigned("signer serial")?);
        sid.finish()?;
        if issuer != signer.issuer || serial != signer.serial {
            return Err(FormatError::Invalid("signer identifier"));
        }
        read_sha256_algorithm(&mut si, "digest algorithm")?;
        let attrs = si.object(tag::explicit(0), "signed attributes")?;
        let mut alg = si.nested(tag::SEQUENCE, "signature algorithm")?;
        if alg.oid("signature algorithm")? != oid::ECDSA_WITH_SHA256 {
            return Err(FormatError::Invalid("signature algorithm"));
        }
        let signature = x509::ecdsa_raw_from_der(si.octets("signature")?)?;
        si.optional(tag::explicit(1))?;
        si.finish()?;
        let (message_digest, certificate_digest) = read_attributes(attrs.content)?;
        Ok(Self {
            tst_info,
            info: TstInfo::parse(tst_info)?,
            certificate,
            signed_attributes: attrs.whole,
            message_digest,
            certificate_digest,
            signature,
        })
    }

    /// The signed attributes re-tagged as the SET that was signed.
    pub fn signed_attributes_as_signed(&self) -> Vec<u8> {
        let mut a = self.signed_attributes.to_vec();
        if let Some(first) = a.first_mut() {
            *first = tag::SET;
        }
        a
    }
}

/// The outcome of a postmark validation (Fig. 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verdict {
    /// Certificate, signature and digest all check.
    Valid = 0,
    /// The signer certificate is not from the CA, not valid at the postmark time, or not a postmark certificate.
    CertificateInvalid = 1,
    /// The signature or the signed attributes do not check.
    SignatureInvalid = 2,
    /// The postmark is genuine but stamps another message.
    DigestMismatch = 3,
    /// The signer certificate is on the CA's revocation list (off-card only).
    Revoked = 4,
}

impl Verdict {
    /// Decodes a verdict byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        use Verdict::*;
        [Valid, CertificateInvalid, SignatureInvalid, DigestMismatch, Revoked]
            .into_iter()
            .find(|v| *v as u8 == b)
            .ok_or(FormatError::Invalid("verdict"))
    }
}

/// Validates a parsed token for a message digest under the CA key: the
/// certificate first, then the signature and attributes, then the digest.
pub fn validate(token: &Token<'_>, message_digest: &[u8; 32], ca_key: &[u8], crypto: &impl SignatureCheck) -> Verdict {
    let Ok(cert) = Certificate::parse(token.certificate) else { return Verdict::CertificateInvalid };
    if cert.check(ca_key, token.info.time, crypto).is_err() || !Usage::Postmark.allowed_by(&cert.extensions) {
        return Verdict::CertificateInvalid;
    }
    let attrs = token.signed_attributes_as_signed();
    let signed_ok = crypto.verify(cert.public_key, &crypto.sha256(&[&attrs]), &token.signature)
        && crypto.sha256(&[token.tst_info]) == token.message_digest
        && crypto.sha256(&[token.certificate]) == token.certificate_digest;
    if !signed_ok {
        return Verdict::SignatureInvalid;
    }
    if token.info.digest != *message_digest {
        return Verdict::DigestMismatch;
    }
    Verdict::Valid
}
