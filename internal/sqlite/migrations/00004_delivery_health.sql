-- +goose Up
-- Destination health, moved by every recorded attempt (sluice.Health):
-- failures since the last success and when they began; the circuit
-- breaker's pause (when it began, how long, until when); and the rate
-- limiter's state, in Unix microseconds: rate_next_at, the next start not
-- yet reserved (a GCRA theoretical arrival time); rate_hold_until, one
-- interval after the last start, before which nothing starts; and
-- rate_epoch, which a reset of the limiter bumps.
ALTER TABLE destinations ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN failing_since INTEGER;
ALTER TABLE destinations ADD COLUMN paused_at INTEGER;
ALTER TABLE destinations ADD COLUMN pause_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN paused_until INTEGER;
ALTER TABLE destinations ADD COLUMN rate_next_at INTEGER;
ALTER TABLE destinations ADD COLUMN rate_hold_until INTEGER;
ALTER TABLE destinations ADD COLUMN rate_epoch INTEGER NOT NULL DEFAULT 1;
-- rate_slot: the destination's rate_epoch when the rate limiter reserved
-- next_attempt_at for this delivery, which then goes when due without
-- taking another start; 0 for none. A reset makes old reservations void
-- without writing the deliveries.
ALTER TABLE deliveries ADD COLUMN rate_slot INTEGER NOT NULL DEFAULT 0;
-- recovers: the delivery re-sends an exhausted one (sluice.Delivery.Recovers).
ALTER TABLE deliveries ADD COLUMN recovers INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN recovers;
ALTER TABLE deliveries DROP COLUMN rate_slot;
ALTER TABLE destinations DROP COLUMN rate_epoch;
ALTER TABLE destinations DROP COLUMN rate_hold_until;
ALTER TABLE destinations DROP COLUMN rate_next_at;
ALTER TABLE destinations DROP COLUMN paused_until;
ALTER TABLE destinations DROP COLUMN pause_ms;
ALTER TABLE destinations DROP COLUMN paused_at;
ALTER TABLE destinations DROP COLUMN failing_since;
ALTER TABLE destinations DROP COLUMN failures;
