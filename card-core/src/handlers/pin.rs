//! VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER.
//!
//! Every comparison follows the same order: refuse if blocked, decrement the
//! counter and commit it, compare in constant time, and only on a match
//! restore the counter (in the same commit as any other change). A power cut
//! after the comparison therefore never yields a free try.

use crate::applet::Core;
use crate::platform::Platform;
use crate::state::PinState;
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::command::{Reference, VerifyOp};
use apdu_specs::pin::PinBlock;
use apdu_specs::sw::Sw;
use subtle::ConstantTimeEq;

/// Constant-time comparison of two reference-data blocks.
pub(crate) fn blocks_match(stored: &[u8; 8], candidate: &[u8; 8]) -> bool {
    bool::from(stored.ct_eq(candidate))
}

impl PinState {
    fn tries(&self, which: Reference) -> u8 {
        match which {
            Reference::Pin => self.pin_tries,
            Reference::Puk => self.puk_tries,
        }
    }

    fn set_tries(&mut self, which: Reference, n: u8) {
        match which {
            Reference::Pin => self.pin_tries = n,
            Reference::Puk => self.puk_tries = n,
        }
    }

    fn restore(&mut self, which: Reference) {
        match which {
            Reference::Pin => self.pin_tries = self.pin_limit,
            Reference::Puk => self.puk_tries = self.puk_limit,
        }
    }

    fn reference(&self, which: Reference) -> &[u8; 8] {
        match which {
            Reference::Pin => &self.pin,
            Reference::Puk => &self.puk,
        }
    }
}

impl<P: Platform> Core<P> {
    /// Decrement-commit-compare. On a match returns the state with the counter
    /// still decremented; the caller restores it in its own commit.
    fn check_reference(&mut self, which: Reference, candidate: &PinBlock) -> Result<PinState, Sw> {
        let mut pins = self.state.pins.clone().ok_or(Sw::NOT_FOUND)?;
        let tries = pins.tries(which);
        if tries == 0 {
            return Err(Sw::PIN_BLOCKED);
        }
        let left = tries - 1;
        pins.set_tries(which, left);
        let mut change = self.change(self.display_time());
        change.put_pins(pins.clone());
        self.commit(change)?;
        if blocks_match(pins.reference(which), candidate.as_bytes()) { Ok(pins) } else { Err(Sw::wrong_pin(left)) }
    }

    /// Commits `pins`, with an audit record of `event` when there is one.
    fn commit_pins(&mut self, pins: PinState, event: Option<Event>) -> Result<(), Sw> {
        let mut change = self.change(self.display_time());
        change.put_pins(pins);
        if let Some(event) = event {
            change.audit(event, 0, &[]);
        }
        self.commit(change)
    }

    pub(crate) fn verify(&mut self, op: VerifyOp) -> Result<Vec<u8>, Sw> {
        match op {
            VerifyOp::Logout => {
                self.volatile.pin_verified = false;
                Ok(Vec::new())
            }
            VerifyOp::Status => {
                let pins = self.state.pins.as_ref().ok_or(Sw::NOT_FOUND)?;
                if self.volatile.pin_verified {
                    Ok(Vec::new())
                } else if pins.pin_tries == 0 {
                    Err(Sw::PIN_BLOCKED)
                } else {
                    Err(Sw::wrong_pin(pins.pin_tries))
                }
            }
            VerifyOp::Check(candidate) => {
                self.volatile.pin_verified = false;
                let mut pins = self.check_reference(Reference::Pin, &candidate)?;
                pins.restore(Reference::Pin);
                self.commit_pins(pins, None)?;
                self.volatile.pin_verified = true;
                Ok(Vec::new())
            }
        }
    }

    pub(crate) fn change_reference(&mut self, which: Reference, old: &PinBlock, new: &PinBlock) -> Result<Vec<u8>, Sw> {
        let mut pins = self.check_reference(which, old)?;
        pins.restore(which);
        let event = match which {
            Reference::Pin => {
                pins.pin = *new.as_bytes();
                Event::PinChanged
            }
            Reference::Puk => {
                pins.puk = *new.as_bytes();
                Event::PukChanged
            }
        };
        self.commit_pins(pins, Some(event))?;
        if which == Reference::Pin {
            self.volatile.pin_verified = true;
        }
        Ok(Vec::new())
    }

    pub(crate) fn reset_retry_counter(&mut self, puk: &PinBlock, new_pin: Option<&PinBlock>) -> Result<Vec<u8>, Sw> {
        self.volatile.pin_verified = false;
        let mut pins = self.check_reference(Reference::Puk, puk)?;
        pins.restore(Reference::Puk);
        pins.restore(Reference::Pin);
        if let Some(p) = new_pin {
            pins.pin = *p.as_bytes();
        }
        self.commit_pins(pins, Some(Event::PinUnblocked))?;
        Ok(Vec::new())
    }
}
