package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
)

// tenantDeleteBatch is how many events, or audit entries, of a tenant
// being deleted go in one transaction: on SQLite a transaction holds the
// only writer, which every ingest waits for, and a tenant may have
// millions of events.
const tenantDeleteBatch = 1000

// DeleteTenant destroys a tenant: ENOTFOUND for an unknown tenant,
// ECONFLICT for the operator's own (or when the store has no operator
// tenant to keep the record of the deletion).
//
// Its keys go first, in a transaction of their own: its data keys, which
// wrap everything sealed for it, its subject keys, and its API keys, so
// that its tokens no longer authenticate; with them its sources and
// destinations, so that it takes and sends nothing more. The audit entry
// tenant.delete goes to the operator's tenant, whose log outlives it. The
// keys are then forgotten by every cache of this process and scrubbed from
// the database's files. Its other rows go after, in transactions of at
// most tenantDeleteBatch events or audit entries each, the tenant's row
// last, and are scrubbed in turn.
//
// A deletion interrupted after its keys went leaves a tenant that nothing
// can open or use; deleting it again finishes the work.
func (s *Store) DeleteTenant(ctx context.Context, tenantID string) error {
	var dataKeys, destinations []string
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		dataKeys, destinations = nil, nil
		op, err := tx.OperatorKey(ctx)
		switch {
		case sluice.ErrorCode(err) == sluice.ENOTFOUND:
			return sluice.Errorf(sluice.ECONFLICT, "the store has no operator tenant to record the deletion in")
		case err != nil:
			return fmt.Errorf("read operator key: %w", err)
		case op.TenantID == tenantID:
			return sluice.Errorf(sluice.ECONFLICT, "the operator's own tenant cannot be deleted")
		}
		// Destinations before the tenant's row, in the order in which
		// storing an event takes them (its routes, then the tenant it
		// refers to), so that the two wait for each other, not deadlock.
		if destinations, err = tx.DeleteTenantConfig(ctx, tenantID); err != nil {
			return err
		}
		if err := tx.LockTenant(ctx, tenantID); err != nil {
			return err
		}
		if dataKeys, err = tx.DeleteTenantKeys(ctx, tenantID); err != nil {
			return err
		}
		// Without changes: the entry outlives the tenant, and nothing of
		// what it named (its name among them) may.
		return s.audit(ctx, tx, op.TenantID, "tenant.delete", tenantID)
	})
	if err != nil {
		return err
	}
	s.forgetTenant(tenantID, dataKeys, destinations)
	s.scrubNow(ctx, "tenant key destruction")
	lateKeys, lateDestinations, err := s.deleteTenantRows(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("delete the rows of tenant %s: %w", tenantID, err)
	}
	// Again: a request under way when the keys went may have cached some
	// since, and another process may have stored more.
	s.forgetTenant(tenantID, append(dataKeys, lateKeys...), append(destinations, lateDestinations...))
	s.scrubNow(ctx, "tenant deletion")
	return nil
}

// deleteTenantRows deletes every row left of a tenant whose keys are gone,
// a batch a transaction, and then the tenant, and forgets the payloads of
// the events it deleted that this process keeps in memory. Each transaction locks the
// tenant's row first: an event another process stores meanwhile (one
// that still keeps the tenant's data key) is either deleted by a later
// batch or fails for want of its tenant. Keys, sources and destinations
// stored meanwhile the same way go with the tenant: it returns the ids of
// those data keys and destinations.
func (s *Store) deleteTenantRows(ctx context.Context, tenantID string) (dataKeys, destinations []string, err error) {
	for {
		var (
			done, gone bool
			events     []string
		)
		err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
			done, gone, events, dataKeys, destinations = false, false, nil, nil, nil
			err := tx.LockTenant(ctx, tenantID)
			if sluice.ErrorCode(err) == sluice.ENOTFOUND {
				gone = true // another deletion of it finished first
				return nil
			}
			if err != nil {
				return err
			}
			if events, err = tx.DeleteTenantEvents(ctx, tenantID, tenantDeleteBatch); err != nil ||
				len(events) == tenantDeleteBatch {
				return err
			}
			n, err := tx.DeleteTenantAudit(ctx, tenantID, tenantDeleteBatch)
			if err != nil || n == tenantDeleteBatch {
				return err
			}
			if destinations, err = tx.DeleteTenantConfig(ctx, tenantID); err != nil {
				return err
			}
			if dataKeys, err = tx.DeleteTenantKeys(ctx, tenantID); err != nil {
				return err
			}
			if err := tx.DeleteTenant(ctx, tenantID); err != nil {
				// Not its code: the tenant is there (it is locked), and a
				// row left that refers to it is no user's error.
				return fmt.Errorf("delete tenant: %v", err)
			}
			done = true
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		s.unscrubbed.Store(true)
		s.volatile.forget(events...)
		if done || gone {
			return dataKeys, destinations, nil
		}
	}
}

// forgetTenant drops what this process keeps in memory of a tenant whose
// keys are gone: its data keys (those with the ids given, and the one
// sealing its new values), its subjects' keys, its destinations' opened
// URLs and secrets, its retention, the shapes it was seen to have and its
// anomaly counts. Its payloads kept in memory (storage "none") go with
// their events, as deleteTenantRows deletes them.
func (s *Store) forgetTenant(tenantID string, dataKeys, destinations []string) {
	for _, id := range dataKeys {
		s.keys.ForgetKey(id)
	}
	s.keys.Forget(tenantID)
	s.subjectCache.forgetTenant(tenantID)
	s.pseudonyms.forget()
	s.secrets.forget(destinations)
	s.forgetPolicy(tenantID)
	s.shapes.forgetTenant(tenantID)
	s.anomalies.Forget(tenantID)
}

// tenantGone reports whether sealing failed because the tenant has no
// data key: every tenant gets one when it is created, so it was deleted,
// or is being deleted.
func tenantGone(err error) bool { return errors.Is(err, seal.ErrUnknownKey) }

// forgetTenant forgets the keys of the tenant's subjects.
func (c *subjectKeyCache) forgetTenant(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.keys {
		if k.tenantID == tenantID {
			delete(c.keys, k)
		}
	}
}

// forget forgets the destinations' opened URLs and secrets.
func (c *secretCache) forget(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.byID, id)
	}
}

// forgetTenant forgets the observations of the tenant.
func (k *knownShapes) forgetTenant(tenantID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key := range k.keys {
		if key.tenantID == tenantID {
			delete(k.keys, key)
		}
	}
}
