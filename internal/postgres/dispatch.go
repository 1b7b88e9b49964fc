package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

// ClaimDue leases up to r.Limit due pending deliveries of enabled
// destinations, earliest first and within each destination's room, for
// r.Lease, passing them through their destinations' rate limits and circuit
// breakers (storekit.ClaimPasses): deliveries over a rate limit are
// rescheduled to their own later start, and a paused destination gets one
// probe.
//
// Several processes claim at once: FOR UPDATE SKIP LOCKED makes each pass
// over the rows another is claiming instead of waiting for them, and a row
// that another claim changed before this one locked it is checked again
// against the WHERE clause, so no delivery is claimed twice. The gates of
// rate-limited and paused destinations are read under a row lock, so
// processes share one rate limit and one probe. A claim moves
// next_attempt_at to the end of the lease, so the deliveries of a process
// that died simply come due again for the others when the lease ends;
// lease_until and claimed_by mark the claim until its attempt is recorded.
func (s *Store) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	var claims []*sluice.Claim
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		leaseUntil := r.Now.Add(r.Lease)
		ids, err := storekit.ClaimPasses(r,
			func(skip []string, want int) ([]storekit.ClaimCandidate, map[string]*storekit.Gate, error) {
				return claimCandidates(ctx, tx, r.Now, skip, want)
			},
			func(plan storekit.ClaimPlan, gates map[string]*storekit.Gate) error {
				return s.applyPlan(ctx, tx, plan, gates, r.Now, leaseUntil)
			})
		if err != nil || len(ids) == 0 {
			claims = nil
			return err
		}
		claims, err = s.loadClaims(ctx, tx, ids, r.Now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// claimCandidates locks up to limit due deliveries, earliest first, of
// destinations not in skip, and then the gates of their destinations that
// have one, in id order so two claims cannot deadlock. It returns the
// candidates in due order.
//
// With nothing to skip it reads the head of the due index. Otherwise the
// head may be a long backlog of skipped destinations, which a scan would
// have to step over, so it first finds up to limit other destinations with
// due work and then reads each one's earliest through its own index: the
// cost follows the number of destinations, never the backlog.
func claimCandidates(ctx context.Context, tx pgx.Tx, now time.Time, skip []string, limit int) ([]storekit.ClaimCandidate, map[string]*storekit.Gate, error) {
	var found []gatedCandidate
	if len(skip) == 0 {
		var err error
		if found, err = dueCandidates(ctx, tx, now, "", limit); err != nil {
			return nil, nil, err
		}
	} else {
		dests, err := queryStrings(ctx, tx, `SELECT t.id FROM destinations t
			WHERE t.enabled AND `+gateOpen+` AND NOT (t.id = ANY($3))
				AND EXISTS (SELECT 1 FROM deliveries d
					WHERE d.destination_id = t.id AND d.status = 'pending' AND d.next_attempt_at <= $1)
			LIMIT $4`, ms(now), now.UnixMicro(), skip, limit)
		if err != nil {
			return nil, nil, fmt.Errorf("find destinations with due work: %w", err)
		}
		for _, id := range dests {
			c, err := dueCandidates(ctx, tx, now, id, limit)
			if err != nil {
				return nil, nil, err
			}
			found = append(found, c...)
		}
		slices.SortStableFunc(found, func(a, b gatedCandidate) int { return cmp.Compare(a.Due, b.Due) })
		found = found[:min(limit, len(found))]
	}
	candidates := make([]storekit.ClaimCandidate, len(found))
	var gated []string
	for i, c := range found {
		candidates[i] = c.ClaimCandidate
		if c.gated && !slices.Contains(gated, c.DestinationID) {
			gated = append(gated, c.DestinationID)
		}
	}
	gates := make(map[string]*storekit.Gate, len(gated))
	if len(gated) == 0 {
		return candidates, gates, nil
	}
	slices.Sort(gated)
	rows, err := tx.Query(ctx, `SELECT id, rate_limit_per_second, rate_next_at, rate_hold_until, rate_epoch, paused_until
		FROM destinations
		WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, planEach, gated)
	if err != nil {
		return nil, nil, fmt.Errorf("read destination gates: %w", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var id string
		var g storekit.Gate
		var rateNext, rateHold, paused *int64
		if err := row.Scan(&id, &g.RatePerSecond, &rateNext, &rateHold, &g.RateEpoch, &paused); err != nil {
			return struct{}{}, err
		}
		g.RateNextAt, g.RateHoldUntil = fromNullMicros(rateNext), fromNullMicros(rateHold)
		g.PausedUntil = fromNullMS(paused)
		if g.Limited() {
			gates[id] = &g
		}
		return struct{}{}, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read destination gates: %w", err)
	}
	return candidates, gates, nil
}

// gateOpen is the condition on destinations t whose gates let a delivery
// start at $1 (Unix milliseconds) and $2 (Unix microseconds).
const gateOpen = `(t.paused_until IS NULL OR t.paused_until <= $1)
	AND (t.rate_hold_until IS NULL OR t.rate_hold_until <= $2)`

// gatedCandidate is a candidate and whether its destination has a gate.
type gatedCandidate struct {
	storekit.ClaimCandidate
	gated bool
}

// dueCandidates locks up to limit due deliveries, earliest first, of the
// destination, or of every destination when it is empty, skipping those
// another claim holds.
func dueCandidates(ctx context.Context, tx pgx.Tx, now time.Time, destinationID string, limit int) ([]gatedCandidate, error) {
	// Two texts, not one with an optional condition, so each has its own
	// plan: the due index, or the destination's.
	where, args := "", []any{ms(now), now.UnixMicro(), limit}
	if destinationID != "" {
		where, args = " AND d.destination_id = $4", append(args, destinationID)
	}
	rows, err := tx.Query(ctx, `SELECT d.id, d.destination_id, d.next_attempt_at, d.rate_slot,
			t.rate_limit_per_second > 0 OR t.paused_until IS NOT NULL
		FROM deliveries d JOIN destinations t ON t.id = d.destination_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND t.enabled AND `+gateOpen+where+`
		ORDER BY d.next_attempt_at LIMIT $3
		FOR UPDATE OF d SKIP LOCKED`, args...)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gatedCandidate, error) {
		var c gatedCandidate
		err := row.Scan(&c.ID, &c.DestinationID, &c.Due, &c.RateSlot, &c.gated)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return found, nil
}

// applyPlan leases the plan's claims, reschedules the deliveries the rate
// limiter moved, and stores the gates it changed.
func (s *Store) applyPlan(ctx context.Context, tx pgx.Tx, plan storekit.ClaimPlan, gates map[string]*storekit.Gate, now, leaseUntil time.Time) error {
	if len(plan.Claim) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $1, lease_until = $1, claimed_by = $2,
			rate_slot = 0, updated_at = $3 WHERE id = ANY($4)`,
			planEach, ms(leaseUntil), s.claimant, ms(now), plan.Claim); err != nil {
			return fmt.Errorf("lease deliveries: %w", err)
		}
	}
	if len(plan.Reschedule) > 0 {
		ids := make([]string, len(plan.Reschedule))
		starts := make([]int64, len(plan.Reschedule))
		epochs := make([]int64, len(plan.Reschedule))
		for i, res := range plan.Reschedule {
			ids[i], starts[i], epochs[i] = res.ID, storekit.CeilMS(res.At), res.Epoch
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = r.start, rate_slot = r.epoch, updated_at = $1
			FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS r(id, start, epoch) WHERE deliveries.id = r.id`,
			planEach, ms(now), ids, starts, epochs); err != nil {
			return fmt.Errorf("reschedule deliveries: %w", err)
		}
	}
	for id, g := range gates {
		if !g.Changed {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE destinations SET rate_next_at = $1, rate_hold_until = $2, paused_until = $3
			WHERE id = $4`, nullMicros(g.RateNextAt), nullMicros(g.RateHoldUntil), nullMS(g.PausedUntil), id); err != nil {
			return fmt.Errorf("update destination gate: %w", err)
		}
	}
	return nil
}

