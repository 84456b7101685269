//! Appending to the hash-chained audit log.

use crate::applet::Core;
use crate::platform::{CryptoEngine, Platform, WriteSet};
use crate::state::{AUDIT_CAPACITY, Counters, audit_slot};
use apdu_specs::audit::{Event, Record};

impl<P: Platform> Core<P> {
    /// Adds the next audit record to `set` and advances the head in `counters`.
    pub(crate) fn append_audit(
        &mut self,
        counters: &mut Counters,
        set: &mut WriteSet,
        time: u64,
        event: Event,
        amount: u64,
        detail: &[u8],
    ) {
        let mut d = [0u8; 16];
        for (o, b) in d.iter_mut().zip(detail) {
            *o = *b;
        }
        let record =
            Record { seq: counters.audit_records, time, event, amount, detail: d, prev_hash: counters.audit_head };
        let encoded = record.encode();
        counters.audit_head = self.platform.crypto().sha256(&[&encoded]);
        counters.audit_records = counters.audit_records.wrapping_add(1);
        set.put(audit_slot(record.seq), encoded.to_vec());
    }

    /// Oldest audit record still held.
    pub(crate) fn audit_oldest(&self) -> u32 {
        self.state.counters.audit_records.saturating_sub(AUDIT_CAPACITY)
    }
}
