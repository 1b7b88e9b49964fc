package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

// ClaimDue leases due pending deliveries of enabled destinations, within
// each destination's room, passing them through their destinations' rate
// limits and circuit breakers (storekit.ClaimPasses): deliveries over a rate
// limit are rescheduled to their own later start, and a paused destination
// gets one probe.
//
// A claim moves next_attempt_at to the end of the lease, so a delivery whose
// dispatcher died simply becomes due again when the lease ends; lease_until
// marks it as claimed until its attempt is recorded.
func (s *Store) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	var sealed []*sealedClaim
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		leaseUntil := r.Now.Add(r.Lease)
		ids, err := storekit.ClaimPasses(r,
			func(skip []string, want int) ([]storekit.ClaimCandidate, map[string]*storekit.Gate, error) {
				return claimCandidates(ctx, tx, r.Now, skip, want)
			},
			func(plan storekit.ClaimPlan, gates map[string]*storekit.Gate) error {
				return s.applyPlan(ctx, tx, plan, gates, r.Now, leaseUntil)
			})
		if err != nil || len(ids) == 0 {
			sealed = nil
			return err
		}
		sealed, err = s.readClaims(ctx, tx, ids, r.Now)
		return err
	})
	if err != nil || len(sealed) == 0 {
		return nil, err
	}
	return s.openClaims(ctx, sealed)
}

