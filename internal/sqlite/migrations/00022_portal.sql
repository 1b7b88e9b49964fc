-- +goose Up
-- A tenant's customers: a destination or event may belong to one. A
-- customer's destination receives only that customer's events.
ALTER TABLE destinations ADD COLUMN customer TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN customer TEXT NOT NULL DEFAULT '';
CREATE INDEX destinations_customer ON destinations (tenant_id, customer, id) WHERE customer <> '';

-- Portal sessions: a customer's browser signed in, from a link that works
-- once, to manage that customer's destinations. Only hashes are kept: of
-- the link's token until it is used (then NULL), and of the id the
-- session's cookie carries from then on.
CREATE TABLE portal_sessions (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    customer        TEXT NOT NULL,
    payloads        BOOLEAN NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    link_hash       BLOB UNIQUE,
    link_expires_at INTEGER NOT NULL,
    ttl_ms          INTEGER NOT NULL,
    id_hash         BLOB UNIQUE,
    csrf            TEXT NOT NULL DEFAULT '',
    signed_in_at    INTEGER,
    expires_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX portal_sessions_tenant ON portal_sessions (tenant_id, id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (link_expires_at, expires_at);

-- A portal session's flash message, as session_flashes is a dashboard
-- session's.
CREATE TABLE portal_flashes (
    session_hash BLOB PRIMARY KEY REFERENCES portal_sessions (id_hash) ON DELETE CASCADE,
    message      TEXT NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE portal_flashes;
DROP TABLE portal_sessions;
DROP INDEX destinations_customer;
ALTER TABLE events DROP COLUMN customer;
ALTER TABLE destinations DROP COLUMN customer;
