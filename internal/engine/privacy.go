package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// endPayloads deletes the events' payloads, marks those still retained
// with state, ends their pending deliveries with status and refreshes the
// events' statuses. It returns how many payloads it deleted.
func (s *Store) endPayloads(ctx context.Context, tx Tx, eventIDs []string, state sluice.PayloadState, status sluice.DeliveryStatus) (int, error) {
	if len(eventIDs) == 0 {
		return 0, nil
	}
	n, err := tx.EndPayloads(ctx, eventIDs, state, status, s.now())
	if err != nil {
		return 0, err
	}
	return n, tx.RefreshEventStatus(ctx, eventIDs)
}

// ErasePayload deletes one event's payload now and cancels its pending
// deliveries; the metadata stays, payload_state "erased". ENOTFOUND for an
// unknown event; erasing an erased payload changes nothing.
func (s *Store) ErasePayload(ctx context.Context, tenantID, eventID string) error {
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := tx.Event(ctx, tenantID, eventID); err != nil {
			return err
		}
		if _, err := s.endPayloads(ctx, tx, []string{eventID}, sluice.PayloadErased, sluice.DeliveryCancelled); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "event.payload_erase", eventID)
	})
	if err != nil {
		return err
	}
	s.volatile.forget(eventID)
	s.scrubNow(ctx, "payload erasure")
	return nil
}

// EraseSubject deletes every retained payload linked to the subject,
// cancels those events' pending deliveries, drops the links themselves and
// records the erasure under the subject's keyed hash. Repeating it erases
// nothing more.
func (s *Store) EraseSubject(ctx context.Context, tenantID string, subj sluice.Subject) (*sluice.Erasure, error) {
	hash, err := s.subjectHash(ctx, tenantID, subj)
	if err != nil {
		return nil, err
	}
	var (
		out      *sluice.Erasure
		eventIDs []string
	)
	err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		out = nil
		var err error
		eventIDs, err = tx.DeleteSubjectLinks(ctx, tenantID, hash)
		if err != nil {
			return fmt.Errorf("find subject: %w", err)
		}
		// Its key goes: every payload sealed for it can no longer be
		// opened, wherever a copy of its bytes is left.
		if err := tx.DeleteSubjectKey(ctx, tenantID, hash); err != nil {
			return fmt.Errorf("delete subject key: %w", err)
		}
		erased, err := s.endPayloads(ctx, tx, eventIDs, sluice.PayloadErased, sluice.DeliveryCancelled)
		if err != nil {
			return err
		}
		e := &ErasureRow{Erasure: sluice.Erasure{ID: sluice.NewID(sluice.PrefixErasure), TenantID: tenantID,
			EventsMatched: len(eventIDs), PayloadsErased: erased, CompletedAt: s.now()}, SubjectHash: hash}
		if err := tx.InsertErasure(ctx, e); err != nil {
			return fmt.Errorf("record erasure: %w", err)
		}
		out = &e.Erasure
		return s.audit(ctx, tx, tenantID, "subject.erase", e.ID)
	})
	s.subjectCache.forget(tenantID, hash)
	s.pseudonyms.forget() // its tokens' records went with its key
	if err != nil {
		return nil, err
	}
	s.volatile.forget(eventIDs...)
	s.scrubNow(ctx, "subject erasure")
	return out, nil
}

// Scrub has the driver remove from its files what the deletions committed
// since the last scrub left readable there (see Driver.Scrub): nothing
// when none were. The retention service calls it after every pass; what
// has to wait is left to the next (see Scrubbed).
func (s *Store) Scrub(ctx context.Context) error {
	if !s.unscrubbed.Swap(false) {
		return nil
	}
	pending, err := s.driver.Scrub(ctx)
	if pending || err != nil {
		s.unscrubbed.Store(true)
	}
	if err != nil {
		return fmt.Errorf("scrub deleted data: %w", err)
	}
	return nil
}

// Scrubbed reports whether every deletion committed in this process has
// been scrubbed from the database's files.
func (s *Store) Scrubbed() bool { return !s.unscrubbed.Load() }

// scrubNow scrubs after an erasure, which has committed whether or not
// the scrub succeeds: a failure is logged and left to the next retention
// pass's Scrub.
func (s *Store) scrubNow(ctx context.Context, after string) {
	s.unscrubbed.Store(true)
	if err := s.Scrub(ctx); err != nil {
		s.logger.ErrorContext(ctx, "scrub failed; the next retention pass retries it",
			"after", after, "error", err)
	}
}

