//! Charging a rate-table fee: one place computes the debit, the service
//! count and the audit record that every charged certificate service commits
//! together with its own state change.

use super::rates::promoted;
use crate::applet::Core;
use crate::platform::{Platform, WriteSet};
use crate::state::{Counters, Rates, records};
use apdu_specs::audit::Event;
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;

/// A debit prepared but not yet committed.
pub(crate) struct Charge {
    /// Counters after the debit.
    pub(crate) counters: Counters,
    /// The writes to commit (counters, audit record, promoted rate table); handlers add their own.
    pub(crate) set: WriteSet,
    /// The fee debited.
    pub(crate) fee: u64,
    /// The rate-table fee (above `fee` only when a shortfall was recorded as unpaid).
    pub(crate) due: u32,
    /// Card time of the charge.
    pub(crate) now: u64,
    rates: Rates,
}

impl<P: Platform> Core<P> {
    /// Prepares the debit of `service`'s fee: refuses an overdue inspection
    /// and insufficient funds (nothing changed), counts the service and
    /// appends its audit record. `detail` follows the service code in the record.
    pub(crate) fn prepare_charge(&mut self, service: Service, detail: &[u8]) -> Result<Charge, Sw> {
        let now = self.now()?;
        self.enforce_inspection(now)?;
        self.prepare_charge_at(service, detail, now, true)
    }

    /// As [`Self::prepare_charge`], at `now`; with `must_pay` false a shortfall
    /// is recorded as unpaid (fee 0) instead of refused.
    pub(crate) fn prepare_charge_at(
        &mut self,
        service: Service,
        detail: &[u8],
        now: u64,
        must_pay: bool,
    ) -> Result<Charge, Sw> {
        let mut set = WriteSet::new();
        let rates = promoted(&self.state.rates, now, &mut set);
        let table = &rates.active.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?.table;
        let due = table.fee(service);
        let mut fee = u64::from(due);
        let mut counters = self.state.counters;
        let regs = &mut counters.regs;
        if regs.descending < fee {
            if must_pay {
                return Err(Sw::INSUFFICIENT_FUNDS);
            }
            fee = 0;
        }
        regs.descending -= fee;
        regs.ar_certificates = regs.ar_certificates.checked_add(fee).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let count = regs.counts.get_mut(service.index()).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        *count = count.checked_add(1).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        counters.time_floor = counters.time_floor.max(now);
        let mut d = [0u8; 16];
        d[0] = service.code();
        for (o, b) in d.iter_mut().skip(1).zip(detail) {
            *o = *b;
        }
        self.append_audit(&mut counters, &mut set, now, Event::ServiceCharged, fee, &d);
        set.put(records::COUNTERS, counters.encode());
        Ok(Charge { counters, set, fee, due, now, rates })
    }

    /// Commits the charge with the handler's writes; only then is the in-memory state updated.
    pub(crate) fn commit_charge(&mut self, charge: Charge) -> Result<u64, Sw> {
        let Charge { counters, set, fee, due: _, now: _, rates } = charge;
        self.commit(&set)?;
        self.state.counters = counters;
        self.state.rates = rates;
        Ok(fee)
    }
}
