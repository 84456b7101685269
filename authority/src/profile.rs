//! Building and signing personalization profiles.

use crate::keys::SigningKeyPair;
use crate::mac::MasterMacKey;
use apdu_specs::FormatError;
use apdu_specs::indicium::IndiciumAlgorithm;
use apdu_specs::perso::{CardSerial, Profile};
use apdu_specs::pin::PinBlock;
use apdu_specs::signed::{self, DOMAIN_PERSONALIZATION};

/// How long a profile stays loadable by default: a week.
pub const DEFAULT_VALIDITY: u64 = 7 * 86_400;

/// Everything needed to personalize one meter.
#[derive(Debug, Clone)]
pub struct ProfileBuilder {
    /// Meter ID (up to 12 ASCII characters, space padded).
    pub meter_id: String,
    /// Software ID.
    pub software_id: String,
    /// PIN digits.
    pub pin: String,
    /// PUK digits.
    pub puk: String,
    /// PIN retry limit.
    pub pin_tries: u8,
    /// PUK retry limit.
    pub puk_tries: u8,
    /// Seconds between inspections.
    pub inspection_period: u32,
    /// Postal certificate serial.
    pub postal_cert_serial: u32,
    /// Initial credit (test personalization credit; 0 in production).
    pub initial_credit: u64,
    /// Issue time.
    pub issued_at: u64,
    /// Seconds after the issue time during which the card accepts the profile.
    pub valid_for: u64,
    /// Use the HMAC indicium variant instead of ECDSA.
    pub hmac_variant: bool,
}

impl Default for ProfileBuilder {
    fn default() -> Self {
        Self {
            meter_id: String::from("PCM000000001"),
            software_id: String::from("PCMETER 0.1"),
            pin: String::from("123456"),
            puk: String::from("12345678"),
            pin_tries: 3,
            puk_tries: 5,
            inspection_period: 90 * 86_400,
            postal_cert_serial: 1,
            initial_credit: 0,
            issued_at: 0,
            valid_for: DEFAULT_VALIDITY,
            hmac_variant: false,
        }
    }
}

/// Pads text to a 12-byte ASCII field.
pub fn field12(text: &str) -> Result<[u8; 12], FormatError> {
    if text.len() > 12 || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(FormatError::Invalid("12-character ASCII field"));
    }
    let mut out = [b' '; 12];
    out[..text.len()].copy_from_slice(text.as_bytes());
    Ok(out)
}

impl ProfileBuilder {
    /// Builds the profile for the one card with serial `card_serial` (read
    /// from its FCI), loadable until `issued_at + valid_for`. `rate_table` is
    /// the signed envelope of the first table.
    pub fn build(
        &self,
        card_serial: CardSerial,
        authority: &SigningKeyPair,
        ca_key: [u8; 65],
        credit_issuer_keys: Vec<[u8; 65]>,
        mac_master: Option<&MasterMacKey>,
        rate_table: Vec<u8>,
    ) -> Result<Profile, FormatError> {
        let meter_id = field12(&self.meter_id)?;
        let not_after = self.issued_at.checked_add(self.valid_for).ok_or(FormatError::Invalid("validity"))?;
        let (algorithm, mac_key) = if self.hmac_variant {
            let master = mac_master.ok_or(FormatError::Missing("MAC master key"))?;
            (IndiciumAlgorithm::HmacSha256, Some(master.diversify(&meter_id)))
        } else {
            (IndiciumAlgorithm::EcdsaP256, None)
        };
        let profile = Profile {
            meter_id,
            authority_key: authority.public(),
            ca_key,
            credit_issuer_keys,
            pin: PinBlock::from_digits(&self.pin)?,
            puk: PinBlock::from_digits(&self.puk)?,
            pin_tries: self.pin_tries,
            puk_tries: self.puk_tries,
            inspection_period: self.inspection_period,
            algorithm,
            mac_key,
            postal_cert_serial: self.postal_cert_serial,
            software_id: field12(&self.software_id)?,
            initial_credit: self.initial_credit,
            issued_at: self.issued_at,
            rate_table,
            card_serial,
            not_after,
        };
        // Validate exactly as the card will.
        Profile::parse_body(&profile.encode_body())
    }
}

/// Signs a profile with the issuer key; returns the envelope STORE DATA takes.
pub fn sign_profile(issuer: &SigningKeyPair, profile: &Profile) -> Vec<u8> {
    let body = profile.encode_body();
    let sig = issuer.sign_message(DOMAIN_PERSONALIZATION, &body);
    signed::encode(&body, &sig)
}
