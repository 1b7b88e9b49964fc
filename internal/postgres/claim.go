package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// ClaimCandidates locks up to limit due deliveries, earliest first, of
// the destinations the dispatcher delivers to (sluice.KindHTTP) not in
// skip and tenants not in skipTenants, and then the gates of their
// destinations that have one, in id order so two claims cannot deadlock.
// It returns the candidates in due order.
//
// Several processes claim at once: FOR UPDATE SKIP LOCKED makes each pass
// over the rows another is claiming instead of waiting for them, and a row
// that another claim changed before this one locked it is checked again
// against the WHERE clause, so no delivery is claimed twice. The gates are
// read under a row lock, so processes share one rate limit and one probe.
//
// With nothing to skip it reads the head of the due index. Otherwise the
// head may be a long backlog of skipped destinations or tenants, which a
// scan would have to step over, so it first finds up to limit other
// destinations with due work and then reads each one's earliest through
// its own index: the cost follows the number of destinations, never the
// backlog.
func (t *tx) ClaimCandidates(ctx context.Context, now time.Time, skip, skipTenants []string, limit int) ([]engine.ClaimCandidate, map[string]*engine.Gate, error) {
	var found []gatedCandidate
	if len(skip) == 0 && len(skipTenants) == 0 {
		var err error
		if found, err = t.dueCandidates(ctx, now, sluice.KindHTTP, "", limit); err != nil {
			return nil, nil, err
		}
	} else {
		// A nil slice is NULL, and NOT (x = ANY(NULL)) holds for no row.
		skip, skipTenants = append([]string{}, skip...), append([]string{}, skipTenants...)
		dests, err := sqldb.QueryStrings(ctx, t.Conn, `SELECT t.id FROM destinations t
			WHERE t.enabled AND t.kind = 'http' AND `+gateOpen+` AND NOT (t.id = ANY($3)) AND NOT (t.tenant_id = ANY($5))
				AND EXISTS (SELECT 1 FROM deliveries d
					WHERE d.destination_id = t.id AND d.status = 'pending' AND d.next_attempt_at <= $1)
			LIMIT $4`, sqldb.MS(now), now.UnixMicro(), skip, limit, skipTenants)
		if err != nil {
			return nil, nil, fmt.Errorf("find destinations with due work: %w", err)
		}
		for _, id := range dests {
			c, err := t.dueCandidates(ctx, now, sluice.KindHTTP, id, limit)
			if err != nil {
				return nil, nil, err
			}
			found = append(found, c...)
		}
		slices.SortFunc(found, func(a, b gatedCandidate) int { return engine.CompareCandidates(a.ClaimCandidate, b.ClaimCandidate) })
		found = found[:min(limit, len(found))]
	}
	return t.gatedCandidates(ctx, found)
}

// ListenCandidates locks up to limit due deliveries, earliest first, of
// the listen destination, passing over those another claim holds, and
// then its gate if it has one.
func (t *tx) ListenCandidates(ctx context.Context, now time.Time, destinationID string, limit int) ([]engine.ClaimCandidate, map[string]*engine.Gate, error) {
	found, err := t.dueCandidates(ctx, now, sluice.KindListen, destinationID, limit)
	if err != nil {
		return nil, nil, err
	}
	return t.gatedCandidates(ctx, found)
}

// gatedCandidates returns the candidates found, in their order, with the
// gates of their destinations that have one, locked.
func (t *tx) gatedCandidates(ctx context.Context, found []gatedCandidate) ([]engine.ClaimCandidate, map[string]*engine.Gate, error) {
	candidates := make([]engine.ClaimCandidate, len(found))
	var gated []string
	for i, c := range found {
		candidates[i] = c.ClaimCandidate
		if c.gated && !slices.Contains(gated, c.DestinationID) {
			gated = append(gated, c.DestinationID)
		}
	}
	gates, err := t.lockGates(ctx, gated)
	return candidates, gates, err
}

