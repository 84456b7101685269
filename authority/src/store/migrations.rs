//! Versioned migrations. Each one runs in its own transaction together with
//! its row in `schema_migrations`, so two processes migrating at once never
//! apply one twice (the second hits the primary key, or a serialization
//! conflict, and re-reads); no advisory locks, so the same code runs on
//! PostgreSQL-wire engines that have none.

use super::{Backend, StoreError, Tx, Value, transact};

/// `(version, name, statements)`, oldest first. Never edit a published entry; add one.
pub const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "service tables", V1), (2, "settled payments indexed by line of credit", V2)];

/// The settlement check sums the payments of one line: without this index
/// PostgreSQL scans the whole table, and under SERIALIZABLE a scan takes a
/// relation-wide predicate lock, so every pair of concurrent settlements
/// conflicts (found by the loopback load test, `bench --bin authority-load`).
const V2: &str = "CREATE INDEX settled_payments_by_line ON settled_payments (line_serial)";

const V1: &str = "
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    updated_at BIGINT NOT NULL
);
CREATE TABLE meters (
    meter_id BYTEA PRIMARY KEY,
    device_key BYTEA NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    lifecycle TEXT NOT NULL,
    nt BIGINT NOT NULL,
    control_total BIGINT,
    registers BYTEA,
    deadline BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_seen BIGINT
);
CREATE TABLE recharges (
    meter_id BYTEA NOT NULL REFERENCES meters(meter_id),
    sequence BIGINT NOT NULL,
    nonce BYTEA NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    new_control_total BIGINT NOT NULL,
    s1 BYTEA NOT NULL,
    s2 BYTEA NOT NULL,
    s3 BYTEA,
    state TEXT NOT NULL CHECK (state IN ('authorized', 'settled')),
    authorized_at BIGINT NOT NULL,
    settled_at BIGINT,
    PRIMARY KEY (meter_id, sequence)
);
CREATE TABLE inspections (
    meter_id BYTEA NOT NULL REFERENCES meters(meter_id),
    report_digest BYTEA NOT NULL,
    report BYTEA NOT NULL,
    discrepancies TEXT NOT NULL,
    ack BYTEA,
    next_deadline BIGINT,
    inspected_at BIGINT NOT NULL,
    PRIMARY KEY (meter_id, report_digest)
);
CREATE TABLE lock_orders (
    meter_id BYTEA NOT NULL REFERENCES meters(meter_id),
    sequence BIGINT NOT NULL,
    action TEXT NOT NULL,
    reason BIGINT NOT NULL,
    envelope BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (meter_id, sequence)
);
CREATE TABLE rate_tables (
    version BIGINT PRIMARY KEY,
    effective_from BIGINT NOT NULL,
    envelope BYTEA NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE TABLE revocations (
    public_key BYTEA PRIMARY KEY,
    meter_id BYTEA NOT NULL REFERENCES meters(meter_id),
    slot BIGINT NOT NULL,
    reason BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    forced BIGINT NOT NULL,
    request BYTEA,
    order_envelope BYTEA NOT NULL,
    confirmation BYTEA,
    paid BIGINT,
    fee BIGINT,
    confirmed_at BIGINT
);
CREATE TABLE credit_lines (
    serial BIGINT PRIMARY KEY,
    meter_id BYTEA NOT NULL REFERENCES meters(meter_id),
    line BIGINT NOT NULL CHECK (line > 0),
    digest BYTEA NOT NULL UNIQUE,
    envelope BYTEA NOT NULL,
    issued_at BIGINT NOT NULL
);
CREATE TABLE settled_payments (
    meter_id BYTEA NOT NULL REFERENCES meters(meter_id),
    serial BIGINT NOT NULL,
    line_serial BIGINT NOT NULL REFERENCES credit_lines(serial),
    amount BIGINT NOT NULL CHECK (amount > 0),
    merchant TEXT NOT NULL,
    certificate BYTEA NOT NULL,
    settled_at BIGINT NOT NULL,
    PRIMARY KEY (meter_id, serial)
);
CREATE TABLE idempotency_keys (
    idempotency_key TEXT PRIMARY KEY,
    request_hash BYTEA NOT NULL,
    state TEXT NOT NULL,
    status BIGINT NOT NULL,
    response BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
)
";

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Applies every pending migration; refuses a database newer than this build.
pub fn migrate<B: Backend>(backend: &mut B) -> Result<(), StoreError> {
    backend.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )?;
    for &(version, name, statements) in MIGRATIONS {
        let applied = transact(backend, |tx: &mut dyn Tx| {
            let newest =
                tx.query_one("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations", &[])?;
            let newest = newest.int(0)?;
            if newest > latest() {
                return Ok(Err(StoreError::SchemaTooNew { found: newest, known: latest() }));
            }
            if tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version.into()])?.is_some() {
                return Ok(Ok(false));
            }
            for statement in statements.split(';').filter(|s| !s.trim().is_empty()) {
                tx.execute(statement, &[])?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[version.into(), Value::from(name), Value::Int(crate::service::clock::unix_now() as i64)],
            )?;
            Ok(Ok(true))
        })??;
        if applied {
            tracing::info!(version, name, "migration applied");
        }
    }
    Ok(())
}
