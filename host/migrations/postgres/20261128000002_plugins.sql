-- Installed plugins: the name a job_class_string uses, and the content-addressed
-- .wasm it points to (stored in the data directory as plugins/<sha256>.wasm).
CREATE TABLE plugins (
    name          TEXT COLLATE "C" PRIMARY KEY,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    world_version TEXT NOT NULL,
    classes       TEXT NOT NULL,   -- JSON array, as describe() reported them
    uploaded_time BIGINT NOT NULL
);
