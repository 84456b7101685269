//! The personalization profile loaded by STORE DATA in the PERSONALIZATION
//! state. It travels in the signed envelope with domain
//! [`crate::signed::DOMAIN_PERSONALIZATION`], signed by the issuer key the
//! card was manufactured with. Its body is a flat BER-TLV list:
//!
//! | tag | field | length |
//! |---|---|---|
//! | 81 | meter ID (ASCII) | 12 |
//! | 82 | authority public key (SEC1 uncompressed P-256) | 65 |
//! | 83 | CA public key | 65 |
//! | 84 | credit-issuer public keys, concatenated (0–4 keys) | 65·n |
//! | 85 | PIN block (ISO 9564 format 2) | 8 |
//! | 86 | PUK block | 8 |
//! | 87 | PIN retry limit, PUK retry limit | 2 |
//! | 88 | inspection period, seconds | 4 |
//! | 89 | indicium algorithm (1 ECDSA, 2 HMAC) | 1 |
//! | 8A | indicium MAC key (HMAC variant only) | 32 |
//! | 8B | postal certificate serial | 4 |
//! | 8C | software ID (ASCII) | 12 |
//! | 8D | initial credit, minor units (0 in production) | 8 |
//! | 8E | issue time (Unix s): the card clock floor | 8 |
//! | 8F | first rate table (a signed envelope) | var |
//! | 90 | card serial: the one card this profile personalizes | 8 |
//! | 91 | not after (Unix s): the card refuses the profile later | 8 |
//!
//! The serial and the not-after time bind the profile to one card for a
//! short time: the card refuses a profile for another serial
//! ([`crate::sw::Sw::PROFILE_FOR_ANOTHER_CARD`]) and one whose not-after
//! time is past on its clock ([`crate::sw::Sw::PROFILE_EXPIRED`]).

use crate::codec::{FormatError, Reader};
use crate::indicium::IndiciumAlgorithm;
use crate::pin::PinBlock;
use crate::tlv;
use alloc::vec::Vec;
use core::fmt;

/// Uncompressed SEC1 P-256 public key length.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Most credit-issuer keys.
pub const MAX_CREDIT_ISSUERS: usize = 4;

/// Tags of the profile body.
pub mod tag {
    /// Meter ID.
    pub const METER_ID: u16 = 0x81;
    /// Authority key.
    pub const AUTHORITY_KEY: u16 = 0x82;
    /// CA key.
    pub const CA_KEY: u16 = 0x83;
    /// Credit-issuer keys.
    pub const CREDIT_ISSUER_KEYS: u16 = 0x84;
    /// PIN.
    pub const PIN: u16 = 0x85;
    /// PUK.
    pub const PUK: u16 = 0x86;
    /// Retry limits.
    pub const RETRY_LIMITS: u16 = 0x87;
    /// Inspection period.
    pub const INSPECTION_PERIOD: u16 = 0x88;
    /// Indicium algorithm.
    pub const INDICIUM_ALGORITHM: u16 = 0x89;
    /// MAC key.
    pub const MAC_KEY: u16 = 0x8A;
    /// Postal certificate serial.
    pub const POSTAL_CERT_SERIAL: u16 = 0x8B;
    /// Software ID.
    pub const SOFTWARE_ID: u16 = 0x8C;
    /// Initial credit.
    pub const INITIAL_CREDIT: u16 = 0x8D;
    /// Issue time.
    pub const ISSUED_AT: u16 = 0x8E;
    /// First rate table.
    pub const RATE_TABLE: u16 = 0x8F;
    /// Serial of the card the profile is for.
    pub const CARD_SERIAL: u16 = 0x90;
    /// Last second the profile may be loaded.
    pub const NOT_AFTER: u16 = 0x91;
}

/// The serial number a card is given at manufacture. It is readable before
/// personalization (FCI tag `85`, see [`crate::fci`]); a personalization
/// profile names it to bind itself to that one card.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardSerial(pub [u8; CardSerial::LEN]);

