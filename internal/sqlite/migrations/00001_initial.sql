-- +goose Up
-- Times are Unix milliseconds. Lists page by id, which sorts by creation.
-- Columns marked "sealed" hold AES-256-GCM ciphertext under the tenant's
-- data key (internal/seal), bound to their table, column and row.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    operator   INTEGER NOT NULL DEFAULT 0,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE destinations (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    name                  TEXT NOT NULL,
    url                   BLOB NOT NULL, -- sealed
    event_types           TEXT NOT NULL, -- JSON array
    source_ids            TEXT NOT NULL, -- JSON array
    fields                TEXT,          -- JSON array; NULL: the whole body
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    secret                BLOB NOT NULL, -- sealed
    previous_secret       BLOB,          -- sealed; signs too until previous_secret_until
    previous_secret_until INTEGER,
    enabled               INTEGER NOT NULL,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX destinations_tenant ON destinations (tenant_id, id);

-- Event metadata: kept for the metadata retention, for audit.
CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    type          TEXT NOT NULL,
    direction     TEXT NOT NULL,
    source_id     TEXT NOT NULL DEFAULT '',
    dedup_key     TEXT,          -- keyed hash of the idempotency key or provider event id
    status        TEXT NOT NULL,
    payload_state TEXT NOT NULL,
    received_at   INTEGER NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);
CREATE UNIQUE INDEX events_dedup ON events (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;

-- Payloads: personal data, kept apart and only until expires_at.
CREATE TABLE event_payloads (
    event_id     TEXT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    headers      BLOB,          -- sealed JSON; NULL when none were kept
    body         BLOB NOT NULL, -- sealed
    expires_at   INTEGER NOT NULL
);
CREATE INDEX event_payloads_expiry ON event_payloads (expires_at);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination_id  TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,          -- NULL unless pending
    lease_until     INTEGER,          -- set while a dispatcher holds it
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_event ON deliveries (event_id, status);
CREATE INDEX deliveries_destination ON deliveries (destination_id, status);
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
    duration_ms    INTEGER NOT NULL,
    error          TEXT NOT NULL DEFAULT '',
    at             INTEGER NOT NULL
);
CREATE INDEX attempts_event ON attempts (event_id, id);

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    actor_key_id TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    resource_id  TEXT NOT NULL DEFAULT '',
    at           INTEGER NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE event_payloads;
DROP TABLE events;
DROP TABLE destinations;
DROP TABLE api_keys;
DROP TABLE tenants;
