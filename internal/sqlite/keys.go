package sqlite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/subject"
)

// fingerprintSetting names the settings row holding the fingerprint of the
// master key that wrapped the data keys.
const fingerprintSetting = "master_key_fingerprint"

// keyring caches the tenants' data keys, unwrapped. Keys enter it only from
// committed rows, so a rolled-back tenant never leaves a key behind.
type keyring struct {
	mu      sync.RWMutex
	byID    map[string]*seal.DataKey
	current map[string]*seal.DataKey // tenant id → the key that seals new values
}

// checkMaster makes sure master is the key the store's data keys are
// wrapped with, recording its fingerprint on a new store. A different key
// is refused: sealing new data under it would leave the old data unreadable.
func checkMaster(ctx context.Context, db *sql.DB, master *seal.Master) error {
	var stored string
	err := db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, fingerprintSetting).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var keys int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys`).Scan(&keys); err != nil {
			return fmt.Errorf("count data keys: %w", err)
		}
		if keys > 0 {
			return errors.New("the store has data keys but no master key fingerprint; it was not written by this version")
		}
		_, err := db.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fingerprintSetting, master.Fingerprint())
		return err
	case err != nil:
		return fmt.Errorf("read master key fingerprint: %w", err)
	case stored != master.Fingerprint():
		return fmt.Errorf("%w: this key's fingerprint is %s, the data was sealed under %s",
			seal.ErrWrongMaster, master.Fingerprint(), stored)
	}
	return nil
}

// insertDataKey stores a fresh data key for a new tenant, inside its write.
func (s *Store) insertDataKey(ctx context.Context, tx querier, tenantID string) error {
	k := seal.NewDataKey()
	_, err := tx.ExecContext(ctx, `INSERT INTO data_keys (id, tenant_id, wrapped, created_at) VALUES (?, ?, ?, ?)`,
		k.ID(), tenantID, s.master.Wrap(k), ms(s.now()))
	if err != nil {
		return fmt.Errorf("insert data key: %w", err)
	}
	return nil
}

// tenantKey returns the data key that seals the tenant's new values.
func (s *Store) tenantKey(ctx context.Context, tenantID string) (*seal.DataKey, error) {
	s.keys.mu.RLock()
	k := s.keys.current[tenantID]
	s.keys.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	var id string
	var wrapped []byte
	err := s.readDB.QueryRowContext(ctx, `SELECT id, wrapped FROM data_keys WHERE tenant_id = ?
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenantID).Scan(&id, &wrapped)
	if err != nil {
		return nil, fmt.Errorf("data key of tenant %s: %w", tenantID, notFound(err, "data key"))
	}
	k, err = s.unwrap(id, wrapped)
	if err != nil {
		return nil, err
	}
	s.keys.mu.Lock()
	s.keys.current[tenantID] = k
	s.keys.mu.Unlock()
	return k, nil
}

// keyByID returns the data key a sealed value names.
func (s *Store) keyByID(ctx context.Context, id string) (*seal.DataKey, error) {
	s.keys.mu.RLock()
	k := s.keys.byID[id]
	s.keys.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	var wrapped []byte
	if err := s.readDB.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE id = ?`, id).Scan(&wrapped); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("data key %s: %w", id, sluice.ErrIntegrity)
		}
		return nil, fmt.Errorf("data key %s: %w", id, err)
	}
	return s.unwrap(id, wrapped)
}

func (s *Store) unwrap(id string, wrapped []byte) (*seal.DataKey, error) {
	k, err := s.master.Unwrap(id, wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key %s: %w", id, err)
	}
	s.keys.mu.Lock()
	s.keys.byID[id] = k
	s.keys.mu.Unlock()
	return k, nil
}

// sealFor seals plaintext under the tenant's data key, bound to the column
// and row named by place (see seal.AAD).
func (s *Store) sealFor(ctx context.Context, tenantID string, plaintext []byte, column, rowID string) ([]byte, error) {
	k, err := s.tenantKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return k.Seal(plaintext, seal.AAD(tenantID, column, rowID)), nil
}

// openFor opens a value sealFor sealed for the same tenant, column and row.
// A value that does not authenticate is an error wrapping sluice.ErrIntegrity.
func (s *Store) openFor(ctx context.Context, tenantID string, sealed []byte, column, rowID string) ([]byte, error) {
	id, err := seal.SealedKeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, rowID, sluice.ErrIntegrity)
	}
	k, err := s.keyByID(ctx, id)
	if err != nil {
		return nil, err
	}
	plain, err := k.Open(sealed, seal.AAD(tenantID, column, rowID))
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, rowID, sluice.ErrIntegrity)
	}
	return plain, nil
}

// subjectHash is the tenant's keyed hash of a normalised subject.
func (s *Store) subjectHash(ctx context.Context, tenantID string, subj sluice.Subject) ([]byte, error) {
	k, err := s.tenantKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return subject.Hash(k.SubjectKey(), subject.Subject{Type: subj.Type, Value: subj.Value}), nil
}

// dedupDigest is what the store keeps of a dedup key: an idempotency key or
// a provider's event id may carry personal data ("order-ada@example.com"),
// so only its keyed hash is stored, under the tenant's subject key.
func (s *Store) dedupDigest(ctx context.Context, tenantID, key string) (string, error) {
	k, err := s.tenantKey(ctx, tenantID)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k.SubjectKey())
	mac.Write([]byte("dedup\x00"))
	mac.Write([]byte(key))
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// RewrapKeys wraps every data key under next instead of the store's master
// key and records next's fingerprint, in one transaction. Sealed values are
// not rewritten: they name their data key, which is unchanged. The store
// must be reopened with next afterwards.
func (s *Store) RewrapKeys(ctx context.Context, next *seal.Master) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx querier) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT id, wrapped FROM data_keys`)
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		type wrappedKey struct {
			id      string
			wrapped []byte
		}
		var keys []wrappedKey
		for rows.Next() {
			var k wrappedKey
			if err := rows.Scan(&k.id, &k.wrapped); err != nil {
				rows.Close()
				return fmt.Errorf("read data keys: %w", err)
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		for _, k := range keys {
			dk, err := s.master.Unwrap(k.id, k.wrapped)
			if err != nil {
				return fmt.Errorf("unwrap data key %s: %w", k.id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ? WHERE id = ?`, next.Wrap(dk), k.id); err != nil {
				return fmt.Errorf("rewrap data key %s: %w", k.id, err)
			}
			n++
		}
		if _, err := tx.ExecContext(ctx, `UPDATE settings SET value = ? WHERE name = ?`, next.Fingerprint(), fingerprintSetting); err != nil {
			return fmt.Errorf("record fingerprint: %w", err)
		}
		// Every tenant's audit trail shows the rotation, by the new key's
		// fingerprint: never the key.
		rows, err = tx.QueryContext(ctx, `SELECT id FROM tenants`)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		tenants, err := collectStrings(rows)
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
