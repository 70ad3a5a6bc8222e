//! The rows of the store's tables, as stored.

/// A row of `jobs`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    /// 32 hex characters.
    pub job_id: String,
    /// The job's name.
    pub name: String,
    /// `<plugin name>.<Class>`.
    pub job_class_string: String,
    /// JSON text (array or object).
    pub pub_args: String,
    /// `cron` or `interval`.
    pub trigger_kind: String,
    /// JSON text of the trigger's parameters, after defaulting.
    pub trigger_params: String,
    /// JSON text of extension options.
    pub options: String,
    /// Paused by a user.
    pub paused: bool,
    /// Next fire time (µs since the epoch), `None` while paused.
    pub next_run_time: Option<i64>,
    /// When the job was created (µs).
    pub created_time: i64,
    /// When its definition last changed (µs).
    pub updated_time: i64,
}

/// A row of `executions`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExecutionRow {
    /// 32 hex characters.
    pub execution_id: String,
    /// The job it ran.
    pub job_id: String,
    /// `scheduled`, `running`, `stopping`, `stopped`, `failed`, `succeeded`, `timeout`,
    /// `scheduled error`.
    pub state: String,
    /// The node that ran it.
    pub hostname: String,
    /// That node's process id, once running.
    pub pid: Option<i64>,
    /// A short note about the run.
    pub description: Option<String>,
    /// The result (pretty JSON) or the failure message.
    pub result: Option<String>,
    /// The occurrence's nominal time (µs).
    pub scheduled_time: i64,
    /// Last change (µs).
    pub updated_time: i64,
    /// `scheduled` or `run_now`.
    pub run_kind: String,
    /// 1 for a first attempt.
    pub attempt: i64,
    /// For a retry: the first attempt's execution id.
    pub retry_of: Option<String>,
    /// When the guest started (µs).
    pub started_time: Option<i64>,
    /// When the run ended (µs).
    pub finished_time: Option<i64>,
    /// The plugin version it ran.
    pub plugin_sha256: Option<String>,
    /// JSON array of the log lines.
    pub logs: Option<String>,
    /// Captured stdout.
    pub stdout: Option<String>,
    /// Captured stderr.
    pub stderr: Option<String>,
    /// Largest linear memory reached.
    pub peak_memory_bytes: Option<i64>,
    /// Fuel consumed, when metered.
    pub fuel_consumed: Option<i64>,
    /// JSON array of the HTTP requests it made or tried.
    pub http_requests: Option<String>,
    /// The host (`hosts.host_id`) that owns it: runs it, or will. `None` for a finished
    /// execution of an earlier version, and for an unstarted one handed back at a
    /// shutdown (any live host adopts it).
    pub host_id: Option<String>,
    /// Not a column: in a row of a list, the length of the whole result in
    /// characters, `result` holding only its start ([`ExecutionQuery::result_chars`]);
    /// `None` in a row read whole.
    #[sqlx(default)]
    pub result_chars: Option<i64>,
}

/// What finishing a run writes into its execution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinishedRun {
    /// The final state.
    pub state: String,
    /// Result or failure message.
    pub result: Option<String>,
    /// A short note.
    pub description: Option<String>,
    /// When the guest started, if it did (µs).
    pub started_time: Option<i64>,
    /// When it ended (µs).
    pub finished_time: i64,
    /// JSON array of log lines.
    pub logs: Option<String>,
    /// Captured stdout.
    pub stdout: Option<String>,
    /// Captured stderr.
    pub stderr: Option<String>,
    /// Peak memory, bytes.
    pub peak_memory_bytes: Option<i64>,
    /// Fuel consumed.
    pub fuel_consumed: Option<i64>,
    /// The plugin version that ran.
    pub plugin_sha256: Option<String>,
    /// The process that ran it, when the run was never marked running.
    pub pid: Option<i64>,
    /// JSON array of the HTTP requests it made or tried.
    pub http_requests: Option<String>,
    /// The job's new state, written in the same transaction as the final state.
    pub job_state: Option<JobStateWrite>,
}

/// A job's state as a run leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStateWrite {
    /// The job.
    pub job_id: String,
    /// JSON object of the entries.
    pub entries: String,
    /// Bytes of keys and values.
    pub bytes: i64,
}

/// A row of `job_state`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobStateRow {
    /// The job.
    pub job_id: String,
    /// JSON object of the entries.
    pub entries: String,
    /// Bytes of keys and values.
    pub bytes: i64,
    /// When a run last changed it (µs).
    pub updated_time: i64,
}

/// A row of `secrets`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretRow {
    /// Its name, the environment variable a job reads.
    pub name: String,
    /// Hex of the nonce and the ciphertext.
    pub sealed: String,
    /// When it was first stored (µs).
    pub created_time: i64,
    /// When its value last changed (µs).
    pub updated_time: i64,
}

/// A row of `audit_logs`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// Unique id.
    pub audit_id: String,
    /// The job concerned.
    pub job_id: String,
    /// Its name at the time.
    pub job_name: String,
    /// `added`, `modified`, `deleted`, `paused`, `resumed`, `custom_run`.
    pub event: String,
    /// Who did it (`""` without credentials).
    pub user_name: String,
    /// When (µs).
    pub created_time: i64,
    /// Details, per event.
    pub description: Option<String>,
}

/// A row of `plugins`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PluginRow {
    /// The name a `job_class_string` starts with.
    pub name: String,
    /// Hex sha256 of the `.wasm`.
    pub sha256: String,
    /// Size of the `.wasm`, bytes.
    pub size: i64,
    /// The `wasmcron:job` version it implements.
    pub world_version: String,
    /// JSON array of its classes.
    pub classes: String,
    /// When this version was installed (µs).
    pub uploaded_time: i64,
    /// JSON array of the capabilities its imports can use; `None` for a row written
    /// before they were recorded.
    pub capabilities: Option<String>,
}

/// Which executions to list, and which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionQuery {
    /// `scheduled_time >= start` (µs).
    pub start: i64,
    /// `scheduled_time <= end` (µs).
    pub end: i64,
    /// Only this job's.
    pub job_id: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// At most this many.
    pub limit: i64,
    /// Continue after this `(updated_time, execution_id)`, the last of the page before.
    pub after: Option<(i64, String)>,
    /// Read at most this many characters of each result (a list stays small however
    /// large the results are); each row's `result_chars` says how long it is whole.
    pub result_chars: i64,
}

/// A row of `api_tokens`: a token's name, role and the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    /// Unique; the audit log's `user`.
    pub name: String,
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// When it was created (µs).
    pub created_time: i64,
    /// When it last authenticated a request (µs), to a minute.
    pub last_used_time: Option<i64>,
}

/// A row of `hosts`: one process serving the database.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HostRow {
    /// `<name>@<start time, µs>`.
    pub host_id: String,
    /// `--host-name`.
    pub name: String,
    /// The API's listen address.
    pub address: String,
    /// Its process id.
    pub pid: i64,
    /// When it started (µs).
    pub started_time: i64,
    /// Its last heartbeat (µs).
    pub last_heartbeat: i64,
    /// Shutting down: fires nothing more, lets its runs finish.
    pub draining: bool,
    /// Stopped, or adopted by another host: dead.
    pub stopped: bool,
    /// The host that adopted what it left unfinished.
    pub adopted_by: Option<String>,
}
