//! The rate table (patent item 257, claim 16): postage classes with weight
//! breaks and a flat fee for every other service. It travels inside the
//! signed envelope with domain [`crate::signed::DOMAIN_RATE_TABLE`].
//!
//! Body layout (big-endian):
//!
//! ```text
//! format 1 | version 4 | effective_from 8 (Unix s) | currency 3 (ISO 4217) | exponent 1
//! class_count 1 | { class 1 | break_count 1 | { max_grams 4 | price 4 }* }*
//! fee_count 1 | { service 1 | fee 4 }*
//! ```

use crate::codec::{FormatError, Reader, Writer};
use crate::service::{SERVICE_COUNT, Service};
use alloc::vec::Vec;

/// Body format byte.
pub const RATE_TABLE_FORMAT: u8 = 1;
/// Most postage classes in a table.
pub const MAX_CLASSES: usize = 16;
/// Most weight breaks in one class.
pub const MAX_BREAKS: usize = 16;
/// Highest version (the indicium carries 3 bytes of it).
pub const MAX_VERSION: u32 = 0x00FF_FFFF;
/// Highest postage price (the indicium carries 3 bytes of it).
pub const MAX_POSTAGE: u32 = 0x00FF_FFFF;

/// One weight step: pieces up to `max_grams` cost `price` minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightBreak {
    /// Inclusive upper weight limit in grams.
    pub max_grams: u32,
    /// Price in minor units.
    pub price: u32,
}

/// A postage rate class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateClass {
    /// Class code, as printed in the indicium.
    pub id: u8,
    /// Weight breaks in strictly increasing order.
    pub breaks: Vec<WeightBreak>,
}

/// Why a mail piece could not be priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// The rate class is not in the table.
    #[error("unknown rate class")]
    UnknownClass,
    /// The piece is heavier than the class's last break (or weighs nothing).
    #[error("weight out of range for the class")]
    WeightOutOfRange,
}

/// A decoded rate table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTable {
    /// Monotonically increasing version.
    pub version: u32,
    /// Unix time from which the table applies.
    pub effective_from: u64,
    /// ISO 4217 alphabetic currency code.
    pub currency: [u8; 3],
    /// Minor-unit exponent (2 for cents).
    pub exponent: u8,
    /// Postage classes.
    pub classes: Vec<RateClass>,
    /// Fee per service, indexed by [`Service::index`]; index 0 (postage) is unused.
    pub fees: [u32; SERVICE_COUNT],
}

impl RateTable {
    /// Price of a piece of `grams` in class `class`.
    pub fn postage(&self, class: u8, grams: u32) -> Result<u32, PriceError> {
        let class = self.classes.iter().find(|c| c.id == class).ok_or(PriceError::UnknownClass)?;
        if grams == 0 {
            return Err(PriceError::WeightOutOfRange);
        }
        class.breaks.iter().find(|b| grams <= b.max_grams).map(|b| b.price).ok_or(PriceError::WeightOutOfRange)
    }

    /// Flat fee of a certificate service (0 for postage, which is priced by class).
    pub fn fee(&self, service: Service) -> u32 {
        self.fees.get(service.index()).copied().unwrap_or(0)
    }

