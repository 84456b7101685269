//! Inspection (DESIGN §5): INSPECTION REPORT → authority → acknowledgement
//! → INSPECTION ACK, then the LOCK and UNLOCK orders the card has not
//! applied, in sequence.

use super::{Authority, RemoteError, Retry, call_authority, in_session, meter_id, read_card, unhex};
use crate::authority::IdempotencyKey;
use crate::error::{CardStatus, MeterError};
use crate::meter::Meter;
use crate::pin::Pin;
use crate::transport::Transport;
use apdu_specs::audit::Event;
use apdu_specs::registers::{Status, flags};

/// An order the card applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedOrder {
    /// Order sequence.
    pub sequence: u32,
    /// `lock` or `unlock`.
    pub action: String,
}

/// What an inspection came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The deadline the acknowledgement set; `None` when the authority found discrepancies.
    pub next_deadline: Option<u64>,
    /// The authority's discrepancies (empty when the report was clean).
    pub discrepancies: Vec<String>,
    /// LOCK/UNLOCK orders applied by this run, oldest first.
    pub orders: Vec<AppliedOrder>,
    /// The card's status afterwards.
    pub status: Status,
}

/// The sequence of the last LOCK/UNLOCK order in the card's audit log (0 when none is there).
fn last_applied_order<T: Transport>(meter: &mut Meter<T>, retry: &Retry) -> Result<u32, RemoteError> {
    let (_, records) = read_card(meter, retry, "audit log", |tx| tx.audit_log())?;
    Ok(records
        .iter()
        .rev()
        .find(|r| matches!(r.event, Event::Locked | Event::Unlocked) && r.detail[0] == flags::LOCKED_AUTHORITY)
        .map_or(0, |r| u32::from_be_bytes([r.detail[1], r.detail[2], r.detail[3], r.detail[4]])))
}

/// Sends an inspection report, installs the acknowledgement, then applies
/// the pending LOCK/UNLOCK orders in sequence. An order the card already
/// applied (refused as stale, 6985) is skipped.
pub fn inspect<T: Transport, A: Authority + ?Sized>(
    meter: &mut Meter<T>,
    pin: &Pin,
    authority: &A,
    retry: &Retry,
) -> Result<Inspected, RemoteError> {
    let id = meter_id(meter)?;
    let result = in_session(meter, pin, |tx| -> Result<_, RemoteError> {
        let report = tx.inspection_report()?;
        let key = IdempotencyKey::generate()?;
        let result = call_authority("inspection", retry, &key, |k| authority.inspect(k, &report))?;
        if let Some(ack) = &result.ack {
            tx.inspection_ack(&unhex("ack", ack)?)?;
        }
        Ok(result)
    })??;
    if !result.discrepancies.is_empty() {
        tracing::warn!(discrepancies = ?result.discrepancies, "the authority found discrepancies: no acknowledgement");
    }
    let after = last_applied_order(meter, retry)?;
    let unused = IdempotencyKey::new("get");
    let pending = call_authority("lock orders", retry, &unused, |_| authority.lock_orders(&id, after))?;
    let mut orders = Vec::new();
    for order in pending.orders {
        let envelope = unhex("order", &order.order)?;
        match meter.run(|tx| {
            tx.select()?;
            tx.lock_order(&envelope)
        }) {
            Ok(()) => {
                tracing::info!(sequence = order.sequence, action = %order.action, "order applied");
                orders.push(AppliedOrder { sequence: order.sequence, action: order.action });
            }
            Err(MeterError::Card(CardStatus::ConditionsNotSatisfied)) => {
                tracing::debug!(sequence = order.sequence, "order already applied");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let status = read_card(meter, retry, "status", |tx| tx.status())?;
    Ok(Inspected { next_deadline: result.next_deadline, discrepancies: result.discrepancies, orders, status })
}
