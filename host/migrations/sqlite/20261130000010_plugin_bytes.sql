-- The installed plugins' .wasm bytes, by their sha256: every host sharing the database
-- installs a plugin from here (its data directory keeps a copy and the compiled code).
-- Written in the transaction that writes the plugin's row, before the row; a version
-- no plugin row names any more is deleted in the transaction that stopped naming it.
-- The bytes of plugins installed before this table existed are copied in from the
-- data directory when the host that has them starts.
CREATE TABLE plugin_bytes (
    sha256 TEXT PRIMARY KEY,
    wasm   BLOB NOT NULL
);
