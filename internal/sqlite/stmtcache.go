package sqlite

import (
	"context"
	"database/sql"
)

// maxCachedStatements bounds the writer's statement cache. Statements built
// with a variable number of placeholders (IN lists) would otherwise grow it
// without end; past the bound, new texts are prepared per use.
const maxCachedStatements = 256

// stmtCache is the writer connection as a querier that prepares each
// statement text once and reuses it: SQLite parsing and planning was about a
// seventh of the write path's CPU. Only the writer goroutine uses it, so it
// needs no lock.
type stmtCache struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func newStmtCache(conn *sql.Conn) *stmtCache {
	return &stmtCache{conn: conn, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement for query, preparing it if need be;
// with a nil statement and no error the cache is full and query should run
// unprepared.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	if len(c.stmts) >= maxCachedStatements {
		return nil, nil
	}
	s, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return c.conn.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := c.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return c.conn.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

// QueryRowContext reports a prepare error through the row, as
// sql.Conn.QueryRowContext reports a query error: preparing again unprepared
// yields the same error at Scan.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := c.stmt(ctx, query)
	if err != nil || s == nil {
		return c.conn.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// close releases every prepared statement.
func (c *stmtCache) close() error {
	var first error
	for _, s := range c.stmts {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	clear(c.stmts)
	return first
}
