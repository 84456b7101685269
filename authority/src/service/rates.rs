//! Rate-table publication: signed, strictly increasing versions.

use super::Authority;
use super::error::ApiError;
use crate::rates::{RateTableSpec, sign_rate_table};
use crate::store::{StoreError, Tx, TxResult, Value};
use host_driver::authority as api;

/// Signs and records a table; its version must exceed every published one.
pub fn publish(
    tx: &mut dyn Tx,
    authority: &Authority,
    spec: &RateTableSpec,
    now: u64,
) -> TxResult<api::PublishedRateTable, ApiError> {
    let table = match spec.to_table() {
        Ok(t) => t,
        Err(e) => return Ok(Err(ApiError::invalid("bad_rate_table", e.to_string()))),
    };
    let newest = tx.query_one("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM rate_tables", &[])?.int(0)?;
    if i64::from(table.version) <= newest {
        return Ok(Err(ApiError::conflict(
            "stale_version",
            format!("version {} is not above the published {newest}", table.version),
        )));
    }
    let envelope = sign_rate_table(&authority.key, &table);
    tx.execute(
        "INSERT INTO rate_tables (version, effective_from, envelope, published_at) VALUES ($1, $2, $3, $4)",
        &[
            Value::Int(table.version.into()),
            Value::Int(table.effective_from as i64),
            Value::from(envelope.clone()),
            Value::Int(now as i64),
        ],
    )?;
    Ok(Ok(api::PublishedRateTable {
        version: table.version,
        effective_from: table.effective_from,
        envelope: hex::encode(envelope),
    }))
}

/// The newest table, if any.
pub fn latest(tx: &mut dyn Tx) -> Result<Option<api::PublishedRateTable>, StoreError> {
    let row =
        tx.query_opt("SELECT version, effective_from, envelope FROM rate_tables ORDER BY version DESC LIMIT 1", &[])?;
    row.map(|r| {
        Ok(api::PublishedRateTable {
            version: u32::try_from(r.int(0)?).map_err(|_| StoreError::Corrupt("rate table version"))?,
            effective_from: r.uint(1)?,
            envelope: hex::encode(r.bytes(2)?),
        })
    })
    .transpose()
}
