//! PKCS#10 certification requests (RFC 2986) for P-256 keys: the card builds
//! the request info and signs it with the slot key (proof of possession);
//! the authority parses and checks it. The requested usage travels as the
//! standard extensionRequest attribute carrying the profile's extensions.

use crate::codec::FormatError;
use crate::der::{self, Der, tag};
use crate::oid;
use crate::x509::{self, Extensions, Usage};
use alloc::vec::Vec;

/// The CertificationRequestInfo encoding for `subject`, `public_key` and `usage`.
pub fn request_info(subject: &[u8], public_key: &[u8], usage: Usage) -> Vec<u8> {
    let exts = x509::profile_extensions(x509::Profile::Slot(usage));
    let exts = der::seq(&exts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let attribute = der::seq(&[&der::oid(oid::EXTENSION_REQUEST), &der::set_of(alloc::vec![exts])]);
    der::seq(&[&der::small_unsigned(0), subject, &x509::spki(public_key), &der::tlv(tag::explicit(0), &attribute)])
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The CertificationRequestInfo encoding: what the key signed.
    pub info: &'a [u8],
    /// Subject Name encoding.
    pub subject: &'a [u8],
    /// Public key, uncompressed SEC1.
    pub public_key: &'a [u8],
    /// Requested extensions.
    pub requested: Extensions,
    /// Signature, raw r‖s.
    pub signature: [u8; 64],
}

impl<'a> Request<'a> {
    /// Parses a DER PKCS#10 request.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let mut outer = Der::new(bytes);
        let mut csr = outer.nested(tag::SEQUENCE, "certification request")?;
        outer.finish()?;
        let info_obj = csr.object(tag::SEQUENCE, "request info")?;
        let mut alg = csr.nested(tag::SEQUENCE, "signature algorithm")?;
        if alg.oid("signature algorithm")? != oid::ECDSA_WITH_SHA256 {
            return Err(FormatError::Invalid("signature algorithm"));
        }
        alg.finish()?;
        let signature = x509::ecdsa_raw_from_der(csr.bits("signature")?)?;
        csr.finish()?;

        let mut info = Der::new(info_obj.content);
        if info.small_unsigned("request version")? != 0 {
            return Err(FormatError::Invalid("request version"));
        }
        let subject = x509::read_name(&mut info)?;
        let public_key = x509::read_spki(&mut info)?;
        let mut attrs = info.nested(tag::explicit(0), "attributes")?;
        info.finish()?;
        let mut requested = Extensions::default();
        while !attrs.is_empty() {
            let mut attr = attrs.nested(tag::SEQUENCE, "attribute")?;
            let id = attr.oid("attribute type")?;
            let mut values = attr.nested(tag::SET, "attribute values")?;
            attr.finish()?;
            if id == oid::EXTENSION_REQUEST {
                let exts = values.object(tag::SEQUENCE, "requested extensions")?;
                requested = x509::parse_extensions(exts.whole)?;
                values.finish()?;
            }
        }
        Ok(Self { info: info_obj.whole, subject, public_key, requested, signature })
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
        let subject = x509::name(&[(oid::COMMON_NAME, "postmark signer")]);
        for usage in Usage::ALL {
            let info = request_info(&subject, &point, usage);
            let der = x509::signed_object(&info, &[3; 64]);
            let r = Request::parse(&der).unwrap();
            assert_eq!(r.info, &info[..]);
            assert_eq!(r.subject, &subject[..]);
            assert_eq!(r.usage(), Some(usage));
            assert!(Request::parse(&der[..der.len() - 3]).is_err());
        }
    }
}
