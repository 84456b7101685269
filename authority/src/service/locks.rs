//! Authority LOCK and UNLOCK orders: the operator creates them (numbered per
//! meter), the meter's host fetches the ones its card has not applied.

use super::Authority;
use super::error::ApiError;
use super::meters;
use crate::orders;
use crate::store::{StoreError, Tx, TxResult, Value};
use apdu_specs::inspection::{LockAction, LockOrder};
use host_driver::authority as api;

fn action_name(action: LockAction) -> &'static str {
    match action {
        LockAction::Lock => "lock",
        LockAction::Unlock => "unlock",
    }
}

/// Parses `lock` / `unlock`.
pub fn parse_action(text: &str) -> Result<LockAction, ApiError> {
    match text {
        "lock" => Ok(LockAction::Lock),
        "unlock" => Ok(LockAction::Unlock),
        _ => Err(ApiError::malformed("action must be lock or unlock")),
    }
}

/// Creates and records the next order for a meter; the meter's lifecycle
/// in the registry follows (`locked` / `active`).
pub fn create(
    tx: &mut dyn Tx,
    authority: &Authority,
    meter_id: &[u8; 12],
    action: LockAction,
    reason: u8,
    now: u64,
) -> TxResult<api::LockOrderIssued, ApiError> {
    let Some(meter) = meters::find(tx, meter_id)? else { return Ok(Err(ApiError::unknown_meter(meter_id))) };
    if meter.lifecycle == "revoked" {
        return Ok(Err(ApiError::conflict("meter_not_active", "the meter is revoked")));
    }
    let id = Value::from(&meter_id[..]);
    let last = tx.query_one(
        "SELECT CAST(COALESCE(MAX(sequence), 0) AS BIGINT) FROM lock_orders WHERE meter_id = $1",
        std::slice::from_ref(&id),
    )?;
    let Ok(sequence) = u32::try_from(last.int(0)? + 1) else {
        return Ok(Err(ApiError::conflict("sequence_exhausted", "no order sequence left")));
    };
    let order = LockOrder { meter_id: *meter_id, action, sequence, reason, time: now };
    let envelope = orders::lock_order(&authority.key, &order);
    tx.execute(
        "INSERT INTO lock_orders (meter_id, sequence, action, reason, envelope, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            id.clone(),
            Value::Int(sequence.into()),
            action_name(action).into(),
            Value::Int(reason.into()),
            Value::from(envelope.clone()),
            Value::Int(now as i64),
        ],
    )?;
    let lifecycle = if action == LockAction::Lock { "locked" } else { "active" };
    tx.execute("UPDATE meters SET lifecycle = $2 WHERE meter_id = $1", &[id, lifecycle.into()])?;
    Ok(Ok(api::LockOrderIssued { sequence, action: action_name(action).into(), order: hex::encode(envelope) }))
}

/// The orders above `after`, oldest first.
pub fn pending(tx: &mut dyn Tx, meter_id: &[u8; 12], after: u32) -> Result<api::PendingLockOrders, StoreError> {
    let rows = tx.query(
        "SELECT sequence, action, envelope FROM lock_orders WHERE meter_id = $1 AND sequence > $2 ORDER BY sequence",
        &[Value::from(&meter_id[..]), Value::Int(after.into())],
    )?;
    let orders = rows
        .iter()
        .map(|r| {
            Ok(api::LockOrderIssued {
                sequence: u32::try_from(r.int(0)?).map_err(|_| StoreError::Corrupt("order sequence"))?,
                action: r.text(1)?,
                order: hex::encode(r.bytes(2)?),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(api::PendingLockOrders { orders })
}
