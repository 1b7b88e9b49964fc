package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

const eventColumns = storekit.EventColumnList

// CreateEvent stores an event, its payload and its deliveries together.
func (s *Store) CreateEvent(ctx context.Context, in *sluice.NewEvent, firstDelay time.Duration) (*sluice.Event, bool, error) {
	sealed, err := s.keys.SealEvent(ctx, in)
	if err != nil {
		return nil, false, err
	}
	var (
		out       *sluice.Event
		duplicate bool
	)
	err = s.write(ctx, func(ctx context.Context, tx querier) error {
		out, duplicate = nil, false
		e := in.Event
		_, inserted, err := s.insertEvent(ctx, tx, &e, in, sealed, firstDelay)
		if err != nil {
			return err
		}
		if !inserted {
			if sealed.Dedup == nil {
				// Without a dedup key nothing lets the insert do nothing.
				return errors.New("insert event: no row written")
			}
			first, err := storekit.ScanEvent(tx.QueryRowContext(ctx,
				`SELECT `+eventColumns+` FROM events WHERE tenant_id = ? AND dedup_key = ?`, e.TenantID, *sealed.Dedup))
			if err != nil {
				return fmt.Errorf("find duplicate: %w", err)
			}
			out, duplicate = first, true
			return nil
		}
		if err := s.observe(ctx, tx, in); err != nil {
			return err
		}
		out = &e
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, duplicate, nil
}

// insertEvent writes a new event with its payload, subject links and one
// pending delivery per matching destination, due after firstDelay, those it
// may claimed for in.Claim (see sluice.ClaimedAtBirth), inside a write. It
// sets e's status and payload state and in.Claims. It reports whether it
// made deliveries for the dispatcher to claim, and false for inserted,
// having written nothing, when the event's dedup key is taken.
//
// The dedup key is checked by the insert itself, against the unique index
// it has to search anyway: a key seen before costs a lookup afterwards, a
// new one (nearly every ingested webhook) none.
func (s *Store) insertEvent(ctx context.Context, tx querier, e *sluice.Event, in *sluice.NewEvent,
	sealed *storekit.SealedEvent, firstDelay time.Duration) (wake, inserted bool, err error) {
	in.Claims, in.Unclaimed = nil, false
	dests, err := s.tenantRoutes(ctx, tx, e.TenantID)
	if err != nil {
		return false, false, err
	}
	now := s.now()
	var matched []*sluice.Destination
	for _, d := range dests {
		if d.Matches(e.Type, e.SourceID) {
			matched = append(matched, d)
		}
	}
	e.Status, e.PayloadState = sluice.EventUnrouted, sluice.PayloadRetained
	if len(matched) > 0 {
		e.Status = sluice.EventPending
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO events (`+eventColumns+`, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
		e.ID, e.TenantID, e.Type, string(e.Direction), e.SourceID, e.Status, e.PayloadState, ms(e.ReceivedAt), sealed.Dedup)
	if err != nil {
		return false, false, fmt.Errorf("insert event: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_payloads (event_id, tenant_id, content_type, headers, body, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, e.TenantID, in.Payload.ContentType, sealed.Headers, sealed.Body, ms(in.Payload.ExpiresAt)); err != nil {
		return false, false, fmt.Errorf("insert payload: %w", err)
	}
	for _, h := range sealed.SubjectHashes {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO subject_index (tenant_id, hash, event_id) VALUES (?, ?, ?)`,
			e.TenantID, h, e.ID); err != nil {
			return false, false, fmt.Errorf("index subject: %w", err)
		}
	}
	due := ms(now.Add(firstDelay))
	taken := map[string]int{}
	for _, d := range matched {
		id := sluice.NewID(sluice.PrefixDelivery)
		if !sluice.ClaimedAtBirth(in.Claim, d, firstDelay, taken) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status,
				attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
				id, e.TenantID, e.ID, d.ID, due, ms(now), ms(now)); err != nil {
				return false, false, fmt.Errorf("insert delivery: %w", err)
			}
			in.Unclaimed = in.Unclaimed || d.Enabled
			continue
		}
		leaseEnd := ms(in.Claim.Now.Add(in.Claim.Lease))
		if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status,
			attempts, next_attempt_at, lease_until, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
			id, e.TenantID, e.ID, d.ID, leaseEnd, leaseEnd, ms(now), ms(now)); err != nil {
			return false, false, fmt.Errorf("insert delivery: %w", err)
		}
		taken[d.ID]++
		in.Claims = append(in.Claims, storekit.NewClaim(id, e, d, in.Payload, now))
	}
	return in.Unclaimed, true, nil
}

// Event returns an event's metadata or ENOTFOUND.
func (s *Store) Event(ctx context.Context, tenantID, id string) (*sluice.Event, error) {
	e, err := storekit.ScanEvent(s.readDB.QueryRowContext(ctx,
		`SELECT `+eventColumns+` FROM events WHERE id = ? AND tenant_id = ?`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "event")
	}
	return e, nil
}

// Events lists a tenant's events, newest first.
func (s *Store) Events(ctx context.Context, tenantID string, f sluice.EventFilter) ([]*sluice.Event, string, error) {
	query := `SELECT ` + eventColumns + ` FROM events WHERE tenant_id = ?`
	args := []any{tenantID}
	for _, c := range []struct{ column, value string }{
		{"type", f.Type}, {"source_id", f.SourceID}, {"status", f.Status},
	} {
		if c.value != "" {
			query += ` AND ` + c.column + ` = ?`
			args = append(args, c.value)
		}
	}
	if !f.Since.IsZero() {
		query += ` AND received_at >= ?`
		args = append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		query += ` AND received_at < ?`
		args = append(args, ms(f.Until))
	}
	return listPage(ctx, s.readDB, "events", query, args, f.Page, storekit.ScanEvent, func(e *sluice.Event) string { return e.ID })
}

// RetainedPayloads counts the tenant's retained payloads and finds the
// earliest expiry.
func (s *Store) RetainedPayloads(ctx context.Context, tenantID string) (int, time.Time, error) {
	var n int
	var next sql.NullInt64
	if err := s.readDB.QueryRowContext(ctx, `SELECT COUNT(*), MIN(expires_at) FROM event_payloads WHERE tenant_id = ?`,
		tenantID).Scan(&n, &next); err != nil {
		return 0, time.Time{}, fmt.Errorf("count payloads: %w", err)
	}
	return n, fromNullMS(next), nil
}

// Payload returns an event's payload: ENOTFOUND for an unknown event, EGONE
// when it has expired or was erased.
func (s *Store) Payload(ctx context.Context, tenantID, eventID string) (*sluice.Payload, error) {
	var state string
	var contentType sql.NullString
	var headers, body []byte
	var expires sql.NullInt64
	err := s.readDB.QueryRowContext(ctx, `SELECT e.payload_state, p.content_type, p.headers, p.body, p.expires_at
		FROM events e LEFT JOIN event_payloads p ON p.event_id = e.id WHERE e.id = ? AND e.tenant_id = ?`,
		eventID, tenantID).Scan(&state, &contentType, &headers, &body, &expires)
	if err != nil {
		return nil, notFound(err, "event")
	}
	if state != sluice.PayloadRetained || !expires.Valid || !s.now().Before(fromMS(expires.Int64)) {
		return nil, sluice.Errorf(sluice.EGONE, "the payload of this event has expired or was erased")
	}
	p := &sluice.Payload{ContentType: contentType.String, ExpiresAt: fromMS(expires.Int64)}
	if p.Body, p.Headers, err = s.keys.OpenPayload(ctx, tenantID, eventID, body, headers); err != nil {
		return nil, err
	}
	return p, nil
}

// eventExists returns ENOTFOUND unless the tenant has the event.
func (s *Store) eventExists(ctx context.Context, tenantID, eventID string) error {
	var one int
	err := s.readDB.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = ? AND tenant_id = ?`, eventID, tenantID).Scan(&one)
	return notFound(err, "event")
}

// Deliveries lists an event's deliveries, oldest first.
func (s *Store) Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error) {
	if err := s.eventExists(ctx, tenantID, eventID); err != nil {
		return nil, err
	}
	rows, err := s.readDB.QueryContext(ctx, `SELECT id, tenant_id, event_id, destination_id, status, attempts,
		next_attempt_at, created_at, updated_at FROM deliveries WHERE event_id = ? AND tenant_id = ? ORDER BY id`,
		eventID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []*sluice.Delivery
	for rows.Next() {
		var d sluice.Delivery
		var next sql.NullInt64
		var created, updated int64
		if err := rows.Scan(&d.ID, &d.TenantID, &d.EventID, &d.DestinationID, &d.Status, &d.Attempts,
			&next, &created, &updated); err != nil {
			return nil, fmt.Errorf("scan delivery: %w", err)
		}
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNullMS(next), fromMS(created), fromMS(updated)
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Attempts lists an event's attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error) {
	if err := s.eventExists(ctx, tenantID, eventID); err != nil {
		return nil, err
	}
	rows, err := s.readDB.QueryContext(ctx, `SELECT id, tenant_id, delivery_id, event_id, destination_id, attempt,
		outcome, http_status, duration_ms, error, at FROM attempts WHERE event_id = ? AND tenant_id = ? ORDER BY id`,
		eventID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	defer rows.Close()
	var out []*sluice.Attempt
	for rows.Next() {
		var a sluice.Attempt
		var durationMS, at int64
		if err := rows.Scan(&a.ID, &a.TenantID, &a.DeliveryID, &a.EventID, &a.DestinationID, &a.Number,
			&a.Outcome, &a.HTTPStatus, &durationMS, &a.Error, &at); err != nil {
			return nil, fmt.Errorf("scan attempt: %w", err)
		}
		a.Duration, a.At = time.Duration(durationMS)*time.Millisecond, fromMS(at)
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return out, nil
}

// refreshEventStatus recomputes an event's status from its deliveries.
func refreshEventStatus(ctx context.Context, tx querier, eventID string) error {
	// One pass over the event's deliveries; an aggregate without rows
	// still yields one row, with a zero count.
	_, err := tx.ExecContext(ctx, `UPDATE events SET status = (SELECT CASE
		WHEN SUM(status = 'pending') > 0 THEN 'pending'
		WHEN SUM(status = 'exhausted') > 0 THEN 'failed'
		WHEN SUM(status = 'succeeded') > 0 THEN 'delivered'
		WHEN COUNT(*) > 0 THEN 'cancelled'
		ELSE 'unrouted' END
		FROM deliveries WHERE event_id = ?1)
		WHERE id = ?1`, eventID)
	if err != nil {
		return fmt.Errorf("refresh event status: %w", err)
	}
	return nil
}

// observe stores the event's observations it has not yet (see
// storekit.Observe).
func (s *Store) observe(ctx context.Context, tx querier, in *sluice.NewEvent) error {
	return storekit.Observe(in, func(o sluice.Observation) (bool, error) {
		var one int
		err := tx.QueryRowContext(ctx, `INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1`,
			in.Event.TenantID, o.SourceID, o.EventType, o.Kind, o.Name, ms(in.Event.ReceivedAt)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
}

// Observations lists the tenant's observations, by source, type, kind and
// name.
func (s *Store) Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error) {
	return queryAll(ctx, s.readDB, "observations", `SELECT source_id, event_type, kind, name, first_seen
		FROM observations WHERE tenant_id = ? ORDER BY source_id, event_type, kind, name`, []any{tenantID},
		func(row scanner) (*sluice.Observation, error) {
			o := &sluice.Observation{}
			var first int64
			err := row.Scan(&o.SourceID, &o.EventType, &o.Kind, &o.Name, &first)
			o.FirstSeen = fromMS(first)
			return o, err
		})
}
