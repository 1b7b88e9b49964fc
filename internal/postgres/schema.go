package postgres

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
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
	conn, err := pgx.Connect(ctx, dbURL)
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
		if conn, err := pgx.Connect(ctx, dbURL); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`)
			conn.Close(ctx)
		}
	}
	return u.String(), drop, nil
}
