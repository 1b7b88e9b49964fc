package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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

// AuditEntries lists the tenant's audit entries that match the filter,
// newest first. The indexes audit_log_resource, audit_log_actor and
// audit_log_at serve its filters; an action prefix compares the action's
// first bytes, so that the underscores of actions are no LIKE wildcards.
func (o *Ops) AuditEntries(ctx context.Context, tenantID string, f sluice.AuditFilter, page sluice.Page) ([]*sluice.AuditEntry, string, error) {
	query := `SELECT ` + auditColumns + ` FROM audit_log WHERE tenant_id = $1`
	args := []any{tenantID}
	where := func(cond string, v any) {
		query += ` AND ` + strings.ReplaceAll(cond, "?", arg(args))
		args = append(args, v)
	}
	if f.ActorKeyID != "" {
		where(`actor_key_id = ?`, f.ActorKeyID)
	}
	if f.ResourceID != "" {
		where(`resource_id = ?`, f.ResourceID)
	}
	switch {
	case f.Action == "":
	case f.ActionPrefix():
		query += ` AND substr(action, 1, ` + arg(args) + `) = ` + arg(append(args, nil))
		args = append(args, len(f.Action), f.Action)
	default:
		where(`action = ?`, f.Action)
	}
	if !f.Since.IsZero() {
		where(`at >= ?`, MS(f.Since))
	}
	if !f.Until.IsZero() {
		where(`at < ?`, MS(f.Until))
	}
	return listPage(ctx, o.Conn, "audit", query, args, page, scanAudit, auditID)
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
