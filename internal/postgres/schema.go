package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TemporarySchema creates the schema name in the database at dbURL and
// returns a URL whose connections use it (search_path), and a function that
// drops it with everything in it. It is for benchmarks and tests that must
// not touch, or be touched by, what else the database holds. name must be
// a plain identifier.
func TemporarySchema(ctx context.Context, dbURL, name string) (string, func(), error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse database URL: %w", err) // url's error names no password
	}
	// Parsed as Open parses it, so that the pool's own parameters
	// (pool_max_conns and the like), which are no server settings, are
	// accepted and left out of this connection's.
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return "", nil, errors.New("parse database URL: not a valid PostgreSQL connection string") // the parse error quotes it
	}
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, pcfg.ConnConfig.Copy()) }
	conn, err := connect(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := connect(ctx); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`)
			conn.Close(ctx)
		}
	}
	return u.String(), drop, nil
}
