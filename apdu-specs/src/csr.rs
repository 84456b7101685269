//! PKCS#10 certification requests (RFC 2986) for P-256 keys on RustCrypto
//! `x509-cert`: the card builds the request info and signs it with the slot
//! key (proof of possession); the authority parses and checks it. The
//! requested usage travels as the standard extensionRequest attribute
//! carrying the profile's extensions.

use crate::asn1;
use crate::codec::FormatError;
use crate::oid;
use crate::x509::{self, CertificateProfile, Extensions, P256_POINT_LEN, Usage};
use alloc::vec::Vec;
use der::Decode;
use der::asn1::SetOfVec;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

/// The CertificationRequestInfo encoding for `subject`, `public_key` and `usage`.
pub fn request_info(subject: &[u8], public_key: &[u8], usage: Usage) -> Result<Vec<u8>, FormatError> {
    let der_error = asn1::der_error("request info");
    let extensions = ExtensionReq(x509::profile_extensions(CertificateProfile::Slot(usage))?);
    let attribute = Attribute::try_from(extensions).map_err(&der_error)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::from_der(subject).map_err(&der_error)?,
        public_key: x509::subject_public_key_info(public_key)?,
        attributes: SetOfVec::try_from(alloc::vec![attribute]).map_err(&der_error)?,
    };
    asn1::encode(&info, "request info")
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The CertificationRequestInfo encoding: what the key signed.
    pub info: &'a [u8],
    /// Subject Name encoding.
    pub subject: Vec<u8>,
    /// Public key, uncompressed SEC1.
    pub public_key: [u8; P256_POINT_LEN],
    /// Requested extensions.
    pub requested: Extensions,
    /// Signature, raw r‖s.
    pub signature: [u8; 64],
}

impl<'a> Request<'a> {
    /// Parses a DER PKCS#10 request with `x509-cert`, then checks PCMeter's
    /// profile: ecdsa-with-SHA256, a P-256 key, a name of directory strings,
    /// and an extensionRequest (if any) with exactly one value that passes
    /// the certificate extension rules.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let request: CertReq = asn1::decode(bytes, "certification request")?;
        x509::check_ecdsa_sha256(&request.algorithm)?;
        let signature = x509::signature_bits(&request.signature)?;
        let subject = x509::check_name_profile(&request.info.subject)?;
        let public_key = x509::p256_point(&request.info.public_key)?;
        let mut requested = Extensions::default();
        for attribute in request.info.attributes.iter().filter(|a| a.oid == oid::EXTENSION_REQUEST) {
            let [value] = attribute.values.as_slice() else {
                return Err(FormatError::Invalid("requested extensions"));
            };
            let extensions: ExtensionReq = value.decode_as().map_err(asn1::der_error("requested extensions"))?;
            requested = x509::parse_extensions(&extensions.0)?;
        }
        asn1::check_canonical(&request, bytes, "certification request")?;
        Ok(Self {
            info: x509::first_element(bytes, "certification request")?,
            subject,
            public_key,
            requested,
            signature,
        })
    }

    /// The usage whose profile the request asks for, if exactly one matches.
    pub fn usage(&self) -> Option<Usage> {
        let mut matching = Usage::ALL.into_iter().filter(|u| u.allowed_by(&self.requested));
        match (matching.next(), matching.next()) {
            (Some(u), None) => Some(u),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_request_parses_back_with_its_usage() {
        let mut point = [5u8; 65];
        point[0] = 4;
        let subject = x509::name(&[(oid::COMMON_NAME, "postmark signer")]).unwrap();
        for usage in Usage::ALL {
            let info = request_info(&subject, &point, usage).unwrap();
            let der = x509::signed_object(&info, &[3; 64]).unwrap();
            let r = Request::parse(&der).unwrap();
            assert_eq!(r.info, &info[..]);
            assert_eq!(r.subject, subject);
            assert_eq!(r.usage(), Some(usage));
            assert!(Request::parse(&der[..der.len() - 3]).is_err());
        }
    }
}