    /// Encodes the body.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u8(RATE_TABLE_FORMAT);
        out.put_u32(self.version);
        out.put_u64(self.effective_from);
        out.put(&self.currency);
        out.put_u8(self.exponent);
        out.put_u8(self.classes.len() as u8);
        for class in &self.classes {
            out.put_u8(class.id);
            out.put_u8(class.breaks.len() as u8);
            for b in &class.breaks {
                out.put_u32(b.max_grams);
                out.put_u32(b.price);
            }
        }
        let fees: Vec<Service> = Service::fee_services().collect();
        out.put_u8(fees.len() as u8);
        for s in fees {
            out.put_u8(s.code());
            out.put_u32(self.fee(s));
        }
        out
    }

    /// Decodes and validates a body.
    pub fn parse_body(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        if r.u8("format")? != RATE_TABLE_FORMAT {
            return Err(FormatError::Invalid("rate table format"));
        }
        let version = r.u32("version")?;
        if version == 0 || version > MAX_VERSION {
            return Err(FormatError::Invalid("rate table version"));
        }
        let effective_from = r.u64("effective_from")?;
        let currency: [u8; 3] = r.array("currency")?;
        if !currency.iter().all(u8::is_ascii_uppercase) {
            return Err(FormatError::Invalid("currency"));
        }
        let exponent = r.u8("exponent")?;
        if exponent > 4 {
            return Err(FormatError::Invalid("exponent"));
        }
        let class_count = usize::from(r.u8("class_count")?);
        if class_count == 0 || class_count > MAX_CLASSES {
            return Err(FormatError::Invalid("class_count"));
        }
        let mut classes: Vec<RateClass> = Vec::with_capacity(class_count);
        for _ in 0..class_count {
            let id = r.u8("class")?;
            if classes.iter().any(|c| c.id == id) {
                return Err(FormatError::Invalid("duplicate class"));
            }
            let n = usize::from(r.u8("break_count")?);
            if n == 0 || n > MAX_BREAKS {
                return Err(FormatError::Invalid("break_count"));
            }
            let mut breaks: Vec<WeightBreak> = Vec::with_capacity(n);
            for _ in 0..n {
                let b = WeightBreak { max_grams: r.u32("max_grams")?, price: r.u32("price")? };
                let increasing = breaks.last().is_none_or(|prev| b.max_grams > prev.max_grams);
                if !increasing || b.max_grams == 0 || b.price == 0 || b.price > MAX_POSTAGE {
                    return Err(FormatError::Invalid("weight break"));
                }
                breaks.push(b);
            }
            classes.push(RateClass { id, breaks });
        }
        let fee_count = usize::from(r.u8("fee_count")?);
        let mut fees = [0u32; SERVICE_COUNT];
        let mut seen = [false; SERVICE_COUNT];
        for _ in 0..fee_count {
            let service = Service::from_code(r.u8("service")?)?;
            let fee = r.u32("fee")?;
            let idx = service.index();
            if service == Service::Postage || seen.get(idx).copied().unwrap_or(true) {
                return Err(FormatError::Invalid("fee list"));
            }
            if let (Some(s), Some(f)) = (seen.get_mut(idx), fees.get_mut(idx)) {
                *s = true;
                *f = fee;
            }
        }
        if Service::fee_services().any(|s| !seen.get(s.index()).copied().unwrap_or(false)) {
            return Err(FormatError::Missing("fee for a service"));
        }
        r.finish()?;
        Ok(Self { version, effective_from, currency, exponent, classes, fees })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RateTable {
        let mut fees = [0u32; SERVICE_COUNT];
        for s in Service::fee_services() {
            fees[s.index()] = 10 + u32::from(s.code());
        }
        RateTable {
            version: 3,
            effective_from: 1_700_000_000,
            currency: *b"USD",
            exponent: 2,
            classes: alloc::vec![RateClass {
                id: 1,
                breaks: alloc::vec![WeightBreak { max_grams: 28, price: 73 }, WeightBreak { max_grams: 56, price: 97 }],
            }],
            fees,
        }
    }

    #[test]
    fn round_trip_and_pricing() {
        let t = sample();
        let parsed = RateTable::parse_body(&t.encode_body()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(t.postage(1, 28), Ok(73));
        assert_eq!(t.postage(1, 29), Ok(97));
        assert_eq!(t.postage(1, 57), Err(PriceError::WeightOutOfRange));
        assert_eq!(t.postage(1, 0), Err(PriceError::WeightOutOfRange));
        assert_eq!(t.postage(2, 10), Err(PriceError::UnknownClass));
    }

    #[test]
    fn missing_fee_is_refused() {
        let body = sample().encode_body();
        // Drop the last fee entry and fix the count.
        let mut cut = body[..body.len() - 5].to_vec();
        let count_at = cut.len() - 5 * (Service::fee_services().count() - 1) - 1;
        cut[count_at] -= 1;
        assert_eq!(RateTable::parse_body(&cut), Err(FormatError::Missing("fee for a service")));
    }
}
