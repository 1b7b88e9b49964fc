-- +goose Up
-- Retention by purpose, and storage you can minimise. A tenant may override
-- the server's payload storage and each retention window (0 and '' keep
-- the server's); a source may override the storage too.
ALTER TABLE tenants ADD COLUMN payload_storage TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN undelivered_retention_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN payload_retention_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN metadata_retention_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN audit_retention_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN payload_storage TEXT NOT NULL DEFAULT '';

-- A payload's expiry depends on its event: delivered_until once delivered
-- (or routed nowhere), undelivered_until while not; expires_at, indexed,
-- is the earlier, when the purge looks at it again. NULL (payloads stored
-- before) means expires_at alone. until_delivered payloads are deleted as
-- their event is delivered.
ALTER TABLE event_payloads ADD COLUMN delivered_until INTEGER;
ALTER TABLE event_payloads ADD COLUMN undelivered_until INTEGER;
ALTER TABLE event_payloads ADD COLUMN until_delivered INTEGER NOT NULL DEFAULT 0;

-- Metadata and audit entries are purged per tenant, each at its own
-- window: by tenant, then age.
DROP INDEX events_received;
CREATE INDEX events_tenant_received ON events (tenant_id, received_at);
CREATE INDEX audit_log_at ON audit_log (tenant_id, at);

-- +goose Down
DROP INDEX audit_log_at;
DROP INDEX events_tenant_received;
CREATE INDEX events_received ON events (received_at);
ALTER TABLE event_payloads DROP COLUMN until_delivered;
ALTER TABLE event_payloads DROP COLUMN undelivered_until;
ALTER TABLE event_payloads DROP COLUMN delivered_until;
ALTER TABLE sources DROP COLUMN payload_storage;
ALTER TABLE tenants DROP COLUMN audit_retention_ms;
ALTER TABLE tenants DROP COLUMN metadata_retention_ms;
ALTER TABLE tenants DROP COLUMN payload_retention_ms;
ALTER TABLE tenants DROP COLUMN undelivered_retention_ms;
ALTER TABLE tenants DROP COLUMN payload_storage;
