//! Key slots: GENERATE KEY PAIR, READ SLOT, CERTIFICATE REQUEST (Fig. 5) and
//! INSTALL CERTIFICATE, plus the slot lookups the other services share.

use crate::applet::{Core, StateChange};
use crate::platform::{CryptoEngine, EngineCheck, Platform, PublicKey, SecretKey, Store, StoreError};
use crate::state::{CertificateFacts, ResidentSlot, Slot, slot_record};
use alloc::vec::Vec;
use apdu_specs::certs::{CHALLENGE_LEN, CertificateRequest, DOMAIN_CERTIFICATE_REQUEST, SlotInfo, SlotState};
use apdu_specs::csr;
use apdu_specs::path::{self, PathFault};
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;
use apdu_specs::x509::{self, Certificate, CertificateFault, Usage};

/// Internal error after the debit committed (crypto engine failure).
const INTERNAL: Sw = Sw::INTERNAL_ERROR;

/// A certified slot whose certificate was checked for use now.
pub(crate) struct CertifiedSlot {
    /// The slot's private key.
    pub(crate) secret: SecretKey,
    /// The slot's public key.
    pub(crate) public: PublicKey,
    /// SHA-256 of the installed certificate (a postmark's ESSCertIDv2).
    pub(crate) certificate_digest: [u8; 32],
    /// Its subject Name, as encoded (a postmark names its TSA with it; an
    /// agent, the issuer of what it issues).
    pub(crate) subject: Vec<u8>,
    /// Its notAfter, Unix seconds (an agent issues nothing valid longer).
    pub(crate) not_after: u64,
}

impl<P: Platform> Core<P> {
    pub(crate) fn slot(&self, n: u8) -> Result<&ResidentSlot, Sw> {
        self.state.slots.get(usize::from(n)).ok_or(Sw::WRONG_P1P2)
    }

    /// The full record of slot `n`, certificate included, read from the store
    /// (RAM keeps no certificate between commands).
    pub(crate) fn stored_slot(&mut self, n: u8) -> Result<Slot, StoreError> {
        match self.platform.store().read(slot_record(n))? {
            Some(bytes) if !bytes.is_empty() => Slot::decode(&bytes).map_err(|_| StoreError::Corrupt),
            _ => Ok(Slot::default()),
        }
    }

    /// The certificate installed in slot `n`, read from the store.
    fn slot_certificate(&mut self, n: u8) -> Result<Option<Vec<u8>>, Sw> {
        let mut slot = self.stored_slot(n).map_err(|_| Sw::MEMORY_FAILURE)?;
        Ok(slot.certificate.take())
    }

    /// A slot with a live key of `usage`; `certified` also demands its certificate.
    /// Refusals in order: empty (6A88), another usage (9406), revoked (9405),
    /// no certificate when one is needed (6A88).
    pub(crate) fn usable_slot(&self, n: u8, usage: Usage, certified: bool) -> Result<(SecretKey, PublicKey), Sw> {
        let slot = self.slot(n)?;
        if slot.state == SlotState::Empty {
            return Err(Sw::NOT_FOUND);
        }
        if slot.usage != Some(usage) {
            return Err(Sw::USAGE_NOT_ALLOWED);
        }
        match slot.state {
            SlotState::Revoked => return Err(Sw::KEY_REVOKED),
            SlotState::Key if certified => return Err(Sw::NOT_FOUND),
            _ => {}
        }
        match (&slot.secret, &slot.public) {
            (Some(s), Some(p)) => Ok((s.clone(), *p)),
            _ => Err(Sw::NOT_FOUND),
        }
    }

