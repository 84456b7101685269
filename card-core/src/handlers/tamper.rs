//! The tamper response: zeroize, record, terminate, then have the store
//! discard its history so that no old key or PIN byte survives on the medium.

use crate::applet::Core;
use crate::platform::{Platform, Store, StoreError, WriteSet};
use crate::state::{records, slot_record};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::flags;

impl<P: Platform> Core<P> {
    pub(crate) fn tamper(&mut self) -> Result<(), StoreError> {
        // Wipe the RAM copies first: whatever happens to the store, the keys
        // are gone from memory (Secrets and PinState zeroize on drop).
        self.state.secrets = None;
        self.state.pins = None;
        for slot in self.state.slots.iter_mut() {
            slot.secret = None;
        }
        let mut card = self.state.card;
        card.lifecycle = Lifecycle::Terminated;
        card.flags |= flags::TAMPERED;
        let mut counters = self.state.counters;
        let mut set = WriteSet::new();
        let time = self.display_time();
        self.append_audit(&mut counters, &mut set, time, Event::Tampered, 0, &[]);
        set.put(records::SECRETS, Vec::new());
        set.put(records::PINS, Vec::new());
        for (i, slot) in (0u8..).zip(&self.state.slots) {
            set.put(slot_record(i), slot.encode().to_vec());
        }
        set.put(records::CARD, card.encode());
        set.put(records::COUNTERS, counters.encode());
        self.platform.store().commit(&set)?;
        self.state.card = card;
        self.state.counters = counters;
        self.platform.store().discard_history()
    }

    /// At power-on of a tampered card, finishes a history discard that a
    /// power cut interrupted (discarding again is harmless). A failure is
    /// not fatal here: the card is terminated already, and the next
    /// power-on tries again.
    pub(crate) fn finish_tamper_scrub(&mut self) {
        if self.state.card.flags & flags::TAMPERED != 0 {
            let _ = self.platform.store().discard_history();
        }
    }
}
