package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

const destinationColumns = storekit.DestinationColumnList

// CreateDestination stores d.
func (s *Store) CreateDestination(ctx context.Context, d *sluice.Destination) error {
	now := s.now()
	d.CreatedAt, d.UpdatedAt = now, now
	c, err := storekit.EncodeDestination(ctx, s.keys, d)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		delete(s.routes, d.TenantID)
		_, err := tx.ExecContext(ctx, `INSERT INTO destinations (`+storekit.DestinationInsertColumnList+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.TenantID, d.Name, c.URL, c.EventTypes, c.SourceIDs, c.Fields,
			d.RateLimitPerSecond, c.Secret, c.PreviousSecret, c.PreviousSecretUntil, d.Enabled, d.DisabledReason, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("insert destination: %w", err)
		}
		return s.audit(ctx, tx, d.TenantID, "destination.create", d.ID)
	})
}

// scanDestination returns a scan function for destination rows read in ctx.
func (s *Store) scanDestination(ctx context.Context) func(scanner) (*sluice.Destination, error) {
	return func(row scanner) (*sluice.Destination, error) {
		var r storekit.DestinationRow
		if err := row.Scan(r.Targets()...); err != nil {
			return nil, err
		}
		return r.Decode(ctx, s.keys)
	}
}

// Destination returns one destination or ENOTFOUND.
func (s *Store) Destination(ctx context.Context, tenantID, id string) (*sluice.Destination, error) {
	d, err := s.scanDestination(ctx)(s.readDB.QueryRowContext(ctx,
		`SELECT `+destinationColumns+` FROM destinations WHERE id = ? AND tenant_id = ?`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "destination")
	}
	return d, nil
}

// Destinations lists a tenant's destinations, newest first.
func (s *Store) Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Destination, string, error) {
	return listPage(ctx, s.readDB, "destinations", `SELECT `+destinationColumns+` FROM destinations WHERE tenant_id = ?`,
		[]any{tenantID}, page, s.scanDestination(ctx), func(d *sluice.Destination) string { return d.ID })
}

// UpdateDestination stores every field of d; ENOTFOUND if it is gone.
func (s *Store) UpdateDestination(ctx context.Context, d *sluice.Destination) error {
	d.UpdatedAt = s.now()
	c, err := storekit.EncodeDestination(ctx, s.keys, d)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		delete(s.routes, d.TenantID)
		delete(s.healthy, d.ID)
		var wasEnabled bool
		var oldRate int
		if err := tx.QueryRowContext(ctx, `SELECT enabled, rate_limit_per_second FROM destinations WHERE id = ? AND tenant_id = ?`,
			d.ID, d.TenantID).Scan(&wasEnabled, &oldRate); err != nil {
			return notFound(err, "destination")
		}
		res, err := tx.ExecContext(ctx, `UPDATE destinations SET name = ?, url = ?, event_types = ?, source_ids = ?,
			fields = ?, rate_limit_per_second = ?, secret = ?, previous_secret = ?, previous_secret_until = ?,
			enabled = ?, disabled_reason = ?, updated_at = ?
			WHERE id = ? AND tenant_id = ?`,
			d.Name, c.URL, c.EventTypes, c.SourceIDs, c.Fields, d.RateLimitPerSecond, c.Secret, c.PreviousSecret,
			c.PreviousSecretUntil, d.Enabled, d.DisabledReason, ms(d.UpdatedAt), d.ID, d.TenantID)
		if err != nil {
			return fmt.Errorf("update destination: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		}
		enabling := d.Enabled && !wasEnabled
		if enabling {
			// Switched back on: its old failures no longer count.
			if _, err := tx.ExecContext(ctx, `UPDATE destinations SET failures = 0, failing_since = NULL, paused_at = NULL,
				pause_ms = 0, paused_until = NULL WHERE id = ?`, d.ID); err != nil {
				return fmt.Errorf("reset destination health: %w", err)
			}
		}
		if enabling || oldRate != d.RateLimitPerSecond {
			if err := resetRateLimit(ctx, tx, d.ID); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, d.TenantID, "destination.update", d.ID)
	})
}

// DeleteDestination removes a destination and cancels its pending deliveries.
func (s *Store) DeleteDestination(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		delete(s.routes, tenantID)
		delete(s.healthy, id)
		res, err := tx.ExecContext(ctx, `DELETE FROM destinations WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return fmt.Errorf("delete destination: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		}
		rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL,
			lease_until = NULL, updated_at = ? WHERE destination_id = ? AND status = 'pending' RETURNING event_id`,
			ms(s.now()), id)
		if err != nil {
			return fmt.Errorf("cancel deliveries: %w", err)
		}
		eventIDs, err := collectStrings(rows)
		if err != nil {
			return fmt.Errorf("cancel deliveries: %w", err)
		}
		for _, eventID := range eventIDs {
			if err := refreshEventStatus(ctx, tx, eventID); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, tenantID, "destination.delete", id)
	})
}

// tenantRoutes returns the tenant's destinations for routing, from the
// writer's cache. Call it only inside a write.
func (s *Store) tenantRoutes(ctx context.Context, tx querier, tenantID string) ([]*sluice.Destination, error) {
	if r, ok := s.routes[tenantID]; ok {
		return r, nil
	}
	r, err := queryAll(ctx, tx, "destinations", `SELECT `+destinationColumns+` FROM destinations WHERE tenant_id = ?`,
		[]any{tenantID}, s.scanDestination(ctx))
	if err != nil {
		return nil, err
	}
	s.routes[tenantID] = r
	return r, nil
}

func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
