//! REVOCATION REQUEST: the user's device-signed request (Fig. 6, 602), free
//! and stateless (the fee is charged once, by REVOKE).
//!
//! REVOKE: an authority-signed revocation order (Fig. 6). The slot key is
//! destroyed, the fee is debited when DR covers it (with any debt owed) or
//! else kept as a debt, and the card signs a confirmation saying "paid" or
//! "payment due".

use super::charge::Shortfall;
use crate::applet::Core;
use crate::platform::Platform;
use alloc::vec::Vec;
use apdu_specs::certs::{
    DOMAIN_REVOCATION_CONFIRMATION, DOMAIN_REVOCATION_ORDER, DOMAIN_REVOCATION_REQUEST, RevocationConfirmation,
    RevocationOrder, RevocationRequest, SlotState,
};
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;

impl<P: Platform> Core<P> {
    pub(crate) fn revocation_request(&mut self, n: u8, reason: u8) -> Result<Vec<u8>, Sw> {
        let slot = self.state.slots.get(usize::from(n)).ok_or(Sw::WRONG_P1P2)?;
        let public_key = match slot.state {
            SlotState::Revoked => return Err(Sw::KEY_REVOKED),
            SlotState::Empty => return Err(Sw::NOT_FOUND),
            SlotState::Key | SlotState::Certified => slot.public.ok_or(Sw::NOT_FOUND)?,
        };
        let meter_id = self.meter_id()?;
        let now = self.now()?;
        let device = self.device_key()?;
        let request = RevocationRequest { meter_id, slot: n, reason, time: now, public_key }.encode();
        self.device_signed(&device, DOMAIN_REVOCATION_REQUEST, &request)
    }

    pub(crate) fn revoke(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let authority = self.state.config.as_ref().map(|c| c.authority_key).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let body = self.verified_body(data, DOMAIN_REVOCATION_ORDER, &authority)?;
        let order = RevocationOrder::parse(body).map_err(|_| Sw::BAD_DATA)?;
        let meter_id = self.meter_id()?;
        if order.meter_id != meter_id {
            return Err(Sw::BAD_DATA);
        }
        // The order names the key: the slot is revoked whatever certificate it holds.
        let slot = self.state.slots.get(usize::from(order.slot)).ok_or(Sw::BAD_DATA)?;
        match slot.state {
            SlotState::Revoked => return Err(Sw::KEY_REVOKED),
            SlotState::Empty => return Err(Sw::NOT_FOUND),
            SlotState::Key | SlotState::Certified => {}
        }
        if slot.public.as_ref() != Some(&order.public_key) {
            return Err(Sw::CERT_KEY_MISMATCH);
        }
        let device = self.device_key()?;
        // The record keeps the certificate, for the record.
        let mut revoked = self.stored_slot(order.slot).map_err(|_| Sw::MEMORY_FAILURE)?;
        revoked.state = SlotState::Revoked;
        revoked.secret = None;
        // Revocation is never refused for money: the order is carried out, and a
        // shortfall is "payment due", kept as a debt the next value service collects.
        let now = self.display_time();
        let mut change = self.change(now);
        let fee = self.charge_fee(&mut change, Service::Revocation, &[order.slot], Shortfall::Owe)?;
        let (paid, fee_due) = (fee.collected == u64::from(fee.due), fee.due);
        change.put_slot(order.slot, revoked);
        self.commit(change)?;
        let confirmation = RevocationConfirmation {
            meter_id,
            slot: order.slot,
            time: now,
            fee: fee_due,
            paid,
            public_key: order.public_key,
        }
        .encode();
        self.device_signed(&device, DOMAIN_REVOCATION_CONFIRMATION, &confirmation)
    }
}
