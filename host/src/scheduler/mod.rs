//! The scheduler: when jobs fire, and what a fire does. Read it in the order a fire
//! goes:
//! 1. [`timer`]: a loop sleeps until shortly before the earliest next fire in its
//!    [`queue::TimerQueue`] (or until a change wakes it: no fixed polling tick).
//! 2. [`fire`]: it *prepares* each fire [`PREPARE_AHEAD`] early: claims it in the store
//!    with a compare-and-set, applies the misfire and coalesce rules and writes its
//!    execution row, so that at the nominal instant only the run itself is left: the
//!    database's commits are off the fire's critical path.
//! 3. [`execution`]: each execution waits for its time, is admitted by the job's
//!    concurrency policy ([`policy`]) and a free slot, runs in the sandbox, is
//!    recorded in its final state, and is retried by the job's policy. A fire whose job
//!    is paused, deleted or rescheduled while it waits is abandoned (its row removed:
//!    that occurrence no longer exists).
//!
//! Each execution row always reaches a final state; a fire that does not run is
//! recorded too, as a `skipped` or `missed` execution with the reason. What a dead host
//! (a previous process, or another host on a shared database: [`hosts`]) left
//! unfinished is adopted and settled by [`recovery`]: started runs fail, unstarted
//! fires go through the misfire rule, unstarted run-nows and retries run.

mod execution;
mod fire;
mod grants;
mod hosts;
mod lineage;
mod orphans;
mod policy;
mod queue;
mod recovery;
pub mod retention;
mod timer;

use crate::events::EventBus;
use crate::job::HttpLimitCaps;
use crate::plugins::PluginRegistry;
use crate::runtime::{RunLimits, Runtime};
use crate::secrets::Vault;
use crate::store::{Store, StoreError};
use queue::TimerQueue;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use execution::CancelOutcome;
pub use hosts::HostConfig;
use hosts::HostIdentity;

/// How long before its nominal time a fire is prepared (claimed, its row written).
/// Long enough to commit a burst of a few thousand simultaneous fires; short enough that
/// a `scheduled` row rarely shows ahead of its time.
const PREPARE_AHEAD: Duration = Duration::from_millis(300);

/// Server-wide scheduling policy: the defaults of every job's settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Concurrent scheduled runs of one job; a fire beyond it is skipped.
    pub max_instances: usize,
    /// A missed fire later than this is not run.
    pub misfire_grace: Duration,
    /// Run several missed fires of one job once.
    pub coalesce: bool,
    /// Runs at once across all jobs (the rest wait, in the database, for a slot).
    pub max_concurrent_runs: usize,
    /// Default limits of a run.
    pub run_limits: RunLimits,
    /// What to keep of the history.
    pub retention: retention::RetentionConfig,
    /// Defaults and maxima of jobs' outbound HTTP.
    pub http_limits: HttpLimitCaps,
    /// The most bytes of one job's state.
    pub max_state_bytes: usize,
    /// The key secrets are sealed with; none: jobs cannot read secrets.
    pub secrets: Option<Arc<Vault>>,
    /// Label executions and run durations by job in the metrics too (a series per job).
    pub metrics_per_job: bool,
    /// This host among the others on the database.
    pub host: HostConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_instances: 3,
            misfire_grace: Duration::from_secs(3600),
            coalesce: true,
            max_concurrent_runs: 128,
            run_limits: RunLimits::default(),
            retention: retention::RetentionConfig::default(),
            http_limits: HttpLimitCaps::default(),
            max_state_bytes: 1 << 20,
            secrets: None,
            metrics_per_job: false,
            host: HostConfig::default(),
        }
    }
}

/// The scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    plugins: PluginRegistry,
    config: SchedulerConfig,
    queue: Mutex<TimerQueue>,
    wake: Notify,
    /// Scheduled runs in flight per job (execution ids), for the concurrency policy.
    running: Mutex<HashMap<String, Vec<String>>>,
    /// Whether another host may have scheduled runs of a job in flight (shared stores).
    lineages: Mutex<lineage::Lineages>,
    /// Cancel handles of this node's unfinished executions.
    cancels: Mutex<HashMap<String, CancellationToken>>,
    /// Fires prepared ahead and not started yet, per job: cancelled (abandoned) when
    /// the job is paused, deleted or rescheduled before they are due.
    prepared: Mutex<HashMap<String, Vec<CancellationToken>>>,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
    /// Cancelled when the scheduler stops firing.
    stop_firing: CancellationToken,
    /// Set once shutdown cuts runs short: they end as interrupted, not `stopped`.
    interrupting: AtomicBool,
    /// Whether the timer loop runs (readiness).
    timer_alive: AtomicBool,
    /// Where executions' state changes and runs' output are published, live.
    events: EventBus,
    /// The machine's hostname, recorded in each execution (ndscheduler's column).
    hostname: String,
    pid: i64,
    /// This process in the `hosts` table.
    host: HostIdentity,
    /// The hosts that fire (sorted ids; this one alone on SQLite): fires spread over
    /// them.
    firing_hosts: Mutex<Arc<Vec<String>>>,
    /// Cancelled at a shutdown while other hosts fire: unstarted executions are handed
    /// back to them instead of starting here.
    handing_back: CancellationToken,
    /// Ends the heartbeat, at the very end of a shutdown.
    heartbeat_stop: CancellationToken,
    heartbeat_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Cancelled when another host found this one dead and adopted its work.
    lost: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few map operations that cannot panic
    // half-way; a poisoned lock still guards consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The span every log line about one execution is written in, so that each carries the
