package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// endPayloads deletes the payloads of events, sets the payload_state of
// those still retained to state, and ends their pending deliveries with
// deliveryStatus. It returns how many payloads it deleted.
func (s *Store) endPayloads(ctx context.Context, tx querier, eventIDs []string, state, deliveryStatus string) (int, error) {
	if len(eventIDs) == 0 {
		return 0, nil
	}
	in, args := placeholders(len(eventIDs)), anys(eventIDs)
	res, err := tx.ExecContext(ctx, `DELETE FROM event_payloads WHERE event_id IN (`+in+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete payloads: %w", err)
	}
	deleted, _ := res.RowsAffected()
	// Only a retained payload changes state: one that already expired or
	// was erased keeps saying so.
	if _, err := tx.ExecContext(ctx, `UPDATE events SET payload_state = ? WHERE id IN (`+in+`) AND payload_state = 'retained'`,
		append([]any{state}, args...)...); err != nil {
		return 0, fmt.Errorf("mark payloads %s: %w", state, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, next_attempt_at = NULL, lease_until = NULL,
		updated_at = ? WHERE event_id IN (`+in+`) AND status = 'pending'`,
		append([]any{deliveryStatus, ms(s.now())}, args...)...); err != nil {
		return 0, fmt.Errorf("end deliveries: %w", err)
	}
	for _, id := range eventIDs {
		if err := refreshEventStatus(ctx, tx, id); err != nil {
			return 0, err
		}
	}
	return int(deleted), nil
}

// ErasePayload deletes one event's payload now and cancels its pending
// deliveries.
func (s *Store) ErasePayload(ctx context.Context, tenantID, eventID string) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = ? AND tenant_id = ?`, eventID, tenantID).Scan(&one)
		if err != nil {
			return notFound(err, "event")
		}
		if _, err := s.endPayloads(ctx, tx, []string{eventID}, sluice.PayloadErased, sluice.DeliveryCancelled); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "event.payload_erase", eventID)
	})
}

