//! Grouped reads of jobs' next fire times from the table.
//!
//! With several hosts, each fire a host backs up is checked once against the table
//! before the host claims it (`scheduler::timer`): has the preferred host claimed it
//! already? At 100,000 jobs that is thousands of one-row reads per second, answered in
//! groups (`grouped.rs`).

use super::Pool;
use super::grouped::{GroupRead, GroupedReader};
use std::collections::HashMap;

/// A job's stored next run time: `None` when the job is not in the table.
pub(super) type Stored = Option<Option<i64>>;

/// The reads of jobs' next run times (by job id).
pub(super) struct NextRuns;

/// The handle checks are submitted through: `read(job_id)` answers the job's next run
/// time as the table holds it now, or fails with the statement's error.
pub(super) type NextRunReader = GroupedReader<NextRuns>;

impl GroupRead for NextRuns {
    type Request = String;
    type Answer = Stored;
    type Rows = HashMap<String, Option<i64>>;
    const FAILURE: &'static str = "reading next run times failed";

    fn job_id(request: &String) -> &str {
        request
    }

    async fn fetch(pool: &Pool, job_ids: &[&str]) -> Result<Self::Rows, sqlx::Error> {
        let rows = on_pool!(pool, pool => {
            let mut query = sqlx::QueryBuilder::<dialect::Db>::new(
                "SELECT job_id, next_run_time FROM jobs WHERE job_id IN (",
            );
            let mut list = query.separated(", ");
            for id in job_ids {
                list.push_bind(*id);
            }
            query.push(")");
            query
                .build_query_as::<(String, Option<i64>)>()
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().collect())
    }

    fn answer(rows: &Self::Rows, job_id: &String) -> Stored {
        rows.get(job_id).copied()
    }
}
