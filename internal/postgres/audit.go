package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// AuditLog lists a tenant's audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	return listPage(ctx, s.pool, "audit",
		`SELECT id, tenant_id, actor_key_id, action, resource_id, at FROM audit_log WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanAudit, asIs, func(e *sluice.AuditEntry) string { return e.ID })
}

func scanAudit(row scanner) (*sluice.AuditEntry, error) {
	var e sluice.AuditEntry
	var at int64
	if err := row.Scan(&e.ID, &e.TenantID, &e.ActorKeyID, &e.Action, &e.ResourceID, &at); err != nil {
		return nil, err
	}
	e.At = fromMS(at)
	return &e, nil
}

// RecordAudit appends an entry that is not part of a change the store
// makes, such as a payload read.
func (s *Store) RecordAudit(ctx context.Context, e *sluice.AuditEntry) error {
	if e.ID == "" {
		e.ID = sluice.NewID(sluice.PrefixAudit)
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO audit_log (id, tenant_id, actor_key_id, action, resource_id, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.ID, e.TenantID, e.ActorKeyID, e.Action, e.ResourceID, ms(e.At))
		if err != nil {
			return fmt.Errorf("record audit: %w", err)
		}
		return nil
	})
}
