package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// tx is the writer's transaction: the shared row operations on the
// writer's connection, the operations SQLite does its own way, and what
// the writer remembers of destinations. Only the writer goroutine uses it.
//
// Being the only writer, it keeps the tenants' routes and destinations'
// health as it last read them: every write to a destination forgets that
// destination (sqldb.Ops.DestinationChanged), and a rolled back transaction
// forgets everything, since what it read may have been its own writes.
type tx struct {
	sqldb.Ops
	// routes holds each tenant's destinations as Routes read them; owner
	// maps a destination to the tenant whose routes hold it.
	routes map[string][]*engine.DestinationRow
	owner  map[string]string
	// health holds destinations' health as RecordAttempts read it.
	health map[string]*engine.DestinationHealth
}

var _ engine.Tx = (*tx)(nil)

func newTx(stmts *stmtCache) *tx {
	t := &tx{
		routes: make(map[string][]*engine.DestinationRow),
		owner:  make(map[string]string),
		health: make(map[string]*engine.DestinationHealth),
	}
	t.Ops = sqldb.Ops{Conn: conn{stmts}, Dialect: dialect, DestinationChanged: t.forget}
	return t
}

// forget drops what is kept of a destination: its health, and its
// tenant's routes, whether they hold it already or it is new to them.
func (t *tx) forget(tenantID, destinationID string) {
	delete(t.health, destinationID)
	if tenantID == "" {
		tenantID = t.owner[destinationID] // none: no routes kept hold it
	}
	for _, d := range t.routes[tenantID] {
		delete(t.owner, d.ID)
	}
	delete(t.routes, tenantID)
}

func (t *tx) forgetRoutes() {
	clear(t.routes)
	clear(t.owner)
}

// forgetAll drops everything kept, after a rollback.
func (t *tx) forgetAll() {
	t.forgetRoutes()
	clear(t.health)
}

// Routes returns the tenant's destinations, from memory when it has them.
// No lock is needed: no other transaction runs meanwhile.
func (t *tx) Routes(ctx context.Context, tenantID string) ([]*engine.DestinationRow, error) {
	if r, ok := t.routes[tenantID]; ok {
		return r, nil
	}
	r, err := t.Ops.Routes(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	t.routes[tenantID] = r
	for _, d := range r {
		t.owner[d.ID] = tenantID
	}
	return r, nil
}

// RefreshEventStatus refreshes the events one by one, with one prepared
// statement: a list of ids passed to SQLite as JSON (json_each) cost a
// recorded attempt more than the refresh itself.
func (t *tx) RefreshEventStatus(ctx context.Context, eventIDs []string) error {
	for _, id := range eventIDs {
		if err := t.RefreshEventStatusOf(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// AnnounceWork does nothing: no other process shares the database.
func (t *tx) AnnounceWork(context.Context) error { return nil }

// RecordAttempts moves each attempt's delivery on and stores the attempt,
// one after the other, with its destination's health: from memory when
// it has it, the common case of a busy destination.
func (t *tx) RecordAttempts(ctx context.Context, as []*engine.AttemptRow, now time.Time) ([]engine.AttemptWritten, error) {
	out := make([]engine.AttemptWritten, len(as))
	for i, r := range as {
		a := &r.Attempt
		var next *int64
		if r.Status == sluice.DeliveryPending {
			next = sqldb.NullMS(r.NextAttemptAt)
		}
		n, err := t.Conn.Exec(ctx, `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
			lease_until = NULL, updated_at = ?
			WHERE id = ? AND tenant_id = ? AND status = 'pending' AND attempts = ?`,
			string(r.Status), a.Number, next, sqldb.MS(now), a.DeliveryID, a.TenantID, a.Number-1)
		if err != nil {
			return nil, fmt.Errorf("update delivery: %w", err)
		}
		if n == 0 {
			continue // no longer claimed at this attempt
		}
		if _, err := t.Conn.Exec(ctx, `INSERT INTO attempts (id, tenant_id, delivery_id, event_id, destination_id,
			attempt, outcome, http_status, duration_ms, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.TenantID, a.DeliveryID, a.EventID, a.DestinationID, a.Number, string(a.Outcome), a.HTTPStatus,
			a.Duration.Milliseconds(), a.Error, sqldb.MS(a.At)); err != nil {
			return nil, fmt.Errorf("insert attempt: %w", err)
		}
		out[i].Recorded = true
		if out[i].Health, err = t.destinationHealth(ctx, a.TenantID, a.DestinationID); err != nil {
			return nil, fmt.Errorf("read destination health: %w", err)
		}
	}
	return out, nil
}

// destinationHealth returns a destination's health, from memory when it
// has it; nil when the destination is gone.
func (t *tx) destinationHealth(ctx context.Context, tenantID, destinationID string) (*engine.DestinationHealth, error) {
	if h, ok := t.health[destinationID]; ok {
		return h, nil
	}
	h, err := t.LockHealth(ctx, tenantID, destinationID)
	if err != nil || h == nil {
		return h, err
	}
	t.health[destinationID] = h
	return h, nil
}
