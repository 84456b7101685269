//! The service's durable store, behind one storage trait ([`Backend`]) with
//! two implementations: SQLite (the embedded default; WAL, synchronous FULL,
//! `BEGIN IMMEDIATE`) and PostgreSQL (by URL; every transaction SERIALIZABLE).
//!
//! SQL is written once, with `$1`-style placeholders and types both engines
//! accept (`BIGINT`, `BYTEA`, `TEXT`); the SQLite backend maps `$n` to `?n`.
//! Every transaction is retried when the engine reports a serialization
//! conflict (SQLSTATE 40001, or SQLite busy), so the closure given to
//! [`Backend::transact`] must have no effect outside the transaction.
//! A transaction commits before its caller answers: durable before acknowledged.
//!
//! Backends are synchronous and run on the service's storage threads
//! ([`crate::service::pool`]), never on the async runtime: the `postgres`
//! client drives its own runtime internally.

pub mod migrations;
pub mod postgres;
pub mod sqlite;

use std::fmt;

/// One SQL value, as both engines store it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// NULL.
    Null,
    /// BIGINT.
    Int(i64),
    /// BYTEA / BLOB.
    Bytes(Vec<u8>),
    /// TEXT.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, StoreError> {
        self.0.get(i).ok_or(StoreError::Corrupt("column count"))
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            _ => Err(StoreError::Corrupt("integer column")),
        }
    }

    /// Column `i` as a non-negative integer.
    pub fn uint(&self, i: usize) -> Result<u64, StoreError> {
        u64::try_from(self.int(i)?).map_err(|_| StoreError::Corrupt("negative integer"))
    }

    /// Column `i` as an optional integer.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// Column `i` as bytes.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.at(i)? {
            Value::Bytes(v) => Ok(v.clone()),
            _ => Err(StoreError::Corrupt("bytes column")),
        }
    }

    /// Column `i` as optional bytes.
    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.bytes(i).map(Some),
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            _ => Err(StoreError::Corrupt("text column")),
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL error.
    #[error("postgresql: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// A stored value did not decode.
    #[error("the store holds a malformed {0}")]
    Corrupt(&'static str),
    /// A conflict persisted through every retry.
    #[error("transaction conflict persisted after {0} attempts")]
    Contention(u32),
    /// The database holds a schema newer than this build.
    #[error("database schema version {found} is newer than this build's {known}")]
    SchemaTooNew {
        /// Version in the database.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The storage threads are gone.
    #[error("the storage threads stopped")]
    Stopped,
}

impl StoreError {
    /// True when the engine asks for the transaction to be retried
    /// (SQLSTATE 40001 serialization failure or 40P01 deadlock; SQLite busy).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Postgres(e) => e.code().is_some_and(|c| {
                *c == ::postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == ::postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            }),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            _ => false,
        }
    }

    /// True when a UNIQUE or PRIMARY KEY constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Postgres(e) => e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => false,
        }
    }
}

/// SQL inside one open transaction.
pub trait Tx {
    /// Runs a statement and returns its rows (empty for writes without RETURNING).
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs a write and returns the number of rows it touched.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Exactly one row.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?.ok_or(StoreError::Corrupt("missing row"))
    }
}

/// What a transaction body returns: `Ok(Ok(v))` commits, `Ok(Err(e))` rolls
/// back with a domain refusal, `Err` is a store failure (retried when retryable).
pub type TxResult<T, E> = Result<Result<T, E>, StoreError>;

/// How many times a conflicting transaction is tried.
pub const MAX_ATTEMPTS: u32 = 16;

/// The storage trait: a connection that runs transactions.
pub trait Backend: Send + fmt::Debug {
    /// Which engine (`sqlite`, `postgresql`).
    fn engine(&self) -> &'static str;

    /// Opens a transaction (SQLite `BEGIN IMMEDIATE`; PostgreSQL SERIALIZABLE),
    /// runs `body` in it and commits when it returns `Ok(Ok(_))`; rolls back
    /// otherwise. One attempt; see [`transact`] for retries.
    fn attempt<T, E>(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> TxResult<T, E>) -> TxResult<T, E>
    where
        Self: Sized;

    /// Runs DDL outside a transaction body (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
}

/// Runs `body` in a transaction, retried (with a short growing pause) while
/// the engine reports a serialization conflict.
pub fn transact<B: Backend, T, E>(
    backend: &mut B,
    mut body: impl FnMut(&mut dyn Tx) -> TxResult<T, E>,
) -> TxResult<T, E> {
    let mut attempt = 1;
    loop {
        match backend.attempt(&mut body) {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "transaction conflict, retrying");
                std::thread::sleep(conflict_pause(attempt));
                attempt += 1;
            }
            Err(e) if e.is_retryable() => return Err(StoreError::Contention(attempt)),
            other => return other,
        }
    }
}

/// The pause before retry `attempt + 1` of a conflicting transaction:
/// exponential from 1 ms, capped at 64 ms, with random jitter in [½, 1½) of
/// it, so transactions that conflicted together do not retry in lockstep.
/// Sixteen attempts wait about 0.65 s in all on average, at most 1 s.
fn conflict_pause(attempt: u32) -> std::time::Duration {
    let base_us = 1000u64 << attempt.saturating_sub(1).min(6);
    let mut noise = [0u8; 8];
    let jitter_us = match getrandom::fill(&mut noise) {
        Ok(()) => u64::from_le_bytes(noise) % base_us,
        Err(_) => base_us / 2,
    };
    std::time::Duration::from_micros(base_us / 2 + jitter_us)
}

/// A database location: a SQLite file path or a `postgres://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; anything else is a SQLite path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_string())
        } else {
            Self::Sqlite(text.into())
        }
    }
}

/// Either backend, chosen at run time.
#[derive(Debug)]
pub enum AnyBackend {
    /// SQLite.
    Sqlite(sqlite::SqliteBackend),
    /// PostgreSQL.
    Postgres(Box<postgres::PostgresBackend>),
}

impl AnyBackend {
    /// Connects and applies pending migrations.
    pub fn open(location: &Location) -> Result<Self, StoreError> {
        let mut backend = match location {
            Location::Sqlite(path) => Self::Sqlite(sqlite::SqliteBackend::open(path)?),
            Location::Postgres(url) => Self::Postgres(Box::new(postgres::PostgresBackend::connect(url)?)),
        };
        migrations::migrate(&mut backend)?;
        Ok(backend)
    }
}

impl Backend for AnyBackend {
    fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(b) => b.engine(),
            Self::Postgres(b) => b.engine(),
        }
    }

    fn attempt<T, E>(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> TxResult<T, E>) -> TxResult<T, E> {
        match self {
            Self::Sqlite(b) => b.attempt(body),
            Self::Postgres(b) => b.attempt(body),
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(b) => b.batch(sql),
            Self::Postgres(b) => b.batch(sql),
        }
    }
}
