-- +goose Up
-- A destination is delivered to by the dispatcher ('http') or streamed to
-- a connected `sluice listen` ('listen'), which no dispatcher ever claims
-- for. A listen destination lives while its listener keeps asking for
-- deliveries: listen_until (Unix ms) is when it goes otherwise; NULL for
-- the others.
ALTER TABLE destinations ADD COLUMN kind TEXT NOT NULL DEFAULT 'http';
ALTER TABLE destinations ADD COLUMN listen_until BIGINT;
CREATE INDEX destinations_listen_until ON destinations (listen_until) WHERE kind = 'listen';

-- +goose Down
DROP INDEX destinations_listen_until;
ALTER TABLE destinations DROP COLUMN listen_until;
ALTER TABLE destinations DROP COLUMN kind;
