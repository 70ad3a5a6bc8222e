//! The SQLite dialect: the one module of the store that names SQLite.
//!
//! It owns the connection types (behind the aliases [`Db`], [`Pool`] and [`Conn`], which
//! the rest of the store uses), opening a database (pragmas, pools, migrations), and every
//! statement that is not plain standard SQL: the multi-row `UPDATE … FROM (VALUES …)`
//! writes of the group commit (SQLite names a `VALUES` list's columns `column1`,
//! `column2`, …), `RETURNING`, and `INSERT … ON CONFLICT`. A PostgreSQL backend is a
//! sibling module with the same items, chosen where `store/mod.rs` says `use sqlite as
//! dialect`.

use super::{FinishedRun, StoreResult};
use sqlx::QueryBuilder;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The database the store speaks to.
pub(super) type Db = sqlx::Sqlite;
/// A pool of connections to it.
pub(super) type Pool = sqlx::SqlitePool;
/// One connection (or a transaction, through `&mut *tx`).
pub(super) type Conn = sqlx::SqliteConnection;

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

/// Deletes a job, returning its row.
pub(super) const DELETE_JOB: &str = "DELETE FROM jobs WHERE job_id = $1 RETURNING *";

/// Deletes a plugin row, returning it.
pub(super) const DELETE_PLUGIN: &str = "DELETE FROM plugins WHERE name = $1 RETURNING *";

/// Installs or replaces the plugin row of `$1` (binds: name, sha256, size,
/// world_version, classes, uploaded_time, capabilities).
pub(super) const UPSERT_PLUGIN: &str = "INSERT INTO plugins (name, sha256, size, world_version, classes, uploaded_time, capabilities) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
     world_version = excluded.world_version, classes = excluded.classes, \
     uploaded_time = excluded.uploaded_time, capabilities = excluded.capabilities";

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
