//! The hash-chained audit log. Each record holds the hash of the record
//! before it; the hash of a record is SHA-256 over its encoding.
//!
//! Record (`GET DATA` odd INS, tag `DF25`): seq 4 | time 8 | event 1 | amount 8 |
//! detail 16 | previous hash 32. The head (`DF23`): records written 4 | head hash 32 |
//! oldest record still held 4.

use crate::codec::{FormatError, Reader, Writer};
use alloc::vec::Vec;

/// Encoded record length.
pub const RECORD_LEN: usize = 4 + 8 + 1 + 8 + 16 + 32;
/// Encoded head length.
pub const HEAD_LEN: usize = 4 + 32 + 4;
/// Audit records the card holds (a ring; older ones are covered by the
/// chain hash), and the most one read returns.
pub const AUDIT_CAPACITY: u32 = 64;
/// Hash before the first record.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// What an audit record records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Event {
    /// Personalization loaded (amount: initial credit; detail: meter ID).
    Personalized = 1,
    /// ACTIVATE (detail: inspection deadline 8).
    Activated = 2,
    /// Indicium issued (amount: postage; detail: piece count 4, class 1, weight 4, destination 5).
    Indicium = 3,
    /// Rate table installed (detail: version 4, effective-from 8).
    RatesUpdated = 4,
    /// PIN changed.
    PinChanged = 5,
    /// PIN unblocked with the PUK.
    PinUnblocked = 6,
    /// Card locked (detail: the status flag that caused it; for an authority order, then its sequence 4 and reason 1).
    Locked = 7,
    /// Tamper input fired.
    Tampered = 8,
    /// Certificate service charged (detail: service code).
    ServiceCharged = 9,
    /// PUK changed.
    PukChanged = 10,
    /// A revocation fee DR could not cover became a debt (amount: the fee; detail: service code, slot).
    DebtRecorded = 11,
    /// The debt was collected before a value service (amount: the debt; detail: the service's code).
    DebtCollected = 12,
    /// Remote recharge credited (amount: the credit; detail: NT 4, next inspection deadline 8).
    Recharged = 13,
    /// Inspection acknowledged (detail: next inspection deadline 8, authority time 8).
    Inspected = 14,
    /// Unlocked by an authority order (detail: the flag cleared, order sequence 4, reason 1).
    Unlocked = 15,
    /// Line of credit installed (amount: the line; detail: line serial 8, credit forfeited from the old line 8).
    CreditLineInstalled = 16,
    /// Payment under the line of credit (amount: the payment; detail: payment serial 4, credit remaining 8).
    Payment = 17,
}

impl Event {
    /// Decodes an event byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        use Event::*;
        [
            Personalized,
            Activated,
            Indicium,
            RatesUpdated,
            PinChanged,
            PinUnblocked,
            Locked,
            Tampered,
            ServiceCharged,
            PukChanged,
            DebtRecorded,
            DebtCollected,
            Recharged,
            Inspected,
            Unlocked,
            CreditLineInstalled,
            Payment,
        ]
        .into_iter()
        .find(|e| *e as u8 == b)
        .ok_or(FormatError::Invalid("audit event"))
    }
}

/// One audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Sequence number, from 0.
    pub seq: u32,
    /// Card time.
    pub time: u64,
    /// Event.
    pub event: Event,
    /// Amount moved, minor units.
    pub amount: u64,
    /// Event-specific detail.
    pub detail: [u8; 16],
    /// Hash of the previous record ([`GENESIS`] for the first).
    pub prev_hash: [u8; 32],
}

impl Record {
    /// Encodes the record (what is hashed).
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut v: Vec<u8> = Vec::with_capacity(RECORD_LEN);
        v.put_u32(self.seq);
        v.put_u64(self.time);
        v.put_u8(self.event as u8);
        v.put_u64(self.amount);
        v.put(&self.detail);
        v.put(&self.prev_hash);
        let mut out = [0u8; RECORD_LEN];
        for (o, b) in out.iter_mut().zip(v.iter()) {
            *o = *b;
        }
        out
    }

    /// Decodes a record.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let rec = Self {
            seq: r.u32("seq")?,
            time: r.u64("time")?,
            event: Event::from_byte(r.u8("event")?)?,
            amount: r.u64("amount")?,
            detail: r.array("detail")?,
            prev_hash: r.array("prev hash")?,
        };
        r.finish()?;
        Ok(rec)
    }
}

/// The audit-log head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Records written so far (the next record's seq).
    pub records: u32,
    /// Hash of the last record ([`GENESIS`] when empty).
    pub hash: [u8; 32],
    /// Oldest record the card still holds.
    pub oldest: u32,
}

impl Head {
    /// Encodes `DF23`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEAD_LEN);
        v.put_u32(self.records);
        v.put(&self.hash);
        v.put_u32(self.oldest);
        v
    }

    /// Decodes `DF23`.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let h = Self { records: r.u32("records")?, hash: r.array("hash")?, oldest: r.u32("oldest")? };
        r.finish()?;
        if h.oldest > h.records {
            return Err(FormatError::Invalid("audit head: oldest record beyond the count"));
        }
        Ok(h)
    }
}
