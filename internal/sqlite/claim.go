package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// ClaimCandidates returns up to limit due deliveries, earliest first, of
// the destinations the dispatcher delivers to (sluice.KindHTTP) not in
// skip and tenants not in skipTenants, and the gates of their
// destinations that have one. No lock is needed: no other transaction
// runs meanwhile.
//
// With nothing to skip it reads the head of the due index. Otherwise the
// head may be a long backlog of skipped destinations or tenants, which a
// scan would have to step over, so it first finds up to limit other
// destinations with due work and then reads each one's earliest, through
// its own index: the cost follows the number of destinations, never the
// backlog.
func (t *tx) ClaimCandidates(ctx context.Context, now time.Time, skip, skipTenants []string, limit int) ([]engine.ClaimCandidate, map[string]*engine.Gate, error) {
	gates := make(map[string]*engine.Gate)
	if len(skip) == 0 && len(skipTenants) == 0 {
		c, err := t.dueCandidates(ctx, now, sluice.KindHTTP, "", limit, gates)
		return c, gates, err
	}
	// A nil slice encodes as JSON null, and NOT IN a null excludes every row.
	skip, skipTenants = append([]string{}, skip...), append([]string{}, skipTenants...)
	dests, err := sqldb.QueryStrings(ctx, t.Conn, `SELECT t.id FROM destinations t
		WHERE t.enabled = 1 AND t.kind = 'http' AND `+gateOpen+` AND t.id NOT IN (SELECT value FROM json_each(?3))
			AND t.tenant_id NOT IN (SELECT value FROM json_each(?5))
			AND EXISTS (SELECT 1 FROM deliveries d INDEXED BY deliveries_destination_due
				WHERE d.destination_id = t.id AND d.status = 'pending' AND d.next_attempt_at <= ?1)
		LIMIT ?4`, sqldb.MS(now), now.UnixMicro(), dialect.IDs(skip), limit, dialect.IDs(skipTenants))
	if err != nil {
		return nil, nil, fmt.Errorf("find destinations with due work: %w", err)
	}
	var all []engine.ClaimCandidate
	for _, id := range dests {
		c, err := t.dueCandidates(ctx, now, sluice.KindHTTP, id, limit, gates)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, c...)
	}
	slices.SortFunc(all, engine.CompareCandidates)
	return all[:min(limit, len(all))], gates, nil
}

// ListenCandidates returns up to limit due deliveries, earliest first, of
// the listen destination, and its gate if it has one.
func (t *tx) ListenCandidates(ctx context.Context, now time.Time, destinationID string, limit int) ([]engine.ClaimCandidate, map[string]*engine.Gate, error) {
	gates := make(map[string]*engine.Gate)
	c, err := t.dueCandidates(ctx, now, sluice.KindListen, destinationID, limit, gates)
	return c, gates, err
}

// gateOpen is the condition on destinations t whose gates let a delivery
// start at ?1 (Unix milliseconds) and ?2 (Unix microseconds).
const gateOpen = `(t.paused_until IS NULL OR t.paused_until <= ?1)
	AND (t.rate_hold_until IS NULL OR t.rate_hold_until <= ?2)`

// dueCandidates reads up to limit due deliveries, earliest first, of
// destinations of the kind: of the destination, or of every destination
// when it is empty. It adds their destinations' gates to gates.
func (t *tx) dueCandidates(ctx context.Context, now time.Time, kind, destinationID string, limit int,
	gates map[string]*engine.Gate) ([]engine.ClaimCandidate, error) {
	index, where := "deliveries_due", ""
	args := []any{sqldb.MS(now), now.UnixMicro(), limit, kind}
	if destinationID != "" {
		index, where = "deliveries_destination_due", " AND d.destination_id = ?5"
		args = append(args, destinationID)
	}
	rows, err := t.Conn.Query(ctx, `SELECT d.id, d.tenant_id, d.destination_id, d.next_attempt_at, d.rate_slot,
			t.rate_limit_per_second, t.rate_next_at, t.rate_hold_until, t.rate_epoch, t.paused_until
		FROM deliveries d INDEXED BY `+index+` JOIN destinations t ON t.id = d.destination_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND t.enabled = 1 AND t.kind = ?4 AND `+gateOpen+where+`
		ORDER BY d.next_attempt_at, d.id LIMIT ?3`, args...)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var candidates []engine.ClaimCandidate
	for rows.Next() {
		var c engine.ClaimCandidate
		var g engine.Gate
		var rateNext, rateHold, paused *int64
		if err := rows.Scan(&c.ID, &c.TenantID, &c.DestinationID, &c.Due, &c.RateSlot, &g.RatePerSecond, &rateNext, &rateHold,
			&g.RateEpoch, &paused); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		g.RateNextAt, g.RateHoldUntil = sqldb.FromNullMicros(rateNext), sqldb.FromNullMicros(rateHold)
		g.PausedUntil = sqldb.FromNullMS(paused)
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

// ApplyClaimPlan leases the plan's claims, reschedules the deliveries the
// rate limiter moved, and stores the gates it changed.
func (t *tx) ApplyClaimPlan(ctx context.Context, plan engine.ClaimPlan, gates map[string]*engine.Gate, now, leaseUntil time.Time) error {
	if len(plan.Claim) > 0 {
		if _, err := t.Conn.Exec(ctx, `UPDATE deliveries SET next_attempt_at = ?1, lease_until = ?1, rate_slot = 0,
			updated_at = ?2 WHERE id IN (`+placeholders(len(plan.Claim), 3)+`)`,
			append([]any{sqldb.MS(leaseUntil), sqldb.MS(now)}, stringArgs(plan.Claim)...)...); err != nil {
			return fmt.Errorf("lease deliveries: %w", err)
		}
	}
	for _, res := range plan.Reschedule {
		if _, err := t.Conn.Exec(ctx, `UPDATE deliveries SET next_attempt_at = ?, rate_slot = ?, updated_at = ? WHERE id = ?`,
			sqldb.CeilMS(res.At), res.Epoch, sqldb.MS(now), res.ID); err != nil {
			return fmt.Errorf("reschedule delivery: %w", err)
		}
	}
	return t.UpdateGates(ctx, gates)
}

// ReturnClaims makes claimed deliveries due at now, unclaimed.
func (t *tx) ReturnClaims(ctx context.Context, ids []string, now time.Time) error {
	_, err := t.Conn.Exec(ctx, `UPDATE deliveries SET next_attempt_at = ?1, lease_until = NULL, updated_at = ?1
		WHERE status = 'pending' AND lease_until IS NOT NULL AND id IN (`+placeholders(len(ids), 2)+`)`,
		append([]any{sqldb.MS(now)}, stringArgs(ids)...)...)
	return err
}

// ReleaseClaims ends every lease: the process that owns the database holds
// them all, and at its start none can be an attempt in flight.
func (t *tx) ReleaseClaims(ctx context.Context, now time.Time) error {
	_, err := t.Conn.Exec(ctx, `UPDATE deliveries SET next_attempt_at = MIN(next_attempt_at, ?), lease_until = NULL
		WHERE status = 'pending' AND lease_until IS NOT NULL`, sqldb.MS(now))
	return err
}

// placeholders returns "?first, ?first+1, …" for n values.
func placeholders(n, first int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "?%d", first+i)
	}
	return b.String()
}

// stringArgs returns ids as statement arguments.
func stringArgs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
