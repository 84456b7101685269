//! Charging: the one debit path of every value service (postage and
//! rate-table fees), which first collects a revocation fee left owing, and
//! the fee of a charged service, staged in the command's [`StateChange`]
//! together with its count and audit record.

use super::rates::table_in_force;
use crate::applet::{Core, StateChange};
use crate::platform::Platform;
use crate::state::Counters;
use apdu_specs::audit::Event;
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;

/// The ascending register a debit credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ascending {
    /// AR_p.
    Postage,
    /// AR_c.
    Certificates,
}

/// What a fee DR cannot cover (with the debt already owed) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shortfall {
    /// Refused with the funds status: the service is not carried out.
    Refuse,
    /// Added to the debt (a revocation is carried out whatever the funds).
    Owe,
}

/// A service fee as staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fee {
    /// The rate-table fee.
    pub(crate) due: u32,
    /// What was debited now (`due`, or 0 when the fee became a debt).
    pub(crate) collected: u64,
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

impl StateChange {
    /// The one debit path, for postage and every fee. Collects the debt
    /// first (AR_c += debt, DR -= debt, with its audit record), then moves
    /// `amount` from DR to `to` and counts `service`; returns the new count.
    /// Unless DR covers debt + amount it refuses with the funds status, and
    /// the caller drops the change.
    pub(crate) fn debit(&mut self, service: Service, amount: u64, to: Ascending) -> Result<u32, Sw> {
        let regs = &self.counters().regs;
        let debt = regs.debt;
        let needed = debt.checked_add(amount).ok_or(Sw::INSUFFICIENT_FUNDS)?;
        if regs.descending < needed {
            return Err(Sw::INSUFFICIENT_FUNDS);
        }
        if debt > 0 {
            let regs = &mut self.counters_mut().regs;
            regs.descending -= debt;
            regs.ar_certificates = regs.ar_certificates.checked_add(debt).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
            regs.debt = 0;
            self.audit(Event::DebtCollected, debt, &[service.code()]);
        }
        let regs = &mut self.counters_mut().regs;
        regs.descending -= amount;
        let register = match to {
            Ascending::Postage => &mut regs.ar_postage,
            Ascending::Certificates => &mut regs.ar_certificates,
        };
        *register = register.checked_add(amount).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        count_one(self.counters_mut(), service)
    }
}

impl<P: Platform> Core<P> {
    /// Starts the change of a charged certificate service: refuses an
    /// overdue inspection and insufficient funds (nothing changed), then
    /// stages the fee, the count and the audit record. `detail` follows the
    /// service code in the record.
    pub(crate) fn charged(&mut self, service: Service, detail: &[u8]) -> Result<StateChange, Sw> {
        let now = self.now()?;
        self.refuse_when_overdue(now)?;
        let mut change = self.change(now);
        self.charge_fee(&mut change, service, detail, Shortfall::Refuse)?;
        Ok(change)
    }

    /// Stages `service`'s fee from the rate table in force at the change's
    /// time (promoting a pending table that is due), its count and audit
    /// record, and raises the clock floor.
    pub(crate) fn charge_fee(
        &mut self,
        change: &mut StateChange,
        service: Service,
        detail: &[u8],
        shortfall: Shortfall,
    ) -> Result<Fee, Sw> {
        self.promote_due_table(change)?;
        let due = table_in_force(change, &self.state.rates).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?.fee(service);
        let regs = &change.counters().regs;
        let covered = regs.debt.checked_add(u64::from(due)).is_some_and(|needed| regs.descending >= needed);
        let d = service_detail(service, detail);
        let collected = if shortfall == Shortfall::Refuse || covered {
            change.debit(service, u64::from(due), Ascending::Certificates)?;
            change.audit(Event::ServiceCharged, u64::from(due), &d);
            u64::from(due)
        } else {
            let regs = &mut change.counters_mut().regs;
            regs.debt = regs.debt.checked_add(u64::from(due)).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
            count_one(change.counters_mut(), service)?;
            change.audit(Event::DebtRecorded, u64::from(due), &d);
            0
        };
        change.raise_time_floor(change.time());
        Ok(Fee { due, collected })
    }
}
