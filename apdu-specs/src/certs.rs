//! Messages of the certificate services: key slots, the device-signed
//! certificate request, agent requests, authority orders (CA anchor update,
//! revocation) and the card's revocation confirmation.
//!
//! Authority orders and device messages use the signed envelope of
//! [`crate::signed`], each with its own domain label.

use crate::asn1;
use crate::codec::{FormatError, Reader, Writer};
use crate::tlv;
use crate::x509::{self, Usage};
use alloc::vec::Vec;

/// Number of key slots.
pub const SLOT_COUNT: u8 = 8;

/// Domain of the device-signed certificate request (Fig. 5).
pub const DOMAIN_CERTIFICATE_REQUEST: &[u8] = b"PCMeter certificate request v1";
/// Domain of the authority's CA anchor update.
pub const DOMAIN_CA_ANCHOR: &[u8] = b"PCMeter CA anchor v1";
/// Domain of the authority's revocation order (Fig. 6).
pub const DOMAIN_REVOCATION_ORDER: &[u8] = b"PCMeter revocation order v1";
/// Domain of the card's revocation request (Fig. 6, 602).
pub const DOMAIN_REVOCATION_REQUEST: &[u8] = b"PCMeter revocation request v1";
/// Domain of the card's revocation confirmation.
pub const DOMAIN_REVOCATION_CONFIRMATION: &[u8] = b"PCMeter revocation confirmation v1";

/// Where a slot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SlotState {
    /// No key.
    Empty = 0,
    /// A key pair, no certificate yet.
    Key = 1,
    /// A key pair with its installed certificate.
    Certified = 2,
    /// Revoked: the key is destroyed, the certificate kept for the record.
    Revoked = 3,
}

impl SlotState {
    /// Decodes a state byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        use SlotState::*;
        [Empty, Key, Certified, Revoked].into_iter().find(|s| *s as u8 == b).ok_or(FormatError::Invalid("slot state"))
    }
}

/// READ SLOT response tags.
pub mod slot_tags {
    /// Slot number.
    pub const SLOT: u16 = 0x80;
    /// Slot state.
    pub const STATE: u16 = 0x81;
    /// Usage.
    pub const USAGE: u16 = 0x82;
    /// Public key (uncompressed SEC1).
    pub const PUBLIC_KEY: u16 = 0x86;
    /// Installed certificate (DER).
    pub const CERTIFICATE: u16 = 0x87;
}

/// What READ SLOT returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// Slot number.
    pub slot: u8,
    /// State.
    pub state: SlotState,
    /// Usage fixed at key generation.
    pub usage: Option<Usage>,
    /// Public key.
    pub public_key: Option<[u8; 65]>,
    /// Installed certificate.
    pub certificate: Option<Vec<u8>>,
}

impl SlotInfo {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        tlv::put(&mut out, slot_tags::SLOT, &[self.slot]);
        tlv::put(&mut out, slot_tags::STATE, &[self.state as u8]);
        if let Some(u) = self.usage {
            tlv::put(&mut out, slot_tags::USAGE, &[u as u8]);
        }
        if let Some(k) = &self.public_key {
            tlv::put(&mut out, slot_tags::PUBLIC_KEY, k);
        }
        if let Some(c) = &self.certificate {
            tlv::put(&mut out, slot_tags::CERTIFICATE, c);
        }
        out
    }

    /// Decodes the response.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let items = tlv::parse_unique(bytes)?;
        let get = |t: u16| items.iter().find(|(tag, _)| *tag == t).map(|(_, v)| *v);
        let byte = |t: u16, what| match get(t) {
            Some([b]) => Ok(*b),
            _ => Err(FormatError::Missing(what)),
        };
        Ok(Self {
            slot: byte(slot_tags::SLOT, "slot")?,
            state: SlotState::from_byte(byte(slot_tags::STATE, "slot state")?)?,
            usage: get(slot_tags::USAGE)
                .map(|v| match v {
                    [b] => Usage::from_byte(*b),
                    _ => Err(FormatError::Invalid("usage")),
                })
                .transpose()?,
            public_key: get(slot_tags::PUBLIC_KEY)
                .map(|v| v.try_into().map_err(|_| FormatError::Invalid("public key")))
                .transpose()?,
            certificate: get(slot_tags::CERTIFICATE).map(<[u8]>::to_vec),
        })
    }
}

