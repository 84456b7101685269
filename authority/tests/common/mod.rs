//! Shared test helpers: the authority fixture with deterministic keys, the
//! software meter (`testkit::soft_meter`) and the real service binary
//! ([`service`]).
#![allow(dead_code)]

pub mod service;
pub mod tls;

use authority::service::{Authority, Policy};
use authority::{CertDb, CertificateAuthority, SigningKeyPair};
pub use testkit::soft_meter::{NOW, SoftMeter};

/// An authority with deterministic keys and an in-memory (or file) CA database.
pub fn authority(ca_db: Option<&std::path::Path>) -> Authority {
    let db = match ca_db {
        Some(p) => CertDb::open(p).unwrap(),
        None => CertDb::in_memory().unwrap(),
    };
    let ca = CertificateAuthority::new(SigningKeyPair::from_seed("test CA"), "Test CA", NOW - 86_400, db).unwrap();
    Authority::new(
        SigningKeyPair::from_seed("test authority"),
        SigningKeyPair::from_seed("test issuer"),
        ca,
        Policy::default(),
    )
    .unwrap()
}
