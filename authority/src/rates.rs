//! Building and signing rate tables.

use crate::keys::SigningKeyPair;
use apdu_specs::rates::{RateClass, RateTable, WeightBreak};
use apdu_specs::service::{SERVICE_COUNT, Service};
use apdu_specs::signed::{self, DOMAIN_RATE_TABLE};
use serde::{Deserialize, Serialize};

/// A rate table as an operator writes it (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RateTableSpec {
    /// Version.
    pub version: u32,
    /// Effective from (Unix seconds).
    pub effective_from: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor-unit exponent.
    pub exponent: u8,
    /// Classes: id and `[max_grams, price]` steps.
    pub classes: Vec<(u8, Vec<(u32, u32)>)>,
    /// Fees by service name (see `Service::name`).
    pub fees: Vec<(String, u32)>,
}

impl RateTableSpec {
    /// Converts to the wire table, validating it by an encode/parse round trip.
    pub fn to_table(&self) -> Result<RateTable, apdu_specs::FormatError> {
        let currency: [u8; 3] =
            self.currency.as_bytes().try_into().map_err(|_| apdu_specs::FormatError::Invalid("currency"))?;
        let mut fees = [0u32; SERVICE_COUNT];
        for (name, fee) in &self.fees {
            let s = Service::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or(apdu_specs::FormatError::Invalid("service name"))?;
            fees[s.index()] = *fee;
        }
        let table = RateTable {
            version: self.version,
            effective_from: self.effective_from,
            currency,
            exponent: self.exponent,
            classes: self
                .classes
                .iter()
                .map(|(id, steps)| RateClass {
                    id: *id,
                    breaks: steps.iter().map(|(g, p)| WeightBreak { max_grams: *g, price: *p }).collect(),
                })
                .collect(),
            fees,
        };
        RateTable::parse_body(&table.encode_body())
    }
}

/// The default table: three postage classes and a fee for every service (USD cents).
pub fn default_rate_table(version: u32, effective_from: u64) -> RateTable {
    let class = |id: u8, steps: &[(u32, u32)]| RateClass {
        id,
        breaks: steps.iter().map(|(g, p)| WeightBreak { max_grams: *g, price: *p }).collect(),
    };
    let mut fees = [0u32; SERVICE_COUNT];
    for (s, fee) in [
        (Service::KeyGeneration, 50),
        (Service::CertificateRequest, 200),
        (Service::CertificateInstall, 100),
        (Service::Postmark, 25),
        (Service::PostmarkValidation, 10),
        (Service::CertificateVerification, 10),
        (Service::AgentIssuance, 500),
        (Service::Revocation, 100),
        (Service::PaymentCertificate, 15),
        (Service::SignData, 5),
        (Service::Decrypt, 5),
    ] {
        fees[s.index()] = fee;
    }
    RateTable {
        version,
        effective_from,
        currency: *b"USD",
        exponent: 2,
        classes: vec![
            class(1, &[(28, 73), (56, 97), (85, 121), (100, 145)]),
            class(2, &[(28, 150), (56, 174), (85, 198), (113, 222), (340, 390)]),
            class(3, &[(113, 500), (227, 650), (454, 800), (907, 1100), (2268, 1600)]),
        ],
        fees,
    }
}

/// Signs a table with the authority key; returns the envelope UPDATE RATES takes.
pub fn sign_rate_table(authority: &SigningKeyPair, table: &RateTable) -> Vec<u8> {
    let body = table.encode_body();
    let sig = authority.sign_message(DOMAIN_RATE_TABLE, &body);
    signed::encode(&body, &sig)
}
