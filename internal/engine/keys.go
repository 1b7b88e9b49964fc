package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
)

// fingerprintSetting names the setting holding the fingerprint of the
// master key that wrapped the data keys.
const fingerprintSetting = "master_key_fingerprint"

// checkMaster makes sure the master key is the one the data keys are
// wrapped with, recording its fingerprint in a new database. A different
// key is refused: sealing new data under it would leave the old data
// unreadable. Processes starting together on a new database race to
// record theirs: the first wins and the others compare against it.
func (s *Store) checkMaster(ctx context.Context) error {
	master := s.keys.Master()
	stored, err := s.read.Setting(ctx, fingerprintSetting)
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		n, err := s.read.CountDataKeys(ctx)
		if err != nil {
			return fmt.Errorf("count data keys: %w", err)
		}
		if n > 0 {
			return errors.New("the store has data keys but no master key fingerprint; it was not written by this version")
		}
		err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
			stored, err = tx.InsertSetting(ctx, fingerprintSetting, master.Fingerprint())
			return err
		})
		if err != nil {
			return fmt.Errorf("record master key fingerprint: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read master key fingerprint: %w", err)
	}
	return compareFingerprint(master, stored)
}

func compareFingerprint(master *seal.Master, stored string) error {
	if stored != master.Fingerprint() {
		return fmt.Errorf("%w: this key's fingerprint is %s, the data was sealed under %s",
			seal.ErrWrongMaster, master.Fingerprint(), stored)
	}
	return nil
}

// CreateTenant stores a tenant, its first key and its data key together.
// ECONFLICT if the key's token is taken, or if it is an operator key and
// there is one already (processes bootstrapping an empty database at once).
func (s *Store) CreateTenant(ctx context.Context, t *sluice.Tenant, k *sluice.APIKey) error {
	now := s.now()
	t.CreatedAt, k.CreatedAt, k.TenantID = now, now, t.ID
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.InsertTenant(ctx, t); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		// The fingerprint is shared until the commit: another process may
		// have rotated the master key since this one started (RewrapKeys),
		// and a key wrapped by the retired master would be unreadable to
		// every process started after the rotation.
		stored, err := tx.ShareSetting(ctx, fingerprintSetting)
		if err != nil {
			return fmt.Errorf("read master key fingerprint: %w", err)
		}
		if err := compareFingerprint(s.keys.Master(), stored); err != nil {
			return err
		}
		id, wrapped := s.keys.NewDataKey()
		if err := tx.InsertDataKey(ctx, &DataKeyRow{ID: id, TenantID: t.ID, Wrapped: wrapped, CreatedAt: now}); err != nil {
			return fmt.Errorf("insert data key: %w", err)
		}
		return s.auditDiff(ctx, tx, t.ID, "tenant.create", t.ID, nil, tenantFields(t))
	})
}

// insertKey stores a key, saying which conflict it met.
func (s *Store) insertKey(ctx context.Context, tx Tx, k *sluice.APIKey) error {
	err := tx.InsertAPIKey(ctx, k)
	switch {
	case sluice.ErrorCode(err) == sluice.ECONFLICT && k.Operator:
		// Two processes bootstrapping an empty database at once with the
		// same configured token collide on the token or on the one
		// operator key, whichever the insert meets first: either way, the
		// other won.
		return sluice.Errorf(sluice.ECONFLICT, "the store has an operator key already")
	case sluice.ErrorCode(err) == sluice.ECONFLICT:
		return sluice.Errorf(sluice.ECONFLICT, "a key with this token exists already")
	case err != nil:
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

// OperatorKey returns the operator key; ENOTFOUND before the first start.
func (s *Store) OperatorKey(ctx context.Context) (*sluice.APIKey, error) {
	return s.read.OperatorKey(ctx)
}

// KeyByTokenHash finds the key for a bearer token; ENOTFOUND if none.
func (s *Store) KeyByTokenHash(ctx context.Context, hash []byte) (*sluice.APIKey, error) {
	return s.read.KeyByTokenHash(ctx, hash)
}

// SetTokenHash replaces a key's token hash and ends the sessions signed
// in with the old token; ENOTFOUND for an unknown key.
func (s *Store) SetTokenHash(ctx context.Context, keyID string, hash []byte) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		tenantID, err := tx.SetTokenHash(ctx, keyID, hash)
		if err != nil {
			return err
		}
		if err := tx.DeleteKeySessions(ctx, keyID); err != nil {
			return fmt.Errorf("end the key's sessions: %w", err)
		}
		return s.audit(ctx, tx, tenantID, "key.token_replace", keyID)
	})
}

