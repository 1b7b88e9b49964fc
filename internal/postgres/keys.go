package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/seal"
)

// fingerprintSetting names the settings row holding the fingerprint of the
// master key that wrapped the data keys.
const fingerprintSetting = "master_key_fingerprint"

// checkMaster makes sure master is the key the store's data keys are
// wrapped with, recording its fingerprint on a new store. A different key
// is refused: sealing new data under it would leave the old data unreadable.
// Processes starting together on a new store race to record theirs: the
// first wins and the others compare against it.
func checkMaster(ctx context.Context, pool *pgxpool.Pool, master *seal.Master) error {
	var stored string
	err := pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, fingerprintSetting).Scan(&stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		var keys int
		if err := pool.QueryRow(ctx, `SELECT COUNT(*) FROM data_keys`).Scan(&keys); err != nil {
			return fmt.Errorf("count data keys: %w", err)
		}
		if keys > 0 {
			return errors.New("the store has data keys but no master key fingerprint; it was not written by this version")
		}
		if _, err := pool.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			fingerprintSetting, master.Fingerprint()); err != nil {
			return fmt.Errorf("record master key fingerprint: %w", err)
		}
		if err := pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, fingerprintSetting).Scan(&stored); err != nil {
			return fmt.Errorf("read master key fingerprint: %w", err)
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

// insertDataKey stores a fresh data key for a new tenant, inside its
// transaction. It first reads the recorded fingerprint, sharing its row
// lock: another process may have rotated the master key since this one
// started (RewrapKeys), and a key wrapped by the retired master would be
// unreadable to every process started after the rotation.
func (s *Store) insertDataKey(ctx context.Context, tx pgx.Tx, tenantID string) error {
	var stored string
	if err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1 FOR SHARE`, fingerprintSetting).Scan(&stored); err != nil {
		return fmt.Errorf("read master key fingerprint: %w", err)
	}
	if err := compareFingerprint(s.master, stored); err != nil {
		return err
	}
	id, wrapped := s.keys.NewDataKey()
	_, err := tx.Exec(ctx, `INSERT INTO data_keys (id, tenant_id, wrapped, created_at) VALUES ($1, $2, $3, $4)`,
		id, tenantID, wrapped, ms(s.now()))
	if err != nil {
		return fmt.Errorf("insert data key: %w", err)
	}
	return nil
}

// keyLoader reads the store's wrapped data keys for its keyring: inside a
// write on the write's own transaction, else on the pool. A write holding
// its connection while waiting for another would, with enough of them at
// once, leave the pool empty and every write waiting.
//
// Only CreateTenant inserts data keys and it opens nothing sealed, so a
// key read inside a write is always committed already: the keyring never
// caches a key that may be rolled back.
type keyLoader struct{ pool *pgxpool.Pool }

// on returns what to read keys on in ctx.
func (l keyLoader) on(ctx context.Context) querier {
	if q, ok := ctx.Value(txKey{}).(querier); ok {
		return q
	}
	return l.pool
}

// NewestDataKey returns the tenant's newest data key; ENOTFOUND if none.
func (l keyLoader) NewestDataKey(ctx context.Context, tenantID string) (string, []byte, error) {
	var id string
	var wrapped []byte
	err := l.on(ctx).QueryRow(ctx, `SELECT id, wrapped FROM data_keys WHERE tenant_id = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenantID).Scan(&id, &wrapped)
	return id, wrapped, notFound(err, "data key")
}

// DataKey returns the data key with the id; ENOTFOUND if none.
func (l keyLoader) DataKey(ctx context.Context, id string) ([]byte, error) {
	var wrapped []byte
	err := l.on(ctx).QueryRow(ctx, `SELECT wrapped FROM data_keys WHERE id = $1`, id).Scan(&wrapped)
	return wrapped, notFound(err, "data key")
}

// RewrapKeys wraps every data key under next instead of the store's master
// key and records next's fingerprint, in one transaction, and returns how
// many keys it rewrapped. Sealed values are not rewritten: they name their
// data key, which is unchanged. Every process sharing the database must be
// restarted with next afterwards; until then they refuse to create tenants.
func (s *Store) RewrapKeys(ctx context.Context, next *seal.Master) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n = 0
		// The settings row first: it is what CreateTenant shares, so no
		// tenant gets a key under the old master while this runs.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM settings WHERE name = $1 FOR UPDATE`, fingerprintSetting); err != nil {
			return fmt.Errorf("lock fingerprint: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id, wrapped FROM data_keys ORDER BY id FOR UPDATE`)
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		type wrappedKey struct {
			id      string
			wrapped []byte
		}
		keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (wrappedKey, error) {
			var k wrappedKey
			err := row.Scan(&k.id, &k.wrapped)
			return k, err
		})
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		for _, k := range keys {
			dk, err := s.keys.Master().Unwrap(k.id, k.wrapped)
			if err != nil {
				return fmt.Errorf("unwrap data key %s: %w", k.id, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE data_keys SET wrapped = $1 WHERE id = $2`, next.Wrap(dk), k.id); err != nil {
				return fmt.Errorf("rewrap data key %s: %w", k.id, err)
			}
			n++
		}
		if _, err := tx.Exec(ctx, `UPDATE settings SET value = $1 WHERE name = $2`, next.Fingerprint(), fingerprintSetting); err != nil {
			return fmt.Errorf("record fingerprint: %w", err)
		}
		// Every tenant's audit trail shows the rotation, by the new key's
		// fingerprint: never the key.
		tenants, err := queryStrings(ctx, tx, `SELECT id FROM tenants ORDER BY id`)
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
