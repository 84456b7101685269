//! HASH, POSTMARK (Fig. 3) and VALIDATE POSTMARK (Fig. 4).

use super::slots::CertifiedSlot;
use crate::applet::Core;
use crate::platform::{CryptoEngine, EngineCheck, Platform, Sha256State};
use alloc::vec::Vec;
use apdu_specs::postmark::{self, Nonce, Postmark, SignedParts, Token};
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;
use apdu_specs::x509::Usage;

impl<P: Platform> Core<P> {
    pub(crate) fn hash_start(&mut self) -> Result<Vec<u8>, Sw> {
        self.hash = Some(self.platform.crypto().sha256_start());
        Ok(Vec::new())
    }

    pub(crate) fn hash_update(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        self.hash.as_mut().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?.update(data);
        Ok(Vec::new())
    }

    /// The host's digest, or the HASH stream's (consumed).
    fn message_digest(&mut self, digest: Option<[u8; 32]>) -> Result<[u8; 32], Sw> {
        match digest {
            Some(d) => Ok(d),
            None => self.hash.take().map(Sha256State::finish).ok_or(Sw::CONDITIONS_NOT_SATISFIED),
        }
    }

    pub(crate) fn postmark(&mut self, n: u8, digest: Option<[u8; 32]>, nonce: Option<Nonce>) -> Result<Vec<u8>, Sw> {
        // The TSA name is the certificate's subject, kept in RAM with its digest.
        let CertifiedSlot { secret: key, certificate_digest, subject: tsa_name, .. } =
            self.certified_slot(n, Usage::Postmark)?;
        if digest.is_none() && self.hash.is_none() {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let meter_id = self.meter_id()?;
        let mut change = self.charged(Service::Postmark, &[n])?;
        let regs = &mut change.counters_mut().regs;
        regs.postmark_serial = regs.postmark_serial.checked_add(1).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let serial = regs.postmark_serial;
        let now = change.time();
        let digest = self.message_digest(digest)?;
        // Debit, serial, count and audit record are durable before anything is signed.
        self.commit(change)?;

        let tst_info = Postmark { digest, time: now, serial, meter_id, nonce }
            .tst_info(&tsa_name)
            .map_err(|_| Sw::INTERNAL_ERROR)?;
        let crypto = self.platform.crypto();
        let attributes = postmark::signed_attributes(&crypto.sha256(&[&tst_info]), &certificate_digest)
            .map_err(|_| Sw::INTERNAL_ERROR)?;
        let signature =
            crypto.p256_sign_digest(&key, &crypto.sha256(&[&attributes])).map_err(|_| Sw::INTERNAL_ERROR)?;
        SignedParts::encode(&tst_info, &attributes, &signature).map_err(|_| Sw::INTERNAL_ERROR)
    }

    pub(crate) fn validate_postmark(&mut self, digest: Option<[u8; 32]>, token: &[u8]) -> Result<Vec<u8>, Sw> {
        let parsed = Token::parse(token).map_err(|_| Sw::BAD_DATA)?;
        if digest.is_none() && self.hash.is_none() {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let ca = self.ca_key()?;
        let change = self.charged(Service::PostmarkValidation, &[])?;
        let digest = self.message_digest(digest)?;
        let verdict = postmark::validate(&parsed, &digest, &ca, &EngineCheck(self.platform.crypto()));
        self.commit(change)?;
        Ok(alloc::vec![verdict as u8])
    }
}
