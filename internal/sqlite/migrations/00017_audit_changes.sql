-- +goose Up
-- What a configuration change changed: a JSON array of
-- {"field", "old", "new"}, secrets and URLs as keyed fingerprints. NULL
-- for entries that change nothing (a payload read) and for those written
-- before this column.
ALTER TABLE audit_log ADD COLUMN changes TEXT;
-- A resource's history, newest first (GET /v1/audit?resource_id=).
CREATE INDEX audit_log_resource ON audit_log (tenant_id, resource_id, id);

-- +goose Down
DROP INDEX audit_log_resource;
ALTER TABLE audit_log DROP COLUMN changes;
