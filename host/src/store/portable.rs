// The statements of the group commit (`batch.rs`) and of the audit entry that a job
// change writes in its own transaction: included into each backend's module
// (`sqlite.rs`, `postgres.rs`), whose `Db`, `Conn`, `claim_fires`, `finish_executions`
// and `ROLLS_BACK_TRANSACTION_ON_ERROR` it uses, so that it is compiled once per
// backend with that backend's own connection types. A file included, not a module:
// rustfmt does not reach it through `cargo fmt`; format it with
// `rustfmt --edition 2024 host/src/store/portable.rs`.

use super::{Conn, Db, ROLLS_BACK_TRANSACTION_ON_ERROR, claim_fires, finish_executions};
use crate::store::batch::{Reply, Write};
use crate::store::{AuditRow, ExecutionRow, FinishedRun, unfinished_states_sql};
use sqlx::QueryBuilder;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Runs `$body` with `$c` bound to a connection inside `$conn`'s transaction, so that
/// its failure fails only itself: inside a savepoint on a backend that aborts the
/// whole transaction on a failed statement (PostgreSQL), directly on one that rolls
/// back only the statement (SQLite: no extra statements on its hot path).
macro_rules! isolated {
    ($conn:expr, |$c:ident| $body:expr) => {{
        if ROLLS_BACK_TRANSACTION_ON_ERROR {
            match sqlx::Connection::begin(&mut *$conn).await {
                Err(e) => Err(e),
                Ok(mut savepoint) => {
                    let $c: &mut Conn = &mut savepoint;
                    let outcome = $body;
                    settle(savepoint, outcome).await
                }
            }
        } else {
            let $c: &mut Conn = &mut *$conn;
            $body
        }
    }};
}

/// Releases a savepoint after its statements succeeded, rolls back to it after they
/// failed; returns their outcome.
async fn settle<T>(
    savepoint: sqlx::Transaction<'_, Db>,
    outcome: Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    match outcome {
        Ok(value) => {
            savepoint.commit().await?;
            Ok(value)
        }
        Err(e) => {
            savepoint.rollback().await?;
            Err(e)
        }
    }
}

