//! The CA's durable store (SQLite, WAL, synchronous FULL): the meter
//! registry, the single-use request challenges, every certificate issued
//! with its key and status, the revoked keys, and the counters for serials
//! and CRL numbers. A write is durable before the call returns; an issuance
//! (challenge consumed, key checked, serial taken, certificate recorded) is
//! one transaction.

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
    /// The file holds another schema version than this build writes (no migration exists for it).
    #[error("certificate database has schema version {0}, expected {SCHEMA_VERSION}")]
    UnsupportedSchema(i64),
}

/// Why a meter could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The meter is registered with another device key; registration never replaces a key.
    #[error("meter {meter} is already registered with another device key")]
    OtherDeviceKey {
        /// Hex meter ID.
        meter: String,
    },
    /// The database failed; nothing was written.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why the store refused to record an issuance (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum IssueRefusal {
    /// The request answers a challenge this CA never handed out.
    #[error("the request's challenge was not handed out by this CA")]
    UnknownChallenge,
    /// The challenge expired before the request arrived.
    #[error("the request's challenge expired")]
    ChallengeExpired,
    /// The challenge was already used: the request is a replay.
    #[error("the request's challenge was already used: a replayed request")]
    ChallengeUsed,
    /// The key has a revoked certificate; it is never certified again.
    #[error("the key has a revoked certificate and is never certified again")]
    KeyRevoked,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The certificate could not be encoded (a time beyond year 9999, a malformed name); nothing was recorded.
    #[error("the certificate could not be encoded: {0}")]
    Encoding(#[from] apdu_specs::FormatError),
}

impl From<rusqlite::Error> for IssueRefusal {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.into())
    }
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
    /// Subject public key (uncompressed SEC1).
    pub public_key: Vec<u8>,
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
type RawRow = (Vec<u8>, Vec<u8>, u8, Vec<u8>, Vec<u8>, u8, i64, i64, Option<i64>, Option<u8>, Vec<u8>);

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
    public_key BLOB NOT NULL,
    usage INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revoked_at INTEGER,
    reason INTEGER,
    der BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_by_meter ON certificates(meter_id, slot);
