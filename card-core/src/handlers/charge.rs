//! Charging: the one debit path of every value service (postage and
//! rate-table fees), which first collects a revocation fee left owing, and
//! the debit, count and audit record that every charged certificate service
//! commits together with its own state change.

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
    /// The rate-table fee (above `fee` only when a shortfall was kept as a debt).
    pub(crate) due: u32,
    /// Card time of the charge.
    pub(crate) now: u64,
    rates: Rates,
}

/// The ascending register a debit credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ascending {
    /// AR_p.
    Postage,
    /// AR_c.
    Certificates,
}

/// The 16-byte audit detail of a service: its code, then `detail`.
fn service_detail(service: Service, detail: &[u8]) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[0] = service.code();
    for (o, b) in d.iter_mut().skip(1).zip(detail) {
        *o = *b;
    }
    d
}

fn count_one(counters: &mut Counters, service: Service) -> Result<u32, Sw> {
    let count = counters.regs.counts.get_mut(service.index()).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
    *count = count.checked_add(1).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
    Ok(*count)
}

impl<P: Platform> Core<P> {
    /// The one debit path. Collects the debt first (AR_c += debt, DR -= debt,
    /// with its audit record), then moves `amount` from DR to `to` and counts
    /// `service`; returns the new count. Unless DR covers debt + amount it
    /// refuses with the funds status, and the caller drops `counters` and `set`.
    pub(crate) fn debit(
        &mut self,
        counters: &mut Counters,
        set: &mut WriteSet,
        now: u64,
        service: Service,
        amount: u64,
        to: Ascending,
    ) -> Result<u32, Sw> {
        let debt = counters.regs.debt;
        let needed = debt.checked_add(amount).ok_or(Sw::INSUFFICIENT_FUNDS)?;
        if counters.regs.descending < needed {
            return Err(Sw::INSUFFICIENT_FUNDS);
        }
        if debt > 0 {
            let regs = &mut counters.regs;
            regs.descending -= debt;
            regs.ar_certificates = regs.ar_certificates.checked_add(debt).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
            regs.debt = 0;
            self.append_audit(counters, set, now, Event::DebtCollected, debt, &[service.code()]);
        }
        let regs = &mut counters.regs;
        regs.descending -= amount;
        let register = match to {
            Ascending::Postage => &mut regs.ar_postage,
            Ascending::Certificates => &mut regs.ar_certificates,
        };
        *register = register.checked_add(amount).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        count_one(counters, service)
    }

    /// Prepares the debit of `service`'s fee: refuses an overdue inspection
    /// and insufficient funds (nothing changed), counts the service and
    /// appends its audit record. `detail` follows the service code in the record.
    pub(crate) fn prepare_charge(&mut self, service: Service, detail: &[u8]) -> Result<Charge, Sw> {
        let now = self.now()?;
        self.enforce_inspection(now)?;
        self.prepare_charge_at(service, detail, now, true)
    }

    /// As [`Self::prepare_charge`], at `now`; with `must_pay` false a fee
    /// that DR cannot cover (with the debt already owed) is added to the debt
    /// instead of refused.
    pub(crate) fn prepare_charge_at(
        &mut self,
        service: Service,
        detail: &[u8],
        now: u64,
        must_pay: bool,
    ) -> Result<Charge, Sw> {
        let mut set = WriteSet::new();
        let rates = promoted(&self.state.rates, now, &mut set);
        let due = rates.active.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?.table.fee(service);
        let mut counters = self.state.counters;
        let regs = &counters.regs;
        let covered = regs.debt.checked_add(u64::from(due)).is_some_and(|needed| regs.descending >= needed);
        let d = service_detail(service, detail);
        let fee = if must_pay || covered {
            self.debit(&mut counters, &mut set, now, service, u64::from(due), Ascending::Certificates)?;
            self.append_audit(&mut counters, &mut set, now, Event::ServiceCharged, u64::from(due), &d);
            u64::from(due)
        } else {
            let regs = &mut counters.regs;
            regs.debt = regs.debt.checked_add(u64::from(due)).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
            count_one(&mut counters, service)?;
            self.append_audit(&mut counters, &mut set, now, Event::DebtRecorded, u64::from(due), &d);
            0
        };
        counters.time_floor = counters.time_floor.max(now);
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
