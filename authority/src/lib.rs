//! # PCMeter authority
//!
//! The remote facility's offline tools: authority and issuer key pairs,
//! signed rate tables, signed personalization profiles and the HMAC master
//! key for the MAC indicium variant. Later: CA, recharge, inspection,
//! revocation and settlement.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod keys;
pub mod mac;
pub mod profile;
pub mod rates;

pub use keys::{KeyError, SigningKeyPair};
pub use mac::MasterMacKey;
pub use profile::ProfileBuilder;
pub use rates::{RateTableSpec, default_rate_table, sign_rate_table};
