//! The PostgreSQL backend (synchronous `postgres` client): every transaction
//! is SERIALIZABLE; conflicts (SQLSTATE 40001) are retried by
//! [`super::transact`]. Call it only from plain threads, never from inside a
//! tokio runtime (the client runs its own).

use super::{Backend, Row, StoreError, Tx, TxResult, Value};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};
use std::collections::HashMap;

/// A PostgreSQL connection with its prepared statements: each SQL text is
/// parsed once per connection, so a statement costs one round trip, not two.
pub struct PostgresBackend {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresBackend")
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Bytes(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::BYTEA | Type::TEXT | Type::VARCHAR)
    }

    to_sql_checked!();
}

fn row(r: &postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into())),
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes),
            Type::TEXT | Type::VARCHAR => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
            _ => return Err(StoreError::Corrupt("column type")),
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl PostgresBackend {
    /// Connects to `url` (plain TCP or a unix socket directory in `host=`).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut client = Client::connect(url, NoTls)?;
        // Under SERIALIZABLE a sequential scan takes a relation-wide predicate
        // lock, so on small tables (where the planner prefers scans) every pair
        // of concurrent money transactions conflicts and retries run out. Every
        // query of the service is keyed by an index: steer the planner to it
        // (PostgreSQL manual, "Serializable Isolation Level"; found by the
        // loopback load test, `bench --bin authority-load`).
        client.batch_execute("SET enable_seqscan = off")?;
        Ok(Self { client, statements: HashMap::new() })
    }
}

struct PgTx<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    statements: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql)?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

impl Tx for PgTx<'_, '_> {
    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        self.tx.query(&stmt, &params(values))?.iter().map(row).collect()
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        Ok(self.tx.execute(&stmt, &params(values))?)
    }
}

impl Backend for PostgresBackend {
    fn engine(&self) -> &'static str {
        "postgresql"
    }

    fn attempt<T, E>(&mut self, body: &mut dyn FnMut(&mut dyn Tx) -> TxResult<T, E>) -> TxResult<T, E> {
        let mut tx = self.client.build_transaction().isolation_level(IsolationLevel::Serializable).start()?;
        let result = body(&mut PgTx { tx: &mut tx, statements: &mut self.statements });
        match result {
            Ok(Ok(v)) => {
                tx.commit()?;
                Ok(Ok(v))
            }
            // Dropping the transaction rolls it back.
            other => other,
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        // DDL may change what a prepared statement refers to.
        self.statements.clear();
        Ok(self.client.batch_execute(sql)?)
    }
}
