-- Jobs that do real work (outbound HTTP, secrets, state).

-- The HTTP requests a run made or tried: a JSON array of
-- {method, url, status, bytes, ms, denied, error}; NULL for a run that made none.
ALTER TABLE executions ADD COLUMN http_requests TEXT;

-- Secrets, sealed with the server's key: hex of a 24-byte nonce followed by the
-- XChaCha20-Poly1305 ciphertext of the value (the name is the associated data, so a
-- sealed value cannot be moved to another name). No plain value is ever stored.
CREATE TABLE secrets (
    name         TEXT COLLATE "C" PRIMARY KEY,
    sealed       TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);

-- Each job's key-value state, as a JSON object of strings; written with the final
-- state of the run that changed it, deleted with the job.
CREATE TABLE job_state (
    job_id       TEXT COLLATE "C" PRIMARY KEY,
    entries      TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);

-- The capabilities a plugin's imports can use: JSON array of "http", "environment",
-- "state". NULL for plugins installed before; filled when the host next loads them.
ALTER TABLE plugins ADD COLUMN capabilities TEXT;
