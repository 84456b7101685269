//! Layouts of GET DATA objects: registers (`DF20`), status (`DF21`) and the
//! audit-log head (`DF23`).

use crate::codec::{FormatError, Reader, Writer};
use crate::lifecycle::Lifecycle;
use crate::service::{SERVICE_COUNT, Service};
use alloc::vec::Vec;

/// The money registers and counters.
///
/// `DF20`: AR_p 8 | AR_c 8 | DR 8 | CT 8 | NT 4 | postmark serial 8 | piece counts 4 × 12 |
/// debt 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registers {
    /// Postage ascending register AR_p.
    pub ar_postage: u64,
    /// Certificate-services ascending register AR_c.
    pub ar_certificates: u64,
    /// Descending register DR (funds).
    pub descending: u64,
    /// Control total CT: everything ever credited.
    pub control_total: u64,
    /// Recharge sequence NT.
    pub recharge_seq: u32,
    /// Last postmark serial.
    pub postmark_serial: u64,
    /// Piece count per service, indexed by [`Service::index`].
    pub counts: [u32; SERVICE_COUNT],
    /// Revocation fees DR could not cover: owed, not yet in any register.
    /// The next value service collects it first (AR_c += debt, DR -= debt).
    pub debt: u64,
}

/// Encoded length of [`Registers`].
pub const REGISTERS_LEN: usize = REGISTERS_V1_LEN + 8;
/// Encoded length of the registers before the debt was added (saved card images).
pub const REGISTERS_V1_LEN: usize = 8 * 4 + 4 + 8 + 4 * SERVICE_COUNT;

impl Registers {
    /// True when AR_p + AR_c + DR == CT (without overflow).
    pub fn balanced(&self) -> bool {
        self.ar_postage.checked_add(self.ar_certificates).and_then(|s| s.checked_add(self.descending))
            == Some(self.control_total)
    }

    /// Piece count of one service.
    pub fn count(&self, s: Service) -> u32 {
        self.counts.get(s.index()).copied().unwrap_or(0)
    }

    /// Encodes `DF20`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(REGISTERS_LEN);
        v.put_u64(self.ar_postage);
        v.put_u64(self.ar_certificates);
        v.put_u64(self.descending);
        v.put_u64(self.control_total);
        v.put_u32(self.recharge_seq);
        v.put_u64(self.postmark_serial);
        for c in self.counts {
            v.put_u32(c);
        }
        v.put_u64(self.debt);
        v
    }

    /// Decodes `DF20`.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let mut regs = Self::read_v1(&mut r)?;
        regs.debt = r.u64("debt")?;
        r.finish()?;
        Ok(regs)
    }

    /// Decodes the layout without the debt (saved card images); the debt is 0.
    pub fn parse_v1(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let regs = Self::read_v1(&mut r)?;
        r.finish()?;
        Ok(regs)
    }

    fn read_v1(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        let mut regs = Self {
            ar_postage: r.u64("AR_p")?,
            ar_certificates: r.u64("AR_c")?,
            descending: r.u64("DR")?,
            control_total: r.u64("CT")?,
            recharge_seq: r.u32("NT")?,
            postmark_serial: r.u64("postmark serial")?,
            counts: [0; SERVICE_COUNT],
            debt: 0,
        };
        for c in regs.counts.iter_mut() {
            *c = r.u32("count")?;
        }
        Ok(regs)
    }
}

/// Status flags in [`Status::flags`].
pub mod flags {
    /// The tamper input fired.
    pub const TAMPERED: u8 = 0x01;
    /// Locked because the inspection deadline passed.
    pub const LOCKED_INSPECTION: u8 = 0x02;
    /// Locked because the register check failed at power-on.
    pub const LOCKED_REGISTERS: u8 = 0x04;
    /// Locked by an authority order.
    pub const LOCKED_AUTHORITY: u8 = 0x08;
    /// The PIN has been verified in this session.
    pub const PIN_VERIFIED: u8 = 0x10;
}

/// Card status.
///
/// `DF21`: lifecycle 1 | PIN tries 1 | PUK tries 1 | flags 1 | indicium algorithm 1 (0 before
/// personalization) | rate-table version 4 | currency 3 | exponent 1 | card time 8 |
/// inspection deadline 8 | audit records 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Lifecycle state.
    pub lifecycle: Lifecycle,
    /// PIN tries left.
    pub pin_tries: u8,
    /// PUK tries left.
    pub puk_tries: u8,
    /// See [`flags`].
    pub flags: u8,
    /// Indicium algorithm byte (0 before personalization).
    pub algorithm: u8,
    /// Version of the rate table in force.
    pub rate_table_version: u32,
    /// Currency.
    pub currency: [u8; 3],
    /// Minor-unit exponent.
    pub exponent: u8,
    /// The card's (monotonic) time, Unix seconds.
    pub time: u64,
    /// Inspection deadline, Unix seconds.
    pub inspection_deadline: u64,
    /// Audit records written so far.
    pub audit_records: u32,
}

/// Encoded length of [`Status`].
pub const STATUS_LEN: usize = 33;

impl Status {
    /// Encodes `DF21`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(STATUS_LEN);
        v.put_u8(self.lifecycle.byte());
        v.put_u8(self.pin_tries);
        v.put_u8(self.puk_tries);
        v.put_u8(self.flags);
        v.put_u8(self.algorithm);
        v.put_u32(self.rate_table_version);
        v.put(&self.currency);
        v.put_u8(self.exponent);
        v.put_u64(self.time);
        v.put_u64(self.inspection_deadline);
        v.put_u32(self.audit_records);
        v
    }

    /// Decodes `DF21`.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let s = Self {
            lifecycle: Lifecycle::from_byte(r.u8("lifecycle")?)?,
            pin_tries: r.u8("PIN tries")?,
            puk_tries: r.u8("PUK tries")?,
            flags: r.u8("flags")?,
            algorithm: r.u8("algorithm")?,
            rate_table_version: r.u32("rate table version")?,
            currency: r.array("currency")?,
            exponent: r.u8("exponent")?,
            time: r.u64("time")?,
            inspection_deadline: r.u64("inspection deadline")?,
            audit_records: r.u32("audit records")?,
        };
        r.finish()?;
        Ok(s)
    }
}
