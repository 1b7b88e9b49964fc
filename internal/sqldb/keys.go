package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// InsertTenant stores a tenant.
func (o *Ops) InsertTenant(ctx context.Context, t *sluice.Tenant) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, t.ID, t.Name, MS(t.CreatedAt))
	return err
}

// Tenant returns a tenant; ENOTFOUND if there is none.
func (o *Ops) Tenant(ctx context.Context, id string) (*sluice.Tenant, error) {
	var t sluice.Tenant
	var storage string
	var restricted string
	var undelivered, delivered, metadata, audit, created int64
	err := o.Conn.QueryRow(ctx, `SELECT id, name, payload_storage, undelivered_retention_ms, payload_retention_ms,
		metadata_retention_ms, audit_retention_ms, restricted, created_at FROM tenants WHERE id = $1`, id).Scan(&t.ID,
		&t.Name, &storage, &undelivered, &delivered, &metadata, &audit, &restricted, &created)
	if err != nil {
		return nil, notFound(err, "tenant")
	}
	if err := decodeRestricted(&t, restricted); err != nil {
		return nil, err
	}
	t.Retention = sluice.Retention{PayloadStorage: sluice.PayloadStorage(storage), Undelivered: fromMillis(undelivered),
		Delivered: fromMillis(delivered), Metadata: fromMillis(metadata), Audit: fromMillis(audit)}
	t.CreatedAt = FromMS(created)
	return &t, nil
}

// UpdateTenant changes a tenant's name, retention and restricted data;
// ENOTFOUND if there is none.
func (o *Ops) UpdateTenant(ctx context.Context, t *sluice.Tenant) error {
	restricted, err := encodeRestricted(t)
	if err != nil {
		return err
	}
	r := &t.Retention
	return o.execOne(ctx, "tenant", `UPDATE tenants SET name = $2, payload_storage = $3, undelivered_retention_ms = $4,
		payload_retention_ms = $5, metadata_retention_ms = $6, audit_retention_ms = $7, restricted = $8 WHERE id = $1`,
		t.ID, t.Name, string(r.PayloadStorage), r.Undelivered.Milliseconds(), r.Delivered.Milliseconds(),
		r.Metadata.Milliseconds(), r.Audit.Milliseconds(), restricted)
}

func fromMillis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// TenantIDs lists every tenant, by id.
func (o *Ops) TenantIDs(ctx context.Context) ([]string, error) {
	return QueryStrings(ctx, o.Conn, `SELECT id FROM tenants ORDER BY id`)
}

// InsertAPIKey stores a key: ECONFLICT when its token, or a second
// operator key, is taken.
func (o *Ops) InsertAPIKey(ctx context.Context, k *sluice.APIKey) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.TenantID, k.Name, string(k.Role), k.Operator, k.TokenHash, MS(k.CreatedAt), NullMS(k.ExpiresAt),
		NullMS(k.LastUsedAt))
	return err
}

const keyColumns = `id, tenant_id, name, role, operator, token_hash, created_at, expires_at, last_used_at`

func scanKey(row Row) (*sluice.APIKey, error) {
	var k sluice.APIKey
	var role string
	var created int64
	var expires, lastUsed *int64
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &role, &k.Operator, &k.TokenHash, &created, &expires, &lastUsed); err != nil {
		return nil, err
	}
	k.Role, k.CreatedAt = sluice.Role(role), FromMS(created)
	k.ExpiresAt, k.LastUsedAt = FromNullMS(expires), FromNullMS(lastUsed)
	return &k, nil
}

// SetKeyLastUsed sets a key's last use to at unless it is at or later
// already: a second process recording the same minute writes nothing.
func (o *Ops) SetKeyLastUsed(ctx context.Context, id string, at time.Time) error {
	_, err := o.Conn.Exec(ctx, `UPDATE api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, MS(at))
	return err
}

// OperatorKey returns the operator key; ENOTFOUND if there is none.
func (o *Ops) OperatorKey(ctx context.Context) (*sluice.APIKey, error) {
	k, err := scanKey(o.Conn.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE operator = $1`, true))
	return k, notFound(err, "operator key")
}

