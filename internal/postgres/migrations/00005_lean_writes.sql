-- +goose Up
-- A delivery's status change no longer rewrites entries of two indexes:
-- deliveries_event drops status, and deliveries_destination becomes a
-- partial index of exhausted deliveries, what recover reads (a
-- destination's pending deliveries are in deliveries_destination_due).
DROP INDEX deliveries_destination;
CREATE INDEX deliveries_exhausted ON deliveries (destination_id, created_at) WHERE status = 'exhausted';
DROP INDEX deliveries_event;
CREATE INDEX deliveries_event ON deliveries (event_id);

-- +goose Down
DROP INDEX deliveries_event;
CREATE INDEX deliveries_event ON deliveries (event_id, status);
DROP INDEX deliveries_exhausted;
CREATE INDEX deliveries_destination ON deliveries (destination_id, status);
