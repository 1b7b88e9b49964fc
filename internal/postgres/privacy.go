package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// endPayloads deletes the payloads of events, ends their pending
// deliveries with deliveryStatus, and sets the payload_state of those
// still retained to state. It returns how many payloads it deleted.
// Deliveries are changed before events, as ClaimDue and RecordAttempt do,
// so those writes wait for each other instead of deadlocking; write retries
// the rare deadlock that remains.
func (s *Store) endPayloads(ctx context.Context, tx querier, eventIDs []string, state, deliveryStatus string) (int, error) {
	if len(eventIDs) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `DELETE FROM event_payloads WHERE event_id = ANY($1)`, planEach, eventIDs)
	if err != nil {
		return 0, fmt.Errorf("delete payloads: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = $1, next_attempt_at = NULL, lease_until = NULL,
		claimed_by = NULL, updated_at = $2 WHERE event_id = ANY($3) AND status = 'pending'`,
		planEach, deliveryStatus, ms(s.now()), eventIDs); err != nil {
		return 0, fmt.Errorf("end deliveries: %w", err)
	}
	// Only a retained payload changes state: one that already expired or
	// was erased keeps saying so.
	if _, err := tx.Exec(ctx, `UPDATE events SET payload_state = $1 WHERE id = ANY($2) AND payload_state = 'retained'`,
		planEach, state, eventIDs); err != nil {
		return 0, fmt.Errorf("mark payloads %s: %w", state, err)
	}
	if err := refreshEventStatus(ctx, tx, eventIDs); err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// ErasePayload deletes one event's payload now and cancels its pending
// deliveries; the metadata stays, payload_state "erased". ENOTFOUND for an
// unknown event; erasing an erased payload changes nothing.
func (s *Store) ErasePayload(ctx context.Context, tenantID, eventID string) error {
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM events WHERE id = $1 AND tenant_id = $2`, eventID, tenantID).Scan(&one)
		if err != nil {
			return notFound(err, "event")
		}
		if _, err := s.endPayloads(ctx, tx, []string{eventID}, sluice.PayloadErased, sluice.DeliveryCancelled); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "event.payload_erase", eventID)
	})
}

// EraseSubject deletes every retained payload linked to the subject,
// cancels those events' pending deliveries, drops the links themselves and
// records the erasure under the subject's keyed hash. Repeating it erases
// nothing more.
func (s *Store) EraseSubject(ctx context.Context, tenantID string, subj sluice.Subject) (*sluice.Erasure, error) {
	hash, err := s.keys.SubjectHash(ctx, tenantID, subj)
	if err != nil {
		return nil, err
	}
	var out *sluice.Erasure
	err = s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		eventIDs, err := queryStrings(ctx, tx, `DELETE FROM subject_index WHERE tenant_id = $1 AND hash = $2 RETURNING event_id`,
			tenantID, hash)
		if err != nil {
			return fmt.Errorf("find subject: %w", err)
		}
		erased, err := s.endPayloads(ctx, tx, eventIDs, sluice.PayloadErased, sluice.DeliveryCancelled)
		if err != nil {
			return err
		}
		e := &sluice.Erasure{ID: sluice.NewID(sluice.PrefixErasure), TenantID: tenantID,
			EventsMatched: len(eventIDs), PayloadsErased: erased, CompletedAt: s.now()}
		if _, err := tx.Exec(ctx, `INSERT INTO erasures (id, tenant_id, subject_hash, events_matched,
			payloads_erased, completed_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.ID, tenantID, hash, e.EventsMatched, e.PayloadsErased, ms(e.CompletedAt)); err != nil {
			return fmt.Errorf("record erasure: %w", err)
		}
		out = e
		return s.audit(ctx, tx, tenantID, "subject.erase", e.ID)
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
	type payloadRow struct {
		sp            sluice.SubjectPayload
		received, exp int64
		headers, body []byte
	}
	raw, err := queryAll(ctx, s.pool, "subject payloads", `SELECT e.id, e.type, e.received_at, p.content_type, p.headers, p.body, p.expires_at
		FROM subject_index si
		JOIN events e ON e.id = si.event_id
		JOIN event_payloads p ON p.event_id = e.id
		WHERE si.tenant_id = $1 AND si.hash = $2 AND e.payload_state = 'retained' AND p.expires_at > $3
		ORDER BY e.id`, []any{tenantID, hash, ms(s.now())}, func(row scanner) (*payloadRow, error) {
		r := &payloadRow{}
		return r, row.Scan(&r.sp.EventID, &r.sp.Type, &r.received, &r.sp.Payload.ContentType, &r.headers, &r.body, &r.exp)
	}, asIs)
	if err != nil {
		return nil, err
	}
	out := make([]*sluice.SubjectPayload, 0, len(raw))
	for _, r := range raw {
		sp := &r.sp
		sp.ReceivedAt, sp.Payload.ExpiresAt = fromMS(r.received), fromMS(r.exp)
		sp.Payload.Body, sp.Payload.Headers, err = s.keys.OpenPayload(ctx, tenantID, sp.EventID, r.body, r.headers)
		if errors.Is(err, sluice.ErrIntegrity) {
			sp.IntegrityError = true
		} else if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// Replay creates a new pending delivery of the event, due after firstDelay,
// to the one destination named or to every destination it matches now.
// ENOTFOUND for an unknown event or destination, EGONE when its payload has
// expired or was erased.
func (s *Store) Replay(ctx context.Context, tenantID, eventID, destinationID string, firstDelay time.Duration) ([]*sluice.Delivery, error) {
	var out []*sluice.Delivery
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		var (
			typ, sourceID, state string
			expires              *int64
		)
		// The event's lock keeps an erasure from slipping in between the
		// check below and the new deliveries.
		err := tx.QueryRow(ctx, `SELECT e.type, e.source_id, e.payload_state, p.expires_at
			FROM events e LEFT JOIN event_payloads p ON p.event_id = e.id WHERE e.id = $1 AND e.tenant_id = $2
			FOR NO KEY UPDATE OF e`,
			eventID, tenantID).Scan(&typ, &sourceID, &state, &expires)
		if err != nil {
			return notFound(err, "event")
		}
		now := s.now()
		if state != sluice.PayloadRetained || expires == nil || !now.Before(fromMS(*expires)) {
			return sluice.Errorf(sluice.EGONE, "the payload of this event has expired or was erased; it cannot be replayed")
		}
		dests, err := s.tenantRoutes(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		var targets []*sluice.Destination
		for _, d := range dests {
			if (destinationID == "" && d.Matches(typ, sourceID)) || d.ID == destinationID {
				targets = append(targets, d)
			}
		}
		if destinationID != "" && len(targets) == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		}
		notify := false
		for _, t := range targets {
			d := &sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), TenantID: tenantID, EventID: eventID,
				DestinationID: t.ID, Status: sluice.DeliveryPending, NextAttemptAt: now.Add(firstDelay),
				CreatedAt: now, UpdatedAt: now}
			// A replay to where the event was exhausted recovers it.
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries
				WHERE event_id = $1 AND destination_id = $2 AND status = 'exhausted')`, eventID, t.ID).Scan(&d.Recovers); err != nil {
				return fmt.Errorf("find exhausted delivery: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status,
				attempts, next_attempt_at, recovers, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8)`,
				d.ID, tenantID, eventID, t.ID, ms(d.NextAttemptAt), d.Recovers, ms(now), ms(now)); err != nil {
				return fmt.Errorf("insert delivery: %w", err)
			}
			out = append(out, d)
			notify = notify || t.Enabled
		}
		if err := refreshEventStatus(ctx, tx, []string{eventID}); err != nil {
			return err
		}
		if notify {
			if err := s.notifyWork(ctx, tx); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, tenantID, "event.replay", eventID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PurgeExpiredPayloads deletes up to limit payloads whose expiry is at or
// before now (their events become payload_state "expired" and their
// pending deliveries "expired") and returns how many it deleted. Purges
// running at once in several processes take different payloads.
func (s *Store) PurgeExpiredPayloads(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n = 0
		ids, err := queryStrings(ctx, tx, `SELECT event_id FROM event_payloads WHERE expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, ms(now), limit)
		if err != nil {
			return fmt.Errorf("find expired payloads: %w", err)
		}
		n, err = s.endPayloads(ctx, tx, ids, sluice.PayloadExpired, sluice.DeliveryExpired)
		return err
	})
	return n, err
}