impl CardSerial {
    /// Length in bytes.
    pub const LEN: usize = 8;

    /// Parses the 16 hex digits [`fmt::Display`] prints.
    pub fn from_hex(text: &str) -> Result<Self, FormatError> {
        let bytes = hex::decode(text.trim()).map_err(|_| FormatError::Invalid("card serial hex"))?;
        Ok(Self(bytes.as_slice().try_into().map_err(|_| FormatError::Invalid("card serial length"))?))
    }
}

impl fmt::Display for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

impl fmt::Debug for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardSerial({self})")
    }
}

/// A decoded personalization profile. It carries the PIN, the PUK and the
/// MAC key, so it has no `PartialEq`.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Authority key (recharge, inspection, rate tables, orders).
    pub authority_key: [u8; PUBLIC_KEY_LEN],
    /// CA key (certificate anchor).
    pub ca_key: [u8; PUBLIC_KEY_LEN],
    /// Credit-issuer keys.
    pub credit_issuer_keys: Vec<[u8; PUBLIC_KEY_LEN]>,
    /// User PIN.
    pub pin: PinBlock,
    /// Unblocking key.
    pub puk: PinBlock,
    /// PIN retry limit (1–15).
    pub pin_tries: u8,
    /// PUK retry limit (1–15).
    pub puk_tries: u8,
    /// Seconds between inspections.
    pub inspection_period: u32,
    /// Indicium authentication.
    pub algorithm: IndiciumAlgorithm,
    /// Per-meter MAC key (HMAC variant).
    pub mac_key: Option<[u8; 32]>,
    /// Postal certificate serial.
    pub postal_cert_serial: u32,
    /// Software ID.
    pub software_id: [u8; 12],
    /// Initial credit.
    pub initial_credit: u64,
    /// Issue time.
    pub issued_at: u64,
    /// First rate table, as a signed envelope.
    pub rate_table: Vec<u8>,
    /// The one card this profile personalizes.
    pub card_serial: CardSerial,
    /// Last second (Unix s, card clock) at which the card accepts the profile.
    pub not_after: u64,
}

fn fixed<const N: usize>(items: &[(u16, &[u8])], t: u16, name: &'static str) -> Result<[u8; N], FormatError> {
    let v = items.iter().find(|(tag, _)| *tag == t).map(|(_, v)| *v).ok_or(FormatError::Missing(name))?;
    v.try_into().map_err(|_| FormatError::Invalid(name))
}

fn printable(id: &[u8]) -> bool {
    id.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
}

