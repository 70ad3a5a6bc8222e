//! Group commit for the hot writes: every fire and run writes a few small rows
//! (claim, execution insert, running, final state, audit). One writer task takes the
//! writes queued at the moment and commits them in one transaction, so that the cost
//! of a commit is shared by everything that arrived meanwhile; under low load a batch
//! is a single write and nothing waits.
//!
//! A caller's future completes only after its write is committed, so the semantics
//! are those of a plain `execute`: what returned is durable and visible.

use super::{AuditRow, ExecutionRow, FinishedRun};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

/// The most writes one transaction carries.
const MAX_BATCH: usize = 512;

/// One hot write.
#[derive(Debug)]
pub(super) enum Write {
    ClaimFire {
        job_id: String,
        due: i64,
        next: Option<i64>,
    },
    InsertExecution(Box<ExecutionRow>),
    MarkRunning {
        execution_id: String,
        pid: i64,
        plugin_sha256: Option<String>,
        now: i64,
    },
    SetUnfinishedState {
        execution_id: String,
        state: String,
        now: i64,
    },
    FinishExecution {
        execution_id: String,
        run: Box<FinishedRun>,
    },
    InsertAudit(Box<AuditRow>),
}

type Reply = oneshot::Sender<Result<u64, sqlx::Error>>;

/// The handle writers submit through. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Batcher {
    queue: mpsc::Sender<(Write, Reply)>,
}

impl Batcher {
    /// Starts the writer task on `writer` (a one-connection pool).
    pub(super) fn start(writer: SqlitePool) -> Self {
        // Bounded: when the database falls behind, writers wait here instead of
        // piling up memory.
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(writer, rx));
        Batcher { queue }
    }

    /// Submits a write and waits until it is committed. Returns the rows it affected.
    pub(super) async fn submit(&self, write: Write) -> Result<u64, sqlx::Error> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((write, reply))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        done.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run(writer: SqlitePool, mut rx: mpsc::Receiver<(Write, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcome = commit(&writer, &mut batch).await;
        match outcome {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                // The transaction failed as a whole: every write in it failed.
                let message = e.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(sqlx::Error::Protocol(format!(
                        "batch commit failed: {message}"
                    ))));
                }
            }
        }
    }
}

/// Rows per multi-row statement (SQLite binds at most 32,766 parameters).
const ROWS_PER_STATEMENT: usize = 256;

/// Runs the batch in one transaction. New executions, final states and audit entries
/// go in as multi-row statements (a statement costs far more than a row); claims and
/// the other conditional writes run one by one, since their callers need to know
/// whether their row matched. A statement that fails fails only its own writes
/// (SQLite rolls back just that statement); the rest commit.
async fn commit(
    writer: &SqlitePool,
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
    let mut claimed_jobs = std::collections::HashSet::new();
    let claims: Vec<usize> = group(|w| matches!(w, Write::ClaimFire { .. }))
        .into_iter()
        .filter(|&i| match &batch[i].0 {
            Write::ClaimFire { job_id, .. } => claimed_jobs.insert(job_id.as_str()),
            _ => false,
        })
        .collect();
    for chunk in claims.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<(&str, i64, Option<i64>)> = chunk
            .iter()
            .filter_map(|&i| match &batch[i].0 {
                Write::ClaimFire { job_id, due, next } => Some((job_id.as_str(), *due, *next)),
                _ => None,
            })
            .collect();
        match claim_fires(&rows, &mut tx).await {
            Ok(won) => {
                for (&i, (job_id, _, _)) in chunk.iter().zip(&rows) {
                    results[i] = Some(Ok(u64::from(won.contains(*job_id))));
                }
            }
            Err(e) => spread(&mut results, chunk, Err(e)),
        }
    }
    let inserts = group(|w| matches!(w, Write::InsertExecution(_)));
    let audits = group(|w| matches!(w, Write::InsertAudit(_)));
    let finishes = group(|w| matches!(w, Write::FinishExecution { .. }));
    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<&ExecutionRow> = chunk
            .iter()
            .filter_map(|&i| match &batch[i].0 {
                Write::InsertExecution(e) => Some(e.as_ref()),
                _ => None,
            })
            .collect();
        let outcome = insert_executions(&rows, &mut tx).await;
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
        let outcome = insert_audits(&rows, &mut tx).await;
        spread(&mut results, chunk, outcome);
    }
    for (i, (write, _)) in batch.iter().enumerate() {
        if results[i].is_none() && !matches!(write, Write::FinishExecution { .. }) {
            results[i] = Some(execute(write, &mut tx).await);
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
        let outcome = finish_executions(&rows, &mut tx).await;
        spread(&mut results, chunk, outcome);
    }
    tx.commit().await?;
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(0))).collect())
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

