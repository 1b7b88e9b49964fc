package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO destinations (`+storekit.DestinationInsertColumnList+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			d.ID, d.TenantID, d.Name, c.URL, c.EventTypes, c.SourceIDs, c.Fields,
			d.RateLimitPerSecond, c.Secret, c.PreviousSecret, c.PreviousSecretUntil, d.Enabled, d.DisabledReason, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("insert destination: %w", err)
		}
		return s.audit(ctx, tx, d.TenantID, "destination.create", d.ID)
	})
}

// scanDestinationRow scans a row of destinationColumns.
func scanDestinationRow(row scanner) (*storekit.DestinationRow, error) {
	var r storekit.DestinationRow
	if err := row.Scan(r.Targets()...); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeDestination opens a scanned destination's sealed columns.
func (s *Store) decodeDestination(ctx context.Context, r *storekit.DestinationRow) (*sluice.Destination, error) {
	return r.Decode(ctx, s.keys)
}

// Destination returns one destination or ENOTFOUND.
func (s *Store) Destination(ctx context.Context, tenantID, id string) (*sluice.Destination, error) {
	r, err := scanDestinationRow(s.pool.QueryRow(ctx,
		`SELECT `+destinationColumns+` FROM destinations WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "destination")
	}
	return r.Decode(ctx, s.keys)
}

// Destinations lists a tenant's destinations, newest first.
func (s *Store) Destinations(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Destination, string, error) {
	return listPage(ctx, s.pool, "destinations", `SELECT `+destinationColumns+` FROM destinations WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanDestinationRow, s.decodeDestination, func(d *sluice.Destination) string { return d.ID })
}

// UpdateDestination stores every field of d; ENOTFOUND if it is gone. When
// it enables a disabled destination, whose deliveries are due now, it
// tells the listening processes.
func (s *Store) UpdateDestination(ctx context.Context, d *sluice.Destination) error {
	d.UpdatedAt = s.now()
	c, err := storekit.EncodeDestination(ctx, s.keys, d)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var wasEnabled bool
		var oldRate int
		err := tx.QueryRow(ctx, `SELECT enabled, rate_limit_per_second FROM destinations
			WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE`, d.ID, d.TenantID).Scan(&wasEnabled, &oldRate)
		if err != nil {
			return notFound(err, "destination")
		}
		if _, err := tx.Exec(ctx, `UPDATE destinations SET name = $1, url = $2, event_types = $3, source_ids = $4,
			fields = $5, rate_limit_per_second = $6, secret = $7, previous_secret = $8, previous_secret_until = $9,
			enabled = $10, disabled_reason = $11, updated_at = $12
			WHERE id = $13 AND tenant_id = $14`,
			d.Name, c.URL, c.EventTypes, c.SourceIDs, c.Fields, d.RateLimitPerSecond, c.Secret, c.PreviousSecret,
			c.PreviousSecretUntil, d.Enabled, d.DisabledReason, ms(d.UpdatedAt), d.ID, d.TenantID); err != nil {
			return fmt.Errorf("update destination: %w", err)
		}
		enabling := d.Enabled && !wasEnabled
		if enabling {
			// Switched back on: its old failures no longer count.
			if _, err := tx.Exec(ctx, `UPDATE destinations SET failures = 0, failing_since = NULL, paused_at = NULL,
				pause_ms = 0, paused_until = NULL WHERE id = $1`, d.ID); err != nil {
				return fmt.Errorf("reset destination health: %w", err)
			}
		}
		if enabling || oldRate != d.RateLimitPerSecond {
			if err := resetRateLimit(ctx, tx, d.ID); err != nil {
				return err
			}
		}
		if enabling {
			if err := s.notifyWork(ctx, tx); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, d.TenantID, "destination.update", d.ID)
	})
}

// DeleteDestination removes a destination and cancels its pending
// deliveries; ENOTFOUND if none.
//
// The delete comes first: it waits for any event being routed to the
// destination right now (tenantRoutes shares its row lock), so the cancel
// that follows also sees the deliveries those events added.
func (s *Store) DeleteDestination(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM destinations WHERE id = $1 AND tenant_id = $2`, id, tenantID)
		if err != nil {
			return fmt.Errorf("delete destination: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "destination not found")
		}
		eventIDs, err := queryStrings(ctx, tx, `UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL,
			lease_until = NULL, claimed_by = NULL, updated_at = $1
			WHERE destination_id = $2 AND status = 'pending' RETURNING event_id`, ms(s.now()), id)
		if err != nil {
			return fmt.Errorf("cancel deliveries: %w", err)
		}
		if err := refreshEventStatus(ctx, tx, eventIDs); err != nil {
			return err
		}
		return s.audit(ctx, tx, tenantID, "destination.delete", id)
	})
}

// tenantRoutes returns the tenant's destinations for routing, inside a
// write. Unlike the embedded store it caches nothing, since other
// processes change destinations too. It shares the rows' key lock, so a
// destination cannot be deleted while an event is routed to it.
func (s *Store) tenantRoutes(ctx context.Context, tx querier, tenantID string) ([]*sluice.Destination, error) {
	rows, err := tx.Query(ctx, routesQuery, tenantID)
	return s.routes(ctx, rows, err)
}

// routesQuery reads a tenant's destinations for routing: $1 is the tenant.
const routesQuery = `SELECT ` + destinationColumns + ` FROM destinations WHERE tenant_id = $1 ORDER BY id FOR KEY SHARE`

// routes collects routesQuery's rows; err is the query's.
func (s *Store) routes(ctx context.Context, rows pgx.Rows, err error) ([]*sluice.Destination, error) {
	return collectAll(ctx, rows, err, "destinations", scanDestinationRow, s.decodeDestination)
}
