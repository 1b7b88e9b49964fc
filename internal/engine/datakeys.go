package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
)

// Data key rotation. A tenant's newest data key seals its new values; the
// keyring counts what each key seals, adds its counts to the data key's
// row now and then, and rotates the tenant's key when the count passes
// KeyPolicy.RotateAfter (or an admin asks, RotateDataKey). Every process
// reads again which key is newest every KeyPolicy.Refresh, so none seals
// under a rotated key for longer than that. Old keys keep opening what
// they sealed; RetireDataKeys seals again under the newest key what
// outlives payloads, and deletes an old key once nothing sealed under it
// is left.

// DefaultRotateKeyAfter is how many values a data key seals before it is
// rotated by default: 2^30, well under the 2^32 invocations NIST SP
// 800-38D allows one AES-GCM key with random 96-bit nonces, so that the
// counts the processes have not added to the store yet, and the seals
// made while a rotation takes effect, stay far from it.
const DefaultRotateKeyAfter = 1 << 30

// DefaultRetireAfter is how long after its rotation an old data key is
// considered for retirement by default: far longer than any process keeps
// sealing under it (KeyPolicy.Refresh), than a transaction that sealed
// under it takes to commit, and than the clocks of processes sharing a
// database differ.
const DefaultRetireAfter = time.Hour

// KeyPolicy is when tenants' data keys rotate and retire; zero fields
// take the defaults.
type KeyPolicy struct {
	// RotateAfter is how many values a data key seals before the tenant
	// gets a new one. Default DefaultRotateKeyAfter.
	RotateAfter int64
	// Refresh is how long a process seals with the key it read as a
	// tenant's newest before it reads again which is. Default
	// seal.DefaultRefresh.
	Refresh time.Duration
	// RetireAfter is how long after it was succeeded an old key is
	// considered for retirement. Default DefaultRetireAfter.
	RetireAfter time.Duration
}

func (p KeyPolicy) withDefaults() KeyPolicy {
	if p.RotateAfter <= 0 {
		p.RotateAfter = DefaultRotateKeyAfter
	}
	if p.Refresh <= 0 {
		p.Refresh = seal.DefaultRefresh
	}
	if p.RetireAfter <= 0 {
		p.RetireAfter = DefaultRetireAfter
	}
	return p
}

// DataKeyRow is a tenant's data key as stored.
type DataKeyRow struct {
	ID, TenantID string
	Wrapped      []byte
	// WrappedSubject is the tenant's subject key wrapped for this key; nil
	// for a tenant's first key, from which it is derived.
	WrappedSubject []byte
	// Seals counts the values sealed under the key, as far as the
	// processes have added their counts.
	Seals     int64
	CreatedAt time.Time
	// HeldUntil is when payloads sealed under the key have all expired,
	// as found by the last retirement pass; zero when none looked.
	HeldUntil time.Time
}

func (r *DataKeyRow) stored() seal.StoredKey {
	return seal.StoredKey{ID: r.ID, Wrapped: r.Wrapped, WrappedSubject: r.WrappedSubject, Seals: r.Seals}
}

// keyStore keeps the keyring's data keys through the driver.
type keyStore struct{ s *Store }

func (k keyStore) NewestDataKey(ctx context.Context, tenantID string) (seal.StoredKey, error) {
	r, err := k.s.read.NewestDataKey(ctx, tenantID)
	if err != nil {
		return seal.StoredKey{}, unknownKey(err)
	}
	return r.stored(), nil
}

func (k keyStore) DataKey(ctx context.Context, id string) ([]byte, error) {
	wrapped, err := k.s.read.DataKey(ctx, id)
	return wrapped, unknownKey(err)
}

func (k keyStore) AddSeals(ctx context.Context, id string, n int64) error {
	return k.s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return tx.AddSeals(ctx, id, n) })
}

// RotateDataKey rotates a key that sealed its share: Sluice does it, not
// the actor of the request whose value was the last straw.
func (k keyStore) RotateDataKey(ctx context.Context, tenantID, from string, next seal.StoredKey) (seal.StoredKey, error) {
	prev, newest, err := k.s.rotate(sluice.WithActor(ctx, sluice.Actor{}), tenantID, from, next)
	if err != nil {
		return seal.StoredKey{}, unknownKey(err)
	}
	if prev != nil {
		k.s.logger.InfoContext(ctx, "data key rotated after its seals", slog.String("tenant_id", tenantID),
			slog.String("key_id", newest.ID), slog.String("previous_key_id", prev.ID), slog.Int64("seals", prev.Seals))
	}
	return newest.stored(), nil
}

// unknownKey tells the keyring of a key the driver does not have.
func unknownKey(err error) error {
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return fmt.Errorf("%w: %w", seal.ErrUnknownKey, err)
	}
	return err
}

// RotateDataKey gives the tenant a new data key, which seals its new
// values from now on: at once in this process, and within
// KeyPolicy.Refresh in the others sharing the database. Its old keys keep
// opening what they sealed (see RetireDataKeys). ENOTFOUND for an unknown
// tenant.
func (s *Store) RotateDataKey(ctx context.Context, tenantID string) (*sluice.DataKeyRotation, error) {
	next, err := s.keys.NextDataKey(ctx, tenantID)
	if err == nil {
		var prev, newest *DataKeyRow
		if prev, newest, err = s.rotate(ctx, tenantID, "", next); err == nil {
			s.keys.Forget(tenantID)
			return &sluice.DataKeyRotation{TenantID: tenantID, KeyID: newest.ID, PreviousKeyID: prev.ID,
				RotatedAt: newest.CreatedAt}, nil
		}
	}
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "tenant not found")
	}
	return nil, err
}

// rotate stores next as the tenant's newest data key, unless from is set
// and the newest is another key already, and returns the key it succeeded
// (nil when it stored none) and the newest key after.
func (s *Store) rotate(ctx context.Context, tenantID, from string, next seal.StoredKey) (prev, newest *DataKeyRow, err error) {
	err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		prev, newest = nil, nil
		// The fingerprint first, as RewrapKeys locks it: next is wrapped
		// by this process's master key, which must still be the store's.
		stored, err := tx.ShareSetting(ctx, fingerprintSetting)
		if err != nil {
			return fmt.Errorf("read master key fingerprint: %w", err)
		}
		if err := compareFingerprint(s.keys.Master(), stored); err != nil {
			return err
		}
		if err := tx.LockTenantDataKeys(ctx, tenantID); err != nil {
			return fmt.Errorf("lock data keys: %w", err)
		}
		// Read after the lock: a rotation that committed while this one
		// waited shows.
		cur, err := tx.NewestDataKey(ctx, tenantID)
		if err != nil {
			return err
		}
		if from != "" && cur.ID != from {
			newest = cur
			return nil
		}
		// Newer than the newest even if this clock is behind the one that
		// made it: the newest key is the last created.
		at := s.now()
		if !at.After(cur.CreatedAt) {
			at = cur.CreatedAt.Add(time.Millisecond)
		}
		row := &DataKeyRow{ID: next.ID, TenantID: tenantID, Wrapped: next.Wrapped, WrappedSubject: next.WrappedSubject,
			CreatedAt: at}
		if err := tx.InsertDataKey(ctx, row); err != nil {
			return fmt.Errorf("insert data key: %w", err)
		}
		prev, newest = cur, row
		return s.audit(ctx, tx, tenantID, "tenant.rotate_key", row.ID)
	})
	return prev, newest, err
}
