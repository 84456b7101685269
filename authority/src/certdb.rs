//! The CA's durable store (SQLite, WAL, synchronous FULL): the meter
//! registry, every certificate issued with its status, and the counters for
//! serials and CRL numbers. A write is durable before the call returns.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite error.
    #[error("certificate database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value did not decode.
    #[error("certificate database holds a malformed {0}")]
    Corrupt(&'static str),
}

/// Certificate status in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Issued and not revoked.
    Valid,
    /// Revoked at a time for a reason.
    Revoked {
        /// Unix seconds.
        time: u64,
        /// CRL reason code.
        reason: u8,
    },
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Serial magnitude.
    pub serial: Vec<u8>,
    /// Meter it was issued to (hex meter ID).
    pub meter_id: [u8; 12],
    /// Slot on the meter.
    pub slot: u8,
    /// Subject Name (DER).
    pub subject: Vec<u8>,
    /// Usage byte.
    pub usage: u8,
    /// notBefore.
    pub not_before: u64,
    /// notAfter.
    pub not_after: u64,
    /// Status.
    pub status: Status,
    /// The certificate.
    pub der: Vec<u8>,
}

/// A certificates row as stored.
type RawRow = (Vec<u8>, Vec<u8>, u8, Vec<u8>, u8, i64, i64, Option<i64>, Option<u8>, Vec<u8>);

/// The database.
#[derive(Debug)]
pub struct CertDb {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meters (
    meter_id BLOB PRIMARY KEY,
    device_key BLOB NOT NULL,
    registered_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    serial BLOB PRIMARY KEY,
    meter_id BLOB NOT NULL REFERENCES meters(meter_id),
    slot INTEGER NOT NULL,
    subject BLOB NOT NULL,
    usage INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revoked_at INTEGER,
    reason INTEGER,
    der BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_by_meter ON certificates(meter_id, slot);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

fn meter(bytes: Vec<u8>) -> Result<[u8; 12], DbError> {
    bytes.try_into().map_err(|_| DbError::Corrupt("meter id"))
}

impl CertDb {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Self::init(Connection::open(path)?)
    }

    /// A private in-memory database (tests, demos).
    pub fn in_memory() -> Result<Self, DbError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, DbError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Registers a meter and its device key (the certificate communication key).
    pub fn register_meter(&self, meter_id: &[u8; 12], device_key: &[u8; 65], now: u64) -> Result<(), DbError> {
        self.conn.execute(
            "INSERT INTO meters (meter_id, device_key, registered_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(meter_id) DO UPDATE SET device_key = excluded.device_key",
            params![&meter_id[..], &device_key[..], now as i64],
        )?;
        Ok(())
    }

    /// The registered device key of a meter.
    pub fn device_key(&self, meter_id: &[u8; 12]) -> Result<Option<[u8; 65]>, DbError> {
        let key: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT device_key FROM meters WHERE meter_id = ?1", params![&meter_id[..]], |r| r.get(0))
            .optional()?;
        key.map(|k| k.try_into().map_err(|_| DbError::Corrupt("device key"))).transpose()
    }

    /// Takes the next value of a named counter (starting at 1), durably.
    pub fn next(&mut self, name: &str) -> Result<u64, DbError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO counters (name, value) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            params![name],
        )?;
        let v: i64 = tx.query_row("SELECT value FROM counters WHERE name = ?1", params![name], |r| r.get(0))?;
        tx.commit()?;
        Ok(v as u64)
    }

    /// Records an issued certificate.
    pub fn insert(&self, c: &CertificateRecord) -> Result<(), DbError> {
        self.conn.execute(
            "INSERT INTO certificates (serial, meter_id, slot, subject, usage, not_before, not_after, der)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.serial,
                &c.meter_id[..],
                c.slot,
                c.subject,
                c.usage,
                c.not_before as i64,
                c.not_after as i64,
                c.der
            ],
        )?;
        Ok(())
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
        ))
    }

    fn records(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<CertificateRecord>, DbError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(args, Self::row)?;
        let mut out = Vec::new();
        for row in rows {
            let (serial, meter_id, slot, subject, usage, nb, na, revoked_at, reason, der) = row?;
            let status = match revoked_at {
                Some(t) => Status::Revoked { time: t as u64, reason: reason.unwrap_or(0) },
                None => Status::Valid,
            };
            out.push(CertificateRecord {
                serial,
                meter_id: meter(meter_id)?,
                slot,
                subject,
                usage,
                not_before: nb as u64,
                not_after: na as u64,
                status,
                der,
            });
        }
        Ok(out)
    }

    const COLUMNS: &'static str = "SELECT serial, meter_id, slot, subject, usage, not_before, not_after, revoked_at, reason, der FROM certificates";

    /// A certificate by serial.
    pub fn certificate(&self, serial: &[u8]) -> Result<Option<CertificateRecord>, DbError> {
        Ok(self.records(&format!("{} WHERE serial = ?1", Self::COLUMNS), params![serial])?.pop())
    }

    /// Every certificate of a meter, oldest first.
    pub fn certificates_of(&self, meter_id: &[u8; 12]) -> Result<Vec<CertificateRecord>, DbError> {
        self.records(&format!("{} WHERE meter_id = ?1 ORDER BY rowid", Self::COLUMNS), params![&meter_id[..]])
    }

    /// Every revoked certificate.
    pub fn revoked(&self) -> Result<Vec<CertificateRecord>, DbError> {
        self.records(&format!("{} WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial", Self::COLUMNS), [])
    }

    /// Marks a certificate revoked; false when it is unknown or already revoked.
    pub fn revoke(&self, serial: &[u8], time: u64, reason: u8) -> Result<bool, DbError> {
        let n = self.conn.execute(
            "UPDATE certificates SET revoked_at = ?2, reason = ?3 WHERE serial = ?1 AND revoked_at IS NULL",
            params![serial, time as i64, reason],
        )?;
        Ok(n == 1)
    }
}