// lockGates reads the gates of the destinations, in id order, locked.
func (t *tx) lockGates(ctx context.Context, ids []string) (map[string]*engine.Gate, error) {
	gates := make(map[string]*engine.Gate, len(ids))
	if len(ids) == 0 {
		return gates, nil
	}
	slices.Sort(ids)
	rows, err := t.tx.Query(ctx, `SELECT id, rate_limit_per_second, rate_next_at, rate_hold_until, rate_epoch, paused_until
		FROM destinations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, planEach, ids)
	if err != nil {
		return nil, fmt.Errorf("read destination gates: %w", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var id string
		var g engine.Gate
		var rateNext, rateHold, paused *int64
		if err := row.Scan(&id, &g.RatePerSecond, &rateNext, &rateHold, &g.RateEpoch, &paused); err != nil {
			return struct{}{}, err
		}
		g.RateNextAt, g.RateHoldUntil = sqldb.FromNullMicros(rateNext), sqldb.FromNullMicros(rateHold)
		g.PausedUntil = sqldb.FromNullMS(paused)
		if g.Limited() {
			gates[id] = &g
		}
		return struct{}{}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read destination gates: %w", err)
	}
	return gates, nil
}

// gateOpen is the condition on destinations t whose gates let a delivery
// start at $1 (Unix milliseconds) and $2 (Unix microseconds).
const gateOpen = `(t.paused_until IS NULL OR t.paused_until <= $1)
	AND (t.rate_hold_until IS NULL OR t.rate_hold_until <= $2)`

// gatedCandidate is a candidate and whether its destination has a gate.
type gatedCandidate struct {
	engine.ClaimCandidate
	gated bool
}

// dueCandidates locks up to limit due deliveries, earliest first, of
// destinations of the kind: of the destination, or of every destination
// when it is empty, passing over those another claim holds.
func (t *tx) dueCandidates(ctx context.Context, now time.Time, kind, destinationID string, limit int) ([]gatedCandidate, error) {
	// Two texts, not one with an optional condition, so each has its own
	// plan: the due index, or the destination's.
	where, args := "", []any{sqldb.MS(now), now.UnixMicro(), limit, kind}
	if destinationID != "" {
		where, args = " AND d.destination_id = $5", append(args, destinationID)
	}
	rows, err := t.tx.Query(ctx, `SELECT d.id, d.tenant_id, d.destination_id, d.next_attempt_at, d.rate_slot,
			t.rate_limit_per_second > 0 OR t.paused_until IS NOT NULL
		FROM deliveries d JOIN destinations t ON t.id = d.destination_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND t.enabled AND t.kind = $4 AND `+gateOpen+where+`
		ORDER BY d.next_attempt_at, d.id LIMIT $3
		FOR UPDATE OF d SKIP LOCKED`, args...)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gatedCandidate, error) {
		var c gatedCandidate
		err := row.Scan(&c.ID, &c.TenantID, &c.DestinationID, &c.Due, &c.RateSlot, &c.gated)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return found, nil
}

// ApplyClaimPlan leases the plan's claims in this driver's name,
// reschedules the deliveries the rate limiter moved, and stores the gates
// it changed.
func (t *tx) ApplyClaimPlan(ctx context.Context, plan engine.ClaimPlan, gates map[string]*engine.Gate, now, leaseUntil time.Time) error {
	if len(plan.Claim) > 0 {
		if _, err := t.tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $1, lease_until = $1, claimed_by = $2,
			rate_slot = 0, updated_at = $3 WHERE id = ANY($4)`,
			planEach, sqldb.MS(leaseUntil), t.drv.claimant, sqldb.MS(now), plan.Claim); err != nil {
			return fmt.Errorf("lease deliveries: %w", err)
		}
	}
	if len(plan.Reschedule) > 0 {
		ids := make([]string, len(plan.Reschedule))
		starts := make([]int64, len(plan.Reschedule))
		epochs := make([]int64, len(plan.Reschedule))
		for i, res := range plan.Reschedule {
			ids[i], starts[i], epochs[i] = res.ID, sqldb.CeilMS(res.At), res.Epoch
		}
		if _, err := t.tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = r.start, rate_slot = r.epoch, updated_at = $1
			FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS r(id, start, epoch) WHERE deliveries.id = r.id`,
			planEach, sqldb.MS(now), ids, starts, epochs); err != nil {
			return fmt.Errorf("reschedule deliveries: %w", err)
		}
	}
	return t.UpdateGates(ctx, gates)
}

// ReturnClaims makes deliveries this driver claimed and never attempted
// due at now.
func (t *tx) ReturnClaims(ctx context.Context, ids []string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $1, lease_until = NULL, claimed_by = NULL,
		updated_at = $1 WHERE status = 'pending' AND lease_until IS NOT NULL AND claimed_by = $2 AND id = ANY($3)`,
		planEach, sqldb.MS(now), t.drv.claimant, ids)
	return err
}

// ReleaseClaims ends the leases this driver took, making their deliveries
// due now, and clears the marks of leases that have ended anyway.
//
// It does not end every lease: the database is shared, and a lease held by
// another process may be an attempt in flight right now; releasing it
// would send that delivery twice. A process that died needs no release
// either, since its leases end on their own. So at the start of a
// process, whose fresh driver holds no lease, this releases nothing that
// matters; it frees this driver's own claims when called while it still
// holds some.
func (t *tx) ReleaseClaims(ctx context.Context, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = LEAST(next_attempt_at, $1),
		lease_until = NULL, claimed_by = NULL
		WHERE status = 'pending' AND lease_until IS NOT NULL AND (claimed_by = $2 OR lease_until <= $1)`,
		sqldb.MS(now), t.drv.claimant)
	return err
}
