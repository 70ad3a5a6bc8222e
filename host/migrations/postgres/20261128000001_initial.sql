-- The PostgreSQL twin of migrations/sqlite/20261128000001_initial.sql: the same tables,
-- columns and indexes. Times are microseconds since the Unix epoch, UTC (BIGINT).
-- Ids and names sort byte by byte (COLLATE "C"), as SQLite's do: keyset pagination
-- and every listing order the same on both backends.

CREATE TABLE jobs (
    job_id           TEXT COLLATE "C" PRIMARY KEY,
    name             TEXT NOT NULL,
    job_class_string TEXT NOT NULL,
    pub_args         TEXT NOT NULL,          -- JSON array or object
    trigger_kind     TEXT NOT NULL,          -- 'cron' | 'interval'
    trigger_params   TEXT NOT NULL,          -- JSON object, after defaulting
    options          TEXT NOT NULL DEFAULT '{}', -- JSON object of extension keys
    paused           BOOLEAN NOT NULL DEFAULT FALSE,
    -- The truth for the next fire: NULL while paused. A fire is claimed with
    -- UPDATE ... SET next_run_time = :next WHERE job_id = :id AND next_run_time = :due.
    next_run_time    BIGINT,
    created_time     BIGINT NOT NULL,
    updated_time     BIGINT NOT NULL
);
CREATE INDEX jobs_by_next_run_time ON jobs (next_run_time);

CREATE TABLE executions (
    execution_id      TEXT COLLATE "C" PRIMARY KEY,
    job_id            TEXT COLLATE "C" NOT NULL, -- no foreign key: executions outlive their job
    state             TEXT NOT NULL,
    hostname          TEXT NOT NULL,
    pid               BIGINT,
    description       TEXT,
    result            TEXT,
    scheduled_time    BIGINT NOT NULL,
    updated_time      BIGINT NOT NULL,
    run_kind          TEXT NOT NULL,          -- 'scheduled' | 'run_now'
    attempt           BIGINT NOT NULL DEFAULT 1,
    started_time      BIGINT,
    finished_time     BIGINT,
    plugin_sha256     TEXT,
    logs              TEXT,                   -- JSON array of {level, message}
    stdout            TEXT,
    stderr            TEXT,
    peak_memory_bytes BIGINT,
    fuel_consumed     BIGINT
);
CREATE INDEX executions_by_scheduled_time ON executions (scheduled_time);
CREATE INDEX executions_by_job_and_state ON executions (job_id, state);
CREATE INDEX executions_by_state ON executions (state);

CREATE TABLE audit_logs (
    audit_id     TEXT COLLATE "C" PRIMARY KEY,
    job_id       TEXT NOT NULL,
    job_name     TEXT NOT NULL,
    event        TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    description  TEXT
);
CREATE INDEX audit_logs_by_created_time ON audit_logs (created_time);
