//! A simulated meter in process with a certified postmark slot and its CA,
//! on the system clock: what the TSA tests stamp with in process.

use crate::simulated::{self, AuthorityKeys, FixtureError, Options, SimulatedMeter};
use apdu_specs::x509::Usage;
use authority::certdb::{DbError, RegistryError};
use authority::{CertDb, CertificateAuthority, CertifyError, certify_slot};
use card_sim::SimClock;

/// The slot the simulated meter's postmark key is made in.
pub const POSTMARK_SLOT: u8 = 0;

/// Why the simulated meter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SimTsaError {
    /// The system clock is before 1970.
    #[error("the system clock is unusable")]
    Clock,
    /// The meter could not be made.
    #[error("simulated meter: {0}")]
    Fixture(#[from] FixtureError),
    /// The CA's database.
    #[error("CA database: {0}")]
    Db(#[from] DbError),
    /// The CA's root.
    #[error("CA root certificate: {0}")]
    Root(#[from] apdu_specs::FormatError),
    /// The meter's registration.
    #[error("meter registration: {0}")]
    Registry(#[from] RegistryError),
    /// The slot's certification.
    #[error("postmark slot certification: {0}")]
    Certify(#[from] CertifyError),
}

/// A meter whose [`POSTMARK_SLOT`] holds a key certified by `ca` (PIN not verified).
pub struct CertifiedSimMeter {
    /// The meter and its PIN.
    pub meter: SimulatedMeter,
    /// The CA that certified the postmark key (its root is the trust anchor).
    pub ca: CertificateAuthority,
    /// The postmark certificate (DER).
    pub certificate: Vec<u8>,
}

/// Personalizes a simulated meter with `credit` under `keys`, registers it
/// with a CA on `keys.ca` and certifies a postmark key in [`POSTMARK_SLOT`].
pub fn certified_sim_meter(keys: &AuthorityKeys, credit: u64) -> Result<CertifiedSimMeter, SimTsaError> {
    let now = SimClock::System.now().ok_or(SimTsaError::Clock)?;
    let opts = Options { clock: SimClock::System, ..Options::at(now, credit) };
    let mut meter = simulated::operational(keys, &opts)?;
    let mut ca = CertificateAuthority::new(keys.ca.clone(), "PCMeter Simulated CA", now, CertDb::in_memory()?)?;
    let meter_id = meter
        .meter
        .fci()
        .and_then(|f| f.meter_id)
        .ok_or(FixtureError::Profile(apdu_specs::FormatError::Missing("meter ID in the FCI")))?;
    let device = meter.meter.run(|tx| tx.public_keys()).map_err(FixtureError::from)?.device;
    ca.register_meter(&meter_id, &device, now)?;
    let pin = meter.pin.clone();
    let certificate = meter
        .meter
        .with_session(|s| {
            s.verify_pin(&pin)?;
            Ok(certify_slot(s, &mut ca, POSTMARK_SLOT, Usage::Postmark, now))
        })
        .map_err(FixtureError::from)??;
    Ok(CertifiedSimMeter { meter, ca, certificate })
}
