//! Rate-table updates: the authority's latest signed table is installed with
//! UPDATE RATES when it is newer than the card's (the card checks the
//! signature and refuses an older version itself).

use super::{Authority, RemoteError, Retry, call_authority, in_session, read_card, unhex};
use crate::authority::IdempotencyKey;
use crate::meter::Meter;
use crate::pin::Pin;
use crate::transport::Transport;

/// What a rate update came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatesUpdate {
    /// The card's table version before.
    pub card_version: u32,
    /// The latest version the authority published.
    pub published_version: u32,
    /// Its effective date (Unix seconds).
    pub effective_from: u64,
    /// True when this run installed it.
    pub installed: bool,
}

/// Installs the authority's latest rate table when newer than the card's.
pub fn update_rates<T: Transport, A: Authority + ?Sized>(
    meter: &mut Meter<T>,
    pin: &Pin,
    authority: &A,
    retry: &Retry,
) -> Result<RatesUpdate, RemoteError> {
    let unused = IdempotencyKey::new("get");
    let latest = call_authority("latest rate table", retry, &unused, |_| authority.latest_rates())?;
    let card_version = read_card(meter, retry, "status", |tx| tx.status())?.rate_table_version;
    let mut update = RatesUpdate {
        card_version,
        published_version: latest.version,
        effective_from: latest.effective_from,
        installed: false,
    };
    if latest.version <= card_version {
        tracing::info!(card_version, published = latest.version, "the card's rate table is current");
        return Ok(update);
    }
    let envelope = unhex("envelope", &latest.envelope)?;
    in_session(meter, pin, |tx| tx.update_rates(&envelope))??;
    tracing::info!(from = card_version, to = latest.version, "rate table installed");
    update.installed = true;
    Ok(update)
}
