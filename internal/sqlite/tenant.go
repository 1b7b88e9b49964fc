package sqlite

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice"
)

// CreateTenant stores a tenant and its first key together.
func (s *Store) CreateTenant(ctx context.Context, t *sluice.Tenant, k *sluice.APIKey) error {
	now := s.now()
	t.CreatedAt, k.CreatedAt, k.TenantID = now, now, t.ID
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
			t.ID, t.Name, ms(now)); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		if err := s.insertDataKey(ctx, tx, t.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, t.ID, "tenant.create", t.ID)
	})
}

func insertKey(ctx context.Context, tx querier, k *sluice.APIKey) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO api_keys (id, tenant_id, name, role, operator, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, string(k.Role), k.Operator, k.TokenHash, ms(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

const keyColumns = `id, tenant_id, name, role, operator, token_hash, created_at`

func scanKey(row scanner) (*sluice.APIKey, error) {
	var k sluice.APIKey
	var role string
	var created int64
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &role, &k.Operator, &k.TokenHash, &created); err != nil {
		return nil, err
	}
	k.Role, k.CreatedAt = sluice.Role(role), fromMS(created)
	return &k, nil
}

// OperatorKey returns the operator key; ENOTFOUND before the first start.
func (s *Store) OperatorKey(ctx context.Context) (*sluice.APIKey, error) {
	k, err := scanKey(s.readDB.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE operator = 1`))
	if err != nil {
		return nil, notFound(err, "operator key")
	}
	return k, nil
}

// SetTokenHash replaces a key's token hash.
func (s *Store) SetTokenHash(ctx context.Context, keyID string, hash []byte) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		var tenantID string
		err := tx.QueryRowContext(ctx, `UPDATE api_keys SET token_hash = ? WHERE id = ? RETURNING tenant_id`, hash, keyID).Scan(&tenantID)
		if err != nil {
			return notFound(err, "key")
		}
		return s.audit(ctx, tx, tenantID, "key.token_replace", keyID)
	})
}

// KeyByTokenHash finds the key for a bearer token; ENOTFOUND if none.
func (s *Store) KeyByTokenHash(ctx context.Context, hash []byte) (*sluice.APIKey, error) {
	k, err := scanKey(s.readDB.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE token_hash = ?`, hash))
	if err != nil {
		return nil, notFound(err, "key")
	}
	return k, nil
}

// CreateAPIKey stores a new key of an existing tenant.
func (s *Store) CreateAPIKey(ctx context.Context, k *sluice.APIKey) error {
	k.CreatedAt = s.now()
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.audit(ctx, tx, k.TenantID, "key.create", k.ID)
	})
}

// DeleteAPIKey removes a key: ENOTFOUND if it is not the tenant's,
// EFORBIDDEN for the operator key.
func (s *Store) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		var operator bool
		err := tx.QueryRowContext(ctx, `SELECT operator FROM api_keys WHERE id = ? AND tenant_id = ?`, id, tenantID).Scan(&operator)
		if err != nil {
			return notFound(err, "key")
		}
		if operator {
			return sluice.Errorf(sluice.EFORBIDDEN, "the operator key cannot be deleted")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete key: %w", err)
		}
		return s.audit(ctx, tx, tenantID, "key.delete", id)
	})
}
