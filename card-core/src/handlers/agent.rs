//! AGENT ISSUE (Fig. 3A): the meter, holding an agent certificate, issues a
//! certificate for a key pair it generates, and delivers the private key
//! encrypted to the receiver.

use super::slots::CertifiedSlot;
use crate::applet::Core;
use crate::ecies;
use crate::platform::{CryptoEngine, Platform};
use alloc::vec::Vec;
use apdu_specs::certs::{AgentRequest, AgentResponse};
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;
use apdu_specs::x509::{self, CertificateProfile, Template, Usage};

/// First byte of agent-issued serials (positive, and distinct from the CA's).
const AGENT_SERIAL_PREFIX: u8 = 0x4D;
/// Largest agent serial counter (48 bits).
const AGENT_SERIAL_MAX: u64 = (1 << 48) - 1;

impl<P: Platform> Core<P> {
    /// Issues a signature or encryption certificate under the agent
    /// certificate of slot `n`, which must be valid now under the current CA
    /// anchor. The validity runs from the card's time to the requested
    /// notAfter, inside the agent certificate's.
    pub(crate) fn agent_issue(&mut self, n: u8, request: &[u8]) -> Result<Vec<u8>, Sw> {
        let request = AgentRequest::parse(request).map_err(|_| Sw::BAD_DATA)?;
        let CertifiedSlot {
            secret: agent_key,
            public: agent_public,
            subject: agent_subject,
            not_after: agent_not_after,
            ..
        } = self.certified_slot(n, Usage::Agent)?;
        if !request.usage.issuable_by_agent() {
            return Err(Sw::USAGE_NOT_ALLOWED);
        }
        if !self.platform.crypto().p256_valid_public(&request.delivery_key) {
            return Err(Sw::BAD_DATA);
        }
        let meter_id = self.meter_id()?;
        let mut change = self.charged(Service::AgentIssuance, &[n])?;
        let not_before = change.time();
        if request.not_after <= not_before || request.not_after > agent_not_after {
            return Err(Sw::BAD_DATA);
        }
        let mut cert_state = self.state.cert;
        cert_state.agent_serial = cert_state
            .agent_serial
            .checked_add(1)
            .filter(|s| *s <= AGENT_SERIAL_MAX)
            .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        change.put_cert_state(cert_state);
        // The debit and the serial are durable before the certificate exists.
        self.commit(change)?;

        let mut serial = Vec::with_capacity(19);
        serial.push(AGENT_SERIAL_PREFIX);
        serial.extend_from_slice(&meter_id);
        serial.extend(cert_state.agent_serial.to_be_bytes().iter().skip(2));
        let crypto = self.platform.crypto();
        let (receiver_secret, receiver_public) = crypto.p256_generate().map_err(|_| Sw::INTERNAL_ERROR)?;
        let subject_key_id = crypto.sha256(&[&receiver_public]);
        let authority_key_id = crypto.sha256(&[&agent_public]);
        let tbs = Template {
            serial: &serial,
            issuer: &agent_subject,
            subject: request.subject,
            not_before,
            not_after: request.not_after,
            public_key: &receiver_public,
            profile: CertificateProfile::Slot(request.usage),
            subject_key_id: x509::key_id(&subject_key_id),
            authority_key_id: x509::key_id(&authority_key_id),
        }
        .tbs()
        .map_err(|_| Sw::INTERNAL_ERROR)?;
        let signature = crypto.p256_sign_digest(&agent_key, &crypto.sha256(&[&tbs])).map_err(|_| Sw::INTERNAL_ERROR)?;
        let certificate = x509::signed_object(&tbs, &signature).map_err(|_| Sw::INTERNAL_ERROR)?;
        let aad = crypto.sha256(&[&certificate]);
        let blob =
            ecies::seal(crypto, &request.delivery_key, &aad, &receiver_secret.0).map_err(|_| Sw::INTERNAL_ERROR)?;
        AgentResponse { certificate: &certificate, encrypted_key: &blob }.encode().map_err(|_| Sw::INTERNAL_ERROR)
    }
}