// claimRow is a claimed delivery as scanned, before its sealed columns
// are opened.
type claimRow struct {
	c           sluice.Claim
	next        *int64
	created     int64
	updated     int64
	body        []byte
	contentType *string
	dest        storekit.DestinationRow
}

// loadClaims reads what the dispatcher needs for claimed deliveries, in the
// order of ids. One whose payload is gone or past its expiry cannot be
// sent: it becomes expired instead of a claim.
func (s *Store) loadClaims(ctx context.Context, tx querier, ids []string, now time.Time) ([]*sluice.Claim, error) {
	raw, err := queryAll(ctx, tx, "claims", `SELECT d.id, d.tenant_id, d.event_id, d.destination_id, d.attempts,
		d.next_attempt_at, d.created_at, d.updated_at, d.recovers, e.type, p.body, p.content_type, `+prefixed("t.", destinationColumns)+`
		FROM deliveries d
		JOIN events e ON e.id = d.event_id
		JOIN destinations t ON t.id = d.destination_id
		LEFT JOIN event_payloads p ON p.event_id = d.event_id AND e.payload_state = 'retained' AND p.expires_at > $1
		WHERE d.id = ANY($2)`, []any{planEach, ms(now), ids}, func(row scanner) (*claimRow, error) {
		r := &claimRow{}
		c := &r.c
		return r, row.Scan(append([]any{&c.Delivery.ID, &c.Delivery.TenantID, &c.Delivery.EventID,
			&c.Delivery.DestinationID, &c.Delivery.Attempts, &r.next, &r.created, &r.updated, &c.Delivery.Recovers, &c.EventType,
			&r.body, &r.contentType}, r.dest.Targets()...)...)
	}, asIs)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*claimRow, len(raw))
	for _, r := range raw {
		byID[r.c.Delivery.ID] = r
	}
	claims := make([]*sluice.Claim, 0, len(ids))
	var expiredIDs, expiredEvents []string
	for _, id := range ids {
		r := byID[id]
		if r == nil {
			continue // its event or destination vanished under the claim: nothing to send
		}
		c := &r.c
		d, err := r.dest.Decode(ctx, s.keys)
		if err != nil {
			return nil, err
		}
		c.Destination = *d
		c.Delivery.Status = sluice.DeliveryPending
		c.Delivery.NextAttemptAt, c.Delivery.CreatedAt, c.Delivery.UpdatedAt = fromNullMS(r.next), fromMS(r.created), fromMS(r.updated)
		if r.contentType != nil {
			c.ContentType = *r.contentType
		}
		if r.body != nil {
			c.Body, _, err = s.keys.OpenPayload(ctx, c.Delivery.TenantID, c.Delivery.EventID, r.body, nil)
			if err == nil {
				claims = append(claims, c)
				continue
			}
			// A payload that fails its integrity check cannot be sent; it
			// ends like a payload that is gone.
			s.logger.Error("payload failed its integrity check", "event_id", c.Delivery.EventID, "error", err)
		}
		expiredIDs = append(expiredIDs, id)
		expiredEvents = append(expiredEvents, c.Delivery.EventID)
	}
	if len(expiredIDs) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'expired', next_attempt_at = NULL,
			lease_until = NULL, claimed_by = NULL, updated_at = $1 WHERE id = ANY($2)`, planEach, ms(s.now()), expiredIDs); err != nil {
			return nil, fmt.Errorf("expire deliveries: %w", err)
		}
		if err := refreshEventStatus(ctx, tx, expiredEvents); err != nil {
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

// RecordAttempts records the attempts in one transaction, each with its
// health change and notices, in the order of their destinations and
// deliveries so that concurrent batches lock rows in the same order. A
// result whose delivery is no longer claimed at its attempt fails with
// ECONFLICT before it changes anything, so the others go on; any other
// failure fails the transaction, and so every result.
//
// The successes' own statements go first, all in one round trip
// (sendSuccesses); each is then finished in order with the rest.
func (s *Store) RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []error {
	b := storekit.NewAttemptBatch(ctx, s.keys, rs)
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		sent, err := s.sendSuccesses(ctx, tx, b)
		if err != nil {
			return err
		}
		wake := false
		var ended []string // events with a delivery that ended
		err = b.Run(func(r *sluice.AttemptResult, n storekit.SealedNotices) error {
			if err := s.recordAttempt(ctx, tx, r, n, sent[r]); err != nil {
				return err
			}
			if r.Status != sluice.DeliveryPending {
				ended = append(ended, r.Attempt.EventID)
			}
			wake = wake || r.NoticesStored
			return nil
		})
		if err != nil {
			return err
		}
		// The events are locked last, all at once: another process
		// recording the same events' other deliveries then waits for this
		// commit only, not for the whole batch.
		slices.Sort(ended)
		if err := refreshEventStatus(ctx, tx, slices.Compact(ended)); err != nil {
			return err
		}
		if wake {
			return s.notifyWork(ctx, tx)
		}
		return nil
	})
	return b.Errors(err)
}

// sentAttempt is what an attempt's own statements (queueAttempt) returned.
type sentAttempt struct {
	recorded bool // false: the delivery is no longer claimed at the attempt
	health   healthRow
	readErr  error // the health read's
}

// locksHealth reports whether recording r reads its destination's health
// locked, because the attempt will change it. A success to a healthy
// destination, the common case, only reads it.
func locksHealth(r *sluice.AttemptResult) bool {
	return r.Attempt.Outcome != sluice.AttemptSucceeded || r.DisableDestination != ""
}

// sendSuccesses sends the own statements of every success in the batch
// that reads its destination's health unlocked, in the batch's order, in
// one round trip, and returns what each returned. The delivery rows they
// lock are each this batch's alone, and the destinations they read they
// do not lock, so sending them ahead of the rest keeps the order in which
// the batch locks what others may share. (A delivery claimed again after
// its lease ended is the exception: its two recordings wait for each
// other, and a deadlock, should one come of it, is retried by write.)
func (s *Store) sendSuccesses(ctx context.Context, tx pgx.Tx, b *storekit.AttemptBatch) (map[*sluice.AttemptResult]*sentAttempt, error) {
	var rs []*sluice.AttemptResult
	for r := range b.Each() {
		if !locksHealth(r) {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	batch := &pgx.Batch{}
	now := ms(s.now())
	for _, r := range rs {
		queueAttempt(batch, r, now, false)
	}
	results := tx.SendBatch(ctx, batch)
	sent := make(map[*sluice.AttemptResult]*sentAttempt, len(rs))
	var err error
	for _, r := range rs {
		var a *sentAttempt
		if a, err = readAttempt(results); err != nil {
			break
		}
		sent[r] = a
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("record attempts: %w", err)
	}
	return sent, nil
}

// queueAttempt queues an attempt's own statements: the delivery's update,
// the attempt's insert, which takes its row from the update so that a
// delivery no longer claimed gets no attempt, and the read of the
// destination's health, locked when locked is set.
func queueAttempt(b *pgx.Batch, r *sluice.AttemptResult, now int64, locked bool) {
	a := r.Attempt
	b.Queue(`WITH d AS (UPDATE deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
			lease_until = NULL, claimed_by = NULL, updated_at = $4
			WHERE id = $5 AND tenant_id = $6 AND status = 'pending' AND attempts = $7 RETURNING id)
		INSERT INTO attempts (id, tenant_id, delivery_id, event_id, destination_id,
			attempt, outcome, http_status, duration_ms, error, at)
		SELECT $8::text, $6::text, d.id, $9::text, $10::text, $2::integer, $11::text, $12::integer, $13::bigint, $14::text, $15::bigint
		FROM d`,
		r.Status, a.Number, nextAttempt(r), now, a.DeliveryID, a.TenantID, a.Number-1,
		a.ID, a.EventID, a.DestinationID, a.Outcome, a.HTTPStatus, a.Duration.Milliseconds(), a.Error, ms(a.At))
	health := healthQuery
	if locked {
		health += " FOR NO KEY UPDATE"
	}
	b.Queue(health, a.DestinationID, a.TenantID)
}

// readAttempt reads the results of the statements queueAttempt queued.
func readAttempt(results pgx.BatchResults) (*sentAttempt, error) {
	tag, err := results.Exec()
	if err != nil {
		return nil, err
	}
	a := &sentAttempt{recorded: tag.RowsAffected() > 0}
	a.readErr = a.health.scan(results.QueryRow())
	return a, nil
}

// recordAttempt records one attempt inside a transaction, all but its
// event's status, which RecordAttempts refreshes for the whole batch. It
// returns ECONFLICT, having changed nothing, when the delivery is no longer
// claimed at the attempt. sent holds what the attempt's own statements
// returned when they were sent ahead (sendSuccesses); when it is nil they
// go now, in one round trip.
func (s *Store) recordAttempt(ctx context.Context, tx pgx.Tx, r *sluice.AttemptResult, sealed storekit.SealedNotices, sent *sentAttempt) error {
	a := r.Attempt
	r.Disabled, r.NoticesStored = "", false
	locked := locksHealth(r)
	if sent == nil {
		b := &pgx.Batch{}
		queueAttempt(b, r, ms(s.now()), locked)
		results := tx.SendBatch(ctx, b)
		var err error
		sent, err = readAttempt(results)
		if cerr := results.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
	}
	if !sent.recorded {
		return sluice.Errorf(sluice.ECONFLICT, "delivery %s is no longer claimed at attempt %d", a.DeliveryID, a.Number)
	}
	disabled, err := s.recordHealth(ctx, tx, r, sent.health, locked, sent.readErr)
	if err != nil {
		return err
	}
	r.Disabled = disabled
	for _, n := range sealed.For(disabled != "") {
		e := n.Event.Event
		wake, _, err := s.insertEvent(ctx, tx, &e, n.Event, n.Sealed, 0)
		if err != nil {
			return fmt.Errorf("publish %s: %w", e.Type, err)
		}
		r.NoticesStored = r.NoticesStored || wake
	}
	return nil
}

// healthQuery reads a destination's health: healthRow's columns.
const healthQuery = `SELECT enabled, failures, failing_since, paused_at, pause_ms, paused_until
	FROM destinations WHERE id = $1 AND tenant_id = $2`

// healthRow is a destination's health as read by healthQuery.
type healthRow struct {
	h                                   storekit.DestinationHealth
	failingSince, pausedAt, pausedUntil *int64
	pauseMS                             int64
}

func (r *healthRow) scan(row pgx.Row) error {
	return row.Scan(&r.h.Enabled, &r.h.Failures, &r.failingSince, &r.pausedAt, &r.pauseMS, &r.pausedUntil)
}

// recordHealth moves the attempt's destination's health on from row, read
// with the attempt (locked when locked is set; readErr is the read's
// error), audits the circuit opening and closing and the destination
// being disabled, and returns the reason when it disabled the destination.
//
// A successful attempt to a healthy destination, the common case, only
// reads: the row is read again, FOR NO KEY UPDATE, only when something
// will change.
func (s *Store) recordHealth(ctx context.Context, tx pgx.Tx, r *sluice.AttemptResult, row healthRow, locked bool, readErr error) (string, error) {
	a := &r.Attempt
	err := readErr
	if err == nil && !locked && (row.h.Failures > 0 || row.pausedUntil != nil) {
		// the success resets a failing destination
		err = row.scan(tx.QueryRow(ctx, healthQuery+" FOR NO KEY UPDATE", a.DestinationID, a.TenantID))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil // deleted while the attempt was under way
	}
	if err != nil {
		return "", fmt.Errorf("read destination health: %w", err)
	}
	h := row.h
	h.FailingSince, h.PausedAt, h.PausedUntil = fromNullMS(row.failingSince), fromNullMS(row.pausedAt), fromNullMS(row.pausedUntil)
	h.Pause = time.Duration(row.pauseMS) * time.Millisecond
	next, change := storekit.NextHealth(h, r)
	if change.Changed {
		if _, err := tx.Exec(ctx, `UPDATE destinations SET failures = $1, failing_since = $2, paused_at = $3,
			pause_ms = $4, paused_until = $5 WHERE id = $6`, next.Failures, nullMS(next.FailingSince), nullMS(next.PausedAt),
			next.Pause.Milliseconds(), nullMS(next.PausedUntil), a.DestinationID); err != nil {
			return "", fmt.Errorf("update destination health: %w", err)
		}
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
	if _, err := tx.Exec(ctx, `UPDATE destinations SET enabled = false, disabled_reason = $1, updated_at = $2 WHERE id = $3`,
		change.Disable, ms(s.now()), a.DestinationID); err != nil {
		return "", fmt.Errorf("disable destination: %w", err)
	}
	if err := s.audit(ctx, tx, a.TenantID, "destination.disable", a.DestinationID); err != nil {
		return "", err
	}
	return change.Disable, nil
}

// resetRateLimit forgets the destination's rate limiter state: the next
// start is free, and the starts reserved so far are void. It writes only
// the destination row, which its callers hold already, so it cannot
// deadlock with a claim holding the destination's deliveries.
func resetRateLimit(ctx context.Context, tx pgx.Tx, destinationID string) error {
	if _, err := tx.Exec(ctx, `UPDATE destinations SET rate_next_at = NULL, rate_epoch = rate_epoch + 1
		WHERE id = $1`, destinationID); err != nil {
		return fmt.Errorf("reset rate limit: %w", err)
	}
	return nil
}

// nextAttempt is the stored next_attempt_at: NULL unless still pending.
func nextAttempt(r *sluice.AttemptResult) *int64 {
	if r.Status != sluice.DeliveryPending {
		return nil
	}
	return nullMS(r.NextAttemptAt)
}

// ReturnClaims makes deliveries this Store claimed and never attempted due
// now.
func (s *Store) ReturnClaims(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := ms(s.now())
		_, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $1, lease_until = NULL, claimed_by = NULL,
			updated_at = $1 WHERE status = 'pending' AND lease_until IS NOT NULL AND claimed_by = $2 AND id = ANY($3)`,
			planEach, now, s.claimant, ids)
		if err != nil {
			return fmt.Errorf("return claims: %w", err)
		}
		return nil
	})
}