// EraseSubject erases every payload linked to the subject and drops the
// links themselves, keeping only the erasure record.
func (s *Store) EraseSubject(ctx context.Context, tenantID string, subj sluice.Subject) (*sluice.Erasure, error) {
	hash, err := s.keys.SubjectHash(ctx, tenantID, subj)
	if err != nil {
		return nil, err
	}
	var out *sluice.Erasure
	err = s.write(ctx, func(ctx context.Context, tx querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT event_id FROM subject_index WHERE tenant_id = ? AND hash = ?`, tenantID, hash)
		if err != nil {
			return fmt.Errorf("find subject: %w", err)
		}
		eventIDs, err := collectStrings(rows)
		if err != nil {
			return fmt.Errorf("find subject: %w", err)
		}
		erased, err := s.endPayloads(ctx, tx, eventIDs, sluice.PayloadErased, sluice.DeliveryCancelled)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subject_index WHERE tenant_id = ? AND hash = ?`, tenantID, hash); err != nil {
			return fmt.Errorf("drop subject links: %w", err)
		}
		out = &sluice.Erasure{ID: sluice.NewID(sluice.PrefixErasure), TenantID: tenantID,
			EventsMatched: len(eventIDs), PayloadsErased: erased, CompletedAt: s.now()}
		if _, err := tx.ExecContext(ctx, `INSERT INTO erasures (id, tenant_id, subject_hash, events_matched,
			payloads_erased, completed_at) VALUES (?, ?, ?, ?, ?, ?)`,
			out.ID, tenantID, hash, out.EventsMatched, out.PayloadsErased, ms(out.CompletedAt)); err != nil {
			return fmt.Errorf("record erasure: %w", err)
		}
		return s.audit(ctx, tx, tenantID, "subject.erase", out.ID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SubjectPayloads returns every retained payload linked to the subject,
// oldest first. One that fails its integrity check comes back with
// IntegrityError set and no body.
func (s *Store) SubjectPayloads(ctx context.Context, tenantID string, subj sluice.Subject) ([]*sluice.SubjectPayload, error) {
	hash, err := s.keys.SubjectHash(ctx, tenantID, subj)
	if err != nil {
		return nil, err
	}
	rows, err := s.readDB.QueryContext(ctx, `SELECT e.id, e.type, e.received_at, p.content_type, p.headers, p.body, p.expires_at
		FROM subject_index si
		JOIN events e ON e.id = si.event_id
		JOIN event_payloads p ON p.event_id = e.id
		WHERE si.tenant_id = ? AND si.hash = ? AND e.payload_state = 'retained' AND p.expires_at > ?
		ORDER BY e.id`, tenantID, hash, ms(s.now()))
	if err != nil {
		return nil, fmt.Errorf("export subject: %w", err)
	}
	defer rows.Close()
	var out []*sluice.SubjectPayload
	for rows.Next() {
		var (
			sp            sluice.SubjectPayload
			received, exp int64
			headers, body []byte
		)
		if err := rows.Scan(&sp.EventID, &sp.Type, &received, &sp.Payload.ContentType, &headers, &body, &exp); err != nil {
			return nil, fmt.Errorf("export subject: %w", err)
		}
		sp.ReceivedAt, sp.Payload.ExpiresAt = fromMS(received), fromMS(exp)
		sp.Payload.Body, sp.Payload.Headers, err = s.keys.OpenPayload(ctx, tenantID, sp.EventID, body, headers)
		if errors.Is(err, sluice.ErrIntegrity) {
			sp.IntegrityError = true
		} else if err != nil {
			return nil, err
		}
		out = append(out, &sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export subject: %w", err)
	}
	return out, nil
}

// Replay creates new pending deliveries of a retained event.
func (s *Store) Replay(ctx context.Context, tenantID, eventID, destinationID string, firstDelay time.Duration) ([]*sluice.Delivery, error) {
	var out []*sluice.Delivery
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		out = nil
		var (
			typ, sourceID, state string
			expires              sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT e.type, e.source_id, e.payload_state, p.expires_at
			FROM events e LEFT JOIN event_payloads p ON p.event_id = e.id WHERE e.id = ? AND e.tenant_id = ?`,
			eventID, tenantID).Scan(&typ, &sourceID, &state, &expires)
		if err != nil {
			return notFound(err, "event")
		}
		now := s.now()
		if state != sluice.PayloadRetained || !expires.Valid || !now.Before(fromMS(expires.Int64)) {
			return sluice.Errorf(sluice.EGONE, "the payload of this event has expired or was erased; it cannot be replayed")
		}
		dests, err := s.tenantRoutes(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		var targets []string
		for _, d := range dests {
			if (destinationID == "" && d.Matches(typ, sourceID)) || d.ID == destinationID {
				targets = append(targets, d.ID)
			}
		}
		if destinationID != "" && len(targets) == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		}
		for _, destID := range targets {
			d := &sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), TenantID: tenantID, EventID: eventID,
				DestinationID: destID, Status: sluice.DeliveryPending, NextAttemptAt: now.Add(firstDelay),
				CreatedAt: now, UpdatedAt: now}
			// A replay to where the event was exhausted recovers it.
			// By event: a destination may have a long list of exhausted deliveries.
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_event
				WHERE event_id = ? AND destination_id = ? AND status = 'exhausted')`, eventID, destID).Scan(&d.Recovers); err != nil {
				return fmt.Errorf("find exhausted delivery: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status,
				attempts, next_attempt_at, recovers, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
				d.ID, tenantID, eventID, destID, ms(d.NextAttemptAt), d.Recovers, ms(now), ms(now)); err != nil {
				return fmt.Errorf("insert delivery: %w", err)
			}
			out = append(out, d)
		}
		if err := refreshEventStatus(ctx, tx, eventID); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "event.replay", eventID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PurgeExpiredPayloads deletes up to limit payloads past their expiry.
func (s *Store) PurgeExpiredPayloads(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT event_id FROM event_payloads WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`,
			ms(now), limit)
		if err != nil {
			return fmt.Errorf("find expired payloads: %w", err)
		}
		ids, err := collectStrings(rows)
		if err != nil {
			return fmt.Errorf("find expired payloads: %w", err)
		}
		n, err = s.endPayloads(ctx, tx, ids, sluice.PayloadExpired, sluice.DeliveryExpired)
		return err
	})
	return n, err
}

// PurgeMetadata deletes up to limit events received before cutoff; their
// payloads, deliveries, attempts and subject links go with them.
func (s *Store) PurgeMetadata(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id IN
			(SELECT id FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?)`, ms(cutoff), limit)
		if err != nil {
			return fmt.Errorf("purge metadata: %w", err)
		}
		deleted, _ := res.RowsAffected()
		n = int(deleted)
		return nil
	})
	return n, err
}

// Recover re-queues the destination's exhausted deliveries in a window as
// new deliveries, leaving the exhausted ones as they were.
func (s *Store) Recover(ctx context.Context, tenantID, destinationID string, since, until time.Time, firstDelay time.Duration) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		n = 0
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM destinations WHERE id = ? AND tenant_id = ?`,
			destinationID, tenantID).Scan(&one); err != nil {
			return notFound(err, "destination")
		}
		now := s.now()
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT d.event_id FROM deliveries d
			JOIN events e ON e.id = d.event_id
			JOIN event_payloads p ON p.event_id = d.event_id
			WHERE d.destination_id = ? AND d.tenant_id = ? AND d.status = 'exhausted'
				AND d.created_at >= ? AND d.created_at < ?
				AND e.payload_state = 'retained' AND p.expires_at > ?`,
			destinationID, tenantID, ms(since), ms(until), ms(now))
		if err != nil {
			return fmt.Errorf("find exhausted deliveries: %w", err)
		}
		eventIDs, err := collectStrings(rows)
		if err != nil {
			return fmt.Errorf("find exhausted deliveries: %w", err)
		}
		for _, eventID := range eventIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status,
				attempts, next_attempt_at, recovers, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, 1, ?, ?)`,
				sluice.NewID(sluice.PrefixDelivery), tenantID, eventID, destinationID, ms(now.Add(firstDelay)), ms(now), ms(now)); err != nil {
				return fmt.Errorf("insert delivery: %w", err)
			}
			if err := refreshEventStatus(ctx, tx, eventID); err != nil {
				return err
			}
		}
		n = len(eventIDs)
		return s.audit(ctx, tx, tenantID, "destination.recover", destinationID)
	})
	return n, err
}
