//! The audit log: who changed which job, and when.

use super::batch::Write;
use super::dialect::Conn;
use super::{AuditRow, Store, StoreResult};

/// Appends an audit entry inside the caller's transaction (a change and its entry
/// commit together).
pub(super) async fn insert_one(conn: &mut Conn, a: &AuditRow) -> Result<(), sqlx::Error> {
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
        Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT * FROM audit_logs WHERE created_time >= $1 AND created_time <= $2 \
             ORDER BY created_time DESC, audit_id",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes up to `batch` audit entries created before `cutoff` (µs).
    pub async fn delete_audit_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM audit_logs WHERE audit_id IN \
             (SELECT audit_id FROM audit_logs WHERE created_time < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}
