-- +goose Up
-- Access reviews: a key may expire (expires_at, NULL: never), and the
-- minute it last authenticated is kept (last_used_at, NULL: never), both
-- in Unix milliseconds.
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN last_used_at;
ALTER TABLE api_keys DROP COLUMN expires_at;
