//! UPDATE RATES and the promotion of a pending table on its effective date.

use crate::applet::Core;
use crate::platform::{Platform, WriteSet};
use crate::state::{Counters, LoadedTable, Rates, records};
use alloc::vec::Vec;
use apdu_specs::audit::Event;
use apdu_specs::rates::RateTable;
use apdu_specs::signed::DOMAIN_RATE_TABLE;
use apdu_specs::sw::Sw;

/// The rate tables after promoting a pending table that is due at `now`,
/// with the writes that make it so.
pub(crate) fn promoted(rates: &Rates, now: u64, set: &mut WriteSet) -> Rates {
    match &rates.pending {
        Some(p) if p.table.effective_from <= now => {
            set.put(records::RATES_ACTIVE, p.signed.clone());
            set.put(records::RATES_PENDING, Vec::new());
            Rates { active: Some(p.clone()), pending: None }
        }
        _ => rates.clone(),
    }
}

impl<P: Platform> Core<P> {
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
        let mut set = WriteSet::new();
        let mut rates = promoted(&self.state.rates, now, &mut set);
        let loaded = LoadedTable { table, signed: data.to_vec() };
        let (version, effective) = (loaded.table.version, loaded.table.effective_from);
        if effective <= now {
            set.put(records::RATES_ACTIVE, loaded.signed.clone());
            set.put(records::RATES_PENDING, Vec::new());
            rates = Rates { active: Some(loaded), pending: None };
        } else {
            set.put(records::RATES_PENDING, loaded.signed.clone());
            rates.pending = Some(loaded);
        }
        let mut counters: Counters = self.state.counters;
        counters.rate_version_seen = version;
        counters.time_floor = now;
        let mut detail = Vec::with_capacity(12);
        detail.extend_from_slice(&version.to_be_bytes());
        detail.extend_from_slice(&effective.to_be_bytes());
        self.append_audit(&mut counters, &mut set, now, Event::RatesUpdated, 0, &detail);
        set.put(records::COUNTERS, counters.encode());
        self.commit(&set)?;
        self.state.rates = rates;
        self.state.counters = counters;
        Ok(Vec::new())
    }
}
