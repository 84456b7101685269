//! Inspection (DESIGN §5): the device-signed INSPECTION REPORT, the
//! authority's INSPECTION ACK that sets the next deadline, and authority
//! LOCK / UNLOCK orders. An overdue inspection only refuses value services
//! ([`Core::refuse_when_overdue`]); it never locks the meter for good.

use crate::applet::{Core, StateChange};
use crate::platform::{CryptoEngine, Platform, PublicKey};
use crate::state::{CardState, OrderState};
use alloc::vec::Vec;
use apdu_specs::audit::{Event, Head};
use apdu_specs::inspection::{
    DOMAIN_INSPECTION_ACK, DOMAIN_INSPECTION_REPORT, DOMAIN_LOCK_ORDER, InspectionAck, InspectionReport, LockAction,
    LockOrder, NONCE_LEN,
};
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::flags;
use apdu_specs::sw::Sw;

/// Every flag that keeps a meter LOCKED.
const LOCK_CAUSES: u8 = flags::LOCKED_INSPECTION | flags::LOCKED_REGISTERS | flags::LOCKED_AUTHORITY;

/// Clears the lock cause `flag`; a LOCKED meter with no cause left returns to OPERATIONAL.
fn release_lock(card: &mut CardState, flag: u8) {
    card.flags &= !flag;
    if card.lifecycle == Lifecycle::Locked && card.flags & LOCK_CAUSES == 0 {
        card.lifecycle = Lifecycle::Operational;
    }
}

impl StateChange {
    /// Sets the next inspection deadline. This ends an overdue inspection:
    /// a meter an older card version locked for one returns to OPERATIONAL
    /// unless another lock cause holds.
    pub(crate) fn set_inspection_deadline(&mut self, deadline: u64) {
        let card = self.card_mut();
        card.inspection_deadline = deadline;
        release_lock(card, flags::LOCKED_INSPECTION);
    }
}

impl<P: Platform> Core<P> {
    /// The authority key the orders and authorizations must be signed with.
    pub(crate) fn authority_key(&self) -> Result<PublicKey, Sw> {
        self.state.config.as_ref().map(|c| c.authority_key).ok_or(Sw::CONDITIONS_NOT_SATISFIED)
    }

    /// A fresh nonce from the card's random source.
    pub(crate) fn fresh_nonce(&mut self) -> Result<[u8; NONCE_LEN], Sw> {
        let mut nonce = [0u8; NONCE_LEN];
        self.platform.crypto().fill_random(&mut nonce).map_err(|_| Sw::INTERNAL_ERROR)?;
        Ok(nonce)
    }

    pub(crate) fn inspection_report(&mut self) -> Result<Vec<u8>, Sw> {
        let now = self.now()?;
        let meter_id = self.meter_id()?;
        let device = self.device_key()?;
        let nonce = self.fresh_nonce()?;
        let counters = &self.state.counters;
        let report = InspectionReport {
            meter_id,
            nonce,
            time: now,
            lifecycle: self.state.card.lifecycle,
            flags: self.state.card.flags,
            deadline: self.state.card.inspection_deadline,
            registers: counters.regs,
            audit_head: Head {
                records: counters.audit_records,
                hash: counters.audit_head,
                oldest: self.audit_oldest(),
            },
        }
        .encode();
        self.volatile.last_report = None;
        let envelope = self.device_signed(&device, DOMAIN_INSPECTION_REPORT, &report)?;
        self.volatile.last_report = Some(self.platform.crypto().sha256(&[&report]));
        Ok(envelope)
    }

    pub(crate) fn inspection_ack(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let authority = self.authority_key()?;
        let body = self.verified_body(data, DOMAIN_INSPECTION_ACK, &authority)?;
        let ack = InspectionAck::parse(body).map_err(|_| Sw::BAD_DATA)?;
        if ack.meter_id != self.meter_id()? {
            return Err(Sw::BAD_DATA);
        }
        let now = self.now()?;
        let last = self.volatile.last_report.ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        if ack.report_digest != last || ack.next_deadline < now {
            return Err(Sw::BAD_DATA);
        }
        let mut change = self.change(now);
        change.set_inspection_deadline(ack.next_deadline);
        change.raise_time_floor(now);
        let mut detail = [0u8; 16];
        detail[..8].copy_from_slice(&ack.next_deadline.to_be_bytes());
        detail[8..].copy_from_slice(&ack.time.to_be_bytes());
        change.audit(Event::Inspected, 0, &detail);
        self.commit(change)?;
        self.volatile.last_report = None;
        Ok(Vec::new())
    }

    pub(crate) fn lock_order(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let authority = self.authority_key()?;
        let body = self.verified_body(data, DOMAIN_LOCK_ORDER, &authority)?;
        let order = LockOrder::parse(body).map_err(|_| Sw::BAD_DATA)?;
        if order.meter_id != self.meter_id()? {
            return Err(Sw::BAD_DATA);
        }
        let now = self.now()?;
        if order.sequence <= self.state.orders.lock_sequence {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let mut change = self.change(now);
        let card = change.card_mut();
        let event = match order.action {
            LockAction::Lock => {
                card.lifecycle = Lifecycle::Locked;
                card.flags |= flags::LOCKED_AUTHORITY;
                Event::Locked
            }
            LockAction::Unlock => {
                release_lock(card, flags::LOCKED_AUTHORITY);
                Event::Unlocked
            }
        };
        let mut detail = [0u8; 6];
        detail[0] = flags::LOCKED_AUTHORITY;
        detail[1..5].copy_from_slice(&order.sequence.to_be_bytes());
        detail[5] = order.reason;
        change.audit(event, 0, &detail);
        change.put_orders(OrderState { lock_sequence: order.sequence });
        change.raise_time_floor(now);
        self.commit(change)?;
        Ok(Vec::new())
    }
}
