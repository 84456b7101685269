//! TimeStampReq (RFC 3161 §2.4.1), parsed strictly into what the meter
//! stamps, or refused with the failure bit the RFC names.
//!
//! The query must be the one DER encoding of a version 1 request (an
//! explicitly encoded `certReq FALSE` or trailing bytes are `badDataFormat`).
//! Then: SHA-256 only (`badAlg`), a 32-byte imprint (`badDataFormat`), no
//! policy or the meter's postmark policy (`unacceptedPolicy`), no extensions
//! (`unacceptedExtension`), a nonce of at most 32 octets (`badRequest`).

use super::reply::{Failure, Refusal};
use apdu_specs::asn1;
use apdu_specs::oid;
use apdu_specs::postmark::{MAX_NONCE_LEN, Nonce};
use apdu_specs::x509_cert::spki::AlgorithmIdentifierOwned;
use der::asn1::{AnyRef, IntRef, OctetStringRef};
use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Tagged, Writer};

/// What the meter is asked to stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The SHA-256 message imprint.
    pub digest: [u8; 32],
    /// The requester's nonce, echoed in TSTInfo.
    pub nonce: Option<Nonce>,
    /// `certReq`: carry the signer certificate in the token.
    pub cert_req: bool,
}

/// An OBJECT IDENTIFIER kept as its contents octets: PCMeter's policy arc is
/// beyond the 32-bit arcs `const-oid` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawOid<'a>(&'a [u8]);

impl FixedTag for RawOid<'_> {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl<'a> DecodeValue<'a> for RawOid<'a> {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        Ok(Self(reader.read_slice(header.length())?))
    }
}

impl EncodeValue for RawOid<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0)
    }
}

/// MessageImprint.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: &'a OctetStringRef,
}

/// Extension, read only to be refused.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct Extension<'a> {
    extn_id: AnyRef<'a>,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: &'a OctetStringRef,
}

/// TimeStampReq.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct TimeStampReq<'a> {
    version: u8,
    message_imprint: MessageImprint<'a>,
    #[asn1(optional = "true")]
    req_policy: Option<RawOid<'a>>,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Vec<Extension<'a>>>,
}

/// Parses a DER TimeStampReq and checks it against what the meter signs.
pub fn parse(bytes: &[u8]) -> Result<Query, Refusal> {
    let req: TimeStampReq<'_> = asn1::decode_canonical(bytes, "TimeStampReq")
        .map_err(|e| Refusal::new(Failure::BadDataFormat, format!("not a DER TimeStampReq: {e}")))?;
    if req.version != 1 {
        return Err(Refusal::new(Failure::BadDataFormat, format!("TimeStampReq version {} (only 1)", req.version)));
    }
    let algorithm = &req.message_imprint.hash_algorithm;
    let null_or_absent = algorithm.parameters.as_ref().is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty());
    if algorithm.oid != oid::SHA256 || !null_or_absent {
        return Err(Refusal::new(
            Failure::BadAlg,
            format!("hash algorithm {} is not supported: only SHA-256 imprints are signed", algorithm.oid),
        ));
    }
    let digest = req
        .message_imprint
        .hashed_message
        .as_bytes()
        .try_into()
        .map_err(|_| Refusal::new(Failure::BadDataFormat, "a SHA-256 imprint must be 32 bytes".to_owned()))?;
    if req.req_policy.is_some_and(|policy| policy.0 != oid::POSTMARK_POLICY) {
        return Err(Refusal::new(Failure::UnacceptedPolicy, "the meter stamps under its postmark policy only"));
    }
    if req.extensions.is_some() {
        return Err(Refusal::new(Failure::UnacceptedExtension, "the meter supports no request extensions"));
    }
    let nonce =
        req.nonce.map(|n| Nonce::new(n.as_bytes())).transpose().map_err(|_| {
            Refusal::new(Failure::BadRequest, format!("the nonce must be at most {MAX_NONCE_LEN} octets"))
        })?;
    Ok(Query { digest, nonce, cert_req: req.cert_req })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TimeStampReq: version, SHA-256 imprint of `digest`, then `tail` (policy, nonce, certReq …).
    fn request(version: u8, algorithm: &[u8], digest: &[u8], tail: &[u8]) -> Vec<u8> {
        let imprint = [algorithm, &[0x04, digest.len() as u8], digest].concat();
        let imprint = [&[0x30, imprint.len() as u8][..], &imprint].concat();
        let body = [&[0x02, 0x01, version][..], &imprint, tail].concat();
        [&[0x30, body.len() as u8][..], &body].concat()
    }

    const SHA256: &[u8] = &[0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00];
    const SHA256_NO_NULL: &[u8] = &[0x30, 0x0B, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    const SHA512: &[u8] = &[0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00];

    fn failure(bytes: &[u8]) -> Failure {
        parse(bytes).unwrap_err().failure
    }

    #[test]
    fn a_plain_request_with_nonce_and_cert_req_is_read() {
        let q = parse(&request(1, SHA256, &[9; 32], &[0x02, 0x02, 0x00, 0xF0, 0x01, 0x01, 0xFF])).unwrap();
        assert_eq!(q.digest, [9; 32]);
        assert_eq!(q.nonce.unwrap().as_bytes(), &[0x00, 0xF0]);
        assert!(q.cert_req);
        let q = parse(&request(1, SHA256_NO_NULL, &[9; 32], &[])).unwrap();
        assert_eq!((q.nonce, q.cert_req), (None, false));
    }

    #[test]
    fn the_postmark_policy_is_accepted_and_any_other_refused() {
        let ours = [&[0x06, oid::POSTMARK_POLICY.len() as u8][..], oid::POSTMARK_POLICY].concat();
        assert!(parse(&request(1, SHA256, &[1; 32], &ours)).is_ok());
        let other = [0x06, 0x03, 0x2A, 0x03, 0x04];
        assert_eq!(failure(&request(1, SHA256, &[1; 32], &other)), Failure::UnacceptedPolicy);
    }

    #[test]
    fn each_defect_gets_its_failure_bit() {
        assert_eq!(failure(&request(1, SHA512, &[1; 64], &[])), Failure::BadAlg);
        assert_eq!(failure(&request(1, SHA256, &[1; 20], &[])), Failure::BadDataFormat);
        assert_eq!(failure(&request(2, SHA256, &[1; 32], &[])), Failure::BadDataFormat);
        // certReq FALSE written out is not DER.
        assert_eq!(failure(&request(1, SHA256, &[1; 32], &[0x01, 0x01, 0x00])), Failure::BadDataFormat);
        let mut trailing = request(1, SHA256, &[1; 32], &[]);
        trailing.push(0);
        assert_eq!(failure(&trailing), Failure::BadDataFormat);
        assert_eq!(failure(b"not a query"), Failure::BadDataFormat);
        assert_eq!(failure(&[]), Failure::BadDataFormat);
        let extension = [0xA0, 0x0A, 0x30, 0x08, 0x06, 0x03, 0x2A, 0x03, 0x04, 0x04, 0x01, 0x00];
        assert_eq!(failure(&request(1, SHA256, &[1; 32], &extension)), Failure::UnacceptedExtension);
        let long_nonce = [&[0x02, 33, 0x01][..], &[0; 32]].concat();
        assert_eq!(failure(&request(1, SHA256, &[1; 32], &long_nonce)), Failure::BadRequest);
        assert_eq!(failure(&request(1, SHA256, &[1; 32], &[0x02, 0x02, 0x00, 0x01])), Failure::BadDataFormat);
    }
}
