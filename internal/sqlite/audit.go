package sqlite

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice"
)

// AuditLog lists a tenant's audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	limit := pageLimit(page)
	q := `SELECT id, tenant_id, actor_key_id, action, resource_id, at FROM audit_log WHERE tenant_id = ?`
	args := []any{tenantID}
	if page.Cursor != "" {
		q += ` AND id < ?`
		args = append(args, page.Cursor)
	}
	args = append(args, limit+1)
	rows, err := s.readDB.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []*sluice.AuditEntry
	for rows.Next() {
		var e sluice.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.ActorKeyID, &e.Action, &e.ResourceID, &at); err != nil {
			return nil, "", fmt.Errorf("scan audit: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	out, next := cut(out, limit, func(e *sluice.AuditEntry) string { return e.ID })
	return out, next, nil
}

// RecordAudit appends an entry that is not part of a change the store makes.
func (s *Store) RecordAudit(ctx context.Context, e *sluice.AuditEntry) error {
	if e.ID == "" {
		e.ID = sluice.NewID(sluice.PrefixAudit)
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO audit_log (id, tenant_id, actor_key_id, action, resource_id, at) VALUES (?, ?, ?, ?, ?, ?)`,
			e.ID, e.TenantID, e.ActorKeyID, e.Action, e.ResourceID, ms(e.At))
		if err != nil {
			return fmt.Errorf("record audit: %w", err)
		}
		return nil
	})
}

// cut trims a page fetched with one extra row and returns the cursor of the
// next page: the last kept id, or "" when there is no more.
func cut[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, id(items[limit-1])
}
