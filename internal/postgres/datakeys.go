package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// DeleteDataKey deletes a retired data key, and records data_keys for
// Scrub to rewrite: VACUUM alone would leave the wrapped key's bytes, and
// those of the row's older versions (each count added to it wrote one), in
// the table's pages.
func (t *tx) DeleteDataKey(ctx context.Context, id string) error {
	var xid uint64
	err := t.tx.QueryRow(ctx, `DELETE FROM data_keys WHERE id = $1 RETURNING pg_current_xact_id()::text::bigint`, id).Scan(&xid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return sluice.Errorf(sluice.ENOTFOUND, "data key %s not found", id)
	case err != nil:
		return fmt.Errorf("delete data key: %w", mapError(err))
	}
	t.drv.markUnscrubbed("data_keys", xid)
	return nil
}