/// Appends an audit entry inside the caller's transaction (a change and its entry
/// commit together).
pub(in crate::store) async fn insert_audit(
    conn: &mut Conn,
    a: &AuditRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_logs (audit_id, job_id, job_name, event, user_name, created_time, description) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&a.audit_id)
    .bind(&a.job_id)
    .bind(&a.job_name)
    .bind(&a.event)
    .bind(&a.user_name)
    .bind(a.created_time)
    .bind(&a.description)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows per multi-row statement (SQLite binds at most 32,766 parameters, PostgreSQL
/// 65,535; the widest row here binds 15).
const ROWS_PER_STATEMENT: usize = 256;

/// Runs the batch in one transaction. New executions, final states and audit entries
/// go in as multi-row statements (a statement costs far more than a row); claims and
/// the other conditional writes run one by one, since their callers need to know
/// whether their row matched. A statement that fails fails only its own writes; the
/// rest commit (SQLite rolls back just that statement; on PostgreSQL, which aborts
/// the whole transaction instead, each statement runs in a savepoint: `isolated!`).
pub(in crate::store) async fn commit(
    writer: &sqlx::Pool<Db>,
    batch: &mut [(Write, Reply)],
) -> Result<Vec<Result<u64, sqlx::Error>>, sqlx::Error> {
    let mut tx = writer.begin().await?;
    let mut results: Vec<Option<Result<u64, sqlx::Error>>> =
        (0..batch.len()).map(|_| None).collect();
    let group = |pred: fn(&Write) -> bool| -> Vec<usize> {
        batch
            .iter()
            .enumerate()
            .filter(|(_, (w, _))| pred(w))
            .map(|(i, _)| i)
            .collect()
    };
    // Claims of distinct jobs go in as one statement; a job claimed twice in one batch
    // (rare: a retried fire) keeps the one-by-one path, where each claim sees the
    // other's effect.
    let mut claimed_jobs = HashSet::new();
    let claims: Vec<usize> = group(|w| matches!(w, Write::ClaimFire { .. }))
        .into_iter()
        .filter(|&i| match &batch[i].0 {
            Write::ClaimFire { job_id, .. } => claimed_jobs.insert(job_id.as_str()),
            _ => false,
        })
        .collect();
    for chunk in claims.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<(&str, i64, Option<i64>, &[ExecutionRow])> = chunk
            .iter()
            .filter_map(|&i| match &batch[i].0 {
                Write::ClaimFire {
                    job_id,
                    due,
                    next,
                    executions,
                } => Some((job_id.as_str(), *due, *next, executions.as_slice())),
                _ => None,
            })
            .collect();
        match claim_with_rows(&rows, &mut tx).await {
            Ok(won) => {
                for (&i, (job_id, ..)) in chunk.iter().zip(&rows) {
                    results[i] = Some(Ok(u64::from(won.contains(*job_id))));
                }
            }
            Err(e) => spread(&mut results, chunk, Err(e)),
        }
    }
    let inserts = group(|w| matches!(w, Write::InsertExecution { .. }));
    let audits = group(|w| matches!(w, Write::InsertAudit(_)));
    let finishes = group(|w| matches!(w, Write::FinishExecution { .. }));
    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let mut rows: Vec<&ExecutionRow> = Vec::with_capacity(chunk.len());
        let mut their_audits: Vec<&AuditRow> = Vec::new();
        for &i in chunk {
            if let Write::InsertExecution { execution, audit } = &batch[i].0 {
                rows.push(execution);
                their_audits.extend(audit.as_deref());
            }
        }
        // An execution's audit entry goes in with it, or not at all.
        let outcome = isolated!(tx, |conn| {
            match insert_executions(&rows, &mut *conn).await {
                Ok(()) if !their_audits.is_empty() => insert_audits(&their_audits, conn).await,
                done => done,
            }
        });
        spread(&mut results, chunk, outcome);
    }
    for chunk in audits.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<&AuditRow> = chunk
            .iter()
            .filter_map(|&i| match &batch[i].0 {
                Write::InsertAudit(a) => Some(a.as_ref()),
                _ => None,
            })
            .collect();
        let outcome = isolated!(tx, |conn| insert_audits(&rows, conn).await);
        spread(&mut results, chunk, outcome);
    }
    // The per-row path, for what no multi-row statement answered: a claim of a job
    // already claimed earlier in this batch (a retried fire; it must see that claim's
    // effect), and the conditional updates of one execution (marking it running,
    // setting an unfinished state), whose callers need to know whether their own row
    // matched. New executions and audit entries were all answered above (`spread`
    // answers every write of a chunk, failed or not); final states are written below,
    // after this loop, so that they follow a `running` of the same batch.
    for (i, (write, _)) in batch.iter().enumerate() {
        if results[i].is_none() {
            results[i] = execute(write, &mut tx).await;
        }
    }
    for chunk in finishes.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<(&str, &FinishedRun)> = chunk
            .iter()
            .filter_map(|&i| match &batch[i].0 {
                Write::FinishExecution { execution_id, run } => {
                    Some((execution_id.as_str(), run.as_ref()))
                }
                _ => None,
            })
            .collect();
        // A run's new job state goes in with its final state, or not at all.
        let outcome = isolated!(tx, |conn| {
            let mut outcome = finish_executions(&rows, &mut *conn).await;
            if outcome.is_ok() {
                for (_, run) in &rows {
                    if let Some(state) = &run.job_state
                        && let Err(e) = write_job_state(state, run.finished_time, &mut *conn).await
                    {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            outcome
        });
        spread(&mut results, chunk, outcome);
    }
    tx.commit().await?;
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(0))).collect())
}

/// Claims fires (`(job_id, due, next, executions)` each, distinct jobs) and inserts the
/// executions of the claims that won, inside a savepoint: if the insert fails, the
/// claims are undone with it (the callers see an error and fire again), so a claim
/// never commits without its rows. Returns the jobs whose claim won.
async fn claim_with_rows(
    rows: &[(&str, i64, Option<i64>, &[ExecutionRow])],
    conn: &mut Conn,
) -> Result<HashSet<String>, sqlx::Error> {
    let mut savepoint = sqlx::Connection::begin(conn).await?;
    let claimed = async {
        let claims: Vec<(&str, i64, Option<i64>)> = rows
            .iter()
            .map(|(job_id, due, next, _)| (*job_id, *due, *next))
            .collect();
        let won = claim_fires(&claims, &mut savepoint).await?;
        let executions: Vec<&ExecutionRow> = rows
            .iter()
            .filter(|(job_id, ..)| won.contains(*job_id))
            .flat_map(|(.., executions)| executions.iter())
            .collect();
        for chunk in executions.chunks(ROWS_PER_STATEMENT) {
            insert_executions(chunk, &mut savepoint).await?;
        }
        Ok::<_, sqlx::Error>(won)
    }
    .await;
    match claimed {
        Ok(won) => {
            savepoint.commit().await?;
            Ok(won)
        }
        Err(e) => {
            savepoint.rollback().await?;
            Err(e)
        }
    }
}

