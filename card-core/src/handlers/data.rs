//! GET DATA: registers, status, rate table, audit head and records, public keys, last indicium.

use crate::applet::Core;
use crate::platform::{Platform, Store};
use crate::state::{audit_cell, records};
use alloc::vec::Vec;
use apdu_specs::audit::{Head, Record};
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::{Status, flags};
use apdu_specs::sw::Sw;
use apdu_specs::{tags, tlv};

impl<P: Platform> Core<P> {
    pub(crate) fn status(&self) -> Status {
        let now = self.display_time();
        let table = self.state.rates.current(now).map(|(table, _)| table);
        let pins = self.state.pins.as_ref();
        let verified = if self.volatile.pin_verified { flags::PIN_VERIFIED } else { 0 };
        Status {
            lifecycle: self.state.card.lifecycle,
            pin_tries: pins.map_or(0, |p| p.pin_tries),
            puk_tries: pins.map_or(0, |p| p.puk_tries),
            flags: self.state.card.flags | verified,
            algorithm: self.state.config.as_ref().map_or(0, |c| c.algorithm as u8),
            rate_table_version: table.map_or(0, |t| t.version),
            currency: self.state.config.as_ref().map_or([b' '; 3], |c| c.currency),
            exponent: self.state.config.as_ref().map_or(0, |c| c.exponent),
            time: now,
            inspection_deadline: self.state.card.inspection_deadline,
            audit_records: self.state.counters.audit_records,
        }
    }

    pub(crate) fn get_data(&mut self, tag: u16) -> Result<Vec<u8>, Sw> {
        if self.state.card.lifecycle == Lifecycle::Terminated && tag != tags::STATUS {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        match tag {
            tags::REGISTERS => Ok(self.state.counters.regs.encode()),
            tags::STATUS => Ok(self.status().encode()),
            tags::RATE_TABLE => {
                let now = self.display_time();
                let (_, record) = self.state.rates.current(now).ok_or(Sw::NOT_FOUND)?;
                self.platform.store().read(record).map_err(|_| Sw::MEMORY_FAILURE)?.ok_or(Sw::MEMORY_FAILURE)
            }
            tags::AUDIT_HEAD => Ok(Head {
                records: self.state.counters.audit_records,
                hash: self.state.counters.audit_head,
                oldest: self.audit_oldest(),
            }
            .encode()),
            tags::PUBLIC_KEYS => {
                let secrets = self.state.secrets.as_ref().ok_or(Sw::NOT_FOUND)?;
                let mut out = Vec::new();
                tlv::put(&mut out, tags::DEVICE_KEY, &secrets.device_public);
                if let Some(p) = &secrets.postal_public {
                    tlv::put(&mut out, tags::POSTAL_KEY, p);
                }
                Ok(out)
            }
            tags::CREDIT_STATUS => Ok(self.credit_status()?.encode()),
            tags::CREDIT_LINE => {
                self.credit_status()?;
                let stored = self.platform.store().read(crate::state::records::CREDIT_LINE);
                stored.map_err(|_| Sw::MEMORY_FAILURE)?.filter(|b| !b.is_empty()).ok_or(Sw::MEMORY_FAILURE)
            }
            tags::LAST_INDICIUM => {
                let stored = self.platform.store().read(records::LAST_INDICIUM).map_err(|_| Sw::MEMORY_FAILURE)?;
                stored.filter(|bytes| !bytes.is_empty()).ok_or(Sw::NOT_FOUND)
            }
            _ => Err(Sw::NOT_FOUND),
        }
    }

    /// Records `first ..` (at most `count`, stopping at the newest).
    pub(crate) fn get_audit_records(&mut self, first: u32, count: u16) -> Result<Vec<u8>, Sw> {
        let records = self.state.counters.audit_records;
        if first >= records || first < self.audit_oldest() {
            return Err(Sw::NOT_FOUND);
        }
        let last = first.saturating_add(u32::from(count)).min(records);
        let mut out = Vec::with_capacity((last - first) as usize * apdu_specs::audit::RECORD_LEN);
        for seq in first..last {
            let bytes = self.platform.store().read(audit_cell(seq)).map_err(|_| Sw::MEMORY_FAILURE)?;
            match bytes.as_deref().map(Record::parse) {
                Some(Ok(r)) if r.seq == seq => out.extend_from_slice(bytes.as_deref().unwrap_or(&[])),
                _ => return Err(Sw::NOT_FOUND),
            }
        }
        Ok(out)
    }
}
