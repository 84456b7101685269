//! Remote recharge (claims 15, 30): RECHARGE INIT signs S1 and keeps the
//! request in RAM; RECHARGE CREDIT checks the authority's S2 against it and,
//! in one transaction, credits DR and CT, increments NT, sets the next
//! inspection deadline and stores the device-signed receipt S3, which GET
//! RECHARGE PROOF serves again.

use crate::applet::{Core, PendingRecharge};
use crate::platform::{Platform, Store};
use crate::state::{RECEIPTS_KEPT, receipt_cell};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::recharge::{
    DOMAIN_RECHARGE_AUTHORIZATION, DOMAIN_RECHARGE_RECEIPT, DOMAIN_RECHARGE_REQUEST, MoneyRegisters,
    RechargeAuthorization, RechargeReceipt, RechargeRequest,
};
use apdu_specs::registers::flags;
use apdu_specs::signed::Signed;
use apdu_specs::sw::Sw;

/// Width of CT (and so of AR and DR) in bytes: the indicium's register fields.
const REGISTER_BYTES: usize = 5;

impl<P: Platform> Core<P> {
    /// A meter locked by the authority or by its register check takes no recharge
    /// (a lock for an overdue inspection does not stop one: the recharge ends it).
    fn refuse_when_locked_by_cause_other_than_inspection(&self) -> Result<(), Sw> {
        if self.state.card.flags & (flags::LOCKED_AUTHORITY | flags::LOCKED_REGISTERS) == 0 {
            Ok(())
        } else {
            Err(Sw::CONDITIONS_NOT_SATISFIED)
        }
    }

    pub(crate) fn recharge_init(&mut self, amount: u64) -> Result<Vec<u8>, Sw> {
        self.refuse_when_locked_by_cause_other_than_inspection()?;
        let now = self.now()?;
        let meter_id = self.meter_id()?;
        let device = self.device_key()?;
        let regs = self.state.counters.regs;
        let sequence = regs.recharge_seq.checked_add(1).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        // A new request voids the one before, whatever happens next.
        self.volatile.pending_recharge = None;
        let nonce = self.fresh_nonce()?;
        let request =
            RechargeRequest { meter_id, sequence, nonce, registers: MoneyRegisters::of(&regs), amount, time: now }
                .encode();
        let envelope = self.device_signed(&device, DOMAIN_RECHARGE_REQUEST, &request)?;
        self.volatile.pending_recharge = Some(PendingRecharge { sequence, nonce, amount });
        Ok(envelope)
    }

    /// S2 checked against the pending request and the registers: the new CT and DR.
    fn authorized_credit(&self, s2: &RechargeAuthorization, now: u64) -> Result<(u64, u64), Sw> {
        let pending = self.volatile.pending_recharge.ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let regs = &self.state.counters.regs;
        let new_ct = regs
            .control_total
            .checked_add(pending.amount)
            .filter(|ct| apdu_specs::codec::fits(*ct, REGISTER_BYTES))
            .ok_or(Sw::BAD_DATA)?;
        let new_dr = regs.descending.checked_add(pending.amount).ok_or(Sw::BAD_DATA)?;
        let answers_pending = s2.meter_id == self.meter_id()?
            && s2.sequence == pending.sequence
            && regs.recharge_seq.checked_add(1) == Some(s2.sequence)
            && s2.nonce == pending.nonce
            && s2.amount == pending.amount
            && s2.new_control_total == new_ct
            && s2.next_deadline >= now;
        if answers_pending { Ok((new_ct, new_dr)) } else { Err(Sw::BAD_DATA) }
    }

    pub(crate) fn recharge_credit(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let authority = self.authority_key()?;
        let body = self.verified_body(data, DOMAIN_RECHARGE_AUTHORIZATION, &authority)?;
        let s2 = RechargeAuthorization::parse(body).map_err(|_| Sw::BAD_DATA)?;
        self.refuse_when_locked_by_cause_other_than_inspection()?;
        let now = self.now()?;
        let (new_ct, new_dr) = self.authorized_credit(&s2, now)?;
        let meter_id = self.meter_id()?;
        let device = self.device_key()?;

        let mut change = self.change(now);
        let regs = &mut change.counters_mut().regs;
        regs.control_total = new_ct;
        regs.descending = new_dr;
        regs.recharge_seq = s2.sequence;
        let registers = MoneyRegisters::of(regs);
        change.set_inspection_deadline(s2.next_deadline);
        // The platform clock cannot be set: the card's own time is its floor.
        change.raise_time_floor(now);
        let mut detail = [0u8; 12];
        detail[..4].copy_from_slice(&s2.sequence.to_be_bytes());
        detail[4..].copy_from_slice(&s2.next_deadline.to_be_bytes());
        change.audit(Event::Recharged, s2.amount, &detail);
        let receipt =
            RechargeReceipt { meter_id, sequence: s2.sequence, registers, amount: s2.amount, time: now }.encode();
        // S3 is stored with the credit, so it is signed first; nothing leaves before the commit.
        let envelope = self.device_signed(&device, DOMAIN_RECHARGE_RECEIPT, &receipt)?;
        change.put_receipt(s2.sequence, envelope.clone());
        self.commit(change)?;
        self.volatile.pending_recharge = None;
        Ok(envelope)
    }

    pub(crate) fn recharge_proof(&mut self, sequence: u32) -> Result<Vec<u8>, Sw> {
        let nt = self.state.counters.regs.recharge_seq;
        if sequence == 0 || sequence > nt || nt - sequence >= RECEIPTS_KEPT {
            return Err(Sw::NOT_FOUND);
        }
        let stored = self.platform.store().read(receipt_cell(sequence)).map_err(|_| Sw::MEMORY_FAILURE)?;
        let envelope = stored.filter(|b| !b.is_empty()).ok_or(Sw::NOT_FOUND)?;
        let receipt = Signed::parse(&envelope)
            .ok()
            .and_then(|s| RechargeReceipt::parse(s.body).ok())
            .ok_or(Sw::MEMORY_FAILURE)?;
        if receipt.sequence == sequence { Ok(envelope) } else { Err(Sw::NOT_FOUND) }
    }
}
