//! Reads that many fires need at once, answered in groups: one reader task takes the
//! reads queued at the moment and answers them all with one statement, as the group
//! commit (`batch.rs`) does for writes. Under low load a read is a single statement
//! and nothing waits. Each kind of read (`next_runs.rs`, `other_runs.rs`) says what it
//! asks per job and how one read's answer comes out of the group's rows.

use super::Pool;
use super::batch::shared_failure;
use tokio::sync::{mpsc, oneshot};

/// The most reads one statement answers.
const MAX_GROUP: usize = 500;

/// One kind of grouped read: a read names a job; one statement reads the rows of every
/// job of the group.
pub(super) trait GroupRead: 'static {
    type Request: Send + 'static;
    type Answer: Send + 'static;
    type Rows: Send;
    /// What a failed statement is reported as (`shared_failure`).
    const FAILURE: &'static str;
    /// The job a read is about.
    fn job_id(request: &Self::Request) -> &str;
    /// The rows of these jobs (distinct ids).
    fn fetch(
        pool: &Pool,
        job_ids: &[&str],
    ) -> impl Future<Output = Result<Self::Rows, sqlx::Error>> + Send;
    /// One read's answer out of its group's rows.
    fn answer(rows: &Self::Rows, request: &Self::Request) -> Self::Answer;
}

type Reply<A> = oneshot::Sender<Result<A, sqlx::Error>>;

/// The handle reads are submitted through. Cheap to clone.
pub(super) struct GroupedReader<R: GroupRead> {
    queue: mpsc::UnboundedSender<(R::Request, Reply<R::Answer>)>,
}

impl<R: GroupRead> Clone for GroupedReader<R> {
    fn clone(&self) -> Self {
        GroupedReader {
            queue: self.queue.clone(),
        }
    }
}

impl<R: GroupRead> std::fmt::Debug for GroupedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupedReader").finish_non_exhaustive()
    }
}

impl<R: GroupRead> GroupedReader<R> {
    /// Starts the reader task on `pool`.
    pub(super) fn start(pool: Pool) -> Self {
        // Unbounded: a read is a job id, and there is at most one per fire.
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run::<R>(pool, rx));
        GroupedReader { queue }
    }

    /// Queues the read and waits for its group's answer.
    pub(super) async fn read(&self, request: R::Request) -> Result<R::Answer, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((request, reply))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run<R: GroupRead>(
    pool: Pool,
    mut rx: mpsc::UnboundedReceiver<(R::Request, Reply<R::Answer>)>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let mut ids: Vec<&str> = group
            .iter()
            .map(|(request, _)| R::job_id(request))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        match R::fetch(&pool, &ids).await {
            Ok(rows) => {
                for (request, reply) in group.drain(..) {
                    let _ = reply.send(Ok(R::answer(&rows, &request)));
                }
            }
            Err(e) => {
                // As a direct read's error would: a caller can tell an outage apart.
                let failure = shared_failure(&e, R::FAILURE);
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(failure()));
                }
            }
        }
    }
}
