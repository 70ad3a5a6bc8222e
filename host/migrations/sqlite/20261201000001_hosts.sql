-- Several hosts on one database (docs/postgres.md): each running process is a row of
-- `hosts`, with a heartbeat; every execution names the host that owns it (runs it, or
-- will). A host whose heartbeat is older than the lease, or that stopped, is dead: a
-- live host adopts its unfinished executions (moves them to itself, then settles them).
CREATE TABLE hosts (
    -- `<name>@<start time, µs>`: unique per process.
    host_id        TEXT PRIMARY KEY,
    -- --host-name (default: the machine's hostname).
    name           TEXT NOT NULL,
    -- The API's listen address.
    address        TEXT NOT NULL,
    pid            BIGINT NOT NULL,
    started_time   BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    -- Shutting down: lets its runs finish, fires nothing more (not a fire's preferred host).
    draining       BOOLEAN NOT NULL DEFAULT FALSE,
    -- Stopped (cleanly) or adopted: dead whatever its heartbeat says.
    stopped        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The host that adopted its unfinished executions.
    adopted_by     TEXT
);

-- The owner of an execution; NULL for a finished execution of an earlier version, and
-- for an unstarted one its host handed back at shutdown (any live host takes it).
ALTER TABLE executions ADD COLUMN host_id TEXT;
CREATE INDEX executions_by_host_and_state ON executions (host_id, state);

-- What an earlier version left unfinished belongs to a host that is dead already (no
-- name, heartbeat 0), so that the first start settles it as before.
INSERT INTO hosts (host_id, name, address, pid, started_time, last_heartbeat, stopped)
VALUES ('@0', '', '', 0, 0, 0, TRUE);
UPDATE executions SET host_id = '@0' WHERE state IN ('scheduled', 'running', 'stopping');