/// Length of the CA's single-use challenge that a certificate request carries.
pub const CHALLENGE_LEN: usize = 16;

/// The subject the CA gives a meter's slot certificate (and the card puts in
/// its PKCS#10 request): `O=PCMeter, serialNumber=<meter ID in hex>,
/// CN=meter slot <n> <usage>`. The host has no say in it.
pub fn meter_subject(meter_id: &[u8; 12], slot: u8, usage: Usage) -> Result<Vec<u8>, FormatError> {
    use core::fmt::Write;
    let mut id = alloc::string::String::with_capacity(24);
    for b in meter_id {
        let _ = write!(id, "{b:02X}");
    }
    let cn = alloc::format!("meter slot {slot} {}", usage.name());
    x509::name(&[
        (crate::oid::ORGANIZATION, "PCMeter"),
        (crate::oid::SERIAL_NUMBER, &id),
        (crate::oid::COMMON_NAME, &cn),
    ])
}

/// The meter ID named by a [`meter_subject`] (its serialNumber: the 12-byte
/// ID in hex), or `None` when `subject` names no meter.
pub fn subject_meter_id(subject: &[u8]) -> Option<[u8; 12]> {
    let digits = x509::attribute(subject, crate::oid::SERIAL_NUMBER)?;
    if digits.len() != 24 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16);
    let mut id = [0u8; 12];
    for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (nibble(*pair.first()?)?, nibble(*pair.get(1)?)?);
        *byte = (hi * 16 + lo) as u8;
    }
    Some(id)
}

/// The body of the device-signed certificate request.
///
/// `meter ID 12 | slot 1 | usage 1 | card time 8 | CA challenge 16 | PKCS#10 request (rest)`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest<'a> {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Slot.
    pub slot: u8,
    /// Requested usage.
    pub usage: Usage,
    /// Card time of the request.
    pub time: u64,
    /// The CA's single-use challenge, signed into the request so that it cannot be replayed.
    pub challenge: [u8; CHALLENGE_LEN],
    /// The PKCS#10 request signed by the slot key.
    pub csr: &'a [u8],
}

impl<'a> CertificateRequest<'a> {
    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(22 + CHALLENGE_LEN + self.csr.len());
        v.put(&self.meter_id);
        v.put_u8(self.slot);
        v.put_u8(self.usage as u8);
        v.put_u64(self.time);
        v.put(&self.challenge);
        v.put(self.csr);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &'a [u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        Ok(Self {
            meter_id: r.array("meter id")?,
            slot: r.u8("slot")?,
            usage: Usage::from_byte(r.u8("usage")?)?,
            time: r.u64("time")?,
            challenge: r.array("challenge")?,
            csr: r.remaining(),
        })
    }
}

/// An authority order replacing the CA anchor: `meter ID 12 | version 4 | CA key 65`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorUpdate {
    /// The meter it is for.
    pub meter_id: [u8; 12],
    /// Anchor version; must exceed the card's.
    pub version: u32,
    /// New CA public key.
    pub ca_key: [u8; 65],
}

impl AnchorUpdate {
    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(81);
        v.put(&self.meter_id);
        v.put_u32(self.version);
        v.put(&self.ca_key);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let s = Self { meter_id: r.array("meter id")?, version: r.u32("version")?, ca_key: r.array("ca key")? };
        r.finish()?;
        Ok(s)
    }
}

/// An authority revocation order (Fig. 6): `meter ID 12 | slot 1 | reason 1 |
/// time 8 | public key 65`. It names the key, not a certificate: the card
/// revokes the slot holding that key whatever certificate it has, and the CA
/// lists every certificate of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationOrder {
    /// The meter it is for.
    pub meter_id: [u8; 12],
    /// Slot to revoke.
    pub slot: u8,
    /// CRL reason code (RFC 5280 §5.3.1).
    pub reason: u8,
    /// Authority time of the order.
    pub time: u64,
    /// The slot's public key (uncompressed SEC1).
    pub public_key: [u8; 65],
}

