//! A job between its row (text columns) and its parsed form. Rows are parsed once,
//! when they are read at start or written: what the store hands out is parsed.

use super::JobRow;
use crate::job::{Job, JobOptions, Schedule, Trigger};
use crate::time::from_micros;

/// Parses a stored job. A stored part that does not parse (a hand-edited or damaged
/// database) is logged and recorded as the job's `defect`: its fires then fail as
/// `scheduled error` instead of running with defaults the user never chose.
pub(crate) fn job_from_row(row: &JobRow) -> Job {
    let mut defects = Vec::new();
    let options = JobOptions::from_stored(&row.options).unwrap_or_else(|e| {
        defects.push(e);
        JobOptions::NONE
    });
    let trigger =
        Trigger::from_stored(&row.trigger_kind, &row.trigger_params).unwrap_or_else(|e| {
            defects.push(format!("the stored trigger is unusable: {e}"));
            // Never fires again: a date in the past.
            Trigger::Date {
                run_date: from_micros(row.created_time),
            }
        });
    let defect = (!defects.is_empty()).then(|| {
        let defect = defects.join("; ");
        tracing::error!(job_id = %row.job_id, "stored job is damaged: {defect}");
        defect.into_boxed_str()
    });
    let schedule = Schedule {
        trigger,
        timezone: options.tz(),
        start_date: options.start(),
        end_date: options.end(),
    };
    Job::from_parts(
        row.job_id.clone(),
        row.name.clone(),
        row.job_class_string.clone(),
        row.pub_args.clone().into_boxed_str(),
        schedule,
        options,
        row.paused,
        row.created_time,
        row.updated_time,
        defect,
    )
}

/// The row of a job.
pub(crate) fn row_from_job(job: &Job, next_run_time: Option<i64>) -> JobRow {
    JobRow {
        job_id: job.id.clone(),
        name: job.name.clone(),
        job_class_string: job.job_class_string.clone(),
        pub_args: job.args.to_string(),
        trigger_kind: job.schedule.trigger.kind().into(),
        trigger_params: job.schedule.trigger.params_json().to_string(),
        options: job.options().to_stored(),
        paused: job.paused,
        next_run_time,
        created_time: job.created_time,
        updated_time: job.updated_time,
    }
}
