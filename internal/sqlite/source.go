package sqlite

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

const sourceColumns = storekit.SourceColumnList

// scanSource returns a scan function for source rows read in ctx.
func (s *Store) scanSource(ctx context.Context) func(scanner) (*sluice.Source, error) {
	return func(row scanner) (*sluice.Source, error) {
		var r storekit.SourceRow
		if err := row.Scan(r.Targets()...); err != nil {
			return nil, err
		}
		return r.Decode(ctx, s.keys)
	}
}

// CreateSource stores src.
func (s *Store) CreateSource(ctx context.Context, src *sluice.Source) error {
	now := s.now()
	src.CreatedAt, src.UpdatedAt = now, now
	c, err := storekit.EncodeSource(ctx, s.keys, src)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sources (`+sourceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			src.ID, src.TenantID, src.Name, c.Verification, c.Credentials, src.EventTypePath, src.EventIDPath,
			c.SubjectPaths, c.AllowedIPs, src.RateLimitPerSecond, c.PayloadRetentionMS, src.Enabled, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("insert source: %w", err)
		}
		return s.audit(ctx, tx, src.TenantID, "source.create", src.ID)
	})
}

// Source returns one of a tenant's sources or ENOTFOUND.
func (s *Store) Source(ctx context.Context, tenantID, id string) (*sluice.Source, error) {
	src, err := s.scanSource(ctx)(s.readDB.QueryRowContext(ctx,
		`SELECT `+sourceColumns+` FROM sources WHERE id = ? AND tenant_id = ?`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "source")
	}
	return src, nil
}

// IngestSource returns a source by id alone, or ENOTFOUND.
func (s *Store) IngestSource(ctx context.Context, id string) (*sluice.Source, error) {
	src, err := s.scanSource(ctx)(s.readDB.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "source")
	}
	return src, nil
}

// Sources lists a tenant's sources, newest first.
func (s *Store) Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Source, string, error) {
	return listPage(ctx, s.readDB, "sources", `SELECT `+sourceColumns+` FROM sources WHERE tenant_id = ?`,
		[]any{tenantID}, page, s.scanSource(ctx), func(s *sluice.Source) string { return s.ID })
}

// UpdateSource stores every field of src; ENOTFOUND if it is gone.
func (s *Store) UpdateSource(ctx context.Context, src *sluice.Source) error {
	src.UpdatedAt = s.now()
	c, err := storekit.EncodeSource(ctx, s.keys, src)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE sources SET name = ?, verification = ?, credentials = ?,
			event_type_path = ?, event_id_path = ?, subject_paths = ?, allowed_ips = ?, rate_limit_per_second = ?,
			payload_retention_ms = ?, enabled = ?, updated_at = ? WHERE id = ? AND tenant_id = ?`,
			src.Name, c.Verification, c.Credentials, src.EventTypePath, src.EventIDPath, c.SubjectPaths, c.AllowedIPs,
			src.RateLimitPerSecond, c.PayloadRetentionMS, src.Enabled, ms(src.UpdatedAt), src.ID, src.TenantID)
		if err != nil {
			return fmt.Errorf("update source: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "source not found")
		}
		return s.audit(ctx, tx, src.TenantID, "source.update", src.ID)
	})
}

// DeleteSource removes a source; its events stay.
func (s *Store) DeleteSource(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sources WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return fmt.Errorf("delete source: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "source not found")
		}
		return s.audit(ctx, tx, tenantID, "source.delete", id)
	})
}
