package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

// scanner is a row to scan: pgx.Row or pgx.Rows.
type scanner = storekit.Scanner

// arg returns the placeholder of the next argument after args.
func arg(args []any) string { return "$" + strconv.Itoa(len(args)+1) }

// listPage runs query, a SELECT whose WHERE clause takes args, for one page
// of rows newest first: it adds the cursor condition, the order and a limit
// of one row more than the page, reads the rows as queryAll does, and
// returns the page and the cursor of the next one ("" after the last).
// what names the rows in errors.
func listPage[R, T any](ctx context.Context, q querier, what, query string, args []any, page sluice.Page,
	scan func(scanner) (R, error), finish func(context.Context, R) (T, error), id func(T) string) ([]T, string, error) {
	limit := pageLimit(page)
	if page.Cursor != "" {
		query += ` AND id < ` + arg(args)
		args = append(args, page.Cursor)
	}
	query += ` ORDER BY id DESC LIMIT ` + arg(args)
	args = append(args, limit+1)
	items, err := queryAll(ctx, q, what, query, args, scan, finish)
	if err != nil {
		return nil, "", err
	}
	items, next := cut(items, limit, id)
	return items, next, nil
}

// queryAll runs query, scans every row with scan and, once the rows are
// closed, turns each into its result with finish.
//
// finish runs apart from the scan because it may need the database
// itself: opening sealed columns can load a data key. While rows are open
// their connection is busy, so loading then would take a second one, and
// enough concurrent readers would exhaust the pool waiting on each other.
func queryAll[R, T any](ctx context.Context, q querier, what, query string, args []any,
	scan func(scanner) (R, error), finish func(context.Context, R) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	return collectAll(ctx, rows, err, what, scan, finish)
}

// collectAll is queryAll for rows already asked for: err is the query's.
func collectAll[R, T any](ctx context.Context, rows pgx.Rows, err error, what string,
	scan func(scanner) (R, error), finish func(context.Context, R) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	var raw []R
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", what, err)
		}
		raw = append(raw, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	out := make([]T, 0, len(raw))
	for _, r := range raw {
		v, err := finish(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// asIs is the finish of rows that need nothing more than their scan.
func asIs[T any](_ context.Context, v T) (T, error) { return v, nil }

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// cut trims a page fetched with one extra row and returns the cursor of the
// next page: the last kept id, or "" when there is no more.
func cut[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, id(items[limit-1])
}
