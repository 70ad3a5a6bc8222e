//! Grouped reads of jobs' next fire times from the table.
//!
//! With several hosts, each fire a host backs up is checked once against the table
//! before the host claims it (`scheduler::timer`): has the preferred host claimed it
//! already? At 100,000 jobs that is thousands of one-row reads per second. One reader
//! task takes the checks queued at the moment and answers them with one statement,
//! as the group commit (`batch.rs`) does for writes: under low load a read is a single
//! check and nothing waits.

use super::Pool;
use super::batch::shared_failure;
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// The most jobs one statement reads.
const MAX_GROUP: usize = 500;

/// A job's stored next run time: `None` when the job is not in the table.
type Stored = Option<Option<i64>>;
type Reply = oneshot::Sender<Result<Stored, sqlx::Error>>;

/// The handle checks are submitted through. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct NextRunReader {
    queue: mpsc::UnboundedSender<(String, Reply)>,
}

impl NextRunReader {
    /// Starts the reader task on `pool`.
    pub(super) fn start(pool: Pool) -> Self {
        // Unbounded: a check is a job id, and there is at most one per queued fire.
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        NextRunReader { queue }
    }

    /// Reads `job_id`'s next run time as the table holds it now (`None` if the job
    /// is not there). Fails with the statement's error.
    pub(super) async fn read(&self, job_id: &str) -> Result<Stored, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job_id.to_owned(), reply))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run(pool: Pool, mut rx: mpsc::UnboundedReceiver<(String, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let mut ids: Vec<&str> = group.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = on_pool!(&pool, pool => {
            let mut query = sqlx::QueryBuilder::<dialect::Db>::new(
                "SELECT job_id, next_run_time FROM jobs WHERE job_id IN (",
            );
            let mut list = query.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            query.push(")");
            query
                .build_query_as::<(String, Option<i64>)>()
                .fetch_all(pool)
                .await
        });
        match rows {
            Ok(rows) => {
                let stored: HashMap<String, Option<i64>> = rows.into_iter().collect();
                for (id, reply) in group.drain(..) {
                    let _ = reply.send(Ok(stored.get(&id).copied()));
                }
            }
            Err(e) => {
                // As a direct read's error would: a caller can tell an outage apart.
                let failure = shared_failure(&e, "reading next run times failed");
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(failure()));
                }
            }
        }
    }
}
