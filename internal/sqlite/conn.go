package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"

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
	query, args = plain(query, args)
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapError(err)
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqldb.Rows, error) {
	query, args = plain(query, args)
	rows, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapError(err)
	}
	return result{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqldb.Row {
	query, args = plain(query, args)
	return row{c.q.QueryRowContext(ctx, query, args...)}
}

// plain returns a statement of the shared row operations with its $N
// placeholders made plain ?, and its arguments in the order those take
// them. SQLite reads $N, but modernc.org/sqlite then looks each parameter
// up by name as it binds it, an allocation and a parse a parameter: about
// a tenth of an event's statements' cost. A statement without $N is
// returned as it is.
func plain(query string, args []any) (string, []any) {
	p := plainQuery(query)
	if p.order == nil {
		return p.query, args
	}
	out := make([]any, len(p.order))
	for i, k := range p.order {
		out[i] = args[k]
	}
	return p.query, out
}

// plainStatement is a statement with plain placeholders: order[i] is the
// index of the argument of its i-th ?; nil when that is i for every one.
type plainStatement struct {
	query string
	order []int
}

// plainQueries holds the plain form of each statement seen, by its text:
// the shared statements are a fixed set.
var plainQueries sync.Map // string → *plainStatement

func plainQuery(query string) *plainStatement {
	if p, ok := plainQueries.Load(query); ok {
		return p.(*plainStatement)
	}
	p := &plainStatement{}
	var b strings.Builder
	inOrder := true
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '$' || i+1 == len(query) || query[i+1] < '1' || query[i+1] > '9' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(query[i+1 : j]) // digits only
		inOrder = inOrder && n == len(p.order)+1
		p.order = append(p.order, n-1)
		b.WriteByte('?')
		i = j - 1
	}
	p.query = b.String()
	if inOrder {
		p.order = nil
	}
	actual, _ := plainQueries.LoadOrStore(query, p)
	return actual.(*plainStatement)
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