impl Profile {
    /// Encodes the body.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        tlv::put(&mut out, tag::METER_ID, &self.meter_id);
        tlv::put(&mut out, tag::AUTHORITY_KEY, &self.authority_key);
        tlv::put(&mut out, tag::CA_KEY, &self.ca_key);
        let issuers: Vec<u8> = self.credit_issuer_keys.iter().flatten().copied().collect();
        tlv::put(&mut out, tag::CREDIT_ISSUER_KEYS, &issuers);
        tlv::put(&mut out, tag::PIN, self.pin.as_bytes());
        tlv::put(&mut out, tag::PUK, self.puk.as_bytes());
        tlv::put(&mut out, tag::RETRY_LIMITS, &[self.pin_tries, self.puk_tries]);
        tlv::put(&mut out, tag::INSPECTION_PERIOD, &self.inspection_period.to_be_bytes());
        tlv::put(&mut out, tag::INDICIUM_ALGORITHM, &[self.algorithm as u8]);
        if let Some(k) = &self.mac_key {
            tlv::put(&mut out, tag::MAC_KEY, k);
        }
        tlv::put(&mut out, tag::POSTAL_CERT_SERIAL, &self.postal_cert_serial.to_be_bytes());
        tlv::put(&mut out, tag::SOFTWARE_ID, &self.software_id);
        tlv::put(&mut out, tag::INITIAL_CREDIT, &self.initial_credit.to_be_bytes());
        tlv::put(&mut out, tag::ISSUED_AT, &self.issued_at.to_be_bytes());
        tlv::put(&mut out, tag::RATE_TABLE, &self.rate_table);
        tlv::put(&mut out, tag::CARD_SERIAL, &self.card_serial.0);
        tlv::put(&mut out, tag::NOT_AFTER, &self.not_after.to_be_bytes());
        out
    }

    /// Decodes and validates a body (signature checking is the card's job).
    pub fn parse_body(body: &[u8]) -> Result<Self, FormatError> {
        let items = tlv::parse_unique(body)?;
        let known = [
            tag::METER_ID,
            tag::AUTHORITY_KEY,
            tag::CA_KEY,
            tag::CREDIT_ISSUER_KEYS,
            tag::PIN,
            tag::PUK,
            tag::RETRY_LIMITS,
            tag::INSPECTION_PERIOD,
            tag::INDICIUM_ALGORITHM,
            tag::MAC_KEY,
            tag::POSTAL_CERT_SERIAL,
            tag::SOFTWARE_ID,
            tag::INITIAL_CREDIT,
            tag::ISSUED_AT,
            tag::RATE_TABLE,
            tag::CARD_SERIAL,
            tag::NOT_AFTER,
        ];
        if items.iter().any(|(t, _)| !known.contains(t)) {
            return Err(FormatError::Invalid("unknown tag"));
        }
        let meter_id: [u8; 12] = fixed(&items, tag::METER_ID, "meter ID")?;
        let software_id: [u8; 12] = fixed(&items, tag::SOFTWARE_ID, "software ID")?;
        if !printable(&meter_id) || !printable(&software_id) {
            return Err(FormatError::Invalid("identifier characters"));
        }
        let issuers_raw = items.iter().find(|(t, _)| *t == tag::CREDIT_ISSUER_KEYS).map(|(_, v)| *v).unwrap_or(&[]);
        if issuers_raw.len() % PUBLIC_KEY_LEN != 0 || issuers_raw.len() / PUBLIC_KEY_LEN > MAX_CREDIT_ISSUERS {
            return Err(FormatError::Invalid("credit issuer keys"));
        }
        let mut credit_issuer_keys = Vec::new();
        let mut r = Reader::new(issuers_raw);
        while !r.remaining().is_empty() {
            credit_issuer_keys.push(r.array::<PUBLIC_KEY_LEN>("credit issuer key")?);
        }
        let [pin_tries, puk_tries] = fixed::<2>(&items, tag::RETRY_LIMITS, "retry limits")?;
        if !(1..=15).contains(&pin_tries) || !(1..=15).contains(&puk_tries) {
            return Err(FormatError::Invalid("retry limits"));
        }
        let [alg] = fixed::<1>(&items, tag::INDICIUM_ALGORITHM, "indicium algorithm")?;
        let algorithm = IndiciumAlgorithm::from_byte(alg)?;
        let mac_key = match items.iter().find(|(t, _)| *t == tag::MAC_KEY) {
            Some((_, v)) => Some(<[u8; 32]>::try_from(*v).map_err(|_| FormatError::Invalid("MAC key"))?),
            None => None,
        };
        if (algorithm == IndiciumAlgorithm::HmacSha256) != mac_key.is_some() {
            return Err(FormatError::Invalid("MAC key must be present exactly for the HMAC variant"));
        }
        let inspection_period = u32::from_be_bytes(fixed(&items, tag::INSPECTION_PERIOD, "inspection period")?);
        if inspection_period == 0 {
            return Err(FormatError::Invalid("inspection period"));
        }
        let rate_table = items
            .iter()
            .find(|(t, _)| *t == tag::RATE_TABLE)
            .map(|(_, v)| v.to_vec())
            .ok_or(FormatError::Missing("rate table"))?;
        let issued_at = u64::from_be_bytes(fixed(&items, tag::ISSUED_AT, "issue time")?);
        let not_after = u64::from_be_bytes(fixed(&items, tag::NOT_AFTER, "not after")?);
        if not_after < issued_at {
            return Err(FormatError::Invalid("not after precedes the issue time"));
        }
        Ok(Self {
            meter_id,
            authority_key: fixed(&items, tag::AUTHORITY_KEY, "authority key")?,
            ca_key: fixed(&items, tag::CA_KEY, "CA key")?,
            credit_issuer_keys,
            pin: PinBlock::parse(&fixed::<8>(&items, tag::PIN, "PIN")?)?,
            puk: PinBlock::parse(&fixed::<8>(&items, tag::PUK, "PUK")?)?,
            pin_tries,
            puk_tries,
            inspection_period,
            algorithm,
            mac_key,
            postal_cert_serial: u32::from_be_bytes(fixed(&items, tag::POSTAL_CERT_SERIAL, "postal cert serial")?),
            software_id,
            initial_credit: u64::from_be_bytes(fixed(&items, tag::INITIAL_CREDIT, "initial credit")?),
            issued_at,
            rate_table,
            card_serial: CardSerial(fixed(&items, tag::CARD_SERIAL, "card serial")?),
            not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn a_card_serial_prints_and_parses_as_16_hex_digits() {
        let serial = CardSerial(*b"PCMV0001");
        let text = serial.to_string();
        assert_eq!(text, "50434D5630303031");
        assert_eq!(CardSerial::from_hex(&text), Ok(serial));
        assert!(CardSerial::from_hex("50434D56303030").is_err(), "7 bytes");
        assert!(CardSerial::from_hex("50434D563030303G").is_err(), "not hex");
    }

    #[test]
    fn a_profile_that_expires_before_it_is_issued_is_malformed() {
        let minimal = |issued_at: u64, not_after: u64| {
            let mut body = Vec::new();
            tlv::put(&mut body, tag::METER_ID, b"PCM000000001");
            tlv::put(&mut body, tag::AUTHORITY_KEY, &[4; PUBLIC_KEY_LEN]);
            tlv::put(&mut body, tag::CA_KEY, &[4; PUBLIC_KEY_LEN]);
            tlv::put(&mut body, tag::CREDIT_ISSUER_KEYS, &[]);
            tlv::put(&mut body, tag::PIN, PinBlock::from_digits("1234").unwrap().as_bytes());
            tlv::put(&mut body, tag::PUK, PinBlock::from_digits("12345678").unwrap().as_bytes());
            tlv::put(&mut body, tag::RETRY_LIMITS, &[3, 5]);
            tlv::put(&mut body, tag::INSPECTION_PERIOD, &86_400u32.to_be_bytes());
            tlv::put(&mut body, tag::INDICIUM_ALGORITHM, &[IndiciumAlgorithm::EcdsaP256 as u8]);
            tlv::put(&mut body, tag::POSTAL_CERT_SERIAL, &1u32.to_be_bytes());
            tlv::put(&mut body, tag::SOFTWARE_ID, b"PCMETER 0.1 ");
            tlv::put(&mut body, tag::INITIAL_CREDIT, &0u64.to_be_bytes());
            tlv::put(&mut body, tag::ISSUED_AT, &issued_at.to_be_bytes());
            tlv::put(&mut body, tag::RATE_TABLE, b"table");
            tlv::put(&mut body, tag::CARD_SERIAL, b"PCMV0001");
            tlv::put(&mut body, tag::NOT_AFTER, &not_after.to_be_bytes());
            body
        };
        let ok = Profile::parse_body(&minimal(1_000, 1_000)).unwrap();
        assert_eq!((ok.card_serial, ok.not_after), (CardSerial(*b"PCMV0001"), 1_000));
        assert_eq!(ok.encode_body(), minimal(1_000, 1_000), "round trip");
        assert!(matches!(
            Profile::parse_body(&minimal(1_000, 999)),
            Err(FormatError::Invalid("not after precedes the issue time"))
        ));
    }
}
