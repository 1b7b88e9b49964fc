package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/anomaly"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// ShareAnomalyCounts adds this process's anomaly counts to those every
// process on the database has made, drops the counts of parts before
// since, which no window holds any more, and returns the totals of the
// parts from since on: one round trip.
func (d *Driver) ShareAnomalyCounts(ctx context.Context, add []anomaly.Count, since time.Time) ([]anomaly.Count, error) {
	keys, parts, counts := make([]string, len(add)), make([]int64, len(add)), make([]int64, len(add))
	for i, c := range add {
		keys[i], parts[i], counts[i] = c.Key, sqldb.MS(c.Part), int64(c.N)
	}
	var b pgx.Batch
	if len(add) > 0 {
		b.Queue(`INSERT INTO anomaly_counts (key, part, count)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
			ON CONFLICT (key, part) DO UPDATE SET count = anomaly_counts.count + EXCLUDED.count`, keys, parts, counts)
	}
	from := sqldb.MS(since)
	b.Queue(`DELETE FROM anomaly_counts WHERE part < $1`, from)
	var out []anomaly.Count
	b.Queue(`SELECT key, part, count FROM anomaly_counts WHERE part >= $1`, from).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var c anomaly.Count
			var part, n int64
			if err := rows.Scan(&c.Key, &part, &n); err != nil {
				return err
			}
			c.Part, c.N = sqldb.FromMS(part), int(n)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err := d.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("share anomaly counts: %w", err)
	}
	return out, nil
}
