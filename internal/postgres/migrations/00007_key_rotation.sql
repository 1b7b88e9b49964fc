-- +goose Up
-- Data key rotation, as in the embedded store's migration 10: the tenant's
-- subject key wrapped for every data key but its first, the count of
-- values each key sealed, and until when a rotated key is kept for the
-- payloads sealed under it.
ALTER TABLE data_keys ADD COLUMN wrapped_subject BYTEA;
ALTER TABLE data_keys ADD COLUMN seal_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE data_keys ADD COLUMN held_until BIGINT;

-- +goose Down
ALTER TABLE data_keys DROP COLUMN held_until;
ALTER TABLE data_keys DROP COLUMN seal_count;
ALTER TABLE data_keys DROP COLUMN wrapped_subject;
