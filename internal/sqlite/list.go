package sqlite

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner = storekit.Scanner

// listPage runs query, a SELECT whose WHERE clause takes args, for one page
// of rows newest first: it adds the cursor condition, the order and a limit
// of one row more than the page, scans each row with scan, and returns the
// page and the cursor of the next one ("" after the last). what names the
// rows in errors.
func listPage[T any](ctx context.Context, q querier, what, query string, args []any, page sluice.Page,
	scan func(scanner) (T, error), id func(T) string) ([]T, string, error) {
	limit := pageLimit(page)
	if page.Cursor != "" {
		query += ` AND id < ?`
		args = append(args, page.Cursor)
	}
	args = append(args, limit+1)
	items, err := queryAll(ctx, q, what, query+` ORDER BY id DESC LIMIT ?`, args, scan)
	if err != nil {
		return nil, "", err
	}
	items, next := cut(items, limit, id)
	return items, next, nil
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, what, query string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return out, nil
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
