//! Line of credit and payment certificates (Figs. 7A, 7B, 8, 9), as signed
//! envelopes ([`crate::signed`]):
//!
//! - [`CreditLine`] (Fig. 7A, 702), signed by a credit-issuer key the card was
//!   personalized with; the card installs it (812) and keeps the remaining credit.
//! - [`PaymentRequest`]: the data of PAY (902).
//! - [`PaymentCertificate`] (Fig. 7B, 722), signed by the meter's device key,
//!   the key the credit line names (708). A merchant verifies it offline with
//!   the credit line; the issuer settles each (meter ID, serial) once.
//!
//! Text fields are UTF-8 with a one-byte length; integers are big-endian.

use crate::codec::{FormatError, Reader, Writer};
use alloc::string::String;
use alloc::vec::Vec;

/// Domain of the credit-issuer-signed line of credit.
pub const DOMAIN_CREDIT_LINE: &[u8] = b"PCMeter line of credit v1";
/// Domain of the meter-signed payment certificate.
pub const DOMAIN_PAYMENT_CERTIFICATE: &[u8] = b"PCMeter payment certificate v1";

/// Longest holder name, merchant and authorized-use text, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest payment reference, in bytes.
pub const MAX_REFERENCE_LEN: usize = 32;

fn put_text(v: &mut Vec<u8>, text: &str) {
    // Encoders take what the parsers accept; callers keep texts within the limits.
    let bytes = text.as_bytes();
    let len = bytes.len().min(usize::from(u8::MAX));
    v.put_u8(len as u8);
    v.put(bytes.get(..len).unwrap_or(&[]));
}

fn read_text(r: &mut Reader<'_>, max: usize, field: &'static str) -> Result<String, FormatError> {
    let len = usize::from(r.u8(field)?);
    if len > max {
        return Err(FormatError::Invalid(field));
    }
    let bytes = r.take(len, field)?;
    core::str::from_utf8(bytes).map(String::from).map_err(|_| FormatError::Invalid(field))
}

/// True when `text` fits a field of `max` bytes.
pub fn text_fits(text: &str, max: usize) -> bool {
    text.len() <= max
}

/// The key identifier of a credit-issuer key: the first 8 bytes of SHA-256 of
/// its uncompressed SEC1 encoding (computed by the caller's engine).
pub type IssuerKeyId = [u8; 8];

/// Fig. 7A, the line-of-credit certificate:
/// `serial 8 | holder name | meter ID 12 | creditor key 65 | issuer key ID 8 |
/// currency 3 | exponent 1 | line 8 | not before 8 | not after 8 | authorized use`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditLine {
    /// Serial number of the certificate (706), unique per issuer.
    pub serial: u64,
    /// Name of the holder receiving credit (704).
    pub holder: String,
    /// The meter the line is for.
    pub meter_id: [u8; 12],
    /// The creditor's public key (708): the meter's device key.
    pub creditor_key: [u8; 65],
    /// Credit issuer identification (710): its key identifier.
    pub issuer_key_id: IssuerKeyId,
    /// ISO 4217 currency of the line (must match the meter's).
    pub currency: [u8; 3],
    /// Minor-unit exponent.
    pub exponent: u8,
    /// Credit line amount (712), minor units.
    pub line: u64,
    /// Validity (714): not before, Unix seconds.
    pub not_before: u64,
    /// Validity (714): not after, Unix seconds.
    pub not_after: u64,
    /// Authorized use (716).
    pub authorized_use: String,
}

impl CreditLine {
    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_u64(self.serial);
        put_text(&mut v, &self.holder);
        v.put(&self.meter_id);
        v.put(&self.creditor_key);
        v.put(&self.issuer_key_id);
        v.put(&self.currency);
        v.put_u8(self.exponent);
        v.put_u64(self.line);
        v.put_u64(self.not_before);
        v.put_u64(self.not_after);
        put_text(&mut v, &self.authorized_use);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            serial: r.u64("serial")?,
            holder: read_text(&mut r, MAX_NAME_LEN, "holder")?,
            meter_id: r.array("meter id")?,
            creditor_key: r.array("creditor key")?,
            issuer_key_id: r.array("issuer key id")?,
            currency: r.array("currency")?,
            exponent: r.u8("exponent")?,
            line: r.u64("line")?,
            not_before: r.u64("not before")?,
            not_after: r.u64("not after")?,
            authorized_use: read_text(&mut r, MAX_NAME_LEN, "authorized use")?,
        };
        r.finish()?;
        if m.not_after < m.not_before {
            return Err(FormatError::Invalid("validity"));
        }
        Ok(m)
    }
}

