-- +goose NO TRANSACTION
-- +goose Up
-- Fewer B-trees written per event and per attempt; the group-commit writer
-- spends its time on them.
--
-- events, deliveries and attempts become WITHOUT ROWID tables: a table
-- keyed by TEXT id was a rowid B-tree and an index on id, two writes for
-- every insert and two lookups for every update by id. Ids are ULIDs, so
-- rows still append at the right edge. Attempts, only ever read by event,
-- are clustered by (event_id, id) and need no index of their own.
--
-- deliveries_event drops status and deliveries_destination becomes a
-- partial index of exhausted deliveries (what recover reads; a destination's
-- pending deliveries are in deliveries_destination_due): a delivery's
-- status change no longer rewrites two index entries.
--
-- The tables are rebuilt with foreign keys off, which SQLite allows only
-- outside a transaction, hence the explicit one.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE events_new (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    type          TEXT NOT NULL,
    direction     TEXT NOT NULL,
    source_id     TEXT NOT NULL DEFAULT '',
    dedup_key     TEXT,          -- keyed hash of the idempotency key or provider event id
    status        TEXT NOT NULL,
    payload_state TEXT NOT NULL,
    received_at   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO events_new (id, tenant_id, type, direction, source_id, dedup_key, status, payload_state, received_at)
    SELECT id, tenant_id, type, direction, source_id, dedup_key, status, payload_state, received_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_tenant ON events (tenant_id, id);
CREATE UNIQUE INDEX events_dedup ON events (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_received ON events (received_at);

CREATE TABLE deliveries_new (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination_id  TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,          -- NULL unless pending
    lease_until     INTEGER,          -- set while a dispatcher holds it
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    rate_slot       INTEGER NOT NULL DEFAULT 0,
    recovers        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO deliveries_new (id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, lease_until,
        created_at, updated_at, rate_slot, recovers)
    SELECT id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, lease_until,
        created_at, updated_at, rate_slot, recovers FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_exhausted ON deliveries (destination_id, created_at) WHERE status = 'exhausted';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_destination_due ON deliveries (destination_id, next_attempt_at) WHERE status = 'pending';

CREATE TABLE attempts_new (
    id             TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    delivery_id    TEXT NOT NULL,
    event_id       TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination_id TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    http_status    INTEGER NOT NULL DEFAULT 0,
    duration_ms    INTEGER NOT NULL,
    error          TEXT NOT NULL DEFAULT '',
    at             INTEGER NOT NULL,
    PRIMARY KEY (event_id, id)
) WITHOUT ROWID;
INSERT INTO attempts_new (id, tenant_id, delivery_id, event_id, destination_id, attempt, outcome, http_status,
        duration_ms, error, at)
    SELECT id, tenant_id, delivery_id, event_id, destination_id, attempt, outcome, http_status,
        duration_ms, error, at FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;

COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE attempts_old (
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
INSERT INTO attempts_old (id, tenant_id, delivery_id, event_id, destination_id, attempt, outcome, http_status,
        duration_ms, error, at)
    SELECT id, tenant_id, delivery_id, event_id, destination_id, attempt, outcome, http_status,
        duration_ms, error, at FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_old RENAME TO attempts;
CREATE INDEX attempts_event ON attempts (event_id, id);

CREATE TABLE deliveries_old (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination_id  TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    rate_slot       INTEGER NOT NULL DEFAULT 0,
    recovers        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO deliveries_old (id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, lease_until,
        created_at, updated_at, rate_slot, recovers)
    SELECT id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, lease_until,
        created_at, updated_at, rate_slot, recovers FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_old RENAME TO deliveries;
CREATE INDEX deliveries_event ON deliveries (event_id, status);
CREATE INDEX deliveries_destination ON deliveries (destination_id, status);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_destination_due ON deliveries (destination_id, next_attempt_at) WHERE status = 'pending';

CREATE TABLE events_old (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    type          TEXT NOT NULL,
    direction     TEXT NOT NULL,
    source_id     TEXT NOT NULL DEFAULT '',
    dedup_key     TEXT,
    status        TEXT NOT NULL,
    payload_state TEXT NOT NULL,
    received_at   INTEGER NOT NULL
);
INSERT INTO events_old (id, tenant_id, type, direction, source_id, dedup_key, status, payload_state, received_at)
    SELECT id, tenant_id, type, direction, source_id, dedup_key, status, payload_state, received_at FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_tenant ON events (tenant_id, id);
CREATE UNIQUE INDEX events_dedup ON events (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX events_received ON events (received_at);

COMMIT;
PRAGMA foreign_keys = ON;
