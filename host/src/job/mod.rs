//! The job domain, without I/O: what a job is (its definition, schedule and options)
//! and the states of its executions. Nothing here knows HTTP, SQL or wasmtime.
//!
//! A job is parsed once, when it is saved or loaded: the scheduler fires a [`Job`]
//! whose schedule and options are already typed, so a fire decodes no JSON.

mod allow;
pub mod cron;
mod json;
mod options;
mod schedule;
mod state;

pub use allow::{AllowList, is_restricted_address};
pub use json::{definition_into, job_json};
pub use options::{
    ConcurrencyPolicy, HttpLimitCaps, HttpLimits, JobOptions, OptionLimits, ResolvedHttpLimits,
    Retries, check_variable_name, parse_local_time, zone,
};
pub use schedule::{Schedule, Trigger};
pub use state::{ExecutionState, RunKind};

use serde_json::Value;
use std::sync::Arc;

/// A validated job definition, as a client gives it (POST, PUT).
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Non-empty name.
    pub name: String,
    /// `<plugin name>.<Class>`, not yet resolved.
    pub job_class_string: String,
    /// An array or an object.
    pub pub_args: Value,
    /// When it fires.
    pub trigger: Trigger,
    /// The optional settings (time zone, limits, retries …).
    pub options: JobOptions,
}

impl JobSpec {
    /// The trigger with the job's zone and dates.
    pub fn schedule(&self) -> Schedule {
        Schedule::with_options(self.trigger.clone(), &self.options)
    }
}

/// A saved job, parsed: what the scheduler fires and the API shows. Its next run time
/// is kept beside it ([`JobSnapshot`]), since every fire moves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// 32 hex characters.
    pub id: String,
    /// Non-empty name.
    pub name: String,
    /// `<plugin name>.<Class>`.
    pub job_class_string: String,
    /// `pub_args`, as JSON text (an array or an object): passed to the guest as is.
    pub args: Box<str>,
    /// When it fires.
    pub schedule: Schedule,
    /// Its settings; `None` when it has none (most jobs: a million jobs keep one
    /// pointer each instead of the whole struct).
    options: Option<Box<JobOptions>>,
    /// Paused jobs have no next run time.
    pub paused: bool,
    /// µs since the epoch.
    pub created_time: i64,
    /// µs since the epoch; changed by every user edit (not by fires).
    pub updated_time: i64,
    /// Why a stored job cannot run as it is (its stored trigger or options are
    /// unreadable): each of its fires then ends as `scheduled error` with this reason
    /// instead of running with settings the user did not give. `None` for every job
    /// saved through the API.
    pub defect: Option<Box<str>>,
}

/// Options of a job that has none.
static NO_OPTIONS: JobOptions = JobOptions::NONE;

impl Job {
    /// A job from its definition.
    pub fn new(
        id: String,
        spec: JobSpec,
        paused: bool,
        created_time: i64,
        updated_time: i64,
    ) -> Self {
        Job::from_parts(
            id,
            spec.name,
            spec.job_class_string,
            spec.pub_args.to_string().into_boxed_str(),
            spec.trigger,
            spec.options,
            paused,
            created_time,
            updated_time,
            None,
        )
    }

    /// A job as stored, with the stored parts already parsed (`defect` says what could
    /// not be).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        id: String,
        name: String,
        job_class_string: String,
        args: Box<str>,
        trigger: Trigger,
        options: JobOptions,
        paused: bool,
        created_time: i64,
        updated_time: i64,
        defect: Option<Box<str>>,
    ) -> Self {
        Job {
            id,
            name,
            job_class_string,
            args,
            schedule: Schedule::with_options(trigger, &options),
            options: (options != JobOptions::NONE).then(|| Box::new(options)),
            paused,
            created_time,
            updated_time,
            defect,
        }
    }

    /// Its settings (all unset for most jobs).
    pub fn options(&self) -> &JobOptions {
        self.options.as_deref().unwrap_or(&NO_OPTIONS)
    }

    /// The plugin part of its class string.
    pub fn plugin_name(&self) -> Option<&str> {
        self.job_class_string
            .rsplit_once('.')
            .map(|(plugin, _)| plugin)
    }
}

/// A job and its next run time, read together.
#[derive(Debug, Clone)]
pub struct JobSnapshot {
    /// The job (shared with the store's copy: cloning a snapshot copies no job).
    pub job: Arc<Job>,
    /// µs since the epoch; `None` when paused or finished.
    pub next_run_time: Option<i64>,
}

impl JobSnapshot {
    /// `paused`, `active` (has a next run) or `finished`.
    pub fn state(&self) -> &'static str {
        match (self.job.paused, self.next_run_time) {
            (true, _) => "paused",
            (false, Some(_)) => "active",
            (false, None) => "finished",
        }
    }
}
