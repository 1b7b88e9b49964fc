package sqlite

import (
	"slices"
	"testing"
)

// $N placeholders become plain ?, each taking its argument, in order.
func TestPlain(t *testing.T) {
	for _, tt := range []struct {
		query     string
		args      []any
		wantQuery string
		wantArgs  []any
	}{
		{"SELECT a FROM t WHERE b = $1 AND c = $2", []any{1, 2}, "SELECT a FROM t WHERE b = ? AND c = ?", []any{1, 2}},
		{"UPDATE t SET a = $2 WHERE id = $1 OR p = $1", []any{"x", 2}, "UPDATE t SET a = ? WHERE id = ? OR p = ?", []any{2, "x", "x"}},
		{"SELECT $10, $1", []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "SELECT ?, ?", []any{10, 1}},
		{"SELECT json_extract(?, '$[0]'), ?2", []any{1, 2}, "SELECT json_extract(?, '$[0]'), ?2", []any{1, 2}},
	} {
		q, args := plain(tt.query, tt.args)
		if q != tt.wantQuery || !slices.Equal(args, tt.wantArgs) {
			t.Errorf("plain(%q) = %q %v, want %q %v", tt.query, q, args, tt.wantQuery, tt.wantArgs)
		}
	}
}
