-- +goose Up
-- How many gateways each event had passed through when it arrived (the
-- Sluice-Hops header): its deliveries carry one more, so a destination
-- that leads back into a gateway makes a loop that ends.
ALTER TABLE event_payloads ADD COLUMN hops INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE event_payloads DROP COLUMN hops;
