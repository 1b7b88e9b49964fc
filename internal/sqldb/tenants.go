package sqldb

import (
	"context"
	"fmt"
)

// The rows of a tenant being deleted (see the engine's DeleteTenant). Its
// API keys, data keys, subject keys, sources, destinations and events
// refer to its row in tenants, which goes last. An event's payload,
// deliveries, attempts and subject links go with it (ON DELETE CASCADE),
// and a subject's links go with its key. Audit entries, erasures and
// observations refer to nothing.

// LockTenant reads a tenant to delete it, and keeps rows that refer to it
// from being added until the transaction ends: ENOTFOUND.
func (o *Ops) LockTenant(ctx context.Context, id string) error {
	var got string
	err := o.Conn.QueryRow(ctx, `SELECT id FROM tenants WHERE id = $1`+o.lock("FOR UPDATE"), id).Scan(&got)
	return notFound(err, "tenant")
}

// DeleteTenantKeys deletes the tenant's data keys, its subject keys (and
// with them its subject links), its API keys and its portal sessions, and
// returns the ids of the data keys.
func (o *Ops) DeleteTenantKeys(ctx context.Context, tenantID string) ([]string, error) {
	if _, err := o.Conn.Exec(ctx, `DELETE FROM subject_keys WHERE tenant_id = $1`, tenantID); err != nil {
		return nil, fmt.Errorf("delete subject keys: %w", err)
	}
	ids, err := QueryStrings(ctx, o.Conn, `DELETE FROM data_keys WHERE tenant_id = $1 RETURNING id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("delete data keys: %w", err)
	}
	if _, err := o.Conn.Exec(ctx, `DELETE FROM api_keys WHERE tenant_id = $1`, tenantID); err != nil {
		return nil, fmt.Errorf("delete api keys: %w", err)
	}
	if _, err := o.Conn.Exec(ctx, `DELETE FROM portal_sessions WHERE tenant_id = $1`, tenantID); err != nil {
		return nil, fmt.Errorf("delete portal sessions: %w", err)
	}
	return sortedUnique(ids), nil
}

// DeleteTenantConfig deletes the tenant's sources and destinations and
// returns the destinations' ids.
func (o *Ops) DeleteTenantConfig(ctx context.Context, tenantID string) ([]string, error) {
	if _, err := o.Conn.Exec(ctx, `DELETE FROM sources WHERE tenant_id = $1`, tenantID); err != nil {
		return nil, fmt.Errorf("delete sources: %w", err)
	}
	ids, err := QueryStrings(ctx, o.Conn, `DELETE FROM destinations WHERE tenant_id = $1 RETURNING id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("delete destinations: %w", err)
	}
	for _, id := range ids {
		o.changed(tenantID, id)
	}
	return sortedUnique(ids), nil
}

// DeleteTenantEvents deletes up to limit of the tenant's events, with
// everything that hangs off them, and returns their ids.
func (o *Ops) DeleteTenantEvents(ctx context.Context, tenantID string, limit int) ([]string, error) {
	ids, err := QueryStrings(ctx, o.Conn, `DELETE FROM events WHERE id IN
		(SELECT id FROM events WHERE tenant_id = $1 ORDER BY id LIMIT $2) RETURNING id`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("delete events: %w", err)
	}
	return ids, nil
}

// DeleteTenantAudit deletes up to limit of the tenant's audit entries and
// returns how many.
func (o *Ops) DeleteTenantAudit(ctx context.Context, tenantID string, limit int) (int, error) {
	n, err := o.Conn.Exec(ctx, `DELETE FROM audit_log WHERE id IN
		(SELECT id FROM audit_log WHERE tenant_id = $1 ORDER BY id LIMIT $2)`, tenantID, limit)
	if err != nil {
		return 0, fmt.Errorf("delete audit entries: %w", err)
	}
	return int(n), nil
}

// DeleteTenant deletes the tenant's observations and erasures, and the
// tenant: ENOTFOUND. A row of another table that still refers to it fails
// the deletion.
func (o *Ops) DeleteTenant(ctx context.Context, id string) error {
	for _, table := range []string{"observations", "erasures"} {
		if _, err := o.Conn.Exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = $1`, id); err != nil {
			return fmt.Errorf("delete %s: %w", table, err)
		}
	}
	return o.execOne(ctx, "tenant", `DELETE FROM tenants WHERE id = $1`, id)
}