// claimCandidates returns up to limit due deliveries, earliest first, of
// destinations not in skip, and the gates of their destinations that have
// one.
//
// With nothing to skip it reads the head of the due index. Otherwise the
// head may be a long backlog of skipped destinations, which a scan would
// have to step over, so it first finds up to limit other destinations with
// due work and then reads each one's earliest, through its own index: the
// cost follows the number of destinations, never the backlog.
func claimCandidates(ctx context.Context, tx querier, now time.Time, skip []string, limit int) ([]storekit.ClaimCandidate, map[string]*storekit.Gate, error) {
	gates := make(map[string]*storekit.Gate)
	if len(skip) == 0 {
		c, err := dueCandidates(ctx, tx, now, "", limit, gates)
		return c, gates, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT t.id FROM destinations t
		WHERE t.enabled = 1 AND `+gateOpen+` AND t.id NOT IN (`+placeholders(len(skip))+`)
			AND EXISTS (SELECT 1 FROM deliveries d INDEXED BY deliveries_destination_due
				WHERE d.destination_id = t.id AND d.status = 'pending' AND d.next_attempt_at <= ?1)
		LIMIT ?`, append(append([]any{ms(now), now.UnixMicro()}, anys(skip)...), limit)...)
	if err != nil {
		return nil, nil, fmt.Errorf("find destinations with due work: %w", err)
	}
	dests, err := collectStrings(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("find destinations with due work: %w", err)
	}
	lists := make([][]storekit.ClaimCandidate, 0, len(dests))
	for _, id := range dests {
		c, err := dueCandidates(ctx, tx, now, id, limit, gates)
		if err != nil {
			return nil, nil, err
		}
		lists = append(lists, c)
	}
	return storekit.EarliestDue(lists, limit), gates, nil
}

// gateOpen is the condition on destinations t whose gates let a delivery
// start at ?1 (Unix milliseconds) and ?2 (Unix microseconds).
const gateOpen = `(t.paused_until IS NULL OR t.paused_until <= ?1)
	AND (t.rate_hold_until IS NULL OR t.rate_hold_until <= ?2)`

// dueCandidates reads up to limit due deliveries, earliest first, of the
// destination, or of every destination when it is empty, and adds their
// destinations' gates to gates.
func dueCandidates(ctx context.Context, tx querier, now time.Time, destinationID string, limit int,
	gates map[string]*storekit.Gate) ([]storekit.ClaimCandidate, error) {
	index, where := "deliveries_due", ""
	args := []any{ms(now), now.UnixMicro()}
	if destinationID != "" {
		index, where = "deliveries_destination_due", " AND d.destination_id = ?"
		args = append(args, destinationID)
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.destination_id, d.next_attempt_at, d.rate_slot,
			t.rate_limit_per_second, t.rate_next_at, t.rate_hold_until, t.rate_epoch, t.paused_until
		FROM deliveries d INDEXED BY `+index+` JOIN destinations t ON t.id = d.destination_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND t.enabled = 1 AND `+gateOpen+where+`
		ORDER BY d.next_attempt_at LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var candidates []storekit.ClaimCandidate
	for rows.Next() {
		var c storekit.ClaimCandidate
		var g storekit.Gate
		var rateNext, rateHold, paused sql.NullInt64
		if err := rows.Scan(&c.ID, &c.DestinationID, &c.Due, &c.RateSlot, &g.RatePerSecond, &rateNext, &rateHold,
			&g.RateEpoch, &paused); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		g.RateNextAt, g.RateHoldUntil, g.PausedUntil = rateNext.Int64, rateHold.Int64, fromNullMS(paused)
		if _, seen := gates[c.DestinationID]; !seen && g.Limited() {
			gates[c.DestinationID] = &g
		}
		candidates = append(candidates, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return candidates, nil
}

// applyPlan leases the plan's claims, reschedules the deliveries the rate
// limiter moved, and stores the gates it changed.
func (s *Store) applyPlan(ctx context.Context, tx querier, plan storekit.ClaimPlan, gates map[string]*storekit.Gate, now, leaseUntil time.Time) error {
	if len(plan.Claim) > 0 {
		args := append([]any{ms(leaseUntil), ms(now)}, anys(plan.Claim)...)
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?1, lease_until = ?1, rate_slot = 0,
			updated_at = ?2 WHERE id IN (`+placeholders(len(plan.Claim))+`)`, args...); err != nil {
			return fmt.Errorf("lease deliveries: %w", err)
		}
	}
	for _, res := range plan.Reschedule {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, rate_slot = ?, updated_at = ? WHERE id = ?`,
			storekit.CeilMS(res.At), res.Epoch, ms(now), res.ID); err != nil {
			return fmt.Errorf("reschedule delivery: %w", err)
		}
	}
	for id, g := range gates {
		if !g.Changed {
			continue
		}
		delete(s.healthy, id)
		if _, err := tx.ExecContext(ctx, `UPDATE destinations SET rate_next_at = ?, rate_hold_until = ?, paused_until = ?
			WHERE id = ?`, nullMicros(g.RateNextAt), nullMicros(g.RateHoldUntil), nullMS(g.PausedUntil), id); err != nil {
			return fmt.Errorf("update destination gate: %w", err)
		}
	}
	return nil
}

// sealedClaim is a claimed delivery as read inside the claim's write, its
// payload and destination still sealed: they are opened after the commit,
// off the writer goroutine, which every write waits for.
type sealedClaim struct {
	claim sluice.Claim
	body  []byte
	dest  storekit.DestinationRow
}

// readClaims reads what the dispatcher needs for claimed deliveries, in
// due order. One whose payload is gone or past its expiry cannot be sent:
// it becomes expired instead of a claim.
func (s *Store) readClaims(ctx context.Context, tx querier, ids []string, now time.Time) ([]*sealedClaim, error) {
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.tenant_id, d.event_id, d.destination_id, d.attempts,
		d.next_attempt_at, d.created_at, d.updated_at, d.recovers, e.type, p.body, p.content_type, `+prefixed("t.", destinationColumns)+`
		FROM deliveries d
		JOIN events e ON e.id = d.event_id
		JOIN destinations t ON t.id = d.destination_id
		LEFT JOIN event_payloads p ON p.event_id = d.event_id AND e.payload_state = 'retained' AND p.expires_at > ?
		WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.next_attempt_at`, append([]any{ms(now)}, anys(ids)...)...)
	if err != nil {
		return nil, fmt.Errorf("load claims: %w", err)
	}
	defer rows.Close()
	claims := make([]*sealedClaim, 0, len(ids))
	var gone []string
	for rows.Next() {
		sc := &sealedClaim{}
		c := &sc.claim
		var next sql.NullInt64
		var created, updated int64
		var contentType sql.NullString
		scan := append([]any{&c.Delivery.ID, &c.Delivery.TenantID, &c.Delivery.EventID, &c.Delivery.DestinationID,
			&c.Delivery.Attempts, &next, &created, &updated, &c.Delivery.Recovers, &c.EventType, &sc.body, &contentType},
			sc.dest.Targets()...)
		if err := rows.Scan(scan...); err != nil {
			return nil, fmt.Errorf("scan claim: %w", err)
		}
		if sc.body == nil {
			gone = append(gone, c.Delivery.ID)
			continue
		}
		c.Delivery.Status = sluice.DeliveryPending
		c.Delivery.NextAttemptAt, c.Delivery.CreatedAt, c.Delivery.UpdatedAt = fromNullMS(next), fromMS(created), fromMS(updated)
		c.ContentType = contentType.String
		claims = append(claims, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load claims: %w", err)
	}
	rows.Close()
	if err := s.expireDeliveries(ctx, tx, gone); err != nil {
		return nil, err
	}
	return claims, nil
}

