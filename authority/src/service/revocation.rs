//! Revocation (Fig. 6): the device-signed request (602) is verified (a bad
//! signature is refused, 604/606); the CA revokes every certificate of the
//! key and the authority records time and reason (622) with the signed order
//! (608); the card's confirmation, "paid" or "payment due" (616–624), is
//! recorded. A forced revocation skips the request. The CRL is regenerated
//! after each revocation (by the caller, once the transaction committed).
//!
//! The CA's certificate database is its own SQLite file: the CA revocation
//! is idempotent and happens first, so a crash between it and the record is
//! completed by the retried request.

use super::Authority;
use super::error::ApiError;
use super::meters;
use crate::ca::RevokeError;
use crate::orders;
use crate::store::{StoreError, Tx, TxResult, Value};
use apdu_specs::certs::{
    DOMAIN_REVOCATION_CONFIRMATION, DOMAIN_REVOCATION_REQUEST, RevocationConfirmation, RevocationRequest,
};
use apdu_specs::signed::Signed;
use host_driver::authority as api;

/// What is revoked and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Meter.
    pub meter_id: [u8; 12],
    /// Slot.
    pub slot: u8,
    /// The slot's key.
    pub public_key: [u8; 65],
    /// CRL reason code.
    pub reason: u8,
}

/// Verifies a request (602–606) and revokes.
pub fn request(
    tx: &mut dyn Tx,
    authority: &Authority,
    envelope: &[u8],
    now: u64,
) -> TxResult<api::RevocationOrderIssued, ApiError> {
    let parsed = Signed::parse(envelope).and_then(|s| RevocationRequest::parse(s.body).map(|r| (s, r)));
    let (signed, r) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(ApiError::malformed(format!("revocation request: {e}")))),
    };
    if let Err(e) = meters::verify_device(tx, &r.meter_id, DOMAIN_REVOCATION_REQUEST, &signed)? {
        return Ok(Err(e));
    }
    let target = Target { meter_id: r.meter_id, slot: r.slot, public_key: r.public_key, reason: r.reason };
    revoke(tx, authority, target, Some(envelope), now)
}

/// Revokes `target` (forced when `request` is `None`) and records it; a key
/// already revoked returns the recorded order.
pub fn revoke(
    tx: &mut dyn Tx,
    authority: &Authority,
    target: Target,
    request: Option<&[u8]>,
    now: u64,
) -> TxResult<api::RevocationOrderIssued, ApiError> {
    if meters::find(tx, &target.meter_id)?.is_none() {
        return Ok(Err(ApiError::unknown_meter(&target.meter_id)));
    }
    let key = Value::from(&target.public_key[..]);
    if let Some(row) = tx.query_opt(
        "SELECT order_envelope, recorded_at, reason FROM revocations WHERE public_key = $1",
        std::slice::from_ref(&key),
    )? {
        return Ok(Ok(api::RevocationOrderIssued {
            order: hex::encode(row.bytes(0)?),
            recorded_at: row.uint(1)?,
            reason: u8::try_from(row.int(2)?).map_err(|_| StoreError::Corrupt("revocation reason"))?,
        }));
    }
    let revoked =
        authority.with_ca(|ca| ca.revoke_key(&target.meter_id, target.slot, &target.public_key, target.reason, now));
    match revoked {
        Ok(serials) => {
            tracing::info!(meter = %hex::encode(target.meter_id), slot = target.slot, certificates = serials.len(), "key revoked")
        }
        Err(RevokeError::UnknownKey { .. }) => {
            return Ok(Err(ApiError::new(
                404,
                "unknown_key",
                "the CA never certified this key for that meter and slot",
            )));
        }
        Err(RevokeError::Db(e)) => {
            tracing::error!(error = %e, "certificate database");
            return Ok(Err(ApiError::new(503, "storage", "the certificate database failed")));
        }
    }
    let order =
        orders::revocation_order(&authority.key, &target.meter_id, target.slot, &target.public_key, target.reason, now);
    tx.execute(
        "INSERT INTO revocations (public_key, meter_id, slot, reason, recorded_at, forced, request, order_envelope)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            key,
            Value::from(&target.meter_id[..]),
            Value::Int(target.slot.into()),
            Value::Int(target.reason.into()),
            Value::Int(now as i64),
            Value::Int(i64::from(request.is_none())),
            request.map(<[u8]>::to_vec).into(),
            Value::from(order.clone()),
        ],
    )?;
    Ok(Ok(api::RevocationOrderIssued { order: hex::encode(order), recorded_at: now, reason: target.reason }))
}

/// The orders issued for `meter_id` whose confirmation the authority has not
/// received, oldest first: a forced revocation reaches the card this way.
pub fn pending(tx: &mut dyn Tx, meter_id: &[u8; 12]) -> Result<api::PendingRevocationOrders, StoreError> {
    let rows = tx.query(
        "SELECT order_envelope, recorded_at, reason FROM revocations
         WHERE meter_id = $1 AND confirmation IS NULL ORDER BY recorded_at, slot",
        &[Value::from(&meter_id[..])],
    )?;
    let orders = rows
        .iter()
        .map(|row| {
            Ok(api::RevocationOrderIssued {
                order: hex::encode(row.bytes(0)?),
                recorded_at: row.uint(1)?,
                reason: u8::try_from(row.int(2)?).map_err(|_| StoreError::Corrupt("revocation reason"))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(api::PendingRevocationOrders { orders })
}

/// Records the card's confirmation (616–624).
pub fn confirm(tx: &mut dyn Tx, envelope: &[u8], now: u64) -> TxResult<api::RevocationConfirmed, ApiError> {
    let parsed = Signed::parse(envelope).and_then(|s| RevocationConfirmation::parse(s.body).map(|r| (s, r)));
    let (signed, c) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(ApiError::malformed(format!("revocation confirmation: {e}")))),
    };
    if let Err(e) = meters::verify_device(tx, &c.meter_id, DOMAIN_REVOCATION_CONFIRMATION, &signed)? {
        return Ok(Err(e));
    }
    let key = Value::from(&c.public_key[..]);
    let Some(row) = tx.query_opt(
        "SELECT meter_id, slot, confirmation FROM revocations WHERE public_key = $1",
        std::slice::from_ref(&key),
    )?
    else {
        return Ok(Err(ApiError::new(404, "unknown_revocation", "no revocation order was issued for this key")));
    };
    if row.bytes(0)? != c.meter_id || row.int(1)? != i64::from(c.slot) {
        return Ok(Err(ApiError::conflict("confirmation_mismatch", "the confirmation names another meter or slot")));
    }
    let answer = api::RevocationConfirmed { payment: if c.paid { "paid" } else { "payment_due" }.into(), fee: c.fee };
    match row.opt_bytes(2)? {
        Some(stored) if stored == envelope => return Ok(Ok(answer)),
        Some(_) => return Ok(Err(ApiError::conflict("replay", "another confirmation was recorded for this key"))),
        None => {}
    }
    tx.execute(
        "UPDATE revocations SET confirmation = $2, paid = $3, fee = $4, confirmed_at = $5 WHERE public_key = $1",
        &[key, envelope.into(), Value::Int(c.paid.into()), Value::Int(c.fee.into()), Value::Int(now as i64)],
    )?;
    Ok(Ok(answer))
}