    /// A certified slot of `usage` whose certificate may serve now (checked
    /// before anything is charged). Refusals after [`Self::usable_slot`]'s:
    /// not under the current CA anchor (9402), outside its validity at the
    /// card time (9404), not the usage's profile (9406). While the anchor is
    /// the one that verified the certificate at install, the check uses the
    /// facts RAM keeps of it; after an anchor change it reads, parses and
    /// verifies the stored certificate.
    pub(crate) fn certified_slot(&mut self, n: u8, usage: Usage) -> Result<CertifiedSlot, Sw> {
        let (secret, public) = self.usable_slot(n, usage, true)?;
        let slot = self.slot(n)?;
        let facts = match &slot.certificate {
            Some(facts) if slot.verified_under == Some(self.state.cert.anchor_version) => facts.clone(),
            _ => self.checked_certificate_facts(n, usage)?,
        };
        if !facts.valid_at(self.now()?) {
            return Err(Sw::CERT_OUTSIDE_VALIDITY);
        }
        if !facts.usage_allowed {
            return Err(Sw::USAGE_NOT_ALLOWED);
        }
        Ok(CertifiedSlot {
            secret,
            public,
            certificate_digest: facts.digest,
            not_after: facts.not_after,
            subject: facts.subject,
        })
    }

    /// The facts of slot `n`'s stored certificate once it verifies under the
    /// current CA anchor (9402 when it does not; 6A88 when absent or unreadable).
    fn checked_certificate_facts(&mut self, n: u8, usage: Usage) -> Result<CertificateFacts, Sw> {
        let certificate = self.slot_certificate(n)?.ok_or(Sw::NOT_FOUND)?;
        let cert = Certificate::parse(&certificate).map_err(|_| Sw::NOT_FOUND)?;
        let ca = self.ca_key()?;
        let crypto = self.platform.crypto();
        if !crypto.p256_verify_digest(&ca, &crypto.sha256(&[cert.tbs]), &cert.signature) {
            return Err(Sw::CERT_NOT_FROM_CA);
        }
        Ok(CertificateFacts::of(cert, usage, |der| crypto.sha256(&[der])))
    }

    /// The CA key the card trusts: the latest anchor update, else the personalized one.
    pub(crate) fn ca_key(&self) -> Result<PublicKey, Sw> {
        match (self.state.cert.ca_key, &self.state.config) {
            (Some(k), _) => Ok(k),
            (None, Some(c)) => Ok(c.ca_key),
            (None, None) => Err(Sw::CONDITIONS_NOT_SATISFIED),
        }
    }

    pub(crate) fn meter_id(&self) -> Result<[u8; 12], Sw> {
        self.state.config.as_ref().map(|c| c.meter_id).ok_or(Sw::CONDITIONS_NOT_SATISFIED)
    }

    /// Commits `slot` as slot `n` with a charged change.
    fn commit_slot_with(&mut self, n: u8, slot: Slot, mut change: StateChange) -> Result<(), Sw> {
        change.put_slot(n, slot);
        self.commit(change)
    }

