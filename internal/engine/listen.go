package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// ClaimListen keeps the tenant's listen destination alive and leases up
// to r.Limit of its due deliveries, through its gates, as ClaimDue does
// for the dispatcher's. The keep-alive is written only once less than
// half of what r.KeepUntil asks for is left, so that a listener polling
// often costs no write per poll. A destination whose ListenUntil has
// passed but that the purge has not deleted yet lives on: its listener is
// back. ENOTFOUND when the destination is not the tenant's, or not a
// listen destination.
func (s *Store) ClaimListen(ctx context.Context, r sluice.ListenClaimRequest) ([]*sluice.Claim, error) {
	claim := sluice.ClaimRequest{Now: r.Now, Limit: r.Limit, Lease: r.Lease}
	keep := func(ctx context.Context, tx Tx) error {
		d, err := tx.ShareDestination(ctx, r.TenantID, r.DestinationID)
		if err != nil {
			return err
		}
		if !d.Listening() {
			return notListening()
		}
		if r.KeepUntil.IsZero() || !d.ListenUntil.Before(r.Now.Add(r.KeepUntil.Sub(r.Now)/2)) {
			return nil
		}
		if err := tx.KeepListening(ctx, r.TenantID, r.DestinationID, r.KeepUntil); err != nil {
			return fmt.Errorf("keep listen destination: %w", err)
		}
		return nil
	}
	return s.claim(ctx, claim, keep, func(ctx context.Context, tx Tx, _, _ []string, want int) ([]ClaimCandidate, map[string]*Gate, error) {
		return tx.ListenCandidates(ctx, r.Now, r.DestinationID, want)
	})
}

// notListening is the error of a listen operation on a destination that
// is not a listen destination: to its caller there is no such listener.
func notListening() error {
	return sluice.Errorf(sluice.ENOTFOUND, "listen destination not found")
}

// ListenDeliveries returns those of the deliveries with the ids that go to
// the tenant's listen destination, each as a Claim without its Body: what
// recording an attempt of it takes (its event type, whether it recovers,
// how its payload is stored). It reads them whatever their status;
// RecordAttempts refuses an attempt of one no longer claimed.
func (s *Store) ListenDeliveries(ctx context.Context, tenantID, destinationID string, deliveryIDs []string) ([]*sluice.Claim, error) {
	d, err := s.read.Destination(ctx, tenantID, destinationID)
	if err != nil {
		return nil, err
	}
	if !d.Listening() {
		return nil, notListening()
	}
	if len(deliveryIDs) == 0 {
		return nil, nil
	}
	now := s.now()
	rows, err := s.read.LoadClaims(ctx, deliveryIDs, now)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	out := make([]*sluice.Claim, 0, len(rows))
	for _, r := range rows {
		if r.Delivery.TenantID != tenantID || r.Delivery.DestinationID != destinationID {
			continue
		}
		c := &sluice.Claim{Delivery: r.Delivery, EventType: r.EventType, ReceivedAt: r.ReceivedAt, ContentType: r.ContentType,
			Hops: r.Hops}
		if err := s.openDestinationInto(ctx, &r.Destination, &c.Destination); err != nil {
			return nil, err
		}
		switch {
		case r.UntilDelivered:
			c.Storage = sluice.StorageUntilDelivered
		case r.Body == nil && s.volatile.has(r.Delivery.EventID, now):
			c.Storage = sluice.StorageNone
		}
		out = append(out, c)
	}
	return out, nil
}

// PurgeIdleListeners deletes up to limit listen destinations whose
// listeners stopped asking for deliveries (their ListenUntil has passed at
// now) and cancels their pending deliveries, as DeleteDestination does,
// auditing each deletion in its tenant. It returns how many it deleted.
func (s *Store) PurgeIdleListeners(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		n = 0
		gone, err := tx.DeleteIdleListeners(ctx, now, limit)
		if err != nil {
			return fmt.Errorf("delete idle listen destinations: %w", err)
		}
		var eventIDs []string
		for _, d := range gone {
			ids, err := tx.CancelDeliveries(ctx, d.ID, now)
			if err != nil {
				return fmt.Errorf("cancel deliveries: %w", err)
			}
			eventIDs = append(eventIDs, ids...)
			if err := s.audit(ctx, tx, d.TenantID, "destination.delete", d.ID); err != nil {
				return err
			}
		}
		slices.Sort(eventIDs)
		if err := tx.RefreshEventStatus(ctx, slices.Compact(eventIDs)); err != nil {
			return err
		}
		n = len(gone)
		return nil
	})
	return n, err
}
