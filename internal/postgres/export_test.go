package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// PreparedStatements returns the text of every statement prepared on the
// store's idle connections: the ones PostgreSQL may keep a generic plan of.
func PreparedStatements(ctx context.Context, d *Driver) ([]string, error) {
	conns := d.pool.AcquireAllIdle(ctx)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	var all []string
	for _, c := range conns {
		rows, err := c.Query(ctx, `SELECT statement FROM pg_prepared_statements`, planEach)
		if err != nil {
			return nil, err
		}
		statements, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		all = append(all, statements...)
	}
	return all, nil
}