/// Claims many fires at once; returns the jobs whose claim matched (the
/// compare-and-set of each claim, as in the one-row statement).
async fn claim_fires(
    rows: &[(&str, i64, Option<i64>)],
    conn: &mut SqliteConnection,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let mut qb = QueryBuilder::<Sqlite>::new("UPDATE jobs SET next_run_time = v.column3 FROM (");
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

async fn insert_executions(
    rows: &[&ExecutionRow],
    conn: &mut SqliteConnection,
) -> Result<(), sqlx::Error> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO executions (execution_id, job_id, state, hostname, pid, description, result, \
         scheduled_time, updated_time, run_kind, attempt, retry_of, started_time, finished_time) ",
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
            .push_bind(e.finished_time);
    });
    qb.build().execute(conn).await.map(drop)
}

async fn insert_audits(rows: &[&AuditRow], conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut qb = QueryBuilder::<Sqlite>::new(
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

async fn finish_executions(
    rows: &[(&str, &FinishedRun)],
    conn: &mut SqliteConnection,
) -> Result<(), sqlx::Error> {
    // SQLite names the columns of a VALUES list column1, column2, ...
    let mut qb = QueryBuilder::<Sqlite>::new(
        "UPDATE executions SET state = v.column2, result = v.column3, description = v.column4, \
         updated_time = v.column5, finished_time = v.column5, \
         started_time = COALESCE(started_time, v.column6), logs = v.column7, stdout = v.column8, \
         stderr = v.column9, peak_memory_bytes = v.column10, fuel_consumed = v.column11, \
         plugin_sha256 = COALESCE(v.column12, plugin_sha256), pid = COALESCE(pid, v.column13) \
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
            .push_bind(run.pid);
    });
    qb.push(") AS v WHERE executions.execution_id = v.column1");
    qb.build().execute(conn).await.map(drop)
}

async fn execute(write: &Write, conn: &mut SqliteConnection) -> Result<u64, sqlx::Error> {
    let done = match write {
        Write::ClaimFire { job_id, due, next } => {
            sqlx::query("UPDATE jobs SET next_run_time = $3 WHERE job_id = $1 AND next_run_time = $2")
                .bind(job_id)
                .bind(due)
                .bind(next)
                .execute(conn)
                .await?
        }
        Write::InsertExecution(e) => {
            sqlx::query(
                "INSERT INTO executions (execution_id, job_id, state, hostname, pid, description, \
                 result, scheduled_time, updated_time, run_kind, attempt, retry_of, started_time, \
                 finished_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&e.execution_id)
            .bind(&e.job_id)
            .bind(&e.state)
            .bind(&e.hostname)
            .bind(e.pid)
            .bind(&e.description)
            .bind(&e.result)
            .bind(e.scheduled_time)
            .bind(e.updated_time)
            .bind(&e.run_kind)
            .bind(e.attempt)
            .bind(&e.retry_of)
            .bind(e.started_time)
            .bind(e.finished_time)
            .execute(conn)
            .await?
        }
        Write::MarkRunning { execution_id, pid, plugin_sha256, now } => {
            sqlx::query(
                "UPDATE executions SET state = 'running', pid = $2, plugin_sha256 = $3, \
                 started_time = $4, updated_time = $4 WHERE execution_id = $1 AND state = 'scheduled'",
            )
            .bind(execution_id)
            .bind(pid)
            .bind(plugin_sha256)
            .bind(now)
            .execute(conn)
            .await?
        }
        Write::SetUnfinishedState { execution_id, state, now } => {
            sqlx::query(
                "UPDATE executions SET state = $2, updated_time = $3 \
                 WHERE execution_id = $1 AND state IN ('scheduled', 'running', 'stopping')",
            )
            .bind(execution_id)
            .bind(state)
            .bind(now)
            .execute(conn)
            .await?
        }
        Write::FinishExecution { execution_id, run } => {
            sqlx::query(
                "UPDATE executions SET state = $2, result = $3, description = $4, updated_time = $5, \
                 finished_time = $5, started_time = COALESCE(started_time, $6), logs = $7, stdout = $8, \
                 stderr = $9, peak_memory_bytes = $10, fuel_consumed = $11, \
                 plugin_sha256 = COALESCE($12, plugin_sha256), \
                 pid = COALESCE(pid, $13) \
                 WHERE execution_id = $1",
            )
            .bind(execution_id)
            .bind(&run.state)
            .bind(&run.result)
            .bind(&run.description)
            .bind(run.finished_time)
            .bind(run.started_time)
            .bind(&run.logs)
            .bind(&run.stdout)
            .bind(&run.stderr)
            .bind(run.peak_memory_bytes)
            .bind(run.fuel_consumed)
            .bind(&run.plugin_sha256)
            .bind(run.pid)
            .execute(conn)
            .await?
        }
        Write::InsertAudit(a) => {
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
            .await?
        }
    };
    Ok(done.rows_affected())
}