CREATE INDEX IF NOT EXISTS certificates_by_key ON certificates(public_key);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS challenges (
    challenge BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE TABLE IF NOT EXISTS revoked_keys (
    public_key BLOB PRIMARY KEY,
    meter_id BLOB NOT NULL REFERENCES meters(meter_id),
    slot INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL,
    reason INTEGER NOT NULL
);
PRAGMA user_version = 1;
";

/// Schema version written by [`SCHEMA`]; files of version 0 (no key column,
/// no challenges, no revoked keys) are refused rather than half-used.
const SCHEMA_VERSION: i64 = 1;

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
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))?;
        if tables > 0 && version != SCHEMA_VERSION {
            return Err(DbError::UnsupportedSchema(version));
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Registers a meter and its device key (the certificate communication
    /// key). Registering again with the same key changes nothing; another
    /// key is refused (registration never re-keys a meter).
    pub fn register_meter(
        &mut self,
        meter_id: &[u8; 12],
        device_key: &[u8; 65],
        now: u64,
    ) -> Result<(), RegistryError> {
        let tx = self.conn.transaction().map_err(DbError::from)?;
        let known: Option<Vec<u8>> = tx
            .query_row("SELECT device_key FROM meters WHERE meter_id = ?1", params![&meter_id[..]], |r| r.get(0))
            .optional()
            .map_err(DbError::from)?;
        match known {
            Some(k) if k == device_key => return Ok(()),
            Some(_) => return Err(RegistryError::OtherDeviceKey { meter: hex::encode_upper(meter_id) }),
            None => {}
        }
        tx.execute(
            "INSERT INTO meters (meter_id, device_key, registered_at) VALUES (?1, ?2, ?3)",
            params![&meter_id[..], &device_key[..], now as i64],
        )
        .map_err(DbError::from)?;
        tx.commit().map_err(DbError::from)?;
        Ok(())
    }

    /// Records a challenge handed out, usable once until `expires_at`.
    pub fn add_challenge(&self, challenge: &[u8], expires_at: u64) -> Result<(), DbError> {
        self.conn.execute(
            "INSERT INTO challenges (challenge, expires_at) VALUES (?1, ?2)",
            params![challenge, expires_at as i64],
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
        let v = next_in(&tx, name)?;
        tx.commit()?;
        Ok(v)
    }

    /// Records an issued certificate in one transaction: consumes
    /// `challenge` (when the issuance answers one) at `now`, refuses a key
    /// with a revoked certificate, takes the next serial counter and records
    /// what `build` makes of it. On a refusal nothing is written.
    pub fn issue(
        &mut self,
        challenge: Option<&[u8]>,
        now: u64,
        public_key: &[u8],
        build: impl FnOnce(u64) -> Result<CertificateRecord, apdu_specs::FormatError>,
    ) -> Result<CertificateRecord, IssueRefusal> {
        let tx = self.conn.transaction()?;
        if let Some(challenge) = challenge {
            let row: Option<(i64, Option<i64>)> = tx
                .query_row("SELECT expires_at, used_at FROM challenges WHERE challenge = ?1", params![challenge], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            match row {
                None => return Err(IssueRefusal::UnknownChallenge),
                Some((_, Some(_))) => return Err(IssueRefusal::ChallengeUsed),
                Some((expires, None)) if (expires as u64) < now => return Err(IssueRefusal::ChallengeExpired),
                Some(_) => {}
            }
            tx.execute("UPDATE challenges SET used_at = ?2 WHERE challenge = ?1", params![challenge, now as i64])?;
        }
        if key_revoked(&tx, public_key)? {
            return Err(IssueRefusal::KeyRevoked);
        }
        let record = build(next_in(&tx, "certificate serial")?)?;
        tx.execute(
            "INSERT INTO certificates (serial, meter_id, slot, subject, public_key, usage, not_before, not_after, der)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                record.serial,
                &record.meter_id[..],
                record.slot,
                record.subject,
                record.public_key,
                record.usage,
                record.not_before as i64,
                record.not_after as i64,
                record.der
            ],
        )?;
        tx.commit()?;
        Ok(record)
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
            r.get(10)?,
        ))
    }

    fn records(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<CertificateRecord>, DbError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(args, Self::row)?;
        let mut out = Vec::new();
        for row in rows {
            let (serial, meter_id, slot, subject, public_key, usage, nb, na, revoked_at, reason, der) = row?;
            let status = match revoked_at {
                Some(t) => Status::Revoked { time: t as u64, reason: reason.unwrap_or(0) },
                None => Status::Valid,
            };
            out.push(CertificateRecord {
                serial,
                meter_id: meter(meter_id)?,
                slot,
                subject,
                public_key,
                usage,
                not_before: nb as u64,
                not_after: na as u64,
                status,
                der,
            });
        }
        Ok(out)
    }

    const COLUMNS: &'static str = "SELECT serial, meter_id, slot, subject, public_key, usage, not_before, not_after, revoked_at, reason, der FROM certificates";

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

    /// Revokes the key of `meter_id`'s `slot`: records the key as revoked
    /// (never certified again) and marks every certificate of the key
    /// revoked, in one transaction. Returns the serials newly revoked.
    pub fn revoke_key(
        &mut self,
        meter_id: &[u8; 12],
        slot: u8,
        public_key: &[u8],
        time: u64,
        reason: u8,
    ) -> Result<Vec<Vec<u8>>, DbError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO revoked_keys (public_key, meter_id, slot, revoked_at, reason) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(public_key) DO NOTHING",
            params![public_key, &meter_id[..], slot, time as i64, reason],
        )?;
        let serials = {
            let mut stmt = tx.prepare(
                "UPDATE certificates SET revoked_at = ?2, reason = ?3
                 WHERE public_key = ?1 AND revoked_at IS NULL RETURNING serial",
            )?;
            let rows = stmt.query_map(params![public_key, time as i64, reason], |r| r.get(0))?;
            rows.collect::<Result<Vec<Vec<u8>>, _>>()?
        };
        tx.commit()?;
        Ok(serials)
    }

    /// Revokes the key of certificate `serial` (see [`Self::revoke_key`]);
    /// false when the serial is unknown or already revoked.
    pub fn revoke(&mut self, serial: &[u8], time: u64, reason: u8) -> Result<bool, DbError> {
        match self.certificate(serial)? {
            Some(c) if c.status == Status::Valid => {
                self.revoke_key(&c.meter_id, c.slot, &c.public_key, time, reason)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Takes the next value of a named counter inside a transaction.
fn next_in(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<u64, DbError> {
    tx.execute(
        "INSERT INTO counters (name, value) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
        params![name],
    )?;
    let v: i64 = tx.query_row("SELECT value FROM counters WHERE name = ?1", params![name], |r| r.get(0))?;
    Ok(v as u64)
}

/// True when `public_key` was revoked or has a revoked certificate.
fn key_revoked(tx: &rusqlite::Transaction<'_>, public_key: &[u8]) -> Result<bool, DbError> {
    let hit: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM revoked_keys WHERE public_key = ?1
             UNION SELECT 1 FROM certificates WHERE public_key = ?1 AND revoked_at IS NOT NULL",
            params![public_key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(hit.is_some())
}