/// The data of PAY (902): `amount 8 | merchant | reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Amount to pay, minor units (non-zero).
    pub amount: u64,
    /// Merchant name.
    pub merchant: String,
    /// The merchant's order or invoice reference.
    pub reference: String,
}

impl PaymentRequest {
    /// Encodes the data.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_u64(self.amount);
        put_text(&mut v, &self.merchant);
        put_text(&mut v, &self.reference);
        v
    }

    /// Decodes the data.
    pub fn parse(data: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(data);
        let m = Self {
            amount: r.u64("amount")?,
            merchant: read_text(&mut r, MAX_NAME_LEN, "merchant")?,
            reference: read_text(&mut r, MAX_REFERENCE_LEN, "reference")?,
        };
        r.finish()?;
        if m.amount == 0 || m.merchant.is_empty() {
            return Err(FormatError::Invalid("payment request"));
        }
        Ok(m)
    }
}

/// Fig. 7B, the payment certificate:
/// `serial 4 | holder name | meter ID 12 | credit-line digest 32 | amount 8 |
/// credit remaining 8 | currency 3 | exponent 1 | time 8 | merchant | reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCertificate {
    /// Payment serial (726), strictly increasing per meter; the issuer settles
    /// each (meter ID, serial) once.
    pub serial: u32,
    /// Name of the certificate holder (724), from the credit line.
    pub holder: String,
    /// Meter identification (728).
    pub meter_id: [u8; 12],
    /// SHA-256 of the signed line-of-credit envelope (730).
    pub credit_line_digest: [u8; 32],
    /// Amount authorized (731).
    pub amount: u64,
    /// Credit remaining after this payment (732).
    pub credit_remaining: u64,
    /// Currency of the line.
    pub currency: [u8; 3],
    /// Minor-unit exponent.
    pub exponent: u8,
    /// Card time of the payment.
    pub time: u64,
    /// Merchant paid.
    pub merchant: String,
    /// Merchant reference.
    pub reference: String,
}

impl PaymentCertificate {
    /// Longest encoded body (every text at its longest).
    pub const MAX_LEN: usize =
        4 + 1 + MAX_NAME_LEN + 12 + 32 + 8 + 8 + 3 + 1 + 8 + 1 + MAX_NAME_LEN + 1 + MAX_REFERENCE_LEN;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_u32(self.serial);
        put_text(&mut v, &self.holder);
        v.put(&self.meter_id);
        v.put(&self.credit_line_digest);
        v.put_u64(self.amount);
        v.put_u64(self.credit_remaining);
        v.put(&self.currency);
        v.put_u8(self.exponent);
        v.put_u64(self.time);
        put_text(&mut v, &self.merchant);
        put_text(&mut v, &self.reference);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            serial: r.u32("serial")?,
            holder: read_text(&mut r, MAX_NAME_LEN, "holder")?,
            meter_id: r.array("meter id")?,
            credit_line_digest: r.array("credit line digest")?,
            amount: r.u64("amount")?,
            credit_remaining: r.u64("credit remaining")?,
            currency: r.array("currency")?,
            exponent: r.u8("exponent")?,
            time: r.u64("time")?,
            merchant: read_text(&mut r, MAX_NAME_LEN, "merchant")?,
            reference: read_text(&mut r, MAX_REFERENCE_LEN, "reference")?,
        };
        r.finish()?;
        Ok(m)
    }
}

