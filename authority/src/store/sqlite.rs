//! The SQLite backend: one file, WAL, synchronous FULL, foreign keys on, and
//! `BEGIN IMMEDIATE` transactions (the write lock is taken at the start, so
//! two writers never deadlock on an upgrade).

use super::{Backend, Row, StoreError, Tx, TxResult, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::Path;
use std::time::Duration;

/// A SQLite connection.
#[derive(Debug)]
pub struct SqliteBackend {
    conn: Connection,
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        })
    }
}

/// `$n` placeholders become `?n` (the SQL here has no `$` in literals).
fn dialect(sql: &str) -> String {
    sql.replace('$', "?")
}

fn value(v: ValueRef<'_>) -> Result<Value, StoreError> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).map_err(|_| StoreError::Corrupt("text"))?),
        ValueRef::Real(_) => return Err(StoreError::Corrupt("a real number")),
    })
}

impl SqliteBackend {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Self { conn })
    }
}

struct SqliteTx<'a>(&'a Connection);

impl Tx for SqliteTx<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.0.prepare_cached(&dialect(sql))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(value(row.get_ref(i)?)?);
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(&dialect(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }
}

impl Backend for SqliteBackend {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn attempt<T, E>(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> TxResult<T, E>) -> TxResult<T, E> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = body(&mut SqliteTx(&self.conn));
        match result {
            Ok(Ok(v)) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(Ok(v)),
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    Err(e.into())
                }
            },
            other => {
                self.conn.execute_batch("ROLLBACK")?;
                other
            }
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch(sql)?)
    }
}