// ReleaseClaims ends the leases this Store took, making their deliveries
// due now, and clears the marks of leases that have ended anyway.
//
// Unlike the embedded store it does not end every lease: the database is
// shared, and a lease held by another process may be an attempt in flight
// right now; releasing it would send that delivery twice. A process that
// died needs no release either, since its leases end on their own (see
// ClaimDue). So at the start of a process, whose fresh Store holds no
// lease, this releases nothing that matters; it frees this Store's own
// claims when called while it still holds some.
func (s *Store) ReleaseClaims(ctx context.Context) error {
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := ms(s.now())
		_, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = LEAST(next_attempt_at, $1),
			lease_until = NULL, claimed_by = NULL
			WHERE status = 'pending' AND lease_until IS NOT NULL AND (claimed_by = $2 OR lease_until <= $1)`,
			now, s.claimant)
		if err != nil {
			return fmt.Errorf("release claims: %w", err)
		}
		return nil
	})
}

// nullMicros stores a zero time in Unix microseconds as NULL.
func nullMicros(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func fromNullMicros(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

// QueueStats counts pending deliveries and destinations by state.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (*sluice.QueueStats, error) {
	q := &sluice.QueueStats{Destinations: map[string]int{}}
	err := s.pool.QueryRow(ctx, `SELECT
			COUNT(*) FILTER (WHERE lease_until > $1),
			COUNT(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= $1) AND next_attempt_at <= $1),
			COUNT(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= $1) AND next_attempt_at > $1)
		FROM deliveries WHERE status = 'pending'`, ms(now)).Scan(&q.InFlight, &q.Due, &q.Scheduled)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT CASE WHEN NOT enabled THEN 'disabled'
		WHEN paused_until IS NOT NULL THEN 'paused' ELSE 'active' END, COUNT(*) FROM destinations GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("count destinations: %w", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var state string
		var n int
		err := row.Scan(&state, &n)
		q.Destinations[state] = n
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("count destinations: %w", err)
	}
	return q, nil
}
