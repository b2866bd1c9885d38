//! The group commit's statements, run the same way on both backends' connections.
//!
//! On PostgreSQL a group commit runs on a sqlx connection. On SQLite it runs on a connection
//! of its own, through rusqlite, on the commit's own thread (see `commit.rs`): sqlx-sqlite
//! runs each statement on its connection's thread and hands every statement and every result
//! row across (two context switches a statement, about ten statements a transaction), which
//! the eleventh session's profile found to be most of the server's CPU at the rates users run.
//! This trait is what keeps the batch's logic written once over the two.
//!
//! Values are bound as [`Arg`]s (every column of the group commit is an integer or text) and
//! rows come back as [`Cell`]s, decoded by the caller.

use std::future::Future;

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::{PgConnection, Row};

use crate::{Result, StoreError};

/// A value bound to a statement: an integer or a text, either of which may be NULL (a NULL
/// keeps its type, which PostgreSQL needs to plan the statement).
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    /// An array of integers (any may be NULL), on PostgreSQL only (`$1::bigint[]`): one
    /// statement text whatever the number of values, so that PostgreSQL plans it once, not at
    /// every execution.
    Ints(Vec<Option<i64>>),
    /// An array of texts, on PostgreSQL only (`$1::text[]`).
    Texts(Vec<&'a str>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Int(Some(v)) => ValueRef::Integer(*v),
            Arg::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Arg::Int(None) | Arg::Text(None) => ValueRef::Null,
            Arg::Ints(_) | Arg::Texts(_) => {
                let refused = "an array bound on SQLite, which has no array type";
                return Err(rusqlite::Error::ToSqlConversionFailure(refused.into()));
            }
        }))
    }
}

/// The type of a column read back.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int,
    Text,
    /// A `BOOLEAN` on PostgreSQL, an integer on SQLite.
    Bool,
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl Cell {
    /// The text of a text column (NULL: `None`).
    pub fn text(self) -> Result<Option<String>> {
        match self {
            Cell::Text(v) => Ok(v),
            other => Err(StoreError::Corrupt(format!("expected a text column, read {other:?}"))),
        }
    }

    /// The text of a text column that is never NULL.
    pub fn string(self) -> Result<String> {
        self.text()?.ok_or_else(|| StoreError::Corrupt("a text column is NULL".into()))
    }

    /// The value of an integer column that is never NULL.
    pub fn int(self) -> Result<i64> {
        self.int_opt()?.ok_or_else(|| StoreError::Corrupt("an integer column is NULL".into()))
    }

    /// The value of an integer column (NULL: `None`).
    pub fn int_opt(self) -> Result<Option<i64>> {
        match self {
            Cell::Int(v) => Ok(v),
            other => Err(StoreError::Corrupt(format!("expected an integer, read {other:?}"))),
        }
    }

    /// The value of a boolean column that is never NULL.
    pub fn bool(self) -> Result<bool> {
        match self {
            Cell::Bool(Some(v)) => Ok(v),
            other => Err(StoreError::Corrupt(format!("expected a boolean, read {other:?}"))),
        }
    }
}

/// Runs statements on a connection inside the group commit's transaction.
pub(crate) trait Exec: Send {
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> impl Future<Output = Result<u64>> + Send;
    /// Runs a statement and returns its rows, whose columns are of these kinds.
    fn fetch(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Vec<Vec<Cell>>>> + Send;
}

impl Exec for PgConnection {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(pg_query(sql, args).execute(&mut *self).await?.rows_affected())
    }

    async fn fetch(&mut self, sql: &str, args: &[Arg<'_>], kinds: &[Kind]) -> Result<Vec<Vec<Cell>>> {
        let rows = pg_query(sql, args).fetch_all(&mut *self).await?;
        rows.iter().map(|row| sqlx_cells(row, kinds)).collect()
    }
}

/// A sqlx row's columns as [`Cell`]s of these kinds (either backend).
fn sqlx_cells<R: Row>(row: &R, kinds: &[Kind]) -> Result<Vec<Cell>>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(match kind {
                Kind::Int => Cell::Int(row.try_get(i)?),
                Kind::Text => Cell::Text(row.try_get(i)?),
                Kind::Bool => Cell::Bool(row.try_get(i)?),
            })
        })
        .collect()
}

fn pg_query<'q>(sql: &'q str, args: &[Arg<'q>]) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    args.iter().fold(sqlx::query(sql), |q, arg| match arg {
        Arg::Int(v) => q.bind(*v),
        Arg::Text(v) => q.bind(*v),
        Arg::Ints(v) => q.bind(v.clone()),
        Arg::Texts(v) => q.bind(v.clone()),
    })
}

/// sqlx's SQLite connection, for the few writers outside the group commit that share its
/// statements (settling backlogs, `backlog.rs`).
impl Exec for sqlx::SqliteConnection {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(sqlite_query(sql, args)?.execute(&mut *self).await?.rows_affected())
    }

    async fn fetch(&mut self, sql: &str, args: &[Arg<'_>], kinds: &[Kind]) -> Result<Vec<Vec<Cell>>> {
        let rows = sqlite_query(sql, args)?.fetch_all(&mut *self).await?;
        rows.iter().map(|row| sqlx_cells(row, kinds)).collect()
    }
}

fn sqlite_query<'q>(
    sql: &'q str,
    args: &[Arg<'q>],
) -> Result<sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>> {
    args.iter().try_fold(sqlx::query(sql), |q, arg| match arg {
        Arg::Int(v) => Ok(q.bind(*v)),
        Arg::Text(v) => Ok(q.bind(*v)),
        Arg::Ints(_) | Arg::Texts(_) => Err(StoreError::Corrupt("arrays are bound on PostgreSQL only".into())),
    })
}

/// Every statement is prepared once and kept: the multi-row statements have one text per
/// number of rows, so the cache holds a few hundred.
pub(crate) const SQLITE_STATEMENT_CACHE: usize = 512;

impl Exec for rusqlite::Connection {
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let mut statement = self.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite::params_from_iter(args))? as u64)
    }

    async fn fetch(&mut self, sql: &str, args: &[Arg<'_>], kinds: &[Kind]) -> Result<Vec<Vec<Cell>>> {
        let mut statement = self.prepare_cached(sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let cells = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    Ok(match kind {
                        Kind::Int => Cell::Int(row.get(i)?),
                        Kind::Text => Cell::Text(row.get(i)?),
                        Kind::Bool => Cell::Bool(row.get(i)?),
                    })
                })
                .collect::<rusqlite::Result<Vec<Cell>>>()?;
            out.push(cells);
        }
        Ok(out)
    }
}
