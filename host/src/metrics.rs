//! The server's Prometheus metrics: one registry for the process, with a typed handle
//! for everything it records. Every other module records through [`get`] in one line;
//! `GET /metrics` ([`Metrics::render`]) encodes the registry in Prometheus' text format.
//! docs/operating.md lists each metric.
//!
//! Recording sits on the fire path, so it is cheap: the handles of every fixed label
//! value (trigger kinds, final states, failure kinds, run kinds) are resolved once, at
//! start, and a recording is an atomic add (a histogram's observation holds the crate's
//! uncontended mutex for the add, never across an await); nothing allocates. HTTP
//! requests (labelled by route template) and the per-job series (off unless
//! `--metrics-per-job`) look their labels up in a map instead.
//!
//! The gauges that existing state answers (jobs by state, plugins installed, runs in
//! progress, retries pending) are not kept in step with it: the scrape reads that state
//! and sets them ([`Gauges`]).
//!
//! One registry for the process, like the metrics it describes: a process runs one
//! server. (Several schedulers in one process, as in unit tests, add up into it.)

use crate::job::ExecutionState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The metrics of this process.
pub(crate) fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// The trigger kinds a fire is counted under (`Trigger::kind`).
const TRIGGER_KINDS: [&str; 3] = ["cron", "interval", "date"];

/// The run kinds a start is counted under (`RunKind::as_str`).
const RUN_KINDS: [&str; 2] = ["scheduled", "run_now"];

/// The codes of `FailureKind`, the `failure_kind` of a failed execution. A failed
/// execution without one was interrupted by a shutdown ([`INTERRUPTED`]).
const FAILURE_KINDS: [&str; 5] = [
    "job_error",
    "trap",
    "out_of_memory",
    "host_fault",
    "result_too_large",
];
const INTERRUPTED: &str = "interrupted";
/// A failed execution's code that is none of the above (none is written today).
const OTHER: &str = "other";

/// Runs and lateness: from 100 µs (a run of a small job, a fire on an idle host) to ten
/// minutes.
const SECONDS_BUCKETS: [f64; 19] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 600.0,
];
/// Commits of the write batch: from 100 µs to a second.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Compiling a plugin: from 10 ms to two minutes.
const COMPILE_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];
/// Writes per batch: powers of two up to the batch's limit (512).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

type Labels<const N: usize> = [(&'static str, &'static str); N];
type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// An HTTP request's labels: the route template (never the raw path, whose ids would
/// make a series per job), the method and the status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

/// A per-job series' labels (`--metrics-per-job`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobStateLabels {
    job_id: String,
    state: &'static str,
}

/// One execution series: its final state, and for `failed` its failure kind (labelled
/// `""` otherwise). An `Option` rather than that empty string: comparing two empty
/// strings calls `memcmp` with dangling pointers and a length of 0, which glibc's
/// AVX-512 `memcmp` took ~200 ns for here (a masked load on an unmapped address),
/// against ~15 ns for the whole recording without it.
struct ExecutionSeries {
    state: &'static str,
    failure_kind: Option<&'static str>,
    counter: Counter,
}

/// What the scrape reads from the server's state to set the gauges that mirror it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gauges {
    /// `(state, count)`: `active`, `paused`, `finished`.
    pub jobs_by_state: Vec<(&'static str, usize)>,
    pub plugins_installed: usize,
    pub runs_in_progress: usize,
    /// `None` when the database did not answer: the gauge keeps its last value.
    pub retries_pending: Option<u64>,
}

/// The registry and a handle on each metric.
pub(crate) struct Metrics {
    registry: Registry,
    /// Only encoded with `--metrics-per-job`.
    per_job_registry: Registry,
    per_job: AtomicBool,
    fires: Vec<(&'static str, Counter)>,
    executions: Vec<ExecutionSeries>,
    run_duration: Histogram,
    lateness: Vec<(&'static str, Histogram)>,
    runs_in_progress: Gauge,
    runs_waiting_for_slot: Gauge,
    retries_pending: Gauge,
    plugins_installed: Gauge,
    plugin_compile: Histogram,
    http_requests: Family<HttpLabels, Counter>,
    batch_writes: Histogram,
    batch_commit: Histogram,
    jobs: Family<Labels<1>, Gauge>,
    job_executions: Family<JobStateLabels, Counter>,
    job_run_duration: HistogramFamily<JobLabels>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("wasmcron");
        registry.register(
            "build",
            "The server's version and git commit (always 1)",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("git_commit", env!("WASMCRON_GIT_COMMIT")),
            ]),
        );

