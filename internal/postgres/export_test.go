package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// ExecScript runs a script of statements without parameters in one
// transaction (the simple protocol sends them as one).
func ExecScript(ctx context.Context, d *Driver, script string) error {
	_, err := d.pool.Exec(ctx, "BEGIN;\n"+script+"\nCOMMIT;")
	return err
}

// RelationFiles writes every dirty page out (CHECKPOINT) and returns the
// files of the driver's tables, their TOAST tables and their indexes.
func RelationFiles(ctx context.Context, d *Driver) ([]string, error) {
	if _, err := d.pool.Exec(ctx, `CHECKPOINT`); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT current_setting('data_directory') || '/' || path FROM (
			SELECT pg_relation_filepath(c.oid) AS path FROM pg_class c
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i')
			UNION ALL
			SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c
			WHERE c.relnamespace = current_schema()::regnamespace AND c.reltoastrelid <> 0
		) f WHERE path IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// BreakCommits has d call before with a new event's connection once its
// rows are planned and before any is sent, and sent once the rows and
// COMMIT are sent and before any answer is read; nil leaves that moment
// alone. Set it before the driver is used.
func BreakCommits(d *Driver, before, sent func(*pgconn.PgConn)) {
	d.hooks.beforeCommit, d.hooks.commitSent = before, sent
}

// SetSettleWithin bounds how long d settles a commit whose answer was
// lost. Set it before the driver is used.
func SetSettleWithin(d *Driver, within time.Duration) { d.settleWithin = within }

// OnEventWaiting has d call waiting as each new event is about to wait for
// a committer (group.go). Set it before the driver is used.
func OnEventWaiting(d *Driver, waiting func()) { d.hooks.eventWaiting = waiting }

// Committers is how many group transactions run at once.
const Committers = eventCommitters

// MaxEventGroup is the most events one group transaction carries.
const MaxEventGroup = maxEventGroup
