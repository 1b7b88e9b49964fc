-- +goose Up
-- Store-wide settings, such as the fingerprint of the master key that
-- wrapped the data keys, so a wrong key is refused at start.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Each tenant's data keys, wrapped by the master key. The newest seals new
-- values; sealed values name the key that opens them.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    wrapped    BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX data_keys_tenant ON data_keys (tenant_id, created_at);

-- Keyed hashes of the data subjects each event is about.
CREATE TABLE subject_index (
    tenant_id TEXT NOT NULL,
    hash      BLOB NOT NULL,
    event_id  TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, hash, event_id)
) WITHOUT ROWID;
CREATE INDEX subject_index_event ON subject_index (event_id);

-- Erasure records: the subject only as its keyed hash.
CREATE TABLE erasures (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    subject_hash    BLOB NOT NULL,
    events_matched  INTEGER NOT NULL,
    payloads_erased INTEGER NOT NULL,
    completed_at    INTEGER NOT NULL
);
CREATE INDEX erasures_tenant ON erasures (tenant_id, id);

CREATE INDEX events_received ON events (received_at);

-- +goose Down
DROP INDEX events_received;
DROP TABLE erasures;
DROP TABLE subject_index;
DROP TABLE data_keys;
DROP TABLE settings;