// SubjectPayloads returns every retained payload linked to the subject,
// oldest first. One that fails its integrity check comes back with
// IntegrityError set and no body.
func (s *Store) SubjectPayloads(ctx context.Context, tenantID string, subj sluice.Subject) ([]*sluice.SubjectPayload, error) {
	hash, err := s.subjectHash(ctx, tenantID, subj)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.SubjectPayloads(ctx, tenantID, hash, s.now())
	if err != nil {
		return nil, fmt.Errorf("export subject: %w", err)
	}
	var shared []string
	for _, r := range rows {
		if r.Payload.KeyShare != nil {
			shared = append(shared, r.EventID)
		}
	}
	shares, err := s.sharesOf(ctx, shared)
	if err != nil {
		return nil, err
	}
	out := make([]*sluice.SubjectPayload, 0, len(rows))
	for _, r := range rows {
		sp := &sluice.SubjectPayload{EventID: r.EventID, Type: r.Type, ReceivedAt: r.ReceivedAt,
			Payload: sluice.Payload{ContentType: r.Payload.ContentType, ExpiresAt: r.Payload.ExpiresAt}}
		sp.Payload.Body, sp.Payload.Headers, err = s.openStoredPayload(ctx, tenantID, r.EventID, &r.Payload, shares[r.EventID])
		switch {
		case err == errSubjectErased:
			continue // another subject of it was erased since the read: it is gone
		case errors.Is(err, sluice.ErrIntegrity):
			sp.IntegrityError = true
		case err != nil:
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// Replay creates a new pending delivery of the event, due after firstDelay,
// to the one destination named or to every destination it matches now.
// ENOTFOUND for an unknown event or destination, EGONE when its payload has
// expired or was erased. A replay to a destination where the event's
// delivery was exhausted recovers it (sluice.delivery.recovered on success).
func (s *Store) Replay(ctx context.Context, tenantID, eventID, destinationID string, firstDelay time.Duration) ([]*sluice.Delivery, error) {
	var out []*sluice.Delivery
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		out = nil
		// The event stays as it is until the commit: an erasure cannot slip
		// in between the check below and the new deliveries.
		e, p, err := tx.LockEvent(ctx, tenantID, eventID)
		if err != nil {
			return err
		}
		now := s.now()
		if !retained(p, now) {
			return sluice.Errorf(sluice.EGONE, "the payload of this event has expired or was erased; it cannot be replayed")
		}
		routes, err := tx.Routes(ctx, tenantID)
		if err != nil {
			return err
		}
		announce := false
		for _, d := range routes {
			if destinationID != "" && d.ID != destinationID || destinationID == "" && (!d.Receives(e) || d.Lapsed(now)) {
				continue
			}
			if d.Customer != "" && d.Customer != e.Customer {
				// Named, but another customer's: it never gets this event.
				return sluice.Errorf(sluice.ECONFLICT, "the event is not for this destination's customer")
			}
			dl := &sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), TenantID: tenantID, EventID: eventID,
				DestinationID: d.ID, Status: sluice.DeliveryPending, NextAttemptAt: now.Add(firstDelay),
				CreatedAt: now, UpdatedAt: now}
			if dl.Recovers, err = tx.HasExhaustedDelivery(ctx, eventID, d.ID); err != nil {
				return fmt.Errorf("find exhausted delivery: %w", err)
			}
			out = append(out, dl)
			announce = announce || d.Enabled
		}
		if destinationID != "" && len(out) == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		}
		if err := tx.InsertDeliveries(ctx, out); err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
		if err := tx.RefreshEventStatus(ctx, []string{eventID}); err != nil {
			return err
		}
		if announce {
			if err := tx.AnnounceWork(ctx); err != nil {
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

// Recover gives each exhausted delivery of the destination created in
// [since, until) whose payload is still retained a new pending delivery,
// due after firstDelay, and returns how many it made. ENOTFOUND for a
// destination that is not the tenant's.
func (s *Store) Recover(ctx context.Context, tenantID, destinationID string, since, until time.Time, firstDelay time.Duration) (int, error) {
	n := 0
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		n = 0
		// The destination cannot be deleted meanwhile, nor the events
		// erased: a delivery made here is cancelled with them afterwards.
		d, err := tx.ShareDestination(ctx, tenantID, destinationID)
		if err != nil {
			return err
		}
		now := s.now()
		eventIDs, err := tx.LockRecoverableEvents(ctx, tenantID, destinationID, since, until, now)
		if err != nil {
			return fmt.Errorf("find exhausted deliveries: %w", err)
		}
		ds := make([]*sluice.Delivery, len(eventIDs))
		for i, eventID := range eventIDs {
			ds[i] = &sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), TenantID: tenantID, EventID: eventID,
				DestinationID: destinationID, Status: sluice.DeliveryPending, NextAttemptAt: now.Add(firstDelay),
				Recovers: true, CreatedAt: now, UpdatedAt: now}
		}
		if err := tx.InsertDeliveries(ctx, ds); err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
		if err := tx.RefreshEventStatus(ctx, eventIDs); err != nil {
			return err
		}
		if d.Enabled && len(eventIDs) > 0 {
			if err := tx.AnnounceWork(ctx); err != nil {
				return err
			}
		}
		n = len(eventIDs)
		return s.audit(ctx, tx, tenantID, "destination.recover", destinationID)
	})
	return n, err
}