impl RevocationOrder {
    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put(&self.meter_id);
        v.put_u8(self.slot);
        v.put_u8(self.reason);
        v.put_u64(self.time);
        v.put(&self.public_key);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let order = Self {
            meter_id: r.array("meter id")?,
            slot: r.u8("slot")?,
            reason: r.u8("reason")?,
            time: r.u64("time")?,
            public_key: r.array("public key")?,
        };
        r.finish()?;
        Ok(order)
    }
}

/// The card's device-signed request to revoke a slot's key (Fig. 6, 602):
/// `meter ID 12 | slot 1 | reason 1 | time 8 | public key 65`.
/// The authority verifies it (604/606) and answers with a [`RevocationOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Slot to revoke.
    pub slot: u8,
    /// CRL reason code (RFC 5280 §5.3.1) the user gives.
    pub reason: u8,
    /// Card time of the request.
    pub time: u64,
    /// The slot's public key (uncompressed SEC1).
    pub public_key: [u8; 65],
}

impl RevocationRequest {
    /// Encoded length.
    pub const LEN: usize = 12 + 1 + 1 + 8 + 65;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put(&self.meter_id);
        v.put_u8(self.slot);
        v.put_u8(self.reason);
        v.put_u64(self.time);
        v.put(&self.public_key);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let request = Self {
            meter_id: r.array("meter id")?,
            slot: r.u8("slot")?,
            reason: r.u8("reason")?,
            time: r.u64("time")?,
            public_key: r.array("public key")?,
        };
        r.finish()?;
        Ok(request)
    }
}

/// The card's signed confirmation of a revocation:
/// `meter ID 12 | slot 1 | time 8 | fee 4 | paid 1 | public key 65`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationConfirmation {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Slot revoked.
    pub slot: u8,
    /// Card time.
    pub time: u64,
    /// Revocation fee from the rate table.
    pub fee: u32,
    /// True when DR covered the fee; false means "payment due".
    pub paid: bool,
    /// The revoked key.
    pub public_key: [u8; 65],
}

impl RevocationConfirmation {
    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put(&self.meter_id);
        v.put_u8(self.slot);
        v.put_u64(self.time);
        v.put_u32(self.fee);
        v.put_u8(u8::from(self.paid));
        v.put(&self.public_key);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let meter_id = r.array("meter id")?;
        let slot = r.u8("slot")?;
        let time = r.u64("time")?;
        let fee = r.u32("fee")?;
        let paid = match r.u8("paid")? {
            0 => false,
            1 => true,
            _ => return Err(FormatError::Invalid("paid")),
        };
        let public_key = r.array("public key")?;
        r.finish()?;
        Ok(Self { meter_id, slot, time, fee, paid, public_key })
    }
}

/// AGENT ISSUE request tags (`82`, once notBefore, is not used: the card's time is the notBefore).
pub mod agent_tags {
    /// Subject Name (DER).
    pub const SUBJECT: u16 = 0x81;
    /// notAfter, 8 bytes Unix seconds.
    pub const NOT_AFTER: u16 = 0x83;
    /// Usage byte.
    pub const USAGE: u16 = 0x84;
    /// The receiver's delivery public key (uncompressed SEC1).
    pub const DELIVERY_KEY: u16 = 0x85;
}

/// A request for a certificate issued by the meter as an agent (Fig. 3A).
/// The certificate's validity starts at the card's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest<'a> {
    /// Subject Name encoding.
    pub subject: &'a [u8],
    /// notAfter.
    pub not_after: u64,
    /// Usage of the receiver's key (the card issues only [`Usage::issuable_by_agent`] usages).
    pub usage: Usage,
    /// Key the receiver's private key is encrypted to.
    pub delivery_key: [u8; 65],
}

