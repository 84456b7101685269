//! TimeStampResp (RFC 3161 §2.4.2): a granted token, or a `PKIStatusInfo`
//! rejection with one failure bit and a human-readable reason.

use apdu_specs::FormatError;
use apdu_specs::asn1;
use der::Sequence;
use der::asn1::{AnyRef, BitStringRef, Utf8StringRef};

/// PKIStatus granted.
const GRANTED: u8 = 0;
/// PKIStatus rejection.
const REJECTION: u8 = 2;

/// Why a query is refused: the `PKIFailureInfo` bit (RFC 3161 §2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Failure {
    /// Unrecognized or unsupported hash algorithm (only SHA-256 is signed).
    BadAlg = 0,
    /// Transaction not permitted or supported (a nonce longer than the card takes).
    BadRequest = 2,
    /// The query is not a well-formed DER TimeStampReq v1.
    BadDataFormat = 5,
    /// The requested TSA policy is not the meter's postmark policy.
    UnacceptedPolicy = 15,
    /// The query carries an extension (the meter supports none).
    UnacceptedExtension = 16,
    /// The meter could not stamp: funds, slot, certificate, clock, card or queue.
    SystemFailure = 25,
}

impl Failure {
    /// The RFC 3161 name.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadAlg => "badAlg",
            Self::BadRequest => "badRequest",
            Self::BadDataFormat => "badDataFormat",
            Self::UnacceptedPolicy => "unacceptedPolicy",
            Self::UnacceptedExtension => "unacceptedExtension",
            Self::SystemFailure => "systemFailure",
        }
    }

    /// The named-bit BIT STRING contents in DER (trailing zero bits removed):
    /// the unused-bit count and the octets.
    fn bits(self) -> (u8, Vec<u8>) {
        let bit = self as usize;
        let mut octets = vec![0u8; bit / 8 + 1];
        if let Some(last) = octets.last_mut() {
            *last = 0x80 >> (bit % 8);
        }
        (7 - (bit % 8) as u8, octets)
    }
}

/// A refused query: the failure bit and the reason sent as `statusString`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({reason})", failure.name())]
pub struct Refusal {
    /// The failure bit.
    pub failure: Failure,
    /// What went wrong, for the requester.
    pub reason: String,
}

impl Refusal {
    /// A refusal for `failure` with `reason`.
    pub fn new(failure: Failure, reason: impl Into<String>) -> Self {
        Self { failure, reason: reason.into() }
    }
}

/// PKIStatusInfo.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct PkiStatusInfo<'a> {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitStringRef<'a>>,
}

/// TimeStampResp.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct TimeStampResp<'a> {
    status: PkiStatusInfo<'a>,
    #[asn1(optional = "true")]
    time_stamp_token: Option<AnyRef<'a>>,
}

/// A granted reply carrying `token` (a DER ContentInfo).
pub fn granted(token: &[u8]) -> Result<Vec<u8>, FormatError> {
    let token = asn1::decode::<AnyRef<'_>>(token, "TimeStampToken")?;
    let reply = TimeStampResp {
        status: PkiStatusInfo { status: GRANTED, status_string: None, fail_info: None },
        time_stamp_token: Some(token),
    };
    asn1::encode(&reply, "TimeStampResp")
}

/// A rejection reply for `refusal`.
pub fn rejection(refusal: &Refusal) -> Result<Vec<u8>, FormatError> {
    let der_error = asn1::der_error("PKIStatusInfo");
    let (unused, octets) = refusal.failure.bits();
    let reply = TimeStampResp {
        status: PkiStatusInfo {
            status: REJECTION,
            status_string: Some(vec![Utf8StringRef::new(&refusal.reason).map_err(&der_error)?]),
            fail_info: Some(BitStringRef::new(unused, &octets).map_err(&der_error)?),
        },
        time_stamp_token: None,
    };
    asn1::encode(&reply, "TimeStampResp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_bits_are_der_named_bit_strings() {
        assert_eq!(Failure::BadAlg.bits(), (7, vec![0x80]));
        assert_eq!(Failure::BadDataFormat.bits(), (2, vec![0x04]));
        assert_eq!(Failure::UnacceptedPolicy.bits(), (0, vec![0x00, 0x01]));
        assert_eq!(Failure::UnacceptedExtension.bits(), (7, vec![0x00, 0x00, 0x80]));
        assert_eq!(Failure::SystemFailure.bits(), (6, vec![0x00, 0x00, 0x00, 0x40]));
    }

    #[test]
    fn a_rejection_is_status_two_with_its_reason_and_bit() {
        let der = rejection(&Refusal::new(Failure::BadAlg, "SHA-1")).unwrap();
        let expected = [
            0x30, 0x12, 0x30, 0x10, 0x02, 0x01, 0x02, 0x30, 0x07, 0x0C, 0x05, b'S', b'H', b'A', b'-', b'1', 0x03, 0x02,
            0x07, 0x80,
        ];
        assert_eq!(der, expected);
    }
}
