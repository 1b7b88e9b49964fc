-- +goose Up
-- Inbound sources. Secret material (the signing secret, token or Basic
-- password) is kept apart in `credentials` and sealed as one value.
CREATE TABLE sources (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    name                  TEXT NOT NULL,
    verification          TEXT NOT NULL, -- JSON: type, header, algorithm, encoding, prefix, username
    credentials           BLOB NOT NULL, -- sealed JSON: secret, password
    event_type_path       TEXT NOT NULL,
    event_id_path         TEXT NOT NULL,
    subject_paths         TEXT NOT NULL, -- JSON array of {path, type}
    allowed_ips           TEXT NOT NULL, -- JSON array of CIDRs
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    payload_retention_ms  INTEGER NOT NULL DEFAULT 0,
    enabled               INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX sources_tenant ON sources (tenant_id, id);

-- +goose Down
DROP TABLE sources;
