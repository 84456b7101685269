//! SELECT by AID.

use crate::applet::Core;
use crate::platform::Platform;
use alloc::vec::Vec;
use apdu_specs::commands::{AID, MAX_COMMAND_DATA, MAX_RESPONSE_DATA};
use apdu_specs::fci::Fci;
use apdu_specs::sw::Sw;

/// Applet version reported in the FCI.
pub const VERSION: (u8, u8) = (1, 0);

impl<P: Platform> Core<P> {
    pub(crate) fn select(&mut self, aid: &[u8], fci: bool) -> Result<Vec<u8>, Sw> {
        // Selecting (this or another application) always clears the volatile state.
        self.clear_volatile();
        if !AID.starts_with(aid) {
            return Err(Sw::FILE_NOT_FOUND);
        }
        self.volatile.selected = true;
        if !fci {
            return Ok(Vec::new());
        }
        Ok(Fci {
            aid: AID.to_vec(),
            version: VERSION,
            meter_id: self.state.config.as_ref().map(|c| c.meter_id),
            lifecycle: self.state.card.lifecycle,
            max_command_data: MAX_COMMAND_DATA as u16,
            max_response_data: MAX_RESPONSE_DATA as u32,
            card_serial: self.state.factory.serial,
        }
        .encode())
    }
}
