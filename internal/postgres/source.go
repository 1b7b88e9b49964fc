package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

const sourceColumns = storekit.SourceColumnList

// scanSourceRow scans a row of sourceColumns.
func scanSourceRow(row scanner) (*storekit.SourceRow, error) {
	var r storekit.SourceRow
	if err := row.Scan(r.Targets()...); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeSource opens a scanned source's credentials.
func (s *Store) decodeSource(ctx context.Context, r *storekit.SourceRow) (*sluice.Source, error) {
	return r.Decode(ctx, s.keys)
}

// CreateSource stores src.
func (s *Store) CreateSource(ctx context.Context, src *sluice.Source) error {
	now := s.now()
	src.CreatedAt, src.UpdatedAt = now, now
	c, err := storekit.EncodeSource(ctx, s.keys, src)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sources (`+sourceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
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
	r, err := scanSourceRow(s.pool.QueryRow(ctx,
		`SELECT `+sourceColumns+` FROM sources WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "source")
	}
	return r.Decode(ctx, s.keys)
}

// IngestSource returns a source by id alone, for the unauthenticated ingest
// endpoint: ENOTFOUND if there is none.
func (s *Store) IngestSource(ctx context.Context, id string) (*sluice.Source, error) {
	r, err := scanSourceRow(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "source")
	}
	return r.Decode(ctx, s.keys)
}

// Sources lists a tenant's sources, newest first.
func (s *Store) Sources(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Source, string, error) {
	return listPage(ctx, s.pool, "sources", `SELECT `+sourceColumns+` FROM sources WHERE tenant_id = $1`,
		[]any{tenantID}, page, scanSourceRow, s.decodeSource, func(s *sluice.Source) string { return s.ID })
}

// UpdateSource stores every field of src; ENOTFOUND if it is gone.
func (s *Store) UpdateSource(ctx context.Context, src *sluice.Source) error {
	src.UpdatedAt = s.now()
	c, err := storekit.EncodeSource(ctx, s.keys, src)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sources SET name = $1, verification = $2, credentials = $3,
			event_type_path = $4, event_id_path = $5, subject_paths = $6, allowed_ips = $7, rate_limit_per_second = $8,
			payload_retention_ms = $9, enabled = $10, updated_at = $11 WHERE id = $12 AND tenant_id = $13`,
			src.Name, c.Verification, c.Credentials, src.EventTypePath, src.EventIDPath, c.SubjectPaths, c.AllowedIPs,
			src.RateLimitPerSecond, c.PayloadRetentionMS, src.Enabled, ms(src.UpdatedAt), src.ID, src.TenantID)
		if err != nil {
			return fmt.Errorf("update source: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "source not found")
		}
		return s.audit(ctx, tx, src.TenantID, "source.update", src.ID)
	})
}

// DeleteSource removes a source; its events stay. ENOTFOUND if none.
func (s *Store) DeleteSource(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sources WHERE id = $1 AND tenant_id = $2`, id, tenantID)
		if err != nil {
			return fmt.Errorf("delete source: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return sluice.Errorf(sluice.ENOTFOUND, "source not found")
		}
		return s.audit(ctx, tx, tenantID, "source.delete", id)
	})
}
