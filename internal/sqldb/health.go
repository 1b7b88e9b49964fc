package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

// HealthQuery reads a destination's health: $1 is the destination, $2 its
// tenant. HealthScan reads its row.
const HealthQuery = `SELECT enabled, failures, failing_since, paused_at, pause_ms, paused_until
	FROM destinations WHERE id = $1 AND tenant_id = $2`

// HealthScan is a row of HealthQuery as scanned.
type HealthScan struct {
	h                                   engine.DestinationHealth
	failingSince, pausedAt, pausedUntil *int64
	pauseMS                             int64
}

// Targets returns the scan targets of HealthQuery's columns.
func (s *HealthScan) Targets() []any {
	return []any{&s.h.Enabled, &s.h.Failures, &s.failingSince, &s.pausedAt, &s.pauseMS, &s.pausedUntil}
}

// Health returns the health scanned, or nil when err, the scan's error,
// says the destination is gone.
func (s *HealthScan) Health(err error) (*engine.DestinationHealth, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h := s.h
	h.FailingSince, h.PausedAt, h.PausedUntil = FromNullMS(s.failingSince), FromNullMS(s.pausedAt), FromNullMS(s.pausedUntil)
	h.Pause = time.Duration(s.pauseMS) * time.Millisecond
	return &h, nil
}

// LockHealth reads a destination's health to change it; nil when the
// destination is gone.
func (o *Ops) LockHealth(ctx context.Context, tenantID, destinationID string) (*engine.DestinationHealth, error) {
	var s HealthScan
	err := o.Conn.QueryRow(ctx, HealthQuery+o.lock("FOR NO KEY UPDATE"), destinationID, tenantID).Scan(s.Targets()...)
	return s.Health(err)
}

// UpdateHealth stores a destination's health.
func (o *Ops) UpdateHealth(ctx context.Context, destinationID string, h *engine.DestinationHealth) error {
	o.changed("", destinationID)
	_, err := o.Conn.Exec(ctx, `UPDATE destinations SET failures = $1, failing_since = $2, paused_at = $3,
		pause_ms = $4, paused_until = $5 WHERE id = $6`, h.Failures, NullMS(h.FailingSince), NullMS(h.PausedAt),
		h.Pause.Milliseconds(), NullMS(h.PausedUntil), destinationID)
	return err
}

// ResetDestinationHealth forgets a destination's failures and pause.
func (o *Ops) ResetDestinationHealth(ctx context.Context, destinationID string) error {
	return o.UpdateHealth(ctx, destinationID, &engine.DestinationHealth{})
}

// ResetRateLimit forgets a destination's rate limiter: the next start is
// free, and the starts reserved so far are void. It writes only the
// destination's row, which its callers hold already, so it cannot
// deadlock with a claim holding the destination's deliveries.
func (o *Ops) ResetRateLimit(ctx context.Context, destinationID string) error {
	o.changed("", destinationID)
	_, err := o.Conn.Exec(ctx, `UPDATE destinations SET rate_next_at = NULL, rate_epoch = rate_epoch + 1
		WHERE id = $1`, destinationID)
	return err
}

// DisableDestination switches a destination off with the reason.
func (o *Ops) DisableDestination(ctx context.Context, destinationID, reason string, at time.Time) error {
	o.changed("", destinationID)
	_, err := o.Conn.Exec(ctx, `UPDATE destinations SET enabled = $1, disabled_reason = $2, updated_at = $3 WHERE id = $4`,
		false, reason, MS(at), destinationID)
	return err
}

// UpdateGates stores the gates a claim plan changed (Gate.Changed): their
// rate limiters and pauses.
func (o *Ops) UpdateGates(ctx context.Context, gates map[string]*engine.Gate) error {
	for id, g := range gates {
		if !g.Changed {
			continue
		}
		o.changed("", id)
		if _, err := o.Conn.Exec(ctx, `UPDATE destinations SET rate_next_at = $1, rate_hold_until = $2, paused_until = $3
			WHERE id = $4`, NullMicros(g.RateNextAt), NullMicros(g.RateHoldUntil), NullMS(g.PausedUntil), id); err != nil {
			return fmt.Errorf("update destination gate: %w", err)
		}
	}
	return nil
}
