//! Execution use-cases: read one, page through them by filter, cancel one; and the
//! audit trail.

use super::{AuditEntry, Execution, Service, ServiceError, ServiceResult, or_not_found};
use crate::events::EventBus;
use crate::job::{ExecutionState, JobSnapshot};
use crate::scheduler::CancelOutcome;
use crate::store::{ExecutionQuery, StoreError};
use std::collections::HashMap;

/// Where a page of executions starts: after the execution with this update time and
/// id (the order of the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// µs since the epoch.
    pub updated_time: i64,
    /// The last execution of the previous page.
    pub execution_id: String,
}

/// Which executions to list.
#[derive(Debug, Clone)]
pub struct ExecutionFilter {
    /// Updated at or after this (µs).
    pub start: i64,
    /// Updated at or before this (µs).
    pub end: i64,
    /// Only this job's.
    pub job_id: Option<String>,
    /// Only those in this state.
    pub state: Option<ExecutionState>,
    /// At most this many.
    pub limit: i64,
    /// After this one (the previous page's last).
    pub after: Option<Cursor>,
    /// How many characters of each result to read: a longer one is cut, and its
    /// row's `result_chars` says how long it is.
    pub result_chars: i64,
}

/// One page of executions, each with its job when the job still exists.
#[derive(Debug, Clone)]
pub struct ExecutionPage {
    /// Newest update first.
    pub executions: Vec<(Execution, Option<JobSnapshot>)>,
    /// Where the next page starts, when there may be one.
    pub next: Option<Cursor>,
}

impl Service {
    /// The live events of executions, for the API's event streams.
    pub fn events(&self) -> &EventBus {
        self.scheduler.events()
    }

    /// One execution, with its job when the job still exists.
    pub async fn get_execution(
        &self,
        execution_id: &str,
    ) -> ServiceResult<(Execution, Option<JobSnapshot>)> {
        let execution = or_not_found(
            self.store.get_execution(execution_id).await,
            "Execution",
            execution_id,
        )?;
        let job = self.job_if_exists(&execution.job_id).await?;
        Ok((execution, job))
    }

    /// The executions of these ids that still exist, each with its job when the job
    /// still exists, in no particular order.
    pub async fn executions_by_id(
        &self,
        execution_ids: &[&str],
    ) -> ServiceResult<Vec<(Execution, Option<JobSnapshot>)>> {
        let rows = self.store.executions_by_id(execution_ids).await?;
        let mut found = Vec::with_capacity(rows.len());
        for execution in rows {
            let job = self.job_if_exists(&execution.job_id).await?;
            found.push((execution, job));
        }
        Ok(found)
    }

    async fn job_if_exists(&self, job_id: &str) -> ServiceResult<Option<JobSnapshot>> {
        match self.store.job(job_id).await {
            Ok(job) => Ok(Some(job)),
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// One page of executions matching `filter`, newest update first.
    pub async fn list_executions(&self, filter: ExecutionFilter) -> ServiceResult<ExecutionPage> {
        let query = ExecutionQuery {
            start: filter.start,
            end: filter.end,
            job_id: filter.job_id,
            state: filter.state.map(|s| s.as_str().to_owned()),
            limit: filter.limit,
            after: filter.after.map(|c| (c.updated_time, c.execution_id)),
            result_chars: filter.result_chars,
        };
        let rows = self.store.list_executions(&query).await?;
        let next = (rows.len() as i64 == query.limit)
            .then(|| {
                rows.last().map(|e| Cursor {
                    updated_time: e.updated_time,
                    execution_id: e.execution_id.clone(),
                })
            })
            .flatten();
        let mut jobs: HashMap<String, Option<JobSnapshot>> = HashMap::new();
        let mut executions = Vec::with_capacity(rows.len());
        for e in rows {
            if !jobs.contains_key(&e.job_id) {
                let job = self.job_if_exists(&e.job_id).await?;
                jobs.insert(e.job_id.clone(), job);
            }
            let job = jobs.get(&e.job_id).cloned().flatten();
            executions.push((e, job));
        }
        Ok(ExecutionPage { executions, next })
    }

    /// Cancels a scheduled or running execution.
    pub async fn cancel_execution(&self, execution_id: &str) -> ServiceResult<()> {
        match or_not_found(
            self.scheduler.cancel(execution_id).await,
            "Execution",
            execution_id,
        )? {
            CancelOutcome::Stopping => Ok(()),
            CancelOutcome::AlreadyFinished(state) => Err(ServiceError::BadRequest(format!(
                "Execution {execution_id} is not running (its state is '{state}'): only a scheduled or running execution can be stopped"
            ))),
        }
    }

    /// Audit entries created within `[start, end]` (µs), newest first.
    pub async fn list_logs(&self, start: i64, end: i64) -> ServiceResult<Vec<AuditEntry>> {
        Ok(self.store.list_audit(start, end).await?)
    }
}
