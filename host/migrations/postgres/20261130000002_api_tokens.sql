-- API tokens (docs/security.md). Only the SHA-256 of a token is kept: the token itself
-- is shown once, when it is created, and cannot be read back from the database.
CREATE TABLE api_tokens (
    name           TEXT COLLATE "C" PRIMARY KEY,
    token_sha256   TEXT NOT NULL UNIQUE,
    -- viewer, operator or admin
    role           TEXT NOT NULL,
    created_time   BIGINT NOT NULL,
    -- Updated at most once a minute per token; NULL until first used.
    last_used_time BIGINT
);
