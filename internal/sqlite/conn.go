package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluicehq/sluice/internal/sqldb"
)

// dialect is SQLite's part in the shared statements: no row locks (one
// writer at a time needs none), and a list of ids passed as one JSON array.
var dialect = &sqldb.Dialect{
	RowLocks: false,
	InList: func(column string, n int) string {
		return column + " IN (SELECT value FROM json_each($" + strconv.Itoa(n) + "))"
	},
	IDs: func(ids []string) any {
		b, _ := json.Marshal(ids) // strings always encode
		return string(b)
	},
}

// querier is database/sql's way of running statements: the read pool, or
// the writer's statement cache.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn is a querier as the shared row operations use it (sqldb.Conn), its
// errors mapped to codes.
type conn struct{ q querier }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapError(err)
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqldb.Rows, error) {
	rows, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapError(err)
	}
	return result{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqldb.Row {
	return row{c.q.QueryRowContext(ctx, query, args...)}
}

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return mapError(r.r.Scan(dest...)) }

type result struct{ *sql.Rows }

func (r result) Scan(dest ...any) error { return mapError(r.Rows.Scan(dest...)) }

func (r result) Err() error { return mapError(r.Rows.Err()) }

func (r result) Close() { _ = r.Rows.Close() }

// mapError gives a constraint violation its code: a unique violation is
// ECONFLICT, a foreign key violation ENOTFOUND.
func mapError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqldb.Conflict(err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqldb.MissingReference(err)
	}
	return err
}