        let fires_family = Family::<Labels<1>, Counter>::default();
        let fires = TRIGGER_KINDS
            .iter()
            .map(|&kind| (kind, fires_family.get_or_create_owned(&[("trigger", kind)])))
            .collect();
        registry.register(
            "fires",
            "Occurrences of jobs' schedules the scheduler fired, by trigger kind: each \
             occurrence once, whether it then ran, was coalesced into a later one or was missed",
            fires_family,
        );

        let executions_family = Family::<Labels<2>, Counter>::default();
        let mut executions = Vec::new();
        for state in ExecutionState::ALL.into_iter().filter(|s| s.is_final()) {
            let kinds: Vec<Option<&'static str>> = if state == ExecutionState::Failed {
                FAILURE_KINDS
                    .into_iter()
                    .chain([INTERRUPTED, OTHER])
                    .map(Some)
                    .collect()
            } else {
                vec![None]
            };
            for failure_kind in kinds {
                let labels = [
                    ("state", state.as_str()),
                    ("failure_kind", failure_kind.unwrap_or("")),
                ];
                executions.push(ExecutionSeries {
                    state: state.as_str(),
                    failure_kind,
                    counter: executions_family.get_or_create_owned(&labels),
                });
            }
        }
        registry.register(
            "executions",
            "Executions that reached a final state, by state and, for failed ones, the kind \
             of failure",
            executions_family,
        );

        let run_duration = Histogram::new(SECONDS_BUCKETS);
        registry.register_with_unit(
            "run_duration",
            "How long runs took in the sandbox, whatever their outcome",
            Unit::Seconds,
            run_duration.clone(),
        );

        let lateness_family: HistogramFamily<Labels<1>> =
            Family::new_with_constructor(|| Histogram::new(SECONDS_BUCKETS));
        let lateness = RUN_KINDS
            .iter()
            .map(|&kind| {
                (
                    kind,
                    lateness_family.get_or_create_owned(&[("run_kind", kind)]),
                )
            })
            .collect();
        registry.register_with_unit(
            "fire_lateness",
            "How late runs started: the start in the sandbox minus the scheduled time (a \
             scheduled fire's nominal time, so its jitter included; a run-now's request; a \
             retry's due time)",
            Unit::Seconds,
            lateness_family,
        );

        let runs_in_progress = Gauge::default();
        registry.register(
            "runs_in_progress",
            "Runs in the sandbox now (each holds one of --max-concurrent-runs' slots)",
            runs_in_progress.clone(),
        );
        let runs_waiting_for_slot = Gauge::default();
        registry.register(
            "runs_waiting_for_slot",
            "Runs due and admitted, waiting for a free slot (--max-concurrent-runs)",
            runs_waiting_for_slot.clone(),
        );
        let retries_pending = Gauge::default();
        registry.register(
            "retries_pending",
            "Retries written and not started yet (waiting for their backoff or a slot)",
            retries_pending.clone(),
        );
        let plugins_installed = Gauge::default();
        registry.register(
            "plugins_installed",
            "Plugins installed and loaded",
            plugins_installed.clone(),
        );
        let plugin_compile = Histogram::new(COMPILE_BUCKETS);
        registry.register_with_unit(
            "plugin_compile",
            "How long compiling a plugin took (uploads, and loads without a usable cached \
             artifact)",
            Unit::Seconds,
            plugin_compile.clone(),
        );

        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );

        let batch_writes = Histogram::new(BATCH_BUCKETS);
        registry.register(
            "store_batch_writes",
            "Writes committed together in one transaction of the store's group commit",
            batch_writes.clone(),
        );
        let batch_commit = Histogram::new(COMMIT_BUCKETS);
        registry.register_with_unit(
            "store_batch_commit",
            "How long one transaction of the store's group commit took",
            Unit::Seconds,
            batch_commit.clone(),
        );

        let jobs = Family::<Labels<1>, Gauge>::default();
        registry.register(
            "jobs",
            "Jobs by state: active (has a next fire), paused, finished (no fire left)",
            jobs.clone(),
        );

        let mut per_job_registry = Registry::with_prefix("wasmcron");
        let job_executions = Family::<JobStateLabels, Counter>::default();
        per_job_registry.register(
            "job_executions",
            "Executions that reached a final state, by job and state (--metrics-per-job)",
            job_executions.clone(),
        );
        let job_run_duration: HistogramFamily<JobLabels> =
            Family::new_with_constructor(|| Histogram::new(SECONDS_BUCKETS));
        per_job_registry.register_with_unit(
            "job_run_duration",
            "How long runs took, by job (--metrics-per-job)",
            Unit::Seconds,
            job_run_duration.clone(),
        );

        Metrics {
            registry,
            per_job_registry,
            per_job: AtomicBool::new(false),
            fires,
            executions,
            run_duration,
            lateness,
            runs_in_progress,
            runs_waiting_for_slot,
            retries_pending,
            plugins_installed,
            plugin_compile,
            http_requests,
            batch_writes,
            batch_commit,
            jobs,
            job_executions,
            job_run_duration,
        }
    }

    /// Labels executions and run durations by job too (`--metrics-per-job`): a series
    /// per job, so off by default.
    pub(crate) fn set_per_job(&self, on: bool) {
        self.per_job.store(on, Ordering::Relaxed);
    }

    fn per_job(&self) -> bool {
        self.per_job.load(Ordering::Relaxed)
    }

    /// `occurrences` of a job's schedule were fired (claimed).
    pub(crate) fn fired(&self, trigger_kind: &str, occurrences: usize) {
        if let Some((_, counter)) = self.fires.iter().find(|(k, _)| *k == trigger_kind) {
            counter.inc_by(occurrences as u64);
        }
    }

    /// An execution reached its final `state` (the stored name), with its stable code
    /// (a failed run's failure kind).
    pub(crate) fn execution_ended(&self, job_id: &str, state: &str, code: Option<&str>) {
        let failure_kind = match (state == ExecutionState::Failed.as_str(), code) {
            (false, _) => None,
            (true, None) => Some(INTERRUPTED),
            (true, Some(code)) => Some(
                FAILURE_KINDS
                    .into_iter()
                    .find(|k| *k == code)
                    .unwrap_or(OTHER),
            ),
        };
        let series = self
            .executions
            .iter()
            .find(|s| s.state == state && s.failure_kind == failure_kind);
        if let Some(series) = series {
            series.counter.inc();
            if self.per_job() {
                self.job_executions
                    .get_or_create(&JobStateLabels {
                        job_id: job_id.to_owned(),
                        state: series.state,
                    })
                    .inc();
            }
        }
    }

    /// A run started in the sandbox `late_micros` after its scheduled time.
    pub(crate) fn run_started(&self, run_kind: &str, late_micros: i64) {
        if let Some((_, histogram)) = self.lateness.iter().find(|(k, _)| *k == run_kind) {
            histogram.observe(late_micros.max(0) as f64 / 1e6);
        }
    }

    /// A run left the sandbox after `duration`.
    pub(crate) fn run_finished(&self, job_id: &str, duration: Duration) {
        self.run_duration.observe(duration.as_secs_f64());
        if self.per_job() {
            self.job_run_duration
                .get_or_create(&JobLabels {
                    job_id: job_id.to_owned(),
                })
                .observe(duration.as_secs_f64());
        }
    }

    /// Counts a run waiting for a slot until the returned guard is dropped.
    pub(crate) fn waiting_for_slot(&self) -> GaugeGuard {
        self.runs_waiting_for_slot.inc();
        GaugeGuard(self.runs_waiting_for_slot.clone())
    }

    /// A plugin was compiled in `took`.
    pub(crate) fn plugin_compiled(&self, took: Duration) {
        self.plugin_compile.observe(took.as_secs_f64());
    }

    /// An HTTP request to the route template `route` was answered with `status`.
    pub(crate) fn http_request(&self, route: &str, method: &'static str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method,
                status,
            })
            .inc();
    }

    /// The group commit committed `writes` writes in one transaction, in `took`.
    pub(crate) fn batch_committed(&self, writes: usize, took: Duration) {
        self.batch_writes.observe(writes as f64);
        self.batch_commit.observe(took.as_secs_f64());
    }

    /// The registry in Prometheus' text format (version 0.0.4), its state-mirroring
    /// gauges set from `gauges` first.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        for &(state, count) in &gauges.jobs_by_state {
            self.jobs
                .get_or_create(&[("state", state)])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        let set = |gauge: &Gauge, value: u64| gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        set(&self.plugins_installed, gauges.plugins_installed as u64);
        set(&self.runs_in_progress, gauges.runs_in_progress as u64);
        if let Some(pending) = gauges.retries_pending {
            set(&self.retries_pending, pending);
        }
        let mut text = String::with_capacity(16 << 10);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        if self.per_job() {
            let _ = prometheus_client::encoding::prometheus_text::encode(
                &mut text,
                &self.per_job_registry,
            );
        }
        text
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Decrements its gauge when dropped.
pub(crate) struct GaugeGuard(Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::FailureKind;

    /// The failure kinds listed here are the runtime's (the match breaks the build when
    /// one is added, as a reminder to list it).
    #[test]
    fn every_failure_kind_has_a_series() {
        let all = |kind: FailureKind| match kind {
            FailureKind::JobError
            | FailureKind::Trap
            | FailureKind::OutOfMemory
            | FailureKind::HostFault
            | FailureKind::ResultTooLarge => kind.code(),
        };
        let codes: Vec<&str> = [
            FailureKind::JobError,
            FailureKind::Trap,
            FailureKind::OutOfMemory,
            FailureKind::HostFault,
            FailureKind::ResultTooLarge,
        ]
        .into_iter()
        .map(all)
        .collect();
        assert_eq!(codes, FAILURE_KINDS);
    }

    /// Every final state is counted under its own series, a failure under its kind; an
    /// unfinished state (never final) is not counted.
    #[test]
    fn executions_are_counted_by_state_and_failure_kind() {
        let metrics = Metrics::new();
        metrics.execution_ended("j", "succeeded", None);
        metrics.execution_ended("j", "failed", Some("trap"));
        metrics.execution_ended("j", "failed", None);
        metrics.execution_ended("j", "skipped", Some("max_instances"));
        metrics.execution_ended("j", "running", None);
        let text = metrics.render(&Gauges::default());
        for line in [
            "wasmcron_executions_total{state=\"succeeded\",failure_kind=\"\"} 1",
            "wasmcron_executions_total{state=\"failed\",failure_kind=\"trap\"} 1",
            "wasmcron_executions_total{state=\"failed\",failure_kind=\"interrupted\"} 1",
            "wasmcron_executions_total{state=\"skipped\",failure_kind=\"\"} 1",
            "wasmcron_executions_total{state=\"timeout\",failure_kind=\"\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("state=\"running\""), "{text}");
        assert!(!text.contains("job_id"), "per-job series are off: {text}");
    }

    /// Per-job series appear only when asked for.
    #[test]
    fn per_job_series_follow_the_flag() {
        let metrics = Metrics::new();
        metrics.set_per_job(true);
        metrics.execution_ended("job-1", "succeeded", None);
        metrics.run_finished("job-1", Duration::from_millis(3));
        let text = metrics.render(&Gauges::default());
        assert!(
            text.contains("wasmcron_job_executions_total{job_id=\"job-1\",state=\"succeeded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("wasmcron_job_run_duration_seconds_count{job_id=\"job-1\"} 1"),
            "{text}"
        );
        metrics.set_per_job(false);
        assert!(!metrics.render(&Gauges::default()).contains("job_id"));
    }

    /// The gauges mirroring state take the scrape's values; lateness is in seconds.
    #[test]
    fn gauges_and_lateness() {
        let metrics = Metrics::new();
        metrics.run_started("run_now", 1_500_000);
        metrics.fired("interval", 3);
        let waiting = metrics.waiting_for_slot();
        let text = metrics.render(&Gauges {
            jobs_by_state: vec![("active", 2), ("paused", 1)],
            plugins_installed: 4,
            runs_in_progress: 5,
            retries_pending: Some(6),
        });
        drop(waiting);
        for line in [
            "wasmcron_fire_lateness_seconds_sum{run_kind=\"run_now\"} 1.5",
            "wasmcron_fire_lateness_seconds_count{run_kind=\"run_now\"} 1",
            "wasmcron_fires_total{trigger=\"interval\"} 3",
            "wasmcron_jobs{state=\"active\"} 2",
            "wasmcron_jobs{state=\"paused\"} 1",
            "wasmcron_plugins_installed 4",
            "wasmcron_runs_in_progress 5",
            "wasmcron_retries_pending 6",
            "wasmcron_runs_waiting_for_slot 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(
            metrics
                .render(&Gauges::default())
                .lines()
                .any(|l| l == "wasmcron_runs_waiting_for_slot 0")
        );
    }
}
