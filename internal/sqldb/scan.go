package sqldb

import (
	"context"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice"
)

// pageLimit clamps a page size to what lists allow.
func pageLimit(p sluice.Page) int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}

// arg returns the placeholder of the next argument after args.
func arg(args []any) string { return "$" + strconv.Itoa(len(args)+1) }

// listPage runs query, a SELECT whose WHERE clause takes args, for one page
// of rows newest first: it adds the cursor condition, the order and a limit
// of one row more than the page, scans each row with scan, and returns the
// page and the cursor of the next one ("" after the last). what names the
// rows in errors.
func listPage[T any](ctx context.Context, c Conn, what, query string, args []any, page sluice.Page,
	scan func(Row) (T, error), id func(T) string) ([]T, string, error) {
	limit := pageLimit(page)
	if page.Cursor != "" {
		query += ` AND id < ` + arg(args)
		args = append(args, page.Cursor)
	}
	query += ` ORDER BY id DESC LIMIT ` + arg(args)
	args = append(args, limit+1)
	items, err := queryAll(ctx, c, what, query, args, scan)
	if err != nil {
		return nil, "", err
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, id(items[limit-1]), nil
}

// queryAll runs query and scans every row with scan. The rows are closed
// before it returns, so the connection is free for what the caller does
// next with them.
func queryAll[T any](ctx context.Context, c Conn, what, query string, args []any, scan func(Row) (T, error)) ([]T, error) {
	rows, err := c.Query(ctx, query, args...)
	return collect(rows, err, what, scan)
}

// collect scans every row of a query with scan and closes the rows; err
// is the query's.
func collect[T any](rows Rows, err error, what string, scan func(Row) (T, error)) ([]T, error) {
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

// QueryStrings runs a query of one text column and returns its values.
func QueryStrings(ctx context.Context, c Conn, query string, args ...any) ([]string, error) {
	return queryAll(ctx, c, "rows", query, args, func(r Row) (string, error) {
		var v string
		err := r.Scan(&v)
		return v, err
	})
}