/// Replaces a job's state, unless the job was deleted meanwhile (its state goes with it).
async fn write_job_state(
    state: &crate::store::JobStateWrite,
    now: i64,
    conn: &mut Conn,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_state (job_id, entries, bytes, updated_time) \
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id = $1) \
         ON CONFLICT (job_id) DO UPDATE SET entries = excluded.entries, \
         bytes = excluded.bytes, updated_time = excluded.updated_time",
    )
    .bind(&state.job_id)
    .bind(&state.entries)
    .bind(state.bytes)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
}

/// Gives every write of a multi-row statement the statement's outcome (one row each).
fn spread(
    results: &mut [Option<Result<u64, sqlx::Error>>],
    chunk: &[usize],
    outcome: Result<(), sqlx::Error>,
) {
    let message = outcome.as_ref().err().map(ToString::to_string);
    for &i in chunk {
        results[i] = Some(match &message {
            None => Ok(1),
            Some(m) => Err(sqlx::Error::Protocol(m.clone())),
        });
    }
}

async fn insert_executions(rows: &[&ExecutionRow], conn: &mut Conn) -> Result<(), sqlx::Error> {
    let mut qb = QueryBuilder::<Db>::new(
        "INSERT INTO executions (execution_id, job_id, state, hostname, pid, description, result, \
         scheduled_time, updated_time, run_kind, attempt, retry_of, started_time, finished_time, \
         host_id) ",
    );
    qb.push_values(rows, |mut b, e| {
        b.push_bind(e.execution_id.clone())
            .push_bind(e.job_id.clone())
            .push_bind(e.state.clone())
            .push_bind(e.hostname.clone())
            .push_bind(e.pid)
            .push_bind(e.description.clone())
            .push_bind(e.result.clone())
            .push_bind(e.scheduled_time)
            .push_bind(e.updated_time)
            .push_bind(e.run_kind.clone())
            .push_bind(e.attempt)
            .push_bind(e.retry_of.clone())
            .push_bind(e.started_time)
            .push_bind(e.finished_time)
            .push_bind(e.host_id.clone());
    });
    qb.build().execute(conn).await.map(drop)
}

async fn insert_audits(rows: &[&AuditRow], conn: &mut Conn) -> Result<(), sqlx::Error> {
    let mut qb = QueryBuilder::<Db>::new(
        "INSERT INTO audit_logs (audit_id, job_id, job_name, event, user_name, created_time, description) ",
    );
    qb.push_values(rows, |mut b, a| {
        b.push_bind(a.audit_id.clone())
            .push_bind(a.job_id.clone())
            .push_bind(a.job_name.clone())
            .push_bind(a.event.clone())
            .push_bind(a.user_name.clone())
            .push_bind(a.created_time)
            .push_bind(a.description.clone());
    });
    qb.build().execute(conn).await.map(drop)
}

/// Runs one write as its own statement and returns the rows it affected; `None` for
/// the kinds [`commit`] always writes in multi-row statements (new executions, final
/// states, audit entries), which never reach this path.
async fn execute(write: &Write, conn: &mut Conn) -> Option<Result<u64, sqlx::Error>> {
    static SET_UNFINISHED_STATE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE executions SET state = $2, updated_time = $3 \
             WHERE execution_id = $1 AND state IN {}",
            unfinished_states_sql()
        )
    });
    let query = match write {
        Write::ClaimFire {
            job_id,
            due,
            next,
            executions,
        } => {
            let claim = [(job_id.as_str(), *due, *next, executions.as_slice())];
            return Some(
                claim_with_rows(&claim, conn)
                    .await
                    .map(|won| u64::from(won.contains(job_id))),
            );
        }
        Write::MarkRunning {
            execution_id,
            pid,
            plugin_sha256,
            now,
        } => sqlx::query(
            "UPDATE executions SET state = 'running', pid = $2, plugin_sha256 = $3, \
             started_time = $4, updated_time = $4 WHERE execution_id = $1 AND state = 'scheduled'",
        )
        .bind(execution_id)
        .bind(pid)
        .bind(plugin_sha256)
        .bind(now),
        Write::SetUnfinishedState {
            execution_id,
            state,
            now,
        } => sqlx::query(SET_UNFINISHED_STATE.as_str())
            .bind(execution_id)
            .bind(state)
            .bind(now),
        Write::InsertExecution { .. } | Write::FinishExecution { .. } | Write::InsertAudit(_) => {
            return None;
        }
    };
    Some(isolated!(conn, |conn| query
        .execute(conn)
        .await
        .map(|done| done.rows_affected())))
}