/// The line of credit installed on the card, as GET DATA `DF26` reads it:
/// `line serial 8 | line 8 | credit remaining 8 | not before 8 | not after 8 |
/// last payment serial 4 | SHA-256 of the line envelope 32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditStatus {
    /// Serial of the installed line (706).
    pub line_serial: u64,
    /// Credit line amount (712).
    pub line: u64,
    /// Credit remaining (812, 908).
    pub remaining: u64,
    /// Validity: not before.
    pub not_before: u64,
    /// Validity: not after.
    pub not_after: u64,
    /// The last payment serial issued (0 before the first payment).
    pub payment_serial: u32,
    /// SHA-256 of the signed line-of-credit envelope.
    pub line_digest: [u8; 32],
}

impl CreditStatus {
    /// Encoded length.
    pub const LEN: usize = 8 * 5 + 4 + 32;

    /// Encodes `DF26`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put_u64(self.line_serial);
        v.put_u64(self.line);
        v.put_u64(self.remaining);
        v.put_u64(self.not_before);
        v.put_u64(self.not_after);
        v.put_u32(self.payment_serial);
        v.put(&self.line_digest);
        v
    }

    /// Decodes `DF26`.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let m = Self {
            line_serial: r.u64("line serial")?,
            line: r.u64("line")?,
            remaining: r.u64("credit remaining")?,
            not_before: r.u64("not before")?,
            not_after: r.u64("not after")?,
            payment_serial: r.u32("payment serial")?,
            line_digest: r.array("line digest")?,
        };
        r.finish()?;
        if m.remaining > m.line {
            return Err(FormatError::Invalid("credit remaining above the line"));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn line() -> CreditLine {
        CreditLine {
            serial: 77,
            holder: "Acme Mail Room".to_string(),
            meter_id: [1; 12],
            creditor_key: [4; 65],
            issuer_key_id: [9; 8],
            currency: *b"EUR",
            exponent: 2,
            line: 100_000,
            not_before: 10,
            not_after: 20,
            authorized_use: "goods and services".to_string(),
        }
    }

    #[test]
    fn credit_messages_round_trip_and_refuse_bad_text_lengths_and_validity() {
        let l = line();
        assert_eq!(CreditLine::parse(&l.encode()).unwrap(), l);
        let mut backwards = line();
        backwards.not_after = 5;
        assert!(CreditLine::parse(&backwards.encode()).is_err());
        let req = PaymentRequest { amount: 5, merchant: "Shop".to_string(), reference: "INV-1".to_string() };
        assert_eq!(PaymentRequest::parse(&req.encode()).unwrap(), req);
        let zero = PaymentRequest { amount: 0, ..req.clone() };
        assert!(PaymentRequest::parse(&zero.encode()).is_err());
        let long = PaymentRequest { reference: "x".repeat(MAX_REFERENCE_LEN + 1), ..req.clone() };
        assert!(PaymentRequest::parse(&long.encode()).is_err());
        let mut not_utf8 = req.encode();
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xFF;
        assert!(PaymentRequest::parse(&not_utf8).is_err());
        let cert = PaymentCertificate {
            serial: 1,
            holder: l.holder.clone(),
            meter_id: [1; 12],
            credit_line_digest: [3; 32],
            amount: 5,
            credit_remaining: 99_995,
            currency: *b"EUR",
            exponent: 2,
            time: 15,
            merchant: "Shop".to_string(),
            reference: "INV-1".to_string(),
        };
        assert_eq!(PaymentCertificate::parse(&cert.encode()).unwrap(), cert);
        assert!(PaymentCertificate::parse(&cert.encode()[1..]).is_err());
        let longest = PaymentCertificate {
            holder: "h".repeat(MAX_NAME_LEN),
            merchant: "m".repeat(MAX_NAME_LEN),
            reference: "r".repeat(MAX_REFERENCE_LEN),
            ..cert
        };
        assert_eq!(longest.encode().len(), PaymentCertificate::MAX_LEN);
        let status = CreditStatus {
            line_serial: 77,
            line: 100,
            remaining: 40,
            not_before: 1,
            not_after: 2,
            payment_serial: 3,
            line_digest: [5; 32],
        };
        assert_eq!(status.encode().len(), CreditStatus::LEN);
        assert_eq!(CreditStatus::parse(&status.encode()).unwrap(), status);
        assert!(CreditStatus::parse(&CreditStatus { remaining: 101, ..status }.encode()).is_err());
    }
}
