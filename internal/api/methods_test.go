package api_test

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
)

// A known path asked with a method it does not have answers 405, in the
// error shape, with the methods it has in Allow; an unknown path 404.
func TestWrongMethodIs405(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/v1/events/evt_1/replay", "POST"},
		{"DELETE", "/v1/events", "GET, POST"},
		{"PUT", "/v1/destinations/dst_1", "GET, PATCH, DELETE"},
		{"GET", "/in/src_1", "POST"},
	} {
		res := b.do(t, tc.method, tc.path, b.operator, nil)
		res.wantError(t, http.StatusMethodNotAllowed, sluice.EMETHOD)
		if got := res.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	b.do(t, "GET", "/v1/nothing-here", b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
}
