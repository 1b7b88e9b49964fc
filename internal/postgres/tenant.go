package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DeleteTenantKeys deletes the tenant's keys (see sqldb.Ops.DeleteTenantKeys)
// and records data_keys and the partitions of subject_keys it deleted from
// for Scrub to rewrite: VACUUM would leave the keys' bytes in free space,
// and with them everything sealed for the tenant could still be opened by
// whoever holds the master key and a copy of the files.
func (t *tx) DeleteTenantKeys(ctx context.Context, tenantID string) ([]string, error) {
	// The partitions' names as a regclass renders them: quoted, and
	// qualified when their schema is not on the search path.
	rows, err := t.tx.Query(ctx, `WITH d AS (DELETE FROM subject_keys WHERE tenant_id = $1
		RETURNING tableoid::regclass::text AS part) SELECT DISTINCT part FROM d`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("delete subject keys: %w", mapError(err))
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("delete subject keys: %w", mapError(err))
	}
	ids, err := t.Ops.DeleteTenantKeys(ctx, tenantID)
	if err != nil || len(parts) == 0 && len(ids) == 0 {
		return ids, err
	}
	var xid uint64
	if err := t.tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		return nil, fmt.Errorf("transaction id: %w", err)
	}
	for _, part := range parts {
		t.drv.markUnscrubbed(part, xid)
	}
	if len(ids) > 0 {
		t.drv.markUnscrubbed("data_keys", xid)
	}
	return ids, nil
}
