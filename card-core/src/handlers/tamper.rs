//! The tamper response: zeroize, record, terminate, then have the store
//! discard its history so that no old key or PIN byte survives on the medium.

use crate::applet::Core;
use crate::platform::{Platform, Store, StoreError};
use apdu_specs::audit::Event;
use apdu_specs::certs::SLOT_COUNT;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::flags;

impl<P: Platform> Core<P> {
    pub(crate) fn tamper(&mut self) -> Result<(), StoreError> {
        // Wipe the RAM copies first: whatever happens to the store, the keys
        // are gone from memory.
        self.state.wipe_secrets();
        let mut change = self.change(self.display_time());
        let card = change.card_mut();
        card.lifecycle = Lifecycle::Terminated;
        card.flags |= flags::TAMPERED;
        change.audit(Event::Tampered, 0, &[]);
        change.erase_secrets();
        for n in 0..SLOT_COUNT {
            // Every slot record is rewritten without its key; certificates stay.
            let mut slot = self.stored_slot(n)?;
            slot.secret = None;
            change.put_slot(n, slot);
        }
        self.commit_change(change)?;
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
