//! UPDATE RATES and the promotion of a pending table on its effective date.

use crate::applet::{Core, StateChange};
use crate::platform::{Platform, Store};
use crate::state::{Rates, records};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::rates::RateTable;
use apdu_specs::signed::DOMAIN_RATE_TABLE;
use apdu_specs::sw::Sw;

/// The table in force for `change`: the one it puts in force, else the committed one.
pub(crate) fn table_in_force<'a>(change: &'a StateChange, committed: &'a Rates) -> Option<&'a RateTable> {
    change.staged_active_table().or(committed.active.as_ref())
}

impl<P: Platform> Core<P> {
    /// Stages the promotion of the pending table when it is due at the
    /// change's time: its envelope is read from the store and becomes the
    /// active record.
    pub(crate) fn promote_due_table(&mut self, change: &mut StateChange) -> Result<(), Sw> {
        let Some(table) = self.state.rates.due(change.time()).cloned() else {
            return Ok(());
        };
        let envelope = self.platform.store().read(records::RATES_PENDING).map_err(|_| Sw::MEMORY_FAILURE)?;
        change.put_active_table(table, envelope.ok_or(Sw::MEMORY_FAILURE)?);
        change.clear_pending_table();
        Ok(())
    }

    pub(crate) fn update_rates(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let config = self.state.config.as_ref().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let (authority, currency, exponent) = (config.authority_key, config.currency, config.exponent);
        let body = self.verified_body(data, DOMAIN_RATE_TABLE, &authority)?;
        let table = RateTable::parse_body(body).map_err(|_| Sw::BAD_DATA)?;
        if table.currency != currency || table.exponent != exponent {
            return Err(Sw::BAD_DATA);
        }
        if table.version <= self.state.counters.rate_version_seen {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let now = self.now()?;
        let mut change = self.change(now);
        self.promote_due_table(&mut change)?;
        let (version, effective) = (table.version, table.effective_from);
        if effective <= now {
            change.put_active_table(table, data.to_vec());
            change.clear_pending_table();
        } else {
            change.put_pending_table(table, data.to_vec());
        }
        change.counters_mut().rate_version_seen = version;
        change.raise_time_floor(now);
        let mut detail = Vec::with_capacity(12);
        detail.extend_from_slice(&version.to_be_bytes());
        detail.extend_from_slice(&effective.to_be_bytes());
        change.audit(Event::RatesUpdated, 0, &detail);
        self.commit(change)?;
        Ok(Vec::new())
    }
}
