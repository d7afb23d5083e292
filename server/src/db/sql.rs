//! The engine-neutral SQL the stores are written in: values, rows, one connection type.
//!
//! Every store runs its statements through [`Conn`], which is either a SQLite connection
//! (inside `BEGIN IMMEDIATE` for writes) or a PostgreSQL transaction. Statements are
//! written once, in the dialect both engines share: `?N` placeholders (rewritten to
//! `$N` for PostgreSQL), `ON CONFLICT ... DO NOTHING/UPDATE`, `RETURNING`, `coalesce`.
//! Rows are read whole into [`Value`]s, so a store never sees which engine answered.

use std::cell::RefCell;
use std::collections::HashMap;

/// One SQL value, as both engines store it: integers (booleans are 0/1), reals, text,
/// bytes, or NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

/// A database failure, from either engine, or a column that is not what the code reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    #[error("the query returned no rows")]
    NoRows,
    #[error("column {index}: expected {expected}, found {found}")]
    Conversion {
        index: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Option` for "no row" — `query_row(...).optional()`, as with rusqlite.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What can be bound as a statement parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_to_value!(i64, i32, i16, i8, u32, u16, u8);
macro_rules! wide_int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            // Beyond i64 cannot be stored by either engine; saturating keeps a bound
            // meaningful ("at most") where a caller passes one.
            fn to_value(&self) -> Value {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
wide_int_to_value!(u64, usize);

/// What a column can be read as.
pub trait FromValue: Sized {
    fn from_value(index: usize, value: &Value) -> Result<Self>;
}

fn mismatch<T>(index: usize, expected: &'static str, value: &Value) -> Result<T> {
    Err(Error::Conversion { index, expected, found: value.kind() })
}

impl FromValue for Value {
    fn from_value(_: usize, value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(index: usize, value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(index, v).map(Some),
        }
    }
}
impl FromValue for String {
    fn from_value(index: usize, value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            v => mismatch(index, "text", v),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(index: usize, value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            v => mismatch(index, "bytes", v),
        }
    }
}
impl<const N: usize> FromValue for [u8; N] {
    fn from_value(index: usize, value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => b.as_slice().try_into().map_err(|_| Error::Invalid(format!("column {index}: expected {N} bytes, found {}", b.len()))),
            v => mismatch(index, "bytes", v),
        }
    }
}
impl FromValue for f64 {
    fn from_value(index: usize, value: &Value) -> Result<Self> {
        match value {
            Value::Real(r) => Ok(*r),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(i) => Ok(*i as f64),
            v => mismatch(index, "a real", v),
        }
    }
}
impl FromValue for bool {
    fn from_value(index: usize, value: &Value) -> Result<Self> {
        match value {
            Value::Int(i) => Ok(*i != 0),
            v => mismatch(index, "a boolean", v),
        }
    }
}
macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(index: usize, value: &Value) -> Result<Self> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i).map_err(|_| Error::Invalid(format!(
                        "column {index}: {i} is out of range for {}", stringify!($t)))),
                    v => mismatch(index, "an integer", v),
                }
            }
        }
    )*};
}
int_from_value!(i64, i32, i16, i8, u64, u32, u16, u8, usize);

/// Statement parameters: `params![a, b]`, `[x]`, `[]`, or a `Vec<Value>`.
pub trait Params {
    fn into_values(self) -> Vec<Value>;
}

impl Params for Vec<Value> {
    fn into_values(self) -> Vec<Value> {
        self
    }
}
impl Params for &[Value] {
    fn into_values(self) -> Vec<Value> {
        self.to_vec()
    }
}
impl Params for [Value; 0] {
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}
macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn into_values(self) -> Vec<Value> {
                self.iter().map(ToValue::to_value).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28);

/// Parameters of mixed types, as rusqlite's macro of the same name.
#[macro_export]
macro_rules! params {
    () => { [] as [$crate::db::Value; 0] };
    ($($x:expr),+ $(,)?) => { vec![$($crate::db::ToValue::to_value(&$x)),+] };
}

/// One result row, read whole.
#[derive(Debug, Clone)]
pub struct Row {
    values: Vec<Value>,
}

/// A column position (rusqlite's `get::<_, T>(i)` form is kept).
pub trait RowIndex {
    fn index(&self) -> usize;
}
impl RowIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

impl Row {
    pub fn get<I: RowIndex, T: FromValue>(&self, index: I) -> Result<T> {
        let index = index.index();
        let value = self
            .values
            .get(index)
            .ok_or_else(|| Error::Invalid(format!("no column {index} in a row of {}", self.values.len())))?;
        T::from_value(index, value)
    }

    pub(crate) fn new(values: Vec<Value>) -> Self {
        Self { values }
    }
}

/// A statement's rows, consumed with `while let Some(row) = rows.next()?`.
#[derive(Debug)]
pub struct Rows {
    rows: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl Rows {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<&Row>> {
        self.current = self.rows.next();
        Ok(self.current.as_ref())
    }
}

/// The prepared-statement cache of one PostgreSQL connection, keyed by our SQL text.
pub(crate) type PgStatements = HashMap<String, postgres::Statement>;

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Pg {
        tx: RefCell<postgres::Transaction<'a>>,
        statements: RefCell<&'a mut PgStatements>,
    },
}

/// A connection to either engine, inside the transaction [`super::Db`] opened for it.
pub struct Conn<'a> {
    inner: Inner<'a>,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Sqlite(_) => "Conn(sqlite)",
            Inner::Pg { .. } => "Conn(postgres)",
        })
    }
}

impl<'a> Conn<'a> {
    pub(crate) fn sqlite(conn: &'a rusqlite::Connection) -> Self {
        Self { inner: Inner::Sqlite(conn) }
    }

    pub(crate) fn pg(tx: postgres::Transaction<'a>, statements: &'a mut PgStatements) -> Self {
        Self {
            inner: Inner::Pg {
                tx: RefCell::new(tx),
                statements: RefCell::new(statements),
            },
        }
    }

    /// The PostgreSQL transaction back, to commit it.
    pub(crate) fn into_pg(self) -> Option<postgres::Transaction<'a>> {
        match self.inner {
            Inner::Pg { tx, .. } => Some(tx.into_inner()),
            Inner::Sqlite(_) => None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, Inner::Pg { .. })
    }

    /// Runs `run` with the cached statement for `sql` and `values` bound as parameters.
    fn with_pg<T>(
        tx: &RefCell<postgres::Transaction<'a>>,
        statements: &RefCell<&'a mut PgStatements>,
        sql: &str,
        values: &[Value],
        run: impl FnOnce(&mut postgres::Transaction<'a>, &postgres::Statement, &[&(dyn postgres::types::ToSql + Sync)]) -> Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut tx = tx.borrow_mut();
        let mut statements = statements.borrow_mut();
        let statement = match statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let statement = tx.prepare(&super::pg::translate(sql))?;
                statements.insert(sql.to_owned(), statement.clone());
                statement
            }
        };
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)).collect();
        Ok(run(&mut tx, &statement, &refs)?)
    }

    /// Runs a statement and returns every row it produced.
    pub fn query_all<P: Params>(&self, sql: &str, params: P) -> Result<Vec<Row>> {
        let values = params.into_values();
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for i in 0..columns {
                        values.push(super::sqlite::value_of(row.get_ref(i)?));
                    }
                    out.push(Row::new(values));
                }
                Ok(out)
            }
            Inner::Pg { tx, statements } => {
                let rows = Self::with_pg(tx, statements, sql, &values, |tx, statement, refs| tx.query(statement, refs))?;
                rows.iter().map(super::pg::row_of).collect()
            }
        }
    }

    /// Runs a statement and returns the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.into_values();
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(values.iter()))?),
            Inner::Pg { tx, statements } => {
                let n = Self::with_pg(tx, statements, sql, &values, |tx, statement, refs| tx.execute(statement, refs))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Several statements without parameters (schema changes, maintenance).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Pg { tx, .. } => Ok(tx.borrow_mut().batch_execute(sql)?),
        }
    }

    /// The first row, mapped by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P: Params, F: FnOnce(&Row) -> Result<T>>(&self, sql: &str, params: P, f: F) -> Result<T> {
        let rows = self.query_all(sql, params)?;
        rows.first().map_or(Err(Error::NoRows), f)
    }

    /// A statement to run once or several times (rusqlite's `prepare` form). Every
    /// statement is compiled once per connection and cached, on both engines.
    pub fn prepare<'c>(&'c self, sql: &'c str) -> Result<Stmt<'c, 'a>> {
        Ok(Stmt { conn: self, sql })
    }
}

/// A statement bound to its connection.
#[derive(Debug)]
pub struct Stmt<'c, 'a> {
    conn: &'c Conn<'a>,
    sql: &'c str,
}

impl Stmt<'_, '_> {
    /// Every row mapped by `f`; read eagerly, so the iterator holds no database state.
    pub fn query_map<T, P: Params, F: FnMut(&Row) -> Result<T>>(&mut self, params: P, f: F) -> Result<std::vec::IntoIter<Result<T>>> {
        let rows = self.conn.query_all(self.sql, params)?;
        Ok(rows.iter().map(f).collect::<Vec<_>>().into_iter())
    }

    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows> {
        Ok(Rows {
            rows: self.conn.query_all(self.sql, params)?.into_iter(),
            current: None,
        })
    }

    pub fn query_row<T, P: Params, F: FnOnce(&Row) -> Result<T>>(&mut self, params: P, f: F) -> Result<T> {
        self.conn.query_row(self.sql, params, f)
    }

    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(self.sql, params)
    }

    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        Ok(!self.conn.query_all(self.sql, params)?.is_empty())
    }
}
