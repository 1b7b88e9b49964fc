package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// CreateSource stores src.
func (s *Store) CreateSource(ctx context.Context, src *sluice.Source) error {
	now := s.now()
	src.CreatedAt, src.UpdatedAt = now, now
	r, err := s.sealSource(ctx, src)
	if err != nil {
		return err
	}
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertSource(ctx, r); err != nil {
			return fmt.Errorf("insert source: %w", err)
		}
		return s.auditDiff(ctx, tx, src.TenantID, "source.create", src.ID, nil, sourceFields(src))
	})
}

// Source returns one of a tenant's sources or ENOTFOUND.
func (s *Store) Source(ctx context.Context, tenantID, id string) (*sluice.Source, error) {
	r, err := s.read.Source(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return s.openSource(ctx, r)
}

// IngestSource returns a source by id alone, for the unauthenticated
// ingest endpoint: ENOTFOUND if there is none.
func (s *Store) IngestSource(ctx context.Context, id string) (*sluice.Source, error) {
	r, err := s.read.SourceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.openSource(ctx, r)
}

// Sources lists a tenant's sources, newest first.
func (s *Store) Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Source, string, error) {
	rows, next, err := s.read.Sources(ctx, tenantID, page)
	if err != nil {
		return nil, "", err
	}
	out, err := openAll(ctx, rows, s.openSource)
	return out, next, err
}

// UpdateSource stores every field of src; ENOTFOUND if it is gone.
func (s *Store) UpdateSource(ctx context.Context, src *sluice.Source) error {
	src.UpdatedAt = s.now()
	r, err := s.sealSource(ctx, src)
	if err != nil {
		return err
	}
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		old, err := s.lockSource(ctx, tx, src.TenantID, src.ID)
		if err != nil {
			return err
		}
		if err := tx.UpdateSource(ctx, r); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, src.TenantID, "source.update", src.ID, sourceFields(old), sourceFields(src))
	})
}

// DeleteSource removes a source; its events stay. ENOTFOUND if none.
func (s *Store) DeleteSource(ctx context.Context, tenantID, id string) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		old, err := s.lockSource(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteSource(ctx, tenantID, id); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, tenantID, "source.delete", id, sourceFields(old), nil)
	})
}

// lockSource reads one of the tenant's sources in tx to change it, its
// secrets opened: what its audit entry compares the change with.
func (s *Store) lockSource(ctx context.Context, tx Tx, tenantID, id string) (*sluice.Source, error) {
	r, err := tx.LockSource(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return s.openSource(ctx, r)
}

// CreateDestination stores d, of KindHTTP unless it says otherwise. A
// listen destination lives until its ListenUntil; any other has none.
func (s *Store) CreateDestination(ctx context.Context, d *sluice.Destination) error {
	now := s.now()
	d.CreatedAt, d.UpdatedAt = now, now
	switch d.Kind {
	case "", sluice.KindHTTP:
		d.Kind, d.ListenUntil = sluice.KindHTTP, time.Time{}
	case sluice.KindListen:
		if d.ListenUntil.IsZero() {
			return sluice.Errorf(sluice.EINVALID, "a listen destination needs a time to live until")
		}
	default:
		return sluice.Errorf(sluice.EINVALID, "kind: must be %s or %s", sluice.KindHTTP, sluice.KindListen)
	}
	r, err := s.sealDestination(ctx, d)
	if err != nil {
		return err
	}
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertDestination(ctx, r); err != nil {
			return fmt.Errorf("insert destination: %w", err)
		}
		return s.auditDiff(ctx, tx, d.TenantID, "destination.create", d.ID, nil, destinationFields(d))
	})
}

// Destination returns one destination or ENOTFOUND.
func (s *Store) Destination(ctx context.Context, tenantID, id string) (*sluice.Destination, error) {
	r, err := s.read.Destination(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return s.openDestination(ctx, r)
}

// Destinations lists a tenant's destinations, newest first.
func (s *Store) Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Destination, string, error) {
	rows, next, err := s.read.Destinations(ctx, tenantID, page)
	if err != nil {
		return nil, "", err
	}
	out, err := openAll(ctx, rows, s.openDestination)
	return out, next, err
}

// UpdateDestination stores every field of d but its health; ENOTFOUND if
// it is gone. Enabling a disabled destination forgets its failures, and
// its waiting deliveries become due: the processes listening are told.
// A new rate limit starts afresh.
func (s *Store) UpdateDestination(ctx context.Context, d *sluice.Destination) error {
	d.UpdatedAt = s.now()
	r, err := s.sealDestination(ctx, d)
	if err != nil {
		return err
	}
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		old, err := tx.LockDestination(ctx, d.TenantID, d.ID)
		if err != nil {
			return err
		}
		before, err := s.openDestination(ctx, old)
		if err != nil {
			return err
		}
		if err := tx.UpdateDestination(ctx, r); err != nil {
			return err
		}
		enabling := d.Enabled && !old.Enabled
		if enabling {
			// Switched back on: its old failures no longer count.
			if err := tx.ResetDestinationHealth(ctx, d.ID); err != nil {
				return err
			}
		}
		if enabling || old.RateLimitPerSecond != d.RateLimitPerSecond {
			if err := tx.ResetRateLimit(ctx, d.ID); err != nil {
				return err
			}
		}
		if enabling {
			if err := tx.AnnounceWork(ctx); err != nil {
				return err
			}
		}
		action := "destination.update"
		if before.Secret != d.Secret {
			// Only a rotation gives a destination a new secret.
			action = "destination.secret_rotate"
		}
		return s.auditDiff(ctx, tx, d.TenantID, action, d.ID, destinationFields(before), destinationFields(d))
	})
}

// DeleteDestination removes a destination and cancels its pending
// deliveries; ENOTFOUND if none.
//
// The delete comes first: it waits for any event being routed to the
// destination right now (Routes keeps routes from being deleted), so the
// cancel that follows also sees the deliveries those events added.
func (s *Store) DeleteDestination(ctx context.Context, tenantID, id string) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		// Read, not locked: locking it before the delete could deadlock
		// with an attempt's health update. On PostgreSQL an update
		// committed between the two shows in its own audit entry.
		old, err := tx.Destination(ctx, tenantID, id)
		if err != nil {
			return err
		}
		before, err := s.openDestination(ctx, old)
		if err != nil {
			return err
		}
		if err := tx.DeleteDestination(ctx, tenantID, id); err != nil {
			return err
		}
		eventIDs, err := tx.CancelDeliveries(ctx, id, s.now())
		if err != nil {
			return fmt.Errorf("cancel deliveries: %w", err)
		}
		if err := tx.RefreshEventStatus(ctx, eventIDs); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, tenantID, "destination.delete", id, destinationFields(before), nil)
	})
}

// openAll opens each row with open.
func openAll[R, T any](ctx context.Context, rows []R, open func(context.Context, R) (T, error)) ([]T, error) {
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		v, err := open(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
