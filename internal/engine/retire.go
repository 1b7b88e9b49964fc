package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/seal"
)

// Retiring old data keys. A key that no longer seals still opens what it
// sealed. What outlives payloads (destinations' URLs, secrets and credentials, sources'
// credentials, subjects' keys) is sealed again under the tenant's newest
// key; payloads are not rewritten, but expire (or are erased). Once no
// value sealed under an old key is left, the key is deleted and scrubbed
// from the database's files.
//
// Finding what a key sealed reads the key id in each sealed value's header
// (seal.SealedPrefix), in SQL, without opening anything: nothing is added
// to what storing an event writes. Payloads have no index by tenant, so
// looking through them reads the table: that is done once a key's other
// values are sealed again, and then not before the latest of its payloads
// expires (DataKeyRow.HeldUntil).

// SealedValue is a value sealed under a tenant's data key that outlives
// payloads, where it is stored: in Column (a column of seal.AAD, such as
// "destinations.url") of the row ID, or for "subject_keys.sealed_key" of
// the subject key row Hash, KeyID.
type SealedValue struct {
	Column string
	ID     string
	Hash   []byte
	KeyID  int64
	Sealed []byte
}

// rowRef is what the value is bound to besides its tenant and column.
func (v *SealedValue) rowRef() string {
	if v.Column == columnSubjectKey {
		return subjectKeyRef(v.Hash, v.KeyID)
	}
	return v.ID
}

// KeyRetirement is what a RetireDataKeys pass did.
type KeyRetirement struct {
	Resealed int // values sealed again under their tenant's newest key
	Held     int // old keys kept for payloads sealed under them
	Retired  int // old keys deleted
}

const (
	// resealBatch is how many values one transaction seals again.
	resealBatch = 200
	// maxResealBatches bounds the batches of one key in one pass; the
	// next pass goes on.
	maxResealBatches = 25
	// retireRecheck is how long a key whose payloads should all have
	// expired, but are not purged yet, is held before it is looked at
	// again.
	retireRecheck = 10 * time.Minute
)

// RetireDataKeys seals again under their tenant's newest key the values
// that outlive payloads and are sealed under keys succeeded at least
// KeyPolicy.RetireAfter ago, and deletes those keys once nothing sealed
// under them is left; it records when the payloads that keep a key expire,
// and looks at the key again only then. The retention service runs it
// every pass, in one process at a time, and scrubs after it.
func (s *Store) RetireDataKeys(ctx context.Context) (KeyRetirement, error) {
	var out KeyRetirement
	now := s.now()
	keys, err := s.read.RetiringDataKeys(ctx, now.Add(-s.keyPolicy.RetireAfter))
	if err != nil {
		return out, fmt.Errorf("read retiring data keys: %w", err)
	}
	var errs []error
	for _, k := range keys {
		if now.Before(k.HeldUntil) {
			continue
		}
		done, n, err := s.resealUnder(ctx, k)
		out.Resealed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("seal again what data key %s sealed: %w", k.ID, err))
			continue
		}
		if !done {
			continue
		}
		retired, err := s.retireKey(ctx, k, now)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("retire data key %s: %w", k.ID, err))
		case retired:
			out.Retired++
		default:
			out.Held++
		}
	}
	if out.Retired > 0 || out.Resealed > 0 {
		s.logger.InfoContext(ctx, "data keys retired", slog.Int("resealed", out.Resealed), slog.Int("retired", out.Retired))
	}
	return out, errors.Join(errs...)
}

// resealUnder seals again under the tenant's newest key what k sealed that
// outlives payloads, in batches, and reports whether nothing is left.
func (s *Store) resealUnder(ctx context.Context, k *DataKeyRow) (done bool, n int, err error) {
	prefix := seal.SealedPrefix(k.ID)
	var after *SealedValue
	for range maxResealBatches {
		vals, err := s.read.SealedUnder(ctx, k.TenantID, prefix, after, resealBatch)
		if err != nil {
			return false, n, err
		}
		if len(vals) == 0 {
			// None after the last batch: one changed meanwhile may be
			// left before it, for the next pass.
			left, err := s.read.SealedUnder(ctx, k.TenantID, prefix, nil, 1)
			return err == nil && len(left) == 0, n, err
		}
		resealed := make([][]byte, len(vals))
		for i := range vals {
			v := &vals[i]
			plain, err := s.open(ctx, k.TenantID, v.Sealed, v.Column, v.rowRef())
			if err != nil {
				return false, n, err
			}
			if resealed[i], err = s.keys.Seal(ctx, k.TenantID, plain, v.Column, v.rowRef()); err != nil {
				return false, n, err
			}
			if id, _ := seal.SealedKeyID(resealed[i]); id == k.ID {
				return false, n, fmt.Errorf("data key %s is still the newest of tenant %s", k.ID, k.TenantID)
			}
		}
		err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
			for i, v := range vals {
				if _, err := tx.Reseal(ctx, k.TenantID, v, resealed[i]); err != nil {
					return fmt.Errorf("store %s: %w", v.Column, err)
				}
			}
			return nil
		})
		if err != nil {
			return false, n, err
		}
		n += len(vals)
		after = &vals[len(vals)-1]
	}
	return false, n, nil
}

// retireKey deletes k if no payload is sealed under it, or else holds it
// until the last of those expires, and reports whether it deleted it.
func (s *Store) retireKey(ctx context.Context, k *DataKeyRow, now time.Time) (bool, error) {
	n, last, err := s.read.PayloadsSealedUnder(ctx, k.TenantID, seal.SealedPrefix(k.ID))
	if err != nil {
		return false, fmt.Errorf("look for payloads sealed under it: %w", err)
	}
	if n > 0 {
		hold := last
		if !hold.After(now) {
			hold = now.Add(retireRecheck) // expired, not purged yet
		}
		return false, s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return tx.HoldDataKey(ctx, k.ID, hold) })
	}
	err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		newest, err := tx.NewestDataKey(ctx, k.TenantID)
		if err != nil {
			return err
		}
		switch {
		case newest.ID == k.ID:
			return fmt.Errorf("it is the newest of tenant %s", k.TenantID)
		case newest.WrappedSubject == nil:
			// Unreachable: every key but a tenant's first carries it.
			return fmt.Errorf("the newest key of tenant %s does not carry its subject key", k.TenantID)
		}
		if err := tx.DeleteDataKey(ctx, k.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, k.TenantID, "tenant.retire_key", k.ID)
	})
	if err != nil {
		return false, err
	}
	s.keys.ForgetKey(k.ID)
	// The next Scrub (the retention pass's, right after) removes the
	// wrapped key from the files.
	s.unscrubbed.Store(true)
	return true, nil
}
