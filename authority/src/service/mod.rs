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
pub mod tls;

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

/// The last CRL made, when, and how many revocations it lists.
#[derive(Debug)]
struct CachedCrl {
    der: Vec<u8>,
    this_update: u64,
    revoked: usize,
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
    /// The current CRL, regenerated when it is half way to its nextUpdate or
    /// the certificate database holds a revocation it does not list.
    crl: Mutex<CachedCrl>,
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
        let now = clock::unix_now();
        let revoked = ca.db().revoked().map_err(crate::ca::CrlError::from)?.len();
        let crl = CachedCrl { der: ca.crl(now, policy.crl_lifetime)?, this_update: now, revoked };
        Ok(Self { key, issuer, ca: Mutex::new(ca), crl: Mutex::new(crl), policy })
    }

    /// Runs `f` on the CA (a poisoned lock is taken over: the CA keeps no in-memory state between calls).
    pub fn with_ca<T>(&self, f: impl FnOnce(&mut CertificateAuthority) -> T) -> T {
        let mut ca = self.ca.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut ca)
    }

    /// The current CRL: the cached one while it is in the first half of its
    /// lifetime and lists every revocation in the certificate database (also
    /// those the operator commands wrote from another process), else a new one.
    pub fn crl(&self) -> Vec<u8> {
        let now = clock::unix_now();
        let revoked = self.with_ca(|ca| ca.db().revoked().map(|r| r.len()));
        {
            let cached = self.crl.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let fresh = now < cached.this_update.saturating_add(self.policy.crl_lifetime / 2);
            if fresh && revoked.as_ref().is_ok_and(|n| *n == cached.revoked) {
                return cached.der.clone();
            }
        }
        match self.regenerate_crl(now) {
            Ok(der) => der,
            Err(e) => {
                tracing::error!(error = %e, "CRL not regenerated; serving the last one");
                self.crl.lock().unwrap_or_else(std::sync::PoisonError::into_inner).der.clone()
            }
        }
    }

    /// Regenerates the CRL from the certificate database.
    pub fn regenerate_crl(&self, now: u64) -> Result<Vec<u8>, crate::ca::CrlError> {
        let (der, revoked) = self.with_ca(|ca| -> Result<_, crate::ca::CrlError> {
            let revoked = ca.db().revoked()?.len();
            Ok((ca.crl(now, self.policy.crl_lifetime)?, revoked))
        })?;
        *self.crl.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            CachedCrl { der: der.clone(), this_update: now, revoked };
        Ok(der)
    }

    /// The issuer key identifier (first 8 bytes of SHA-256 of its public key).
    pub fn issuer_key_id(&self) -> [u8; 8] {
        let digest = host_driver::signature::P256Verifier.sha256(&[&self.issuer.public()]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }
}
