//! Remote recharge messages (claims 15, 30; DESIGN §5), in three signed
//! envelopes ([`crate::signed`]):
//!
//! 1. S1, [`RechargeRequest`], signed by the device key: the card asks for
//!    `amount` as recharge number `sequence` (its NT + 1), with a fresh nonce
//!    and its registers.
//! 2. S2, [`RechargeAuthorization`], signed by the authority key: the same
//!    meter, sequence, nonce and amount, the control total after the credit,
//!    the next inspection deadline and the authority's time.
//! 3. S3, [`RechargeReceipt`], signed by the device key: the registers after
//!    the credit, kept by the card and fetched again by sequence.
//!
//! All integers are big-endian; every layout is fixed length.

use crate::codec::{FormatError, Reader, Writer};
use alloc::vec::Vec;

/// Domain of S1.
pub const DOMAIN_RECHARGE_REQUEST: &[u8] = b"PCMeter recharge request v1";
/// Domain of S2.
pub const DOMAIN_RECHARGE_AUTHORIZATION: &[u8] = b"PCMeter recharge authorization v1";
/// Domain of S3.
pub const DOMAIN_RECHARGE_RECEIPT: &[u8] = b"PCMeter recharge receipt v1";

/// Length of the card's recharge nonce.
pub const NONCE_LEN: usize = 16;

/// The four money registers as a recharge message carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MoneyRegisters {
    /// AR_p.
    pub ar_postage: u64,
    /// AR_c.
    pub ar_certificates: u64,
    /// DR.
    pub descending: u64,
    /// CT.
    pub control_total: u64,
}

impl MoneyRegisters {
    /// The money registers of a full register set.
    pub fn of(r: &crate::registers::Registers) -> Self {
        Self {
            ar_postage: r.ar_postage,
            ar_certificates: r.ar_certificates,
            descending: r.descending,
            control_total: r.control_total,
        }
    }

    /// True when AR_p + AR_c + DR == CT (without overflow).
    pub fn balanced(&self) -> bool {
        self.ar_postage.checked_add(self.ar_certificates).and_then(|s| s.checked_add(self.descending))
            == Some(self.control_total)
    }

    fn put(&self, v: &mut Vec<u8>) {
        v.put_u64(self.ar_postage);
        v.put_u64(self.ar_certificates);
        v.put_u64(self.descending);
        v.put_u64(self.control_total);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        Ok(Self {
            ar_postage: r.u64("AR_p")?,
            ar_certificates: r.u64("AR_c")?,
            descending: r.u64("DR")?,
            control_total: r.u64("CT")?,
        })
    }
}

/// S1: `meter ID 12 | sequence 4 | nonce 16 | AR_p 8 | AR_c 8 | DR 8 | CT 8 | amount 8 | time 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechargeRequest {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// The recharge sequence this recharge takes: the card's NT + 1.
    pub sequence: u32,
    /// Fresh card nonce; only the latest request's nonce is accepted back.
    pub nonce: [u8; NONCE_LEN],
    /// Registers before the recharge.
    pub registers: MoneyRegisters,
    /// Amount asked for, in minor units.
    pub amount: u64,
    /// Card time.
    pub time: u64,
}

impl RechargeRequest {
    /// Encoded length.
    pub const LEN: usize = 12 + 4 + NONCE_LEN + 32 + 8 + 8;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put(&self.meter_id);
        v.put_u32(self.sequence);
        v.put(&self.nonce);
        self.registers.put(&mut v);
        v.put_u64(self.amount);
        v.put_u64(self.time);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            meter_id: r.array("meter id")?,
            sequence: r.u32("sequence")?,
            nonce: r.array("nonce")?,
            registers: MoneyRegisters::read(&mut r)?,
            amount: r.u64("amount")?,
            time: r.u64("time")?,
        };
        r.finish()?;
        Ok(m)
    }
}

