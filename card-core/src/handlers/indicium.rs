//! PRINT INDICIUM: price, sign, commit the debit with the indicium, then release.

use super::charge::Ascending;
use super::rates::table_in_force;
use crate::applet::Core;
use crate::platform::{CryptoEngine, Platform};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::date::days_from_yyyymmdd;
use apdu_specs::indicium::{IndiciumAlgorithm, IndiciumBody};
use apdu_specs::mailpiece::MailPiece;
use apdu_specs::rates::PriceError;
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;

/// How many days ahead a mailing date may be.
pub const MAX_DAYS_AHEAD: i64 = 30;

/// Internal error (crypto engine failure): nothing is committed.
const INTERNAL: Sw = Sw::INTERNAL_ERROR;

impl<P: Platform> Core<P> {
    /// Refuses a value service once the inspection deadline has passed, and
    /// changes nothing: the next inspection acknowledgement or recharge ends
    /// it. Time alone never locks the meter.
    pub(crate) fn refuse_when_overdue(&self, now: u64) -> Result<(), Sw> {
        if now <= self.state.card.inspection_deadline { Ok(()) } else { Err(Sw::INSPECTION_OVERDUE) }
    }

    pub(crate) fn print_indicium(&mut self, piece: &MailPiece) -> Result<Vec<u8>, Sw> {
        let config = self.state.config.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let algorithm = config.algorithm;
        let now = self.now()?;
        self.refuse_when_overdue(now)?;

        let mut change = self.change(now);
        self.promote_due_table(&mut change)?;
        let table = table_in_force(&change, &self.state.rates).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let rate_table_version = table.version;
        let postage = table.postage(piece.rate_class, piece.weight_grams).map_err(|e| match e {
            PriceError::UnknownClass => Sw::NOT_FOUND,
            PriceError::WeightOutOfRange => Sw::BAD_DATA,
        })?;
        let today = (now / 86_400) as i64;
        let day = days_from_yyyymmdd(piece.date).ok_or(Sw::BAD_DATA)?;
        if day < today || day > today.saturating_add(MAX_DAYS_AHEAD) {
            return Err(Sw::BAD_DATA);
        }
        let price = u64::from(postage);
        let piece_count = change.debit(Service::Postage, price, Ascending::Postage)?;
        change.raise_time_floor(now);

        let config = self.state.config.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let regs = &change.counters().regs;
        let body = IndiciumBody {
            algorithm,
            postal_cert_serial: config.postal_cert_serial,
            device_id: config.meter_id,
            ascending_register: regs.ar_postage,
            postage,
            date: piece.date,
            origin: piece.origin,
            software_id: config.software_id,
            descending_register: regs.descending,
            rate_class: piece.rate_class,
            rate_table_version,
            piece_count,
        };
        if !body.fits() {
            // A register outgrew its indicium field: the meter must be replaced.
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let signed = body.encode();
        let mut detail = Vec::with_capacity(14);
        detail.extend_from_slice(&piece_count.to_be_bytes());
        detail.push(piece.rate_class);
        detail.extend_from_slice(&piece.weight_grams.to_be_bytes());
        detail.extend_from_slice(&piece.destination);
        change.audit(Event::Indicium, price, &detail);

        // Signed here but released only after the commit below, which makes
        // the debit, counters, audit record and the whole indicium (GET DATA
        // DF28) durable together: a host that loses the answer recovers it.
        let mut out = Vec::with_capacity(algorithm.indicium_len());
        out.extend_from_slice(&signed);
        let secrets = self.state.secrets.as_ref().ok_or(INTERNAL)?;
        match algorithm {
            IndiciumAlgorithm::EcdsaP256 => {
                let key = secrets.postal.clone().ok_or(INTERNAL)?;
                let crypto = self.platform.crypto();
                let digest = crypto.sha256(&[&signed]);
                let sig = crypto.p256_sign_digest(&key, &digest).map_err(|_| INTERNAL)?;
                out.extend_from_slice(&sig);
            }
            IndiciumAlgorithm::HmacSha256 => {
                let key = secrets.mac_key.as_ref().ok_or(INTERNAL)?;
                let mac = self.platform.crypto().hmac_sha256(key.expose(), &[&signed]);
                out.extend(mac.iter().take(16));
            }
        }
        change.put_last_indicium(out.clone());
        self.commit(change)?;
        Ok(out)
    }
}
