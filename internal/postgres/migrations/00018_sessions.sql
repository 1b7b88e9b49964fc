-- +goose Up
-- Dashboard sessions, kept in the store so that every process sharing it
-- knows them and they outlive a restart. A session is stored under the
-- SHA-256 of the random id its cookie carries, never the id; deleting its
-- key ends it.
CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_key ON sessions (key_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- The one-line outcome of a session's last action, until its next page
-- shows it: a page takes it by deleting the row, so it shows once.
CREATE TABLE session_flashes (
    session_hash BYTEA PRIMARY KEY REFERENCES sessions (id_hash) ON DELETE CASCADE,
    message      TEXT NOT NULL
);

-- +goose Down
DROP TABLE session_flashes;
DROP TABLE sessions;
