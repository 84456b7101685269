//! # PCMeter authority
//!
//! The remote facility's offline tools: authority and issuer key pairs,
//! signed rate tables, signed personalization profiles and the HMAC master
//! key for the MAC indicium variant; the certificate authority with its
//! SQLite certificate database, revocation and CRL; certifying a meter slot
//! over a host session; authority orders (CA anchor update, revocation).
//! The service (`service`, binary `pcmeter-authority`) on its store (`store`):
//! recharge, inspection, lock orders, rate tables, revocation with the CRL,
//! line of credit and settlement.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ca;
pub mod certdb;
pub mod certify;
pub mod keys;
pub mod mac;
pub mod orders;
pub mod profile;
pub mod rates;
pub mod service;
pub mod store;

pub use ca::{CertificateAuthority, CrlError, IssueError, RevokeError};
pub use certdb::CertDb;
pub use certify::{CertifyError, certify_slot};
pub use keys::{KeyError, SigningKeyPair};
pub use mac::MasterMacKey;
pub use profile::ProfileBuilder;
pub use rates::{RateTableSpec, default_rate_table, sign_rate_table};
