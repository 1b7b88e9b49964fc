-- +goose Up
-- A destination's deliveries, newest first (GET /v1/destinations/{id}/deliveries):
-- without it, listing a quiet destination's deliveries would read the
-- whole table.
CREATE INDEX deliveries_destination_list ON deliveries (destination_id, id);

-- +goose Down
DROP INDEX deliveries_destination_list;
