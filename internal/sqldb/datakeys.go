package sqldb

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
)

const dataKeyColumns = `id, tenant_id, wrapped, wrapped_subject, seal_count, created_at, held_until`

func scanDataKey(row Row) (*engine.DataKeyRow, error) {
	var k engine.DataKeyRow
	var created int64
	var held *int64
	if err := row.Scan(&k.ID, &k.TenantID, &k.Wrapped, &k.WrappedSubject, &k.Seals, &created, &held); err != nil {
		return nil, err
	}
	k.CreatedAt, k.HeldUntil = FromMS(created), FromNullMS(held)
	return &k, nil
}

// InsertDataKey stores a tenant's wrapped data key.
func (o *Ops) InsertDataKey(ctx context.Context, k *engine.DataKeyRow) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO data_keys (id, tenant_id, wrapped, wrapped_subject, created_at)
		VALUES ($1, $2, $3, $4, $5)`, k.ID, k.TenantID, k.Wrapped, k.WrappedSubject, MS(k.CreatedAt))
	return err
}

// NewestDataKey returns the tenant's newest data key, wrapped.
func (o *Ops) NewestDataKey(ctx context.Context, tenantID string) (*engine.DataKeyRow, error) {
	k, err := scanDataKey(o.Conn.QueryRow(ctx, `SELECT `+dataKeyColumns+` FROM data_keys WHERE tenant_id = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`, tenantID))
	return k, notFound(err, "data key")
}

// RetiringDataKeys returns, by tenant and age, the data keys that a newer
// key of their tenant created at or before supersededBy succeeds.
func (o *Ops) RetiringDataKeys(ctx context.Context, supersededBy time.Time) ([]*engine.DataKeyRow, error) {
	return queryAll(ctx, o.Conn, "retiring data keys", `SELECT `+dataKeyColumns+` FROM data_keys k
		WHERE EXISTS (SELECT 1 FROM data_keys n WHERE n.tenant_id = k.tenant_id AND n.created_at <= $1
			AND (n.created_at > k.created_at OR (n.created_at = k.created_at AND n.id > k.id)))
		ORDER BY tenant_id, created_at, id`, []any{MS(supersededBy)}, scanDataKey)
}

// LockTenantDataKeys keeps the tenant's data keys from changing until the
// transaction ends.
func (o *Ops) LockTenantDataKeys(ctx context.Context, tenantID string) error {
	_, err := QueryStrings(ctx, o.Conn, `SELECT id FROM data_keys WHERE tenant_id = $1`+o.lock("FOR UPDATE"), tenantID)
	return err
}

// AddSeals adds n to the count of values sealed under a data key; a key
// that is gone changes nothing.
func (o *Ops) AddSeals(ctx context.Context, id string, n int64) error {
	_, err := o.Conn.Exec(ctx, `UPDATE data_keys SET seal_count = seal_count + $1 WHERE id = $2`, n, id)
	return err
}

// HoldDataKey records that a data key is kept until then.
func (o *Ops) HoldDataKey(ctx context.Context, id string, until time.Time) error {
	return o.execOne(ctx, "data key "+id, `UPDATE data_keys SET held_until = $1 WHERE id = $2`, MS(until), id)
}

// DeleteDataKey deletes a data key.
func (o *Ops) DeleteDataKey(ctx context.Context, id string) error {
	return o.execOne(ctx, "data key "+id, `DELETE FROM data_keys WHERE id = $1`, id)
}

// sealedColumn is where values that outlive payloads are sealed under a
// tenant's data key: how to find those sealed under one key (the tenant
// $1, the length $2 of the prefix $3, at most $4, in the order of the
// rows' keys, after the key $5 in findAfter), and how to replace one
// unless it changed.
type sealedColumn struct {
	column          string // as the engine names it (see seal.AAD)
	find, findAfter string
	replace         string
	// subjectKey says the rows are subject keys, found by hash and key id.
	subjectKey bool
}

// sealedColumns are every column of values that outlive payloads sealed
// under a tenant's data key, in the order SealedUnder goes through them.
var sealedColumns = []sealedColumn{
	sealedByID("destinations", "url"),
	sealedByID("destinations", "secret"),
	sealedByID("destinations", "previous_secret"),
	sealedByID("destinations", "credentials"),
	sealedByID("sources", "credentials"),
	{column: "subject_keys.sealed_key", subjectKey: true,
		find: `SELECT hash, key_id, sealed_key FROM subject_keys
			WHERE tenant_id = $1 AND substr(sealed_key, 1, $2) = $3 ORDER BY hash LIMIT $4`,
		findAfter: `SELECT hash, key_id, sealed_key FROM subject_keys
			WHERE tenant_id = $1 AND substr(sealed_key, 1, $2) = $3 AND hash > $5 ORDER BY hash LIMIT $4`,
		replace: `UPDATE subject_keys SET sealed_key = $1 WHERE tenant_id = $2 AND hash = $3 AND key_id = $4 AND sealed_key = $5`},
}

// sealedByID is a sealed column of a table whose rows have an id.
func sealedByID(table, name string) sealedColumn {
	find := `SELECT id, ` + name + ` FROM ` + table + ` WHERE tenant_id = $1 AND substr(` + name + `, 1, $2) = $3`
	return sealedColumn{column: table + "." + name,
		find:      find + ` ORDER BY id LIMIT $4`,
		findAfter: find + ` AND id > $5 ORDER BY id LIMIT $4`,
		replace:   `UPDATE ` + table + ` SET ` + name + ` = $1 WHERE tenant_id = $2 AND id = $3 AND ` + name + ` = $4`}
}

// SealedUnder returns up to limit of the tenant's values that outlive
// payloads whose sealed bytes start with prefix, column after column and
// in the order of their rows: those after the value after, when it is set.
func (o *Ops) SealedUnder(ctx context.Context, tenantID string, prefix []byte, after *engine.SealedValue, limit int) ([]engine.SealedValue, error) {
	start := 0
	if after != nil {
		start = slices.IndexFunc(sealedColumns, func(c sealedColumn) bool { return c.column == after.Column })
		if start < 0 {
			return nil, fmt.Errorf("sealed values: no sealed column %q", after.Column)
		}
	}
	var out []engine.SealedValue
	for i := start; i < len(sealedColumns) && len(out) < limit; i++ {
		c := sealedColumns[i]
		query, args := c.find, []any{tenantID, len(prefix), prefix, limit - len(out)}
		if after != nil && i == start {
			query = c.findAfter
			if c.subjectKey {
				args = append(args, after.Hash)
			} else {
				args = append(args, after.ID)
			}
		}
		vals, err := queryAll(ctx, o.Conn, c.column, query, args, func(row Row) (engine.SealedValue, error) {
			v := engine.SealedValue{Column: c.column}
			if c.subjectKey {
				return v, row.Scan(&v.Hash, &v.KeyID, &v.Sealed)
			}
			return v, row.Scan(&v.ID, &v.Sealed)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, nil
}

// Reseal replaces a value SealedUnder returned, unless it changed
// meanwhile, and reports whether it did.
func (o *Ops) Reseal(ctx context.Context, tenantID string, v engine.SealedValue, resealed []byte) (bool, error) {
	for _, c := range sealedColumns {
		if c.column != v.Column {
			continue
		}
		var n int64
		var err error
		if c.subjectKey {
			n, err = o.Conn.Exec(ctx, c.replace, resealed, tenantID, v.Hash, v.KeyID, v.Sealed)
		} else {
			n, err = o.Conn.Exec(ctx, c.replace, resealed, tenantID, v.ID, v.Sealed)
			if n > 0 {
				o.changed(tenantID, v.ID)
			}
		}
		return n > 0, err
	}
	return false, fmt.Errorf("reseal: no sealed column %q", v.Column)
}

// PayloadsSealedUnder counts the tenant's payloads whose body or key share
// starts with prefix, and returns the latest expiry among them, as their
// events may yet stand (delivered or not). Without an index by tenant it
// reads the whole table, so the engine calls it seldom.
func (o *Ops) PayloadsSealedUnder(ctx context.Context, tenantID string, prefix []byte) (int, time.Time, error) {
	var (
		n                      int
		last, delivered, undel *int64
	)
	err := o.Conn.QueryRow(ctx, `SELECT COUNT(*), MAX(expires_at), MAX(delivered_until), MAX(undelivered_until)
		FROM event_payloads WHERE tenant_id = $1
		AND (substr(body, 1, $2) = $3 OR substr(key_share, 1, $2) = $3)`, tenantID, len(prefix), prefix).Scan(&n, &last,
		&delivered, &undel)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count payloads sealed under a key: %w", err)
	}
	latest := FromNullMS(last)
	for _, t := range []time.Time{FromNullMS(delivered), FromNullMS(undel)} {
		if t.After(latest) {
			latest = t
		}
	}
	return n, latest, nil
}
