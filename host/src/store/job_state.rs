//! The `job_state` table: each job's key-value state. Runs write it through the batch
//! writer with their final state (`batch.rs`); here it is read, and cleared on request.

use super::{JobStateRow, Store, StoreResult};

impl Store {
    /// A job's state row, if it has one.
    pub async fn job_state(&self, job_id: &str) -> StoreResult<Option<JobStateRow>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, JobStateRow>("SELECT * FROM job_state WHERE job_id = $1")
                .bind(job_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Clears a job's state; whether it had any.
    pub async fn clear_job_state(&self, job_id: &str) -> StoreResult<bool> {
        let deleted = on_pool!(&self.writer, writer => {
            sqlx::query("DELETE FROM job_state WHERE job_id = $1")
                .bind(job_id)
                .execute(writer)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }
}
