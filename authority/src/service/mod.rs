//! The authority as a service: the domain operations (each one store
//! transaction), the storage threads, the HTTP API and its configuration.

pub mod clock;
pub mod config;
pub mod credit;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod inspection;
pub mod locks;
pub mod meters;
pub mod pool;
pub mod rates;
pub mod recharge;
pub mod revocation;

use crate::ca::CertificateAuthority;
use crate::keys::SigningKeyPair;
use std::sync::Mutex;

/// What the service decides by rule rather than by data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Seconds from an inspection (or recharge) to the next deadline (90 days by default).
    pub inspection_period: u64,
    /// The largest line of credit granted (minor units).
    pub max_credit_line: u64,
    /// How long a line of credit is valid, seconds.
    pub credit_validity: u64,
    /// CRL lifetime (nextUpdate − thisUpdate), seconds.
    pub crl_lifetime: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            inspection_period: 90 * 86_400,
            max_credit_line: 100_000,
            credit_validity: 365 * 86_400,
            crl_lifetime: 7 * 86_400,
        }
    }
}

/// The authority's keys and CA, shared by every request.
#[derive(Debug)]
pub struct Authority {
    /// Signs S2, acknowledgements, lock orders, rate tables, revocation orders.
    pub key: SigningKeyPair,
    /// The credit issuer: signs lines of credit.
    pub issuer: SigningKeyPair,
    /// The certificate authority with its certificate database.
    pub ca: Mutex<CertificateAuthority>,
    /// The current CRL (DER), regenerated on each revocation.
    pub crl: Mutex<Vec<u8>>,
    /// Rules.
    pub policy: Policy,
}

impl Authority {
    /// An authority; issues its first CRL.
    pub fn new(
        key: SigningKeyPair,
        issuer: SigningKeyPair,
        mut ca: CertificateAuthority,
        policy: Policy,
    ) -> Result<Self, crate::ca::CrlError> {
        let crl = ca.crl(clock::unix_now(), policy.crl_lifetime)?;
        Ok(Self { key, issuer, ca: Mutex::new(ca), crl: Mutex::new(crl), policy })
    }

    /// Runs `f` on the CA (a poisoned lock is taken over: the CA keeps no in-memory state between calls).
    pub fn with_ca<T>(&self, f: impl FnOnce(&mut CertificateAuthority) -> T) -> T {
        let mut ca = self.ca.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut ca)
    }

    /// The current CRL.
    pub fn crl(&self) -> Vec<u8> {
        self.crl.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Regenerates the CRL from the certificate database.
    pub fn regenerate_crl(&self, now: u64) -> Result<Vec<u8>, crate::ca::CrlError> {
        let crl = self.with_ca(|ca| ca.crl(now, self.policy.crl_lifetime))?;
        *self.crl.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = crl.clone();
        Ok(crl)
    }

    /// The issuer key identifier (first 8 bytes of SHA-256 of its public key).
    pub fn issuer_key_id(&self) -> [u8; 8] {
        let digest = host_driver::signature::P256Verifier.sha256(&[&self.issuer.public()]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    /// A signed envelope of `body` under `domain` with the authority key.
    pub fn sign(&self, domain: &[u8], body: &[u8]) -> Vec<u8> {
        apdu_specs::signed::encode(body, &self.key.sign_message(domain, body))
    }
}