// PurgeMetadata deletes up to limit events received before cutoff; their
// payloads, deliveries, attempts and subject links go with them. It
// returns how many events it deleted.
func (s *Store) PurgeMetadata(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM events WHERE id IN
			(SELECT id FROM events WHERE received_at < $1 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			ms(cutoff), limit)
		if err != nil {
			return fmt.Errorf("purge metadata: %w", err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, err
}

// Recover re-queues the destination's exhausted deliveries in a window as
// new deliveries, leaving the exhausted ones as they were.
func (s *Store) Recover(ctx context.Context, tenantID, destinationID string, since, until time.Time, firstDelay time.Duration) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n = 0
		var enabled bool
		if err := tx.QueryRow(ctx, `SELECT enabled FROM destinations WHERE id = $1 AND tenant_id = $2 FOR KEY SHARE`,
			destinationID, tenantID).Scan(&enabled); err != nil {
			return notFound(err, "destination")
		}
		now := s.now()
		// The events' locks keep an erasure from slipping in between the
		// check of their payloads and the new deliveries.
		rows, err := tx.Query(ctx, `SELECT e.id FROM events e
			JOIN event_payloads p ON p.event_id = e.id
			WHERE e.tenant_id = $1 AND e.payload_state = 'retained' AND p.expires_at > $5
				AND e.id IN (SELECT d.event_id FROM deliveries d WHERE d.destination_id = $2 AND d.tenant_id = $1
					AND d.status = 'exhausted' AND d.created_at >= $3 AND d.created_at < $4)
			ORDER BY e.id FOR NO KEY UPDATE OF e`,
			tenantID, destinationID, ms(since), ms(until), ms(now))
		if err != nil {
			return fmt.Errorf("find exhausted deliveries: %w", err)
		}
		eventIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("find exhausted deliveries: %w", err)
		}
		for _, eventID := range eventIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status,
				attempts, next_attempt_at, recovers, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, true, $6, $7)`,
				sluice.NewID(sluice.PrefixDelivery), tenantID, eventID, destinationID, ms(now.Add(firstDelay)), ms(now), ms(now)); err != nil {
				return fmt.Errorf("insert delivery: %w", err)
			}
		}
		if err := refreshEventStatus(ctx, tx, eventIDs); err != nil {
			return err
		}
		if enabled && len(eventIDs) > 0 {
			if err := s.notifyWork(ctx, tx); err != nil {
				return err
			}
		}
		n = len(eventIDs)
		return s.audit(ctx, tx, tenantID, "destination.recover", destinationID)
	})
	return n, err
}
