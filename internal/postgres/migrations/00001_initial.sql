-- +goose Up
-- The same tables, with the same meaning, as the embedded store's
-- (internal/sqlite/migrations). Times are Unix milliseconds in BIGINT, as
-- there, so both stores convert times the same way. Lists page by id, which
-- sorts by creation. Columns marked "sealed" hold AES-256-GCM ciphertext
-- under the tenant's data key (internal/seal), bound to their table, column
-- and row.

-- Store-wide settings, such as the fingerprint of the master key that
-- wrapped the data keys, so a wrong key is refused at start.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    operator   BOOLEAN NOT NULL DEFAULT false,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
-- One operator key, even when several processes start on an empty database
-- at once: the second bootstrap fails instead of making a second operator.
CREATE UNIQUE INDEX api_keys_operator ON api_keys ((true)) WHERE operator;

-- Each tenant's data keys, wrapped by the master key. The newest seals new
-- values; sealed values name the key that opens them.
CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX data_keys_tenant ON data_keys (tenant_id, created_at);

CREATE TABLE destinations (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    name                  TEXT NOT NULL,
    url                   BYTEA NOT NULL, -- sealed
    event_types           TEXT NOT NULL,  -- JSON array
    source_ids            TEXT NOT NULL,  -- JSON array
    fields                TEXT,           -- JSON array; NULL: the whole body
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    secret                BYTEA NOT NULL, -- sealed
    previous_secret       BYTEA,          -- sealed; signs too until previous_secret_until
    previous_secret_until BIGINT,
    enabled               BOOLEAN NOT NULL,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX destinations_tenant ON destinations (tenant_id, id);

-- Inbound sources. Secret material (the signing secret, token or Basic
-- password) is kept apart in `credentials` and sealed as one value.
CREATE TABLE sources (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    name                  TEXT NOT NULL,
    verification          TEXT NOT NULL,  -- JSON: type, header, algorithm, encoding, prefix, username
    credentials           BYTEA NOT NULL, -- sealed JSON: secret, password
    event_type_path       TEXT NOT NULL,
    event_id_path         TEXT NOT NULL,
    subject_paths         TEXT NOT NULL,  -- JSON array of {path, type}
    allowed_ips           TEXT NOT NULL,  -- JSON array of CIDRs
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    payload_retention_ms  BIGINT NOT NULL DEFAULT 0,
    enabled               BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX sources_tenant ON sources (tenant_id, id);

-- Event metadata: kept for the metadata retention, for audit.
CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    type          TEXT NOT NULL,
    direction     TEXT NOT NULL,
    source_id     TEXT NOT NULL DEFAULT '',
    dedup_key     TEXT,           -- keyed hash of the idempotency key or provider event id
    status        TEXT NOT NULL,
    payload_state TEXT NOT NULL,
    received_at   BIGINT NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);
CREATE UNIQUE INDEX events_dedup ON events (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_received ON events (received_at);

-- Payloads: personal data, kept apart and only until expires_at.
CREATE TABLE event_payloads (
    event_id     TEXT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    headers      BYTEA,          -- sealed JSON; NULL when none were kept
    body         BYTEA NOT NULL, -- sealed
    expires_at   BIGINT NOT NULL
);
CREATE INDEX event_payloads_expiry ON event_payloads (expires_at);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination_id  TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,  -- NULL unless pending
    lease_until     BIGINT,  -- set while a dispatcher holds it
    claimed_by      TEXT,    -- the store instance (process) holding the lease
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_event ON deliveries (event_id, status);
CREATE INDEX deliveries_destination ON deliveries (destination_id, status);
-- What ClaimDue scans: only pending deliveries, earliest first.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE attempts (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    delivery_id    TEXT NOT NULL,
    event_id       TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination_id TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    http_status    INTEGER NOT NULL DEFAULT 0,
    duration_ms    BIGINT NOT NULL,
    error          TEXT NOT NULL DEFAULT '',
    at             BIGINT NOT NULL
);
CREATE INDEX attempts_event ON attempts (event_id, id);

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    actor_key_id TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    resource_id  TEXT NOT NULL DEFAULT '',
    at           BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

-- Keyed hashes of the data subjects each event is about.
CREATE TABLE subject_index (
    tenant_id TEXT NOT NULL,
    hash      BYTEA NOT NULL,
    event_id  TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, hash, event_id)
);
CREATE INDEX subject_index_event ON subject_index (event_id);

-- Erasure records: the subject only as its keyed hash.
CREATE TABLE erasures (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    subject_hash    BYTEA NOT NULL,
    events_matched  INTEGER NOT NULL,
    payloads_erased INTEGER NOT NULL,
    completed_at    BIGINT NOT NULL
);
CREATE INDEX erasures_tenant ON erasures (tenant_id, id);

-- +goose Down
DROP TABLE erasures;
DROP TABLE subject_index;
DROP TABLE audit_log;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE event_payloads;
DROP TABLE events;
DROP TABLE sources;
DROP TABLE destinations;
DROP TABLE data_keys;
DROP TABLE api_keys;
DROP TABLE tenants;
DROP TABLE settings;
