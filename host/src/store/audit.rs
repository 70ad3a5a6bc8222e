//! The audit log: who changed which job, and when.
//!
//! (The entry a job change writes in its own transaction is `insert_audit` of
//! `portable.rs`.)

use super::batch::Write;
use super::{AuditRow, Store, StoreResult};

impl Store {
    /// Appends an audit entry.
    pub async fn insert_audit(&self, a: &AuditRow) -> StoreResult<()> {
        self.batch
            .submit(Write::InsertAudit(Box::new(a.clone())))
            .await?;
        Ok(())
    }

    /// Audit entries created in `[start, end]`, newest first.
    pub async fn list_audit(&self, start: i64, end: i64) -> StoreResult<Vec<AuditRow>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, AuditRow>(
                "SELECT * FROM audit_logs WHERE created_time >= $1 AND created_time <= $2 \
                 ORDER BY created_time DESC, audit_id",
            )
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Deletes up to `batch` audit entries created before `cutoff` (µs).
    pub async fn delete_audit_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        Ok(on_pool!(&self.writer, writer => {
            sqlx::query(
                "DELETE FROM audit_logs WHERE audit_id IN \
                 (SELECT audit_id FROM audit_logs WHERE created_time < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(writer)
            .await?
            .rows_affected()
        }))
    }
}
