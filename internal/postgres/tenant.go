package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// CreateTenant stores a tenant, its first key and its data key together.
// ECONFLICT if k is an operator key and the store has one already (two
// processes bootstrapping an empty database at once).
func (s *Store) CreateTenant(ctx context.Context, t *sluice.Tenant, k *sluice.APIKey) error {
	now := s.now()
	t.CreatedAt, k.CreatedAt, k.TenantID = now, now, t.ID
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`,
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
	_, err := tx.Exec(ctx,
		`INSERT INTO api_keys (id, tenant_id, name, role, operator, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.TenantID, k.Name, string(k.Role), k.Operator, k.TokenHash, ms(k.CreatedAt))
	// Two processes bootstrapping an empty database at once with the same
	// configured token collide on the token's index or on the one-operator
	// index, whichever the insert meets first: either way, the other won.
	if k.Operator && (uniqueViolation(err, "api_keys_operator") || uniqueViolation(err, "api_keys_token_hash_key")) {
		return sluice.Errorf(sluice.ECONFLICT, "the store has an operator key already")
	}
	if uniqueViolation(err, "api_keys_token_hash_key") {
		return sluice.Errorf(sluice.ECONFLICT, "a key with this token exists already")
	}
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

const keyColumns = `id, tenant_id, name, role, operator, token_hash, created_at`

func scanKey(row pgx.Row) (*sluice.APIKey, error) {
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
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE operator`))
	if err != nil {
		return nil, notFound(err, "operator key")
	}
	return k, nil
}

// SetTokenHash replaces a key's token hash; ENOTFOUND for an unknown key.
func (s *Store) SetTokenHash(ctx context.Context, keyID string, hash []byte) error {
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var tenantID string
		err := tx.QueryRow(ctx, `UPDATE api_keys SET token_hash = $1 WHERE id = $2 RETURNING tenant_id`, hash, keyID).Scan(&tenantID)
		if err != nil {
			return notFound(err, "key")
		}
		return s.audit(ctx, tx, tenantID, "key.token_replace", keyID)
	})
}

// KeyByTokenHash finds the key for a bearer token; ENOTFOUND if none.
func (s *Store) KeyByTokenHash(ctx context.Context, hash []byte) (*sluice.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE token_hash = $1`, hash))
	if err != nil {
		return nil, notFound(err, "key")
	}
	return k, nil
}

// CreateAPIKey stores a new key of an existing tenant.
func (s *Store) CreateAPIKey(ctx context.Context, k *sluice.APIKey) error {
	k.CreatedAt = s.now()
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.audit(ctx, tx, k.TenantID, "key.create", k.ID)
	})
}

// DeleteAPIKey removes a key: ENOTFOUND if it is not the tenant's,
// EFORBIDDEN for the operator key.
func (s *Store) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var operator bool
		err := tx.QueryRow(ctx, `SELECT operator FROM api_keys WHERE id = $1 AND tenant_id = $2 FOR UPDATE`,
			id, tenantID).Scan(&operator)
		if err != nil {
			return notFound(err, "key")
		}
		if operator {
			return sluice.Errorf(sluice.EFORBIDDEN, "the operator key cannot be deleted")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete key: %w", err)
		}
		return s.audit(ctx, tx, tenantID, "key.delete", id)
	})
}
