//! Inspection and authority lock orders (DESIGN §5), as signed envelopes
//! ([`crate::signed`]):
//!
//! - [`InspectionReport`], signed by the device key: everything the authority
//!   checks against its records, with a fresh card nonce.
//! - [`InspectionAck`], signed by the authority key: binds the SHA-256 of the
//!   report body it answers and sets the next inspection deadline. The card
//!   accepts an acknowledgement only for the last report it signed.
//! - [`LockOrder`], signed by the authority key: LOCK or UNLOCK, numbered so
//!   that an order is never applied twice or out of order.

use crate::audit::{HEAD_LEN, Head};
use crate::codec::{FormatError, Reader, Writer};
use crate::lifecycle::Lifecycle;
use crate::registers::{REGISTERS_LEN, Registers};
use alloc::vec::Vec;

/// Domain of the inspection report.
pub const DOMAIN_INSPECTION_REPORT: &[u8] = b"PCMeter inspection report v1";
/// Domain of the inspection acknowledgement.
pub const DOMAIN_INSPECTION_ACK: &[u8] = b"PCMeter inspection acknowledgement v1";
/// Domain of LOCK and UNLOCK orders.
pub const DOMAIN_LOCK_ORDER: &[u8] = b"PCMeter lock order v1";

/// Length of the card's report nonce.
pub const NONCE_LEN: usize = 16;

/// The device-signed inspection report:
/// `meter ID 12 | nonce 16 | time 8 | lifecycle 1 | flags 1 | deadline 8 |
/// registers (DF20 layout) | audit head (DF23 layout)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectionReport {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Fresh card nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Card time.
    pub time: u64,
    /// Lifecycle.
    pub lifecycle: Lifecycle,
    /// Status flags (`registers::flags`: tamper and lock causes).
    pub flags: u8,
    /// The inspection deadline in force.
    pub deadline: u64,
    /// All registers and piece counts, NT included.
    pub registers: Registers,
    /// The audit-log head.
    pub audit_head: Head,
}

impl InspectionReport {
    /// Encoded length.
    pub const LEN: usize = 12 + NONCE_LEN + 8 + 1 + 1 + 8 + REGISTERS_LEN + HEAD_LEN;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put(&self.meter_id);
        v.put(&self.nonce);
        v.put_u64(self.time);
        v.put_u8(self.lifecycle.byte());
        v.put_u8(self.flags);
        v.put_u64(self.deadline);
        v.put(&self.registers.encode());
        v.put(&self.audit_head.encode());
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let meter_id = r.array("meter id")?;
        let nonce = r.array("nonce")?;
        let time = r.u64("time")?;
        let lifecycle = Lifecycle::from_byte(r.u8("lifecycle")?)?;
        let flags = r.u8("flags")?;
        let deadline = r.u64("deadline")?;
        let registers = Registers::parse(r.take(REGISTERS_LEN, "registers")?)?;
        let audit_head = Head::parse(r.take(HEAD_LEN, "audit head")?)?;
        r.finish()?;
        Ok(Self { meter_id, nonce, time, lifecycle, flags, deadline, registers, audit_head })
    }
}

/// The authority's acknowledgement:
/// `meter ID 12 | SHA-256 of the report body 32 | next deadline 8 | time 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectionAck {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// SHA-256 of the [`InspectionReport`] body it answers.
    pub report_digest: [u8; 32],
    /// The next inspection deadline.
    pub next_deadline: u64,
    /// Authority time; the card may take it as a clock floor.
    pub time: u64,
}

impl InspectionAck {
    /// Encoded length.
    pub const LEN: usize = 12 + 32 + 8 + 8;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put(&self.meter_id);
        v.put(&self.report_digest);
        v.put_u64(self.next_deadline);
        v.put_u64(self.time);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            meter_id: r.array("meter id")?,
            report_digest: r.array("report digest")?,
            next_deadline: r.u64("next deadline")?,
            time: r.u64("time")?,
        };
        r.finish()?;
        Ok(m)
    }
}

/// What a [`LockOrder`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LockAction {
    /// OPERATIONAL → LOCKED (`flags::LOCKED_AUTHORITY`).
    Lock = 1,
    /// LOCKED by the authority → OPERATIONAL.
    Unlock = 2,
}

impl LockAction {
    /// Decodes the action byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        match b {
            1 => Ok(Self::Lock),
            2 => Ok(Self::Unlock),
            _ => Err(FormatError::Invalid("lock action")),
        }
    }
}

/// An authority LOCK or UNLOCK order:
/// `meter ID 12 | action 1 | order sequence 4 | reason 1 | time 8`.
/// The card applies an order only when its sequence is above the last one applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOrder {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Lock or unlock.
    pub action: LockAction,
    /// Strictly increasing per meter.
    pub sequence: u32,
    /// Authority-defined reason code, recorded in the audit log.
    pub reason: u8,
    /// Authority time.
    pub time: u64,
}

impl LockOrder {
    /// Encoded length.
    pub const LEN: usize = 12 + 1 + 4 + 1 + 8;

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put(&self.meter_id);
        v.put_u8(self.action as u8);
        v.put_u32(self.sequence);
        v.put_u8(self.reason);
        v.put_u64(self.time);
        v
    }

    /// Decodes the body.
    pub fn parse(body: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(body);
        let m = Self {
            meter_id: r.array("meter id")?,
            action: LockAction::from_byte(r.u8("action")?)?,
            sequence: r.u32("order sequence")?,
            reason: r.u8("reason")?,
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
    fn inspection_messages_round_trip_at_their_fixed_length_and_refuse_bad_bodies() {
        let report = InspectionReport {
            meter_id: [1; 12],
            nonce: [2; 16],
            time: 3,
            lifecycle: Lifecycle::Operational,
            flags: 0,
            deadline: 4,
            registers: Registers { control_total: 5, descending: 5, recharge_seq: 1, ..Registers::default() },
            audit_head: Head { records: 9, hash: [3; 32], oldest: 0 },
        };
        assert_eq!(report.encode().len(), InspectionReport::LEN);
        assert_eq!(InspectionReport::parse(&report.encode()).unwrap(), report);
        assert!(InspectionReport::parse(&report.encode()[..InspectionReport::LEN - 1]).is_err());
        let ack = InspectionAck { meter_id: [1; 12], report_digest: [8; 32], next_deadline: 50, time: 4 };
        assert_eq!(ack.encode().len(), InspectionAck::LEN);
        assert_eq!(InspectionAck::parse(&ack.encode()).unwrap(), ack);
        let order = LockOrder { meter_id: [1; 12], action: LockAction::Unlock, sequence: 2, reason: 0, time: 5 };
        assert_eq!(order.encode().len(), LockOrder::LEN);
        assert_eq!(LockOrder::parse(&order.encode()).unwrap(), order);
        let mut bad = order.encode();
        bad[12] = 3;
        assert!(LockOrder::parse(&bad).is_err());
    }
}
