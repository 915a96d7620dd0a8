//! Connecting to a context's own database.
//!
//! `sqlite://data/products.db` (the embedded default) creates the file and its folder;
//! `postgres://…` connects to PostgreSQL. SQLite allows one writer at a time, so its pool
//! holds a single connection: writers queue in the pool instead of failing with
//! `database is locked`, and nothing here may take a second connection while it holds a
//! transaction.

use std::time::Duration;

use anyhow::Context;
use sea_orm::sea_query::{
    CommonTableExpression, Expr, InsertStatement, IntoIden, Query, UnionType, UpdateStatement, WithClause, WithQuery,
};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr, ExecResult,
    StatementBuilder, TransactionTrait,
};

/// The PostgreSQL pool size when the URL does not give one: eleven contexts on one
/// server (88 connections) stay below PostgreSQL's default limit of 100.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// Opens the database at `url`, creating a SQLite file (and its folder) if needed. A
/// PostgreSQL URL may set its pool size with `max_connections=N` in its query (8 by
/// default).
///
/// # Errors
/// When the URL is neither `sqlite:` nor `postgres:`, or the database cannot be reached.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let (url, pool_size) = take_pool_size(url)?;
    let url = url.as_str();
    let mut options = ConnectOptions::new(url.to_owned());
    // A connection is pinged before use only after it sat idle: pinging a busy one on
    // every acquire would add a round trip to every transaction.
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire_if_idle_for(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        let parent = sqlite_file_path(url).and_then(|path| {
            std::path::Path::new(&path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(std::path::Path::to_path_buf)
        });
        if let Some(parent) = parent {
            std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        options
            .max_connections(pool_size.unwrap_or(DEFAULT_POOL_SIZE))
            .min_connections(1);
    } else {
        anyhow::bail!("unsupported database URL `{url}`: use sqlite://path or postgres://…");
    }
    Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// True on PostgreSQL, where row locks and `SKIP LOCKED` are available.
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// The statement that leads a [`write_together`]: an insert or an update.
pub trait FirstWrite: StatementBuilder + Sized {
    fn with_writes(self, writes: WithClause) -> WithQuery;
}

impl FirstWrite for InsertStatement {
    fn with_writes(self, writes: WithClause) -> WithQuery {
        self.with(writes)
    }
}

impl FirstWrite for UpdateStatement {
    fn with_writes(self, writes: WithClause) -> WithQuery {
        self.with(writes)
    }
}

/// Runs `first` and then `inserts`, and answers what `first` did. On PostgreSQL they
/// are one statement, the inserts as data-modifying CTEs of `first`: one round trip,
/// atomic on its own, with foreign keys checked at its end. Elsewhere they run one
/// after another, so the caller passes a transaction.
///
/// In one statement the parts run in no set order, so none may read what another
/// writes. A row that later transactions lock (an aggregate's) must already be locked
/// by the caller, or be new, for events to keep their order per key (see
/// [`crate::outbox`]).
///
/// # Errors
/// When any part fails; on PostgreSQL nothing of the statement is then written.
pub async fn write_together<F: FirstWrite>(
    conn: &impl ConnectionTrait,
    first: F,
    inserts: Vec<InsertStatement>,
) -> Result<ExecResult, DbErr> {
    if is_postgres(conn) && !inserts.is_empty() {
        let writes = inserts
            .into_iter()
            .enumerate()
            .fold(WithClause::new(), |mut with, (i, insert)| {
                with.cte(
                    CommonTableExpression::new()
                        .query(insert)
                        .table_name(format!("write_{i}"))
                        .to_owned(),
                );
                with
            });
        return conn.execute(&first.with_writes(writes)).await;
    }
    let done = conn.execute(&first).await?;
    for insert in &inserts {
        conn.execute(insert).await?;
    }
    Ok(done)
}

/// Runs `update`, which carries its own guard (a filter on the state its caller read),
/// and only if it changed a row, the inserts that `then` builds; answers whether it did.
/// `then` gets the condition each insert must carry (see [`insert_rows_when`]).
///
/// It is the optimistic form of "lock the row, check, write": on PostgreSQL it is one
/// statement, in which the guarded update takes the row's lock before the inserts
/// draw their values (they read its result), so events keep their order per key.
/// Elsewhere it is a transaction of its own. When it answers false, nothing was
/// written: read the row again and decide again.
///
/// # Errors
/// When any part fails; nothing is then written.
pub async fn write_if(
    db: &DatabaseConnection,
    mut update: UpdateStatement,
    then: impl FnOnce(&Expr) -> Vec<InsertStatement>,
) -> Result<bool, DbErr> {
    if is_postgres(db) {
        update.returning(Query::returning().expr(Expr::value(1)));
        let mut with = WithClause::new();
        with.cte(
            CommonTableExpression::new()
                .query(update)
                .table_name("guarded")
                .to_owned(),
        );
        let changed = Expr::exists(Query::select().expr(Expr::value(1)).from("guarded").to_owned());
        for (i, insert) in then(&changed).into_iter().enumerate() {
            with.cte(
                CommonTableExpression::new()
                    .query(insert)
                    .table_name(format!("write_{i}"))
                    .to_owned(),
            );
        }
        let answer = Query::select()
            .expr(Expr::value(1))
            .from("guarded")
            .to_owned()
            .with(with);
        return Ok(db.query_one(&answer).await?.is_some());
    }
    let txn = db.begin().await?;
    if txn.execute(&update).await?.rows_affected() == 0 {
        return Ok(false);
    }
    for insert in then(&Expr::value(true)) {
        txn.execute(&insert).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// An insert of `rows` (values for `columns`, in order) that writes them only if
/// `condition` holds when it runs: `INSERT … SELECT … WHERE condition`, one `SELECT`
/// per row. None for no rows.
pub fn insert_rows_when<C: IntoIden>(
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
    rows: impl IntoIterator<Item = Vec<Expr>>,
    condition: &Expr,
) -> Option<InsertStatement> {
    let mut rows = rows
        .into_iter()
        .map(|row| Query::select().exprs(row).and_where(condition.clone()).to_owned());
    let mut select = rows.next()?;
    for row in rows {
        select.union(UnionType::All, row);
    }
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(columns)
        .select_from(select)
        .expect("as many values as columns");
    Some(insert)
}

/// Removes our `max_connections=N` query parameter from `url`, returning N.
fn take_pool_size(url: &str) -> anyhow::Result<(String, Option<u32>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut size = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("max_connections=") {
            Some(n) => {
                size = Some(
                    n.parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| anyhow::anyhow!("max_connections must be a positive number, got `{n}`"))?,
                );
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, size))
}

fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sqlite_file_behind_the_url() {
        assert_eq!(
            sqlite_file_path("sqlite://data/products.db?mode=rwc").as_deref(),
            Some("data/products.db")
        );
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
    }

    #[test]
    fn the_pool_size_comes_out_of_the_url() {
        assert_eq!(
            take_pool_size("postgres://h/db?max_connections=4&sslmode=disable").unwrap(),
            ("postgres://h/db?sslmode=disable".to_owned(), Some(4))
        );
        assert_eq!(
            take_pool_size("postgres://h/db?max_connections=2").unwrap(),
            ("postgres://h/db".to_owned(), Some(2))
        );
        assert_eq!(
            take_pool_size("postgres://h/db").unwrap(),
            ("postgres://h/db".to_owned(), None)
        );
        assert!(take_pool_size("postgres://h/db?max_connections=0").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/orders"),
            "postgres://app:***@db:5432/orders"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
