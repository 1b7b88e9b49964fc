package sqldb

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice"
)

// auditColumns are the columns scanAudit reads.
const auditColumns = `id, tenant_id, actor_key_id, action, resource_id, at, changes`

// changeRow is a sluice.Change as audit_log.changes stores it, in the
// JSON the API shows.
type changeRow struct {
	Field string `json:"field"`
	Old   any    `json:"old"`
	New   any    `json:"new"`
}

// InsertAudit appends an audit entry, its changes as JSON (NULL when it
// has none).
func (o *Ops) InsertAudit(ctx context.Context, e *sluice.AuditEntry) error {
	var changes *string
	if len(e.Changes) > 0 {
		rows := make([]changeRow, len(e.Changes))
		for i, c := range e.Changes {
			rows[i] = changeRow(c)
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return fmt.Errorf("encode changes of %s: %w", e.Action, err)
		}
		str := string(b)
		changes = &str
	}
	_, err := o.Conn.Exec(ctx, `INSERT INTO audit_log (id, tenant_id, actor_key_id, action, resource_id, at, changes)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, e.TenantID, e.ActorKeyID, e.Action, e.ResourceID, MS(e.At), changes)
	return err
}

// AuditLog lists the tenant's audit entries, newest first.
func (o *Ops) AuditLog(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	return listPage(ctx, o.Conn, "audit",
		`SELECT `+auditColumns+` FROM audit_log WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanAudit, auditID)
}

// ResourceAudit lists the tenant's audit entries about one resource,
// newest first (index audit_log_resource).
func (o *Ops) ResourceAudit(ctx context.Context, tenantID, resourceID string, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	return listPage(ctx, o.Conn, "audit",
		`SELECT `+auditColumns+` FROM audit_log WHERE tenant_id = $1 AND resource_id = $2`,
		[]any{tenantID, resourceID}, page, scanAudit, auditID)
}

func scanAudit(row Row) (*sluice.AuditEntry, error) {
	var e sluice.AuditEntry
	var at int64
	var changes *string
	if err := row.Scan(&e.ID, &e.TenantID, &e.ActorKeyID, &e.Action, &e.ResourceID, &at, &changes); err != nil {
		return nil, err
	}
	e.At = FromMS(at)
	if changes != nil {
		var rows []changeRow
		if err := json.Unmarshal([]byte(*changes), &rows); err != nil {
			return nil, fmt.Errorf("decode changes of %s: %w", e.ID, err)
		}
		e.Changes = make([]sluice.Change, len(rows))
		for i, c := range rows {
			e.Changes[i] = sluice.Change(c)
		}
	}
	return &e, nil
}

func auditID(e *sluice.AuditEntry) string { return e.ID }
