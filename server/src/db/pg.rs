//! PostgreSQL's side of [`super::sql`]: placeholders, binding a [`Value`] to whatever
//! type the server inferred for a parameter, reading any column this schema has, a
//! small pool of connections, and one asynchronous connection for the request path's
//! single statements.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls};

use super::sql::{self, PgStatements, Row, Value};

type BoxError = Box<dyn StdError + Sync + Send>;

/// Rewrites the shared dialect's `?N` placeholders to PostgreSQL's `$N`, leaving quoted
/// text and identifiers alone.
pub(crate) fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

fn out_of_range(v: i64, ty: &Type) -> BoxError {
    format!("{v} does not fit a {ty} parameter").into()
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Int(i), &Type::INT8) => i.to_sql(ty, out)?,
            (Value::Int(i), &Type::INT4) => i32::try_from(*i).map_err(|_| out_of_range(*i, ty))?.to_sql(ty, out)?,
            (Value::Int(i), &Type::INT2) => i16::try_from(*i).map_err(|_| out_of_range(*i, ty))?.to_sql(ty, out)?,
            (Value::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out)?,
            #[allow(clippy::cast_precision_loss)]
            (Value::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out)?,
            (Value::Int(i), &Type::TEXT | &Type::VARCHAR) => i.to_string().to_sql(ty, out)?,
            (Value::Real(r), &Type::FLOAT8) => r.to_sql(ty, out)?,
            #[allow(clippy::cast_possible_truncation)]
            (Value::Real(r), &Type::FLOAT4) => (*r as f32).to_sql(ty, out)?,
            (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN) => s.as_str().to_sql(ty, out)?,
            (Value::Text(s), &Type::BYTEA) => s.as_bytes().to_sql(ty, out)?,
            (Value::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out)?,
            (v, ty) => return Err(format!("cannot bind {v:?} to a {ty} parameter").into()),
        };
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        // Any parameter: `to_sql` converts by the type PostgreSQL inferred, or refuses.
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Value::Text(String::from_sql(ty, raw)?),
            ref other => return Err(format!("a {other} column is not read by this server (cast it in the query)").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

pub(crate) fn row_of(row: &postgres::Row) -> sql::Result<Row> {
    (0..row.len())
        .map(|i| row.try_get::<_, Value>(i).map_err(sql::Error::from))
        .collect::<sql::Result<Vec<_>>>()
        .map(Row::new)
}

/// One pooled connection with the statements it has prepared.
pub(crate) struct PgConn {
    pub(crate) client: Client,
    pub(crate) statements: PgStatements,
}

/// At most this many connections per server process: enough for the blocking pool's
/// concurrent database work on a small server, and N processes × this must stay under
/// PostgreSQL's `max_connections`. A caller past it waits for a connection.
const MAX_CONNECTIONS: usize = 16;

struct Slots {
    idle: Vec<PgConn>,
    open: usize,
}

/// The connections of one server process, opened on demand and kept.
pub(crate) struct Pool {
    url: String,
    slots: Mutex<Slots>,
    returned: Condvar,
    /// Beside the pool, for [`super::Db::statement`].
    pub(crate) pipe: Pipe,
}

impl Pool {
    pub(crate) fn new(url: &str) -> Self {
        Self { url: url.to_owned(), slots: Mutex::new(Slots { idle: Vec::new(), open: 0 }), returned: Condvar::new(), pipe: Pipe::new(url) }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection, returned to the pool when the lease drops (also when a closure
    /// using it panicked: its transaction was rolled back as it unwound).
    pub(crate) fn lease(&self) -> Result<Lease<'_>, postgres::Error> {
        Ok(Lease { pool: self, conn: Some(self.get()?) })
    }

    fn get(&self) -> Result<PgConn, postgres::Error> {
        let mut slots = self.lock();
        loop {
            if let Some(conn) = slots.idle.pop() {
                if !conn.client.is_closed() {
                    return Ok(conn);
                }
                slots.open -= 1;
                continue;
            }
            if slots.open < MAX_CONNECTIONS {
                slots.open += 1;
                drop(slots);
                return Client::connect(&self.url, NoTls).map(|client| PgConn { client, statements: PgStatements::new() }).inspect_err(|_| {
                    self.lock().open -= 1;
                    self.returned.notify_one();
                });
            }
            slots = self.returned.wait(slots).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn put(&self, conn: PgConn) {
        let mut slots = self.lock();
        if conn.client.is_closed() {
            slots.open -= 1;
        } else {
            slots.idle.push(conn);
        }
        self.returned.notify_one();
    }
}

impl Drop for Pool {
    /// The synchronous client closes a connection by blocking on its own runtime, which
    /// panics on an async runtime's thread — where the last handle to a `Db` is often
    /// dropped. So the connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

/// One asynchronous connection (tokio-postgres) for single statements on the request
/// path — the shared rate limit's upsert: concurrent requests' statements are pipelined
/// on it, so none takes a pooled connection or a blocking-pool thread, and nothing
/// waits behind the serialised writers. Opened on first use; reopened after it broke.
pub(crate) struct Pipe {
    url: String,
    open: tokio::sync::Mutex<Option<Arc<Piped>>>,
}

struct Piped {
    client: tokio_postgres::Client,
    statements: Mutex<HashMap<&'static str, tokio_postgres::Statement>>,
}

impl Pipe {
    fn new(url: &str) -> Self {
        Self { url: url.to_owned(), open: tokio::sync::Mutex::new(None) }
    }

    async fn connection(&self) -> Result<Arc<Piped>, postgres::Error> {
        let mut open = self.open.lock().await;
        if let Some(piped) = open.as_ref().filter(|p| !p.client.is_closed()) {
            return Ok(Arc::clone(piped));
        }
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the statement connection to PostgreSQL failed");
            }
        });
        let piped = Arc::new(Piped { client, statements: Mutex::new(HashMap::new()) });
        *open = Some(Arc::clone(&piped));
        Ok(piped)
    }

    /// Runs `sql` (prepared once per connection) with `params`, committed on its own.
    pub(crate) async fn query(&self, sql: &'static str, params: &[Value]) -> sql::Result<Vec<Row>> {
        let piped = self.connection().await?;
        let cached = piped.statements.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(sql).cloned();
        let statement = match cached {
            Some(s) => s,
            None => {
                let s = piped.client.prepare(&translate(sql)).await?;
                piped.statements.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(sql, s.clone());
                s
            }
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        piped.client.query(&statement, &refs).await?.iter().map(row_of).collect()
    }
}

pub(crate) struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<PgConn>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = PgConn;
    fn deref(&self) -> &PgConn {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut PgConn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(translate("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?\" = ?12"), "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?\" = $12");
    }
}