// KeyByTokenHash returns the key with the token hash; ENOTFOUND.
func (o *Ops) KeyByTokenHash(ctx context.Context, hash []byte) (*sluice.APIKey, error) {
	k, err := scanKey(o.Conn.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE token_hash = $1`, hash))
	return k, notFound(err, "key")
}

// APIKey returns one of the tenant's keys; ENOTFOUND.
func (o *Ops) APIKey(ctx context.Context, tenantID, id string) (*sluice.APIKey, error) {
	k, err := scanKey(o.Conn.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	return k, notFound(err, "key")
}

// APIKeys lists the tenant's keys, newest first.
func (o *Ops) APIKeys(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.APIKey, string, error) {
	return listPage(ctx, o.Conn, "keys", `SELECT `+keyColumns+` FROM api_keys WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanKey, func(k *sluice.APIKey) string { return k.ID })
}

// SetTokenHash replaces a key's token hash and returns its tenant.
func (o *Ops) SetTokenHash(ctx context.Context, keyID string, hash []byte) (string, error) {
	var tenantID string
	err := o.Conn.QueryRow(ctx, `UPDATE api_keys SET token_hash = $1 WHERE id = $2 RETURNING tenant_id`, hash, keyID).Scan(&tenantID)
	return tenantID, notFound(err, "key")
}

// DeleteAPIKey deletes a key.
func (o *Ops) DeleteAPIKey(ctx context.Context, id string) error {
	return o.execOne(ctx, "key", `DELETE FROM api_keys WHERE id = $1`, id)
}

// Setting returns a store-wide setting; ENOTFOUND if it is not set.
func (o *Ops) Setting(ctx context.Context, name string) (string, error) {
	return o.setting(ctx, name, "")
}

// ShareSetting reads a setting and keeps it from changing until the
// transaction ends.
func (o *Ops) ShareSetting(ctx context.Context, name string) (string, error) {
	return o.setting(ctx, name, "FOR SHARE")
}

// LockSetting reads a setting to change it.
func (o *Ops) LockSetting(ctx context.Context, name string) (string, error) {
	return o.setting(ctx, name, "FOR UPDATE")
}

func (o *Ops) setting(ctx context.Context, name, lock string) (string, error) {
	var v string
	err := o.Conn.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`+o.lock(lock), name).Scan(&v)
	return v, notFound(err, "setting "+name)
}

// InsertSetting stores a setting unless it is set, and returns the value
// the store holds.
func (o *Ops) InsertSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := o.Conn.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, value); err != nil {
		return "", err
	}
	return o.Setting(ctx, name)
}

// UpdateSetting changes a setting.
func (o *Ops) UpdateSetting(ctx context.Context, name, value string) error {
	return o.execOne(ctx, "setting "+name, `UPDATE settings SET value = $1 WHERE name = $2`, value, name)
}

// CountDataKeys counts the data keys of every tenant.
func (o *Ops) CountDataKeys(ctx context.Context) (int, error) {
	var n int
	err := o.Conn.QueryRow(ctx, `SELECT COUNT(*) FROM data_keys`).Scan(&n)
	return n, err
}

// DataKey returns the data key with the id, wrapped.
func (o *Ops) DataKey(ctx context.Context, id string) ([]byte, error) {
	var wrapped []byte
	err := o.Conn.QueryRow(ctx, `SELECT wrapped FROM data_keys WHERE id = $1`, id).Scan(&wrapped)
	return wrapped, notFound(err, "data key")
}

// LockDataKeys reads every data key, by id, to change them.
func (o *Ops) LockDataKeys(ctx context.Context) ([]engine.WrappedKey, error) {
	return queryAll(ctx, o.Conn, "data keys", `SELECT id, wrapped, wrapped_subject FROM data_keys ORDER BY id`+o.lock("FOR UPDATE"), nil,
		func(row Row) (engine.WrappedKey, error) {
			var k engine.WrappedKey
			err := row.Scan(&k.ID, &k.Wrapped, &k.WrappedSubject)
			return k, err
		})
}

// UpdateDataKey replaces a data key's wrapped bytes and wrapped subject
// key.
func (o *Ops) UpdateDataKey(ctx context.Context, id string, wrapped, wrappedSubject []byte) error {
	return o.execOne(ctx, fmt.Sprintf("data key %s", id), `UPDATE data_keys SET wrapped = $1, wrapped_subject = $2 WHERE id = $3`,
		wrapped, wrappedSubject, id)
}
