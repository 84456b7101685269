//! Line of credit (Figs. 7A, 7B, 8, 9): INSTALL CREDIT LINE (812) and PAY
//! (902–910). Credit is not money of the registers: PAY moves AR_c and DR
//! only by the payment-certificate fee, through the one debit path.

use crate::applet::Core;
use crate::platform::{CryptoEngine, Platform, PublicKey};
use crate::state::{CreditState, InstalledLine};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::credit::{CreditLine, CreditStatus, DOMAIN_CREDIT_LINE, DOMAIN_PAYMENT_CERTIFICATE};
use apdu_specs::credit::{IssuerKeyId, PaymentCertificate, PaymentRequest};
use apdu_specs::service::Service;
use apdu_specs::signed::Signed;
use apdu_specs::sw::Sw;

/// True when `now` is within the line's validity (714).
fn valid_at(line: &CreditLine, now: u64) -> bool {
    line.not_before <= now && now <= line.not_after
}

impl<P: Platform> Core<P> {
    /// The personalized credit-issuer key whose ID is `id` (SHA-256 of the key, first 8 bytes).
    fn credit_issuer_key(&mut self, id: &IssuerKeyId) -> Option<PublicKey> {
        let keys = self.state.config.as_ref()?.credit_issuer_keys.clone();
        let crypto = self.platform.crypto();
        keys.into_iter().find(|key| crypto.sha256(&[key]).get(..8) == Some(&id[..]))
    }

    pub(crate) fn install_credit_line(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let signed = Signed::parse(data).map_err(|_| Sw::BAD_DATA)?;
        let line = CreditLine::parse(signed.body).map_err(|_| Sw::BAD_DATA)?;
        let issuer = self.credit_issuer_key(&line.issuer_key_id).ok_or(Sw::VERIFICATION_FAILED)?;
        self.verified_body(data, DOMAIN_CREDIT_LINE, &issuer)?;
        let config = self.state.config.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        if line.meter_id != config.meter_id || line.currency != config.currency || line.exponent != config.exponent {
            return Err(Sw::BAD_DATA);
        }
        let device_public = self.state.secrets.as_ref().map(|s| s.device_public).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        if line.creditor_key != device_public {
            return Err(Sw::CERT_KEY_MISMATCH);
        }
        let now = self.now()?;
        if !valid_at(&line, now) {
            return Err(Sw::CERT_OUTSIDE_VALIDITY);
        }
        if self.state.credit_line.as_ref().is_some_and(|old| line.serial <= old.serial) {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let digest = self.platform.crypto().sha256(&[data]);
        // A new line replaces the old one; what was left of it is forfeited on the card.
        let forfeited = self.state.credit.installed.map_or(0, |old| old.remaining);
        let mut change = self.change(now);
        let credit = CreditState {
            payment_serial: self.state.credit.payment_serial,
            installed: Some(InstalledLine { remaining: line.line, digest }),
        };
        change.put_credit(credit);
        let mut detail = [0u8; 16];
        detail[..8].copy_from_slice(&line.serial.to_be_bytes());
        detail[8..].copy_from_slice(&forfeited.to_be_bytes());
        change.audit(Event::CreditLineInstalled, line.line, &detail);
        change.raise_time_floor(now);
        change.put_credit_line(line, data.to_vec());
        self.commit(change)?;
        Ok(Vec::new())
    }

    pub(crate) fn pay(&mut self, request: &PaymentRequest) -> Result<Vec<u8>, Sw> {
        let device = self.device_key()?;
        let mut change = self.charged(Service::PaymentCertificate, &[])?;
        let now = change.time();
        let line = self.state.credit_line.as_ref().ok_or(Sw::NOT_FOUND)?;
        let installed = self.state.credit.installed.ok_or(Sw::NOT_FOUND)?;
        if !valid_at(line, now) {
            return Err(Sw::CERT_OUTSIDE_VALIDITY);
        }
        let remaining = installed.remaining.checked_sub(request.amount).ok_or(Sw::INSUFFICIENT_CREDIT)?;
        let serial = self.state.credit.payment_serial.checked_add(1).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let certificate = PaymentCertificate {
            serial,
            holder: line.holder.clone(),
            meter_id: line.meter_id,
            credit_line_digest: installed.digest,
            amount: request.amount,
            credit_remaining: remaining,
            currency: line.currency,
            exponent: line.exponent,
            time: now,
            merchant: request.merchant.clone(),
            reference: request.reference.clone(),
        }
        .encode();
        change.put_credit(CreditState {
            payment_serial: serial,
            installed: Some(InstalledLine { remaining, digest: installed.digest }),
        });
        let mut detail = [0u8; 12];
        detail[..4].copy_from_slice(&serial.to_be_bytes());
        detail[4..].copy_from_slice(&remaining.to_be_bytes());
        change.audit(Event::Payment, request.amount, &detail);
        // Credit, serial, fee and audit records are durable before the certificate is signed.
        self.commit(change)?;
        self.device_signed(&device, DOMAIN_PAYMENT_CERTIFICATE, &certificate)
    }

    /// GET DATA `DF26`: the installed line of credit.
    pub(crate) fn credit_status(&self) -> Result<CreditStatus, Sw> {
        let line = self.state.credit_line.as_ref().ok_or(Sw::NOT_FOUND)?;
        let installed = self.state.credit.installed.ok_or(Sw::NOT_FOUND)?;
        Ok(CreditStatus {
            line_serial: line.serial,
            line: line.line,
            remaining: installed.remaining,
            not_before: line.not_before,
            not_after: line.not_after,
            payment_serial: self.state.credit.payment_serial,
            line_digest: installed.digest,
        })
    }
}
