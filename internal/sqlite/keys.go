package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/seal"
)

// fingerprintSetting names the settings row holding the fingerprint of the
// master key that wrapped the data keys.
const fingerprintSetting = "master_key_fingerprint"

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
	id, wrapped := s.keys.NewDataKey()
	_, err := tx.ExecContext(ctx, `INSERT INTO data_keys (id, tenant_id, wrapped, created_at) VALUES (?, ?, ?, ?)`,
		id, tenantID, wrapped, ms(s.now()))
	if err != nil {
		return fmt.Errorf("insert data key: %w", err)
	}
	return nil
}

// keyLoader reads the store's wrapped data keys for its keyring.
type keyLoader struct{ db *sql.DB }

func (l keyLoader) NewestDataKey(ctx context.Context, tenantID string) (string, []byte, error) {
	var id string
	var wrapped []byte
	err := l.db.QueryRowContext(ctx, `SELECT id, wrapped FROM data_keys WHERE tenant_id = ?
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenantID).Scan(&id, &wrapped)
	return id, wrapped, notFound(err, "data key")
}

func (l keyLoader) DataKey(ctx context.Context, id string) ([]byte, error) {
	var wrapped []byte
	err := l.db.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE id = ?`, id).Scan(&wrapped)
	return wrapped, notFound(err, "data key")
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
			dk, err := s.keys.Master().Unwrap(k.id, k.wrapped)
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
