-- +goose Up
-- Exposing less by design. A destination's options (JSON): delivery mode
-- and fetch lifetime, the paths it gets pseudonymised, its personal data
-- grant, and its records of processing (purpose, lawful basis, owner,
-- region). Its credentials (sealed JSON): static headers, HTTP
-- authentication and a client certificate, NULL when it has none.
ALTER TABLE destinations ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE destinations ADD COLUMN credentials BYTEA;
-- A source's records of processing (JSON).
ALTER TABLE sources ADD COLUMN processing TEXT NOT NULL DEFAULT '{}';
-- What a tenant restricts as personal data (JSON): field paths and subject
-- types only destinations with a grant receive.
ALTER TABLE tenants ADD COLUMN restricted TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE tenants DROP COLUMN restricted;
ALTER TABLE sources DROP COLUMN processing;
ALTER TABLE destinations DROP COLUMN credentials;
ALTER TABLE destinations DROP COLUMN options;
