//! The SQLite dialect: the one module of the store that names SQLite.
//!
//! It owns the connection types ([`Db`], [`Conn`]), opening a database (pragmas, pools,
//! migrations), and the statements that `postgres.rs` spells differently: the multi-row
//! `UPDATE … FROM (VALUES …)` writes of the group commit (SQLite names a `VALUES`
//! list's columns `column1`, `column2`, …) and the cut of a listed result. The group
//! commit's shared statements are compiled in here from `portable.rs`.

use super::{FinishedRun, StoreResult};
use sqlx::QueryBuilder;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The database the store speaks to.
pub(super) type Db = sqlx::Sqlite;
/// A pool of connections to it.
type Pool = sqlx::SqlitePool;
/// One connection (or a transaction, through `&mut *tx`).
pub(super) type Conn = sqlx::SqliteConnection;

/// SQLite rolls back only a failed statement, not its transaction: the group commit
/// needs no savepoint to keep one failed write from failing the others.
const ROLLS_BACK_TRANSACTION_ON_ERROR: bool = false;

mod portable {
    include!("portable.rs");
}
pub(super) use portable::{commit, insert_audit};

/// A listed execution's result, cut to `$8` characters, and its whole length.
pub(super) const RESULT_CUT: &str =
    "substr(result, 1, $8) AS result, length(result) AS result_chars";

/// Opens (creating if needed) the database file at `path` and runs the migrations.
/// Returns `(readers, writer)`: a pool for reads and a one-connection pool for writes.
///
/// SQLite runs in WAL mode: readers (the API) never block the writer (the scheduler).
pub(super) async fn connect(path: &Path) -> StoreResult<(Pool, Pool)> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL: durable across process crashes; an OS crash may lose the
        // last transactions, never corrupt the file.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(false);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // The one writer touches the jobs it claims (spread over the table) and the
        // executions index by job: a 32 MiB page cache instead of SQLite's 2 MiB keeps
        // those pages in the process (the profile of a busy host showed a fifth of
        // its time in pread).
        .connect_with(options.clone().pragma("cache_size", "-32768"))
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
    let readers = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok((readers, writer))
}

/// Notifies other hosts of a change: none share an SQLite file, so nothing is sent.
pub(super) async fn notify(
    _conn: &mut Conn,
    _channel: &str,
    _payload: &str,
) -> Result<(), sqlx::Error> {
    Ok(())
}

/// Plugin writes one at a time: they already are (one writer connection, one host).
pub(super) async fn lock_plugin_writes(_conn: &mut Conn) -> Result<(), sqlx::Error> {
    Ok(())
}

/// Opens a new connection to the database file and reads its migration history: what
/// the pools meet when they open a connection. Their open connections alone prove
/// little: they keep answering (`SELECT 1` reads no page) after the file was deleted or
/// replaced under them, writing to a file nobody will open again.
pub(super) async fn probe(pool: &Pool) -> StoreResult<()> {
    use sqlx::{ConnectOptions, Connection};
    let options = (*pool.connect_options()).clone().create_if_missing(false);
    let mut conn = options.connect().await?;
    let read = sqlx::query("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await;
    // The connection's thread ends either way; a failed close changes nothing here.
    let _ = conn.close().await;
    read.map(drop).map_err(Into::into)
}

/// Claims many fires at once (`(job_id, due, next)` each, distinct jobs); returns the jobs
/// whose claim matched (the compare-and-set of each claim, as in the one-row statement).
pub(super) async fn claim_fires(
    rows: &[(&str, i64, Option<i64>)],
    conn: &mut Conn,
) -> Result<HashSet<String>, sqlx::Error> {
    let mut qb = QueryBuilder::<Db>::new("UPDATE jobs SET next_run_time = v.column3 FROM (");
    qb.push_values(rows, |mut b, (job_id, due, next)| {
        b.push_bind(job_id.to_string())
            .push_bind(*due)
            .push_bind(*next);
    });
    qb.push(
        ") AS v WHERE jobs.job_id = v.column1 AND jobs.next_run_time = v.column2 \
         RETURNING jobs.job_id",
    );
    let won: Vec<(String,)> = qb.build_query_as().fetch_all(conn).await?;
    Ok(won.into_iter().map(|(id,)| id).collect())
}

/// Records many executions' final states at once.
pub(super) async fn finish_executions(
    rows: &[(&str, &FinishedRun)],
    conn: &mut Conn,
) -> Result<(), sqlx::Error> {
    // SQLite names the columns of a VALUES list column1, column2, ...
    let mut qb = QueryBuilder::<Db>::new(
        "UPDATE executions SET state = v.column2, result = v.column3, description = v.column4, \
         updated_time = v.column5, finished_time = v.column5, \
         started_time = COALESCE(started_time, v.column6), logs = v.column7, stdout = v.column8, \
         stderr = v.column9, peak_memory_bytes = v.column10, fuel_consumed = v.column11, \
         plugin_sha256 = COALESCE(v.column12, plugin_sha256), pid = COALESCE(pid, v.column13), \
         http_requests = v.column14 \
         FROM (",
    );
    qb.push_values(rows, |mut b, (id, run)| {
        b.push_bind(id.to_string())
            .push_bind(run.state.clone())
            .push_bind(run.result.clone())
            .push_bind(run.description.clone())
            .push_bind(run.finished_time)
            .push_bind(run.started_time)
            .push_bind(run.logs.clone())
            .push_bind(run.stdout.clone())
            .push_bind(run.stderr.clone())
            .push_bind(run.peak_memory_bytes)
            .push_bind(run.fuel_consumed)
            .push_bind(run.plugin_sha256.clone())
            .push_bind(run.pid)
            .push_bind(run.http_requests.clone());
    });
    qb.push(") AS v WHERE executions.execution_id = v.column1");
    qb.build().execute(conn).await.map(drop)
}
