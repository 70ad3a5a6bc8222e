//! Grouped reads of the scheduled runs that other hosts have in flight, per job.
//!
//! With several hosts, a host that cannot tell from its own claims whether another
//! host runs a job (`scheduler::lineage`) reads the job's unfinished scheduled runs of
//! the other hosts. After a host starts, or another joins, that is one read per job;
//! at 100,000 jobs, thousands a second, answered in groups (`grouped.rs`).

use super::grouped::{GroupRead, GroupedReader};
use super::{Pool, unfinished_states_sql};
use std::collections::HashMap;

/// One read: the job, the host asking, and the occurrence its runs must be earlier than.
pub(super) struct OtherRunsRead {
    pub job_id: String,
    pub me: String,
    pub before: i64,
}

/// The reads of other hosts' runs in flight: each answers the unfinished first
/// attempts of the job's scheduled occurrences before `before` that a host other than
/// `me` owns, or none does (execution ids, oldest occurrence first).
pub(super) struct OtherRuns;

/// The handle reads are submitted through.
pub(super) type OtherRunsReader = GroupedReader<OtherRuns>;

/// `(execution_id, scheduled_time, host_id)` of an unfinished first attempt of a
/// scheduled run.
type Run = (String, i64, Option<String>);

impl GroupRead for OtherRuns {
    type Request = OtherRunsRead;
    type Answer = Vec<String>;
    /// Per job, its unfinished first attempts of scheduled runs, oldest first.
    type Rows = HashMap<String, Vec<Run>>;
    const FAILURE: &'static str = "reading the other hosts' runs failed";

    fn job_id(request: &OtherRunsRead) -> &str {
        &request.job_id
    }

    async fn fetch(pool: &Pool, job_ids: &[&str]) -> Result<Self::Rows, sqlx::Error> {
        // Every such row of these jobs (a few per job at most: unfinished ones); each
        // read keeps those of other hosts before its occurrence.
        let rows = on_pool!(pool, pool => {
            let mut query = sqlx::QueryBuilder::<dialect::Db>::new(format!(
                "SELECT job_id, execution_id, scheduled_time, host_id FROM executions \
                 WHERE state IN {} AND run_kind = 'scheduled' AND attempt = 1 AND job_id IN (",
                unfinished_states_sql()
            ));
            let mut list = query.separated(", ");
            for id in job_ids {
                list.push_bind(*id);
            }
            query.push(") ORDER BY scheduled_time");
            query
                .build_query_as::<(String, String, i64, Option<String>)>()
                .fetch_all(pool)
                .await
        })?;
        let mut by_job: Self::Rows = HashMap::new();
        for (job_id, execution_id, at, host) in rows {
            by_job
                .entry(job_id)
                .or_default()
                .push((execution_id, at, host));
        }
        Ok(by_job)
    }

    fn answer(rows: &Self::Rows, read: &OtherRunsRead) -> Vec<String> {
        rows.get(&read.job_id)
            .into_iter()
            .flatten()
            .filter(|(_, at, host)| *at < read.before && host.as_deref() != Some(read.me.as_str()))
            .map(|(execution_id, ..)| execution_id.clone())
            .collect()
    }
}