/// S2: `meter ID 12 | sequence 4 | nonce 16 | amount 8 | new CT 8 | next deadline 8 | time 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechargeAuthorization {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// The sequence of the request it answers.
    pub sequence: u32,
    /// The nonce of the request it answers.
    pub nonce: [u8; NONCE_LEN],
    /// Amount credited.
    pub amount: u64,
    /// CT after the credit (the request's CT + amount).
    pub new_control_total: u64,
    /// The next inspection deadline (a recharge counts as an inspection).
    pub next_deadline: u64,
    /// Authority time; the card may take it as a clock floor.
    pub time: u64,
}

impl RechargeAuthorization {
    /// Encoded length.
    pub const LEN: usize = 12 + 4 + NONCE_LEN + 8 * 4;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put(&self.meter_id);
        v.put_u32(self.sequence);
        v.put(&self.nonce);
        v.put_u64(self.amount);
        v.put_u64(self.new_control_total);
        v.put_u64(self.next_deadline);
        v.put_u64(self.time);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            meter_id: r.array("meter id")?,
            sequence: r.u32("sequence")?,
            nonce: r.array("nonce")?,
            amount: r.u64("amount")?,
            new_control_total: r.u64("new CT")?,
            next_deadline: r.u64("next deadline")?,
            time: r.u64("time")?,
        };
        r.finish()?;
        Ok(m)
    }
}

/// S3: `meter ID 12 | sequence 4 | AR_p 8 | AR_c 8 | DR 8 | CT 8 | amount 8 | time 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechargeReceipt {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// The recharge sequence credited (the card's NT after the credit).
    pub sequence: u32,
    /// Registers right after the credit.
    pub registers: MoneyRegisters,
    /// Amount credited.
    pub amount: u64,
    /// Card time of the credit.
    pub time: u64,
}

impl RechargeReceipt {
    /// Encoded length.
    pub const LEN: usize = 12 + 4 + 32 + 8 + 8;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put(&self.meter_id);
        v.put_u32(self.sequence);
        self.registers.put(&mut v);
        v.put_u64(self.amount);
        v.put_u64(self.time);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            meter_id: r.array("meter id")?,
            sequence: r.u32("sequence")?,
            registers: MoneyRegisters::read(&mut r)?,
            amount: r.u64("amount")?,
            time: r.u64("time")?,
        };
        r.finish()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recharge_message_round_trips_at_its_fixed_length_and_refuses_a_short_body() {
        let registers = MoneyRegisters { ar_postage: 1, ar_certificates: 2, descending: 3, control_total: 6 };
        assert!(registers.balanced());
        let s1 = RechargeRequest { meter_id: [1; 12], sequence: 3, nonce: [7; 16], registers, amount: 500, time: 9 };
        let s2 = RechargeAuthorization {
            meter_id: [1; 12],
            sequence: 3,
            nonce: [7; 16],
            amount: 500,
            new_control_total: 506,
            next_deadline: 100,
            time: 10,
        };
        let s3 = RechargeReceipt { meter_id: [1; 12], sequence: 3, registers, amount: 500, time: 11 };
        assert_eq!(s1.encode().len(), RechargeRequest::LEN);
        assert_eq!(s2.encode().len(), RechargeAuthorization::LEN);
        assert_eq!(s3.encode().len(), RechargeReceipt::LEN);
        assert_eq!(RechargeRequest::parse(&s1.encode()).unwrap(), s1);
        assert_eq!(RechargeAuthorization::parse(&s2.encode()).unwrap(), s2);
        assert_eq!(RechargeReceipt::parse(&s3.encode()).unwrap(), s3);
        assert!(RechargeRequest::parse(&s1.encode()[1..]).is_err());
        assert!(RechargeAuthorization::parse(&[s2.encode(), alloc::vec![0]].concat()).is_err());
        assert!(RechargeReceipt::parse(&s3.encode()[..RechargeReceipt::LEN - 1]).is_err());
    }
}
