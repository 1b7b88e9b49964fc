package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
)

// RecordAttempts records the attempts in one transaction, each with what
// it does to its destination's health and the notices it calls for. One
// whose delivery is no longer claimed at its attempt fails with ECONFLICT,
// having changed nothing, and the others go on; any other failure fails
// the transaction, and so every result.
//
// The results are recorded in the order of their destinations and
// deliveries, so that concurrent transactions take those rows in the same
// order, and the events whose deliveries ended are refreshed last, all at
// once: another transaction recording the same events' other deliveries
// then waits for this commit only, not for the whole batch.
func (s *Store) RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []sluice.AttemptRecorded {
	out := make([]sluice.AttemptRecorded, len(rs))
	// The notices are sealed before the transaction, so that sealing holds
	// no writer; one whose notices cannot be sealed fails alone.
	notices := make([]attemptNotices, len(rs))
	var order []int
	for i, r := range rs {
		notices[i], out[i].Err = s.sealNotices(ctx, r)
		if tenantGone(out[i].Err) {
			// Its tenant is being deleted: there is no one to notify, and
			// the attempt is recorded while its delivery is still there.
			notices[i], out[i].Err = attemptNotices{}, nil
		}
		if out[i].Err == nil {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int {
		x, y := &rs[i].Attempt, &rs[j].Attempt
		return cmp.Or(strings.Compare(x.DestinationID, y.DestinationID), strings.Compare(x.DeliveryID, y.DeliveryID))
	})
	rows := make([]*AttemptRow, len(order))
	for k, i := range order {
		r := rs[i]
		rows[k] = &AttemptRow{Attempt: r.Attempt, Status: r.Status, LockHealth: needsLock(r)}
		if r.Status == sluice.DeliveryPending {
			rows[k].NextAttemptAt = r.NextAttemptAt
		}
	}
	recorded := make([]sluice.AttemptRecorded, len(order))
	var settled []string // events settled whose payloads were kept only until then
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		clear(recorded)
		written, err := tx.RecordAttempts(ctx, rows, s.now())
		if err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
		var ended []string // events with a delivery that ended
		for k, i := range order {
			r := rs[i]
			if !written[k].Recorded {
				recorded[k].Err = sluice.Errorf(sluice.ECONFLICT, "delivery %s is no longer claimed at attempt %d",
					r.Attempt.DeliveryID, r.Attempt.Number)
				continue
			}
			if r.Status != sluice.DeliveryPending {
				ended = append(ended, r.Attempt.EventID)
			}
			if recorded[k].Disabled, err = s.recordHealth(ctx, tx, r, written[k].Health, rows[k].LockHealth); err != nil {
				return err
			}
			for _, n := range notices[i].of(recorded[k].Disabled != "") {
				unclaimed, err := s.insertEvent(ctx, tx, n, 0)
				if err != nil {
					return fmt.Errorf("publish %s: %w", n.in.Event.Type, err)
				}
				recorded[k].Unclaimed = recorded[k].Unclaimed || unclaimed
			}
		}
		slices.Sort(ended)
		if err := tx.RefreshEventStatus(ctx, slices.Compact(ended)); err != nil {
			return err
		}
		settled, err = s.discardDelivered(ctx, tx, rs)
		return err
	})
	if err == nil {
		s.volatile.forget(settled...)
	}
	for k, i := range order {
		out[i] = recorded[k]
		if err != nil {
			out[i] = sluice.AttemptRecorded{Err: err}
		}
	}
	return out
}

// attemptNotices are the notices recording an attempt may store, sealed:
// always, and disabled (nil when it cannot happen) if the attempt disables
// its destination.
type attemptNotices struct {
	always   []*sealedEvent
	disabled *sealedEvent
}

// of returns the notices to store, given whether the attempt disabled its
// destination.
func (n attemptNotices) of(disabled bool) []*sealedEvent {
	if !disabled || n.disabled == nil {
		return n.always
	}
	return append(slices.Clip(n.always), n.disabled)
}

// sealNotices makes and seals the notices recording r may store: the
// delivery's, and sluice.destination.disabled if r may disable its
// destination, stored only if it does.
func (s *Store) sealNotices(ctx context.Context, r *sluice.AttemptResult) (attemptNotices, error) {
	var n attemptNotices
	ne, err := s.deliveryNotice(r)
	if err != nil {
		return n, err
	}
	if ne != nil {
		se, err := s.sealEvent(ctx, ne, false)
		if err != nil {
			return n, err
		}
		n.always = []*sealedEvent{se}
	}
	if !s.health.mayDisable(r) {
		return n, nil
	}
	reason := r.DisableDestination
	if reason == "" {
		reason = sluice.DisabledFailing
	}
	if ne, err = s.disabledNotice(r, reason); err != nil {
		return n, err
	}
	n.disabled, err = s.sealEvent(ctx, ne, false)
	return n, err
}

// recordHealth moves the attempt's destination's health on from h, read
// with the attempt (to change it when locked), audits the circuit opening
// and closing and the destination being disabled, and returns the reason
// when it disabled the destination. A success to a healthy destination,
// the common case, changes nothing; a success to a failing or paused one
// reads its health again, to change it.
func (s *Store) recordHealth(ctx context.Context, tx Tx, r *sluice.AttemptResult, h *DestinationHealth, locked bool) (string, error) {
	a := &r.Attempt
	if h != nil && !locked && (h.Failures > 0 || !h.PausedUntil.IsZero()) {
		var err error
		if h, err = tx.LockHealth(ctx, a.TenantID, a.DestinationID); err != nil {
			return "", fmt.Errorf("read destination health: %w", err)
		}
	}
	if h == nil {
		return "", nil // deleted while the attempt was under way
	}
	next, change := s.health.nextHealth(*h, r)
	if change.changed {
		if err := tx.UpdateHealth(ctx, a.DestinationID, &next); err != nil {
			return "", fmt.Errorf("update destination health: %w", err)
		}
	}
	if change.closed {
		// Starts reserved before the pause have passed: the deliveries
		// waiting take fresh ones, evenly spaced from now.
		if err := tx.ResetRateLimit(ctx, a.DestinationID); err != nil {
			return "", err
		}
	}
	if action := change.auditAction(); action != "" {
		if err := s.audit(ctx, tx, a.TenantID, action, a.DestinationID); err != nil {
			return "", err
		}
	}
	if change.disable == "" {
		return "", nil
	}
	if err := tx.DisableDestination(ctx, a.DestinationID, change.disable, s.now()); err != nil {
		return "", fmt.Errorf("disable destination: %w", err)
	}
	changes := []sluice.Change{{Field: "enabled", Old: true, New: false},
		{Field: "disabled_reason", Old: nil, New: change.disable}}
	if err := s.auditChanges(ctx, tx, a.TenantID, "destination.disable", a.DestinationID, changes); err != nil {
		return "", err
	}
	return change.disable, nil
}
