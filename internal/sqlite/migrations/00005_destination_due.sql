-- +goose Up
-- A destination's due deliveries, earliest first: how ClaimDue finds the
-- work of other destinations when those at the head of deliveries_due have
-- no room, without scanning past their backlog.
CREATE INDEX deliveries_destination_due ON deliveries (destination_id, next_attempt_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX deliveries_destination_due;