impl<'a> AgentRequest<'a> {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        tlv::put(&mut out, agent_tags::SUBJECT, self.subject);
        tlv::put(&mut out, agent_tags::NOT_AFTER, &self.not_after.to_be_bytes());
        tlv::put(&mut out, agent_tags::USAGE, &[self.usage as u8]);
        tlv::put(&mut out, agent_tags::DELIVERY_KEY, &self.delivery_key);
        out
    }

    /// Decodes and checks the request (a well-formed Name, a known usage).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let items = tlv::parse_unique(bytes)?;
        if items.len() != 4 {
            return Err(FormatError::Invalid("agent request"));
        }
        let get =
            |t: u16, what| items.iter().find(|(tag, _)| *tag == t).map(|(_, v)| *v).ok_or(FormatError::Missing(what));
        let time = |t: u16, what| {
            get(t, what)
                .and_then(|v| <[u8; 8]>::try_from(v).map_err(|_| FormatError::Invalid(what)))
                .map(u64::from_be_bytes)
        };
        let subject = get(agent_tags::SUBJECT, "subject")?;
        x509::check_name(subject)?;
        let usage = match get(agent_tags::USAGE, "usage")? {
            [b] => Usage::from_byte(*b)?,
            _ => return Err(FormatError::Invalid("usage")),
        };
        Ok(Self {
            subject,
            not_after: time(agent_tags::NOT_AFTER, "not after")?,
            usage,
            delivery_key: get(agent_tags::DELIVERY_KEY, "delivery key")?
                .try_into()
                .map_err(|_| FormatError::Invalid("delivery key"))?,
        })
    }
}

/// The AGENT ISSUE response: the receiver's certificate (DER) followed by
/// an OCTET STRING holding its private key encrypted to the delivery key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentResponse<'a> {
    /// The issued certificate.
    pub certificate: &'a [u8],
    /// The receiver's private key, an [`ecies`] blob.
    pub encrypted_key: &'a [u8],
}

impl<'a> AgentResponse<'a> {
    /// Encodes the response.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let key = der::asn1::OctetStringRef::new(self.encrypted_key).map_err(asn1::der_error("encrypted key"))?;
        Ok([self.certificate, &asn1::encode(&key, "encrypted key")?].concat())
    }

    /// Decodes the response: a SEQUENCE, then an OCTET STRING, nothing after.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        use der::{Reader, Tag};
        let der_error = asn1::der_error("agent response");
        let mut r = der::SliceReader::new(bytes).map_err(&der_error)?;
        if Tag::peek(&r).map_err(&der_error)? != Tag::Sequence {
            return Err(FormatError::Invalid("certificate"));
        }
        let certificate = r.tlv_bytes().map_err(&der_error)?;
        let encrypted_key: &'a der::asn1::OctetStringRef = r.decode().map_err(&der_error)?;
        if !r.is_finished() {
            return Err(FormatError::Trailing(usize::try_from(r.remaining_len()).unwrap_or(usize::MAX)));
        }
        Ok(Self { certificate, encrypted_key: encrypted_key.as_bytes() })
    }
}

/// Result byte of VERIFY CERTIFICATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CertificateVerdict {
    /// Signed by the CA anchor and valid now.
    Valid = 0,
    /// Not signed by the CA anchor (unknown CA or altered).
    NotSignedByCa = 1,
    /// Signed by the CA but outside its validity period.
    OutsideValidity = 2,
    /// The path breaks the profile: an issuer that is not an agent certificate
    /// with pathLen 0, a path longer than a constraint, or a certificate below
    /// an agent that is not a signature or encryption certificate.
    PathNotAllowed = 3,
}

impl CertificateVerdict {
    /// Decodes a verdict byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        use CertificateVerdict::*;
        [Valid, NotSignedByCa, OutsideValidity, PathNotAllowed]
            .into_iter()
            .find(|v| *v as u8 == b)
            .ok_or(FormatError::Invalid("verdict"))
    }
}

