-- +goose Up
-- A delivery's status change no longer rewrites an entry of
-- deliveries_destination: it becomes a partial index of exhausted
-- deliveries, what recover reads (a destination's pending deliveries are in
-- deliveries_destination_due). deliveries_event keeps status, unlike in
-- the embedded store: without it the planner answered an event's "any
-- pending delivery?" by scanning all of deliveries_due, dead entries
-- included, and recording slowed as the table grew.
DROP INDEX deliveries_destination;
CREATE INDEX deliveries_exhausted ON deliveries (destination_id, created_at) WHERE status = 'exhausted';

-- +goose Down
DROP INDEX deliveries_exhausted;
CREATE INDEX deliveries_destination ON deliveries (destination_id, status);