// expireDeliveries ends claimed deliveries whose payload cannot be sent.
func (s *Store) expireDeliveries(ctx context.Context, tx querier, ids []string) error {
	for _, id := range ids {
		var eventID string
		if err := tx.QueryRowContext(ctx, `UPDATE deliveries SET status = 'expired', next_attempt_at = NULL,
			lease_until = NULL, updated_at = ? WHERE id = ? AND status = 'pending' RETURNING event_id`,
			ms(s.now()), id).Scan(&eventID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			return fmt.Errorf("expire delivery: %w", err)
		}
		if err := refreshEventStatus(ctx, tx, eventID); err != nil {
			return err
		}
	}
	return nil
}

// openClaims opens the sealed claims. A payload that fails its integrity
// check cannot be sent: it ends like a payload that is gone, in a write of
// its own.
func (s *Store) openClaims(ctx context.Context, sealed []*sealedClaim) ([]*sluice.Claim, error) {
	claims := make([]*sluice.Claim, 0, len(sealed))
	var broken []string
	for _, sc := range sealed {
		c := &sc.claim
		d, err := sc.dest.Decode(ctx, s.keys)
		if err != nil {
			return nil, err
		}
		c.Destination = *d
		if c.Body, _, err = s.keys.OpenPayload(ctx, c.Delivery.TenantID, c.Delivery.EventID, sc.body, nil); err != nil {
			s.logger.Error("payload failed its integrity check", "event_id", c.Delivery.EventID, "error", err)
			broken = append(broken, c.Delivery.ID)
			continue
		}
		claims = append(claims, c)
	}
	if len(broken) > 0 {
		err := s.write(ctx, func(ctx context.Context, tx querier) error { return s.expireDeliveries(ctx, tx, broken) })
		if err != nil {
			return nil, err
		}
	}
	return claims, nil
}

func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// RecordAttempt stores an attempt and moves its delivery on: one
// RecordAttempts.
func (s *Store) RecordAttempt(ctx context.Context, r *sluice.AttemptResult) error {
	return s.RecordAttempts(ctx, []*sluice.AttemptResult{r})[0]
}

// RecordAttempts records the attempts in one write, each with its health
// change and notices. A result whose delivery is no longer claimed at its
// attempt fails with ECONFLICT before it changes anything, so the others
// go on; any other failure fails the write, and so every result.
func (s *Store) RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []error {
	b := storekit.NewAttemptBatch(ctx, s.keys, rs)
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		return b.Run(func(r *sluice.AttemptResult, n storekit.SealedNotices) error {
			return s.recordAttempt(ctx, tx, r, n)
		})
	})
	return b.Errors(err)
}