/// ECIES as used for DECRYPT and agent key delivery: ephemeral P-256 ECDH,
/// HKDF-SHA-256 and AES-256-GCM.
///
/// Blob: `ephemeral public key 65 | ciphertext | tag 16`. HKDF takes the
/// shared x-coordinate as input key material, no salt, and
/// `info = LABEL ‖ ephemeral key ‖ recipient key`; its 44 output bytes are
/// the AES key (32) and the nonce (12). A fresh ephemeral key per message
/// makes the nonce unique.
pub mod ecies {
    /// HKDF info label.
    pub const LABEL: &[u8] = b"PCMeter ECIES v1";
    /// Ephemeral key length.
    pub const EPHEMERAL_LEN: usize = 65;
    /// GCM tag length.
    pub const TAG_LEN: usize = 16;
    /// Bytes a blob adds to its plaintext.
    pub const OVERHEAD: usize = EPHEMERAL_LEN + TAG_LEN;
    /// AES-256 key length.
    pub const KEY_LEN: usize = 32;
    /// GCM nonce length.
    pub const NONCE_LEN: usize = 12;

    /// The HKDF info for a blob.
    pub fn info(ephemeral: &[u8], recipient: &[u8]) -> alloc::vec::Vec<u8> {
        [LABEL, ephemeral, recipient].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let info = SlotInfo {
            slot: 3,
            state: SlotState::Certified,
            usage: Some(Usage::Postmark),
            public_key: Some([4; 65]),
            certificate: Some(alloc::vec![0x30, 0]),
        };
        assert_eq!(SlotInfo::parse(&info.encode()).unwrap(), info);
        let req = CertificateRequest {
            meter_id: [1; 12],
            slot: 2,
            usage: Usage::Agent,
            time: 9,
            challenge: [3; CHALLENGE_LEN],
            csr: &[0x30, 0],
        };
        assert_eq!(CertificateRequest::parse(&req.encode()).unwrap(), req);
        let order = RevocationOrder { meter_id: [1; 12], slot: 2, reason: 1, time: 7, public_key: [4; 65] };
        assert_eq!(RevocationOrder::parse(&order.encode()).unwrap(), order);
        assert!(RevocationOrder::parse(&order.encode()[..80]).is_err());
        let request = RevocationRequest { meter_id: [1; 12], slot: 2, reason: 1, time: 7, public_key: [4; 65] };
        assert_eq!(request.encode().len(), RevocationRequest::LEN);
        assert_eq!(RevocationRequest::parse(&request.encode()).unwrap(), request);
        assert!(RevocationRequest::parse(&request.encode()[1..]).is_err());
        let confirmation =
            RevocationConfirmation { meter_id: [1; 12], slot: 2, time: 7, fee: 100, paid: false, public_key: [4; 65] };
        assert_eq!(RevocationConfirmation::parse(&confirmation.encode()).unwrap(), confirmation);
        let subject = x509::name(&[(crate::oid::COMMON_NAME, "receiver")]).unwrap();
        let agent = AgentRequest { subject: &subject, not_after: 2, usage: Usage::Signature, delivery_key: [4; 65] };
        assert_eq!(AgentRequest::parse(&agent.encode()).unwrap(), agent);
        let response = AgentResponse { certificate: &[0x30, 1, 5], encrypted_key: &[9; 200] };
        assert_eq!(AgentResponse::parse(&response.encode().unwrap()).unwrap(), response);
        assert!(AgentResponse::parse(&[0x04, 0]).is_err());
        let mut bad = agent.encode();
        bad.truncate(bad.len() - 1);
        assert!(AgentRequest::parse(&bad).is_err());
    }

    #[test]
    fn subject_meter_id_reads_back_what_meter_subject_wrote() {
        let id = *b"PCM-SIM-0001";
        let subject = meter_subject(&id, 2, Usage::Signature).unwrap();
        assert_eq!(subject_meter_id(&subject), Some(id));
        let other = x509::name(&[(crate::oid::COMMON_NAME, "no meter here")]).unwrap();
        assert_eq!(subject_meter_id(&other), None);
        let short = x509::name(&[(crate::oid::SERIAL_NUMBER, "5043")]).unwrap();
        assert_eq!(subject_meter_id(&short), None);
        let not_hex = x509::name(&[(crate::oid::SERIAL_NUMBER, "ZZ434D2D53494D2D30303031")]).unwrap();
        assert_eq!(subject_meter_id(&not_hex), None);
    }
}