// CreateAPIKey stores a new key of an existing tenant: ECONFLICT if its
// token is taken, ENOTFOUND if the tenant is not there.
func (s *Store) CreateAPIKey(ctx context.Context, k *sluice.APIKey) error {
	k.CreatedAt = s.now()
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, k.TenantID, "key.create", k.ID, nil, keyFields(k))
	})
}

// DeleteAPIKey removes a key: ENOTFOUND if it is not the tenant's,
// EFORBIDDEN for the operator key.
func (s *Store) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		k, err := tx.APIKey(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if k.Operator {
			return sluice.Errorf(sluice.EFORBIDDEN, "the operator key cannot be deleted")
		}
		if err := tx.DeleteAPIKey(ctx, id); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, tenantID, "key.delete", id, keyFields(k), nil)
	})
}

// RecordKeyUse records that a key authenticated at at; see sluice.Store.
// It is no change of configuration, so it is not audited.
func (s *Store) RecordKeyUse(ctx context.Context, keyID string, at time.Time) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.SetKeyLastUsed(ctx, keyID, at); err != nil {
			return fmt.Errorf("record key use: %w", err)
		}
		return nil
	})
}

// RewrapKeys wraps every data key (and the subject keys stored beside
// them) under next instead of the master key and records next's
// fingerprint, in one transaction, and returns how many keys it
// rewrapped. Sealed values are not rewritten: they name their data key,
// which is unchanged. Every process sharing the database must be
// restarted with next afterwards; until then they refuse to create tenants.
func (s *Store) RewrapKeys(ctx context.Context, next *seal.Master) (int, error) {
	n := 0
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		n = 0
		// The fingerprint first: it is what CreateTenant shares, so no
		// tenant gets a key under the old master while this runs.
		if _, err := tx.LockSetting(ctx, fingerprintSetting); err != nil {
			return fmt.Errorf("lock fingerprint: %w", err)
		}
		keys, err := tx.LockDataKeys(ctx)
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		for _, k := range keys {
			dk, err := s.keys.Master().Unwrap(k.ID, k.Wrapped)
			if err != nil {
				return fmt.Errorf("unwrap data key %s: %w", k.ID, err)
			}
			var subject []byte
			if k.WrappedSubject != nil {
				sk, err := s.keys.Master().UnwrapSubjectKey(k.ID, k.WrappedSubject)
				if err != nil {
					return fmt.Errorf("unwrap the subject key of data key %s: %w", k.ID, err)
				}
				subject = next.WrapSubjectKey(k.ID, sk)
			}
			if err := tx.UpdateDataKey(ctx, k.ID, next.Wrap(dk), subject); err != nil {
				return fmt.Errorf("rewrap data key %s: %w", k.ID, err)
			}
			n++
		}
		if err := tx.UpdateSetting(ctx, fingerprintSetting, next.Fingerprint()); err != nil {
			return fmt.Errorf("record fingerprint: %w", err)
		}
		// Every tenant's audit trail shows the rotation, by the new key's
		// fingerprint: never the key.
		tenants, err := tx.TenantIDs(ctx)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		for _, id := range tenants {
			if err := s.audit(ctx, tx, id, "master_key.rotate", next.Fingerprint()); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
