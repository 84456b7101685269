//! Idempotency keys (IETF httpapi draft): the response to a state-changing
//! request is stored with its key and the request's hash, in the same
//! transaction as the request's effect. A replay returns the stored response;
//! the same key with another request is 422. Refusals are not stored (nothing
//! is written for them), so a replay of a refused request is judged again.
//! A key still being processed is answered 409 by the HTTP layer.

use super::error::ApiError;
use crate::store::{Tx, TxResult, Value};

/// A stored or fresh answer: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Status.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
}

/// Runs `op` under `key` in one transaction (see the module docs).
pub fn run<T: serde::Serialize>(
    tx: &mut dyn Tx,
    key: &str,
    request_hash: &[u8; 32],
    now: u64,
    op: impl FnOnce(&mut dyn Tx) -> TxResult<T, ApiError>,
) -> TxResult<Stored, ApiError> {
    if let Some(row) = tx.query_opt(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE idempotency_key = $1",
        &[key.into()],
    )? {
        if row.bytes(0)? != request_hash {
            return Ok(Err(ApiError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request",
            )));
        }
        let status = u16::try_from(row.int(1)?).unwrap_or(500);
        return Ok(Ok(Stored { status, body: row.bytes(2)? }));
    }
    let value = match op(tx)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let body = serde_json::to_vec(&value).map_err(|_| crate::store::StoreError::Corrupt("response encoding"))?;
    tx.execute(
        "INSERT INTO idempotency_keys (idempotency_key, request_hash, state, status, response, created_at)
         VALUES ($1, $2, 'completed', 200, $3, $4)",
        &[key.into(), Value::from(&request_hash[..]), Value::from(body.clone()), Value::Int(now as i64)],
    )?;
    Ok(Ok(Stored { status: 200, body }))
}
