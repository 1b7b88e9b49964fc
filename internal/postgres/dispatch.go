package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

// ClaimDue leases up to r.Limit due pending deliveries of enabled
// destinations, earliest first, for r.Lease.
//
// Several processes claim at once: FOR UPDATE SKIP LOCKED makes each pass
// over the rows another is claiming instead of waiting for them, and a row
// that another claim changed before this one locked it is checked again
// against the WHERE clause, so no delivery is claimed twice. A claim moves
// next_attempt_at to the end of the lease, so the deliveries of a process
// that died simply come due again for the others when the lease ends;
// lease_until and claimed_by mark the claim until its attempt is recorded.
func (s *Store) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	skip := r.SkipDestinations
	if skip == nil {
		skip = []string{} // = ANY(NULL) would be NULL, and skip everything
	}
	var claims []*sluice.Claim
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		claims = nil
		leaseUntil := ms(r.Now.Add(r.Lease))
		rows, err := tx.Query(ctx, `WITH due AS (
				SELECT d.id, d.next_attempt_at FROM deliveries d JOIN destinations t ON t.id = d.destination_id
				WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND t.enabled
					AND NOT (d.destination_id = ANY($2))
				ORDER BY d.next_attempt_at LIMIT $3
				FOR UPDATE OF d SKIP LOCKED)
			UPDATE deliveries SET next_attempt_at = $4, lease_until = $4, claimed_by = $5, updated_at = $1
			FROM due WHERE deliveries.id = due.id
			RETURNING deliveries.id, due.next_attempt_at`,
			ms(r.Now), skip, r.Limit, leaseUntil, s.claimant)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		type claimed struct {
			id  string
			due int64
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := row.Scan(&c.id, &c.due)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		// Earliest first, as they were due before the claim moved them.
		slices.SortFunc(due, func(a, b claimed) int { return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.id, b.id)) })
		ids := make([]string, len(due))
		for i, c := range due {
			ids[i] = c.id
		}
		claims, err = s.loadClaims(ctx, tx, ids, r.Now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
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
		d.next_attempt_at, d.created_at, d.updated_at, e.type, p.body, p.content_type, `+prefixed("t.", destinationColumns)+`
		FROM deliveries d
		JOIN events e ON e.id = d.event_id
		JOIN destinations t ON t.id = d.destination_id
		LEFT JOIN event_payloads p ON p.event_id = d.event_id AND e.payload_state = 'retained' AND p.expires_at > $1
		WHERE d.id = ANY($2)`, []any{ms(now), ids}, func(row scanner) (*claimRow, error) {
		r := &claimRow{}
		c := &r.c
		return r, row.Scan(append([]any{&c.Delivery.ID, &c.Delivery.TenantID, &c.Delivery.EventID,
			&c.Delivery.DestinationID, &c.Delivery.Attempts, &r.next, &r.created, &r.updated, &c.EventType,
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
			lease_until = NULL, claimed_by = NULL, updated_at = $1 WHERE id = ANY($2)`, ms(s.now()), expiredIDs); err != nil {
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

// RecordAttempt stores an attempt and moves its delivery on as r says.
// ECONFLICT if the delivery is no longer pending at r.Attempt.Number-1
// attempts: its lease ended and another worker took it.
func (s *Store) RecordAttempt(ctx context.Context, r *sluice.AttemptResult) error {
	a := r.Attempt
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
			lease_until = NULL, claimed_by = NULL, updated_at = $4
			WHERE id = $5 AND tenant_id = $6 AND status = 'pending' AND attempts = $7`,
			r.Status, a.Number, nextAttempt(r), ms(now), a.DeliveryID, a.TenantID, a.Number-1)
		if err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return sluice.Errorf(sluice.ECONFLICT, "delivery %s is no longer claimed at attempt %d", a.DeliveryID, a.Number)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO attempts (id, tenant_id, delivery_id, event_id, destination_id,
			attempt, outcome, http_status, duration_ms, error, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			a.ID, a.TenantID, a.DeliveryID, a.EventID, a.DestinationID, a.Number, a.Outcome, a.HTTPStatus,
			a.Duration.Milliseconds(), a.Error, ms(a.At)); err != nil {
			return fmt.Errorf("insert attempt: %w", err)
		}
		if r.Status != sluice.DeliveryPending {
			if err := refreshEventStatus(ctx, tx, []string{a.EventID}); err != nil {
				return err
			}
		}
		if r.DisableDestination != "" {
			tag, err := tx.Exec(ctx, `UPDATE destinations SET enabled = false, disabled_reason = $1, updated_at = $2
				WHERE id = $3 AND tenant_id = $4 AND enabled`, r.DisableDestination, ms(now), a.DestinationID, a.TenantID)
			if err != nil {
				return fmt.Errorf("disable destination: %w", err)
			}
			if tag.RowsAffected() > 0 {
				return s.audit(ctx, tx, a.TenantID, "destination.disable", a.DestinationID)
			}
		}
		return nil
	})
}

// nextAttempt is the stored next_attempt_at: NULL unless still pending.
func nextAttempt(r *sluice.AttemptResult) *int64 {
	if r.Status != sluice.DeliveryPending {
		return nil
	}
	return nullMS(r.NextAttemptAt)
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
