//! The PostgreSQL dialect: the one module of the store that names PostgreSQL.
//!
//! It owns the connection types ([`Db`], [`Conn`]), opening a database (one pool for
//! reads and writes: PostgreSQL locks rows, not the database; migrations from
//! `migrations/postgres`, which sqlx runs under an advisory lock, so hosts starting
//! together migrate once), and the statements spelled differently from `sqlite.rs`:
//! the group commit's multi-row updates from a `VALUES` list (the claim also skips job
//! rows another transaction holds: `claim_fires`), whose parameters carry casts (a
//! `VALUES` list's column types are inferred from its rows, and a `NULL` of the first
//! row would otherwise be `text`), and the cut of a listed result (`substr`
//! takes an `integer`, `length` returns one). The group commit's shared statements are
//! compiled in here from `portable.rs`.

use super::{FinishedRun, StoreResult};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::HashSet;
use std::time::Duration;

/// The database the store speaks to.
pub(super) type Db = sqlx::Postgres;
/// A pool of connections to it.
type Pool = sqlx::PgPool;
/// One connection (or a transaction, through `&mut *tx`).
pub(super) type Conn = sqlx::PgConnection;

/// PostgreSQL aborts the whole transaction on a failed statement: the group commit
/// runs each statement in a savepoint, so that one failed write fails only itself.
const ROLLS_BACK_TRANSACTION_ON_ERROR: bool = true;

mod portable {
    include!("portable.rs");
}
pub(super) use portable::{commit, insert_audit};

/// A listed execution's result, cut to `$8` characters, and its whole length.
pub(super) const RESULT_CUT: &str =
    "substr(result, 1, $8::integer) AS result, length(result)::bigint AS result_chars";

/// Connections of the pool: the API's reads, the group commit's writer and the
/// definition writes share them.
const MAX_CONNECTIONS: u32 = 16;

/// Connects to the database at `url` and runs the migrations. Returns `(readers,
/// writer)`: the same pool twice.
pub(super) async fn connect(url: &str) -> StoreResult<(Pool, Pool)> {
    // Named after the host, so that the database can say which hosts are connected
    // (`peers.rs`).
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()?
        .application_name(&super::peers::own_label());
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok((pool.clone(), pool))
}

/// Notifies the hosts listening on `channel` (`LISTEN`) with `payload`, inside the
/// caller's transaction: PostgreSQL delivers it when the transaction commits, and not
/// if it rolls back.
pub(super) async fn notify(
    conn: &mut Conn,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await
        .map(drop)
}

/// The advisory lock every plugin write takes in its transaction (a number no other
/// lock of wasmcron uses): plugin writes of all hosts happen one at a time.
const PLUGIN_WRITES_LOCK: i64 = 0x7761_736d_0001;

/// Waits for the plugin writes lock, held until the caller's transaction ends.
pub(super) async fn lock_plugin_writes(conn: &mut Conn) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PLUGIN_WRITES_LOCK)
        .execute(conn)
        .await
        .map(drop)
}

/// Opens a new connection and reads the migration history: what the pool meets when it
/// opens a connection (the server answers, the database exists, its schema is there).
pub(super) async fn probe(pool: &Pool) -> StoreResult<()> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = pool.connect_options().connect().await?;
    let read = sqlx::query("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await;
    // A failed close changes nothing here: the connection is dropped either way.
    let _ = conn.close().await;
    read.map(drop).map_err(Into::into)
}

/// Claims many fires at once (`(job_id, due, next)` each, distinct jobs); returns the jobs
/// whose claim matched (the compare-and-set of each claim, as in the one-row statement).
///
/// A job row that another transaction holds (another host claiming the same
/// occurrence, or an edit) is skipped rather than waited for: that claim is lost for
/// now, and the caller looks at the job again shortly (`scheduler::fire`). Waiting
/// would hold this host's whole group commit behind the other host's, whose own
/// claims may wait for rows this one holds: two hosts backing each other up under
/// load met in deadlocks, each broken only after PostgreSQL's `deadlock_timeout`.
pub(super) async fn claim_fires(
    rows: &[(&str, i64, Option<i64>)],
    conn: &mut Conn,
) -> Result<HashSet<String>, sqlx::Error> {
    let mut qb = QueryBuilder::<Db>::new("WITH v (job_id, due, next) AS (");
    qb.push_values(rows, |mut b, (job_id, due, next)| {
        b.push_bind(job_id.to_string())
            .push_unseparated("::text")
            .push_bind(*due)
            .push_unseparated("::bigint")
            .push_bind(*next)
            .push_unseparated("::bigint");
    });
    // The lock and the compare-and-set again in the UPDATE: a row changed and committed
    // by another host after this statement's snapshot is re-read there.
    qb.push(
        "), free AS (SELECT jobs.job_id FROM jobs JOIN v ON jobs.job_id = v.job_id \
         AND jobs.next_run_time = v.due FOR UPDATE OF jobs SKIP LOCKED) \
         UPDATE jobs SET next_run_time = v.next FROM v, free \
         WHERE jobs.job_id = v.job_id AND free.job_id = jobs.job_id \
         AND jobs.next_run_time = v.due RETURNING jobs.job_id",
    );
    let won: Vec<(String,)> = qb.build_query_as().fetch_all(conn).await?;
    Ok(won.into_iter().map(|(id,)| id).collect())
}

/// A run's text as PostgreSQL can store it: its `text` cannot hold the NUL character
/// (SQLite's can), which a guest may well print; each becomes U+FFFD, as bytes that are
/// not UTF-8 already do.
fn storable(text: &Option<String>) -> Option<String> {
    text.as_ref().map(|t| {
        if t.contains('\0') {
            t.replace('\0', "\u{FFFD}")
        } else {
            t.clone()
        }
    })
}

/// Records many executions' final states at once.
pub(super) async fn finish_executions(
    rows: &[(&str, &FinishedRun)],
    conn: &mut Conn,
) -> Result<(), sqlx::Error> {
    // PostgreSQL, like SQLite, names the columns of a VALUES list column1, column2, ...
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
            .push_unseparated("::text")
            .push_bind(run.state.clone())
            .push_unseparated("::text")
            .push_bind(storable(&run.result))
            .push_unseparated("::text")
            .push_bind(storable(&run.description))
            .push_unseparated("::text")
            .push_bind(run.finished_time)
            .push_unseparated("::bigint")
            .push_bind(run.started_time)
            .push_unseparated("::bigint")
            .push_bind(storable(&run.logs))
            .push_unseparated("::text")
            .push_bind(storable(&run.stdout))
            .push_unseparated("::text")
            .push_bind(storable(&run.stderr))
            .push_unseparated("::text")
            .push_bind(run.peak_memory_bytes)
            .push_unseparated("::bigint")
            .push_bind(run.fuel_consumed)
            .push_unseparated("::bigint")
            .push_bind(run.plugin_sha256.clone())
            .push_unseparated("::text")
            .push_bind(run.pid)
            .push_unseparated("::bigint")
            .push_bind(storable(&run.http_requests))
            .push_unseparated("::text");
    });
    qb.push(") AS v WHERE executions.execution_id = v.column1");
    qb.build().execute(conn).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::storable;

    #[test]
    fn a_nul_in_a_runs_text_is_replaced() {
        assert_eq!(storable(&Some("a\0b".into())), Some("a\u{FFFD}b".into()));
        assert_eq!(storable(&Some("ab".into())), Some("ab".into()));
        assert_eq!(storable(&None), None);
    }
}