/// job and execution ids. At ERROR level: a filter that lets any of the crate's lines
/// through keeps the span around them. A root span: an execution outlives the request
/// or the run (a retry) that started it, and must show and hold on to neither.
fn run_span(job_id: &str, execution_id: &str) -> tracing::Span {
    tracing::error_span!(parent: None, "run", job_id, execution_id)
}

impl Scheduler {
    /// A scheduler over these parts; nothing fires until [`Scheduler::start`].
    pub fn new(
        store: Store,
        runtime: Runtime,
        plugins: PluginRegistry,
        config: SchedulerConfig,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_concurrent_runs));
        let host = HostIdentity::new(&config.host.name);
        let firing_hosts = Mutex::new(Arc::new(vec![host.id.clone()]));
        Scheduler {
            inner: Arc::new(Inner {
                store,
                runtime,
                plugins,
                config,
                queue: Mutex::default(),
                wake: Notify::new(),
                running: Mutex::default(),
                lineages: Mutex::default(),
                cancels: Mutex::default(),
                prepared: Mutex::default(),
                slots,
                tasks: TaskTracker::new(),
                stop_firing: CancellationToken::new(),
                interrupting: AtomicBool::new(false),
                timer_alive: AtomicBool::new(false),
                events: EventBus::default(),
                hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                pid: i64::from(std::process::id()),
                host,
                firing_hosts,
                handing_back: CancellationToken::new(),
                heartbeat_stop: CancellationToken::new(),
                heartbeat_task: Mutex::default(),
                lost: CancellationToken::new(),
            }),
        }
    }

    /// Registers this host, adopts what dead hosts (a previous process of this one
    /// among them) left unfinished (runs they started fail; fires, run-nows and
    /// retries they left unstarted run: `hosts.rs`, `recovery.rs`), loads every
    /// scheduled job, and starts the timer loop, the heartbeat, the takeover of dead
    /// hosts (on a shared database) and the retention task. Jobs whose fire passed
    /// during downtime fire at once (subject to their misfire policy).
    ///
    /// # Errors
    /// If the store cannot be read.
    pub async fn start(&self) -> Result<(), StoreError> {
        self.register().await?;
        if self.inner.store.is_shared() {
            self.refresh_firing_hosts().await?;
        }
        self.take_over(true).await?;
        let jobs = self.inner.store.scheduled_jobs().await?;
        {
            let mut queue = lock(&self.inner.queue);
            for (job_id, next) in &jobs {
                queue.schedule(job_id, *next);
            }
        }
        tracing::info!(jobs = jobs.len(), "scheduler started");
        let this = self.clone();
        self.inner
            .tasks
            .spawn(async move { this.timer_loop().await });
        let this = self.clone();
        self.inner
            .tasks
            .spawn(async move { this.sweep_orphans().await });
        // The heartbeat outlives the firing: a shutting-down host is alive until its
        // runs are recorded.
        let this = self.clone();
        let stop = self.inner.heartbeat_stop.clone();
        *lock(&self.inner.heartbeat_task) =
            Some(tokio::spawn(async move { this.heartbeat_loop(stop).await }));
        if self.inner.store.is_shared() {
            let this = self.clone();
            self.inner
                .tasks
                .spawn(async move { this.takeover_loop().await });
        }
        let store = self.inner.store.clone();
        let config = self.inner.config.retention.clone();
        let stop = self.inner.stop_firing.clone();
        self.inner
            .tasks
            .spawn(async move { retention::run(store, config, stop).await });
        Ok(())
    }

    /// The live events of executions (state changes, runs' logs and progress).
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// Publishes an execution's state change, once committed, to the live event
    /// streams.
    fn publish(&self, execution_id: &str, job_id: &str, state: crate::job::ExecutionState) {
        self.inner
            .events
            .publish_state(execution_id, Some(job_id), state);
    }

    /// Whether the timer loop is running: false before start and after shutdown began.
    pub fn timer_alive(&self) -> bool {
        self.inner
            .timer_alive
            .load(std::sync::atomic::Ordering::SeqCst)
            && !self.inner.stop_firing.is_cancelled()
    }

    /// Runs in the sandbox now (each holds a slot).
    pub fn runs_in_progress(&self) -> usize {
        self.inner
            .config
            .max_concurrent_runs
            .saturating_sub(self.inner.slots.available_permits())
    }

    /// Stops firing: the first step of [`Scheduler::shutdown`], taken as soon as the
    /// shutdown is asked for (before the API's connections drain). While other hosts
    /// fire, this host says it is leaving (fires prefer the others at once) and hands
    /// its unstarted executions back to them.
    pub async fn stop_firing(&self) {
        if self.inner.stop_firing.is_cancelled() {
            return;
        }
        if self.inner.store.is_shared() && self.others_fire() {
            self.start_leaving().await;
            self.inner.handing_back.cancel();
        }
        self.inner.stop_firing.cancel();
    }

    /// Stops firing, lets runs in flight finish within `grace`, then interrupts the
    /// rest (recorded as failed, interrupted) and waits for their records; then marks
    /// this host stopped. While other hosts fire, the executions not started yet
    /// (fires prepared ahead, retries, run-nows waiting for a slot) are handed back to
    /// them instead, so that they run on time.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop_firing().await;
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            let left: Vec<CancellationToken> =
                lock(&self.inner.cancels).values().cloned().collect();
            tracing::warn!(
                runs = left.len(),
                "grace period over: interrupting the remaining runs"
            );
            self.inner
                .interrupting
                .store(true, std::sync::atomic::Ordering::SeqCst);
            for token in left {
                token.cancel();
            }
            self.inner.tasks.wait().await;
        }
        self.leave().await;
    }
}
