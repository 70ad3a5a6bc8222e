//! A job between its row (text columns) and its parsed form. Rows are parsed once,
//! when they are read at start or written: what the store hands out is parsed.

use super::JobRow;
use crate::job::{Job, JobOptions, Trigger};
use crate::time::from_micros;
use std::collections::HashMap;

/// Triggers parsed so far, by their stored text: loading a million jobs parses each
/// distinct schedule once (jobs tend to share a few: every five minutes, nightly …),
/// and jobs with the same schedule share its parsed form in memory.
#[derive(Default)]
pub(crate) struct TriggerCache(HashMap<String, HashMap<String, Result<Trigger, String>>>);

impl TriggerCache {
    fn parse(&mut self, kind: &str, params: &str) -> Result<Trigger, String> {
        // Looked up by kind, then by parameters, so that a hit allocates nothing.
        if let Some(parsed) = self.0.get(kind).and_then(|by_params| by_params.get(params)) {
            return parsed.clone();
        }
        let parsed = Trigger::from_stored(kind, params);
        self.0
            .entry(kind.to_owned())
            .or_default()
            .insert(params.to_owned(), parsed.clone());
        parsed
    }
}

/// Parses a stored job. A stored part that does not parse (a hand-edited or damaged
/// database) is logged and recorded as the job's `defect`: its fires then fail as
/// `scheduled error` instead of running with defaults the user never chose.
pub(crate) fn job_from_row(row: JobRow, triggers: &mut TriggerCache) -> Job {
    let mut defects = Vec::new();
    // Most jobs have no options: skip the JSON decoder for them.
    let options = if row.options == "{}" {
        Ok(JobOptions::NONE)
    } else {
        JobOptions::from_stored(&row.options)
    };
    let options = options.unwrap_or_else(|e| {
        defects.push(e);
        JobOptions::NONE
    });
    let trigger = triggers
        .parse(&row.trigger_kind, &row.trigger_params)
        .unwrap_or_else(|e| {
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
    Job::from_parts(
        row.job_id,
        row.name,
        row.job_class_string,
        row.pub_args.into_boxed_str(),
        trigger,
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