    pub(crate) fn generate_key_pair(&mut self, n: u8, usage: Usage) -> Result<Vec<u8>, Sw> {
        if self.slot(n)?.state == SlotState::Certified {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let change = self.charged(Service::KeyGeneration, &[n, usage as u8])?;
        let (secret, public) = self.platform.crypto().p256_generate().map_err(|_| INTERNAL)?;
        let slot = Slot {
            state: SlotState::Key,
            usage: Some(usage),
            secret: Some(secret),
            public: Some(public),
            certificate: None,
            verified_under: None,
        };
        self.commit_slot_with(n, slot, change)?;
        Ok(public.to_vec())
    }

    pub(crate) fn read_slot(&mut self, n: u8) -> Result<Vec<u8>, Sw> {
        let (state, usage, public_key) = {
            let slot = self.slot(n)?;
            (slot.state, slot.usage, slot.public)
        };
        let certificate = self.slot_certificate(n)?;
        Ok(SlotInfo { slot: n, state, usage, public_key, certificate }.encode())
    }

    pub(crate) fn certificate_request(&mut self, n: u8, challenge: [u8; CHALLENGE_LEN]) -> Result<Vec<u8>, Sw> {
        let slot = self.slot(n)?;
        let usage = slot.usage.ok_or(Sw::NOT_FOUND)?;
        let (key, public) = self.usable_slot(n, usage, false)?;
        let meter_id = self.meter_id()?;
        let device = self.device_key()?;
        let change = self.charged(Service::CertificateRequest, &[n])?;
        let now = change.time();
        self.commit(change)?;

        let subject = apdu_specs::certs::meter_subject(&meter_id, n, usage).map_err(|_| INTERNAL)?;
        let info = csr::request_info(&subject, &public, usage).map_err(|_| INTERNAL)?;
        let crypto = self.platform.crypto();
        let pop = crypto.p256_sign_digest(&key, &crypto.sha256(&[&info])).map_err(|_| INTERNAL)?;
        let request = x509::signed_object(&info, &pop).map_err(|_| INTERNAL)?;
        let body = CertificateRequest { meter_id, slot: n, usage, time: now, challenge, csr: &request }.encode();
        self.device_signed(&device, DOMAIN_CERTIFICATE_REQUEST, &body)
    }

    pub(crate) fn install_certificate(&mut self, n: u8, der: &[u8]) -> Result<Vec<u8>, Sw> {
        let cert = Certificate::parse(der).map_err(|_| Sw::BAD_DATA)?;
        let slot = self.slot(n)?;
        let usage = slot.usage.ok_or(Sw::NOT_FOUND)?;
        let (_, public) = self.usable_slot(n, usage, false)?;
        let ca = self.ca_key()?;
        let now = self.now()?;
        match cert.check(&ca, now, &EngineCheck(self.platform.crypto())) {
            Err(CertificateFault::NotSignedByIssuer) => return Err(Sw::CERT_NOT_FROM_CA),
            _ if cert.public_key != public => return Err(Sw::CERT_KEY_MISMATCH),
            Err(CertificateFault::OutsideValidity) => return Err(Sw::CERT_OUTSIDE_VALIDITY),
            Ok(()) => {}
        }
        if !usage.allowed_by(&cert.extensions) {
            return Err(Sw::USAGE_NOT_ALLOWED);
        }
        let mut slot = self.slot(n)?.with_certificate(Some(der.to_vec()));
        slot.state = SlotState::Certified;
        slot.verified_under = Some(self.state.cert.anchor_version);
        let change = self.charged(Service::CertificateInstall, &[n])?;
        self.commit_slot_with(n, slot, change)?;
        Ok(Vec::new())
    }

    pub(crate) fn verify_certificate(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        use apdu_specs::certs::CertificateVerdict as V;
        let certificates = path::parse_path(data).map_err(|_| Sw::BAD_DATA)?;
        let ca = self.ca_key()?;
        let change = self.charged(Service::CertificateVerification, &[])?;
        let verdict = match path::verify_path(&ca, &certificates, change.time(), &EngineCheck(self.platform.crypto())) {
            Ok(()) => V::Valid,
            Err(PathFault::NotSignedByIssuer) => V::NotSignedByCa,
            Err(PathFault::OutsideValidity) => V::OutsideValidity,
            Err(PathFault::IssuerNotAnAgent | PathFault::PathTooLong | PathFault::UsageNotAllowed) => V::PathNotAllowed,
        };
        self.commit(change)?;
        Ok(alloc::vec![verdict as u8])
    }

    pub(crate) fn update_ca_anchor(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        use apdu_specs::certs::{AnchorUpdate, DOMAIN_CA_ANCHOR};
        let authority = self.state.config.as_ref().map(|c| c.authority_key).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let body = self.verified_body(data, DOMAIN_CA_ANCHOR, &authority)?;
        let update = AnchorUpdate::parse(body).map_err(|_| Sw::BAD_DATA)?;
        if update.meter_id != self.meter_id()? || !self.platform.crypto().p256_valid_public(&update.ca_key) {
            return Err(Sw::BAD_DATA);
        }
        if update.version <= self.state.cert.anchor_version {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let mut cert = self.state.cert;
        cert.anchor_version = update.version;
        cert.ca_key = Some(update.ca_key);
        let mut change = self.change(self.display_time());
        change.put_cert_state(cert);
        self.commit(change)?;
        Ok(Vec::new())
    }
}