// recordAttempt records one attempt inside a write. It returns ECONFLICT,
// having changed nothing, when the delivery is no longer claimed at the
// attempt.
func (s *Store) recordAttempt(ctx context.Context, tx querier, r *sluice.AttemptResult, sealed storekit.SealedNotices) error {
	a := r.Attempt
	r.Disabled, r.NoticesStored = "", false
	now := s.now()
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
		lease_until = NULL, updated_at = ?
		WHERE id = ? AND tenant_id = ? AND status = 'pending' AND attempts = ?`,
		r.Status, a.Number, nextAttempt(r), ms(now), a.DeliveryID, a.TenantID, a.Number-1)
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sluice.Errorf(sluice.ECONFLICT, "delivery %s is no longer claimed at attempt %d", a.DeliveryID, a.Number)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO attempts (id, tenant_id, delivery_id, event_id, destination_id,
		attempt, outcome, http_status, duration_ms, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.DeliveryID, a.EventID, a.DestinationID, a.Number, a.Outcome, a.HTTPStatus,
		a.Duration.Milliseconds(), a.Error, ms(a.At)); err != nil {
		return fmt.Errorf("insert attempt: %w", err)
	}
	if r.Status != sluice.DeliveryPending {
		if err := refreshEventStatus(ctx, tx, a.EventID); err != nil {
			return err
		}
	}
	disabled, err := s.recordHealth(ctx, tx, r)
	if err != nil {
		return err
	}
	r.Disabled = disabled
	for _, n := range sealed.For(disabled != "") {
		e := n.Event.Event
		wake, _, err := s.insertEvent(ctx, tx, &e, n.Event, n.Sealed, 0) // notices carry no dedup key
		if err != nil {
			return fmt.Errorf("publish %s: %w", e.Type, err)
		}
		r.NoticesStored = r.NoticesStored || wake
	}
	return nil
}

// recordHealth moves the attempt's destination's health on, audits the
// circuit opening and closing and the destination being disabled, and
// returns the reason when it disabled the destination.
func (s *Store) recordHealth(ctx context.Context, tx querier, r *sluice.AttemptResult) (string, error) {
	a := &r.Attempt
	if r.DisableDestination == "" && (!r.CountsForHealth || a.Outcome == sluice.AttemptSucceeded && s.healthy[a.DestinationID]) {
		return "", nil // storekit.NextHealth would change nothing
	}
	var (
		h                                   storekit.DestinationHealth
		failingSince, pausedAt, pausedUntil sql.NullInt64
		pauseMS                             int64
	)
	err := tx.QueryRowContext(ctx, `SELECT enabled, failures, failing_since, paused_at, pause_ms, paused_until
		FROM destinations WHERE id = ? AND tenant_id = ?`, a.DestinationID, a.TenantID).
		Scan(&h.Enabled, &h.Failures, &failingSince, &pausedAt, &pauseMS, &pausedUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil // deleted while the attempt was under way
	}
	if err != nil {
		return "", fmt.Errorf("read destination health: %w", err)
	}
	h.FailingSince, h.PausedAt, h.PausedUntil = fromNullMS(failingSince), fromNullMS(pausedAt), fromNullMS(pausedUntil)
	h.Pause = time.Duration(pauseMS) * time.Millisecond
	next, change := storekit.NextHealth(h, r)
	now := ms(s.now())
	if h.Failures == 0 && h.PausedUntil.IsZero() && !change.Changed && change.Disable == "" {
		s.healthy[a.DestinationID] = true
	} else {
		delete(s.healthy, a.DestinationID)
	}
	if change.Changed {
		if _, err := tx.ExecContext(ctx, `UPDATE destinations SET failures = ?, failing_since = ?, paused_at = ?,
			pause_ms = ?, paused_until = ? WHERE id = ?`, next.Failures, nullMS(next.FailingSince), nullMS(next.PausedAt),
			next.Pause.Milliseconds(), nullMS(next.PausedUntil), a.DestinationID); err != nil {
			return "", fmt.Errorf("update destination health: %w", err)
		}
	}
	if change.Opened || change.Closed {
		// New events must see the circuit: the cached routes decide which
		// of their deliveries are created claimed.
		delete(s.routes, a.TenantID)
	}
	if change.Closed {
		// Starts reserved before the pause have passed: the deliveries
		// waiting take fresh ones, evenly spaced from now.
		if err := resetRateLimit(ctx, tx, a.DestinationID); err != nil {
			return "", err
		}
	}
	for _, action := range change.AuditActions() {
		if err := s.audit(ctx, tx, a.TenantID, action, a.DestinationID); err != nil {
			return "", err
		}
	}
	if change.Disable == "" {
		return "", nil
	}
	delete(s.routes, a.TenantID)
	if _, err := tx.ExecContext(ctx, `UPDATE destinations SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?`,
		change.Disable, now, a.DestinationID); err != nil {
		return "", fmt.Errorf("disable destination: %w", err)
	}
	if err := s.audit(ctx, tx, a.TenantID, "destination.disable", a.DestinationID); err != nil {
		return "", err
	}
	return change.Disable, nil
}

// resetRateLimit forgets the destination's rate limiter state: the next
// start is free, and the starts reserved so far are void.
func resetRateLimit(ctx context.Context, tx querier, destinationID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE destinations SET rate_next_at = NULL, rate_epoch = rate_epoch + 1
		WHERE id = ?`, destinationID); err != nil {
		return fmt.Errorf("reset rate limit: %w", err)
	}
	return nil
}

