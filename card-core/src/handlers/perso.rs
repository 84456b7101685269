//! STORE DATA (personalization) and ACTIVATE.

use crate::applet::Core;
use crate::platform::{CryptoEngine, MacKey, Platform, SecretKey};
use crate::state::{Config, PinState, Secrets};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::indicium::IndiciumAlgorithm;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::perso::Profile;
use apdu_specs::rates::RateTable;
use apdu_specs::signed::{DOMAIN_PERSONALIZATION, DOMAIN_RATE_TABLE};
use apdu_specs::sw::Sw;

impl<P: Platform> Core<P> {
    pub(crate) fn store_data(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        if self.state.config.is_some() {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let issuer = self.state.factory.issuer_key;
        let body = self.verified_body(data, DOMAIN_PERSONALIZATION, &issuer)?;
        let mut profile = Profile::parse_body(body).map_err(|_| Sw::BAD_DATA)?;
        self.check_binding(&profile)?;
        // DR is printed in 5 bytes: a credit that cannot be printed is refused.
        if !apdu_specs::codec::fits(profile.initial_credit, 5) {
            return Err(Sw::BAD_DATA);
        }
        let crypto = self.platform.crypto();
        let keys_valid = [&profile.authority_key, &profile.ca_key]
            .into_iter()
            .chain(profile.credit_issuer_keys.iter())
            .all(|k| crypto.p256_valid_public(k));
        if !keys_valid {
            return Err(Sw::BAD_DATA);
        }
        let table_body = self.verified_body(&profile.rate_table, DOMAIN_RATE_TABLE, &profile.authority_key)?;
        let table = RateTable::parse_body(table_body).map_err(|_| Sw::BAD_DATA)?;

        let crypto = self.platform.crypto();
        let (device, device_public) = crypto.p256_generate().map_err(|_| Sw::MEMORY_FAILURE)?;
        let (postal, postal_public) = match profile.algorithm {
            IndiciumAlgorithm::EcdsaP256 => {
                let (k, p) = crypto.p256_generate().map_err(|_| Sw::MEMORY_FAILURE)?;
                (Some(k), Some(p))
            }
            IndiciumAlgorithm::HmacSha256 => (None::<SecretKey>, None),
        };
        let secrets = Secrets {
            device,
            device_public,
            postal,
            postal_public,
            mac_key: profile.mac_key.as_mut().map(MacKey::take_from),
        };
        let config = Config {
            meter_id: profile.meter_id,
            authority_key: profile.authority_key,
            ca_key: profile.ca_key,
            credit_issuer_keys: profile.credit_issuer_keys.clone(),
            inspection_period: profile.inspection_period,
            algorithm: profile.algorithm,
            postal_cert_serial: profile.postal_cert_serial,
            software_id: profile.software_id,
            currency: table.currency,
            exponent: table.exponent,
        };
        let pins = PinState {
            pin: *profile.pin.as_bytes(),
            puk: *profile.puk.as_bytes(),
            pin_tries: profile.pin_tries,
            pin_limit: profile.pin_tries,
            puk_tries: profile.puk_tries,
            puk_limit: profile.puk_tries,
        };
        let time = self.display_time().max(profile.issued_at);
        let mut change = self.change(time);
        let counters = change.counters_mut();
        counters.regs.descending = profile.initial_credit;
        counters.regs.control_total = profile.initial_credit;
        counters.rate_version_seen = table.version;
        change.raise_time_floor(profile.issued_at);
        change.audit(Event::Personalized, profile.initial_credit, &profile.meter_id);
        change.personalize(config, secrets, pins);
        change.put_active_table(table, core::mem::take(&mut profile.rate_table));
        self.commit(change)?;
        Ok(Vec::new())
    }

    /// A profile personalizes only the card whose serial it names, and only
    /// until its not-after time on the card clock.
    fn check_binding(&self, profile: &Profile) -> Result<(), Sw> {
        if profile.card_serial != self.state.factory.serial {
            return Err(Sw::PROFILE_FOR_ANOTHER_CARD);
        }
        if self.now()? > profile.not_after {
            return Err(Sw::PROFILE_EXPIRED);
        }
        Ok(())
    }

    pub(crate) fn activate(&mut self) -> Result<Vec<u8>, Sw> {
        let period = self.state.config.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?.inspection_period;
        let now = self.now()?;
        let mut change = self.change(now);
        let card = change.card_mut();
        card.lifecycle = Lifecycle::Operational;
        card.inspection_deadline = now.saturating_add(u64::from(period));
        let deadline = card.inspection_deadline;
        change.raise_time_floor(now);
        change.audit(Event::Activated, 0, &deadline.to_be_bytes());
        self.commit(change)?;
        Ok(Vec::new())
    }
}
