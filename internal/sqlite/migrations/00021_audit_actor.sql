-- +goose Up
-- What one key did, newest first (GET /v1/audit?actor_key_id=).
CREATE INDEX audit_log_actor ON audit_log (tenant_id, actor_key_id, id);

-- +goose Down
DROP INDEX audit_log_actor;