// nextAttempt is the stored next_attempt_at: NULL unless still pending.
func nextAttempt(r *sluice.AttemptResult) sql.NullInt64 {
	if r.Status != sluice.DeliveryPending {
		return sql.NullInt64{}
	}
	return nullMS(r.NextAttemptAt)
}

// ReturnClaims makes claimed deliveries that were never attempted due now.
func (s *Store) ReturnClaims(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		now := ms(s.now())
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?1, lease_until = NULL, updated_at = ?1
			WHERE status = 'pending' AND lease_until IS NOT NULL AND id IN (`+placeholders(len(ids))+`)`,
			append([]any{now}, anys(ids)...)...)
		if err != nil {
			return fmt.Errorf("return claims: %w", err)
		}
		return nil
	})
}

// ReleaseClaims ends every lease now.
func (s *Store) ReleaseClaims(ctx context.Context) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		now := ms(s.now())
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = MIN(next_attempt_at, ?), lease_until = NULL
			WHERE status = 'pending' AND lease_until IS NOT NULL`, now)
		if err != nil {
			return fmt.Errorf("release claims: %w", err)
		}
		return nil
	})
}

// nullMicros stores a zero time in Unix microseconds as NULL.
func nullMicros(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v != 0} }

// QueueStats counts pending deliveries and destinations by state.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (*sluice.QueueStats, error) {
	q := &sluice.QueueStats{Destinations: map[string]int{}}
	err := s.readDB.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(lease_until > ?1), 0),
			COALESCE(SUM((lease_until IS NULL OR lease_until <= ?1) AND next_attempt_at <= ?1), 0),
			COALESCE(SUM((lease_until IS NULL OR lease_until <= ?1) AND next_attempt_at > ?1), 0)
		FROM deliveries WHERE status = 'pending'`, ms(now)).Scan(&q.InFlight, &q.Due, &q.Scheduled)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	rows, err := s.readDB.QueryContext(ctx, `SELECT CASE WHEN enabled = 0 THEN 'disabled'
		WHEN paused_until IS NOT NULL THEN 'paused' ELSE 'active' END, COUNT(*) FROM destinations GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("count destinations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count destinations: %w", err)
		}
		q.Destinations[state] = n
	}
	return q, rows.Err()
}
