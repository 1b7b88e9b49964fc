package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

// ClaimDue leases due pending deliveries of enabled destinations.
//
// A claim moves next_attempt_at to the end of the lease, so a delivery whose
// dispatcher died simply becomes due again when the lease ends; lease_until
// marks it as claimed until its attempt is recorded.
func (s *Store) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	var claims []*sluice.Claim
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		claims = claims[:0]
		leaseUntil := ms(r.Now.Add(r.Lease))
		q := `UPDATE deliveries SET next_attempt_at = ?, lease_until = ?, updated_at = ?
			WHERE id IN (SELECT d.id FROM deliveries d JOIN destinations t ON t.id = d.destination_id
				WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND t.enabled = 1`
		args := []any{leaseUntil, leaseUntil, ms(r.Now), ms(r.Now)}
		if len(r.SkipDestinations) > 0 {
			q += ` AND d.destination_id NOT IN (?` + strings.Repeat(`, ?`, len(r.SkipDestinations)-1) + `)`
			for _, id := range r.SkipDestinations {
				args = append(args, id)
			}
		}
		q += ` ORDER BY d.next_attempt_at LIMIT ?) RETURNING id`
		args = append(args, r.Limit)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		ids, err := collectStrings(rows)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		claims, err = s.loadClaims(ctx, tx, ids, r.Now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// loadClaims reads what the dispatcher needs for claimed deliveries. One whose
// payload is gone or past its expiry cannot be sent: it becomes expired
// instead of a claim.
func (s *Store) loadClaims(ctx context.Context, tx querier, ids []string, now time.Time) ([]*sluice.Claim, error) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, ms(now))
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.tenant_id, d.event_id, d.destination_id, d.attempts,
		d.next_attempt_at, d.created_at, d.updated_at, e.type, p.body, p.content_type, `+prefixed("t.", destinationColumns)+`
		FROM deliveries d
		JOIN events e ON e.id = d.event_id
		JOIN destinations t ON t.id = d.destination_id
		LEFT JOIN event_payloads p ON p.event_id = d.event_id AND e.payload_state = 'retained' AND p.expires_at > ?
		WHERE d.id IN (?`+strings.Repeat(`, ?`, len(ids)-1)+`) ORDER BY d.next_attempt_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("load claims: %w", err)
	}
	defer rows.Close()
	claims := make([]*sluice.Claim, 0, len(ids))
	var expired []*sluice.Claim
	for rows.Next() {
		c := &sluice.Claim{}
		var next sql.NullInt64
		var created, updated int64
		var body []byte
		var contentType sql.NullString
		var dest storekit.DestinationRow
		scan := append([]any{&c.Delivery.ID, &c.Delivery.TenantID, &c.Delivery.EventID, &c.Delivery.DestinationID,
			&c.Delivery.Attempts, &next, &created, &updated, &c.EventType, &body, &contentType}, dest.Targets()...)
		if err := rows.Scan(scan...); err != nil {
			return nil, fmt.Errorf("scan claim: %w", err)
		}
		d, err := dest.Decode(ctx, s.keys)
		if err != nil {
			return nil, err
		}
		c.Destination = *d
		c.Delivery.Status = sluice.DeliveryPending
		c.Delivery.NextAttemptAt, c.Delivery.CreatedAt, c.Delivery.UpdatedAt = fromNullMS(next), fromMS(created), fromMS(updated)
		if body == nil {
			expired = append(expired, c)
			continue
		}
		if c.Body, _, err = s.keys.OpenPayload(ctx, c.Delivery.TenantID, c.Delivery.EventID, body, nil); err != nil {
			// A payload that fails its integrity check cannot be sent; it
			// ends like a payload that is gone.
			s.logger.Error("payload failed its integrity check", "event_id", c.Delivery.EventID, "error", err)
			expired = append(expired, c)
			continue
		}
		c.ContentType = contentType.String
		claims = append(claims, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load claims: %w", err)
	}
	rows.Close()
	for _, c := range expired {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'expired', next_attempt_at = NULL,
			lease_until = NULL, updated_at = ? WHERE id = ?`, ms(s.now()), c.Delivery.ID); err != nil {
			return nil, fmt.Errorf("expire delivery: %w", err)
		}
		if err := refreshEventStatus(ctx, tx, c.Delivery.EventID); err != nil {
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

// RecordAttempt stores an attempt and moves its delivery on.
func (s *Store) RecordAttempt(ctx context.Context, r *sluice.AttemptResult) error {
	a := r.Attempt
	return s.write(ctx, func(ctx context.Context, tx querier) error {
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
		if r.DisableDestination != "" {
			delete(s.routes, a.TenantID)
			res, err := tx.ExecContext(ctx, `UPDATE destinations SET enabled = 0, disabled_reason = ?, updated_at = ?
				WHERE id = ? AND tenant_id = ? AND enabled = 1`, r.DisableDestination, ms(now), a.DestinationID, a.TenantID)
			if err != nil {
				return fmt.Errorf("disable destination: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				return s.audit(ctx, tx, a.TenantID, "destination.disable", a.DestinationID)
			}
		}
		return nil
	})
}

// nextAttempt is the stored next_attempt_at: NULL unless still pending.
func nextAttempt(r *sluice.AttemptResult) sql.NullInt64 {
	if r.Status != sluice.DeliveryPending {
		return sql.NullInt64{}
	}
	return nullMS(r.NextAttemptAt)
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
