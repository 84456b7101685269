//! One timestamp on the card: a host session that verifies the PIN, reads
//! the postmark slot's certificate, runs POSTMARK (charged, then signed) with
//! the query's digest and nonce, and ends (logout and reset). The token is
//! wrapped with or without the certificate as `certReq` asks.

use super::reply::{Failure, Refusal};
use super::request::Query;
use apdu_specs::FormatError;
use apdu_specs::postmark::{SignedParts, SignerCertificate, wrap_token_with};
use apdu_specs::x509::Usage;
use host_driver::transport::Transport;
use host_driver::{Meter, MeterError, Pin};

/// What the server stamps with: the PIN and the postmark slot.
pub struct Stamper {
    pin: Pin,
    slot: u8,
}

impl Stamper {
    /// Stamps with the key in `slot`, verifying `pin` in each session.
    pub fn new(pin: Pin, slot: u8) -> Self {
        Self { pin, slot }
    }

    /// One charged postmark for `query`, as a TimeStampToken (DER).
    pub fn stamp<T: Transport>(&self, meter: &mut Meter<T>, query: &Query) -> Result<Vec<u8>, Refusal> {
        let (parts, certificate) = meter
            .with_session(|s| {
                s.select()?;
                s.verify_pin(&self.pin)?;
                let slot = s.read_slot(self.slot)?;
                let certificate = slot.certificate.ok_or(FormatError::Missing("postmark slot certificate"))?;
                let parts = s.postmark_parts(self.slot, Some(&query.digest), query.nonce.as_ref())?;
                Ok((parts, certificate))
            })
            .map_err(|e| card_refusal(self.slot, &e))?;
        let carry = if query.cert_req { SignerCertificate::Carried } else { SignerCertificate::Omitted };
        SignedParts::parse(&parts).and_then(|p| wrap_token_with(&p, &certificate, carry)).map_err(|e| {
            tracing::error!(error = %e, "a charged postmark could not be wrapped");
            Refusal::new(Failure::SystemFailure, format!("the card's postmark could not be wrapped: {e}"))
        })
    }
}

/// A card or transport failure as a `systemFailure` rejection, logged: an
/// unknown outcome needs the registers read before anyone tries again.
fn card_refusal(slot: u8, e: &MeterError) -> Refusal {
    match e {
        MeterError::OutcomeUnknown { .. } => tracing::error!(slot, error = %e, "postmark outcome unknown"),
        _ => tracing::warn!(slot, error = %e, "postmark refused"),
    }
    Refusal::new(Failure::SystemFailure, format!("the meter could not stamp: {e}"))
}

/// The first slot holding a postmark key with a certificate.
pub fn find_postmark_slot<T: Transport>(meter: &mut Meter<T>) -> Result<Option<u8>, MeterError> {
    meter.run(|tx| {
        for n in 0..apdu_specs::certs::SLOT_COUNT {
            let slot = tx.read_slot(n)?;
            if slot.usage == Some(Usage::Postmark) && slot.certificate.is_some() {
                return Ok(Some(n));
            }
        }
        Ok(None)
    })
}
