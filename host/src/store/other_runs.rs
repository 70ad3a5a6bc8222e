//! Grouped reads of the scheduled runs that other hosts have in flight, per job.
//!
//! With several hosts, a host that cannot tell from its own claims whether another
//! host runs a job (`scheduler::lineage`) reads the job's unfinished scheduled runs of
//! the other hosts. After a host starts, or another joins, that is one read per job;
//! at 100,000 jobs, thousands a second. One reader task takes the reads queued at the
//! moment and answers them with one statement, as `next_runs.rs` does for next fire
//! times: under low load a read is a single statement and nothing waits.

use super::batch::shared_failure;
use super::{Pool, unfinished_states_sql};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// The most jobs one statement reads.
const MAX_GROUP: usize = 500;

/// One read: the job, the host asking, and the occurrence its runs must be earlier than.
struct Read {
    job_id: String,
    me: String,
    before: i64,
    reply: oneshot::Sender<Result<Vec<String>, sqlx::Error>>,
}

/// The handle reads are submitted through. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct OtherRunsReader {
    queue: mpsc::UnboundedSender<Read>,
}

impl OtherRunsReader {
    /// Starts the reader task on `pool`.
    pub(super) fn start(pool: Pool) -> Self {
        // Unbounded: a read is a job id, and there is at most one per fire.
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        OtherRunsReader { queue }
    }

    /// The unfinished first attempts of `job_id`'s scheduled occurrences before
    /// `before` that a host other than `me` owns, or none does (execution ids, oldest
    /// occurrence first).
    pub(super) async fn read(
        &self,
        job_id: &str,
        me: &str,
        before: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Read {
                job_id: job_id.to_owned(),
                me: me.to_owned(),
                before,
                reply,
            })
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// `(job_id, execution_id, scheduled_time, host_id)` of unfinished first attempts of
/// scheduled runs.
type Row = (String, String, i64, Option<String>);

async fn run(pool: Pool, mut rx: mpsc::UnboundedReceiver<Read>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let mut ids: Vec<&str> = group.iter().map(|r| r.job_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        // Every row of these jobs (a few per job at most: unfinished ones); each read
        // keeps those of other hosts before its occurrence.
        let rows = on_pool!(&pool, pool => {
            let mut query = sqlx::QueryBuilder::<dialect::Db>::new(format!(
                "SELECT job_id, execution_id, scheduled_time, host_id FROM executions \
                 WHERE state IN {} AND run_kind = 'scheduled' AND attempt = 1 AND job_id IN (",
                unfinished_states_sql()
            ));
            let mut list = query.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            query.push(") ORDER BY scheduled_time");
            query.build_query_as::<Row>().fetch_all(pool).await
        });
        match rows {
            Ok(rows) => {
                let mut by_job: HashMap<&str, Vec<&Row>> = HashMap::new();
                for row in &rows {
                    by_job.entry(row.0.as_str()).or_default().push(row);
                }
                for read in group.drain(..) {
                    let runs = by_job
                        .get(read.job_id.as_str())
                        .into_iter()
                        .flatten()
                        .filter(|(_, _, at, host)| {
                            *at < read.before && host.as_deref() != Some(read.me.as_str())
                        })
                        .map(|(_, execution_id, ..)| execution_id.clone())
                        .collect();
                    let _ = read.reply.send(Ok(runs));
                }
            }
            Err(e) => {
                let failure = shared_failure(&e, "reading the other hosts' runs failed");
                for read in group.drain(..) {
                    let _ = read.reply.send(Err(failure()));
                }
            }
        }
    }
}
